#!/usr/bin/env bash
# make compose-test: docker-compose.yml for real. Installs what a fresh machine lacks (Debian's
# docker.io: Engine 20.10 with BuildKit; debootstrap for the stand-ins), starts dockerd if none
# runs (and stops it after), builds the Compose and buildx plugins from the module proxy at
# pinned versions into a private DOCKER_CONFIG (once per machine, kept in
# ~/.cache/gomicro-stack), makes stand-ins for the images no registry gives here
# (test/compose/standins/build.sh), then runs test/compose: every image built from the
# Dockerfile, the stack up, used, restarted and taken down.
#   scripts/compose-test.sh CONSUL_BINARY JAEGER_BINARY
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
consul=${1:?consul binary (make consul)}
jaeger=${2:?jaeger binary (make jaeger)}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gomicro-stack
mkdir -p "$cache"
step() { echo "--- compose-test: $* ($(date +%T))"; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "compose-test needs ${missing[*]} (apt-get install, as root)" >&2; exit 1; }
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "no Docker engine answers, and only root can start dockerd here" >&2; exit 1; }
  step "starting dockerd"
  dockerd >"$cache/dockerd.log" 2>&1 &
  dockerd_pid=$!
  trap 'kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
  docker info >/dev/null 2>&1 || { tail -20 "$cache/dockerd.log" >&2; exit 1; }
fi

step "the Compose and buildx plugins"
export DOCKER_CONFIG=$cache/docker
mkdir -p "$DOCKER_CONFIG/cli-plugins"
VERSION_VAR=github.com/docker/compose/v5/internal.Version \
  scripts/build-from-proxy.sh github.com/docker/compose/v5 v5.6.0 "$DOCKER_CONFIG/cli-plugins/docker-compose" ./cmd
VERSION_VAR=github.com/docker/buildx/version.Version \
  scripts/build-from-proxy.sh github.com/docker/buildx v0.19.3 "$DOCKER_CONFIG/cli-plugins/docker-buildx" ./cmd/buildx
docker compose version
docker buildx version

step "stand-ins for the images no registry gives here"
test/compose/standins/build.sh "$consul" "$jaeger"

# The module proxy is reached through a TLS-inspecting proxy here: the builds trust this
# machine's CA certificates (the Dockerfile's extra_ca secret).
if [ -z "${EXTRA_CA_CERTIFICATES:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export EXTRA_CA_CERTIFICATES=/etc/ssl/certs/ca-certificates.crt
fi
step "docker compose, as a user"
COMPOSE_TEST=1 go test -count=1 -v -timeout 45m ./test/compose
# The images Kubernetes runs are the same, built the same way by make images.
step "make images"
make images VERSION=compose-test EXTRA_CA_CERTIFICATES="${EXTRA_CA_CERTIFICATES:-}"
step "done"

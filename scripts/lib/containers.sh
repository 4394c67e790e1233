# Sourced by the scripts that run the project's images (compose-test.sh, k8s-e2e.sh): a Docker
# engine, its Compose and buildx plugins, and stand-ins for the images no registry gives here.
# They need bash with set -euo pipefail, root for what they install or start, and $cache.

step() { echo "--- $(basename "$0" .sh): $* ($(date +%T))"; }

# containers_engine installs Debian's docker.io and debootstrap where missing, and starts
# dockerd if none answers; a dockerd started here stops when the calling script exits.
containers_engine() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "needs ${missing[*]} (apt-get install, as root)" >&2; exit 1; }
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
}

# containers_plugins builds the Compose and buildx plugins from the module proxy at pinned
# versions into a private DOCKER_CONFIG (once per machine).
containers_plugins() {
  step "the Compose and buildx plugins"
  export DOCKER_CONFIG=$cache/docker
  mkdir -p "$DOCKER_CONFIG/cli-plugins"
  VERSION_VAR=github.com/docker/compose/v5/internal.Version \
    scripts/build-from-proxy.sh github.com/docker/compose/v5 v5.6.0 "$DOCKER_CONFIG/cli-plugins/docker-compose" ./cmd
  VERSION_VAR=github.com/docker/buildx/version.Version \
    scripts/build-from-proxy.sh github.com/docker/buildx v0.19.3 "$DOCKER_CONFIG/cli-plugins/docker-buildx" ./cmd/buildx
  docker compose version
  docker buildx version
}

# containers_standins CONSUL JAEGER makes the stand-ins (test/compose/standins/build.sh), and
# points the builds at this machine's CA certificates (its module proxy is reached through a
# TLS-inspecting proxy: the Dockerfile's extra_ca secret).
containers_standins() {
  step "stand-ins for the images no registry gives here"
  test/compose/standins/build.sh "$1" "$2"
  if [ -z "${EXTRA_CA_CERTIFICATES:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export EXTRA_CA_CERTIFICATES=/etc/ssl/certs/ca-certificates.crt
  fi
}

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
. scripts/lib/containers.sh

containers_engine
containers_plugins
containers_standins "$consul" "$jaeger"
step "docker compose, as a user"
COMPOSE_TEST=1 go test -count=1 -v -timeout 45m ./test/compose
# The images Kubernetes runs are the same, built the same way by make images.
step "make images"
make images VERSION=compose-test EXTRA_CA_CERTIFICATES="${EXTRA_CA_CERTIFICATES:-}"
step "done"

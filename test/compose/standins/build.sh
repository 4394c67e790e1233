#!/usr/bin/env bash
# Makes local stand-ins for the images make compose-test needs that no registry gives on this
# machine (none is reachable), under the very names docker-compose.yml and the Dockerfile use.
# An image of that name that is no stand-in (pulled from a registry) is kept: on a machine with
# a registry, compose pulls the real ones and nothing here is used.
#
#   golang:GO-bookworm                         Debian bookworm + this machine's Go (the same version)
#   gcr.io/distroless/static-debian12:nonroot  passwd and group with nonroot (65532), Debian's CA
#                                              certificates, time zones, /tmp; nothing else
#   postgres:15.10                             bookworm + Debian's postgresql-15, with the official
#                                              image's environment contract (postgres-entrypoint.sh)
#   hashicorp/consul:1.14.11                   bookworm + the consul make consul builds (the same
#                                              version), the official entrypoint's behaviour
#   jaegertracing/jaeger:2.12.0                bookworm + the jaeger make jaeger builds (v1.75.0, of
#                                              which 2.12.0 is the v2 release)
#
# Usage: test/compose/standins/build.sh CONSUL_BINARY JAEGER_BINARY
# The bookworm root file system is made once per machine with debootstrap (from Debian's
# package mirror) and kept in ~/.cache/gomicro-stack.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
consul=${1:?consul binary}
jaeger=${2:?jaeger binary}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gomicro-stack
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go_version=$(sed -n 's/^ARG GO_VERSION=//p' "$root/Dockerfile")
have_go=$(go env GOVERSION)
[ "go$go_version" = "$have_go" ] || { echo "the Dockerfile builds with Go $go_version, this machine has $have_go: no stand-in for golang:$go_version-bookworm" >&2; exit 1; }
[[ "$("$consul" version)" == "Consul v1.14.11"* ]] || { echo "$consul is not Consul v1.14.11" >&2; exit 1; }

# Stand-ins carry this label with the hash of what made them: one made by an older recipe is
# made again, an image without it is a real one and is kept.
recipe=$(cat "$here"/* | sha256sum | cut -c1-12)
label=org.gomicro-stack.standin
standin_of() { docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null || echo absent; }
needed() {
  case "$(standin_of "$1")" in
    absent) return 0 ;;
    "$recipe") return 1 ;;
    "") echo "  $1: a real image, kept" >&2; return 1 ;;
    *) return 0 ;; # a stand-in of an older recipe
  esac
}

# The bookworm base: debootstrap once per machine.
rootfs=$cache/bookworm-standin-rootfs.tar
packages=ca-certificates,busybox,postgresql-15
base=gomicro-stack-standin/bookworm:$(echo "$packages" | sha256sum | cut -c1-12)
if [ ! -f "$rootfs" ]; then
  echo "  debootstrap bookworm ($packages), once per machine ..." >&2
  debootstrap --variant=minbase --include="$packages" bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
  tar -C "$work/rootfs" --numeric-owner -cf "$rootfs.tmp" .
  mv "$rootfs.tmp" "$rootfs"
  rm -rf "$work/rootfs"
fi
if ! docker image inspect "$base" >/dev/null 2>&1; then
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' "$rootfs" "$base" >/dev/null
fi

# build NAME DOCKERFILE FILE... builds a stand-in from the base with FILEs in its context.
build() {
  local name=$1 dockerfile=$2
  shift 2
  local context=$work/$(echo "$name" | tr '/:' '__')
  mkdir -p "$context"
  cp -a "$here/$dockerfile" "$@" "$context/"
  docker build -q --label "$label=$recipe" --build-arg BASE="$base" --build-arg GO_VERSION="$go_version" \
    -f "$context/$dockerfile" -t "$name" "$context" >/dev/null
  echo "  $name: stand-in made" >&2
}

if needed "golang:$go_version-bookworm"; then
  build "golang:$go_version-bookworm" golang.Dockerfile "$(go env GOROOT)"
fi
if needed postgres:15.10; then
  build postgres:15.10 postgres.Dockerfile "$here/postgres-entrypoint.sh"
fi
if needed hashicorp/consul:1.14.11; then
  build hashicorp/consul:1.14.11 consul.Dockerfile "$consul" "$here/consul-entrypoint.sh"
fi
if needed jaegertracing/jaeger:2.12.0; then
  build jaegertracing/jaeger:2.12.0 jaeger.Dockerfile "$jaeger"
fi

# distroless static: no shell, no package, so a file system of its own, imported.
distroless=gcr.io/distroless/static-debian12:nonroot
if needed "$distroless"; then
  fs=$work/distroless
  mkdir -p "$fs/etc/ssl/certs" "$fs/usr/share" "$fs/home/nonroot" "$fs/tmp"
  tar -C "$fs" -xf "$rootfs" ./etc/ssl/certs/ca-certificates.crt
  cp -a /usr/share/zoneinfo "$fs/usr/share/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$fs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$fs/etc/group"
  echo 'hosts: files dns' >"$fs/etc/nsswitch.conf"
  chown 65532:65532 "$fs/home/nonroot"
  chmod 1777 "$fs/tmp"
  tar -C "$fs" --numeric-owner -cf "$work/distroless.tar" .
  docker import --change "LABEL $label=$recipe" --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    "$work/distroless.tar" "$distroless" >/dev/null
  echo "  $distroless: stand-in made" >&2
fi

#!/usr/bin/env bash
# Puts etcd, kube-apiserver and kubectl, built from the Go module proxy, in OUT (once per
# machine: kept in ~/.cache/gomicro-stack; release binaries cannot be downloaded here):
#   scripts/build-kubernetes.sh OUT [COMMAND...]
# COMMANDs are more of Kubernetes' commands to build (kube-scheduler, kubelet, ...).
# Neither builds with go install: etcd's server module and k8s.io/kubernetes carry replace
# directives (kubernetes points its 33 staging modules at folders of its own repository). Each is
# built in a scratch module that requires it, the staging modules replaced by their releases
# (k8s.io/X v0.37.2 for Kubernetes v1.37.2), the version stamped as a release stamps it (kubectl
# refuses to speak to a server that says v0.0.0).
set -euo pipefail
out=${1:?output folder}
shift
commands=(kube-apiserver kubectl "$@")
kubernetes=v1.37.2
etcd=v3.6.16
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gomicro-stack/kubernetes-$kubernetes-etcd-$etcd
mkdir -p "$out" "$cache"

if [ ! -x "$cache/etcd" ]; then
  work=$(mktemp -d)
  echo "building etcd $etcd from the module proxy (once per machine) ..." >&2
  (
    cd "$work"
    go mod init scratch/etcd >/dev/null 2>&1
    GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$etcd" >/dev/null 2>&1
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$cache/etcd.tmp" "$cache/etcd"
  chmod -R u+w "$work"; rm -rf "$work"
fi

missing=()
for cmd in "${commands[@]}"; do [ -x "$cache/$cmd" ] || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
  work=$(mktemp -d)
  echo "building ${missing[*]} $kubernetes from the module proxy (once per machine) ..." >&2
  (
    cd "$work"
    go mod init scratch/kubernetes >/dev/null 2>&1
    gomod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$kubernetes" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    staging=v0.${kubernetes#v1.}
    replaces=()
    for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9.-]*\) => ./staging/.*|\1|p' "$gomod"); do
      replaces+=("-replace=$m=$m@$staging")
    done
    [ ${#replaces[@]} -gt 20 ] || { echo "found ${#replaces[@]} staging modules in $gomod; want the 30 or so" >&2; exit 1; }
    go mod edit "-require=k8s.io/kubernetes@$kubernetes" "${replaces[@]}"
    minor=${kubernetes#v1.}; minor=${minor%%.*}
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$kubernetes -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    for cmd in "${missing[@]}"; do
      GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cache/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
      mv "$cache/$cmd.tmp" "$cache/$cmd"
    done
  )
  chmod -R u+w "$work"; rm -rf "$work"
fi
for cmd in etcd "${commands[@]}"; do cp "$cache/$cmd" "$out/"; done
echo "etcd $etcd and ${commands[*]} $kubernetes in $out" >&2

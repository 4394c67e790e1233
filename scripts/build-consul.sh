#!/usr/bin/env bash
# Puts a Consul agent at $1 (default bin/consul), built from the Go module proxy.
# Consul has no Debian package and release binaries cannot be downloaded here, so we compile
# v1.14.11 (MPL-2.0): the last release whose dependencies the module proxy serves in full.
# The build takes about 5 minutes; its result is kept in the user's cache folder, so a fresh
# clone on the same machine (CI) copies it instead of building again.
set -euo pipefail
out=${1:-bin/consul}
version=${CONSUL_VERSION:-v1.14.11}
cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/gomicro-stack
cached=$cache_dir/consul-$version
mkdir -p "$(dirname "$out")" "$cache_dir"

if [ ! -x "$cached" ]; then
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  echo "building consul $version from the module proxy (about 5 minutes, once per machine) ..." >&2
  src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/consul@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "consul $version source not found after download" >&2; exit 1; }
  cp -r "$src" "$work/consul"
  chmod -R u+w "$work/consul"
  cd "$work/consul"
  # The api, sdk and proto-public submodules are published on the proxy on their own; build
  # against those releases instead of the folders the replace lines point at.
  sed -i -E '/^replace github.com\/hashicorp\/consul\/(api|sdk|proto-public) => /d;
             /^[[:space:]]*github.com\/hashicorp\/consul\/(api|sdk|proto-public) => /d' go.mod
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cached.tmp" .
  mv "$cached.tmp" "$cached"
  cd - >/dev/null
fi
cp "$cached" "$out"
echo "consul $version at $out" >&2

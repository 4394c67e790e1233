#!/usr/bin/env bash
# Builds a Consul agent from the Go module proxy into $1 (default bin/consul).
# Consul has no Debian package and release binaries cannot be downloaded here, so we compile
# v1.14.11 (MPL-2.0): the last release whose dependencies the module proxy serves in full.
set -euo pipefail
out=${1:-bin/consul}
version=${CONSUL_VERSION:-v1.14.11}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

echo "building consul $version (about 5 minutes, once) ..." >&2
# Fetch the module source into an isolated module cache-friendly location.
src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/consul@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "consul source not found after download" >&2; exit 1; }
cp -r "$src" "$work/consul"
chmod -R u+w "$work/consul"
cd "$work/consul"
# The submodules are published separately on the proxy; build against those releases.
sed -i -E '/^replace github.com\/hashicorp\/consul\/(api|sdk|proto-public) => /d' go.mod
sed -i -E '/^[[:space:]]*github.com\/hashicorp\/consul\/(api|sdk|proto-public) => /d' go.mod
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out" .
echo "built $out" >&2

#!/usr/bin/env bash
# Puts a tool built from the Go module proxy at OUT:
#   scripts/build-from-proxy.sh MODULE VERSION OUT [PACKAGE]
# PACKAGE is the command's folder inside the module (default: its root), e.g. ./cmd/jaeger.
# VERSION_VAR, when set, names the variable the tool reports its version from, stamped with
# VERSION (github.com/docker/buildx/version.Version: compose refuses a buildx that says v0.0.0).
# Release binaries cannot be downloaded here, so tools the stack runs (Consul, consul-template,
# Jaeger, and Docker's Compose and buildx plugins for make compose-test) are compiled from their module source, against the module's own go.mod. The result is kept in the user's cache folder, so a
# fresh clone on the same machine (CI) copies it instead of building again.
set -euo pipefail
module=${1:?module}
version=${2:?version}
out=${3:?output path}
package=${4:-.}
name=$(basename "$module")
# A major-version suffix (github.com/docker/compose/v5) does not name the tool.
if [[ $name =~ ^v[0-9]+$ ]]; then name=$(basename "$(dirname "$module")"); fi
cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/gomicro-stack
cached=$cache_dir/$name-$version
mkdir -p "$(dirname "$out")" "$cache_dir"

if [ ! -x "$cached" ]; then
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  echo "building $name $version from the module proxy (once per machine) ..." >&2
  src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "$module $version source not found after download" >&2; exit 1; }
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  cd "$work/src"
  # Consul's go.mod points its api, sdk and proto-public submodules at local folders; build
  # against their releases on the proxy instead. Other modules have no such lines.
  sed -i -E '/^replace github.com\/hashicorp\/consul\/(api|sdk|proto-public) => /d;
             /^[[:space:]]*github.com\/hashicorp\/consul\/(api|sdk|proto-public) => /d' go.mod
  ldflags="-s -w"
  if [ -n "${VERSION_VAR:-}" ]; then ldflags+=" -X $VERSION_VAR=$version"; fi
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cached.tmp" "$package"
  mv "$cached.tmp" "$cached"
  cd - >/dev/null
fi
cp "$cached" "$out"
echo "$name $version at $out" >&2

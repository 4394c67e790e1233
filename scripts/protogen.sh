#!/usr/bin/env bash
# Generates the Go code for every proto/<name>/<name>.proto into OUT (default: proto/, in place).
# `make proto` writes in place; `make proto-check` writes to a scratch folder and diffs, so stale
# committed code fails the build.
set -euo pipefail
out=${1:-proto}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
micro=$(go list -m -f '{{.Dir}}' github.com/micro/go-micro/v2)
# api.proto has no go_package option; map it to its Go package by hand.
m=Mapi/proto/api.proto=github.com/micro/go-micro/v2/api/proto
for file in proto/*/*.proto; do
  protoc -I proto -I "$micro" \
    --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-micro=bin/protoc-gen-micro \
    --go_out="$m,paths=source_relative:$out" --micro_out="$m,paths=source_relative:$out" \
    "${file#proto/}"
done

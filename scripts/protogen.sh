#!/usr/bin/env bash
# Generates, from proto/, the Go code (messages, go-micro clients and handlers, validation, the
# files' comments for the gateway's OpenAPI document) into
# OUT/proto and the OpenAPI document into OUT/api/openapi.yaml, and the benchmark's go-zero peer
# code into OUT/bench/peers/gozero/hellopb; OUT defaults to the repository
# (in place). `make proto` writes in place; `make proto-check` writes to a scratch folder and
# diffs, so stale committed code fails the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
cd "$root"
# validate/validate.proto comes from the protoc-gen-validate module go.mod pins.
pgv=$(go list -m -f '{{.Dir}}' github.com/envoyproxy/protoc-gen-validate)
mkdir -p "$out/proto" "$out/api"
files=$(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
include=(-I proto -I third_party/proto -I "$pgv")
# One protoc run for every file, so that the OpenAPI document covers every service.
protoc "${include[@]}" \
  --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-validate=bin/protoc-gen-validate \
  --plugin=protoc-gen-openapi=bin/protoc-gen-openapi --plugin=protoc-gen-protodocs=bin/protoc-gen-protodocs \
  --go_out="paths=source_relative:$out/proto" --validate_out="lang=go,paths=source_relative:$out/proto" \
  --protodocs_out="paths=source_relative:$out/proto" --openapi_out="$out/api" $files
# protoc-gen-micro takes one Go package per run.
for file in $files; do
  if grep -q '^service ' "proto/$file"; then
    protoc "${include[@]}" --plugin=protoc-gen-micro=bin/protoc-gen-micro --micro_out="paths=source_relative:$out/proto" "$file"
  fi
done

# The end-to-end tests' echo service: an API the gateway is not built with.
echo_dir=test/e2e/echo/echopb
mkdir -p "$out/$echo_dir"
protoc "${include[@]}" -I . \
  --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-micro=bin/protoc-gen-micro --plugin=protoc-gen-protodocs=bin/protoc-gen-protodocs \
  --go_out="paths=source_relative:$out" --micro_out="paths=source_relative:$out" --protodocs_out="paths=source_relative:$out" "$echo_dir/echo.proto"

# The benchmark's go-zero peer (a module of its own, bench/peers/gozero) generates its API as
# goctl would, with protoc-gen-go and protoc-gen-go-grpc at the versions its go.mod pins.
peer=bench/peers/gozero
mkdir -p "$out/$peer/hellopb"
protoc -I "$peer/hellopb" \
  --plugin=protoc-gen-go=bin/gozero-tools/protoc-gen-go --plugin=protoc-gen-go-grpc=bin/gozero-tools/protoc-gen-go-grpc \
  --go_out="paths=source_relative:$out/$peer/hellopb" --go-grpc_out="paths=source_relative:$out/$peer/hellopb" hello.proto

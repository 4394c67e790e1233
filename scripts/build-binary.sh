#!/usr/bin/env bash
# Builds one binary as the images carry it: static (no cgo), trimmed paths, no symbol table.
#   scripts/build-binary.sh SERVICE OUT   (SERVICE: configserver, user, greeter, gateway, consul-acl, healthcheck)
set -euo pipefail
service=${1:?service}
out=${2:?output path}
case "$service" in
  configserver | user | greeter) pkg=./service/$service ;;
  gateway) pkg=./gateway ;;
  healthcheck) pkg=./tools/healthcheck ;;
  consul-acl) pkg=./tools/consul-acl ;;
  *) echo "unknown service $service (configserver, user, greeter, gateway, consul-acl, healthcheck)" >&2; exit 2 ;;
esac
CGO_ENABLED=0 GOOS=${GOOS:-linux} go build -trimpath -ldflags "-s -w" -o "$out" "$pkg"

#!/usr/bin/env bash
# Builds one binary as the images carry it: static (no cgo), trimmed paths, no symbol table.
#   scripts/build-binary.sh SERVICE OUT   (SERVICE: configserver, user, greeter, gateway, consul-acl, healthcheck,
#   or a service make service added)
set -euo pipefail
service=${1:?service}
out=${2:?output path}
case "$service" in
  configserver | user | greeter) pkg=./service/$service ;;
  gateway) pkg=./gateway ;;
  healthcheck) pkg=./tools/healthcheck ;;
  consul-acl) pkg=./tools/consul-acl ;;
  *)
    # A service make service added lives in service/NAME like the others.
    if [[ "$service" =~ ^[a-z][a-z0-9]{1,30}$ ]] && [ -d "service/$service" ]; then
      pkg=./service/$service
    else
      echo "unknown service $service (configserver, user, greeter, gateway, consul-acl, healthcheck, or one in service/)" >&2; exit 2
    fi ;;
esac
CGO_ENABLED=0 GOOS=${GOOS:-linux} go build -trimpath -ldflags "-s -w" -o "$out" "$pkg"

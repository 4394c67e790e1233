#!/bin/sh
# Stand-in for the official consul image's entrypoint: "agent ..." runs the agent with the
# image's data and config folders (-data-dir=/consul/data -config-dir=/consul/config), a flag
# first means agent, another consul subcommand runs as such.
set -e
case "$1" in
  -*) set -- agent "$@" ;;
esac
if [ "$1" = agent ]; then
  shift
  set -- consul agent -data-dir=/consul/data -config-dir=/consul/config "$@"
elif ! command -v "$1" >/dev/null 2>&1; then
  set -- consul "$@"
fi
exec "$@"

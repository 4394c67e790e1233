#!/bin/bash
# Stand-in for the official postgres image's entrypoint, with its environment contract:
# POSTGRES_PASSWORD (required), POSTGRES_USER (postgres), POSTGRES_DB (the user's name) and
# PGDATA (/var/lib/postgresql/data) make the cluster on first start (UTF8, as the image's
# locale makes it), with password (scram-sha-256) authentication for connections over the
# network; a later start keeps the data.
set -euo pipefail
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
# As the official image: flags are the server's, another command runs as it is.
case "${1:-postgres}" in
  -*) ;;
  postgres) [ $# -eq 0 ] || shift ;;
  *) exec "$@" ;;
esac
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?the postgres image needs POSTGRES_PASSWORD}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -w -o "-c listen_addresses=''" start >/dev/null
    psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -c "CREATE DATABASE \"$db\"" >/dev/null
    pg_ctl -w -m fast stop >/dev/null
  fi
  echo "postgres stand-in: made the cluster (user $user, database $db)"
fi
exec postgres -c listen_addresses='*' "$@"

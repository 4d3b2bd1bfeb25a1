#!/usr/bin/env bash
# PostgreSQL for the ledger: installs Debian's package where missing, runs a private cluster on
# 127.0.0.1:${RCM_PG_PORT:-5433}, and prints the database URL.   infra/postgres.sh start|stop|status|url
set -euo pipefail
PORT="${RCM_PG_PORT:-5433}"
DATA="${RCM_PG_DATA:-/var/tmp/rcm-postgres}"
URL="postgresql://rcm:rcm@127.0.0.1:${PORT}/rcm"

say() { echo "postgres.sh: $*" >&2; }

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install() {
  if [ -z "$(bindir)" ]; then
    say "installing PostgreSQL (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
  fi
  [ -n "$(bindir)" ] || { say "PostgreSQL binaries not found after install"; exit 1; }
}

as_postgres() { runuser -u postgres -- "$@"; }

running() { [ -f "$DATA/postmaster.pid" ] && as_postgres "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start() {
  install
  local bin; bin=$(bindir)
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"; chown postgres:postgres "$DATA"; chmod 700 "$DATA"
    as_postgres "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '/tmp'
max_connections = 200
shared_buffers = 512MB
CONF
  fi
  if ! running; then
    as_postgres "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null \
      || { say "PostgreSQL did not start; see $DATA/server.log"; tail -n 20 "$DATA/server.log" >&2; exit 1; }
  fi
  for _ in $(seq 1 30); do
    as_postgres "$bin/pg_isready" -h 127.0.0.1 -p "$PORT" -q && break; sleep 1
  done
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qtAc \
    "SELECT 1 FROM pg_roles WHERE rolname='rcm'" | grep -q 1 \
    || as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE ROLE rcm LOGIN PASSWORD 'rcm' CREATEDB"
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname='rcm'" | grep -q 1 \
    || as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE rcm OWNER rcm"
  # Grafana's read-only role: the projection runner grants it SELECT on the read models only (not the events)
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qtAc \
    "SELECT 1 FROM pg_roles WHERE rolname='rcm_grafana'" | grep -q 1 \
    || as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc \
      "CREATE ROLE rcm_grafana LOGIN PASSWORD '${RCM_GRAFANA_PASSWORD:-rcm_grafana}' NOSUPERUSER NOCREATEDB NOCREATEROLE"
  echo "$URL"
}

stop() {
  if [ -n "$(bindir)" ] && running; then as_postgres "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if [ -n "$(bindir)" ] && running; then echo "running: $URL"; else echo "stopped"; exit 3; fi ;;
  url) echo "$URL" ;;
  *) echo "usage: infra/postgres.sh start|stop|status|url" >&2; exit 2 ;;
esac

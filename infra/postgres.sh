#!/usr/bin/env bash
# PostgreSQL for the ledger: installs Debian's package where missing, runs a private cluster on
# 127.0.0.1:${RCM_PG_PORT:-5433}, and prints the owner's database URL (no password in it).
#   infra/postgres.sh start|stop|status|url|passfile|rotate [ROLE...]
#
# Least privilege: every role logs in with a generated scram-sha-256 password, over TCP and the local socket alike;
# no trust entries (the postgres OS user administers through the local socket, peer). The roles (README "Using
# PostgreSQL"): rcm owns the database and its schemas and tables; rcm_writer appends events, rcm_projector writes
# the read models, rcm_grafana reads the read models, rcm_auditor reads the events. `rcm db grant` (run as rcm)
# grants each its tables. The passwords are kept in a 0600 pgpass-format file (path printed on stderr,
# RCM_PG_PASSFILE to choose it) and copied into libpq's default passfile (~/.pgpass, or $PGPASSFILE) of the
# invoking user, only this cluster's host:port lines replaced: URLs without passwords work as they are.
# Re-runs keep the passwords; `rotate` generates new ones (all roles, or those named). A cluster created by the
# earlier version of this script (trust, rcm with password rcm) is migrated in place on `start`.
set -euo pipefail
PORT="${RCM_PG_PORT:-5433}"
DATA="${RCM_PG_DATA:-/var/tmp/rcm-postgres}"
HOST=127.0.0.1
URL="postgresql://rcm@${HOST}:${PORT}/rcm"
ROLES=(rcm rcm_writer rcm_projector rcm_grafana rcm_auditor)
PASSFILE="${RCM_PG_PASSFILE:-${XDG_CONFIG_HOME:-$HOME/.config}/rcm/postgres-${PORT}.pgpass}"
LIBPQ_PASSFILE="${PGPASSFILE:-$HOME/.pgpass}"

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

# The superuser's session: the postgres OS user through the local socket (peer), never over TCP.
admin() { as_postgres "$(bindir)/psql" -h /tmp -p "$PORT" -U postgres -d postgres -X -v ON_ERROR_STOP=1 -qtA "$@"; }

running() { [ -f "$DATA/postmaster.pid" ] && as_postgres "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

hba() {
  cat <<HBA
# Written by infra/postgres.sh (rewritten on each start): passwords (scram-sha-256) for every role; the postgres OS
# user administers through the local socket (peer). No trust entries.
local   all   postgres                 peer
local   all   all                      scram-sha-256
host    all   all      127.0.0.1/32    scram-sha-256
host    all   all      ::1/128         scram-sha-256
HBA
}

new_password() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# A role's password from the passwords file (empty when it has none yet).
stored_password() {
  [ -f "$PASSFILE" ] || return 0
  awk -F: -v h="$HOST" -v p="$PORT" -v r="$1" '$1 == h && $2 == p && $4 == r { print $5; exit }' "$PASSFILE"
}

# Writes `lines` as this cluster's lines of `file` (0600), keeping the other host:port lines as they were.
replace_lines() {
  local file=$1 lines=$2 tmp
  mkdir -p "$(dirname "$file")"
  tmp=$(mktemp "$file.XXXXXX")  # mktemp creates it 0600
  if [ -f "$file" ]; then
    awk -F: -v h="$HOST" -v p="$PORT" '!($1 == h && $2 == p)' "$file" >> "$tmp"
  fi
  printf '%s\n' "$lines" >> "$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$file"
}

# Every role exists with its password (kept from the passwords file, generated where missing or `rotate`d) and the
# database belongs to rcm (infra/postgres-roles.sql, which docker-compose's PostgreSQL runs too).
roles() {
  local rotate=" $* " lines="" settings="" role password
  for role in "${ROLES[@]}"; do
    password=$(stored_password "$role")
    if [ -z "$password" ] || [[ "$rotate" == *" $role "* ]]; then password=$(new_password); fi
    lines+="${HOST}:${PORT}:*:${role}:${password}"$'\n'
    settings+="\\set ${role} '${password}'"$'\n'
  done
  replace_lines "$PASSFILE" "${lines%$'\n'}"
  { printf '%s' "$settings"; cat "$(dirname "$0")/postgres-roles.sql"; } | admin >/dev/null
  replace_lines "$LIBPQ_PASSFILE" "${lines%$'\n'}"
  say "passwords in $PASSFILE (pgpass format, 0600); copied to $LIBPQ_PASSFILE for libpq"
}

start() {
  install
  local bin; bin=$(bindir)
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"; chown postgres:postgres "$DATA"; chmod 700 "$DATA"
    as_postgres "$bin/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '/tmp'
max_connections = 200
shared_buffers = 512MB
password_encryption = 'scram-sha-256'
CONF
  fi
  # (a cluster the earlier script made trusts everyone: from here on it asks for passwords)
  hba | as_postgres tee "$DATA/pg_hba.conf.new" >/dev/null
  if ! cmp -s "$DATA/pg_hba.conf.new" "$DATA/pg_hba.conf"; then
    as_postgres mv -f "$DATA/pg_hba.conf.new" "$DATA/pg_hba.conf"
    say "pg_hba.conf: scram-sha-256 for every role, no trust entries"
  else
    rm -f "$DATA/pg_hba.conf.new"
  fi
  if ! running; then
    as_postgres "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null \
      || { say "PostgreSQL did not start; see $DATA/server.log"; tail -n 20 "$DATA/server.log" >&2; exit 1; }
  fi
  for _ in $(seq 1 30); do
    as_postgres "$bin/pg_isready" -h /tmp -p "$PORT" -q && break; sleep 1
  done
  admin -c "ALTER SYSTEM SET password_encryption = 'scram-sha-256'" >/dev/null
  roles
  admin -c "SELECT pg_reload_conf()" >/dev/null  # the rewritten pg_hba.conf, once the roles have their passwords
  echo "$URL"
}

rotate() {
  running || { say "the cluster on port $PORT is not running: infra/postgres.sh start"; exit 1; }
  local role
  for role in "$@"; do
    [[ " ${ROLES[*]} " == *" $role "* ]] || { say "no role $role: one of ${ROLES[*]}"; exit 2; }
  done
  if [ $# -eq 0 ]; then set -- "${ROLES[@]}"; fi
  roles "$@"
  say "new passwords for $*"
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
  passfile) echo "$PASSFILE" ;;
  rotate) shift; rotate "$@" ;;
  *) echo "usage: infra/postgres.sh start|stop|status|url|passfile|rotate [ROLE...]" >&2; exit 2 ;;
esac

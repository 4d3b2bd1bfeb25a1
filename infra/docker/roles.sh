#!/bin/sh
# docker-compose only, run once by the postgres image when it initialises its data directory: the ledger's roles
# and database (infra/postgres-roles.sql, as infra/postgres.sh makes them) with the passwords from the environment
# (RCM_PASSWORD for the owner rcm, RCM_WRITER_PASSWORD for rcm_writer, and so on).
set -eu
{
  for role in rcm rcm_writer rcm_projector rcm_grafana rcm_auditor; do
    eval "password=\${$(echo "$role" | tr a-z A-Z)_PASSWORD}"
    case "$password" in *"'"*|*"\\"*) echo "roles.sh: the $role password may not hold ' or \\" >&2; exit 2 ;; esac
    printf "\\\\set %s '%s'\n" "$role" "$password"
  done
  cat /rcm/postgres-roles.sql
} | psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname postgres

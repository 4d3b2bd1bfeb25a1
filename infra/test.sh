#!/usr/bin/env bash
# The whole test suite on a fresh machine: virtualenv, install, PostgreSQL (Debian package), Kafka, Chromium
# (Debian package, for the dashboard snapshot pages), npm (fetches the charting library once), pytest.
#   infra/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/venv.sh
url=$(infra/postgres.sh start)
export RCM_TEST_POSTGRES_URL="$url"
echo "test.sh: PostgreSQL at $url" >&2
kafka=$(infra/kafka.sh start)
export RCM_TEST_KAFKA="$kafka"
echo "test.sh: Kafka at $kafka" >&2
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} (Debian packages)" >&2
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q "${need[@]}" >/dev/null \
    || { "${apt_get[@]}" update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q "${need[@]}" >/dev/null; }
fi
exec "$VENV/bin/python" -m pytest -q "$@"

#!/usr/bin/env bash
# The whole test suite on a fresh machine: virtualenv, install, PostgreSQL (Debian package), Kafka, pytest.
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
exec "$VENV/bin/python" -m pytest -q "$@"

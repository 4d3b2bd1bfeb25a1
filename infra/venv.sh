# Sourced by infra/demo.sh and infra/test.sh: a virtualenv in .venv with the project installed (dev extras).
VENV="${RCM_VENV:-$PWD/.venv}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Python >= 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || { echo "cannot create a virtualenv (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
stamp="$VENV/.rcm-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing the project into $VENV ..." >&2
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e ".[dev]"
  touch "$stamp"
fi

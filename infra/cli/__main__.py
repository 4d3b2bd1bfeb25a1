"""`python -m infra.cli`: the same program as the `rcm` console script."""
from __future__ import annotations

from infra.cli import run

run()

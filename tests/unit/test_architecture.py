"""Imports point inward: the domain imports no adapter, projections and consumers never import infra."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"domain": {"infra", "projections", "consumers", "psycopg", "sqlite3", "kafka", "grafana_client", "rich"},
             "projections": {"infra"}, "consumers": {"infra"}}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_imports_point_inward():
    offences = [
        f"{path.relative_to(ROOT)} imports {sorted(imported_roots(path) & forbidden)}"
        for package, forbidden in FORBIDDEN.items()
        for path in (ROOT / package).rglob("*.py")
        if imported_roots(path) & forbidden
    ]
    assert offences == []

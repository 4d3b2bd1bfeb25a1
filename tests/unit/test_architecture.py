"""Imports point inward: the domain imports no adapter, projections and consumers never import infra, and the
adapters (Kafka, Grafana) never import the composition root or the CLI that wire them."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"domain": {"infra", "projections", "consumers", "psycopg", "sqlite3", "kafka", "grafana_client", "rich"},
             "projections": {"infra"}, "consumers": {"infra"}}
ADAPTERS = ("infra/kafka", "infra/grafana")
WIRING = {"infra.bootstrap", "infra.cli"}


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


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (lazy imports in functions too), as dotted names;
    `from infra import bootstrap` counts as infra.bootstrap."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return modules


def wiring_imported(path: Path) -> set[str]:
    """The wiring modules a file imports, the CLI package's own modules (infra.cli.parser, ...) included."""
    return {m for m in imported_modules(path) if m in WIRING or m.startswith(tuple(f"{w}." for w in WIRING))}


def test_adapters_do_not_import_their_wiring():
    offences = [
        f"{path.relative_to(ROOT)} imports {sorted(wiring_imported(path))}"
        for adapter in ADAPTERS
        for path in (ROOT / adapter).rglob("*.py")
        if wiring_imported(path)
    ]
    assert offences == []


def test_the_readmes_layout_names_every_module_and_only_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):readme.index("## Benchmarks")]
    files = {p for folder in ("domain", "projections", "consumers", "infra", "bench", "docs")
             for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", ".md") and "lib" not in p.parts}
    assert sorted(p.name for p in files if p.name not in layout and p.name != "__init__.py") == []
    assert sorted(set(re.findall(r"[a-z_0-9]+\.(?:py|sh|md)", layout)) - {p.name for p in files}) == []

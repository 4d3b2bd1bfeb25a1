"""The Grafana dashboards in dashboards/: loaded, their SQL expanded as Grafana's PostgreSQL datasource expands it,
and run against the projection tables (infra/grafana/snapshot.py renders the results into offline HTML pages).

Grafana cannot run on our machines, so this module is how the dashboards are proven: the same rawSql, with
`$__timeFilter`, `$__timeGroupAlias`, `$__timeFrom()`, `${payer:sqlstring}` ... expanded exactly as Grafana
(pkg/tsdb/grafana-postgresql-datasource/macros.go and its template service) expands them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
DATASOURCE_UID = "rcm-pg"
MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class DashboardError(Exception):
    pass


def load(directory: Path = DASHBOARDS) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dashboard["panels"]:
        if p.get("type") == "row":
            out += p.get("panels", [])
        else:
            out.append(p)
    return out


# ---- time ranges and macros, as Grafana computes them ----

def relative(text: str, now: datetime) -> datetime:
    """Grafana's 'now', 'now-90d', 'now-6h', 'now-2w' (no rounding suffixes are used by our dashboards)."""
    if text == "now":
        return now
    match = re.fullmatch(r"now-([0-9]+)([smhdwMy])", text)
    if not match:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "M":
        return now - timedelta(days=30 * amount)
    if unit == "y":
        return now - timedelta(days=365 * amount)
    return now - timedelta(seconds=amount * UNITS[unit])


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: no fraction when it is zero, 'Z' for the zone."""
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def interval_seconds(text: str) -> int:
    match = re.fullmatch(r"'?([0-9]+)([smhdw])'?", text.strip())
    if not match:
        raise DashboardError(f"error parsing interval {text}")
    return int(match.group(1)) * UNITS[match.group(2)]


def expand_macros(sql: str, start: datetime, end: datetime) -> str:
    def replace(match: re.Match[str]) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        if name == "__timeGroup" and sql[match.end():match.end() + 1] == ",":
            name = "__timeGroupAlias"  # Grafana's pre-5.3 compatibility rule
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(start)}'"
        if name == "__timeTo":
            return f"'{rfc3339(end)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) < 2:
                raise DashboardError(f"macro {name} needs time column and interval and optional fill value")
            seconds = interval_seconds(args[1])
            group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        if name == "__unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        raise DashboardError(f"unknown macro {name!r}")

    return MACRO.sub(replace, sql)


class AllValue(str):
    """A variable's custom all value (`allValue`), which Grafana inserts as it is, never formatted."""


def sqlstring(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def expand_variables(sql: str, values: dict[str, list[str]], multi: set[str]) -> str:
    """${name:sqlstring}, ${name:csv}, ${name} and $name; multi-value (or All) variables are quoted lists, as
    Grafana's SQL datasources format them."""
    def render(name: str, form: str | None) -> str:
        if name not in values:
            raise DashboardError(f"variable ${name} is not defined by the dashboard")
        chosen = values[name]
        if len(chosen) == 1 and isinstance(chosen[0], AllValue):
            return str(chosen[0])
        if form == "sqlstring" or (form is None and name in multi):
            return sqlstring(chosen) if chosen else "NULL"
        if form == "csv":
            return ",".join(chosen)
        if form in ("raw", None):
            return ",".join(chosen)
        raise DashboardError(f"variable format {form!r} is not supported")

    sql = re.sub(r"\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?\}", lambda m: render(m.group(1), m.group(2)), sql)
    return re.sub(r"\$([a-zA-Z][a-zA-Z0-9_]*)\b(?!\()", lambda m: render(m.group(1), None), sql)


def used_variables(sql: str) -> set[str]:
    names = {m.group(1) for m in re.finditer(r"\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}", sql)}
    return names | {m.group(1) for m in re.finditer(r"\$([a-zA-Z][a-zA-Z0-9_]*)\b(?!\()", sql)}


def expand(sql: str, start: datetime, end: datetime, values: dict[str, list[str]], multi: set[str]) -> str:
    return expand_macros(expand_variables(sql, values, multi), start, end)


# ---- running panels against PostgreSQL ----

@dataclass
class PanelResult:
    panel: dict[str, Any]
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: str = ""


@dataclass
class DashboardRun:
    dashboard: dict[str, Any]
    start: datetime
    end: datetime
    values: dict[str, list[str]]
    results: list[PanelResult]


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return value.isoformat()
    return value


def require_postgresql(settings: Settings) -> None:
    if settings.backend != "postgresql":
        raise DashboardError("dashboards read the PostgreSQL projections: give --db postgresql://...")


def connect(settings: Settings) -> Any:
    """A connection whose search_path is the ledger's schema (where the projection tables are)."""
    import psycopg

    require_postgresql(settings)
    connection = psycopg.connect(settings.postgres_conninfo(), autocommit=True)
    if settings.postgres_schema:
        connection.execute(f"SET search_path TO {settings.postgres_schema}")
    return connection


def variable_values(connection: Any, dashboard: dict[str, Any], chosen: dict[str, list[str]] | None
                    ) -> tuple[dict[str, list[str]], set[str]]:
    values, multi = {}, set()
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("multi") or var.get("includeAll"):
            multi.add(var["name"])
        if var.get("type") == "query":
            known = [str(r[0]) for r in connection.execute(var["query"]).fetchall()]
            unknown = sorted(set(chosen.get(var["name"], [])) - set(known)) if chosen else []
            if unknown:
                raise DashboardError(f"--{var['name']} {', '.join(unknown)}: not in the ledger's projections "
                                     f"(known: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''})")
            if chosen and var["name"] in chosen:
                values[var["name"]] = chosen[var["name"]]
            else:  # All: its custom all value when it has one, else every value (as Grafana sends them)
                values[var["name"]] = [AllValue(var["allValue"])] if var.get("allValue") else known
        elif chosen and var["name"] in chosen:
            values[var["name"]] = chosen[var["name"]]
        else:
            values[var["name"]] = [o["value"] for o in var.get("options", [])]
    return values, multi


def run_dashboard(connection: Any, dashboard: dict[str, Any], now: datetime | None = None,
                  chosen: dict[str, list[str]] | None = None, start: datetime | None = None,
                  end: datetime | None = None) -> DashboardRun:
    now = now or datetime.now(timezone.utc)
    start = start or relative(dashboard["time"]["from"], now)
    end = end or relative(dashboard["time"]["to"], now)
    values, multi = variable_values(connection, dashboard, chosen)
    results = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            sql = expand(target["rawSql"], start, end, values, multi)
            result = PanelResult(panel, sql)
            try:
                cursor = connection.execute(sql)
                result.columns = [c.name for c in cursor.description]
                result.rows = [[plain(v) for v in row] for row in cursor.fetchall()]
            except Exception as error:  # a panel's failure is reported on the panel, as Grafana shows it
                result.error = f"{type(error).__name__}: {error}".strip()
            results.append(result)
    return DashboardRun(dashboard, start, end, values, results)

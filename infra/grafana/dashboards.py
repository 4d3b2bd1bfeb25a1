"""The Grafana dashboards in dashboards/: loaded, their SQL expanded as Grafana's PostgreSQL datasource expands it,
run against the projection tables, and rendered into offline HTML snapshots for people without Grafana.

Grafana cannot run on our machines, so this module is how the dashboards are proven: the same rawSql, with
`$__timeFilter`, `$__timeGroupAlias`, `$__timeFrom()`, `${payer:sqlstring}` ... expanded exactly as Grafana
(pkg/tsdb/grafana-postgresql-datasource/macros.go and its template service) expands them.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
DATASOURCE_UID = "rcm-pg"
UPLOT = "1.6.32"  # from the npm registry, inlined into each snapshot page
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


def sqlstring(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def expand_variables(sql: str, values: dict[str, list[str]], multi: set[str]) -> str:
    """${name:sqlstring}, ${name:csv}, ${name} and $name; multi-value (or All) variables are quoted lists, as
    Grafana's SQL datasources format them."""
    def render(name: str, form: str | None) -> str:
        if name not in values:
            raise DashboardError(f"variable ${name} is not defined by the dashboard")
        chosen = values[name]
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


def connect(database_url: str) -> Any:
    """A connection whose search_path is the ledger's schema (where the projection tables are)."""
    import psycopg

    from infra.settings import Settings
    settings = Settings.load(database_url)
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
        if chosen and var["name"] in chosen:
            values[var["name"]] = chosen[var["name"]]
        elif var.get("type") == "query":
            values[var["name"]] = [str(r[0]) for r in connection.execute(var["query"]).fetchall()]
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


# ---- offline HTML snapshot ----

def uplot_assets() -> tuple[str, str]:
    """uPlot's script and stylesheet from the npm registry (npm pack), cached under ~/.cache/rcm."""
    cache = Path(os.environ.get("RCM_CACHE", Path.home() / ".cache" / "rcm")) / f"uplot-{UPLOT}"
    script, style = cache / "package" / "dist" / "uPlot.iife.min.js", cache / "package" / "dist" / "uPlot.min.css"
    if not script.exists():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(["npm", "pack", f"uplot@{UPLOT}", "--pack-destination", str(cache)],
                                  capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DashboardError(f"cannot fetch uPlot {UPLOT} from the npm registry (is npm installed?): {error}")
        if done.returncode != 0:
            raise DashboardError(f"npm pack uplot@{UPLOT} failed: {done.stderr.strip()[-300:]}")
        with tarfile.open(cache / f"uplot-{UPLOT}.tgz") as archive:
            archive.extractall(cache, filter="data")
    return script.read_text(encoding="utf-8"), style.read_text(encoding="utf-8")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{uplot_css}
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1f2328; }}
header {{ padding: 12px 20px; background: #1f2937; color: #fff; }}
header h1 {{ margin: 0; font-size: 20px; }} header p {{ margin: 4px 0 0; font-size: 12px; color: #cbd5e1; }}
main {{ display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 34px; gap: 8px; padding: 12px; }}
.panel {{ background: #fff; border: 1px solid #d0d7de; border-radius: 4px; padding: 8px; overflow: auto; }}
.panel h2 {{ font-size: 13px; margin: 0 0 6px; }} .error {{ color: #b42318; font-size: 12px; }}
.stat {{ display: flex; gap: 18px; flex-wrap: wrap; align-items: baseline; }}
.stat div {{ font-size: 30px; font-weight: 600; color: #0b6bcb; }} .stat small {{ display: block; font-size: 11px; color: #57606a; font-weight: 400; }}
table {{ border-collapse: collapse; font-size: 12px; width: 100%; }} th, td {{ border-bottom: 1px solid #eaeef2; padding: 3px 6px; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.bar {{ display: flex; align-items: center; gap: 6px; font-size: 12px; margin: 2px 0; }}
.bar span.label {{ width: 34%; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }}
.bar span.fill {{ display: inline-block; height: 14px; }} .legend {{ font-size: 11px; margin-top: 4px; }}
.legend i {{ display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 10px; }}
</style></head>
<body><header><h1>{title}</h1><p>{subtitle}</p></header>
<main id="panels"></main>
<ul id="console-errors"></ul>
<script>
window.__errors = [];
window.addEventListener("error", e => {{ window.__errors.push(String(e.message)); note(String(e.message)); }});
const consoleError = console.error;
console.error = (...args) => {{ window.__errors.push(args.join(" ")); note(args.join(" ")); consoleError(...args); }};
function note(text) {{ const li = document.createElement("li"); li.textContent = text; document.getElementById("console-errors").appendChild(li); }}
</script>
<script>{uplot_js}</script>
<script type="application/json" id="data">{data}</script>
<script>{renderer}</script>
</body></html>
"""

RENDERER = r"""
const COLORS = ["#0b6bcb", "#e8590c", "#2f9e44", "#ae3ec9", "#f59f00", "#1098ad", "#d6336c", "#5c940d"];
const data = JSON.parse(document.getElementById("data").textContent);
function fmt(value, unit) {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "number") return String(value);
  if (unit === "percentunit") return (value * 100).toFixed(1) + "%";
  if (unit === "currencyUSD") return "$" + value.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
  if (unit === "none") return value.toFixed(1);
  return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(2);
}
function axis(value, unit) {
  if (value === null) return "";
  if (unit === "percentunit") return (value * 100).toFixed(0) + "%";
  const abs = Math.abs(value), sign = unit === "currencyUSD" ? "$" : "";
  if (abs >= 1e6) return sign + (value / 1e6).toFixed(1) + "M";
  if (abs >= 1e3) return sign + (value / 1e3).toFixed(1) + "k";
  return sign + value.toFixed(abs < 10 && !Number.isInteger(value) ? 1 : 0);
}
function unitOf(panel, column) {
  for (const o of panel.overrides || []) if (o.matcher.options === column) for (const p of o.properties) if (p.id === "unit") return p.value;
  return panel.unit;
}
function legend(el, names) {
  const div = document.createElement("div"); div.className = "legend";
  names.forEach((n, i) => { div.innerHTML += `<i style="background:${COLORS[i % COLORS.length]}"></i>` + n.replace(/</g, "&lt;"); });
  el.appendChild(div);
}
function renderStat(el, p) {
  const row = p.rows[0] || [];
  const box = document.createElement("div"); box.className = "stat";
  p.columns.forEach((c, i) => { const d = document.createElement("div"); d.innerHTML = `${fmt(row[i], unitOf(p, c))}<small>${c}</small>`; box.appendChild(d); });
  el.appendChild(box);
}
function renderTable(el, p) {
  const t = document.createElement("table");
  t.innerHTML = "<tr>" + p.columns.map(c => `<th>${c}</th>`).join("") + "</tr>" +
    p.rows.map(r => "<tr>" + r.map((v, i) => `<td class="${typeof v === "number" ? "n" : ""}">${fmt(v, unitOf(p, p.columns[i]))}</td>`).join("") + "</tr>").join("");
  el.appendChild(t);
}
function renderBars(el, p) {
  // one bar group per row: the first text column is the label, each numeric column a segment
  const numeric = p.columns.map((c, i) => i).filter(i => p.rows.some(r => typeof r[i] === "number"));
  const label = p.columns.findIndex((c, i) => !numeric.includes(i));
  const rows = p.type === "bargauge" && p.rows.length === 1 ? numeric.map(i => [p.columns[i], p.rows[0][i]]) :
    p.rows.map(r => [label >= 0 ? r[label] : "", ...numeric.map(i => r[i] || 0)]);
  const series = p.type === "bargauge" && p.rows.length === 1 ? [p.columns[numeric[0]]] : numeric.map(i => p.columns[i]);
  const max = Math.max(1e-9, ...rows.map(r => r.slice(1).reduce((a, b) => a + Math.max(0, b), 0)));
  for (const r of rows) {
    const line = document.createElement("div"); line.className = "bar";
    const total = r.slice(1).reduce((a, b) => a + b, 0);
    line.innerHTML = `<span class="label">${String(r[0]).replace(/</g, "&lt;")}</span>` +
      r.slice(1).map((v, i) => `<span class="fill" title="${series[i] || ""}: ${fmt(v, p.unit)}" style="width:${(60 * Math.max(0, v) / max).toFixed(2)}%;background:${COLORS[i % COLORS.length]}"></span>`).join("") +
      `<span>${fmt(total, p.unit)}</span>`;
    el.appendChild(line);
  }
  if (series.length > 1) legend(el, series);
}
function renderSeries(el, p) {
  const t = p.columns.indexOf("time");
  const metric = p.columns.indexOf("metric");
  const values = p.columns.map((c, i) => i).filter(i => i !== t && i !== metric);
  let names, xs, ys;
  xs = [...new Set(p.rows.map(r => r[t]))].sort((a, b) => a - b);
  if (metric >= 0) {
    names = [...new Set(p.rows.map(r => r[metric]))];
    ys = names.map(n => xs.map(x => { const r = p.rows.find(r => r[t] === x && r[metric] === n); return r ? r[values[0]] : null; }));
  } else {
    names = values.map(i => p.columns[i]);
    ys = values.map(i => xs.map(x => { const r = p.rows.find(r => r[t] === x); return r ? r[i] : null; }));
  }
  const width = Math.max(200, el.clientWidth - 20), height = Math.max(120, el.clientHeight - 70);
  const opts = {width, height, legend: {show: false}, scales: {x: {time: true}},
    axes: [{}, {values: (u, v) => v.map(x => axis(x, p.unit)), size: 64}],
    series: [{}, ...names.map((n, i) => ({label: String(n), stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true}))]};
  new uPlot(opts, [xs, ...ys], el);
  legend(el, names.map(String));
}
for (const p of data.panels) {
  const el = document.createElement("section");
  el.className = "panel"; el.dataset.panelId = p.id;
  el.style.gridColumn = `${p.gridPos.x + 1} / span ${p.gridPos.w}`;
  el.style.gridRow = `${p.gridPos.y + 1} / span ${p.gridPos.h}`;
  el.innerHTML = `<h2>${p.title.replace(/</g, "&lt;")}</h2>`;
  document.getElementById("panels").appendChild(el);
  try {
    if (p.error) { el.innerHTML += `<p class="error">${p.error.replace(/</g, "&lt;")}</p>`; }
    else if (!p.rows.length) { el.innerHTML += `<p>No data in this range.</p>`; }
    else if (p.type === "stat") renderStat(el, p);
    else if (p.type === "table") renderTable(el, p);
    else if (p.type === "barchart" || p.type === "bargauge") renderBars(el, p);
    else if (p.type === "timeseries") renderSeries(el, p);
    else throw new Error("no renderer for panel type " + p.type);
    el.dataset.rendered = p.error ? "error" : "true";
  } catch (e) { console.error(`panel ${p.id} (${p.title}): ${e}`); el.dataset.rendered = "failed"; }
}
document.body.dataset.panels = String(data.panels.length);
document.body.dataset.done = "true";
"""


def page(run: DashboardRun, generated: datetime) -> str:
    script, style = uplot_assets()
    d = run.dashboard
    data = {"panels": [{
        "id": r.panel["id"], "title": r.panel["title"], "type": r.panel["type"], "gridPos": r.panel["gridPos"],
        "unit": r.panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"),
        "overrides": r.panel.get("fieldConfig", {}).get("overrides", []),
        "columns": r.columns, "rows": r.rows, "error": r.error} for r in run.results]}
    chosen = "; ".join(f"{k}: {'All' if len(v) > 3 else ', '.join(v)}" for k, v in run.values.items())
    subtitle = (f"{run.start:%Y-%m-%d} to {run.end:%Y-%m-%d} (UTC) · {chosen} · snapshot generated "
                f"{generated:%Y-%m-%d %H:%M} UTC from the rcm projections · uid {d['uid']}")
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    return PAGE.format(title=html.escape(d["title"]), subtitle=html.escape(subtitle), uplot_css=style,
                       uplot_js=script, data=payload, renderer=RENDERER)


def snapshot(database_url: str, out: Path, now: datetime | None = None) -> Iterator[tuple[Path, DashboardRun]]:
    """One self-contained page per dashboard (uPlot inlined: no network needed to view it)."""
    if not database_url.startswith("postgresql"):
        raise DashboardError("dashboards read the PostgreSQL projections: give --db postgresql://...")
    from infra.bootstrap import open_runner

    out.mkdir(parents=True, exist_ok=True)
    runner = open_runner(database_url)
    runner.catch_up()  # the pages show the ledger as it is now
    generated = datetime.now(timezone.utc)
    with connect(database_url) as connection:
        for dashboard in load():
            run = run_dashboard(connection, dashboard, now)
            path = out / f"{dashboard['uid']}.html"
            path.write_text(page(run, generated), encoding="utf-8")
            yield path, run

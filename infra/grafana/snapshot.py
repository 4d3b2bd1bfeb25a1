"""Offline HTML snapshots of the Grafana dashboards, for people without Grafana: each dashboard's panels run against
the projections and drawn with uPlot (inlined), one self-contained page per dashboard."""
from __future__ import annotations

import html
import json
import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from infra.grafana.dashboards import (AllValue, DashboardError, DashboardRun, connect, load, require_postgresql,
                                     run_dashboard)

if TYPE_CHECKING:
    from infra.settings import Settings

UPLOT = "1.6.32"  # from the npm registry, inlined into each snapshot page


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
.bar span.label {{ flex: 0 0 30%; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }}
.bar span.track {{ flex: 1 1 auto; display: flex; height: 14px; }} .bar span.fill {{ display: block; height: 14px; }}
.bar span.total {{ flex: 0 0 88px; text-align: right; font-variant-numeric: tabular-nums; }}
.legend {{ font-size: 11px; margin-top: 4px; }}
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
  if (unit === "d") return value.toFixed(1) + " days";
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
const SHADES = {red: "#d92d20", orange: "#e8590c", green: "#2f9e44", text: "#1f2328"};
function thresholdColor(p, value) {
  // Grafana's absolute thresholds: the last step whose value is at or below the number gives its colour
  const steps = (p.thresholds && p.thresholds.steps) || [];
  let color = null;
  for (const s of steps) if (s.value === null || (value !== null && value >= s.value)) color = s.color;
  return SHADES[color] || color || "#0b6bcb";
}
function renderStat(el, p) {
  const row = p.rows[0] || [];
  const box = document.createElement("div"); box.className = "stat";
  p.columns.forEach((c, i) => {
    const d = document.createElement("div");
    const change = c === "vs previous month";
    const text = fmt(row[i], unitOf(p, c));
    d.innerHTML = `${change && typeof row[i] === "number" && row[i] > 0 ? "+" : ""}${text}<small>${c}</small>`;
    d.style.color = change ? SHADES.text : thresholdColor(p, row[i]);
    if (change) d.style.fontSize = "16px";
    box.appendChild(d);
  });
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
    // every row's bar starts at the same x and is scaled to the same track; totals line up on the right
    line.innerHTML = `<span class="label">${String(r[0]).replace(/</g, "&lt;")}</span><span class="track">` +
      r.slice(1).map((v, i) => `<span class="fill" title="${series[i] || ""}: ${fmt(v, p.unit)}" style="width:${(100 * Math.max(0, v) / max).toFixed(2)}%;background:${COLORS[i % COLORS.length]}"></span>`).join("") +
      `</span><span class="total">${fmt(total, p.unit)}</span>`;
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
        "thresholds": r.panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds"),
        "columns": r.columns, "rows": r.rows, "error": r.error} for r in run.results]}
    chosen = "; ".join(f"{k}: {'All' if len(v) > 3 or isinstance(v[0], AllValue) else ', '.join(v)}"
                       for k, v in run.values.items() if v)
    subtitle = (f"{run.start:%Y-%m-%d} to {run.end:%Y-%m-%d} (UTC) · {chosen} · snapshot generated "
                f"{generated:%Y-%m-%d %H:%M} UTC from the rcm projections · uid {d['uid']}")
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    return PAGE.format(title=html.escape(d["title"]), subtitle=html.escape(subtitle), uplot_css=style,
                       uplot_js=script, data=payload, renderer=RENDERER)


def snapshot(settings: Settings, out: Path, catch_up: Callable[[], object], now: datetime | None = None,
             start: datetime | None = None, end: datetime | None = None,
             chosen: dict[str, list[str]] | None = None) -> Iterator[tuple[Path, DashboardRun]]:
    """One self-contained page per dashboard (uPlot inlined: no network needed to view it), once `catch_up` has
    brought the projections up to the ledger. By default each dashboard's own range and every payer and provider;
    a month-end pack gives the range (`start`, `end`) and the variables' values (`chosen`)."""
    require_postgresql(settings)
    out.mkdir(parents=True, exist_ok=True)
    catch_up()
    generated = datetime.now(timezone.utc)
    with connect(settings) as connection:
        for dashboard in load():
            run = run_dashboard(connection, dashboard, now, chosen=chosen, start=start, end=end)
            path = out / f"{dashboard['uid']}.html"
            path.write_text(page(run, generated), encoding="utf-8")
            yield path, run

"""The Grafana dashboards, proven without Grafana (it cannot be installed on our machines): their structure, every
panel's SQL expanded as Grafana expands it and run against real PostgreSQL projections filled by the simulator
(shape and numbers against `rcm report` and the oracle), the read-only role, and the offline snapshot pages
opened in headless Chromium."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from infra.grafana import dashboards as dash
from infra.grafana.snapshot import snapshot
from infra.settings import Settings
from infra.bootstrap import open_ledger, open_runner
from projections import oracle, productivity, reports
from tests.conftest import ROOT, require_postgres

UNITS = {"percentunit", "currencyUSD", "short", "none"}
PANEL_TYPES = {"stat", "table", "barchart", "bargauge", "timeseries"}
FOREVER = datetime(2000, 1, 1, tzinfo=timezone.utc)
BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")


def money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# ---- structure ----

def test_three_dashboards_with_stable_uids_and_pinned_schema():
    boards = dash.load()
    assert {d["uid"] for d in boards} == {"rcm-overview", "rcm-ar-aging", "rcm-denials"}
    for d in boards:
        assert 39 <= d["schemaVersion"] <= 41
        assert d["time"] == {"from": "now-180d", "to": "now"}
        assert {v["name"] for v in d["templating"]["list"]} == {"payer", "provider"}


@pytest.mark.parametrize("board", dash.load(), ids=lambda d: d["uid"])
def test_panel_structure(board):
    provisioned = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/rcm.yaml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    panels = dash.panels(board)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    cells: set[tuple[int, int]] = set()
    defined = {v["name"] for v in board["templating"]["list"]}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"{p['title']} fits 24 columns"
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        assert p["type"] in PANEL_TYPES
        assert p["datasource"]["uid"] == uid
        units = [p["fieldConfig"]["defaults"]["unit"]] + [
            prop["value"] for o in p["fieldConfig"]["overrides"] for prop in o["properties"] if prop["id"] == "unit"]
        assert set(units) <= UNITS, units
        for t in p["targets"]:
            assert t["format"] in ("table", "time_series") and t["datasource"]["uid"] == uid and t["rawQuery"]
            assert dash.used_variables(t["rawSql"]) <= defined, dash.used_variables(t["rawSql"]) - defined
            assert (t["format"] == "time_series") == (p["type"] == "timeseries")
    for v in board["templating"]["list"]:
        assert v["datasource"]["uid"] == uid


def test_provisioning_points_at_the_dashboards():
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/rcm.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["folderUid"] == "rcm"
    ds = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/rcm.yaml").read_text())["datasources"][0]
    assert ds["type"] == "grafana-postgresql-datasource" and ds["user"] == "rcm_grafana"


def test_macros_expand_as_grafana_does():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    end = datetime(2026, 1, 31, 12, 30, 5, 250000, tzinfo=timezone.utc)
    sql = ("SELECT $__timeGroupAlias(day, '7d'), x FROM t WHERE $__timeFilter(day) AND d < $__timeTo() AND "
           "d > $__timeFrom() AND p IN (${payer:sqlstring}) AND q IN ($provider) GROUP BY $__timeGroup(day, '1d')")
    got = dash.expand(sql, start, end, {"payer": ["A", "O'Neil"], "provider": ["1"]}, {"payer", "provider"})
    assert got == ("SELECT floor(extract(epoch from day)/604800)*604800 AS \"time\", x FROM t WHERE day BETWEEN "
                   "'2026-01-01T00:00:00Z' AND '2026-01-31T12:30:05.25Z' AND d < '2026-01-31T12:30:05.25Z' AND "
                   "d > '2026-01-01T00:00:00Z' AND p IN ('A','O''Neil') AND q IN ('1') GROUP BY "
                   "floor(extract(epoch from day)/86400)*86400")
    with pytest.raises(dash.DashboardError, match="variable \\$nope is not defined"):
        dash.expand("SELECT $nope", start, end, {}, set())


# ---- every panel's SQL against real PostgreSQL projections ----

@pytest.fixture(scope="module")
def filled() -> str:
    url = f"{require_postgres()}?schema=dash_{uuid.uuid4().hex[:10]}"
    done = subprocess.run([sys.executable, "-m", "infra.cli", "demo", "--db", url, "--seed", "9", "--claims", "800"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    open_runner(url).catch_up()
    return url


def run(url: str, uid: str, chosen: dict[str, list[str]] | None = None) -> dict[str, dash.PanelResult]:
    board = next(d for d in dash.load() if d["uid"] == uid)
    with dash.connect(Settings.load(url)) as connection:
        result = dash.run_dashboard(connection, board, chosen=chosen, start=FOREVER, end=datetime.now(timezone.utc))
    return {r.panel["title"]: r for r in result.results}


def table(result: dash.PanelResult) -> list[dict]:
    return [dict(zip(result.columns, row)) for row in result.rows]


def oracle_events(url: str) -> list:
    ledger = open_ledger(url)
    return [(n.id, ledger.mapper.to_domain_event(n)) for n in ledger.recorder.select_notifications(start=None, limit=10**7)]


def test_every_panel_runs_and_has_its_shape(filled: str):
    for board in dash.load():
        for title, r in run(filled, board["uid"]).items():
            assert not r.error, f"{board['uid']}/{title}: {r.error}\n{r.sql}"
            assert r.rows, f"{board['uid']}/{title} has no rows on the demo data"
            if r.panel["type"] == "timeseries":
                assert "time" in r.columns
                times = [row[r.columns.index("time")] for row in r.rows]
                assert times == sorted(times), f"{title}: time ascending"
            if r.panel["type"] in ("stat", "bargauge"):
                assert len(r.rows) == 1, f"{title}: one row"


def test_overview_numbers_equal_the_reports(filled: str):
    runner = open_runner(filled)  # keeps its store open while its views are read
    views = runner.views
    kpis = reports.kpis(views)
    panels = run(filled, "rcm-overview")
    for title, key in (("Clean claim rate", "clean_claim_rate"), ("Initial denial rate", "initial_denial_rate"),
                       ("First-pass resolution", "first_pass_resolution_rate"), ("Days in A/R", "days_in_ar"),
                       ("Net collection rate", "net_collection_rate"), ("A/R > 90 days", "ar_over_90_share")):
        assert panels[title].rows[0][0] == pytest.approx(kpis[key], abs=1e-4), title
    by_status = {r["status"]: r["claims"] for r in reports.status(views)}
    assert {r["status"]: r["claims"] for r in table(panels["Claims by status"])} == by_status
    events = oracle_events(filled)
    rows = oracle.claim_rows(events).values()
    pipeline = table(panels["Pipeline (claims with a date of service in range)"])[0]
    assert pipeline["coded"] == sum(1 for r in rows if r["coded_on"])
    assert pipeline["submitted"] == sum(1 for r in rows if r["submissions"])
    assert pipeline["paid"] == sum(1 for r in rows if r["payer_paid"] > 0)
    cash = oracle.cash_by_day(events)
    series = table(panels["Charges and payments per day"])
    assert sum(money(r["charges"]) for r in series) == Decimal(sum(v.get("billed", 0) for v in cash.values())) / 100
    assert sum(money(r["payments"]) for r in series) == \
        Decimal(sum(v.get("payer_paid", 0) + v.get("patient_paid", 0) for v in cash.values())) / 100


def test_productivity_panel_equals_the_productivity_report(filled: str):
    """Issue 15 item 3: the overview's productivity table is `rcm report productivity` over the range; the demo's
    coders each code at most 30 charts a day."""
    runner = open_runner(filled)  # keeps its store open while its views are read
    report = {r["person"]: r for r in productivity.productivity(runner.views)}
    panel = {r["person"]: r for r in table(run(filled, "rcm-overview")["Productivity by person"])}
    assert set(panel) == set(report) and any(p.startswith("coder:") for p in panel)
    for person, r in panel.items():
        want = report[person]
        assert (r["days"], r["charts coded"], r["claims submitted"], r["remittances posted"], r["appeals filed"],
                r["denials on their coding"]) == (want["days"], want["charts_coded"], want["claims_submitted"],
                                                  want["remittances_posted"], want["appeals_filed"],
                                                  want["denials_on_coding"]), person
        assert money(r["payments posted"]) == want["payments_posted"], person
        assert float(r["charts per day"] or 0) == pytest.approx(float(want["charts_per_day"] or 0), abs=0.051)
    busiest = runner.views.query(f"SELECT person, day, sum(tasks) AS charts FROM {runner.views.t['productivity']} "
                                 "WHERE activity = 'coded' GROUP BY person, day ORDER BY 3 DESC LIMIT 1")[0]
    assert 0 < busiest["charts"] <= 30, busiest


def test_aging_panels_equal_the_aging_report(filled: str):
    runner = open_runner(filled)  # keeps its store open while its views are read
    views = runner.views
    today = datetime.now(timezone.utc).date()
    panels = run(filled, "rcm-ar-aging")
    by_payer = reports.aging(views, today, by="payer")
    for r in table(panels["A/R by payer and age (as of the end of the range)"]):
        for bucket in BUCKETS:
            want = sum((x["balance"] for x in by_payer if x["group"] == r["payer"] and x["bucket"] == bucket),
                       Decimal("0.00"))
            assert money(r[bucket]) == want, (r["payer"], bucket)
    whole = reports.aging(views, today)
    for r in table(panels["A/R by responsibility and age"]):
        for bucket in BUCKETS:
            want = sum((x["balance"] for x in whole if x["responsibility"] == r["responsibility"]
                        and x["bucket"] == bucket), Decimal("0.00"))
            assert money(r[bucket]) == want, (r["responsibility"], bucket)
    trend = panels["A/R over time"].rows
    open_now = sum(oracle.balances_as_of(oracle_events(filled), today).values())
    assert money(trend[-1][1]) == Decimal(open_now) / 100
    oldest = table(panels["Oldest open claims"])
    assert [r["date of service"] for r in oldest] == sorted(r["date of service"] for r in oldest)


def test_denial_panels_equal_the_denial_report(filled: str):
    runner = open_runner(filled)  # keeps its store open while its views are read
    views = runner.views
    panels = run(filled, "rcm-denials")
    reasons = {r["carc"]: (r["remittances"], r["denied_claims"], r["dollars"])
               for r in reports.denial_reasons(views, limit=10)}
    assert {r["CARC"]: (r["remittances"], r["denied claims"], money(r["denied dollars"]))
            for r in table(panels["Top denial reasons (CARC) by dollars and count"])} == reasons
    report = reports.denials(views, None)
    for r in table(panels["Denials by category"]):
        row = next(x for x in report if x["category"] == r["category"])
        assert (r["denied claims"], r["appealed"], r["overturned"]) == (row["denied"], row["appealed"], row["overturned"])
    events = oracle_events(filled)
    totals = oracle.denial_totals(events)
    appeals = table(panels["Appeals and overturn rate"])[0]
    assert appeals["appealed"] == sum(t.get("appealed", 0) for t in totals.values())
    assert appeals["overturned"] == sum(t.get("overturned", 0) for t in totals.values())
    assert table(panels["Front-end rejections"])[0]["rejected claims"] == \
        sum(t.get("rejected", 0) for t in totals.values())
    denied = [r for r in oracle.claim_rows(events).values() if r["status"] in ("denied", "appealed")]
    assert len(table(panels["Denial work queue"])) == min(50, len(denied))
    assert set(panels["Denial rate by payer (weekly)"].columns) == {"time", "metric", "denial rate"}


def test_payer_variable_filters_the_panels(filled: str):
    runner = open_runner(filled)  # keeps its store open while its views are read
    views = runner.views
    payer = reports.status(views, "payer")[0]["group"]
    providers = [r["rendering_npi"] for r in views.query(f"SELECT DISTINCT rendering_npi FROM {views.t['status_summary']}")]
    panels = run(filled, "rcm-overview", chosen={"payer": [payer], "provider": providers})
    want = {r["status"]: r["claims"] for r in reports.status(views, "payer") if r["group"] == payer}
    assert {r["status"]: r["claims"] for r in table(panels["Claims by status"])} == want


def test_grafana_role_reads_the_projections_not_the_events(filled: str):
    import psycopg
    base, schema = filled.split("?schema=")
    reader = base.replace("rcm:rcm@", "rcm_grafana:rcm_grafana@")
    with psycopg.connect(reader, autocommit=True) as c:
        c.execute(f"SET search_path TO {schema}")
        assert c.execute("SELECT count(*) FROM claim_status").fetchone()[0] > 0
        assert c.execute("SELECT clean_claim_rate FROM kpis").fetchone()[0] is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT count(*) FROM rcm_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM claim_status")


# ---- offline snapshot pages in headless Chromium ----

CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1400,1300", "--virtual-time-budget=5000"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("required in CI: Debian's chromium (infra/test.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def test_snapshot_pages_render_every_panel_in_chromium(filled: str, tmp_path: Path):
    browser = chromium()
    pages = list(snapshot(Settings.load(filled), tmp_path / "snap",
                          catch_up=lambda: open_runner(filled).catch_up()))
    assert len(pages) == 3
    for path, result in pages:
        text = path.read_text()
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", text), "no network assets"
        profile = tmp_path / f"profile-{path.stem}"
        dom = subprocess.run([browser, *CHROMIUM, f"--user-data-dir={profile}", "--dump-dom", path.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        assert 'data-done="true"' in dom, f"{path.name}: the page script did not finish"
        rendered = re.findall(r'data-rendered="([a-z]+)"', dom)
        assert rendered == ["true"] * len(result.results), f"{path.name}: {rendered}"
        errors = re.search(r'<ul id="console-errors">(.*?)</ul>', dom, re.S).group(1)
        assert errors.strip() == "", f"{path.name}: console errors {errors}"
        shot = tmp_path / f"{path.stem}.png"
        subprocess.run([browser, *CHROMIUM, f"--user-data-dir={profile}", f"--screenshot={shot}", path.as_uri()],
                       capture_output=True, timeout=120)
        assert shot.stat().st_size > 20_000, f"{shot} looks empty"

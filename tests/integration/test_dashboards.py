"""The Grafana dashboards, proven without Grafana (it cannot be installed on our machines): their structure, every
panel's SQL expanded as Grafana expands it and run against real PostgreSQL projections filled by the simulator
(shape and numbers against `rcm report` and the oracle), the read-only role, and the offline snapshot pages
opened in headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from domain.lifecycle import STATUS_LABELS
from infra.grafana import dashboards as dash
from infra.grafana.snapshot import snapshot
from infra.settings import Settings
from infra.bootstrap import open_ledger, open_runner
from projections import oracle, productivity, reports, worklists
from domain.commands import COMMAND
from infra.simulator import npi
from tests.conftest import NPI, ROOT, as_role, at, cmd, code, denial, lifecycle_to_submitted, payment, require_postgres

UNITS = {"d", "percentunit", "currencyUSD", "short", "none"}
PANEL_TYPES = {"stat", "table", "barchart", "bargauge", "timeseries"}
FOREVER = datetime(2000, 1, 1, tzinfo=timezone.utc)
BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")


def money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# ---- structure ----

def test_four_dashboards_with_stable_uids_and_pinned_schema():
    boards = dash.load()
    assert {d["uid"] for d in boards} == {"rcm-overview", "rcm-ar-aging", "rcm-denials", "rcm-billers-day"}
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

def late_charts(directory: Path) -> Path:
    """Two charts found late (the demo codes every visit in time): one near its payer's timely-filing limit, one
    past it, so the biller's timely-filing panel has rows."""
    today = datetime.now(timezone.utc).date()
    lines = []
    for claim, payer_class, days_ago in (("LATE-1", "commercial", 75), ("LATE-2", "medicare", 370)):
        service = (today - timedelta(days=days_ago)).isoformat()
        lines.append({"type": "code_claim", "claim_number": claim, "billing_npi": NPI, "payer_id": "LATE",
                      "payer_class": payer_class, "patient_key": f"pk-{claim}", "place_of_service": "11",
                      "diagnoses": ["E11.9"], "lines": [{"procedure": "99213", "charge": "100.00",
                                                         "service_date": service}],
                      "effective_at": f"{service}T12:00:00+00:00"})
    path = directory / "late.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"{require_postgres()}?schema=dash_{uuid.uuid4().hex[:10]}"
    bank = str(tmp_path_factory.mktemp("bank") / "demo.bai")
    done = subprocess.run([sys.executable, "-m", "infra.cli", "demo", "--db", url, "--seed", "9", "--claims", "800",
                           "--bank-file", bank], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "infra.cli", "deposits", "import", bank, "--db", url],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    # The demo's 800 claims are one provider's: a second provider's few claims make the provider filter visible
    second = npi(12_345_678)
    lines = [*lifecycle_to_submitted("X1", rendering_npi=second), payment("X1", icn="X-ICN1"),
             *lifecycle_to_submitted("X2", rendering_npi=second), denial("X2", icn="X-ICN2"),
             cmd("appeal_denial", "X2", level=1, reason="records attached", effective_at=at(20)),
             cmd("decide_appeal", "X2", overturned=False, reason="upheld", effective_at=at(40)),
             code("X3", rendering_npi=second), cmd("scrub_claim", "X3", effective_at=at(0, 1)),
             cmd("submit_claim", "X3", effective_at=at(1)),
             cmd("reject_claim", "X3", stage="277CA", code="A7:21", reason="bad id", effective_at=at(2)),
             *lifecycle_to_submitted("X4", rendering_npi=second)]  # never answered: on the follow-up list
    ledger = open_ledger(url)
    outcomes = ledger.execute([COMMAND.validate_python(line) for line in lines])
    assert all(o.result == "applied" for o in outcomes), [str(o.error) for o in outcomes if o.error]
    late = late_charts(tmp_path_factory.mktemp("late"))
    done = subprocess.run([sys.executable, "-m", "infra.cli", "apply", str(late), "--db", url],
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
    by_status = {STATUS_LABELS[r["status"]]: r["claims"] for r in reports.status(views)}
    shown = table(panels["Claims by status"])
    assert {r["status"]: r["claims"] for r in shown} == by_status
    assert [r["status"] for r in shown] == [label for label in STATUS_LABELS.values() if label in by_status]
    events = oracle_events(filled)
    rows = oracle.claim_rows(events).values()
    this_month = datetime.now(timezone.utc).date().replace(day=1)
    full = sorted({r["dos"].replace(day=1) for r in rows if r["submissions"] and r["dos"] < this_month})

    def clean_rate(month):
        sent = [r for r in rows if r["submissions"] and r["dos"].replace(day=1) == month and r["status"] != "voided"]
        return sum(1 for r in sent if r["clean"]) / len(sent)
    change = table(panels["Clean claim rate"])[0]["vs previous month"]
    assert change == pytest.approx(clean_rate(full[-1]) - clean_rate(full[-2]), abs=1e-9)
    pipeline = table(panels["Pipeline (claims with a date of service in the range's months)"])[0]
    live = [r for r in rows if r["status"] != "voided"]  # a voided claim has left the pipeline
    assert pipeline["coded"] == sum(1 for r in live if r["coded_on"])
    assert pipeline["scrubbed"] == sum(1 for r in live if r["coded_on"] and r["status"] not in ("coded", "scrub_failed"))
    assert pipeline["submitted"] == sum(1 for r in live if r["submissions"])
    assert pipeline["paid"] == sum(1 for r in live if r["payer_paid"] > 0)
    cash = oracle.cash_by_day(events)
    series = table(panels["Charges and payments per day"])
    assert sum(money(r["charges"]) for r in series) == Decimal(sum(v.get("billed", 0) for v in cash.values())) / 100
    assert sum(money(r["payments"]) for r in series) == \
        Decimal(sum(v.get("payer_paid", 0) + v.get("patient_paid", 0) for v in cash.values())) / 100


def test_deposit_panels_equal_the_deposit_report(filled: str):
    """The demo's bank file, imported: the reconciliation table lists the report's exceptions first, and the
    posting lag tile is the report's average."""
    runner = open_runner(filled)
    report = reports.deposits(runner.views)
    panels = run(filled, "rcm-billers-day")
    rows = table(panels["Deposit reconciliation (bank BAI2 vs 835)"])
    exceptions = sorted((str(r["deposit_date"] or ""), r["trace"], r["status"], str(r["difference"]))
                        for r in report["rows"] if r["status"] != "matched")
    assert {r["status"] for r in report["rows"]} == {"matched", "amount differs", "deposit without 835",
                                                    "835 without deposit"}
    assert sorted((str(r["deposit date"] or ""), r["trace"], r["status"], str(money(r["difference"])))
                  for r in rows[:len(exceptions)]) == exceptions
    assert {r["status"] for r in rows[len(exceptions):]} == {"matched"}
    tile = table(panels["Posting lag (deposit to posting)"])[0]
    assert float(tile["posting lag (days)"]) == pytest.approx(report["posting_lag_days"], abs=0.01)
    assert tile["matched"] == report["by_status"]["matched"]["count"]


def test_productivity_panel_equals_the_productivity_report(filled: str):
    """Issue 15 item 3: the Biller's day productivity table is `rcm report productivity` over the range; the demo's
    coders each code at most 30 charts a day."""
    runner = open_runner(filled)  # keeps its store open while its views are read
    report = {r["person"]: r for r in productivity.productivity(runner.views)}
    panel = {r["person"]: r for r in table(run(filled, "rcm-billers-day")["Productivity by person"])}
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
    # the panel reads each responsibility's oldest from claim_status's index: the rows of ar_open, in its order
    first = f"SELECT claim_number, responsibility FROM {views.tables.ar_open} {{}} " \
        "ORDER BY dos, claim_number, responsibility LIMIT 25"
    assert [(r["claim"], r["responsibility"]) for r in oldest] == \
        [(r["claim_number"], r["responsibility"]) for r in views.query(first.format(""))]
    second = npi(12_345_678)
    of_second = table(run(filled, "rcm-ar-aging", {"provider": [second]})["Oldest open claims"])
    of_second_want = views.query(first.format("WHERE rendering_npi = ?"), [second])
    assert of_second and [(r["claim"], r["responsibility"]) for r in of_second] == \
        [(r["claim_number"], r["responsibility"]) for r in of_second_want]


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


WORKLIST_PANELS = {"Open denials by appeal deadline": "denials",
                   "Follow-up: no payer answer after N days": "follow-up",
                   "Near the timely-filing limit": "timely-filing",
                   "Unbilled: coded or scrubbed, not submitted": "unbilled"}


def test_billers_day_panels_are_the_worklists_of_rcm_worklist(filled: str):
    board = next(d for d in dash.load() if d["uid"] == "rcm-billers-day")
    sqls = {p["title"]: p["targets"][0]["rawSql"] for p in dash.panels(board)}
    for title, name in WORKLIST_PANELS.items():
        assert sqls[title] == worklists.panel_sql(name), f"{title}: regenerate from projections/worklists.py"
    runner = open_runner(filled)  # keeps its store open while its views are read
    today = datetime.now(timezone.utc).date()
    panels = run(filled, "rcm-billers-day")
    for title, name in WORKLIST_PANELS.items():
        want = worklists.worklist(runner.views, name, today)[:worklists.PANEL_ROWS]
        got = table(panels[title])
        assert [r["claim_number"] for r in got] == [r["claim_number"] for r in want], title
        assert [money(r["balance"]) for r in got] == [r["balance"] for r in want], title
    denials = table(panels["Open denials by appeal deadline"])
    deadlines = [r["appeal_deadline"] for r in denials if r["appeal_deadline"]]
    assert deadlines == sorted(deadlines)
    ledger = open_ledger(filled)
    for row in denials:  # the deadline the ledger recorded, as `rcm show` gives it
        recorded = ledger.find(row["claim_number"]).appeal_deadline
        assert row["appeal_deadline"] == (recorded.isoformat() if recorded else None)
    assert {r["claim_number"] for r in table(panels["Near the timely-filing limit"])} >= {"LATE-1", "LATE-2"}


def test_payer_variable_filters_the_panels(filled: str):
    runner = open_runner(filled)  # keeps its store open while its views are read
    views = runner.views
    payer = reports.status(views, "payer")[0]["group"]
    providers = [r["rendering_npi"]
                 for r in views.query(f"SELECT DISTINCT rendering_npi FROM {views.t['status_summary']}")]
    panels = run(filled, "rcm-overview", chosen={"payer": [payer], "provider": providers})
    want = {STATUS_LABELS[r["status"]]: r["claims"] for r in reports.status(views, "payer") if r["group"] == payer}
    assert {r["status"]: r["claims"] for r in table(panels["Claims by status"])} == want


# Panels whose facts have no rendering provider, and why (their descriptions say so too).
NOT_PER_PROVIDER = {"Deposit reconciliation (bank BAI2 vs 835)": "one EFT pays many providers' claims",
                    "Posting lag (deposit to posting)": "one EFT pays many providers' claims"}


def test_every_panel_follows_the_time_range_and_both_filters(filled: str):
    """Each panel's result changes when the range narrows, when one payer is chosen, and when one rendering provider
    is chosen (on the demo practice, where each of those holds a part of the claims)."""
    runner = open_runner(filled)
    views = runner.views
    payers = [r["payer_id"] for r in views.query(f"SELECT DISTINCT payer_id FROM {views.t['status_summary']}")]
    providers = [r["rendering_npi"] for r in views.query(
        f"SELECT rendering_npi FROM {views.t['status_summary']} GROUP BY 1 ORDER BY sum(claims) DESC")]
    assert len(payers) > 1 and len(providers) > 1
    end = datetime.now(timezone.utc)
    unchanged = []
    for board in dash.load():
        def results(start: datetime = FOREVER, stop: datetime = end, **chosen: list[str]) -> dict[str, list]:
            picked = {"payer": chosen.get("payer", payers), "provider": chosen.get("provider", providers)}
            with dash.connect(Settings.load(filled)) as connection:
                done = dash.run_dashboard(connection, board, chosen=picked, start=start, end=stop)
            return {r.panel["title"]: r.rows for r in done.results}
        everything = results()
        variants = {"time range": results(start=end - timedelta(days=120), stop=end - timedelta(days=60)),
                    "payer": results(payer=payers[:1]),
                    "provider": results(provider=providers[:1])}
        for title, rows in everything.items():
            for what, variant in variants.items():
                if what == "provider" and title in NOT_PER_PROVIDER:
                    continue
                if variant[title] == rows:
                    unchanged.append(f"{board['uid']}/{title} ignores the {what}")
    assert unchanged == []


def test_the_status_panel_lists_the_domain_lifecycle_in_order():
    board = next(d for d in dash.load() if d["uid"] == "rcm-overview")
    sql = next(p for p in dash.panels(board) if p["title"] == "Claims by status")["targets"][0]["rawSql"]
    listed = re.findall(r"\((\d+), '([a-z_]+)', '([^']+)'\)", sql)
    assert [(status, label) for _, status, label in listed] == list(STATUS_LABELS.items())
    assert [int(step) for step, _, _ in listed] == list(range(1, len(STATUS_LABELS) + 1))


def test_grafana_role_reads_the_projections_not_the_events(filled: str):
    import psycopg
    base, schema = filled.split("?schema=")
    reader = as_role(base, "rcm_grafana")
    with psycopg.connect(reader, autocommit=True) as c:
        c.execute(f"SET search_path TO {schema}")
        assert c.execute("SELECT count(*) FROM claim_status").fetchone()[0] > 0
        assert c.execute("SELECT clean_claim_rate FROM kpis").fetchone()[0] is not None
        assert c.execute("SELECT count(*) FROM deposit_reconciliation").fetchone()[0] > 0
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
    assert len(pages) == len(dash.load())
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


def test_a_month_end_pack_takes_its_range_and_payer(filled: str, tmp_path: Path):
    def rcm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "infra.cli", "dashboards", "snapshot", "--db", filled, *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    runner = open_runner(filled)
    payer = runner.views.query(
        f"SELECT payer_id FROM {runner.views.t['status_summary']} ORDER BY 1 LIMIT 1")[0]["payer_id"]
    done = rcm("--out", str(tmp_path / "pack"), "--from", "2026-10-01", "--to", "2026-10-31", "--payer", payer)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (tmp_path / "pack" / "rcm-overview.html").read_text()
    assert f"2026-10-01 to 2026-10-31 (UTC) · payer: {payer};" in page
    whole = list(snapshot(Settings.load(filled), tmp_path / "whole", catch_up=lambda: None))
    month = list(snapshot(Settings.load(filled), tmp_path / "month", catch_up=lambda: None,
                          start=datetime(2026, 10, 1, tzinfo=timezone.utc),
                          end=datetime(2026, 10, 31, 23, 59, 59, tzinfo=timezone.utc), chosen={"payer": [payer]}))
    assert [r.rows for r in whole[0][1].results] != [r.rows for r in month[0][1].results]
    for args, reason in ((("--from", "2026-11-01", "--to", "2026-10-01"), "is after --to"),
                         (("--from", "2026-10-01", "--payer", "NO-SUCH-PAYER"), "--payer NO-SUCH-PAYER: not in"),
                         (("--to", "2026-10-01"), "--to needs --from"),
                         (("--from", "2026-02-30"), "is not a date")):
        refused = rcm("--out", str(tmp_path / "bad"), *args)
        assert refused.returncode == 2 and reason in refused.stderr, (args, refused.stderr)


def test_month_end_kpis_are_the_kpis_as_of_each_month_end(filled: str):
    """Month over month (issue 16): `rcm report kpis --month-ends` is one query on PostgreSQL, and the overview's
    month-end panel shows the same figures; each row is the KPIs as of that month-end (the history cut there)."""
    runner = open_runner(filled)
    views = runner.views
    today = datetime.now(timezone.utc).date()
    rows = reports.month_end_kpis(views, today)
    assert [r["month_end"] for r in rows] == reports.month_ends(today) and len(rows) == 12
    assert rows[-1]["month_end"] == today.replace(day=1) - timedelta(days=1)
    panel = table(run(filled, "rcm-overview")["KPIs at each month-end (last 12)"])
    assert [r["month end"] for r in panel] == [end.isoformat() for end in reports.month_ends(today)]
    checked = 0
    for row, shown in zip(rows, panel):
        want = reports.kpis(views, row["month_end"])
        assert {k: v for k, v in row.items() if k != "month_end"} == want, row["month_end"]
        for title, key in (("clean claim rate", "clean_claim_rate"), ("initial denial rate", "initial_denial_rate"),
                           ("first-pass resolution", "first_pass_resolution_rate"),
                           ("net collection rate", "net_collection_rate"), ("days in A/R", "days_in_ar"),
                           ("A/R > 90 days", "ar_over_90_share")):
            assert shown[title] == (None if want[key] is None else pytest.approx(want[key], abs=1e-4)), (title, row)
        assert money(shown["A/R"] or 0) == want["ar_total"]
        checked += want["claims_adjudicated"] or 0
    assert checked > 0, "the demo has adjudicated claims at some month-end"

"""Projection benchmark on PostgreSQL: catch-up vs reading the log, live lag, report latency at scale.

  python bench/projections.py [--claims 1000000] [--sample-events 300000] [--fresh] [--json]

In one run: (1) the notification log read in full, raw rows and decoded events, next to the projection
catching up over the same first --sample-events notifications; (2) live lag: single commands appended
while a runner follows, time until each is visible in claim_status, p50/p99; (3) latency of each report
at --claims claims (median of 5), next to computing the same from the raw events (read + fold); (4) every
report as of three past dates (asof_report_ms, the slowest); (5) every dashboard panel's query as Grafana sends it
(panel_ms, the slowest; EXPLAIN ANALYZE of each in the JSON, of the three slowest in the table). The simulated ledger (deterministic) is built once per machine in schema bench_projections_N and reused;
--fresh builds it and its views again.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from domain.codes import is_billable_icd10  # noqa: E402
from infra.store.chain import ChainStore  # noqa: E402
from infra.bootstrap import appends_wake, open_ledger, open_runner  # noqa: E402
from infra.gc_tuning import tune_for_bulk_work  # noqa: E402
from infra.ingest import ingest  # noqa: E402
from infra.simulator import demo_command_chunks, office_visit  # noqa: E402
from projections import reports  # noqa: E402
from projections.facts import Effects, fold, is_ignored, new_facts  # noqa: E402

UNTIL = date(2026, 11, 27)


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def postgres_url() -> str:
    done = subprocess.run([str(ROOT / "infra" / "postgres.sh"), "start"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def build(url: str, claims: int) -> None:
    made = 0
    for chunk in demo_command_chunks(2, claims, UNTIL, 25_000):
        ingest(url, chunk, source="bench")
        made += 25_000
        say(f"ingested {min(made, claims):,} of {claims:,} claims")


def read_all(runner: Any, limit: int, decode: bool) -> tuple[int, float]:
    count, start, began = 0, 1, time.perf_counter()
    while count < limit and (page := runner.recorder.select_notifications(start=start, limit=min(5000, limit - count))):
        if decode:
            [runner.mapper.to_domain_event(n) for n in page]
        count += len(page)
        start = page[-1].id + 1
    return count, time.perf_counter() - began


def live_lag(url: str, samples: int = 200) -> list[float]:
    """As `rcm projections run --follow` follows on PostgreSQL: woken by the append's NOTIFY (polling every 2 s
    only as a fallback)."""
    follower = open_runner(url)
    follower.catch_up()
    stop = threading.Event()
    thread = threading.Thread(target=follower.follow, args=(stop, 2.0), kwargs={"wait": appends_wake(follower, url)},
                              daemon=True)
    thread.start()
    writer, probe = open_ledger(url, source="bench"), open_runner(url)
    lags = []
    try:
        for i in range(samples):
            number = f"LAG-{datetime.now():%H%M%S}-{i}"
            started = time.perf_counter()
            writer.execute([office_visit(number)])
            claim_id = str(writer.find(number).id)
            while not probe.views.query(f"SELECT 1 AS x FROM {probe.views.t['claim_status']} WHERE claim_id = ?",
                                        [claim_id]):
                time.sleep(0.0005)
            lags.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    return lags


def timed(fn: Any, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 1)


def from_raw_events(runner: Any) -> float:
    """The claim-status report computed without the read model: read and fold every event, then count."""
    began = time.perf_counter()
    facts: dict[str, dict[str, Any]] = {}
    effects = Effects()
    start = 1
    while page := runner.recorder.select_notifications(start=start, limit=5000):
        for n in page:
            event = runner.mapper.to_domain_event(n)
            if not is_ignored(event):
                key = str(event.originator_id)
                fold(facts.setdefault(key, new_facts(key)), event, n.id, effects)
        effects.ar.clear()
        effects.denials.clear()
        start = page[-1].id + 1
    by_status: dict[str, int] = {}
    for f in facts.values():
        by_status[f["status"]] = by_status.get(f["status"], 0) + 1
    return (time.perf_counter() - began) * 1000


AS_OF_DATES = (date(2026, 8, 31), date(2026, 9, 30), date(2026, 10, 15))  # month ends and a mid-month day


def as_of_reports(views: Any, day: date) -> dict[str, float]:
    """Every report as of a past day (the history cut there): what `rcm report ... --as-of` runs."""
    return {
        "status": timed(lambda: reports.status(views, as_of=day)),
        "kpis": timed(lambda: reports.kpis(views, day)),
        "denials": timed(lambda: (reports.denials(views, until=day), reports.denial_reasons(views, until=day))),
        "aging": timed(lambda: reports.aging(views, day)),
    }


def dashboard_panels(url: str) -> tuple[dict[str, float], dict[str, str]]:
    """Each dashboard panel's query as Grafana sends it (its default time range, every variable on All), the median
    of 3 runs, and its plan (EXPLAIN ANALYZE, BUFFERS) from one more."""
    from infra.grafana import dashboards as dash
    from infra.settings import Settings

    settings = Settings.load(url)
    times, plans = {}, {}
    with dash.connect(settings) as connection:
        now = datetime.now(timezone.utc)
        for board in dash.load():
            values, multi = dash.variable_values(connection, board, None)
            start, end = dash.relative(board["time"]["from"], now), dash.relative(board["time"]["to"], now)
            for panel in dash.panels(board):
                for n, target in enumerate(panel.get("targets", [])):
                    sql = dash.expand(target["rawSql"], start, end, values, multi)
                    name = f"{board['uid']}: {panel['title']}" + (f" [{n + 1}]" if n else "")
                    times[name] = timed(lambda: connection.execute(sql).fetchall(), rounds=3)
                    plan = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
                    plans[name] = "\n".join(row[0] for row in plan)
    return times, plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--sample-events", type=int, default=300_000)
    parser.add_argument("--fresh", action="store_true", help="rebuild the bench ledger and views from scratch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    is_billable_icd10("E119")
    tune_for_bulk_work()
    import psycopg

    schema = f"bench_projections_{args.claims}"
    url = f"{postgres_url()}?schema={schema}"
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        built = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.bench_built",)).fetchone()[0]
        if args.fresh or not built:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    ledger = open_ledger(url, source="bench")
    if args.fresh or not built:
        say(f"building {args.claims:,} claims on PostgreSQL (once per machine)")
        build(url, args.claims)
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {schema}.bench_built (at timestamptz DEFAULT now())")
    else:  # a ledger this bench built before the hash chain: chained once, as `rcm audit upgrade` does
        chained = ChainStore(ledger.recorder).upgrade()
        if chained:
            say(f"chained {chained:,} events written before the hash chain")
    events = ledger.recorder.max_notification_id()
    sample = min(args.sample_events, events)

    say(f"reading the log ({sample:,} of {events:,} notifications)")
    reader = open_runner(url, suffix="_sample")
    reader.views.drop()
    reader.views.create()
    rows, raw_s = read_all(reader, sample, decode=False)
    _, decoded_s = read_all(reader, sample, decode=True)
    began = time.perf_counter()
    reader.catch_up(until=sample)
    catchup_s = time.perf_counter() - began
    reader.views.drop()

    say("projecting everything")
    runner = open_runner(url)
    if runner.views.incomplete:  # views left by an earlier release of this bench: build them again, whole
        say(f"the views predate {', '.join(runner.views.incomplete)}: projecting from the start")
        runner.views.drop()
        runner.views.create()
    runner.catch_up(lambda n: None)
    say("live lag")
    lags = live_lag(url)
    say("report latency")
    views, past = runner.views, UNTIL - timedelta(days=45)
    report_ms = {
        "status": timed(lambda: reports.status(views)),
        "aging_today": timed(lambda: reports.aging(views, datetime.now(timezone.utc).date())),
        "aging_as_of": timed(lambda: reports.aging(views, past)),
        "denials": timed(lambda: reports.denials(views)),
        "kpis": timed(lambda: reports.kpis(views)),
    }
    say("reports as of past dates")
    asof_report_ms = {f"{name}@{day}": ms for day in AS_OF_DATES for name, ms in as_of_reports(views, day).items()}
    say("dashboard panels")
    panel_ms, plans = dashboard_panels(url)
    say("the same from the raw events")
    raw_ms = round(from_raw_events(runner), 1)
    result = {
        "claims": args.claims, "events": events, "sample_events": rows,
        "read_all_events_per_s": round(rows / raw_s), "read_all_decoded_events_per_s": round(rows / decoded_s),
        "catchup_events_per_s": round(rows / catchup_s),
        "catchup_vs_read_all": round(raw_s / catchup_s, 3),
        "catchup_vs_read_all_decoded": round(decoded_s / catchup_s, 3),
        "live_lag_p50_ms": round(statistics.median(lags), 1),
        "live_lag_p99_ms": round(sorted(lags)[int(len(lags) * 0.99) - 1], 1),
        "report_ms": report_ms, "raw_events_report_ms": raw_ms,
        "raw_vs_report": {name: round(raw_ms / ms, 1) for name, ms in report_ms.items()},
        "asof_report_ms": max(asof_report_ms.values()), "asof_report_ms_each": asof_report_ms,
        "panel_ms": max(panel_ms.values()), "panel_ms_each": panel_ms,
        "panel_explain": plans,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Projections on PostgreSQL ({args.claims:,} claims, {events:,} events)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if key == "panel_explain":
            continue
        if isinstance(value, dict):
            for name, v in value.items():
                table.add_row(f"{key}.{name}", str(v))
        else:
            table.add_row(key, str(value))
    Console().print(table)
    slowest = sorted(panel_ms, key=panel_ms.get, reverse=True)[:3]
    for name in slowest:
        Console().print(f"\n[bold]{name}[/bold] ({panel_ms[name]} ms)\n{plans[name]}", highlight=False)


if __name__ == "__main__":
    main()

"""Ingest benchmark: the demo's command stream into the ledger, next to the physical limit, on SQLite and PostgreSQL.

  python bench/ingest.py [--claims N] [--json] [--backends sqlite,postgresql]

For each back end, in one run: bulk ingest (events/s, batches of commands, one transaction each); the same
ingest with recorders that leave the hash chain out (this file's subclasses, chosen through eventsourcing's
APPLICATION_RECORDER_TOPIC for those runs only), alternated with chained runs, three of each: the best of each
gives the chain's cost (ingest_events_per_s stays the first chained run, the one compared with raw); the same
rows written raw with the database's fastest bulk path into an equivalent table (executemany on SQLite, COPY on
PostgreSQL: the physical limit); the naive path (one command per transaction), whose per-command
latencies give p50/p99; and the replay of one 20-event claim from the store.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from domain.codes import is_billable_icd10  # noqa: E402
from domain.commands import COMMAND  # noqa: E402
from infra.bootstrap import open_ledger  # noqa: E402
from infra.gc_tuning import tune_for_bulk_work  # noqa: E402
from infra.ingest import ingest as bulk_ingest, workers_default  # noqa: E402
from infra.simulator import demo_commands  # noqa: E402
from infra.store.recorders import BatchedSQLiteApplicationRecorder, CopyPostgresApplicationRecorder  # noqa: E402

BATCH = 2000
CHAIN_ROUNDS = 3  # ingest runs with and without the hash chain, for its cost


def stored(ledger: Any) -> list[tuple[uuid.UUID, int, str, bytes]]:
    return [(n.originator_id, n.originator_version, n.topic, bytes(n.state))
            for n in ledger.recorder.select_notifications(start=None, limit=10**9)]


def ingest(url: str, commands: list[Any], workers: int) -> tuple[float, int, Any]:
    """What `rcm demo` and `rcm apply` do with a command stream (batches of 2,000, one per transaction)."""
    started = time.perf_counter()
    tally = bulk_ingest(url, commands, source="bench", workers=workers)
    seconds = time.perf_counter() - started
    assert not tally.rejected
    ledger = open_ledger(url, source="bench")
    return seconds, ledger.recorder.max_notification_id() or 0, ledger


class Unchained:
    """The production recorders without their chain rows: for measuring what the chain costs, never for a ledger."""
    def prepare_chain(self, *_: Any) -> list[bytes]:
        return []

    def append_chain(self, *_: Any) -> dict[Any, Any]:
        return {}


class UnchainedSQLiteRecorder(Unchained, BatchedSQLiteApplicationRecorder):
    pass


class UnchainedPostgresRecorder(Unchained, CopyPostgresApplicationRecorder):
    pass


def unchained_ingest(backend: str, url: str, commands: list[Any], workers: int) -> float:
    """Events/s of the same ingest without the chain (the workers inherit the recorder topic from the environment)."""
    recorder = UnchainedSQLiteRecorder if backend == "sqlite" else UnchainedPostgresRecorder
    os.environ["APPLICATION_RECORDER_TOPIC"] = f"bench.ingest:{recorder.__name__}"
    try:
        seconds, events, _ = ingest(url, commands, workers)
    finally:
        del os.environ["APPLICATION_RECORDER_TOPIC"]
    return events / seconds


def raw_sqlite(path: Path, rows: list[tuple]) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
                 "PRIMARY KEY (originator_id, originator_version))")
    params = [(o.hex, v, t, s) for o, v, t, s in rows]
    started = time.perf_counter()
    for i in range(0, len(params), BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_events VALUES (?,?,?,?)", params[i:i + BATCH])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def raw_postgres(url: str, schema: str, rows: list[tuple]) -> float:
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.raw_events (originator_id uuid NOT NULL, originator_version integer "
                     "NOT NULL, topic text, state bytea, notification_id bigserial, "
                     "PRIMARY KEY (originator_id, originator_version))")
        conn.execute(f"CREATE UNIQUE INDEX ON {schema}.raw_events (notification_id)")
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor().copy(
                    f"COPY {schema}.raw_events (originator_id, originator_version, topic, state) FROM STDIN") as copy:
                for row in rows[i:i + BATCH]:
                    copy.write_row(row)
        return time.perf_counter() - started


def naive(url: str, commands: list[Any]) -> tuple[float, int, list[float]]:
    ledger = open_ledger(url, source="bench")
    latencies = []
    started = time.perf_counter()
    for command in commands:
        t = time.perf_counter()
        ledger.execute([command])
        latencies.append((time.perf_counter() - t) * 1000)
    return time.perf_counter() - started, ledger.recorder.max_notification_id() or 0, latencies


def twenty_event_claim(url: str) -> tuple[Any, uuid.UUID]:
    t0 = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    base = {"claim_number": "REPLAY20", "billing_npi": "1234567893"}

    def c(kind: str, day: int, **fields: Any) -> Any:
        return COMMAND.validate_python({"type": kind, **base, "effective_at": (t0 + timedelta(days=day)).isoformat(),
                                        **fields})
    steps = [c("code_claim", 0, payer_id="MCR", payer_class="medicare", patient_key="pk", place_of_service="11",
               diagnoses=["E11.9"], lines=[{"procedure": "99215", "charge": "5000.00", "service_date": "2026-01-05"}]),
             c("scrub_claim", 0), c("submit_claim", 1), c("accept_claim", 2),
             c("record_denial", 20, payer_claim_control_number="ICN1", charge="5000.00", paid="0.00",
               adjustments=[{"group": "CO", "carc": "50", "amount": "5000.00"}])]
    for level in range(1, 6):
        steps += [c("appeal_denial", 20 + level * 10, level=level, reason="necessary"),
                  c("decide_appeal", 25 + level * 10, overturned=level == 5)]
    steps += [c("record_payment", 90, payer_claim_control_number="ICN2", charge="5000.00", paid="3000.00",
                patient_responsibility="500.00", adjustments=[{"group": "CO", "carc": "45", "amount": "1500.00"},
                                                              {"group": "PR", "carc": "2", "amount": "500.00"}]),
              c("bill_patient", 95), c("record_patient_payment", 100, amount="100.00"), c("bill_patient", 125),
              c("record_patient_payment", 130, amount="100.00")]
    ledger = open_ledger(url, source="bench")
    outcomes = ledger.execute(steps)
    assert all(o.result == "applied" for o in outcomes), [str(o.error) for o in outcomes if o.error]
    claim = ledger.find("REPLAY20")
    assert claim.version == 20, claim.version
    return open_ledger(url, source="bench"), claim.id


def replay_ms(url: str, rounds: int = 300) -> float:
    ledger, claim_id = twenty_event_claim(url)
    ledger.repository.get(claim_id)
    started = time.perf_counter()
    for _ in range(rounds):
        ledger.repository.get(claim_id)
    return (time.perf_counter() - started) * 1000 / rounds


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(backend: str, claims: int, naive_commands: int, workers: int) -> dict[str, Any]:
    commands = demo_commands(1, claims, date(2026, 11, 27))
    tmp = Path(tempfile.mkdtemp(prefix="rcm-bench-"))
    if backend == "sqlite":
        url = lambda name: f"sqlite:///{tmp / name}.db"  # noqa: E731
    else:
        pg = postgres_url()
        run_id = uuid.uuid4().hex[:8]
        url = lambda name: f"{pg}?schema=bench_{name}_{run_id}"  # noqa: E731
    unchained = [unchained_ingest(backend, url("unchained0"), commands, workers)]
    seconds, events, ledger = ingest(url("ingest"), commands, workers)
    chained = [events / seconds]
    for round_ in range(1, CHAIN_ROUNDS):  # alternated, best of each: one run of a second or two is too noisy
        unchained.append(unchained_ingest(backend, url(f"unchained{round_}"), commands, workers))
        more_seconds, more_events, _ = ingest(url(f"chained{round_}"), commands, workers)
        chained.append(more_events / more_seconds)
    rows = stored(ledger)
    raw_seconds = (raw_sqlite(tmp / "raw.db", rows) if backend == "sqlite"
                   else raw_postgres(postgres_url(), f"bench_raw_{run_id}", rows))
    naive_seconds, naive_events, latencies = naive(url("naive"), commands[:naive_commands])
    result = {
        "commands": len(commands), "events": events, "ingest_workers": workers,
        "ingest_events_per_s": round(events / seconds),
        "chain_best_events_per_s": round(max(chained)),
        "unchained_best_events_per_s": round(max(unchained)),
        "chain_cost": round(1 - max(chained) / max(unchained), 3),
        "raw_rows_per_s": round(len(rows) / raw_seconds),
        "naive_events_per_s": round(naive_events / naive_seconds),
        "command_p50_ms": round(percentile(latencies, 50), 3),
        "command_p99_ms": round(percentile(latencies, 99), 3),
        "replay_ms": round(replay_ms(url("replay")), 3),
    }
    result["ingest_vs_raw"] = round(result["ingest_events_per_s"] / result["raw_rows_per_s"], 3)
    result["ingest_vs_naive"] = round(result["ingest_events_per_s"] / result["naive_events_per_s"], 2)
    if backend == "postgresql":
        drop_bench_schemas(postgres_url(), run_id)
    return result


def postgres_url() -> str:
    done = subprocess.run([str(ROOT / "infra" / "postgres.sh"), "start"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def drop_bench_schemas(url: str, run_id: str) -> None:
    """This run's schemas only (bench/projections.py keeps its million-claim ledger in another)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                    (f"bench_%_{run_id}",)).fetchall():
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--naive-commands", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=workers_default(),
                        help="ingest processes (default: one per core, at most 4, as the CLI)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    is_billable_icd10("E119")  # load the code set outside the timings
    tune_for_bulk_work()  # as `rcm demo` and `rcm apply` do
    results = {}
    for backend in args.backends.split(","):
        print(f"measuring {backend} ...", file=sys.stderr)
        results[backend] = measure(backend, args.claims, args.naive_commands, args.workers)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Ingest of the demo's command stream ({args.claims} claims)")
    table.add_column("figure")
    for backend in results:
        table.add_column(backend, justify="right")
    for key in next(iter(results.values())):
        table.add_row(key, *(str(r[key]) for r in results.values()))
    Console().print(table)


if __name__ == "__main__":
    main()

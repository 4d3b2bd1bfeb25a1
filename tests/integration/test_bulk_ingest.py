"""Bulk ingest over worker processes gives exactly what one process gives, on both back ends."""
from __future__ import annotations

from datetime import date

from infra.bootstrap import open_ledger
from infra.ingest import ingest
from infra.present import claim_state
from infra.simulator import demo_commands


def state_of_every_claim(ledger):
    return {state["claim_number"]: {k: v for k, v in state.items() if k not in ("last_activity_at",)}
            for state in map(claim_state, ledger.claims())}


def test_two_workers_record_the_same_claims_as_one(database_url, tmp_path):
    commands = demo_commands(9, 400, date(2026, 11, 27))
    parallel = ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    assert (parallel.applied, parallel.duplicate, parallel.rejected) == (len(commands), 0, [])
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    ingest(single_url, commands, source="test", workers=1)
    assert state_of_every_claim(open_ledger(database_url)) == state_of_every_claim(open_ledger(single_url))
    ledger = open_ledger(database_url)  # kept: an Application closes its store when it is collected
    rows = ledger.recorder.select_notifications(start=None, limit=10**9)
    assert [n.id for n in rows] == list(range(rows[0].id, rows[0].id + len(rows)))  # gap-free


def test_rerunning_a_parallel_ingest_appends_nothing(database_url):
    commands = demo_commands(9, 300, date(2026, 11, 27))
    ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    again = ingest(database_url, commands, source="test", workers=2, parallel_from=0)
    assert (again.applied, again.duplicate, again.events, again.rejected) == (0, len(commands), 0, [])

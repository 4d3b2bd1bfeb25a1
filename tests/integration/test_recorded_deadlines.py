"""Claim events stored before Denied and AppealDecided recorded the appeal deadline (class version 1), loaded by
this version on SQLite and PostgreSQL: upcast, they replay, publish and fold to the deadlines they had."""
from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from consumers import worklist
from domain import claim as claim_module
from domain.contract import ClaimEventMessage, encoded, message_for
from domain.ledger import Ledger
from domain.lifecycle import AppealLevel
from infra.bootstrap import open_ledger, open_runner
from infra.cli.projections_commands import rebuild
from infra.kafka.message_encoder import MessageEncoder
from infra.store.transcoding import PlainEvents
from infra.settings import Settings
from infra.verify import differences
from projections.facts import Effects, fold, is_ignored, new_facts
from projections.runner import IncompleteViews
from tests.conftest import at, cmd, denial, lifecycle_to_submitted
from tests.unit.helpers import run

STORED = json.loads((Path(__file__).parent / "events_before_recorded_deadlines.json").read_text())


@pytest.fixture
def old_ledger(database_url: str) -> Ledger:
    ledger = open_ledger(database_url, source="test")
    ledger.recorder.insert_events([
        StoredEvent(originator_id=UUID(row["originator_id"]), originator_version=row["originator_version"],
                    topic=row["topic"], state=row["state"].encode()) for row in STORED["stored_events"]])
    return ledger


def day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def deadlines(ledger: Ledger, claim: Any) -> list[list[Any]]:
    return [[type(event).__name__, state.appeal_deadline and state.appeal_deadline.isoformat()]
            for event, state in ledger.replay(claim) if type(event).__name__ in ("Denied", "AppealDecided")]


def test_old_events_replay_to_the_deadlines_they_had(old_ledger, monkeypatch):
    monkeypatch.setitem(claim_module.APPEAL_LEVELS, "commercial", (AppealLevel(1, "internal appeal", 30, 0),))
    monkeypatch.setitem(claim_module.APPEAL_LEVELS, "medicare", ())
    for number, was in STORED["claims"].items():
        claim = old_ledger.repository.get(UUID(was["claim_id"]))
        assert (claim.claim_number, claim.status, claim.appeal_level) == (number, was["status"], was["appeal_level"])
        assert deadlines(old_ledger, claim) == was["deadlines"], number
        assert claim.appeal_deadline == day(was["appeal_deadline"])


def test_an_old_claim_goes_on_under_the_deadline_it_had(old_ledger):
    # MCR-UPHELD: QIC reconsideration due 2026-10-08 (180 days after the upheld redetermination)
    [late] = run(old_ledger, cmd("appeal_denial", "MCR-UPHELD", level=2, reason="x", effective_at=at(221)))
    assert late.result == "rejected" and "by 2026-10-08" in str(late.error)
    [in_time] = run(old_ledger, cmd("appeal_denial", "MCR-UPHELD", level=2, reason="x", effective_at=at(220)))
    assert in_time.result == "applied"


def test_old_events_publish_and_fold_plainly_as_the_upcast_events_do(old_ledger):
    notifications = old_ledger.recorder.select_notifications(start=1, limit=10**6)
    encoder = MessageEncoder(old_ledger.mapper, lambda claim: old_ledger.repository.get(claim).claim_number)
    plain = PlainEvents(old_ledger.mapper)
    rows: dict[str, dict[str, Any]] = {}
    plain_facts: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    for n in notifications:
        event = old_ledger.mapper.to_domain_event(n)
        if not type(event).__qualname__.startswith("Claim."):
            continue
        number = old_ledger.repository.get(n.originator_id).claim_number
        fast = encoder(n)
        assert fast == encoded(message_for(event, n.id, number))
        message = ClaimEventMessage.model_validate_json(fast.value)
        worklist.apply(rows.setdefault(number, worklist.new_row(str(n.originator_id))), message)
        for into, decoded in ((plain_facts, plain(n)), (facts, event)):
            key = str(n.originator_id)
            if not is_ignored(decoded):
                fold(into.setdefault(key, new_facts(key)), decoded, n.id, Effects())
    assert plain_facts == facts
    for number, was in STORED["claims"].items():
        assert rows[number]["deadline"] == day(was["appeal_deadline"]), number


def view_deadlines(runner: Any) -> dict[str, str | None]:
    rows = runner.views.query(f"SELECT claim_number, appeal_deadline FROM {runner.views.t['claim_status']}")
    return {r["claim_number"]: r["appeal_deadline"] and str(r["appeal_deadline"]) for r in rows}


def test_the_views_show_the_deadlines_old_and_new_events_recorded(old_ledger, database_url):
    run(old_ledger, *lifecycle_to_submitted("NEW"), denial("NEW"))
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner) == []
    assert view_deadlines(runner) == {**{n: was["appeal_deadline"] for n, was in STORED["claims"].items()},
                                      "NEW": "2026-09-12"}


def test_views_of_an_earlier_release_ask_for_a_rebuild_to_fill_the_deadline(old_ledger, database_url):
    runner = open_runner(database_url)
    runner.catch_up()
    with runner.views.transaction() as c:
        c.execute(f"ALTER TABLE {runner.views.t['claim_status']} DROP COLUMN appeal_deadline")
    with pytest.raises(IncompleteViews, match="claim_status.*rebuild"):
        open_runner(database_url).catch_up()
    rebuild(argparse.Namespace(db=database_url, settings=Settings.load(database_url), name="all"))
    rebuilt = open_runner(database_url)
    assert differences(rebuilt) == []
    assert view_deadlines(rebuilt) == {n: was["appeal_deadline"] for n, was in STORED["claims"].items()}

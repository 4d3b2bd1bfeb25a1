"""Appeal deadlines are recorded with the decision (denial or upheld appeal): replay and the work queue copy them,
so a change to the appeal levels applies to later decisions only (no I/O: memory store)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from consumers import worklist
from domain import claim as claim_module
from domain.lifecycle import AppealLevel
from tests.conftest import at, cmd, denial, lifecycle_to_submitted
from tests.unit.helpers import memory_ledger, run
from tests.unit.test_consumers import CODED, DENIED, fold, message

SHORTER = (AppealLevel(1, "internal appeal", 30, Decimal("0")), AppealLevel(2, "external review", 10, Decimal("0")))


def applied(ledger, *commands):
    assert [o.result for o in run(ledger, *commands)] == ["applied"] * len(commands)


def test_a_recorded_deadline_stays_when_the_appeal_levels_change(monkeypatch):
    ledger = memory_ledger()
    applied(ledger, *lifecycle_to_submitted("C1"), denial("C1"), *lifecycle_to_submitted("C2"), denial("C2"),
            cmd("appeal_denial", "C2", level=1, reason="r", effective_at=at(20)),
            cmd("decide_appeal", "C2", overturned=False, effective_at=at(50)))
    denied, upheld = ledger.find("C1"), ledger.find("C2")
    assert (denied.appeal_deadline, upheld.appeal_deadline) == (date(2026, 9, 12), date(2026, 8, 19))
    monkeypatch.setitem(claim_module.APPEAL_LEVELS, "commercial", SHORTER)
    assert ledger.repository.get(denied.id).appeal_deadline == date(2026, 9, 12)
    assert ledger.repository.get(upheld.id).appeal_deadline == date(2026, 8, 19)
    applied(ledger, *lifecycle_to_submitted("C3"), denial("C3"))
    assert ledger.find("C3").appeal_deadline == date(2026, 4, 15)  # a later denial: 30 days under the new levels


def test_the_work_queue_copies_the_recorded_deadline():
    recorded = message(2, "Denied", date(2026, 2, 1), **DENIED.payload, appeal_deadline="2026-12-31")
    assert fold([CODED, recorded])["deadline"] == date(2026, 12, 31)
    appealed = message(3, "Appealed", date(2026, 2, 10), level=1, level_name="redetermination", reason="x")
    last = message(4, "AppealDecided", date(2026, 3, 1), level=1, overturned=False, reason="upheld",
                   appeal_deadline=None)
    assert fold([CODED, recorded, appealed, last])["deadline"] is None

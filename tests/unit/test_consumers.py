"""The consumers' pure logic: the denial work queue fold and the journal's balanced lines (no I/O)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timezone
from uuid import uuid4

from consumers import journal, worklist
from domain.contract import ClaimEventMessage

CLAIM = uuid4()


def message(seq: int, type_: str, day: date, **payload) -> ClaimEventMessage:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
    return ClaimEventMessage(event_id=uuid4(), claim_id=CLAIM, claim_number="C1", sequence=seq, position=seq,
                             type=type_, occurred_at=at, recorded_at=at, actor="t", source="t",
                             correlation_id=uuid4(), causation_id=uuid4(), payload=payload)


def remit(paid: str, pr: str, adjustments: list[dict]) -> dict:
    return {"payer_claim_control_number": "ICN", "paid": paid, "patient_responsibility": pr,
            "adjustments": adjustments, "charge": "200.00"}


def fold(messages: list[ClaimEventMessage]) -> dict:
    row = worklist.new_row(str(CLAIM))
    for m in messages:
        worklist.apply(row, m)
    return row


CODED = message(1, "Coded", date(2026, 1, 2), payer_id="MCR", payer_class="medicare")
DENIED = message(2, "Denied", date(2026, 2, 1), remittance=remit("0.00", "0.00", [
    {"group": "CO", "carc": "197", "amount": "200.00", "line": None}]), denied_amount="200.00", category="authorization")


def test_denial_opens_an_item_with_the_payer_class_deadline():
    row = fold([CODED, DENIED])
    assert (row["state"], row["category"], row["carcs"], row["at_stake_cents"]) == ("open", "authorization", "CO-197", 20000)
    assert row["deadline"] == date(2026, 6, 1)  # Medicare redetermination: 120 days after the denial
    assert row["priority"] == "low"


def test_appeal_then_upheld_moves_the_deadline_to_the_next_level():
    appealed = message(3, "Appealed", date(2026, 2, 10), level=1, level_name="redetermination", reason="x")
    upheld = message(4, "AppealDecided", date(2026, 3, 1), level=1, overturned=False, reason="upheld")
    row = fold([CODED, DENIED, appealed])
    assert (row["state"], row["deadline"], row["appeal_level"]) == ("appealed", None, 1)
    row = fold([CODED, DENIED, appealed, upheld])
    assert (row["state"], row["deadline"]) == ("open", date(2026, 8, 28))  # QIC reconsideration: 180 days


def test_paid_corrected_or_written_off_closes_the_item():
    for closing, reason in (("Paid", "paid"), ("Recoded", "corrected"), ("WrittenOff", "written off")):
        row = fold([CODED, DENIED, message(3, closing, date(2026, 3, 5))])
        assert (row["state"], row["closed_reason"], row["closed_on"]) == ("closed", reason, date(2026, 3, 5))


def test_a_redelivered_message_is_not_applied_twice():
    row = fold([CODED, DENIED, message(3, "Paid", date(2026, 3, 5)), DENIED])
    assert row["state"] == "closed"


def test_priority_by_deadline_and_dollars():
    assert worklist.priority(5_000, date(2026, 1, 20), date(2026, 1, 1)) == "high"
    assert worklist.priority(150_000, date(2026, 12, 1), date(2026, 1, 1)) == "high"
    assert worklist.priority(30_000, date(2026, 12, 1), date(2026, 1, 1)) == "medium"
    assert worklist.priority(5_000, date(2026, 12, 1), date(2026, 1, 1)) == "low"


def balanced(lines) -> bool:
    sums = defaultdict(lambda: [0, 0])
    for day, payer, _, debit, credit in lines:
        sums[(day, payer)][0] += debit
        sums[(day, payer)][1] += credit
    return all(d == c for d, c in sums.values())


def test_journal_lines_balance_and_reversals_swap_sides():
    paid = message(3, "Paid", date(2026, 2, 1), remittance=remit("120.00", "20.00", []), contractual="60.00")
    lines = journal.lines(paid, "MCR")
    assert balanced(lines)
    assert (date(2026, 2, 1), "MCR", journal.CASH, 12000, 0) in lines
    assert (date(2026, 2, 1), "MCR", journal.CONTRACTUAL, 6000, 0) in lines
    assert (date(2026, 2, 1), "MCR", journal.AR_PATIENT, 2000, 0) in lines
    reversed_ = journal.lines(message(4, "PaymentReversed", date(2026, 2, 9), payer_claim_control_number="ICN",
                                      paid="120.00", contractual="60.00", patient_responsibility="20.00", reason="r"), "MCR")
    assert balanced(reversed_)
    assert (date(2026, 2, 9), "MCR", journal.CASH, 0, 12000) in reversed_
    for m in (message(5, "PatientPaid", date(2026, 3, 1), amount="20.00", method="card", reference=""),
              message(6, "WrittenOff", date(2026, 3, 2), responsibility="patient", amount="5.00", reason="small_balance"),
              message(7, "Adjusted", date(2026, 3, 3), group="OA", carc="23", amount="-3.00", reason="")):
        assert balanced(journal.lines(m, "MCR")) and journal.lines(m, "MCR")
    assert journal.lines(message(8, "Scrubbed", date(2026, 3, 3), passed=True, edits=[]), "MCR") == []

"""The lifecycle's vocabulary and rules live once (domain/lifecycle.py): the statuses the views store, the named
submission and appeal rules in the order they are checked, and the settling both the aggregate and the views use."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.lifecycle import APPEAL_RULES, SUBMIT_RULES, Status, settled, written_off
from domain.money import patient_balance, payer_balance
from domain.values import as_date, cents


def test_statuses_are_the_text_the_views_store():
    assert [str(s) for s in Status] == [
        "coded", "scrub_failed", "ready", "submitted", "accepted", "rejected", "denied", "appealed", "paid",
        "patient_billed", "reversed", "closed", "written_off", "voided"]
    assert Status.ALL == tuple(Status) and Status("paid") is Status.PAID and Status.PAID == "paid"


def test_submission_and_appeal_rules_are_named_and_ordered():
    assert [name for name, _ in SUBMIT_RULES] == [
        "ONE-PENDING-SUBMISSION", "SUBMIT-ALLOWED", "SELF-PAY-NOT-SUBMITTED", "REPLACEMENT-NEEDS-ADJUDICATION",
        "PRIMARY-FIRST", "ONE-ORIGINAL", "SENT-AFTER-SERVICE"]
    assert [name for name, _ in APPEAL_RULES] == [
        "NO-APPEAL-OF-REJECTION", "APPEAL-ALLOWED", "MEDICARE-TIMELY-FILING-FINAL", "LEVELS-IN-ORDER",
        "FILED-BY-DEADLINE", "AMOUNT-IN-CONTROVERSY"]


@pytest.mark.parametrize("status, balance, after", [
    (Status.PAID, 0, Status.CLOSED), (Status.PATIENT_BILLED, Decimal("0.00"), Status.CLOSED),
    (Status.PAID, 500, None), (Status.CLOSED, Decimal("-5.00"), Status.PAID), (Status.CLOSED, 0, None),
    (Status.DENIED, 0, None), ("paid", 0, Status.CLOSED),
])
def test_settled_closes_a_claim_paid_in_full_and_reopens_one_with_a_balance(status, balance, after):
    assert settled(status, balance) == after


def test_a_write_off_to_zero_ends_the_claim():
    assert written_off(Decimal("0.00"), Decimal("10.00")) == Status.CLOSED
    assert written_off(0, 0) == Status.WRITTEN_OFF
    assert written_off(100, 0) is None


def test_balances_are_one_rule_in_decimal_and_in_cents():
    assert payer_balance(Decimal("100.00"), Decimal("60.00"), Decimal("20.00"), Decimal("15.00"),
                         Decimal("5.00")) == Decimal("0.00")
    assert payer_balance(10000, 6000, 2000, 1500, 500) == 0
    assert patient_balance(1500, 1000, 200) == 300


def test_cents_and_dates_from_values_or_their_text():
    assert cents(Decimal("12.34")) == cents("12.34") == 1234 and cents("-0.05") == -5
    assert as_date("2026-03-01") == as_date("2026-03-01T10:00:00+00:00") == as_date(date(2026, 3, 1))

"""The CARC table (docs/domain.md §3): every reason classified once; contractual (fee-schedule) reasons are no denials."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from domain.carc import CARCS, CONTRACTUAL, COST_SHARE, DENIAL, denial_category, is_contractual, is_denial
from domain.lifecycle import Status
from tests.conftest import ROOT, lifecycle_to_submitted, payment
from tests.unit.helpers import memory_ledger, run

CODE_LIST = ROOT.parent / "shared" / "data" / "codes" / "claim_adjustment_reasons.json"


def test_the_table_classifies_every_code_of_the_x12_list():
    listed = set(json.loads(CODE_LIST.read_text()))
    assert listed - CARCS.keys() == set()
    assert {kind for kind, _ in CARCS.values()} == {DENIAL, CONTRACTUAL, COST_SHARE, "other"}


@pytest.mark.parametrize("carc", ["42", "45", "59", "94", "131", "144", "253", "223", "24", "44", "A2", "W1"])
def test_contractual_reasons_are_not_denials(carc):
    assert not is_denial("CO", carc) and is_contractual("CO", carc)
    assert not is_contractual("PR", carc) and not is_contractual("OA", carc)


@pytest.mark.parametrize("carc", ["1", "2", "3", "23", "66"])
def test_cost_share_and_prior_payer_are_neither_denials_nor_contractual(carc):
    assert not is_denial("CO", carc) and not is_contractual("CO", carc)


@pytest.mark.parametrize(("carc", "category"), [("50", "medical necessity"), ("97", "coding/bundling"),
                                                ("16", "missing data"), ("197", "authorization"),
                                                ("29", "timely filing"), ("B13", "duplicate"), ("A1", "other")])
def test_denial_reasons_keep_their_root_cause(carc, category):
    assert is_denial("CO", carc) and not is_contractual("CO", carc) and denial_category(carc) == category
    assert not is_denial("PR", carc)


def test_an_unknown_code_is_a_denial_to_look_at():
    assert is_denial("CO", "999") and denial_category("999") == "other"


def test_a_payment_reduced_by_co_42_has_no_denied_dollars():
    ledger = memory_ledger()
    outcomes = run(ledger, *lifecycle_to_submitted(), payment(
        paid="60.00", contractual="20.00", adjustments=[{"group": "CO", "carc": "42", "amount": "20.00"},
                                                       {"group": "PR", "carc": "2", "amount": "20.00"}]))
    assert [o.result for o in outcomes] == ["applied"] * 5, [str(o.error) for o in outcomes]
    claim = ledger.find("C1")
    assert claim.status == Status.PAID and claim.denied_amount == Decimal("0.00")

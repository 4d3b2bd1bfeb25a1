"""The facts the KPIs stand on (issue 12 items 4, 5): CO-45 that takes the whole charge is a denial, a partial one
is the contract's price; no answer predates its submission, no coding moves the service past it; a claim's total is
the sum of its lines even where no scrub holds the claim back."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain import errors
from domain.money import denial_adjustments, denied_dollars
from domain.values import Adjustment
from tests.conftest import at, cmd, code, lifecycle_to_submitted, payment
from tests.unit.helpers import last_error
from tests.unit.test_lifecycle import applied, ledger  # noqa: F401 (ledger is the fixture)

D = Decimal
TWO_LINES = [{"procedure": "99213", "charge": "80.00", "service_date": "2026-03-01"},
             {"procedure": "36415", "charge": "20.00", "service_date": "2026-03-01"}]


def test_co45_for_a_whole_line_charge_is_denied_dollars_of_that_line(ledger):
    paid_one_line = payment(paid="60.00", patient="0.00", contractual="20.00", line_paid=[
        {"line": 1, "paid": "60.00"}, {"line": 2, "paid": "0.00"}], adjustments=[
        {"group": "CO", "carc": "45", "amount": "20.00", "line": 1},
        {"group": "CO", "carc": "45", "amount": "20.00", "line": 2}])
    claim = applied(ledger, *lifecycle_to_submitted(lines=TWO_LINES), paid_one_line)
    assert (claim.status, claim.denied_amount) == ("closed", D("20.00")), "line 2's fee schedule allows nothing"


def test_co45_for_the_whole_claim_charge_with_nothing_paid_is_a_denial(ledger):
    whole = dict(payer_claim_control_number="ICN1", charge="100.00", paid="0.00", effective_at=at(14),
                 adjustments=[{"group": "CO", "carc": "45", "amount": "100.00"}])
    error = last_error(ledger, *lifecycle_to_submitted(), cmd("record_payment", **whole))
    assert isinstance(error, errors.IllegalTransition) and "is a denial" in str(error)
    claim = applied(ledger, cmd("record_denial", **whole))
    assert (claim.status, claim.denied_amount, claim.denial_category) == ("denied", D("100.00"), "fee schedule")


def test_a_partial_co45_is_no_denial(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), payment(paid="60.00", contractual="20.00", patient="20.00"))
    assert (claim.status, claim.denied_amount) == ("paid", D("0.00"))
    co45 = [Adjustment("CO", "45", D("99.99")), Adjustment("CO", "45", D("80.00"), line=1),
            Adjustment("PR", "45", D("20.00"), line=2), Adjustment("CO", "45", D("-20.00"), line=2)]
    assert denial_adjustments(co45, D("100.00"), {1: D("80.00"), 2: D("20.00")}) == [co45[1]]
    assert denied_dollars([Adjustment("CO", "50", D("5")), Adjustment("CO", "45", D("80.00"), line=1)]) == D("85")


@pytest.mark.parametrize("answer", [
    cmd("accept_claim", effective_at=at(0)),
    cmd("reject_claim", stage="277CA", code="A7", reason="member id", effective_at=at(0)),
    payment(effective_at=at(0)),
    cmd("record_denial", payer_claim_control_number="ICN1", charge="100.00", paid="0.00", effective_at=at(0),
        adjustments=[{"group": "CO", "carc": "50", "amount": "100.00"}]),
])
def test_an_answer_dated_before_the_submission_it_answers_is_refused(ledger, answer):
    """Payment lag (submission -> first 835) can never go negative: nothing answers a claim before it was sent."""
    error = last_error(ledger, code(), cmd("scrub_claim", effective_at=at(0, 1)),
                       cmd("submit_claim", effective_at=at(1)), answer)
    assert isinstance(error, errors.AnswerBeforeSubmission) and error.field == "effective_at"
    assert "2026-03-02" in str(error) and "2026-03-03" in str(error)


def test_an_837_found_later_dated_after_the_remittance_that_opened_its_claim_is_refused(ledger):
    opened = cmd("open_from_remittance", payer_id="BCBS", payer_class="commercial", patient_key="pk",
                 total_charge="100.00", service_date="2026-03-01", origin="835 trace T1", effective_at=at(5))
    claim = applied(ledger, opened, payment(effective_at=at(5)), code(effective_at=at(9)))
    before = len(list(ledger.events.get(claim.id)))
    error = last_error(ledger, cmd("submit_claim", already_sent=True, effective_at=at(9)))
    assert isinstance(error, errors.AnswerBeforeSubmission) and "2026-03-07" in str(error)
    assert len(list(ledger.events.get(claim.id))) == before
    with pytest.raises(errors.AnswerBeforeSubmission):
        claim.check_sent_before_answer(date(2026, 3, 11))


def test_a_recode_moving_the_service_past_the_first_submission_is_refused(ledger):
    """Days to bill (DOS -> first submission) can never go negative: a rejected claim is recoded, but not to a
    service rendered after it was billed."""
    rejected = cmd("reject_claim", stage="277CA", code="A7", reason="dos", effective_at=at(3))
    later = [{"procedure": "99213", "charge": "100.00", "service_date": "2026-03-04"}]
    error = last_error(ledger, *lifecycle_to_submitted()[:3], rejected,
                       cmd("recode_claim", diagnoses=["E11.9"], lines=later, effective_at=at(4)))
    assert isinstance(error, errors.SubmissionBeforeService) and error.field == "lines"
    assert "2026-03-04" in str(error) and "2026-03-03" in str(error)
    same_day = [{**later[0], "service_date": "2026-03-03"}]
    assert applied(ledger, cmd("recode_claim", diagnoses=["E11.9"], lines=same_day, effective_at=at(4)))


def test_an_837_already_sent_whose_total_is_not_its_lines_is_refused_by_claim_total(ledger):
    """An 837 another system sent is recorded even with scrub errors; but a total that is not the sum of its lines
    is no bill the ledger can keep: refused by the CLAIM-TOTAL edit, nothing recorded."""
    error = last_error(ledger, code(total_charge="120.00"), cmd("submit_claim", already_sent=True, effective_at=at(1)))
    assert isinstance(error, errors.ClaimTotalMismatch) and error.field == "total_charge"
    assert "CLAIM-TOTAL" in str(error) and "120.00" in str(error) and "100.00" in str(error)
    assert [type(e).__name__ for e in ledger.events.get(ledger.find("C1").id)] == ["Coded"]


def test_a_coding_attached_to_a_claim_opened_from_an_835_is_refused_when_its_lines_miss_its_total(ledger):
    opened = cmd("open_from_remittance", payer_id="BCBS", payer_class="commercial", patient_key="pk",
                 total_charge="100.00", service_date="2026-03-01", origin="835 trace T1", effective_at=at(5))
    short = [{**TWO_LINES[0]}, {**TWO_LINES[1], "charge": "15.00"}]
    error = last_error(ledger, opened, payment(effective_at=at(5)), code(lines=short, total_charge="100.00"))
    assert isinstance(error, errors.ClaimTotalMismatch) and "CLAIM-TOTAL" in str(error) and "95.00" in str(error)

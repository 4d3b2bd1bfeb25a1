from __future__ import annotations

from decimal import Decimal

import pytest

from domain import errors
from domain.lifecycle import Status
from tests.conftest import at, cmd, code, denial, lifecycle_to_submitted, payment
from tests.unit.helpers import last_error, memory_ledger, run


@pytest.fixture
def ledger():
    return memory_ledger()


def applied(ledger, *commands):
    outcomes = run(ledger, *commands)
    assert [o.result for o in outcomes] == ["applied"] * len(commands), [str(o.error) for o in outcomes]
    return ledger.find("C1")


def test_paid_claim_moves_patient_share_then_closes(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), payment())
    assert claim.status == Status.PAID
    assert (claim.payer_balance, claim.patient_balance) == (Decimal("0.00"), Decimal("20.00"))
    claim = applied(ledger, cmd("bill_patient", effective_at=at(16)),
                    cmd("record_patient_payment", amount="20.00", effective_at=at(30)))
    assert claim.status == Status.CLOSED and claim.balance == 0 and claim.statements == 1


def test_full_payment_without_patient_share_closes_at_once(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), payment(paid="80.00", patient="0.00"))
    assert claim.status == Status.CLOSED


def test_denial_keeps_dollars_open_until_written_off(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), denial())
    assert claim.status == Status.DENIED and claim.payer_balance == Decimal("100.00")
    assert claim.denied_amount == Decimal("100.00") and claim.denial_category == "medical necessity"
    assert claim.appeal_deadline.isoformat() == "2026-09-12"  # commercial: 180 days from the remit
    claim = applied(ledger, cmd("adjust_claim", group="CO", carc="45", amount="40.00", effective_at=at(20)),
                    cmd("write_off", responsibility="payer", amount="60.00", reason="denial", effective_at=at(20)))
    assert claim.status == Status.WRITTEN_OFF and claim.balance == 0


def test_appeal_overturned_then_paid(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), denial(),
                    cmd("appeal_denial", level=1, reason="records attached", effective_at=at(20)),
                    cmd("decide_appeal", overturned=True, effective_at=at(50)),
                    payment(icn="ICN2", effective_at=at(60)))
    assert claim.status == Status.PAID and claim.appeals_overturned == 1


def test_upheld_appeal_can_go_to_the_next_level(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), denial(),
                    cmd("appeal_denial", level=1, reason="r", effective_at=at(20)),
                    cmd("decide_appeal", overturned=False, effective_at=at(50)),
                    cmd("appeal_denial", level=2, reason="external", effective_at=at(60)))
    assert claim.status == Status.APPEALED and claim.appeal_level == 2


def test_rejection_then_fix_and_resubmit_as_original(ledger):
    claim = applied(ledger, code(), cmd("scrub_claim", effective_at=at(0, 1)), cmd("submit_claim", effective_at=at(1)),
                    cmd("reject_claim", stage="277CA", code="A7", reason="invalid member id", effective_at=at(2)),
                    cmd("submit_claim", effective_at=at(3), interchange_control_number="2"))
    assert claim.status == Status.SUBMITTED and claim.rejections == 1 and claim.submissions == 2


def test_corrected_claim_after_denial_is_a_replacement(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), denial(carc="16"),
                    cmd("recode_claim", diagnoses=["E11.65"],
                        lines=[{"procedure": "99213", "charge": "100.00", "service_date": "2026-03-01"}],
                        effective_at=at(20)),
                    cmd("scrub_claim", effective_at=at(20, 1)),
                    cmd("submit_claim", frequency="7", effective_at=at(21)))
    assert claim.frequency == "7" and claim.recodes == 1


def test_self_pay_is_billed_to_the_patient(ledger):
    claim = applied(ledger, code(payer_class="self_pay", payer_id="SELF"), cmd("scrub_claim", effective_at=at(0, 1)),
                    cmd("bill_patient", effective_at=at(1)))
    assert (claim.payer_balance, claim.patient_balance) == (Decimal("0.00"), Decimal("100.00"))


def test_reversal_then_corrected_payment(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), payment(),
                    cmd("reverse_payment", payer_claim_control_number="ICN1", effective_at=at(20)))
    assert claim.status == Status.REVERSED and claim.payer_balance == Decimal("100.00") and claim.payer_paid == 0
    claim = applied(ledger, payment(icn="ICN2", paid="70.00", contractual="20.00", patient="10.00",
                                    effective_at=at(25)))
    assert claim.payer_paid == Decimal("70.00") and claim.patient_balance == Decimal("10.00")


def test_takeback_after_patient_paid_flags_a_credit_balance(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), payment(),
                    cmd("record_patient_payment", amount="20.00", effective_at=at(16)),
                    cmd("reverse_payment", payer_claim_control_number="ICN1", effective_at=at(20)))
    assert claim.patient_balance == Decimal("-20.00") and claim.credit_balance


# ---- refused transitions (docs/domain.md §1) ----

def test_appealing_a_rejection_is_refused(ledger):
    error = last_error(ledger, code(), cmd("scrub_claim", effective_at=at(0, 1)), cmd("submit_claim", effective_at=at(1)),
                       cmd("reject_claim", stage="999", code="IK5", reason="syntax", effective_at=at(2)),
                       cmd("appeal_denial", level=1, reason="x", effective_at=at(3)))
    assert isinstance(error, errors.AppealOfRejection) and "submit as an original" in str(error)


def test_appealing_a_medicare_timely_filing_denial_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(payer_class="medicare", payer_id="MCR"), denial(carc="29"),
                       cmd("appeal_denial", level=1, reason="x", effective_at=at(20)))
    assert isinstance(error, errors.UnappealableDenial) and "CO-29" in str(error)


def test_commercial_timely_filing_denial_may_be_appealed(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), denial(carc="29"),
                    cmd("appeal_denial", level=1, reason="proof of timely filing", effective_at=at(20)))
    assert claim.status == Status.APPEALED


def test_skipping_an_appeal_level_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), denial(),
                       cmd("appeal_denial", level=2, reason="x", effective_at=at(20)))
    assert isinstance(error, errors.AppealLevelSkipped) and "appeal at level 1" in str(error)


def test_appeal_after_the_deadline_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(payer_class="medicare", payer_id="MCR"), denial(),
                       cmd("appeal_denial", level=1, reason="x", effective_at=at(14 + 121)))
    assert isinstance(error, errors.AppealDeadlinePassed)


def test_alj_hearing_needs_the_minimum_in_controversy(ledger):
    steps = [*lifecycle_to_submitted(payer_class="medicare", payer_id="MCR"), denial()]
    for level, day in ((1, 20), (2, 60)):
        steps += [cmd("appeal_denial", level=level, reason="x", effective_at=at(day)),
                  cmd("decide_appeal", overturned=False, effective_at=at(day + 10))]
    error = last_error(ledger, *steps, cmd("appeal_denial", level=3, reason="x", effective_at=at(80)))
    assert isinstance(error, errors.AmountInControversyTooLow) and "190" in str(error)


def test_replacement_before_adjudication_is_refused(ledger):
    error = last_error(ledger, code(), cmd("scrub_claim", effective_at=at(0, 1)),
                       cmd("submit_claim", frequency="7", effective_at=at(1)))
    assert isinstance(error, errors.NotAdjudicated)


def test_void_frequency_before_adjudication_is_refused(ledger):
    error = last_error(ledger, code(), cmd("scrub_claim", effective_at=at(0, 1)),
                       cmd("submit_claim", frequency="8", effective_at=at(1)))
    assert isinstance(error, errors.NotAdjudicated)


def test_secondary_before_primary_adjudication_is_refused(ledger):
    error = last_error(ledger, code(), cmd("scrub_claim", effective_at=at(0, 1)),
                       cmd("submit_claim", payer_sequence="secondary", effective_at=at(1)))
    assert isinstance(error, errors.PrimaryNotAdjudicated)


def test_secondary_after_primary_adjudication_is_allowed(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), payment(),
                    cmd("submit_claim", payer_sequence="secondary", payer_id="MEDIGAP", effective_at=at(16)))
    assert claim.status == Status.SUBMITTED and claim.payer_sequence == "secondary"


def test_moving_contractual_dollars_to_the_patient_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), denial(),
                       cmd("adjust_claim", group="PR", carc="45", amount="10.00", effective_at=at(20)))
    assert isinstance(error, errors.ContractualToPatient)


def test_correcting_a_paid_claim_without_reversal_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(), payment(icn="ICN2", effective_at=at(20)))
    assert isinstance(error, errors.PaymentNotReversed) and "reverse_payment" in str(error)


def test_second_original_while_pending_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), cmd("submit_claim", effective_at=at(3)))
    assert isinstance(error, errors.DuplicateSubmission) and "CARC 18" in str(error)


def test_original_after_adjudication_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), denial(), cmd("submit_claim", effective_at=at(20)))
    assert isinstance(error, errors.DuplicateSubmission) and "frequency 7" in str(error)


def test_illegal_transition_names_what_is_allowed(ledger):
    error = last_error(ledger, code(), cmd("accept_claim", effective_at=at(1)))
    assert isinstance(error, errors.IllegalTransition)
    assert "accept is not allowed in status coded" in str(error) and "scrub" in error.allowed
    assert error.claim == "C1"


def test_unknown_claim_is_refused(ledger):
    error = last_error(ledger, cmd("scrub_claim", claim="NOPE"))
    assert isinstance(error, errors.UnknownClaim)


def test_same_claim_number_with_other_coding_is_a_conflict(ledger):
    error = last_error(ledger, code(), code(charge="999.00"))
    assert isinstance(error, errors.ClaimNumberConflict)


# ---- money rules (docs/domain.md §2) ----

def test_unbalanced_claim_payment_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(paid="61.00"))
    assert isinstance(error, errors.UnbalancedRemittance) and "charge - adjustments = paid" in str(error)


def test_patient_responsibility_must_equal_pr_adjustments(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(paid="60.00", patient="20.00",
                                                                   patient_responsibility="25.00"))
    assert isinstance(error, errors.UnbalancedRemittance) and "CLP05" in str(error)


def test_remit_charge_must_match_the_billed_charge(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(charge="90.00", paid="50.00"))
    assert isinstance(error, errors.UnbalancedRemittance) and "CLP03" in str(error)


def test_line_level_payment_must_balance(ledger):
    remit = payment(adjustments=[{"group": "CO", "carc": "45", "amount": "20.00", "line": 1},
                                 {"group": "PR", "carc": "2", "amount": "20.00", "line": 1}],
                    line_paid=[{"line": 1, "paid": "65.00"}])
    error = last_error(ledger, *lifecycle_to_submitted(), remit)
    assert isinstance(error, errors.UnbalancedRemittance) and "line 1" in str(error)


def test_line_level_payment_that_balances_is_posted(ledger):
    remit = payment(adjustments=[{"group": "CO", "carc": "45", "amount": "20.00", "line": 1},
                                 {"group": "PR", "carc": "2", "amount": "20.00", "line": 1}],
                    line_paid=[{"line": 1, "paid": "60.00"}])
    assert applied(ledger, *lifecycle_to_submitted(), remit).patient_balance == Decimal("20.00")


def test_zero_payment_for_denial_reasons_must_be_recorded_as_a_denial(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(paid="0.00", contractual="100.00", patient="0.00",
                                                                   adjustments=[{"group": "CO", "carc": "50",
                                                                                  "amount": "100.00"}]))
    assert "record_denial" in str(error)


def test_patient_overpayment_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(),
                       cmd("record_patient_payment", amount="25.00", effective_at=at(20)))
    assert isinstance(error, errors.BalanceExceeded)


def test_write_off_beyond_the_balance_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), denial(),
                       cmd("write_off", responsibility="payer", amount="100.01", reason="denial", effective_at=at(20)))
    assert isinstance(error, errors.BalanceExceeded)


def test_voiding_a_claim_with_money_on_the_books_is_refused(ledger):
    error = last_error(ledger, *lifecycle_to_submitted(), payment(),
                       cmd("record_patient_payment", amount="20.00", effective_at=at(16)),
                       cmd("reverse_payment", payer_claim_control_number="ICN1", effective_at=at(20)),
                       cmd("void_claim", reason="entered in error", effective_at=at(21)))
    assert isinstance(error, errors.PaymentNotReversed) and "patient paid 20.00" in str(error)


def test_void_before_submission(ledger):
    claim = applied(ledger, code(), cmd("void_claim", reason="duplicate encounter", effective_at=at(1)))
    assert claim.status == Status.VOIDED and claim.balance == 0


def test_refused_command_changes_nothing(ledger):
    applied(ledger, *lifecycle_to_submitted(), payment())
    before = dict(vars(ledger.find("C1")))
    last_error(ledger, payment(icn="ICN2", effective_at=at(20)))
    assert dict(vars(ledger.find("C1"))) == before


def test_reapplied_command_is_a_duplicate(ledger):
    commands = [*lifecycle_to_submitted(), payment()]
    run(ledger, *commands)
    assert [o.result for o in run(ledger, *commands)] == ["duplicate"] * len(commands)
    assert ledger.find("C1").version == 5


def at_date(days: float):
    from datetime import datetime
    return datetime.fromisoformat(at(days)).date()


def opened(claim: str = "E1", charge: str = "100.00") -> dict:
    return cmd("open_from_remittance", claim, payer_id="BCBS", payer_class="commercial", patient_key="pk-835",
               total_charge=charge, service_date="2026-03-01", origin="835 trace T1", effective_at=at(20))


def test_a_late_837_attaches_its_coding_to_a_claim_opened_from_the_835(ledger):
    run(ledger, opened(), payment("E1", effective_at=at(20)))
    sent = cmd("submit_claim", "E1", already_sent=True, interchange_control_number="000000101", effective_at=at(1))
    outcomes = run(ledger, code("E1", place_of_service="22", effective_at=at(1)), sent)
    assert [o.result for o in outcomes] == ["applied", "applied"]
    claim = ledger.find("E1")
    assert claim.status == Status.PAID, "the 835 answered that submission already: the lifecycle does not move"
    assert claim.diagnoses == ["E119"] and claim.place_of_service == "22" and claim.lines[0].procedure == "99213"
    assert claim.submissions == 1 and claim.first_submitted_at.date() == at_date(1) and claim.version == 4
    attached = list(ledger.events.get(claim.id))[-1]
    assert type(attached).__name__ == "SubmissionAttached" and attached.interchange_control_number == "000000101"
    assert attached.effective_at >= claim.first_adjudicated_at, "effective when learned, after the 835"
    again = run(ledger, code("E1", place_of_service="22", effective_at=at(1)), sent)
    assert [o.result for o in again] == ["duplicate", "duplicate"] and ledger.find("E1").version == 4


def test_a_late_837_with_other_charges_is_a_conflict_not_an_attachment(ledger):
    run(ledger, opened(), payment("E1", effective_at=at(20)))
    error = last_error(ledger, code("E1", charge="120.00", effective_at=at(1)))
    assert isinstance(error, errors.ClaimNumberConflict) and error.field == "total_charge"
    assert "billed 100.00, this coding 120.00" in str(error)
    run(ledger, code("E1", effective_at=at(1)))
    error = last_error(ledger, code("E1", place_of_service="22", effective_at=at(2)))
    assert isinstance(error, errors.ClaimNumberConflict), "a second, different coding is still a conflict"


def test_a_resubmission_after_the_835_is_a_new_submission(ledger):
    run(ledger, opened(), denial("E1", effective_at=at(20)), code("E1", effective_at=at(1)))
    outcomes = run(ledger, cmd("submit_claim", "E1", already_sent=True, frequency="7", effective_at=at(25)))
    assert outcomes[0].result == "applied" and ledger.find("E1").status == Status.SUBMITTED


def test_coding_under_a_tax_id_only_attaches_to_a_claim_an_835_opened_so(ledger):
    error = last_error(ledger, code("T1", billing_npi="TIN-371234567"))
    assert isinstance(error, errors.UnknownClaim) and error.field == "billing_npi"
    run(ledger, {**opened("T1"), "billing_npi": "TIN-371234567"})
    assert run(ledger, code("T1", billing_npi="TIN-371234567"))[0].result == "applied"
    assert ledger.find("T1").diagnoses == ["E119"]


def test_a_negative_adjustment_on_a_coded_claim_is_refused(ledger):
    error = last_error(ledger, code(), cmd("adjust_claim", group="CO", carc="45", amount="-999999999.99"))
    assert isinstance(error, errors.BalanceExceeded) and "undoes" in str(error)
    assert ledger.find("C1").payer_balance == Decimal("100.00")


def test_a_negative_adjustment_undoes_at_most_the_claims_own_earlier_adjustments(ledger):
    claim = applied(ledger, *lifecycle_to_submitted(), denial(),
                    cmd("adjust_claim", group="CO", carc="45", amount="40.00", effective_at=at(20)),
                    cmd("adjust_claim", group="CO", carc="45", amount="-15.00", effective_at=at(21)))
    assert claim.payer_balance == Decimal("75.00")
    error = last_error(ledger, cmd("adjust_claim", group="CO", carc="45", amount="-25.01", effective_at=at(22)))
    assert isinstance(error, errors.BalanceExceeded) and "25.00" in str(error)
    assert applied(ledger, cmd("adjust_claim", group="CO", carc="45", amount="-25.00",
                               effective_at=at(22))).payer_balance == Decimal("100.00")


def test_a_negative_adjustment_cannot_undo_the_payers_contractual_adjustment(ledger):
    """The payer's CO adjustment is undone by reversing its remittance (which removes it whole), not by hand: a
    manual undo followed by the payer's takeback would leave the payer owing more than was billed."""
    error = last_error(ledger, *lifecycle_to_submitted(), payment(),
                       cmd("adjust_claim", group="CO", carc="45", amount="-20.00", effective_at=at(20)))
    assert isinstance(error, errors.BalanceExceeded)


def test_every_money_figure_the_aggregate_takes_is_bounded(ledger):
    from domain.money import check_money

    with pytest.raises(errors.InvalidAmount, match="less than 1000000000"):
        check_money("C1", "amount", Decimal("-1000000000.00"), signed=True)
    lines = [{"procedure": "99213", "charge": "999999999.00", "service_date": "2026-03-01"}] * 2
    error = last_error(ledger, code(lines=lines))
    assert isinstance(error, errors.InvalidAmount) and error.field == "total_charge"


def test_a_submission_dated_before_the_date_of_service_is_refused(ledger):
    """Days to bill (DOS -> submission) can never go negative: the bill cannot predate the service."""
    error = last_error(ledger, code(lines=[{"procedure": "99213", "charge": "100.00", "service_date": "2026-03-10"}],
                                    effective_at=at(9)),
                       cmd("scrub_claim", effective_at=at(9)), cmd("submit_claim", effective_at=at(5)))
    assert isinstance(error, errors.SubmissionBeforeService) and error.field == "effective_at"
    assert "2026-03-07" in str(error) and "2026-03-10" in str(error)


def test_an_837_found_later_dated_before_its_date_of_service_is_refused(ledger):
    """The path of a claim opened from its 835, whose 837 attaches later: the submission it attaches is refused
    when its date precedes the dates of service the 837's own lines give."""
    opened = cmd("open_from_remittance", payer_id="BCBS", payer_class="commercial", patient_key="pk",
                 total_charge="100.00", service_date="2026-03-01", origin="835 trace T1", effective_at=at(20))
    coding = code(lines=[{"procedure": "99213", "charge": "100.00", "service_date": "2026-03-10"}], effective_at=at(2))
    error = last_error(ledger, opened, payment(effective_at=at(20)), coding,
                       cmd("submit_claim", already_sent=True, effective_at=at(2)))
    assert isinstance(error, errors.SubmissionBeforeService)

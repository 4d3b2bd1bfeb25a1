from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain.codes import is_billable_icd10, is_valid_npi, npi_check_digit, procedure_kind
from domain.scrub import RULES, ClaimForScrub, scrub
from domain.values import ServiceLine

CLEAN = ClaimForScrub(
    claim_number="C1", billing_npi="1234567893", rendering_npi="1234567893", payer_class="commercial",
    place_of_service="11", diagnoses=("E119", "I10"),
    lines=(ServiceLine(1, "99213", Decimal("100.00"), pointers=(1, 2), service_date=date(2026, 3, 1)),
           ServiceLine(2, "36415", Decimal("18.00"), service_date=date(2026, 3, 1))),
    total_charge=Decimal("118.00"), scrub_date=date(2026, 3, 3),
)


def rules_hit(claim: ClaimForScrub, severity: str = "error") -> set[str]:
    return {e.rule for e in scrub(claim) if e.severity == severity}


def with_line(**changes) -> ClaimForScrub:
    return replace(CLEAN, lines=(replace(CLEAN.lines[0], **changes), CLEAN.lines[1]))


def test_a_clean_claim_has_no_edits():
    assert scrub(CLEAN) == []


def test_every_rule_is_registered_once():
    ids = [rule_id for rule_id, _ in RULES]
    assert len(ids) == len(set(ids)) == 10


@pytest.mark.parametrize("code,billable", [("E11.9", True), ("e119", True), ("E11", False), ("S52.521A", True),
                                           ("S52.521", False), ("Z00.00", True), ("ZZZ", False)])
def test_icd10_billable_leaf(code, billable):
    assert is_billable_icd10(code) is billable


def test_icd10_rule_flags_non_leaf_icd9_and_malformed_codes():
    edits = scrub(replace(CLEAN, diagnoses=("E11", "250.00", "12X")))
    messages = [e.message for e in edits if e.rule == "ICD10-BILLABLE"]
    assert any("not a billable" in m for m in messages)
    assert any("ICD-9" in m for m in messages)
    assert any("not an ICD-10-CM code" in m for m in messages)


@pytest.mark.parametrize("code,kind", [("99213", "cpt"), ("0001F", "cpt-ii"), ("0042T", "cpt-iii"), ("J3490", "hcpcs"),
                                       ("W1234", None), ("9921", None), ("99213A", None)])
def test_procedure_kinds(code, kind):
    assert procedure_kind(code) == kind


def test_procedure_format_rule():
    assert rules_hit(with_line(procedure="9921")) == {"PROCEDURE-FORMAT"}


def test_modifier_format_rule():
    assert rules_hit(with_line(modifiers=("2",))) == {"MODIFIER-FORMAT"}


def test_place_of_service_rule():
    assert rules_hit(replace(CLEAN, place_of_service="98")) == {"POS-FORMAT"}
    assert rules_hit(replace(CLEAN, place_of_service="02")) == set()


def test_npi_check_digit():
    assert is_valid_npi("1234567893") and not is_valid_npi("1234567890") and not is_valid_npi("3234567893")
    assert npi_check_digit("123456789") == 3
    assert rules_hit(replace(CLEAN, rendering_npi="1234567890")) == {"NPI-CHECK-DIGIT"}


def test_diagnosis_pointer_rule():
    assert rules_hit(with_line(pointers=(3,))) == {"DIAGNOSIS-POINTERS"}
    assert rules_hit(with_line(pointers=())) == {"DIAGNOSIS-POINTERS"}


def test_claim_total_rule():
    assert rules_hit(replace(CLEAN, total_charge=Decimal("117.99"))) == {"CLAIM-TOTAL"}


def test_count_rules():
    assert "COUNTS" in rules_hit(replace(CLEAN, diagnoses=("E119",) * 13))
    assert "COUNTS" in rules_hit(with_line(modifiers=("25", "59", "XE", "LT", "RT")))
    assert "COUNTS" in rules_hit(with_line(pointers=(1, 2, 1, 2, 1)))
    many = tuple(ServiceLine(i, "36415", Decimal("1.00"), service_date=date(2026, 3, 1)) for i in range(1, 52))
    assert "COUNTS" in rules_hit(replace(CLEAN, lines=many, total_charge=Decimal("51.00")))


def test_dos_not_in_the_future_rule():
    assert rules_hit(with_line(service_date=date(2026, 3, 4))) == {"DOS-NOT-FUTURE"}


def test_timely_filing_rule_by_payer_class():
    late = replace(CLEAN, scrub_date=date(2026, 6, 10))  # 101 days after the DOS
    assert rules_hit(late) == {"TIMELY-FILING"}
    assert rules_hit(replace(late, payer_class="medicare")) == set()
    assert rules_hit(replace(CLEAN, scrub_date=date(2026, 5, 15)), "warning") == {"TIMELY-FILING"}
    assert rules_hit(replace(late, timely_filing_days=180)) == set()

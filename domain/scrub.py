"""Scrub edits: small named rules run before submission; a claim with an error-level edit is held."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from domain.codes import (ICD9_SHAPE, is_billable_icd10, is_icd10_shape, is_modifier, is_place_of_service,
                          is_valid_npi, normalize_icd10, procedure_kind)
from domain.deadlines import FILING_WARNING_DAYS, filing_deadline, filing_limit
from domain.money import claim_total_mismatch
from domain.values import ServiceLine

MAX_DIAGNOSES, MAX_MODIFIERS, MAX_POINTERS, MAX_LINES = 12, 4, 4, 50


@dataclass(frozen=True)
class Edit:
    rule: str
    severity: str  # "error" holds the claim; "warning" lets it go
    line: int | None
    message: str

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClaimForScrub:
    claim_number: str
    billing_npi: str
    rendering_npi: str
    payer_class: str
    place_of_service: str
    diagnoses: tuple[str, ...]
    lines: tuple[ServiceLine, ...]
    total_charge: Decimal
    scrub_date: date
    timely_filing_days: int | None = None
    facility_type_code: str = ""  # an institutional claim's: it has no place of service


Rule = Callable[[ClaimForScrub], Iterator[Edit]]
RULES: list[tuple[str, Rule]] = []


def rule(rule_id: str) -> Callable[[Rule], Rule]:
    def register(check: Rule) -> Rule:
        RULES.append((rule_id, check))
        return check
    return register


def scrub(claim: ClaimForScrub) -> list[Edit]:
    return [edit for _, check in RULES for edit in check(claim)]


@rule("ICD10-BILLABLE")
def icd10_billable(claim: ClaimForScrub) -> Iterator[Edit]:
    for position, code in enumerate(claim.diagnoses, start=1):
        normalized = normalize_icd10(code)
        if ICD9_SHAPE.match(normalized) and not is_icd10_shape(normalized):
            yield Edit("ICD10-BILLABLE", "error", None,
                       f"diagnosis {position} {code!r} looks like ICD-9; 5010 claims after 2015-10-01 use ICD-10-CM")
        elif not is_icd10_shape(normalized):
            yield Edit("ICD10-BILLABLE", "error", None,
                       f"diagnosis {position} {code!r} is not an ICD-10-CM code (letter, digit, 1-5 alphanumerics)")
        elif not is_billable_icd10(normalized):
            yield Edit("ICD10-BILLABLE", "error", None,
                       f"diagnosis {position} {code!r} is not a billable ICD-10-CM leaf code: code to the last level")


@rule("PROCEDURE-FORMAT")
def procedure_format(claim: ClaimForScrub) -> Iterator[Edit]:
    for ln in claim.lines:
        if procedure_kind(ln.procedure) is None:
            yield Edit("PROCEDURE-FORMAT", "error", ln.number,
                       f"{ln.procedure!r} is neither CPT (5 digits, or 4 digits + F/T) nor HCPCS (A-V + 4 digits)")


@rule("MODIFIER-FORMAT")
def modifier_format(claim: ClaimForScrub) -> Iterator[Edit]:
    for ln in claim.lines:
        for modifier in ln.modifiers:
            if not is_modifier(modifier):
                yield Edit("MODIFIER-FORMAT", "error", ln.number, f"modifier {modifier!r} is not 2 letters/digits")


@rule("POS-FORMAT")
def place_of_service_format(claim: ClaimForScrub) -> Iterator[Edit]:
    if not claim.facility_type_code and not is_place_of_service(claim.place_of_service):
        yield Edit("POS-FORMAT", "error", None,
                   f"place of service {claim.place_of_service!r} is not a 2-digit CMS place-of-service code")


@rule("NPI-CHECK-DIGIT")
def npi_check_digit(claim: ClaimForScrub) -> Iterator[Edit]:
    for role, npi in (("billing", claim.billing_npi), ("rendering", claim.rendering_npi)):
        if not is_valid_npi(npi):
            yield Edit("NPI-CHECK-DIGIT", "error", None,
                       f"{role} NPI {npi!r} is not 10 digits starting 1/2 with a valid Luhn check digit")


@rule("DIAGNOSIS-POINTERS")
def diagnosis_pointers(claim: ClaimForScrub) -> Iterator[Edit]:
    for ln in claim.lines:
        if not ln.pointers:
            yield Edit("DIAGNOSIS-POINTERS", "error", ln.number, "line points to no diagnosis")
        for pointer in ln.pointers:
            if not 1 <= pointer <= min(len(claim.diagnoses), MAX_DIAGNOSES):
                yield Edit("DIAGNOSIS-POINTERS", "error", ln.number,
                           f"pointer {pointer} names no diagnosis (claim has {len(claim.diagnoses)})")


@rule("CLAIM-TOTAL")
def claim_total(claim: ClaimForScrub) -> Iterator[Edit]:
    if mismatch := claim_total_mismatch(claim.total_charge, claim.lines):
        yield Edit("CLAIM-TOTAL", "error", None, mismatch)


@rule("COUNTS")
def counts(claim: ClaimForScrub) -> Iterator[Edit]:
    if not claim.diagnoses:
        yield Edit("COUNTS", "error", None, "a claim needs at least one diagnosis")
    if len(claim.diagnoses) > MAX_DIAGNOSES:
        yield Edit("COUNTS", "error", None, f"{len(claim.diagnoses)} diagnoses; at most {MAX_DIAGNOSES}")
    if len(claim.lines) > MAX_LINES:
        yield Edit("COUNTS", "error", None, f"{len(claim.lines)} lines; an 837P claim has at most {MAX_LINES}")
    for ln in claim.lines:
        if len(ln.modifiers) > MAX_MODIFIERS:
            yield Edit("COUNTS", "error", ln.number, f"{len(ln.modifiers)} modifiers; at most {MAX_MODIFIERS}")
        if len(ln.pointers) > MAX_POINTERS:
            yield Edit("COUNTS", "error", ln.number, f"{len(ln.pointers)} pointers; at most {MAX_POINTERS}")


@rule("DOS-NOT-FUTURE")
def dos_not_future(claim: ClaimForScrub) -> Iterator[Edit]:
    for ln in claim.lines:
        if ln.service_date and ln.service_date > claim.scrub_date:
            yield Edit("DOS-NOT-FUTURE", "error", ln.number,
                       f"date of service {ln.service_date} is after the scrub date {claim.scrub_date}")


@rule("TIMELY-FILING")
def timely_filing(claim: ClaimForScrub) -> Iterator[Edit]:
    dates = [ln.service_date for ln in claim.lines if ln.service_date]
    limit = filing_limit(claim.payer_class, claim.timely_filing_days)
    if not dates or limit is None:
        return
    deadline = filing_deadline(claim.payer_class, min(dates), claim.timely_filing_days)
    age = (claim.scrub_date - min(dates)).days
    allows = f"{claim.payer_class} allows {limit.text()} (file by {deadline})"
    if claim.scrub_date > deadline:
        yield Edit("TIMELY-FILING", "error", None, f"{age} days since the date of service; {allows} (expect CARC 29)")
    elif (deadline - claim.scrub_date).days < FILING_WARNING_DAYS:
        yield Edit("TIMELY-FILING", "warning", None, f"{age} days since the date of service; {allows}: submit now")

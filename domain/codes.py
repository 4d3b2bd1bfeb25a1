"""Shapes of billing codes (docs/domain.md §6): ICD-10-CM, CPT/HCPCS, modifiers, place of service, NPI."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ICD10_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")
ICD9_SHAPE = re.compile(r"^(V[0-9]{2,4}|E[0-9]{3,4}|[0-9]{3,5})$")
CPT_SHAPE = re.compile(r"^[0-9]{5}$")
CPT_CATEGORY_II_SHAPE = re.compile(r"^[0-9]{4}F$")
CPT_CATEGORY_III_SHAPE = re.compile(r"^[0-9]{4}T$")
HCPCS_SHAPE = re.compile(r"^[A-V][0-9]{4}$")
MODIFIER_SHAPE = re.compile(r"^[A-Z0-9]{2}$")
POS_SHAPE = re.compile(r"^[0-9]{2}$")
NPI_SHAPE = re.compile(r"^[12][0-9]{9}$")

# CMS place-of-service code set (2025); unassigned codes are refused by payers.
PLACES_OF_SERVICE = frozenset(
    "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 31 32 33 34"
    " 41 42 49 50 51 52 53 54 55 56 57 58 60 61 62 65 66 71 72 81 99".split()
)


def normalize_icd10(code: str) -> str:
    return code.strip().upper().replace(".", "")


def is_icd10_shape(code: str) -> bool:
    return bool(ICD10_SHAPE.match(normalize_icd10(code)))


BillableCodes = Callable[[], "frozenset[str]"]


def billable_from_library() -> frozenset[str]:
    """Every billable ICD-10-CM code (a leaf category/subcategory) of simple-icd-10-cm's release."""
    import simple_icd_10_cm as icd  # parsed on first use: ~1.5 s and ~100 MB, so only when a scrub needs it

    return frozenset(c for c in icd.get_all_codes(False) if icd.is_category_or_subcategory(c) and icd.is_leaf(c))


_billable: dict[str, Any] = {"load": billable_from_library, "codes": None}


def use_billable_codes(load: BillableCodes) -> None:
    """Lets the composition root supply the code set (e.g. from a cache) instead of parsing the library."""
    _billable.update(load=load, codes=None)


def is_billable_icd10(code: str) -> bool:
    """True for an ICD-10-CM code that may be billed: a leaf of the code tree (April 2026 release)."""
    if _billable["codes"] is None:
        _billable["codes"] = _billable["load"]()
    return normalize_icd10(code) in _billable["codes"]


def procedure_kind(code: str) -> str | None:
    """'cpt', 'cpt-ii', 'cpt-iii' or 'hcpcs' for a well-formed procedure code, else None."""
    for kind, shape in (
        ("cpt", CPT_SHAPE),
        ("cpt-ii", CPT_CATEGORY_II_SHAPE),
        ("cpt-iii", CPT_CATEGORY_III_SHAPE),
        ("hcpcs", HCPCS_SHAPE),
    ):
        if shape.match(code):
            return kind
    return None


def is_modifier(code: str) -> bool:
    return bool(MODIFIER_SHAPE.match(code))


def is_place_of_service(code: str) -> bool:
    return bool(POS_SHAPE.match(code)) and code in PLACES_OF_SERVICE


def is_valid_npi(npi: str) -> bool:
    """Ten digits starting with 1 or 2 whose last digit is the Luhn check digit over 80840 + the first nine."""
    if not NPI_SHAPE.match(npi):
        return False
    return npi_check_digit(npi[:9]) == int(npi[9])


def npi_check_digit(first_nine: str) -> int:
    total = 24  # the Luhn contribution of the card-issuer prefix 80840
    for index, char in enumerate(reversed(first_nine)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10

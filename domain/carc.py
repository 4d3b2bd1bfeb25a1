"""Claim adjustment reason codes: which ones are denials and their root-cause category (DOMAIN.md §2)."""
from __future__ import annotations

ADJUSTMENT_GROUPS = frozenset({"CO", "PR", "OA", "PI"})

# Cost share, contractual and informational reasons: adjustments, never denials.
NOT_DENIAL = frozenset({"1", "2", "3", "23", "24", "44", "45", "59", "94", "131", "144", "253",
                        "A2"})  # A2: contractual adjustment (retired code, still in TR3 examples)

DENIAL_CATEGORY = {
    **dict.fromkeys(("4", "5", "6", "7", "9", "10", "11"), "coding"),
    "16": "missing data",
    **dict.fromkeys(("18", "B13"), "duplicate"),
    **dict.fromkeys(("22", "109"), "eligibility/COB"),
    **dict.fromkeys(("26", "27", "31", "32", "140"), "eligibility/registration"),
    "29": "timely filing",
    **dict.fromkeys(("50", "167"), "medical necessity"),
    **dict.fromkeys(("49", "55", "96", "204"), "coverage"),
    **dict.fromkeys(("97", "234", "236"), "coding/bundling"),
    "119": "benefits",
    **dict.fromkeys(("150", "151", "226", "227", "252"), "documentation"),
    **dict.fromkeys(("181", "182", "146"), "code validity"),
    **dict.fromkeys(("197", "198", "284", "288"), "authorization"),
    **dict.fromkeys(("206", "207", "208", "170", "185"), "provider data"),
    **dict.fromkeys(("242", "243"), "network"),
    "A1": "other",
}

PATIENT_COST_SHARE = {"1": "deductible", "2": "coinsurance", "3": "copay"}


def is_denial(group: str, carc: str) -> bool:
    """A CO/OA/PI adjustment whose reason is not cost share, contract or information is a denial."""
    return group != "PR" and carc not in NOT_DENIAL


def denial_category(carc: str) -> str:
    return DENIAL_CATEGORY.get(carc, "other")

"""The biller's clocks other than appeals (those are lifecycle.appeal_deadline): the payer's timely-filing limit
by payer class, and after how many days without an answer a submitted claim is due for follow-up."""
from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from typing import NamedTuple


class FilingLimit(NamedTuple):
    """A claim must be filed (accepted by the payer) by the date of service plus `months` and `days`."""

    months: int
    days: int
    source: str

    def text(self) -> str:
        return f"{self.months} months" if self.months else f"{self.days} days"


TIMELY_FILING: Mapping[str, FilingLimit] = {
    "medicare": FilingLimit(12, 0, "42 CFR 424.44(a)(1); Medicare Claims Processing Manual (Pub. 100-04) ch. 1 "
                                   "sec. 70: one calendar year after the date of service"),
    "medicaid": FilingLimit(12, 0, "42 CFR 447.45(d)(1): the federal maximum, 12 months from the date of service; "
                                   "states may set a shorter limit (give the payer's own)"),
    "commercial": FilingLimit(0, 90, "contracts, typically 90-180 days in network and 180-365 out of network "
                                     "(DOMAIN.md sec. 1): the short end unless the payer's own limit is given"),
}
DEFAULT_FILING = TIMELY_FILING["commercial"]
NOT_FILED = ("self_pay",)  # the patient is the payer: nothing is filed, no limit
FILING_WARNING_DAYS = 30  # "approaching": the scrub warns and the timely-filing worklist lists a claim this close


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the last day of that month when it is shorter (Feb 29 + 12 months = Feb 28)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def filing_limit(payer_class: str, payer_days: int | None = None) -> FilingLimit | None:
    """The limit for a claim to this payer class (None: not filed with a payer); `payer_days` is the payer's own."""
    if payer_days:
        return FilingLimit(0, payer_days, "the payer's own limit")
    if payer_class in NOT_FILED:
        return None
    return TIMELY_FILING.get(payer_class, DEFAULT_FILING)


def filing_deadline(payer_class: str, service_date: date, payer_days: int | None = None) -> date | None:
    """The last day the payer must have the claim (its earliest date of service counts)."""
    limit = filing_limit(payer_class, payer_days)
    if limit is None:
        return None
    return add_months(service_date, limit.months) + timedelta(days=limit.days)


# Follow-up: a submitted claim the payer has not answered (no 835) is due for a call or a 276 status inquiry after
# N days, N per payer from its own submission -> first answer days (the payment lag).
FOLLOW_UP_PERCENTILE = 90     # by then the payer has answered 9 of 10 claims: later is unusual for this payer
FOLLOW_UP_FLOOR_DAYS = 14     # Medicare cannot pay a clean electronic claim before day 14; earlier calls are noise
FOLLOW_UP_DEFAULT_DAYS = 30   # too little history: the late end of the usual 14-30 days (DOMAIN.md sec. 7: p95 ~28)
FOLLOW_UP_MIN_ANSWERS = 20    # answered claims a payer needs before its own percentile is trusted


def follow_up_after(lag_days: Mapping[int, int]) -> int:
    """N for one payer from its answered claims, as {payment lag in days: how many claims}: the nearest-rank
    FOLLOW_UP_PERCENTILE of the lags, at least FOLLOW_UP_FLOOR_DAYS; FOLLOW_UP_DEFAULT_DAYS with fewer than
    FOLLOW_UP_MIN_ANSWERS answers."""
    answered = sum(lag_days.values())
    if answered < FOLLOW_UP_MIN_ANSWERS:
        return FOLLOW_UP_DEFAULT_DAYS
    upto, days = 0, 0
    for days in sorted(lag_days):
        upto += lag_days[days]
        if upto * 100 >= answered * FOLLOW_UP_PERCENTILE:
            break
    return max(days, FOLLOW_UP_FLOOR_DAYS)

"""Each claim in business time: its state as intervals (valid from / valid to, the days its events are effective)
and the daily changes of what it adds to the summaries, so that status, KPIs and A/R as of any date are queries
over indexed rows, never a replay.

A claim's state as of a day D is the fold of its events effective by the end of D, in the order they were recorded
(the history cut at D, as the oracle cuts it). It can change only on a day one of its events is effective: each
such day opens an interval, which the next one closes (the last stays open, valid_to NULL). An event effective on
or after the claim's latest day (the usual case) changes only the open interval. One effective before it (a late
fact: a remittance dated before the claim's latest step, say) changes every interval from its day on, so that
claim's whole history is read back from the ledger and folded again, and its intervals and daily changes are
replaced.

The daily tables (status_daily, dos_daily, kpi_daily) hold, per effective day, the change of each claim's
contribution to status_summary, dos_summary and kpi_counters: summed over the days up to D they give those summaries
as of D. Like the other summaries they are kept per rendering provider and again summed over all providers
("<name>_all", projections/tables.py), so a report over every provider reads a few rows per day.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import add, itemgetter, neg, sub
from datetime import date
from typing import Any

from projections.facts import (CONTRIBUTES, CONTRIBUTION_FACTS, NO_CONTRIBUTION, Contribution, Effects, contribution,
                              fold, new_facts)

CREATING = ("Coded", "Opened")  # a claim's first event
DAILY = {"status_summary": "status_daily", "dos_summary": "dos_daily", "kpi_counters": "kpi_daily"}
INTERVAL_COLUMNS = ("status", "payer_id", "rendering_npi", "dos", "billed", "payer_balance", "patient_balance")
# What a claim adds to status_summary and dos_summary depends only on its interval's columns: the page writer
# derives their changes (and their daily tables') in SQL from the intervals a page writes, each interval adding the
# claim's contribution in it on the day it begins and taking it back on the day it ends. name -> (key columns,
# metric -> SQL over an interval's columns, whether a voided claim counts).
INTERVAL_SUMMARIES = {
    "status_summary": (("status", "payer_id", "rendering_npi", "dos_month"),
                       {"claims": "1", "billed": "billed", "payer_balance": "payer_balance",
                        "patient_balance": "patient_balance"}, True),
    # A/R counts what is owed (each responsibility's balance above zero); credits owed back apart
    "dos_summary": (("dos", "payer_id", "rendering_npi"),
                    {"claims": "1", "billed": "billed", "payer_balance": "payer_balance",
                     "patient_balance": "patient_balance",
                     "open_balance": "{greatest}(payer_balance, 0) + {greatest}(patient_balance, 0)",
                     "credit_balance": "-{least}(payer_balance, 0) - {least}(patient_balance, 0)"}, False),
}
FROM_INTERVALS = tuple(INTERVAL_SUMMARIES)


def summary_sql(expression: str, dialect: str) -> str:
    """An INTERVAL_SUMMARIES key or metric as SQL of the dialect over an interval's columns."""
    if expression == "dos_month":
        return "substr(dos, 1, 8) || '01'" if dialect == "sqlite" else "CAST(date_trunc('month', dos) AS date)"
    bounds = {"greatest": "max", "least": "min"} if dialect == "sqlite" else {"greatest": "GREATEST", "least": "LEAST"}
    return expression.format(**bounds)
FOLDED_DAILY = {name: daily for name, daily in DAILY.items() if name not in FROM_INTERVALS}  # folded in Python
DAILY_TABLES = tuple(FOLDED_DAILY[name] for name in CONTRIBUTES if name in FOLDED_DAILY)  # zipped with the first parts
Totals = dict[str, dict[tuple[Any, ...], Any]]
History = Callable[[str], Sequence[Any]]  # a claim's recorded events, in the order recorded


class HistoryUnavailable(Exception):
    """A late fact arrived where the views cannot read the claim's history back to fold it again."""


def add_change(totals: Totals, day: date, before: Contribution, after: Contribution) -> None:
    """Adds a claim's change of contribution on `day` (after less before) to the daily tables' rows of that day
    (keyed by the day, then the live summary's key); what did not change adds nothing."""
    for name, was, now in zip(DAILY_TABLES, before, after):
        if was == now:
            continue
        daily = totals[name]
        if was is not None and now is not None and was[0] == now[0]:
            at = (day, *now[0])
            row = daily.get(at)
            change = map(sub, now[1], was[1])
            daily[at] = list(change) if row is None else list(map(add, row, change))
            continue
        if was is not None:
            at = (day, *was[0])
            row = daily.get(at)
            daily[at] = list(map(neg, was[1])) if row is None else list(map(sub, row, was[1]))
        if now is not None:
            at = (day, *now[0])
            row = daily.get(at)
            daily[at] = list(now[1]) if row is None else list(map(add, row, now[1]))


interval_values = itemgetter(*INTERVAL_COLUMNS)  # a claim's facts -> its interval's values


def day_of(event: Any) -> date:
    return event.effective_at.date()


def is_late(facts: dict[str, Any], days: Sequence[date]) -> bool:
    """Whether any of a claim's new events (effective on `days`) is effective before a day already folded (before
    it, in this page too)."""
    latest = facts["last_activity_on"]
    for day in days:
        if latest is not None and day < latest:
            return True
        latest = day
    return False


class ClaimTimeline:
    """What one page does to one claim in business time: daily contribution changes added to `totals`, the interval
    rows to write (`rows`, by valid_from) and, after a late fact, that all the claim's earlier rows go first
    (`replace`)."""

    def __init__(self, claim_id: str, facts: dict[str, Any], before: Contribution, is_new: bool) -> None:
        self.claim_id, self.facts = claim_id, facts
        self.contribution = before
        self.read = None if is_new else CONTRIBUTION_FACTS(facts)  # what `before` was made of
        self.open_from: date | None = None if is_new else facts["last_activity_on"]
        self.stored_from = self.open_from  # the open interval the views hold already (its row is updated)
        self.open_values = None if is_new else interval_values(facts)
        self.rows: dict[date, tuple[Any, ...]] = {}
        self.replace = False

    def day_ended(self, day: date, totals: Totals) -> Contribution:
        """The claim's events of `day` are folded (in time order): its contribution changes on that day, its open
        interval closes there and a new one opens."""
        read = CONTRIBUTION_FACTS(self.facts)
        if read == self.read:  # (some 40% of a claim's days: its contribution did not change)
            now = self.contribution
        else:
            now = contribution(self.facts)
            add_change(totals, day, self.contribution, now)
            self.contribution, self.read = now, read
        if self.open_from is not None and self.open_from != day:
            self.rows[self.open_from] = (self.claim_id, self.open_from, day, *self.open_values)
        self.open_from, self.open_values = day, interval_values(self.facts)
        self.rows[day] = (self.claim_id, day, None, *self.open_values)
        return now

    def refold(self, history: Sequence[Any], first_new: int, last_new: int, totals: Totals) -> None:
        """After a late fact: the claim's daily changes as written before this page (its events recorded before
        version `first_new`) are taken back and those of its history up to `last_new` added; every interval is
        written again."""
        before = [e for e in history if e.originator_version < first_new]
        after = [e for e in history if e.originator_version <= last_new]
        for taken_back, events in ((True, before), (False, after)):
            previous: Contribution = NO_CONTRIBUTION
            for day, state in cut_by_day(self.claim_id, events):
                now = contribution(state)
                add_change(totals, day, *((now, previous) if taken_back else (previous, now)))
                previous = now
        days = cut_by_day(self.claim_id, after)
        self.rows = {day: (self.claim_id, day, days[i + 1][0] if i + 1 < len(days) else None, *interval_values(state))
                     for i, (day, state) in enumerate(days)}
        self.replace = True


def cut_by_day(claim_id: str, events: Sequence[Any]) -> list[tuple[date, dict[str, Any]]]:
    """(day, the claim's facts as of the end of that day) for each day its events are effective: the history cut at
    that day, folded in recorded order."""
    out = []
    for day in sorted({day_of(e) for e in events}):
        cut = [event for event in events if day_of(event) <= day]
        if type(cut[0]).__name__ not in CREATING:
            continue  # the event that created the claim is effective later: as of this day it did not exist
        state = new_facts(claim_id)
        effects = Effects()
        for event in cut:
            fold(state, event, 0, effects)
        out.append((day, state))
    return out

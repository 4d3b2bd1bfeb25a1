"""Productivity from the events' actors (the `productivity` view): per person or per person and day, the charts
coded, claims submitted, remittances and payments posted with their posting lag, appeals filed, and the denials of
the claims each coder coded, by root cause."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from domain.lifecycle import DENIAL_ON_CODING
from projections.views import ClaimViews

POSTED = ("payment posted", "denial posted")
# the table's columns (--json gives every figure: role, recoded, charges submitted, patient payments posted too)
COLUMNS = ["person", "days", "charts_coded", "charts_per_day", "claims_submitted", "remittances_posted",
           "payments_posted", "posting_lag_days", "appeals_filed", "denials_on_coding"]


def dollars(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def per_day(total: int, days: int) -> Decimal | None:
    return (Decimal(total) / days).quantize(Decimal("0.1")) if days else None


def window(views: ClaimViews, start: date | None, end: date | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the days from `start` to `end` (either open)."""
    bounds = [(">=", start), ("<=", end)]
    clauses = [f"day {op} ?" for op, day in bounds if day]
    params = [day.isoformat() if views.dialect == "sqlite" else day for _, day in bounds if day]
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def tasks(views: ClaimViews, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
    where, params = window(views, start, end)
    return views.query(f"SELECT day, person, activity, sum(tasks) AS tasks, sum(cents) AS cents, sum(lag_days) AS "
                       f"lag_days, sum(lag_n) AS lag_n FROM {views.t['productivity_all']} {where} "
                       f"GROUP BY day, person, activity", params)


def figures(person: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One person's figures from their (day, activity) rows."""
    done: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    coding_days, days = set(), set()
    for r in rows:
        for metric in ("tasks", "cents", "lag_days", "lag_n"):
            done[r["activity"]][metric] += int(r[metric])
        if r["activity"] != DENIAL_ON_CODING:  # a denial counted against a coder is not a day of their work
            days.add(str(r["day"]))
        if r["activity"] == "coded":
            coding_days.add(str(r["day"]))
    posted = sum(done[a]["tasks"] for a in POSTED)
    lag_n = sum(done[a]["lag_n"] for a in POSTED)
    return {"person": person, "role": person.split(":")[0] if ":" in person else "system", "days": len(days),
            "charts_coded": done["coded"]["tasks"], "charts_per_day": per_day(done["coded"]["tasks"], len(coding_days)),
            "recoded": done["recoded"]["tasks"], "claims_submitted": done["submitted"]["tasks"],
            "charges_submitted": dollars(done["submitted"]["cents"]), "remittances_posted": posted,
            "payments_posted": dollars(done["payment posted"]["cents"]),
            "posting_lag_days": per_day(sum(done[a]["lag_days"] for a in POSTED), lag_n),
            "patient_payments_posted": dollars(done["patient payment posted"]["cents"]),
            "appeals_filed": done["appealed"]["tasks"], "denials_on_coding": done[DENIAL_ON_CODING]["tasks"]}


def productivity(views: ClaimViews, start: date | None = None, end: date | None = None,
                 by: str = "person") -> list[dict[str, Any]]:
    """One row per person (`by` "person") or per day and person (`by` "day"), in order."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in tasks(views, start, end):
        groups[(str(r["day"]), r["person"]) if by == "day" else (r["person"],)].append(r)
    rows = []
    for key in sorted(groups):
        row = figures(key[-1], groups[key])
        rows.append({"day": key[0], **row} if by == "day" else row)
    return [r for r in rows if r["days"]]


def denials_by_coder(views: ClaimViews, start: date | None = None, end: date | None = None
                     ) -> list[dict[str, Any]]:
    """Denials of the claims each person coded (last coded or recoded), by root cause (the main CARC's category)."""
    where, params = window(views, start, end)
    where = f"{where} AND activity = ?" if where else "WHERE activity = ?"
    rows = views.query(f"SELECT person, category, sum(tasks) AS denials, sum(cents) AS cents FROM "
                       f"{views.t['productivity_all']} {where} GROUP BY person, category ORDER BY person, 3 DESC, category",
                       [*params, DENIAL_ON_CODING])
    return [{"coder": r["person"], "root_cause": r["category"], "denials": int(r["denials"]),
             "denied_dollars": dollars(int(r["cents"]))} for r in rows]

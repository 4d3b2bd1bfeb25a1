"""The biller's worklists over claim_status, one SQL per list for SQLite, PostgreSQL and the Grafana panels alike:
follow-up (no payer answer N days after submission), denials (by the appeal deadline the ledger recorded),
timely filing (not yet accepted, near the payer's limit) and unbilled (coded or scrubbed, not yet submitted).
The rules come from the domain: deadlines.py (filing limits, follow-up N), the recorded appeal deadline
(lifecycle.appeal_deadline, as `rcm show` gives it) and the appeal levels' names (claim.APPEAL_LEVELS)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from domain import deadlines as rule
from domain.claim import APPEAL_LEVELS
from projections.reports import dollars
from projections.schema import NOT_YET_ACCEPTED, UNBILLED, WAITING, listed
from projections.views import ClaimViews

NAMES = ("follow-up", "denials", "timely-filing", "unbilled")
MONEY = ("balance", "at_stake")
DATES = ("dos", "waiting_since", "denied_on", "appeal_deadline", "file_by", "coded_on")
FLAGS = ("overdue",)


@dataclass(frozen=True)
class Target:
    """Where a worklist's SQL runs: the back end, the SQL for the as-of day, and how money is selected."""

    dialect: str
    today: str
    money: Callable[[str], str]

    def days(self, later: str, earlier: str) -> str:
        if self.dialect == "sqlite":
            return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
        return f"({later} - {earlier})"

    def plus_days(self, day: str, days: str) -> str:
        return f"date({day}, '+' || ({days}) || ' days')" if self.dialect == "sqlite" else f"({day} + ({days}))"

    def minus_days(self, day: str, days: str) -> str:
        """`day` less `days` (an integer expression, a BIGINT on PostgreSQL too)."""
        if self.dialect == "sqlite":
            return f"date({day}, '-' || ({days}) || ' days')"
        return f"({day} - CAST({days} AS INTEGER))"

    def shifted(self, day: str, days: int) -> str:
        """`day` moved by a whole number of days known here (no expression: an index on the column can use it)."""
        return f"date({day}, '{days:+d} days')" if self.dialect == "sqlite" else f"({day} + ({days}))"

    def plus_months(self, day: str, months: int) -> str:
        """As domain.deadlines.add_months: a month too short for the day gives its last day."""
        if self.dialect == "sqlite":
            return f"min(date({day}, '+{months} months'), date({day}, 'start of month', '+{months + 1} months', " \
                   f"'-1 day'))"
        return f"CAST({day} + interval '{months} months' AS DATE)"

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})" if self.dialect == "sqlite" else f"GREATEST({a}, {b})"


def cli_target(dialect: str) -> Target:
    return Target(dialect, "date(?)" if dialect == "sqlite" else "CAST(? AS DATE)", lambda column: column)


GRAFANA = Target("postgresql", "($__timeTo())::date", lambda column: f"{column} / 100.0")
# the variables' All is '*' (their custom all value): claim rows have no all-payers or all-providers row to match
GRAFANA_FILTERS = ("$__timeFilter(dos)", "('*' IN (${payer:sqlstring}) OR payer_id IN (${payer:sqlstring}))",
                   "('*' IN (${provider:sqlstring}) OR rendering_npi IN (${provider:sqlstring}))")


def where(filters: Sequence[str]) -> str:
    return "".join(f" AND {f}" for f in filters)


def follow_up(tables: Mapping[str, str], t: Target, filters: Sequence[str]) -> str:
    """N per payer (n) as domain.deadlines.follow_up_after computes it, from payment_lags (claims per payer and
    payment lag, pre-summed: no claim is read for it). A claim waits at least since its last submission (waiting_since
    is that or its last activity, which is later), so none submitted after the smallest N before today is due: the
    index over waiting claims by last_submitted_on reads only those submitted earlier."""
    cs, waited = tables["claim_status"], t.days("asof.today", "w.waiting_since")
    percentile = f"min(CASE WHEN upto * 100 >= answered * {rule.FOLLOW_UP_PERCENTILE} THEN d END)"
    return f"""WITH asof AS (SELECT {t.today} AS today),
lags AS (SELECT payer_id, lag_days AS d, claims AS k FROM {tables['payment_lags']} WHERE claims <> 0),
upto AS (SELECT payer_id, d, sum(k) OVER (PARTITION BY payer_id ORDER BY d) AS upto,
                sum(k) OVER (PARTITION BY payer_id) AS answered FROM lags),
n AS (SELECT payer_id, CASE WHEN max(answered) >= {rule.FOLLOW_UP_MIN_ANSWERS}
                            THEN {t.greatest(percentile, str(rule.FOLLOW_UP_FLOOR_DAYS))}
                            ELSE {rule.FOLLOW_UP_DEFAULT_DAYS} END AS follow_up_after FROM upto GROUP BY payer_id),
soonest AS (SELECT min(days) AS days FROM (SELECT follow_up_after AS days FROM n
                                           UNION ALL SELECT {rule.FOLLOW_UP_DEFAULT_DAYS}) known),
w AS (SELECT s.*, COALESCE(n.follow_up_after, {rule.FOLLOW_UP_DEFAULT_DAYS}) AS follow_up_after,
             CASE WHEN s.last_adjudicated_on > s.last_submitted_on THEN s.last_activity_on
                  ELSE s.last_submitted_on END AS waiting_since
      FROM {cs} s LEFT JOIN n ON n.payer_id = s.payer_id WHERE s.status IN {listed(WAITING)})
SELECT w.claim_number, w.payer_id, w.status, w.dos, w.waiting_since, {waited} AS days_waiting,
       w.follow_up_after, {waited} - w.follow_up_after AS days_past_due, {t.money('w.payer_balance')} AS balance
FROM w, asof WHERE w.last_submitted_on <= {t.minus_days('asof.today', '(SELECT days FROM soonest)')}
  AND {waited} >= w.follow_up_after{where(filters)}
ORDER BY days_past_due DESC, w.payer_balance DESC, w.claim_number"""


def level_names() -> str:
    """The next appeal level's name by payer class and levels taken (today's levels: claim.APPEAL_LEVELS)."""
    cases = " ".join(f"WHEN payer_class = '{payer_class}' AND appeal_level = {level.number - 1} THEN '{level.name}'"
                     for payer_class, levels in APPEAL_LEVELS.items() for level in levels)
    return f"CASE WHEN appeal_deadline IS NULL THEN NULL {cases} END"


def denials(tables: Mapping[str, str], t: Target, filters: Sequence[str]) -> str:
    cs = tables["claim_status"]
    return f"""WITH asof AS (SELECT {t.today} AS today)
SELECT claim_number, payer_id, payer_class, denial_category AS category, last_carcs AS carcs,
       last_adjudicated_on AS denied_on, CASE WHEN appeal_deadline IS NULL THEN NULL ELSE appeal_level + 1 END
       AS next_level, {level_names()} AS level_name, appeal_deadline, {t.days('appeal_deadline', 'asof.today')}
       AS days_left, CASE WHEN appeal_deadline < asof.today THEN 1 ELSE 0 END AS overdue,
       {t.money('denied_amount')} AS at_stake, {t.money('payer_balance')} AS balance
FROM {cs}, asof WHERE status = 'denied'{where(filters)}
ORDER BY appeal_deadline IS NULL, appeal_deadline, denied_amount DESC, claim_number"""


def filing_deadline_sql(t: Target) -> str:
    """domain.deadlines.filing_deadline by payer class, from the earliest date of service."""
    def plus(limit: rule.FilingLimit) -> str:
        months = t.plus_months("dos", limit.months) if limit.months else "dos"
        return t.plus_days(months, str(limit.days)) if limit.days else months
    cases = " ".join(f"WHEN '{payer_class}' THEN {plus(limit)}" for payer_class, limit in rule.TIMELY_FILING.items())
    not_filed = " ".join(f"WHEN '{payer_class}' THEN NULL" for payer_class in rule.NOT_FILED)
    return f"CASE payer_class {not_filed} {cases} ELSE {plus(rule.DEFAULT_FILING)} END"


def shortest_filing_days() -> int:
    """No payer class's filing limit is shorter than this many days (a month has at least 28)."""
    return min(limit.months * 28 + limit.days for limit in (*rule.TIMELY_FILING.values(), rule.DEFAULT_FILING))


def timely_filing(tables: Mapping[str, str], t: Target, filters: Sequence[str]) -> str:
    """Also bounded by the date of service (a claim served later than the shortest limit before the warning day
    cannot be near its limit), which the index over not yet accepted claims by date of service reads from."""
    cs, left = tables["claim_status"], t.days("w.file_by", "asof.today")
    latest_dos = t.shifted("asof.today", rule.FILING_WARNING_DAYS - shortest_filing_days())
    return f"""WITH asof AS (SELECT {t.today} AS today),
w AS (SELECT *, {filing_deadline_sql(t)} AS file_by FROM {cs}
      WHERE status IN {listed(NOT_YET_ACCEPTED)} AND adjudications = 0)
SELECT w.claim_number, w.payer_id, w.payer_class, w.status, w.dos, w.file_by, {left} AS days_left,
       CASE WHEN w.file_by < asof.today THEN 1 ELSE 0 END AS overdue, {t.money('w.payer_balance')} AS balance
FROM w, asof WHERE w.file_by IS NOT NULL AND {left} < {rule.FILING_WARNING_DAYS} AND w.dos < {latest_dos}\
{where(filters)}
ORDER BY w.file_by, w.payer_balance DESC, w.claim_number"""


def unbilled(tables: Mapping[str, str], t: Target, filters: Sequence[str]) -> str:
    cs = tables["claim_status"]
    return f"""WITH asof AS (SELECT {t.today} AS today)
SELECT claim_number, payer_id, payer_class, status, dos, coded_on, {t.days('asof.today', 'dos')} AS days_since_service,
       {t.money('payer_balance')} AS balance
FROM {cs}, asof WHERE status IN {listed(UNBILLED)}{where(filters)}
ORDER BY dos, payer_balance DESC, claim_number"""


BUILDERS = {"follow-up": follow_up, "denials": denials, "timely-filing": timely_filing, "unbilled": unbilled}


def sql(name: str, tables: Mapping[str, str], target: Target, filters: Sequence[str] = ()) -> str:
    """`tables`: the views' table names (ViewTables.t), by name."""
    return BUILDERS[name](tables, target, filters)


PANEL_ROWS = 500
PANEL_TABLES = {"claim_status": "claim_status", "payment_lags": "payment_lags"}  # Grafana's search_path: the schema


def panel_sql(name: str) -> str:
    """The Grafana panel's SQL: as of the end of the time range, claims with a date of service in it, the payer and
    provider variables; the first PANEL_ROWS of the list."""
    return f"{sql(name, PANEL_TABLES, GRAFANA, GRAFANA_FILTERS)}\nLIMIT {PANEL_ROWS}"


def worklist(views: ClaimViews, name: str, today: date, payer: str | None = None,
             min_balance: Decimal | None = None) -> list[dict[str, Any]]:
    filters, params = [], []
    if payer:
        filters.append("payer_id = ?")
        params.append(payer)
    if min_balance is not None:
        filters.append("payer_balance >= ?")
        params.append(int(min_balance * 100))
    statement = sql(name, views.t, cli_target(views.dialect), filters)
    return [shaped(row) for row in views.query(statement, [today.isoformat(), *params])]


def shaped(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in MONEY:
        if key in out:
            out[key] = dollars(out[key])
    for key in DATES:
        if isinstance(out.get(key), str):
            out[key] = date.fromisoformat(out[key])
    for key in FLAGS:
        if key in out:
            out[key] = bool(out[key])
    return out

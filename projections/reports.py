"""Report queries over the views: claim status, A/R aging (today or as of a date), denials, KPIs, worklist."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.carc import denial_category
from domain.lifecycle import Status
from projections.schema import days
from projections.views import ClaimViews

BUCKETS = ((0, 30, "0-30"), (31, 60, "31-60"), (61, 90, "61-90"), (91, 120, "91-120"), (121, 10**6, "120+"))
GROUPS = {"payer": "payer_id", "provider": "rendering_npi", None: "'all'"}


def per_provider(views: ClaimViews, name: str, by: str | None) -> str:
    """The summary table a report reads: per provider when it groups by provider, else its sum over providers."""
    return views.t[name if by == "provider" else f"{name}_all"]


def dollars(cents: Any) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))


def param(views: ClaimViews, day: date) -> Any:
    return day.isoformat() if views.dialect == "sqlite" else day


def status(views: ClaimViews, by: str | None = None, as_of: date | None = None) -> list[dict[str, Any]]:
    """Claims by status now, or as of a past day: the history cut there, from the daily changes summed up to it."""
    group = GROUPS[by]
    table = per_provider(views, "status_daily" if as_of is not None else "status_summary", by)
    where, params = through(views, as_of)
    rows = views.query(f"SELECT {group} AS grp, status, sum(claims) AS claims, sum(billed) AS billed, "
                       f"sum(payer_balance) AS payer_balance, sum(patient_balance) AS patient_balance "
                       f"FROM {table}{where} GROUP BY 1, 2 HAVING sum(claims) > 0 ORDER BY 1, 2", params)
    return [{"group": r["grp"], "status": r["status"], "claims": int(r["claims"]), "billed": dollars(r["billed"]),
             "payer_balance": dollars(r["payer_balance"]), "patient_balance": dollars(r["patient_balance"])}
            for r in rows]


def aging(views: ClaimViews, as_of: date, by: str | None = None, start: str = "dos") -> list[dict[str, Any]]:
    """Open balances as of a date, by responsibility and age bucket. Aged from the date of service by payer
    (the usual view) they come from the pre-summed daily moves; other choices read the per-claim log."""
    if start == "dos" and by != "provider":
        return aging_by_dos(views, as_of, by)
    cs, log, d = views.t["claim_status"], views.t["ar_log"], views.dialect
    started = {
        "dos": "s.dos",
        "submission": "COALESCE(CASE WHEN s.first_submitted_on <= ? THEN s.first_submitted_on END, s.dos)",
        "responsibility": f"COALESCE((SELECT min(l2.effective_on) FROM {log} l2 WHERE l2.claim_id = b.claim_id AND "
                          f"l2.responsibility = b.responsibility AND l2.delta_cents > 0 AND l2.effective_on <= ?), "
                          "s.dos)",
        "activity": f"(SELECT max(l3.effective_on) FROM {log} l3 WHERE l3.claim_id = b.claim_id "
                    "AND l3.effective_on <= ?)",
    }[start]
    age = days("?", started, d)
    bucket = "CASE " + " ".join(f"WHEN {age} <= {hi} THEN '{name}'" for _, hi, name in BUCKETS) + " END"
    group = {"payer": "s.payer_id", "provider": "s.rendering_npi", None: "'all'"}[by]
    sql = (f"SELECT {group} AS grp, b.responsibility AS responsibility, {bucket} AS bucket, count(*) AS claims, "
           f"sum(b.balance) AS balance FROM (SELECT claim_id, responsibility, sum(delta_cents) AS balance FROM {log} "
           f"WHERE effective_on <= ? GROUP BY claim_id, responsibility HAVING sum(delta_cents) <> 0) b "
           f"JOIN {cs} s ON s.claim_id = b.claim_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    uses = sql.count("?")
    day = param(views, as_of)
    rows = views.query(sql, [day] * uses)
    return [{"group": r["grp"], "responsibility": r["responsibility"], "bucket": r["bucket"],
             "claims": int(r["claims"]), "balance": dollars(r["balance"])} for r in rows]


def aging_by_dos(views: ClaimViews, as_of: date, by: str | None) -> list[dict[str, Any]]:
    age = days("?", "dos", views.dialect)
    bucket = "CASE " + " ".join(f"WHEN {age} <= {hi} THEN '{name}'" for _, hi, name in BUCKETS) + " END"
    group = "payer_id" if by == "payer" else "'all'"
    sql = (f"SELECT {group} AS grp, responsibility, {bucket} AS bucket, sum(balance) AS balance FROM "
           f"(SELECT dos, payer_id, responsibility, sum(delta_cents) AS balance FROM {views.t['ar_daily_all']} "
           f"WHERE effective_on <= ? GROUP BY dos, payer_id, responsibility) b WHERE balance <> 0 "
           f"GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    day = param(views, as_of)
    rows = views.query(sql, [day] * sql.count("?"))
    return [{"group": r["grp"], "responsibility": r["responsibility"], "bucket": r["bucket"],
             "balance": dollars(r["balance"])} for r in rows if int(r["balance"])]


def through(views: ClaimViews, until: date | None) -> tuple[str, list[Any]]:
    """A filter on the day column of the per-day tables: everything, or what happened up to `until`."""
    return ("", []) if until is None else (" WHERE day <= ?", [param(views, until)])


def denials(views: ClaimViews, by: str | None = "payer", until: date | None = None) -> list[dict[str, Any]]:
    """Adjudications, denials, rejections and appeals, counted on the day they happened (all, or up to `until`)."""
    group = {"payer": "payer_id", None: "'all'"}[by]
    where, params = through(views, until)
    rows = views.query(
        f"SELECT {group} AS grp, category, sum(adjudicated) AS adjudicated, sum(denied) AS denied, "
        f"sum(denied_cents) AS denied_cents, sum(denied_lines_cents) AS line_cents, sum(rejected) AS rejected, "
        f"sum(appealed) AS appealed, sum(decided) AS decided, sum(overturned) AS overturned "
        f"FROM {views.t['denial_stats_all']}{where} GROUP BY 1, 2 ORDER BY 1, 2", params)
    return [{"group": r["grp"], "category": r["category"], "adjudicated": int(r["adjudicated"]),
             "denied": int(r["denied"]), "denied_dollars": dollars(r["denied_cents"]),
             "line_denied_dollars": dollars(r["line_cents"]), "rejected": int(r["rejected"]),
             "appealed": int(r["appealed"]), "decided": int(r["decided"]), "overturned": int(r["overturned"])}
            for r in rows]


def denial_reasons(views: ClaimViews, limit: int = 20, until: date | None = None) -> list[dict[str, Any]]:
    """Top denial reasons (CARC with group) by dollars, with the category docs/domain.md §3 gives them."""
    where, params = through(views, until)
    rows = views.query(
        f"SELECT carc_group, carc, sum(remittances) AS remittances, sum(cents) AS cents, "
        f"sum(denied_claims) AS denied_claims FROM {views.t['denial_carcs_all']}{where} GROUP BY 1, 2 "
        f"HAVING sum(remittances) > 0 ORDER BY 4 DESC, 1, 2 LIMIT {int(limit)}", params)
    return [{"carc": f"{r['carc_group']}-{r['carc']}", "category": denial_category(r["carc"]),
             "remittances": int(r["remittances"]), "denied_claims": int(r["denied_claims"]),
             "dollars": dollars(r["cents"])} for r in rows]


def kpis(views: ClaimViews, as_of: date | None = None) -> dict[str, Any]:
    """The KPIs now (the kpis SQL view, A/R aged to today), or as of a past day: the history cut there, aged to it."""
    if as_of is None:
        return kpi_figures(views.query(f"SELECT * FROM {views.kpis}")[0])
    return scorecard(views, None, as_of, cut=True)[0]


def scorecard(views: ClaimViews, by: str | None, as_of: date, cut: bool = False) -> list[dict[str, Any]]:
    """The KPIs for the practice (one row) or one row per payer or rendering provider, A/R aged to `as_of`; with
    `cut`, of the history cut at `as_of`."""
    today = "date(?)" if views.dialect == "sqlite" else "CAST(? AS DATE)"
    sql = views.kpi_select(today, by, cut)
    rows = views.query(sql, [as_of.isoformat()] * sql.count("?"))
    return [kpi_figures(row) for row in rows]


def month_ends(last: date, months: int = 12) -> list[date]:
    """The last `months` month-ends before the month of `last` (oldest first)."""
    first = last.replace(day=1)
    ends = []
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        ends.append((first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1))
    return ends[::-1]


def month_end_kpis(views: ClaimViews, last: date, months: int = 12) -> list[dict[str, Any]]:
    """The KPIs as of each of the last `months` month-ends before `last`'s month, each of the history cut there
    (what a month-end close reported): on PostgreSQL one query (the as-of KPIs laterally per month-end)."""
    ends = month_ends(last, months)
    if views.dialect == "sqlite":
        return [{"month_end": end, **kpis(views, end)} for end in ends]
    sql = views.kpi_select("e.month_end", None, cut=True)
    rows = views.query(f"SELECT e.month_end, k.* FROM unnest(CAST(? AS DATE[])) AS e(month_end) "
                       f"CROSS JOIN LATERAL ({sql}) k ORDER BY e.month_end", [ends])
    return [{"month_end": r["month_end"], **kpi_figures({k: v for k, v in r.items() if k != "month_end"})}
            for r in rows]


def kpi_figures(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("ar_cents", "credit_cents"):  # A/R owed, and credit balances owed back (README, KPIs)
            out["ar_total" if key == "ar_cents" else "credit_balances"] = dollars(value or 0)
        elif key == "grp" or value is None:
            out["group" if key == "grp" else key] = value
        else:
            out[key] = round(float(value), 4) if not key.startswith("claims_") else int(value)
    return out


def payers(views: ClaimViews) -> list[str]:
    """The payers the ledger has claims for (from the small status summary, not the claims)."""
    return [r["payer_id"] for r in views.query(f"SELECT payer_id FROM {views.t['status_summary']} GROUP BY payer_id "
                                               "HAVING sum(claims) > 0 ORDER BY payer_id")]


def worklist(views: ClaimViews, today: date, status: str | None = None, payer: str | None = None,
             older_than: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, params = ["status NOT IN ('closed', 'voided', 'written_off')"], []
    if status:
        where, params = ["status = ?"], [status]
    if payer:
        where.append("payer_id = ?")
        params.append(payer)
    if older_than is not None:
        where.append(f"{days('?', 'dos', views.dialect)} > ?")
        params += [param(views, today), older_than]
    rows = views.query(
        f"SELECT claim_number, status, payer_id, dos, billed, payer_balance, patient_balance, last_carcs, "
        f"denial_category, appeal_level, last_activity_on FROM {views.t['claim_status']} WHERE {' AND '.join(where)} "
        f"ORDER BY dos, claim_number LIMIT {int(limit)}", params)
    return [{**r, "billed": dollars(r["billed"]), "payer_balance": dollars(r["payer_balance"]),
             "patient_balance": dollars(r["patient_balance"]), "dos": str(r["dos"]),
             "last_activity_on": str(r["last_activity_on"])} for r in rows]


ACTIVITIES = ("coded", "submitted", "paid", "denied", "written_off")


def day(views: ClaimViews, on: date) -> dict[str, Any]:
    """The end-of-day report: the day's work (events and dollars per activity), cash posted, the day's and the last
    30 days' denial rate, and, as of the end of the day, the claims with a balance owed and the aging."""
    t, d = views.t, param(views, on)
    work = {a: {"count": 0, "dollars": dollars(0)} for a in ACTIVITIES}
    for r in views.query(f"SELECT activity, sum(events) AS events, sum(cents) AS cents FROM {t['day_activity']} "
                         f"WHERE day = ? GROUP BY activity", [d]):
        work[r["activity"]] = {"count": int(r["events"]), "dollars": dollars(r["cents"])}
    cash = views.query(f"SELECT sum(payer_paid) AS payer, sum(patient_paid) AS patient FROM {t['cash_daily']} "
                       f"WHERE day = ?", [d])[0]
    month_ago = param(views, on - timedelta(days=29))
    rates = views.query(
        f"SELECT sum(CASE WHEN day = ? THEN adjudicated ELSE 0 END) AS adjudicated, sum(CASE WHEN day = ? THEN denied "
        f"ELSE 0 END) AS denied, sum(adjudicated) AS adjudicated_30, sum(denied) AS denied_30 "
        f"FROM {t['denial_stats']} WHERE day BETWEEN ? AND ?", [d, d, month_ago, d])[0]
    owed = views.query(
        f"SELECT count(DISTINCT claim_id) AS claims, sum(balance) AS balance FROM (SELECT claim_id, responsibility, "
        f"sum(delta_cents) AS balance FROM {t['ar_log']} WHERE effective_on <= ? GROUP BY claim_id, responsibility "
        f"HAVING sum(delta_cents) > 0) b", [d])[0]
    return {"report": "day", "date": on, "work": work,
            "cash_posted": {"payer": dollars(cash["payer"]), "patient": dollars(cash["patient"]),
                            "total": dollars(int(cash["payer"] or 0) + int(cash["patient"] or 0))},
            "adjudicated": int(rates["adjudicated"] or 0), "denied": int(rates["denied"] or 0),
            "denial_rate": share(rates["denied"], rates["adjudicated"]),
            "denial_rate_30_days": share(rates["denied_30"], rates["adjudicated_30"]),
            "outstanding": {"claims": int(owed["claims"]), "balance": dollars(owed["balance"])},
            "aging": aging(views, on)}


def share(part: Any, whole: Any) -> float | None:
    return round(int(part or 0) / int(whole), 4) if whole else None


def ready_claims(views: ClaimViews) -> list[tuple[str, str]]:
    """(billing NPI, claim number) of the claims that passed scrub and wait for submission, oldest service first."""
    return [(r["billing_npi"], r["claim_number"]) for r in views.query(
        f"SELECT billing_npi, claim_number FROM {views.t['claim_status']} WHERE status = 'ready' "
        f"ORDER BY dos, claim_number")]


SUMMARY_TOTALS = {"total_charge": "billed", "payer_paid": "payer_paid", "contractual": "adjustments",
                  "patient_responsibility": "patient_responsibility", "patient_paid": "patient_paid",
                  "written_off_payer": "written_off_payer", "written_off_patient": "written_off_patient",
                  "payer_balance": "payer_balance", "patient_balance": "patient_balance",
                  "denied_amount": "denied_amount"}
STATUS_ORDER = tuple(Status)


def ledger_summary(views: ClaimViews, examples_per_status: int = 3) -> dict[str, Any]:
    """Claims by status, money totals and example claim numbers per status (with some history to show)."""
    cs = views.t["claim_status"]
    by_status = {r["status"]: {"claims": int(r["claims"]), "charges": dollars(r["billed"]),
                               "balance": dollars(r["balance"])}
                 for r in views.query(f"SELECT status, sum(claims) AS claims, sum(billed) AS billed, "
                                      f"sum(payer_balance + patient_balance) AS balance "
                                      f"FROM {views.t['status_summary']} "
                                      f"GROUP BY status HAVING sum(claims) > 0")}
    sums = views.query("SELECT " + ", ".join(f"sum({col}) AS {name}" for name, col in SUMMARY_TOTALS.items())
                       + f" FROM {cs}")[0]
    examples = {status: [r["claim_number"] for r in views.query(
        f"SELECT claim_number FROM {cs} WHERE status = ? AND version >= 3 ORDER BY claim_number "
        f"LIMIT {int(examples_per_status)}", [status])] for status in by_status}
    return {"claims": sum(row["claims"] for row in by_status.values()),
            "by_status": {s: by_status[s] for s in STATUS_ORDER if s in by_status},
            "totals": {name: dollars(sums[name]) for name in SUMMARY_TOTALS},
            "examples": {s: e for s, e in examples.items() if e}}


def deposits(views: ClaimViews, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """Deposit reconciliation (projections/deposits.py) for deposits (or, without one, remittances) dated in the
    range: each row's status and difference, the count and dollars per status, and the average posting lag."""
    where, params = [], []
    for bound, op in ((start, ">="), (end, "<=")):
        if bound is not None:
            where.append(f"day {op} ?")
            params.append(param(views, bound))
    rows = views.query(f"SELECT * FROM {views.tables.reconciliation}{' WHERE ' + ' AND '.join(where) if where else ''}"
                       " ORDER BY day, trace, payer_id", params)
    out = [{"deposit_date": as_day(r["deposited_on"]), "amount": dollars(r["deposit_cents"])
            if r["deposit_cents"] is not None else None, "trace": r["trace"], "payer": r["payer"],
            "remit_amount": dollars(r["remit_cents"]) if r["remit_cents"] is not None else None,
            "paid_on": as_day(r["paid_on"]), "posted_on": as_day(r["posted_on"]), "status": r["status"],
            "difference": dollars(r["difference_cents"]),
            "posting_lag_days": None if r["posting_lag_days"] is None else int(r["posting_lag_days"])} for r in rows]
    summary = {status: {"count": 0, "deposits": Decimal("0.00"), "remittances": Decimal("0.00")}
               for status in ("matched", "amount differs", "deposit without 835", "835 without deposit")}
    for r in out:
        summary[r["status"]]["count"] += 1
        summary[r["status"]]["deposits"] += r["amount"] or 0
        summary[r["status"]]["remittances"] += r["remit_amount"] or 0
    lags = [r["posting_lag_days"] for r in out if r["posting_lag_days"] is not None]
    return {"rows": out, "by_status": summary,
            "posting_lag_days": round(sum(lags) / len(lags), 2) if lags else None}


def as_day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def recorded_remittances(views: ClaimViews) -> list[dict[str, Any]]:
    """Payments recorded by command under a trace number, per payer and trace (what the payer's EFT carried): the
    day first posted and the dollars."""
    rows = views.query(f"SELECT payer_id, trace, min(day) AS posted_on, sum(paid_cents) AS cents FROM "
                       f"{views.t['remittance_claims']} GROUP BY payer_id, trace HAVING sum(paid_cents) > 0 "
                       f"ORDER BY 3, 1, 2")
    return [{"payer_id": r["payer_id"], "trace": r["trace"], "posted_on": as_day(r["posted_on"]),
             "amount": dollars(r["cents"])} for r in rows]

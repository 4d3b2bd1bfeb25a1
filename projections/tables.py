"""Where the claim views live: their tables and columns, the names a suffix and a schema give them, their tracking
position, and the database calls the schema and the page writer share. Money is stored in integer cents, exact on
both SQLite and PostgreSQL."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.deposits import TABLES as BANKING
from domain.lifecycle import DENIAL_ON_CODING
from projections.facts import CASH, KPI_ORDER

VIEW_NAMES = ("claim_status", "ar", "denials")
KPI_COUNTERS = KPI_ORDER
# Summary tables kept by adding each claim's (after - before) contribution: reports at a million claims
# read a few thousand rows instead of scanning every claim. name -> (key columns, metric columns). Each is kept
# per payer and rendering provider, the two filters every dashboard panel follows.
SUMMARIES = {
    "status_summary": ((("status", "text"), ("payer_id", "text"), ("rendering_npi", "text"), ("dos_month", "date")),
                       ("claims", "billed", "payer_balance", "patient_balance")),
    # open_balance: what is owed (each responsibility's balance above zero), the A/R the KPIs count;
    # credit_balance: what is owed back (a takeback after the patient paid), kept apart, never netted against it
    "dos_summary": ((("dos", "date"), ("payer_id", "text"), ("rendering_npi", "text")),
                    ("claims", "billed", "payer_balance", "patient_balance", "open_balance", "credit_balance")),
    # per month of the date of service: KPI tiles follow the dashboard's time range
    "kpi_counters": ((("dos_month", "date"), ("payer_id", "text"), ("rendering_npi", "text")), KPI_COUNTERS),
    "ar_daily": ((("effective_on", "date"), ("dos", "date"), ("payer_id", "text"), ("rendering_npi", "text"),
                  ("responsibility", "text")), ("delta_cents",)),
    # denial adjustments by reason: per adjudication day, payer and CARC, how many remittances carried it
    # (on a denied claim or on denied lines of a paid one), its dollars, and how many were claim denials
    "denial_carcs": ((("day", "date"), ("payer_id", "text"), ("rendering_npi", "text"), ("carc_group", "text"),
                      ("carc", "text")), ("remittances", "cents", "denied_claims")),
    # money moved per effective day and payer (cents): charges billed, payer and patient payments, contractual
    # and other adjustments, write-offs - charges and payments over time, and the cash journal's totals
    "cash_daily": ((("day", "date"), ("payer_id", "text"), ("rendering_npi", "text")), CASH),
    # the day's work per effective day, payer and activity (coded, submitted, paid, denied, written_off): how many
    # such events and their dollars (charges coded or sent, payer payment, denied amount, amount written off)
    "day_activity": ((("day", "date"), ("payer_id", "text"), ("activity", "text")), ("events", "cents")),
    # as of any date (projections/intervals.py): per effective day, the change of every claim's contribution to
    # status_summary, dos_summary and kpi_counters (the day, then that summary's key)
    "status_daily": ((("day", "date"), ("status", "text"), ("payer_id", "text"), ("rendering_npi", "text"),
                      ("dos_month", "date")), ("claims", "billed", "payer_balance", "patient_balance")),
    "dos_daily": ((("day", "date"), ("dos", "date"), ("payer_id", "text"), ("rendering_npi", "text")),
                  ("claims", "billed", "payer_balance", "patient_balance", "open_balance", "credit_balance")),
    "kpi_daily": ((("day", "date"), ("dos_month", "date"), ("payer_id", "text"), ("rendering_npi", "text")),
                  KPI_COUNTERS),
    # payments recorded by command under a payer's trace number (no 835 imported): the remittance a deposit matches
    "remittance_claims": ((("payer_id", "text"), ("trace", "text"), ("day", "date")), ("claims", "paid_cents")),
    # who did what (the events' actors): per day, person, activity, root cause (a denial's CARC category), payer
    # and provider - tasks, the dollars they moved, and remittances' posting lag (days summed, remittances)
    "productivity": ((("day", "date"), ("person", "text"), ("activity", "text"), ("category", "text"),
                      ("payer_id", "text"), ("rendering_npi", "text")), ("tasks", "cents", "lag_days", "lag_n")),
    # claims per payer and payment lag (days from first submission to first adjudication, claim_status's
    # payment_lag_days): the follow-up worklist's per-payer percentile reads these few hundred rows, not every claim
    "payment_lags": ((("payer_id", "text"), ("lag_days", "int")), ("claims",)),
}
# Per-provider daily changes of status_summary and dos_summary are not stored: each is a view of the claims'
# intervals (projections/intervals.py, schema.derived_select), every interval adding its contribution on the day it
# begins and taking it back on the day it ends. Their sums over providers ("<name>_all") are tables the page writer
# keeps: a report over every provider reads a few rows per day; one provider's rows are found by an index.
DERIVED = ("status_daily", "dos_daily")
# Tables of changes: per day and provider (and finer), the keys a page changes are nearly all new ones (the next day,
# another provider), so each page appends its rows - summed per key over the page - without looking for a row to add
# to: a key may hold a few rows (one per page that changed it), and readers sum them. No unique key to check, an
# index on (provider, day) to read by: a third of an upsert's work. -> the column its index reads after the provider
DELTAS = {"productivity": "day", "ar_daily": "effective_on", "cash_daily": "day", "kpi_daily": "day",
          "denial_stats": "day"}
DENIAL_STATS_KEYS = ("day", "payer_id", "rendering_npi", "carc_group", "category")
STAT_COLUMNS = ("adjudicated", "adjudicated_cents", "denied", "denied_cents", "denied_lines_cents", "rejected",
                "appealed", "decided", "overturned")
# Kept again summed over every provider, as "<name>_all" (the same keys but rendering_npi), by the page writer in the
# same transaction: a report or panel over all providers reads these rows instead of one row per provider (the
# million-claim bench has 515 providers). Reading the table itself is right when it filters or groups by provider.
PER_PROVIDER = ("status_summary", "dos_summary", "kpi_counters", "ar_daily", "denial_carcs", "cash_daily",
                "status_daily", "dos_daily", "kpi_daily", "denial_stats")
# name -> the key columns its "<name>_all" sums over: productivity is summed over payers too (who did what, whoever
# the payer: its panel reads a row per person and day)
SUMMED_OVER = {**{name: ("rendering_npi",) for name in PER_PROVIDER}, "productivity": ("payer_id", "rendering_npi")}
# Per day and person, what the productivity panel shows, summed from productivity over activities, categories,
# payers and providers (metric -> its SQL over productivity's columns): the panel over all payers and providers reads
# a row per person and day (some 100,000 for a million claims' six months) instead of one per task kind.
PERSON_DAYS = {
    "worked": f"sum(CASE WHEN activity <> '{DENIAL_ON_CODING}' THEN tasks ELSE 0 END)",
    "coded": "sum(CASE WHEN activity = 'coded' THEN tasks ELSE 0 END)",
    "submitted": "sum(CASE WHEN activity = 'submitted' THEN tasks ELSE 0 END)",
    "posted": "sum(CASE WHEN activity IN ('payment posted', 'denial posted') THEN tasks ELSE 0 END)",
    "paid_cents": "sum(CASE WHEN activity = 'payment posted' THEN cents ELSE 0 END)",
    "lag_days": "sum(lag_days)", "lag_n": "sum(lag_n)",
    "appealed": "sum(CASE WHEN activity = 'appealed' THEN tasks ELSE 0 END)",
    "denials": f"sum(CASE WHEN activity = '{DENIAL_ON_CODING}' THEN tasks ELSE 0 END)",
}
DENIAL_STATS = (tuple((k, "date" if k == "day" else "text") for k in DENIAL_STATS_KEYS), STAT_COLUMNS)
ALL_PROVIDERS = {f"{name}_all": (tuple(key for key in keys if key[0] not in over), metrics)
                 for name, over in SUMMED_OVER.items() for keys, metrics in [SUMMARIES.get(name, DENIAL_STATS)]}
TYPES = {"sqlite": {"date": "TEXT", "bool": "INTEGER"}, "postgresql": {"date": "DATE", "bool": "BOOLEAN"}}
BOOLS = ("clean", "initially_denied", "first_pass_resolved")


def provider_first(keys: Sequence[str]) -> list[str]:
    """A summary's primary key with the rendering provider first: one provider's rows are one index range (and the
    "<name>_by_provider" view's lookup of the all-providers marker in the per-provider table finds nothing at once)."""
    return sorted(keys, key=lambda k: k != "rendering_npi")


class ViewTables:
    """The tables of one set of views in the ledger's database; `tracking` is eventsourcing's tracking recorder
    there. A `suffix` names a second set, built beside the live one by a rebuild."""

    def __init__(self, tracking: Any, dialect: str, suffix: str = "") -> None:
        self.tracking, self.dialect, self.suffix = tracking, dialect, suffix
        db_schema = getattr(tracking.datastore, "schema", "") if dialect == "postgresql" else ""
        self.prefix = f"{db_schema}." if db_schema else ""
        self.db_schema = db_schema or "public"
        self.bare = {name: f"{name}{suffix}" for name in ("claim_status", "claim_intervals", "ar_log", "denial_stats",
                                                          *SUMMARIES, *ALL_PROVIDERS, "person_days", *BANKING)}
        self.t = {name: f"{self.prefix}{bare}" for name, bare in self.bare.items()}
        self.kpis, self.ar_open = f"{self.prefix}kpis", f"{self.prefix}ar_open"
        self.carc_codes = f"{self.prefix}carc_codes"  # reference data the dashboards join: CARC -> description
        self.reconciliation = f"{self.prefix}deposit_reconciliation"

    def person_days_from(self, source: str) -> str:
        """The statement adding `source`'s productivity rows to person_days (PERSON_DAYS), per day and person."""
        table, metrics = self.t["person_days"], list(PERSON_DAYS)
        return (f"INSERT INTO {table} (day, person, {', '.join(metrics)}) SELECT day, person, "
                f"{', '.join(PERSON_DAYS.values())} FROM {source} WHERE 1 = 1 GROUP BY day, person ORDER BY day, person "
                f"ON CONFLICT (day, person) DO UPDATE SET "
                f"{', '.join(f'{m} = {table}.{m} + excluded.{m}' for m in metrics)}")

    def tracking_table(self) -> str:
        name = getattr(self.tracking, "tracking_table_name", "tracking")
        schema = getattr(self.tracking.datastore, "schema", None)
        return f"{schema}.{name}" if self.dialect == "postgresql" and schema else name

    def tracking_name(self, view: str) -> str:
        return f"rcm/{view}{self.suffix}"

    def position(self) -> int:
        positions = [self.tracking.max_tracking_id(self.tracking_name(v)) or 0 for v in VIEW_NAMES]
        return min(positions)

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def transaction(self, commit: bool = True) -> Any:
        return self.tracking.datastore.transaction(commit=commit)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction(commit=False) as c:
            c.execute(self.sql(statement), list(params))
            return [dict(row) for row in c.fetchall()]


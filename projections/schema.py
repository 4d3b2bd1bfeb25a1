"""The views' schema: tables, indexes and the SQL views for KPIs and open A/R over them; creating them (and
noticing tables an earlier release left behind), granting the roles, and a rebuild's switch to fresh tables."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from projections import deposits
from projections.code_lists import code_list
from projections.facts import COLUMNS, DATES
from projections.intervals import DAILY, INTERVAL_SUMMARIES, summary_sql
from projections.tables import (ALL_PROVIDERS, BOOLS, DELTAS, DENIAL_STATS, DENIAL_STATS_KEYS, DERIVED, KPI_COUNTERS,
                                PER_PROVIDER, STAT_COLUMNS, PERSON_DAYS, SUMMARIES, TYPES, VIEW_NAMES, ViewTables,
                                provider_first)

READER = "rcm_grafana"
ALL = "*"  # rendering_npi of the all-providers rows in the "<name>_by_provider" views
# (cursor, schema, names of the relations made): grants the roles their privileges on them (infra/store/grants.py)
Grant = Callable[[Any, str, Sequence[str]], Any]


class ViewsNotSetUp(Exception):
    """The read models are missing or outdated and this role (not their owner) may not create or change them."""


def column_type(name: str, dialect: str) -> str:
    if name in DATES:
        return TYPES[dialect]["date"]
    if name in BOOLS:
        return TYPES[dialect]["bool"]
    if name in ("claim_id", "claim_number", "billing_npi", "rendering_npi", "payer_id", "payer_class", "status",
                "last_carcs", "denial_category", "allowances", "line_charges", "coded_by"):
        return "TEXT"
    return "BIGINT"


def days(later: str, earlier: str, dialect: str) -> str:
    if dialect == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    return f"({later} - {earlier})"


# the claims a worklist lists, by status (projections/worklists.py): partial indexes hold only them
UNBILLED = ("coded", "scrub_failed", "ready")
NOT_YET_ACCEPTED = (*UNBILLED, "submitted", "rejected")
WAITING = ("submitted", "accepted")  # for the payer's answer


def listed(statuses: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


def indexes(bare: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(name, table, columns, predicate: a partial index's WHERE, or ""). The partial ones hold only the claims a
    worklist or panel lists, in its order (projections/worklists.py, dashboards/), so that it reads a few index
    entries instead of every claim; a claim's update writes to them only while it is in their set."""
    cs, ar, ci = bare["claim_status"], bare["ar_log"], bare["claim_intervals"]
    return [(f"{cs}_status", cs, "status, payer_id", ""), (f"{cs}_dos", cs, "dos", ""),
            (f"{ar}_day", ar, "effective_on", ""),
            # one provider's intervals, for its daily changes (tables.DERIVED); the all-providers marker finds none
            (f"{ci}_provider", ci, "rendering_npi, valid_from", ""),
            # unbilled (by date of service, balance) and timely filing (the oldest dates of service)
            (f"{cs}_unsent", cs, "dos, payer_balance DESC, claim_number", f"status IN {listed(NOT_YET_ACCEPTED)}"),
            # follow-up: waiting claims submitted before the smallest N days
            (f"{cs}_waiting", cs, "last_submitted_on", f"status IN {listed(WAITING)}"),
            # open A/R (the ar_open view's rows) oldest first; a payer or provider filter is checked in the index
            (f"{cs}_open", cs, "dos, claim_number, payer_id, rendering_npi",
             "payer_balance <> 0 OR patient_balance <> 0"),
            # the tables of changes (tables.DELTAS): one provider's days
            *((f"{bare[name]}_provider_day", bare[name], f"rendering_npi, {day}", "") for name, day in DELTAS.items())]


def twin_of(name: str) -> str:
    """The table a "<name>_all" table sums."""
    return name[:-len("_all")]


def derived_select(t: dict[str, str], name: str, dialect: str) -> str:
    """A per-provider daily table of tables.DERIVED as a view of claim_intervals, in its table's columns: each
    interval adds its contribution (intervals.INTERVAL_SUMMARIES) on the day it begins and takes it back on the day
    it ends, so that summed over the days up to D they give the summary as of D."""
    summary = next(live for live, daily in DAILY.items() if daily == name)
    keys, metrics, voided_too = INTERVAL_SUMMARIES[summary]
    picked = ", ".join(f"{summary_sql(k, dialect)} AS {k}" for k in keys)
    counted = "" if voided_too else " AND status <> 'voided'"
    added = ", ".join(f"{summary_sql(expression, dialect)} AS {m}" for m, expression in metrics.items())
    taken = ", ".join(f"-({summary_sql(expression, dialect)}) AS {m}" for m, expression in metrics.items())
    return (f"SELECT valid_from AS day, {picked}, {added} FROM {t['claim_intervals']} WHERE 1 = 1{counted} "
            f"UNION ALL SELECT valid_to AS day, {picked}, {taken} FROM {t['claim_intervals']} "
            f"WHERE valid_to IS NOT NULL{counted}")


def by_provider_select(t: dict[str, str], name: str) -> str:
    """`<name>_by_provider`: the table's rows per provider and, under rendering_npi '*', its sum over all providers
    ("<name>_all"): a dashboard panel filters `rendering_npi IN (${provider:sqlstring})`, and All ('*', the
    variable's custom all value) reads the few summed rows."""
    keys, metrics = ALL_PROVIDERS[f"{name}_all"]
    columns = ", ".join([k for k, _ in keys] + list(metrics))
    return (f"SELECT CAST('{ALL}' AS TEXT) AS rendering_npi, {columns} FROM {t[f'{name}_all']} "
            f"UNION ALL SELECT rendering_npi, {columns} FROM {t[name]}")


# A page closes most of the open intervals it finds (their valid_to, which no index holds, set): with room left on
# each heap page the new row version stays beside the old one, and neither index is written again (a "HOT" update).
FILLFACTOR = 85
HOT = f" WITH (fillfactor = {FILLFACTOR})"


class ViewSchema:
    """Creates, drops and switches the tables of `tables`; `incomplete` names those `create` found behind."""

    def __init__(self, tables: ViewTables, grant: Grant | None = None) -> None:
        self.tables, self.grant = tables, grant
        self.incomplete: list[str] = []

    def create(self) -> None:
        tables, dialect = self.tables, self.tables.dialect
        cs, ar = tables.t["claim_status"], tables.t["ar_log"]
        d = TYPES[dialect]["date"]
        columns = ", ".join(f"{c} {column_type(c, dialect)}" for c in COLUMNS)
        absent = [name for name, table in tables.t.items() if name not in DERIVED and not self.exists(table)]
        outdated = [name for name in tables.t if name not in absent and self.outdated(name)]
        missing = absent + outdated
        unmade = [name for name in DERIVED if self.kind(tables.t[name]) != "VIEW"]  # (views: no data to miss)
        self.incomplete = []
        if not self.may_create():
            keyed = [name for name in DELTAS if name not in missing and self.primary_key(tables.t[name])]
            if missing or unmade or keyed:  # (a keyed table of changes would refuse a page's second row of a key)
                raise ViewsNotSetUp(
                    f"the read models {', '.join(missing + unmade + keyed)} in schema {tables.db_schema} are missing "
                    f"or outdated and this role may not create them: their owner (rcm) runs `rcm db grant` (or "
                    f"`rcm projections rebuild`) first")
            return  # the owner's tables, as they are
        with tables.transaction() as c:
            self.unkey_deltas(c, [name for name in DELTAS if name not in missing])
            self.make_room(c)
            for statement in (
                f"CREATE TABLE IF NOT EXISTS {cs} ({columns}, PRIMARY KEY (claim_id))",
                f"CREATE TABLE IF NOT EXISTS {ar} (claim_id TEXT NOT NULL, seq BIGINT NOT NULL,"
                f" effective_on {d} NOT NULL, responsibility TEXT NOT NULL, delta_cents BIGINT NOT NULL,"
                f" PRIMARY KEY (claim_id, seq, responsibility))",
                f"CREATE TABLE IF NOT EXISTS {tables.t['claim_intervals']} (claim_id TEXT NOT NULL,"
                f" valid_from {d} NOT NULL, valid_to {d}, status TEXT, payer_id TEXT, rendering_npi TEXT, dos {d},"
                f" billed BIGINT NOT NULL, payer_balance BIGINT NOT NULL, patient_balance BIGINT NOT NULL,"
                f" PRIMARY KEY (claim_id, valid_from)){HOT if dialect == 'postgresql' else ''}",
                self.denial_stats_statement(),
                *(self.summary_statement(name) for name in (*SUMMARIES, *ALL_PROVIDERS) if name not in DERIVED),
                *self.index_statements(tables.bare),
                f"CREATE TABLE IF NOT EXISTS {tables.t['person_days']} (day {d} NOT NULL, person TEXT NOT NULL, "
                f"{', '.join(f'{m} BIGINT NOT NULL DEFAULT 0' for m in PERSON_DAYS)}, PRIMARY KEY (day, person))",
                *deposits.create_statements(tables.t, d),
            ):
                c.execute(statement)
            if unmade:
                self.create_derived(c)
            if not tables.suffix:
                self.fill_carc_codes(c)
            for twin in [name for name in missing if name in ALL_PROVIDERS and twin_of(name) not in missing]:
                self.sum_twin(c, twin)  # a newer release's sum over providers of a table kept all along: summed now
                missing.remove(twin)
            if "person_days" in missing and "productivity" not in missing:
                c.execute(tables.person_days_from(tables.t["productivity"]))
                missing.remove("person_days")
            if "payment_lags" in missing and "claim_status" not in missing:
                c.execute(self.payment_lags_from_claims())  # a release added it: counted from the claims kept all along
                missing.remove("payment_lags")
            if not tables.suffix and not outdated:  # (an outdated table gets its views when `rebuild` replaces it)
                for statement in self.view_statements():
                    c.execute(statement)
            self.grant_roles(c)
        if missing and len(absent) < len(tables.t) and tables.position() > 0:
            # tables a newer release added or changed, behind a position the older tables already reached
            self.incomplete = missing

    def primary_key(self, table: str, c: Any = None) -> str | None:
        """The name of `table`'s primary key (SQLite: its first column), or None: it has none."""
        if self.tables.dialect == "sqlite":
            statement, params = f"SELECT name FROM pragma_table_info('{table}') WHERE pk > 0", []
        else:
            statement = "SELECT conname AS name FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'"
            params = [table]
        row = self.first_row(statement, params, c)
        return None if row is None else str(row["name"] if not isinstance(row, tuple) else row[0])

    def first_row(self, statement: str, params: list[Any], c: Any = None, tables: ViewTables | None = None) -> Any:
        """The statement's first row or None, read with cursor `c` if given (inside its transaction)."""
        if c is None:
            rows = (tables or self.tables).query(statement, params)
            return rows[0] if rows else None
        c.execute(statement, params)
        return c.fetchone()

    def unkey_deltas(self, c: Any, names: list[str]) -> None:
        """The tables of changes `names` (tables.DELTAS, present and up to date) an earlier release made with a
        primary key, made again without it, rows kept: PostgreSQL drops the constraint; SQLite copies the rows into
        the table made anew, the views over it dropped first (`view_statements` makes them again; a rebuild's
        tables have none)."""
        for name in names:
            table = self.tables.t[name]
            key = self.primary_key(table, c)
            if key is None:
                continue
            if self.tables.dialect == "postgresql":
                c.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{key}"')
                continue
            if not self.tables.suffix:
                for view in (*self.by_provider_views(), self.tables.kpis):
                    c.execute(f"DROP VIEW IF EXISTS {view}")
            keys, metrics = SUMMARIES[name] if name in SUMMARIES else DENIAL_STATS
            columns = ", ".join([*(k for k, _ in keys), *metrics])
            c.execute(f"ALTER TABLE {table} RENAME TO {self.tables.bare[name]}_keyed")
            c.execute(self.summary_statement(name) if name in SUMMARIES else self.denial_stats_statement())
            c.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {self.tables.bare[name]}_keyed")
            c.execute(f"DROP TABLE {self.tables.bare[name]}_keyed")

    def make_room(self, c: Any) -> None:
        """claim_intervals made by an earlier release, its heap pages filled up: room left on the pages written from
        now on (HOT; PostgreSQL only)."""
        if self.tables.dialect != "postgresql":
            return
        row = self.first_row("SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)",
                             [self.tables.t["claim_intervals"]], c)
        if row is not None and f"fillfactor={FILLFACTOR}" not in (row["reloptions"] or []):
            c.execute(f"ALTER TABLE {self.tables.t['claim_intervals']} SET (fillfactor = {FILLFACTOR})")

    def create_derived(self, c: Any) -> None:
        """The views of tables.DERIVED over claim_intervals; a table of that name an earlier release kept is dropped
        first (the intervals hold what it held: nothing to project again)."""
        self.drop_derived(c, self.tables)
        for name in DERIVED:
            c.execute(f"CREATE VIEW {self.tables.t[name]} AS {derived_select(self.tables.t, name, self.tables.dialect)}")

    def drop_derived(self, c: Any, tables: ViewTables) -> None:
        """Drops the relations of tables.DERIVED, views or (made by an earlier release) tables, with the views over
        them (PostgreSQL: the "<name>_by_provider" ones, which `view_statements` makes again)."""
        for name in DERIVED:
            kind = self.kind(tables.t[name], c, tables)
            if kind is not None:
                c.execute(f"DROP {kind} {tables.t[name]}{' CASCADE' if tables.dialect == 'postgresql' else ''}")

    def kind(self, relation: str, c: Any = None, tables: ViewTables | None = None) -> str | None:
        """TABLE, VIEW or None (no such relation), read with cursor `c` if given (inside its transaction)."""
        tables = tables or self.tables
        if tables.dialect == "sqlite":
            statement, params = "SELECT type AS kind FROM sqlite_master WHERE name = ?", [relation]
        else:
            statement = ("SELECT CASE relkind WHEN 'v' THEN 'view' ELSE 'table' END AS kind FROM pg_class "
                         "WHERE oid = to_regclass(%s)")
            params = [relation]
        row = self.first_row(statement, params, c, tables)
        return None if row is None else str(row["kind"] if not isinstance(row, tuple) else row[0]).upper()

    def sum_twin(self, c: Any, twin: str) -> None:
        keys, metrics = ALL_PROVIDERS[twin]
        names = ", ".join(k for k, _ in keys)
        c.execute(f"INSERT INTO {self.tables.t[twin]} ({names}, {', '.join(metrics)}) SELECT {names}, "
                  f"{', '.join(f'sum({m})' for m in metrics)} FROM {self.tables.t[twin_of(twin)]} GROUP BY {names}")

    def payment_lags_from_claims(self) -> str:
        """payment_lags as the claims' contributions sum up (facts.contribution): every claim with a payment lag."""
        t = self.tables.t
        return (f"INSERT INTO {t['payment_lags']} (payer_id, lag_days, claims) SELECT payer_id, payment_lag_days, "
                f"count(*) FROM {t['claim_status']} WHERE payment_lag_days IS NOT NULL GROUP BY payer_id, "
                "payment_lag_days")

    def fill_carc_codes(self, c: Any) -> None:
        """The CARC descriptions the dashboards show beside each code (reference data, the same for every ledger)."""
        codes = sorted(code_list("carc").items())
        c.execute(f"CREATE TABLE IF NOT EXISTS {self.tables.carc_codes} "
                  "(carc TEXT PRIMARY KEY, description TEXT NOT NULL)")
        c.execute(f"SELECT count(*) AS n FROM {self.tables.carc_codes}")
        row = c.fetchone()
        if (row["n"] if isinstance(row, dict) else row[0]) == len(codes):
            return
        mark = "?" if self.tables.dialect == "sqlite" else "%s"
        conflict = "OR IGNORE " if self.tables.dialect == "sqlite" else ""
        tail = "" if self.tables.dialect == "sqlite" else " ON CONFLICT (carc) DO NOTHING"
        c.executemany(f"INSERT {conflict}INTO {self.tables.carc_codes} (carc, description) "
                      f"VALUES ({mark}, {mark}){tail}", codes)

    def exists(self, table: str) -> bool:
        if self.tables.dialect == "sqlite":
            return bool(self.tables.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [table]))
        return self.tables.query("SELECT to_regclass(?) IS NOT NULL AS present", [table])[0]["present"]

    def outdated(self, name: str) -> bool:
        """A table an earlier release made without columns this release writes (rebuilt, never half-filled)."""
        wanted = {"claim_status": COLUMNS, "denial_stats": [*DENIAL_STATS_KEYS, *STAT_COLUMNS],
                  "person_days": ["day", "person", *PERSON_DAYS],
                  **{k: [c for c, _ in keys] + list(m) for k, (keys, m) in {**SUMMARIES, **ALL_PROVIDERS}.items()}}
        if name not in wanted or name in DERIVED:
            return False
        bare = self.tables.bare[name]
        if self.tables.dialect == "sqlite":
            have = {r["name"] for r in self.tables.query(f"SELECT name FROM pragma_table_info('{bare}')")}
        else:
            have = {r["name"] for r in self.tables.query(
                "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [self.tables.db_schema, bare])}
        return bool(set(wanted[name]) - have)

    def suffixes(self, start: str) -> list[str]:
        """The suffixes, beginning with `start`, of other sets of these tables (`claim_status<suffix>`)."""
        if self.tables.dialect == "sqlite":
            rows = self.tables.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.tables.query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?",
                                     [self.tables.db_schema])
        head = "claim_status" + start
        return sorted(r["name"][len("claim_status"):] for r in rows if r["name"].startswith(head))

    def may_create(self) -> bool:
        """Whether this role may create tables in the views' schema (on PostgreSQL only the owner may)."""
        if self.tables.dialect == "sqlite":
            return True
        return self.tables.query("SELECT has_schema_privilege(?, 'CREATE') AS may", [self.tables.db_schema])[0]["may"]

    def grant_roles(self, c: Any) -> None:
        """The roles' privileges on the tables and views made here: the projector writes them, Grafana's role reads
        them (never the events); by the one grant path the composition root gives."""
        if self.grant is None or self.tables.dialect != "postgresql":
            return
        tables = self.tables
        self.grant(c, tables.db_schema, [*tables.bare.values(), *([] if tables.suffix else [
            "kpis", "ar_open", "carc_codes", "deposit_reconciliation", *(f"{n}_by_provider" for n in PER_PROVIDER)])])

    def by_provider_views(self) -> list[str]:
        return [f"{self.tables.prefix}{name}_by_provider" for name in PER_PROVIDER]

    def summary_statement(self, name: str) -> str:
        keys, metrics = SUMMARIES[name] if name in SUMMARIES else ALL_PROVIDERS[name]
        date_type = TYPES[self.tables.dialect]["date"]
        key_sql = ", ".join(f"{k} {date_type if t == 'date' else 'BIGINT' if t == 'int' else 'TEXT'} NOT NULL"
                            for k, t in keys)
        metric_sql = ", ".join(f"{m} BIGINT NOT NULL DEFAULT 0" for m in metrics)
        unique = "" if name in DELTAS else f", PRIMARY KEY ({', '.join(provider_first([k for k, _ in keys]))})"
        return f"CREATE TABLE IF NOT EXISTS {self.tables.t[name]} ({key_sql}, {metric_sql}{unique})"

    def denial_stats_statement(self) -> str:
        stats = ", ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in STAT_COLUMNS)
        return (f"CREATE TABLE IF NOT EXISTS {self.tables.t['denial_stats']} (day {TYPES[self.tables.dialect]['date']} "
                f"NOT NULL, payer_id TEXT NOT NULL, rendering_npi TEXT NOT NULL, carc_group TEXT NOT NULL, "
                f"category TEXT NOT NULL, {stats})")

    def index_statements(self, bare: dict[str, str]) -> list[str]:
        return [f"CREATE INDEX IF NOT EXISTS {name} ON {self.tables.prefix}{table} ({columns})"
                f"{f' WHERE {predicate}' if predicate else ''}" for name, table, columns, predicate in indexes(bare)]

    def view_statements(self) -> list[str]:
        cs, kpis, ar_open = self.tables.t["claim_status"], self.tables.kpis, self.tables.ar_open
        today = "date('now')" if self.tables.dialect == "sqlite" else "CURRENT_DATE"
        drop = "DROP VIEW IF EXISTS"
        reconciliation = self.tables.reconciliation
        by_provider = [f"{self.tables.prefix}{name}_by_provider" for name in PER_PROVIDER]
        return [
            f"{drop} {kpis}", f"{drop} {ar_open}", f"{drop} {reconciliation}", *(f"{drop} {v}" for v in by_provider),
            *(f"CREATE VIEW {view} AS {by_provider_select(self.tables.t, name)}"
              for view, name in zip(by_provider, PER_PROVIDER)),
            f"CREATE VIEW {reconciliation} AS {deposits.reconciliation_select(self.tables.t, self.tables.dialect)}",
            f"CREATE VIEW {ar_open} AS SELECT claim_id, claim_number, payer_id, billing_npi, rendering_npi, 'payer' AS "
            f"responsibility, payer_balance AS balance_cents, dos, first_submitted_on AS since FROM {cs} "
            f"WHERE payer_balance <> 0 UNION ALL SELECT claim_id, claim_number, payer_id, billing_npi, rendering_npi, "
            f"'patient', patient_balance, dos, patient_since FROM {cs} WHERE patient_balance <> 0",
            f"CREATE VIEW {kpis} AS {self.kpi_select(today)}",
        ]

    def kpi_select(self, today: str, by: str | None = None, cut: bool = False) -> str:
        """The KPI formulas (docs/domain.md §5, README "KPIs") over these tables, for the practice or one row per payer
        or rendering provider (`by`); `today` is the SQL for the day A/R is aged to. `cut`: of the history cut at
        that day (business time), from the daily tables (projections/intervals.py) summed up to it."""
        t, dialect = self.tables.t, self.tables.dialect
        # per provider when grouped by provider, else summed over providers ("<name>_all")
        each = (lambda name: t[name]) if by == "provider" else (lambda name: t[f"{name}_all"])
        k_from, ar_from, ap_from = each("kpi_counters"), each("dos_summary"), t["denial_stats_all"]
        if cut:
            k_from = f"{each('kpi_daily')} WHERE day <= {today}"
            ar_from = f"{each('dos_daily')} WHERE day <= {today}"
            ap_from = f"{t['denial_stats_all']} WHERE day <= {today}"
        ratio = (lambda a, b: f"(CAST({a} AS REAL) / NULLIF({b}, 0))") if dialect == "sqlite" else \
            (lambda a, b: f"(CAST({a} AS DOUBLE PRECISION) / NULLIF({b}, 0))")
        group = {None: "'all'", "payer": "payer_id", "provider": "rendering_npi"}[by]
        # appeals are counted per payer only: no overturn rate per provider
        appeals = "NULL" if by == "provider" else ratio("ap.overturned", "ap.decided")
        return f"""
WITH k AS (SELECT {group} AS grp, {', '.join(f'sum({m}) AS {m}' for m in KPI_COUNTERS)}
           FROM {k_from} GROUP BY 1),
ar AS (SELECT {group} AS grp, sum(open_balance) AS total, sum(credit_balance) AS credits,
              sum(CASE WHEN {days(today, 'dos', dialect)} > 90 THEN open_balance ELSE 0 END) AS over90,
              sum(CASE WHEN {days(today, 'dos', dialect)} < 90 THEN billed ELSE 0 END) AS charges90
       FROM {ar_from} GROUP BY 1),
ap AS (SELECT {"'all'" if by is None else "payer_id"} AS grp, sum(decided) AS decided, sum(overturned) AS overturned
       FROM {ap_from} GROUP BY 1),
g AS ({"SELECT 'all' AS grp" if by is None else "SELECT grp FROM k UNION SELECT grp FROM ar"})
SELECT {'' if by is None else 'g.grp AS grp, '}{ratio('k.clean', 'k.submitted')} AS clean_claim_rate,
       {ratio('k.rejected', 'k.submitted')} AS rejection_rate,
       {ratio('k.initially_denied', 'k.adjudicated')} AS initial_denial_rate,
       {ratio('k.denied_billed', 'k.adjudicated_billed')} AS initial_denial_rate_dollars,
       {ratio('k.first_pass', 'k.adjudicated')} AS first_pass_resolution_rate,
       {ratio('ar.total', 'ar.charges90')} * 90 AS days_in_ar,
       {ratio('ar.over90', 'ar.total')} AS ar_over_90_share,
       {ratio('k.collected', 'k.net')} AS net_collection_rate,
       {appeals} AS appeal_overturn_rate,
       {ratio('k.days_to_bill_sum', 'k.days_to_bill_n')} AS days_to_bill,
       {ratio('k.lag_sum', 'k.lag_n')} AS payment_lag_days,
       k.submitted AS claims_submitted, k.adjudicated AS claims_adjudicated, ar.total AS ar_cents,
       ar.credits AS credit_cents
FROM g LEFT JOIN k ON k.grp = g.grp LEFT JOIN ar ON ar.grp = g.grp
LEFT JOIN ap ON ap.grp = g.grp{'' if by is None else ' ORDER BY 1'}"""

    def drop(self) -> None:
        tables = self.tables
        with tables.transaction() as c:
            if not tables.suffix:  # the SQL views over the live tables first: they depend on them
                for view in (tables.kpis, tables.ar_open, tables.reconciliation, *self.by_provider_views()):
                    c.execute(f"DROP VIEW IF EXISTS {view}")
            self.drop_derived(c, tables)
            for name, table in tables.t.items():
                if name not in DERIVED:
                    c.execute(f"DROP TABLE IF EXISTS {table}")
            for view in VIEW_NAMES:
                c.execute(tables.sql(f"DELETE FROM {tables.tracking_table()} WHERE application_name = ?"),
                          [tables.tracking_name(view)])

    def replace_with(self, fresh: ViewTables) -> None:
        """Switches readers to freshly built tables in one transaction (the KPI views are rebuilt on them)."""
        self.incomplete = []
        live = self.tables
        table = live.tracking_table()
        with live.transaction() as c:
            for view in (live.kpis, live.ar_open, live.reconciliation, *self.by_provider_views()):
                c.execute(f"DROP VIEW IF EXISTS {view}")
            self.drop_derived(c, live)
            self.drop_derived(c, fresh)  # (views of the fresh tables: made again over them once renamed)
            for name, live_table in live.t.items():
                if name not in DERIVED:
                    c.execute(f"DROP TABLE IF EXISTS {live_table}")
            for name, *_ in indexes(fresh.bare):
                c.execute(f"DROP INDEX IF EXISTS {live.prefix}{name}")
            for name, live_bare in live.bare.items():
                if name in DERIVED:
                    continue
                c.execute(f"ALTER TABLE {fresh.t[name]} RENAME TO {live_bare}")
                if live.dialect == "postgresql" and name not in DELTAS:
                    c.execute(f"ALTER INDEX {live.prefix}{fresh.bare[name]}_pkey RENAME TO {live_bare}_pkey")
            self.create_derived(c)
            for statement in (*self.index_statements(live.bare), *self.view_statements()):
                c.execute(statement)
            self.grant_roles(c)
            for view in VIEW_NAMES:
                c.execute(live.sql(f"DELETE FROM {table} WHERE application_name = ?"), [live.tracking_name(view)])
                c.execute(live.sql(f"UPDATE {table} SET application_name = ? WHERE application_name = ?"),
                          [live.tracking_name(view), fresh.tracking_name(view)])

"""The claim read models as tables (claim_status, ar_log, denial_stats) plus SQL views for KPIs and A/R.

A page of events is folded in Python first (projections/facts.py), then its rows and the tracking
position of each view are written in one transaction: a crash leaves the views at the previous page,
and a second runner on the same views fails its tracking insert instead of counting twice. Money is
stored in integer cents, exact on both SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from itertools import islice
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from projections.facts import CASH, COLUMNS, DATES, Effects, fold, is_ignored, new_facts, summaries

VIEW_NAMES = ("claim_status", "ar", "denials")
KPI_COUNTERS = ("submitted", "clean", "rejected", "days_to_bill_n", "days_to_bill_sum", "adjudicated",
                "initially_denied", "adjudicated_billed", "denied_billed", "first_pass", "lag_n", "lag_sum",
                "collected", "net")
# Summary tables kept by adding each claim's (after - before) contribution: reports at a million claims
# read a few thousand rows instead of scanning every claim. name -> (key columns, metric columns)
SUMMARIES = {
    "status_summary": ((("status", "text"), ("payer_id", "text"), ("rendering_npi", "text")),
                       ("claims", "billed", "payer_balance", "patient_balance")),
    "dos_summary": ((("dos", "date"), ("payer_id", "text")), ("claims", "billed", "payer_balance", "patient_balance")),
    "kpi_counters": ((("payer_id", "text"),), KPI_COUNTERS),
    "ar_daily": ((("effective_on", "date"), ("dos", "date"), ("payer_id", "text"), ("responsibility", "text")),
                 ("delta_cents",)),
    # denial adjustments by reason: per adjudication day, payer and CARC, how many remittances carried it
    # (on a denied claim or on denied lines of a paid one), its dollars, and how many were claim denials
    "denial_carcs": ((("day", "date"), ("payer_id", "text"), ("carc_group", "text"), ("carc", "text")),
                     ("remittances", "cents", "denied_claims")),
    # money moved per effective day and payer (cents): charges billed, payer and patient payments, contractual
    # and other adjustments, write-offs - charges and payments over time, and the cash journal's totals
    "cash_daily": ((("day", "date"), ("payer_id", "text")), CASH),
}
STAT_COLUMNS = ("adjudicated", "adjudicated_cents", "denied", "denied_cents", "denied_lines_cents", "rejected",
                "appealed", "decided", "overturned")
TYPES = {"sqlite": {"date": "TEXT", "bool": "INTEGER"}, "postgresql": {"date": "DATE", "bool": "BOOLEAN"}}
BOOLS = ("clean", "initially_denied", "first_pass_resolved")


READER = "rcm_grafana"


class ConcurrentRunner(Exception):
    """Another runner advanced these views first; this page was not written."""


def column_type(name: str, dialect: str) -> str:
    if name in DATES:
        return TYPES[dialect]["date"]
    if name in BOOLS:
        return TYPES[dialect]["bool"]
    if name in ("claim_id", "claim_number", "billing_npi", "rendering_npi", "payer_id", "payer_class", "status",
                "last_carcs", "denial_category"):
        return "TEXT"
    return "BIGINT"


def days(later: str, earlier: str, dialect: str) -> str:
    if dialect == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    return f"({later} - {earlier})"


def order(item: tuple[tuple[Any, ...], Any]) -> tuple[str, ...]:
    return tuple(str(k) for k in item[0])


def add(totals: dict[str, dict[tuple[Any, ...], dict[str, int]]],
        contribution: dict[str, dict[tuple[Any, ...], dict[str, int]]], sign: int) -> None:
    for name, rows in contribution.items():
        for key, metrics in rows.items():
            row = totals[name].setdefault(key, {})
            for metric, value in metrics.items():
                row[metric] = row.get(metric, 0) + sign * value


class ClaimViews:
    """Owns the view tables in the ledger's database; `tracking` is eventsourcing's tracking recorder there."""

    def __init__(self, tracking: Any, dialect: str, suffix: str = "") -> None:
        self.tracking, self.dialect, self.suffix = tracking, dialect, suffix
        schema = getattr(tracking.datastore, "schema", "") if dialect == "postgresql" else ""
        self.prefix = f"{schema}." if schema else ""
        self.schema = schema or "public"
        self.bare = {name: f"{name}{suffix}" for name in ("claim_status", "ar_log", "denial_stats", *SUMMARIES)}
        self.t = {name: f"{self.prefix}{bare}" for name, bare in self.bare.items()}
        self.kpis, self.ar_open = f"{self.prefix}kpis", f"{self.prefix}ar_open"
        self.incomplete: list[str] = []
        self.cache: dict[str, dict[str, Any]] | None = None
        self.cache_limit, self.cached_at = 0, -1  # cached_at: the position the cached facts stand at

    # ---- schema ----

    def create(self) -> None:
        cs, ar, ds = self.t["claim_status"], self.t["ar_log"], self.t["denial_stats"]
        d = TYPES[self.dialect]["date"]
        columns = ", ".join(f"{c} {column_type(c, self.dialect)}" for c in COLUMNS)
        stats = ", ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in STAT_COLUMNS)
        missing = [name for name, table in self.t.items() if not self.exists(table)]
        lacking = [] if "claim_status" in missing else [c for c in COLUMNS if c not in self.columns("claim_status")]
        self.incomplete = []
        with self.transaction() as c:
            for column in lacking:  # a column a newer release added: empty for the claims folded before
                c.execute(f"ALTER TABLE {cs} ADD COLUMN {column} {column_type(column, self.dialect)}")
            for statement in (
                f"CREATE TABLE IF NOT EXISTS {cs} ({columns}, PRIMARY KEY (claim_id))",
                f"CREATE TABLE IF NOT EXISTS {ar} (claim_id TEXT NOT NULL, seq BIGINT NOT NULL, effective_on {d} NOT NULL,"
                f" responsibility TEXT NOT NULL, delta_cents BIGINT NOT NULL, PRIMARY KEY (claim_id, seq, responsibility))",
                f"CREATE TABLE IF NOT EXISTS {ds} (day {d} NOT NULL, payer_id TEXT NOT NULL, carc_group TEXT NOT NULL,"
                f" category TEXT NOT NULL, {stats}, PRIMARY KEY (day, payer_id, carc_group, category))",
                *self.index_statements(self.bare),
                *(self.summary_statement(name) for name in SUMMARIES),
            ):
                c.execute(statement)
            if not self.suffix:
                for statement in self.view_statements():
                    c.execute(statement)
            if self.dialect == "postgresql":
                self.grant_reader(c)
        if (missing and len(missing) < len(self.t) or lacking) and self.position() > 0:
            # tables or columns a newer release added, empty behind a position the older tables already reached
            self.incomplete = [*missing, *(f"claim_status.{column}" for column in lacking)]

    def exists(self, table: str) -> bool:
        if self.dialect == "sqlite":
            return bool(self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [table]))
        return self.query("SELECT to_regclass(?) IS NOT NULL AS present", [table])[0]["present"]

    def columns(self, name: str) -> set[str]:
        if self.dialect == "sqlite":
            return {r["name"] for r in self.query(f"PRAGMA table_info({self.bare[name]})")}
        rows = self.query("SELECT column_name AS name FROM information_schema.columns "
                          "WHERE table_schema = ? AND table_name = ?", [self.schema, self.bare[name]])
        return {r["name"] for r in rows}

    def suffixes(self, start: str) -> list[str]:
        """The suffixes, beginning with `start`, of other sets of these tables (`claim_status<suffix>`)."""
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?",
                              [self.schema])
        head = "claim_status" + start
        return sorted(r["name"][len("claim_status"):] for r in rows if r["name"].startswith(head))

    def grant_reader(self, c: Any) -> None:
        """Grafana's role (made by infra/postgres.sh) reads the read models, never the events."""
        c.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{READER}'")
        if not c.fetchone():
            return
        if self.prefix:
            c.execute(f"GRANT USAGE ON SCHEMA {self.prefix.rstrip('.')} TO {READER}")
        relations = list(self.t.values()) + ([] if self.suffix else [self.kpis, self.ar_open])
        c.execute(f"GRANT SELECT ON {', '.join(relations)} TO {READER}")

    def summary_statement(self, name: str) -> str:
        keys, metrics = SUMMARIES[name]
        key_sql = ", ".join(f"{k} {TYPES[self.dialect]['date'] if t == 'date' else 'TEXT'} NOT NULL" for k, t in keys)
        metric_sql = ", ".join(f"{m} BIGINT NOT NULL DEFAULT 0" for m in metrics)
        return (f"CREATE TABLE IF NOT EXISTS {self.t[name]} ({key_sql}, {metric_sql}, "
                f"PRIMARY KEY ({', '.join(k for k, _ in keys)}))")

    @staticmethod
    def indexes(bare: dict[str, str]) -> list[tuple[str, str, str]]:
        cs, ar = bare["claim_status"], bare["ar_log"]
        return [(f"{cs}_status", cs, "status, payer_id"), (f"{cs}_dos", cs, "dos"), (f"{ar}_day", ar, "effective_on")]

    def index_statements(self, bare: dict[str, str]) -> list[str]:
        return [f"CREATE INDEX IF NOT EXISTS {name} ON {self.prefix}{table} ({columns})"
                for name, table, columns in self.indexes(bare)]

    def view_statements(self) -> list[str]:
        cs = self.t["claim_status"]
        today = "date('now')" if self.dialect == "sqlite" else "CURRENT_DATE"
        drop = "DROP VIEW IF EXISTS"
        return [
            f"{drop} {self.kpis}", f"{drop} {self.ar_open}",
            f"CREATE VIEW {self.ar_open} AS SELECT claim_id, claim_number, payer_id, billing_npi, rendering_npi, 'payer' AS "
            f"responsibility, payer_balance AS balance_cents, dos, first_submitted_on AS since FROM {cs} "
            f"WHERE payer_balance <> 0 UNION ALL SELECT claim_id, claim_number, payer_id, billing_npi, rendering_npi, "
            f"'patient', patient_balance, dos, patient_since FROM {cs} WHERE patient_balance <> 0",
            f"CREATE VIEW {self.kpis} AS {self.kpi_select(today)}",
        ]

    def kpi_select(self, today: str) -> str:
        """The KPI formulas (DOMAIN.md §4) over these tables; `today` is the SQL for the day A/R is aged to."""
        ds, dialect = self.t["denial_stats"], self.dialect
        ratio = (lambda a, b: f"(CAST({a} AS REAL) / NULLIF({b}, 0))") if dialect == "sqlite" else \
            (lambda a, b: f"(CAST({a} AS DOUBLE PRECISION) / NULLIF({b}, 0))")
        return f"""
WITH k AS (SELECT {', '.join(f'sum({m}) AS {m}' for m in KPI_COUNTERS)} FROM {self.t['kpi_counters']}),
ar AS (SELECT sum(payer_balance + patient_balance) AS total,
              sum(CASE WHEN {days(today, 'dos', dialect)} > 90 THEN payer_balance + patient_balance ELSE 0 END) AS over90,
              sum(CASE WHEN {days(today, 'dos', dialect)} < 90 THEN billed ELSE 0 END) AS charges90
       FROM {self.t['dos_summary']}),
ap AS (SELECT sum(decided) AS decided, sum(overturned) AS overturned FROM {ds})
SELECT {ratio('k.clean', 'k.submitted')} AS clean_claim_rate,
       {ratio('k.rejected', 'k.submitted')} AS rejection_rate,
       {ratio('k.initially_denied', 'k.adjudicated')} AS initial_denial_rate,
       {ratio('k.denied_billed', 'k.adjudicated_billed')} AS initial_denial_rate_dollars,
       {ratio('k.first_pass', 'k.adjudicated')} AS first_pass_resolution_rate,
       {ratio('ar.total', 'ar.charges90')} * 90 AS days_in_ar,
       {ratio('ar.over90', 'ar.total')} AS ar_over_90_share,
       {ratio('k.collected', 'k.net')} AS net_collection_rate,
       {ratio('ap.overturned', 'ap.decided')} AS appeal_overturn_rate,
       {ratio('k.days_to_bill_sum', 'k.days_to_bill_n')} AS days_to_bill,
       {ratio('k.lag_sum', 'k.lag_n')} AS payment_lag_days,
       k.submitted AS claims_submitted, k.adjudicated AS claims_adjudicated, ar.total AS ar_cents
FROM k, ar, ap"""

    def drop(self) -> None:
        with self.transaction() as c:
            for table in self.t.values():
                c.execute(f"DROP TABLE IF EXISTS {table}")
            for view in VIEW_NAMES:
                c.execute(self.sql(f"DELETE FROM {self.tracking_table()} WHERE application_name = ?"),
                          [self.tracking_name(view)])

    def replace_with(self, fresh: ClaimViews) -> None:
        """Switches readers to freshly built tables in one transaction (the KPI views are rebuilt on them)."""
        self.incomplete = []
        table = self.tracking_table()
        with self.transaction() as c:
            for view in (self.kpis, self.ar_open):
                c.execute(f"DROP VIEW IF EXISTS {view}")
            for name, live in self.t.items():
                c.execute(f"DROP TABLE IF EXISTS {live}")
            for name, _, _ in self.indexes(fresh.bare):
                c.execute(f"DROP INDEX IF EXISTS {self.prefix}{name}")
            for name, live in self.bare.items():
                c.execute(f"ALTER TABLE {fresh.t[name]} RENAME TO {live}")
                if self.dialect == "postgresql":
                    c.execute(f"ALTER INDEX {self.prefix}{fresh.bare[name]}_pkey RENAME TO {live}_pkey")
            for statement in (*self.index_statements(self.bare), *self.view_statements()):
                c.execute(statement)
            for view in VIEW_NAMES:
                c.execute(self.sql(f"DELETE FROM {table} WHERE application_name = ?"), [self.tracking_name(view)])
                c.execute(self.sql(f"UPDATE {table} SET application_name = ? WHERE application_name = ?"),
                          [self.tracking_name(view), fresh.tracking_name(view)])

    def tracking_table(self) -> str:
        name = getattr(self.tracking, "tracking_table_name", "tracking")
        schema = getattr(self.tracking.datastore, "schema", None)
        return f"{schema}.{name}" if self.dialect == "postgresql" and schema else name

    # ---- position ----

    def tracking_name(self, view: str) -> str:
        return f"rcm/{view}{self.suffix}"

    def position(self) -> int:
        positions = [self.tracking.max_tracking_id(self.tracking_name(v)) or 0 for v in VIEW_NAMES]
        return min(positions)

    # ---- writing ----

    def apply(self, page: Sequence[tuple[int, Any]], position: int | None = None,
              record_position: Callable[[Any], None] | None = None, previous: int | None = None) -> None:
        """Folds a page of (notification id, event) and writes it with its position, atomically: the tracking
        rows (at `position`, by default the page's last notification), or whatever `record_position` writes with
        the same cursor (a Kafka consumer's offsets). With `previous` (the position the page follows) the
        tracking rows move only from there: a page overlapping one another runner wrote meanwhile fails."""
        if not page and position is None:
            return
        claim_events = [(seq, e) for seq, e in page if not is_ignored(e)]
        if previous != self.cached_at:
            self.forget()  # another writer moved these views since this one last wrote: its copies are old
        facts = self.known_facts({str(e.originator_id) for _, e in claim_events})
        totals: dict[str, dict[tuple[Any, ...], dict[str, int]]] = {name: {} for name in SUMMARIES}
        for state in facts.values():
            add(totals, summaries(state), -1)
        effects = Effects()
        for seq, event in claim_events:
            key = str(event.originator_id)
            state = facts.get(key) or facts.setdefault(key, new_facts(key))
            fold(state, event, seq, effects)
        for state in facts.values():
            add(totals, summaries(state), 1)
        totals["ar_daily"] = {key: {"delta_cents": delta} for key, delta in effects.ar_daily.items()}
        totals["denial_carcs"] = effects.carcs
        totals["cash_daily"] = effects.cash
        last = page[-1][0] if position is None else position
        try:
            with self.transaction() as c:
                self.write_facts(c, facts.values())
                self.write_ar(c, effects.ar)
                self.write_denials(c, effects.denials)
                for name, rows in totals.items():
                    self.write_summary(c, name, rows)
                if record_position is not None:
                    record_position(c)
                elif previous is not None:
                    self.move_position(c, previous, last)
                else:
                    for view in VIEW_NAMES:
                        self.tracking._insert_tracking(c, Tracking(self.tracking_name(view), last))
        except IntegrityError as e:
            self.forget()
            raise ConcurrentRunner(f"another runner already recorded notification {last} in these views: {e}") from e
        except BaseException:
            self.forget()  # the cached facts were folded past what the database holds
            raise
        self.remember(facts)
        self.cached_at = last

    def move_position(self, c: Any, previous: int, last: int) -> None:
        """Compare and set: eventsourcing's tracking insert only refuses a position not beyond the stored one,
        which lets a page that began before another runner's page ended count that page's events again."""
        table = self.tracking_table()
        for view in VIEW_NAMES:
            name = self.tracking_name(view)
            if previous == 0:
                c.execute(self.sql(f"INSERT INTO {table} (application_name, notification_id) VALUES (?, ?) "
                                   "ON CONFLICT (application_name) DO NOTHING RETURNING notification_id"), [name, last])
            else:
                c.execute(self.sql(f"UPDATE {table} SET notification_id = ? WHERE application_name = ? AND "
                                   "notification_id = ? RETURNING notification_id"), [last, name, previous])
            if c.fetchone() is None:
                raise IntegrityError(f"{name} is no longer at notification {previous}")

    def keep_facts(self, claims: int) -> None:
        """Keeps the facts of up to `claims` recently written claims in memory: a page then reads from the
        database only the claims it has not seen. Trusted only for a page that follows the position this
        object last wrote (another runner may have written since); dropped whenever a page is not written."""
        self.cache, self.cache_limit = {}, claims

    def known_facts(self, claim_ids: set[str]) -> dict[str, dict[str, Any]]:
        cache = self.cache
        if cache is None:
            return self.read_facts(claim_ids)
        found = {i: cache[i] for i in claim_ids if i in cache}
        found.update(self.read_facts(claim_ids - found.keys()))
        return found

    def remember(self, facts: dict[str, dict[str, Any]]) -> None:
        cache = self.cache
        if cache is None:
            return
        for key in facts:
            cache.pop(key, None)  # to the end: the dict's order is the order of last use
        cache.update(facts)
        if len(cache) > self.cache_limit:
            for key in list(islice(cache, len(cache) - self.cache_limit // 2)):
                del cache[key]

    def forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    def read_facts(self, claim_ids: set[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        ids = sorted(claim_ids)
        with self.transaction(commit=False) as c:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                c.execute(self.sql(f"SELECT * FROM {self.t['claim_status']} WHERE claim_id IN "
                                   f"({','.join('?' * len(chunk))})"), chunk)
                for row in c.fetchall():
                    found[row["claim_id"]] = self.from_row(row)
        return found

    def from_row(self, row: Any) -> dict[str, Any]:
        facts = {name: row[name] for name in COLUMNS}
        for name in DATES:
            if isinstance(facts[name], str):
                facts[name] = date.fromisoformat(facts[name])
        for name in BOOLS:
            facts[name] = bool(facts[name])
        return facts

    def write_facts(self, c: Any, facts: Iterable[dict[str, Any]]) -> None:
        self.upsert(c, "claim_status", COLUMNS, ("claim_id",), [tuple(f[name] for name in COLUMNS) for f in facts],
                    "replace")

    def write_ar(self, c: Any, changes: list[tuple[str, int, date, str, int]]) -> None:
        self.upsert(c, "ar_log", ("claim_id", "seq", "effective_on", "responsibility", "delta_cents"), (), changes,
                    "insert")

    def write_denials(self, c: Any, counts: dict[tuple[date, str, str, str], dict[str, int]]) -> None:
        rows = [(*key, *(metrics.get(m, 0) for m in STAT_COLUMNS)) for key, metrics in sorted(counts.items(), key=order)]
        self.upsert(c, "denial_stats", ("day", "payer_id", "carc_group", "category", *STAT_COLUMNS),
                    ("day", "payer_id", "carc_group", "category"), rows, "add")

    def write_summary(self, c: Any, name: str, rows: dict[tuple[Any, ...], dict[str, int]]) -> None:
        keys, metrics = SUMMARIES[name]
        key_names = tuple(k for k, _ in keys)
        # in key order: writers adding to the same summary rows (Kafka scale-out) lock them in one order
        changed = [(*key, *(values.get(m, 0) for m in metrics)) for key, values in sorted(rows.items(), key=order)
                   if any(values.values())]
        self.upsert(c, name, (*key_names, *metrics), key_names, changed, "add")

    def upsert(self, c: Any, name: str, columns: Sequence[str], conflict: Sequence[str], rows: list[tuple[Any, ...]],
               mode: str) -> None:
        """Inserts rows; on a key already there either replaces the other columns or adds to them.
        SQLite: one executemany. PostgreSQL: COPY into a session temp table, then one INSERT ... SELECT."""
        if not rows:
            return
        table, cols = self.t[name], ", ".join(columns)
        others = [col for col in columns if col not in conflict]
        on_conflict = ""
        if mode != "insert":
            sets = ", ".join(f"{col} = excluded.{col}" if mode == "replace" else f"{col} = {table}.{col} + excluded.{col}"
                             for col in others)
            on_conflict = f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
        if self.dialect == "sqlite":
            values = [tuple(v.isoformat() if isinstance(v, date) else int(v) if isinstance(v, bool) else v for v in row)
                      for row in rows]
            c.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))}){on_conflict}", values)
            return
        staging = f"staging_{self.bare[name]}"
        c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS")
        with c.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # ordered by the key: concurrent writers (Kafka scale-out) take the row locks in the same order
        c.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging} ORDER BY {', '.join(conflict or columns)}"
                  f"{on_conflict}")

    # ---- database access ----

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def transaction(self, commit: bool = True) -> Any:
        return self.tracking.datastore.transaction(commit=commit)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction(commit=False) as c:
            c.execute(self.sql(statement), list(params))
            return [dict(row) for row in c.fetchall()]

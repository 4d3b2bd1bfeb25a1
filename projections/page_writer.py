"""Writes a page of events to the views: folded in Python first (projections/facts.py), then its claim rows, A/R
changes, denial counts and summary changes, and the tracking position of each view, in one transaction. A crash
leaves the views at the previous page, and a second runner on the same views fails its tracking write instead of
counting twice."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from operator import add, itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from eventsourcing.persistence import IntegrityError, Tracking

from projections import deposits
from projections.facts import (COLUMNS, CONTRIBUTES, DATES, NO_CONTRIBUTION, Contribution, Effects, contribution,
                               fold, is_ignored, new_facts)
from projections.facts_cache import Facts, FactsCache
from domain.lifecycle import Status
from projections.intervals import (DAILY, FOLDED_DAILY, FROM_INTERVALS, INTERVAL_COLUMNS, INTERVAL_SUMMARIES,
                                   ClaimTimeline, History, HistoryUnavailable, is_late, summary_sql)
from projections.tables import (BOOLS, DELTAS, DENIAL_STATS_KEYS, STAT_COLUMNS, SUMMARIES, SUMMED_OVER, TYPES,
                                VIEW_NAMES, ViewTables, provider_first)

RECORDED_TEXT = ("claim_number", "billing_npi", "rendering_npi", "payer_id", "payer_class", "last_carcs",
                 "denial_category", "carc_group", "carc", "category", "trace", "coded_by",
                 "person", "activity")  # view columns holding text from events
Totals = dict[str, dict[tuple[Any, ...], Any]]
FACT_ROW = itemgetter(*COLUMNS)  # a claim's facts -> its claim_status row
INTERVAL_ROW = ("claim_id", "valid_from", "valid_to", *INTERVAL_COLUMNS)  # claim_intervals' columns
BOOL_OID = 16  # PostgreSQL's boolean, for a binary COPY


class ConcurrentRunner(Exception):
    """Another runner advanced these views first; this page (the one following `previous`) was not written."""

    def __init__(self, message: str, previous: int | None = None) -> None:
        super().__init__(message)
        self.previous = previous


@dataclass
class Folded:
    """A page folded and not yet written: its claims' facts, their effects and summary changes, its banking rows,
    and the positions it moves the views from (`previous`) and to (`last`)."""

    facts: Facts
    effects: Effects
    totals: Totals
    banking: Any
    last: int
    previous: int | None
    timelines: list[ClaimTimeline]  # each claim's intervals and whether they replace its earlier ones
    nul_free: bool = False  # no text folded in (this page or a cached claim's) held NUL: storable has nothing to do

    def detached(self) -> Folded:
        """With its own copy of each claim's facts: what a thread writes while the next page folds the cached ones
        further (the rest is the page's own)."""
        return replace(self, facts={key: dict(state) for key, state in self.facts.items()})


def storable(columns: Sequence[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """PostgreSQL text cannot hold NUL: text recorded with one before commands refused control characters is
    written with U+FFFD in its place (on both back ends, so their views agree) instead of stopping the projections."""
    at = [i for i, name in enumerate(columns) if name in RECORDED_TEXT]
    # each text column's values joined and searched at C speed: rows are looked at one by one only when one has NUL
    if not any("\x00" in "".join(map(str, map(itemgetter(i), rows))) for i in at):
        return rows
    return [tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)
            if any(isinstance(row[i], str) and "\x00" in row[i] for i in at) else row for row in rows]


def add_without_days(totals: Totals, before: Contribution, after: Contribution) -> None:
    """The summaries kept without daily changes (the parts after the daily ones): a claim's after less before."""
    kept = len(FOLDED_DAILY)
    for name, was, now in zip(CONTRIBUTES[kept:], before[kept:], after[kept:]):
        if was == now:
            continue
        for part, sign in ((was, -1), (now, 1)):
            if part is not None:
                key, values = part
                row = totals[name].get(key)
                totals[name][key] = [sign * v for v in values] if row is None else \
                    [r + sign * v for r, v in zip(row, values)]


def fold_page(facts: Facts, claim_events: list[tuple[int, Any]], history: History | None = None
              ) -> tuple[Effects, Totals, list[ClaimTimeline]]:
    """Folds the events into `facts` (changed in place, a claim not there added), claim by claim in recorded order;
    the summaries change by each claim's contribution after the page less its contribution before, and the daily
    tables and intervals by what each of its days changed (projections/intervals.py; `history` reads a claim's
    events back after a late fact)."""
    totals: Totals = {name: {} for name in SUMMARIES
                      if name not in FROM_INTERVALS and name not in (DAILY[n] for n in FROM_INTERVALS)}
    effects = Effects()
    by_claim: dict[str, list[tuple[int, Any]]] = {}
    for seq, event in claim_events:
        events = by_claim.get(claim := event.originator_id)  # (by id: its text is made once per claim, below)
        if events is None:
            by_claim[claim] = [(seq, event)]
        else:
            events.append((seq, event))
    timelines = []
    for claim, events in by_claim.items():
        key = str(claim)
        state = facts.get(key) or facts.setdefault(key, new_facts(key))
        is_new = not state["version"]
        before: Contribution = NO_CONTRIBUTION if is_new else contribution(state)
        timeline = ClaimTimeline(key, state, before, is_new)
        days = [event.effective_at.date() for _, event in events]  # (intervals.day_of, inline: once per event)
        if is_late(state, days):
            for seq, event in events:
                fold(state, event, seq, effects)
            if history is None:
                raise HistoryUnavailable(f"claim {key}: an event effective before the claim's latest day "
                                         f"(notification {events[0][0]}) needs its history, which these views "
                                         "cannot read")
            timeline.refold(history(key), events[0][1].originator_version, events[-1][1].originator_version,
                            totals)
            after = contribution(state)
        else:
            days.append(None)  # (after the last event, its day ends)
            for i, (seq, event) in enumerate(events):
                fold(state, event, seq, effects, days[i])
                if days[i + 1] != days[i]:
                    timeline.day_ended(days[i], totals)
            after = timeline.contribution
        add_without_days(totals, before, after)
        timelines.append(timeline)
    for name, daily in FOLDED_DAILY.items():  # a claim's changes over its days add up to its contribution after
        live = totals[name]                      # less before
        for at, values in totals[daily].items():
            row = live.get(key := at[1:])  # (the daily key less its day)
            live[key] = list(values) if row is None else list(map(add, row, values))
    totals["ar_daily"] = {key: {"delta_cents": delta} for key, delta in effects.ar_daily.items()}
    totals["denial_carcs"] = effects.carcs
    totals["cash_daily"] = effects.cash
    totals["day_activity"] = effects.activity
    totals["remittance_claims"] = effects.remits
    totals["productivity"] = effects.work
    return effects, totals, timelines


class PageWriter:
    """Writes pages to `tables`, reading the claims a page touches from `cache` before the database."""

    def __init__(self, tables: ViewTables, cache: FactsCache) -> None:
        self.tables, self.cache = tables, cache
        self.history: History | None = None  # reads a claim's events back after a late fact (set by the runner)
        self.nul_free: Callable[[], bool] | None = None  # no event decoded so far held NUL (told by the runner)
        self.unchecked = True  # the page being written may hold text with NUL (set from its Folded)
        self.types: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        self.staged: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()  # connection -> its staging tables

    def apply(self, page: Sequence[tuple[int, Any]], position: int | None = None,
              record_position: Callable[[Any], None] | None = None, previous: int | None = None) -> None:
        """Folds a page of (notification id, event) and writes it with its position, atomically: the tracking
        rows (at `position`, by default the page's last notification), or whatever `record_position` writes with
        the same cursor (a Kafka consumer's offsets). With `previous` (the position the page follows) the
        tracking rows move only from there: a page overlapping one another runner wrote meanwhile fails."""
        folded = self.fold(page, position, previous)
        if folded is None:
            return
        try:
            self.write(folded, record_position)
        except BaseException:
            self.cache.forget()  # the cached facts were folded past what the database holds
            raise
        self.cache.remember(folded.facts, folded.last)

    def fold(self, page: Sequence[tuple[int, Any]], position: int | None = None,
             previous: int | None = None) -> Folded | None:
        """The page folded onto its claims' facts (the cached ones changed in place), ready to be written."""
        if not page and position is None:
            return None
        claim_events = [(seq, e) for seq, e in page if not is_ignored(e)]
        self.cache.drop_unless_at(previous)
        try:
            claims = {str(claim) for claim in {e.originator_id for _, e in claim_events}}  # (each id's text once)
            facts = self.cache.known(claims, self.read_facts)
            effects, totals, timelines = fold_page(facts, claim_events, self.history)
            banking = deposits.banking_rows([(seq, e) for seq, e in page if deposits.is_reconciled(e)])
        except BaseException:
            self.cache.forget()  # claims folded part of the way: no position holds their cached facts
            raise
        last = page[-1][0] if position is None else position
        # (asked after the fold: claims folded again read their history; facts read back from the views hold none)
        nul_free = self.nul_free is not None and self.nul_free()
        return Folded(facts, effects, totals, banking, last, previous, timelines, nul_free)

    def write(self, folded: Folded, record_position: Callable[[Any], None] | None = None) -> None:
        """Writes a folded page and moves its position, in one transaction; the facts cache is the caller's."""
        facts, effects, totals, banking, last, previous = (folded.facts, folded.effects, folded.totals,
                                                           folded.banking, folded.last, folded.previous)
        self.unchecked = not folded.nul_free
        try:
            with self.tables.transaction() as c:
                if self.tables.dialect == "postgresql":
                    # a page's statements are planned dear (a million-row table joined) but run in a blink: compiling
                    # them costs more; its sums group some 100,000 rows, in memory rather than spilled to disk
                    c.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
                self.write_facts(c, facts.values())
                self.write_intervals(c, folded.timelines)
                self.write_ar(c, effects.ar)
                self.write_denials(c, effects.denials)
                for name, rows in totals.items():
                    self.write_summary(c, name, rows)
                deposits.write(c, self.tables, banking)
                self.record(c, last, previous, record_position)
        except IntegrityError as e:
            self.staged.clear()
            raise ConcurrentRunner(f"another runner already recorded notification {last} in these views: {e}",
                                   previous) from e
        except BaseException:
            self.staged.clear()  # staging tables made in the page's transaction went with it
            raise

    def record(self, c: Any, last: int, previous: int | None, record_position: Callable[[Any], None] | None) -> None:
        if record_position is not None:
            record_position(c)
        elif previous is not None:
            self.move_position(c, previous, last)
        else:
            for view in VIEW_NAMES:
                self.tables.tracking._insert_tracking(c, Tracking(self.tables.tracking_name(view), last))

    def move_position(self, c: Any, previous: int, last: int) -> None:
        """Compare and set: eventsourcing's tracking insert only refuses a position not beyond the stored one,
        which lets a page that began before another runner's page ended count that page's events again."""
        tables = self.tables
        table = tables.tracking_table()
        for view in VIEW_NAMES:
            name = tables.tracking_name(view)
            if previous == 0:
                c.execute(tables.sql(f"INSERT INTO {table} (application_name, notification_id) VALUES (?, ?) "
                                     "ON CONFLICT (application_name) DO NOTHING RETURNING notification_id"),
                          [name, last])
            else:
                c.execute(tables.sql(f"UPDATE {table} SET notification_id = ? WHERE application_name = ? AND "
                                     "notification_id = ? RETURNING notification_id"), [last, name, previous])
            if c.fetchone() is None:
                raise IntegrityError(f"{name} is no longer at notification {previous}")

    def read_facts(self, claim_ids: set[str]) -> Facts:
        found: Facts = {}
        ids = sorted(claim_ids)
        with self.tables.transaction(commit=False) as c:
            if self.tables.dialect == "postgresql" and ids:  # one array parameter: one round trip for the page
                c.execute(f"SELECT * FROM {self.tables.t['claim_status']} WHERE claim_id = ANY(%s)", [ids])
                return {row["claim_id"]: from_row(row) for row in c.fetchall()}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                c.execute(self.tables.sql(f"SELECT * FROM {self.tables.t['claim_status']} WHERE claim_id IN "
                                          f"({','.join('?' * len(chunk))})"), chunk)
                for row in c.fetchall():
                    found[row["claim_id"]] = from_row(row)
        return found

    def write_facts(self, c: Any, facts: Iterable[dict[str, Any]]) -> None:
        self.upsert(c, "claim_status", COLUMNS, ("claim_id",), list(map(FACT_ROW, facts)), "replace")

    def write_intervals(self, c: Any, timelines: list[ClaimTimeline]) -> None:
        """Each claim's intervals the page opened or closed (a claim folded again after a late fact loses its
        earlier intervals first), and what they change in the summaries derived from them (FROM_INTERVALS): each
        interval adds the claim's contribution in it on the day it begins and takes it back on the day it ends (the
        next one's first); the open interval the page rewrites, changed, first takes back what the views held of it,
        and a claim folded again takes back all its earlier intervals."""
        rows = [(*row, not t.replace and when == t.stored_from) for t in timelines for when, row in t.rows.items()]
        if not rows:
            return
        tables, sql, dialect = self.tables, self.tables.sql, self.tables.dialect
        intervals, columns = tables.t["claim_intervals"], ", ".join(INTERVAL_ROW)
        if self.unchecked:
            rows = storable((*INTERVAL_ROW, "stored"), rows)
        date_type = TYPES[dialect]["date"]
        staging = self.staging(c, "page_intervals", f"(claim_id TEXT, valid_from {date_type}, valid_to {date_type}, "
                                                    f"status TEXT, payer_id TEXT, rendering_npi TEXT, dos {date_type}, "
                                                    f"billed BIGINT, payer_balance BIGINT, patient_balance BIGINT, "
                                                    f"stored {TYPES[dialect]['bool']})")
        if dialect == "sqlite":
            c.executemany(self.insert(staging, (*INTERVAL_ROW, "stored"), (), "insert"), map(sqlite_row, rows))
        else:
            self.copy(c, staging, f"{columns}, stored",
                      [*self.column_types(c, "claim_intervals", INTERVAL_ROW), BOOL_OID], rows)
        moves = self.staging(c, "interval_moves", f"(day {date_type}, sign INTEGER, status TEXT, payer_id TEXT, "
                                                  f"rendering_npi TEXT, dos {date_type}, billed BIGINT, "
                                                  f"payer_balance BIGINT, patient_balance BIGINT)")
        values = ", ".join(INTERVAL_COLUMNS)
        # an interval closes on the day the next one opens: its values leave on valid_to
        ended = f"SELECT valid_to, {{sign}}, {values} FROM {{source}} WHERE valid_to IS NOT NULL"
        refolded = sorted(t.claim_id for t in timelines if t.replace)
        for start in range(0, len(refolded), 500):  # their changes as written before taken back, then their rows
            chunk = refolded[start:start + 500]
            among = f"claim_id IN ({','.join('?' * len(chunk))})"
            c.execute(sql(f"INSERT INTO {moves} SELECT valid_from, -1, {values} FROM {intervals} WHERE {among} "
                          f"UNION ALL {ended.format(sign=1, source=intervals)} AND {among}"), chunk + chunk)
            c.execute(sql(f"DELETE FROM {intervals} WHERE {among}"), chunk)
        # (an open interval the page only closes - most of them - is written again with its valid_to: it moves its
        # values out on that day, above, and nothing on the day it began)
        stored, rewritten = ", ".join(f"o.{name}" for name in INTERVAL_COLUMNS), ", ".join(f"s.{name}" for name in
                                                                                          INTERVAL_COLUMNS)
        changed = " OR ".join(f"s.{name} IS DISTINCT FROM o.{name}" for name in INTERVAL_COLUMNS)
        c.execute(f"INSERT INTO {moves} SELECT valid_from, 1, {values} FROM {staging} WHERE NOT stored "
                  f"UNION ALL {ended.format(sign=-1, source=staging)} "
                  f"UNION ALL SELECT s.valid_from, 1, {rewritten} FROM {staging} s LEFT JOIN {intervals} o "
                  f"ON o.claim_id = s.claim_id AND o.valid_from = s.valid_from WHERE s.stored "
                  f"AND (o.claim_id IS NULL OR {changed}) "
                  f"UNION ALL SELECT o.valid_from, -1, {stored} FROM {staging} s JOIN {intervals} o "
                  f"ON o.claim_id = s.claim_id AND o.valid_from = s.valid_from WHERE s.stored AND ({changed})")
        # the open intervals the views held, changed (a few); the new ones inserted - sorted by their key, so that
        # two runners writing some of the same rows take them in one order (else each may wait for the other's)
        head = self.insert(intervals, INTERVAL_ROW, (), "insert", select=True)
        c.execute(f"{head} SELECT {columns} FROM {staging} WHERE stored ORDER BY claim_id, valid_from"
                  f"{self.on_conflict(intervals, INTERVAL_ROW, ('claim_id', 'valid_from'), 'replace')}")
        c.execute(f"{head} SELECT {columns} FROM {staging} WHERE NOT stored ORDER BY claim_id, valid_from")
        for name in FROM_INTERVALS:
            self.add_moves(c, name, moves)

    def add_moves(self, c: Any, name: str, moves: str) -> None:
        """Adds the page's interval moves to summary `name`, to its sum over providers and to its daily table's sum
        over providers: each move's contribution (INTERVAL_SUMMARIES) times its sign, summed over the target's key
        straight from the moves (the daily table per provider is a view: tables.DERIVED), rows summing to nothing
        left out."""
        dialect = self.tables.dialect
        keys, metrics, voided_too = INTERVAL_SUMMARIES[name]
        daily = DAILY[name]
        sums = [f"sum(sign * ({summary_sql(expression, dialect)}))" for expression in metrics.values()]
        voided_left_out = f"status <> '{Status.VOIDED.value}'"
        nonzero = " OR ".join(f"{total} <> 0" for total in sums)
        for table in (f"{daily}_all", name, f"{name}_all"):
            kept = [k for k in (("day",) if table.startswith(daily) else ()) + keys
                    if not (table.endswith("_all") and k == "rendering_npi")]
            grouped = ", ".join(summary_sql(k, dialect) for k in kept)
            in_key_order = ", ".join(str(kept.index(k) + 1) for k in provider_first(kept))
            target = self.tables.t[table]
            c.execute(f"{self.insert(target, (*kept, *metrics), (), 'insert', select=True)} SELECT {grouped}, "
                      f"{', '.join(sums)} FROM {moves} WHERE {'1 = 1' if voided_too else voided_left_out} "
                      f"GROUP BY {grouped} HAVING {nonzero} ORDER BY {in_key_order}"
                      f"{self.on_conflict(target, (*kept, *metrics), kept, 'add')}")

    def staging(self, c: Any, name: str, columns: str | None = None) -> str:
        """A temporary table of this connection, empty at the start of a page: like table `name`'s, or of
        `columns`."""
        staging = f"staging_{self.tables.bare.get(name, name)}"
        source = self.tables.t.get(name)
        if self.tables.dialect == "sqlite":
            c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                      f"{columns or f'AS SELECT * FROM {source} WHERE 0'}")
            c.execute(f"DELETE FROM {staging}")
            return staging
        made = self.staged.setdefault(c.connection, set())  # (a session's temp tables last as long as it does)
        if staging not in made:
            c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} {columns or f'(LIKE {source})'} "
                      "ON COMMIT DELETE ROWS")
            made.add(staging)
        return staging

    def write_ar(self, c: Any, changes: list[tuple[str, int, date, str, int]]) -> None:
        self.upsert(c, "ar_log", ("claim_id", "seq", "effective_on", "responsibility", "delta_cents"),
                    ("claim_id", "seq", "responsibility"), changes, "insert")

    def write_denials(self, c: Any, counts: dict[tuple[date, str, str, str, str], dict[str, int]]) -> None:
        zeros = (0,) * len(STAT_COLUMNS)
        rows = [(*key, *map(metrics.get, STAT_COLUMNS, zeros)) for key, metrics in counts.items()]
        self.upsert(c, "denial_stats", (*DENIAL_STATS_KEYS, *STAT_COLUMNS), DENIAL_STATS_KEYS, rows, "add",
                    rollup=True)

    def write_summary(self, c: Any, name: str, rows: dict[tuple[Any, ...], dict[str, int]]) -> None:
        keys, metrics = SUMMARIES[name]
        key_names = tuple(k for k, _ in keys)
        zeros = (0,) * len(metrics)  # (upsert adds them in key order: see there)
        # (values: a dict by metric, or a list in the table's metric order)
        changed = [(*key, *(values if isinstance(values, list) else map(values.get, metrics, zeros)))
                   for key, values in rows.items() if any(values if isinstance(values, list) else values.values())]
        self.upsert(c, name, (*key_names, *metrics), key_names, changed, "add", rollup=name in SUMMED_OVER)

    def upsert(self, c: Any, name: str, columns: Sequence[str], conflict: Sequence[str], rows: list[tuple[Any, ...]],
               mode: str, rollup: bool = False) -> None:
        """Inserts rows; on a key already there either replaces the other columns or adds to them (a table of changes,
        tables.DELTAS, takes the rows as more rows). SQLite: one executemany. PostgreSQL: COPY into a session temp
        table, then one INSERT ... SELECT.
        `rollup` (mode add): the rows are added to the table's "<name>_all" too, summed over the key columns
        SUMMED_OVER names."""
        if not rows:
            return
        if self.unchecked:
            rows = storable(columns, rows)
        table, cols = self.tables.t[name], ", ".join(columns)
        appended = name in DELTAS  # (a table of changes: the page's rows go in as more rows, never added to others)
        if self.tables.dialect == "sqlite":
            c.executemany(self.insert(table, columns, () if appended else conflict, "insert" if appended else mode),
                          [sqlite_row(row) for row in rows])
            if rollup:
                kept = [col for col in columns if col not in SUMMED_OVER[name]]
                c.executemany(self.insert(self.tables.t[f"{name}_all"], kept, [k for k in conflict if k in kept], mode),
                              [sqlite_row(row) for row in summed_over(columns, conflict, rows, SUMMED_OVER[name])])
            if name == "productivity":
                staging = self.staging(c, name)
                c.executemany(self.insert(staging, columns, (), "insert"), [sqlite_row(row) for row in rows])
                c.execute(self.tables.person_days_from(staging))
            return
        # binary: several times less work than text, for psycopg (no number or date formatted) and for the server
        types = self.column_types(c, name, columns)
        if mode == "insert" and conflict and not rollup and name != "productivity":
            # new rows only, copied straight in, no staging - sorted by their key (rows come claim by claim, in an
            # order that depends on where a page starts: two writers inserting some of the same keys must take
            # them in one order, or each may wait for the other's)
            self.copy(c, table, cols, types, sorted(rows, key=itemgetter(*map(columns.index, conflict))))
            return
        staging = self.staging(c, name)
        self.copy(c, staging, cols, types, rows)
        if appended:
            c.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging}")
        else:
            # ordered by the key: concurrent writers (Kafka scale-out) take the row locks in the same order (SQLite
            # has one writer at a time: its rows go in as they come) - the primary key's order, the provider first,
            # so that the index is written from one end to the other (a quarter cheaper than in random order)
            c.execute(f"{self.insert(table, columns, conflict, mode, select=True)} SELECT {cols} FROM {staging} "
                      f"ORDER BY {', '.join(provider_first(conflict or columns))}"
                      f"{self.on_conflict(table, columns, conflict, mode)}")
        if rollup:
            keys = [col for col in conflict if col not in SUMMED_OVER[name]]
            kept = [col for col in columns if col not in SUMMED_OVER[name]]
            twin = self.tables.t[f"{name}_all"]
            picked = ", ".join(col if col in conflict else f"sum({col})" for col in kept)
            c.execute(f"{self.insert(twin, kept, keys, mode, select=True)} SELECT {picked} FROM {staging} "
                      f"GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}"
                      f"{self.on_conflict(twin, kept, keys, mode)}")
        if name == "productivity":
            c.execute(self.tables.person_days_from(staging))

    def insert(self, table: str, columns: Sequence[str], conflict: Sequence[str], mode: str,
               select: bool = False) -> str:
        head = f"INSERT INTO {table} ({', '.join(columns)})"
        if select:
            return head
        return f"{head} VALUES ({', '.join('?' * len(columns))}){self.on_conflict(table, columns, conflict, mode)}"

    @staticmethod
    def copy(c: Any, table: str, cols: str, types: list[int], rows: list[tuple[Any, ...]]) -> None:
        with c.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def column_types(self, c: Any, name: str, columns: Sequence[str]) -> list[int]:
        """The PostgreSQL types (oids) of `columns` of table `name`, as a binary COPY declares them."""
        key = (name, tuple(columns))
        types = self.types.get(key)
        if types is None:
            c.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                      "AND NOT attisdropped", [self.tables.t[name]])
            found = {row["attname"]: row["atttypid"] for row in c.fetchall()}
            types = self.types[key] = [found[column] for column in columns]
        return types

    @staticmethod
    def on_conflict(table: str, columns: Sequence[str], conflict: Sequence[str], mode: str) -> str:
        if mode == "insert":
            return ""
        sets = ", ".join(f"{col} = excluded.{col}" if mode == "replace" else f"{col} = {table}.{col} + excluded.{col}"
                         for col in columns if col not in conflict)
        return f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"


def sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.isoformat() if isinstance(v, date) else int(v) if isinstance(v, bool) else v for v in row)


def summed_over(columns: Sequence[str], conflict: Sequence[str], rows: list[tuple[Any, ...]], over: Sequence[str]
                ) -> list[tuple[Any, ...]]:
    """The rows summed over the key columns `over`, without them: what the "<name>_all" table adds."""
    keys = [i for i, col in enumerate(columns) if col in conflict and col not in over]
    metrics = [i for i, col in enumerate(columns) if col not in conflict]
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        total = sums.setdefault(tuple(row[i] for i in keys), [0] * len(metrics))
        for j, i in enumerate(metrics):
            total[j] += row[i]
    return [(*key, *total) for key, total in sums.items()]

def from_row(row: Any) -> dict[str, Any]:
    facts = {name: row[name] for name in COLUMNS}
    for name in DATES:
        if isinstance(facts[name], str):
            facts[name] = date.fromisoformat(facts[name])
    for name in BOOLS:
        facts[name] = bool(facts[name])
    return facts

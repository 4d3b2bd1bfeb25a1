"""The claim read models as one object for their callers: tables (claim_status, ar_log, denial_stats and the
summaries, projections/tables.py), their schema with the SQL views for KPIs and A/R (schema.py), and the page
writer (page_writer.py) with its cache of recently written claims' facts (facts_cache.py)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from projections.facts_cache import FactsCache
from projections.page_writer import PageWriter
from projections.pipeline import Pipeline
from projections.schema import Grant, ViewSchema
from projections.tables import ViewTables


class ClaimViews:
    """Owns the view tables in the ledger's database; `tracking` is eventsourcing's tracking recorder there."""

    def __init__(self, tracking: Any, dialect: str, suffix: str = "", grant: Grant | None = None) -> None:
        self.tables = ViewTables(tracking, dialect, suffix)
        self.schema = ViewSchema(self.tables, grant)
        self.writer = PageWriter(self.tables, FactsCache())
        self.dialect, self.prefix, self.t, self.kpis = dialect, self.tables.prefix, self.tables.t, self.tables.kpis

    @property
    def incomplete(self) -> list[str]:
        return self.schema.incomplete

    def create(self) -> None:
        self.schema.create()

    def drop(self) -> None:
        self.schema.drop()

    def replace_with(self, fresh: ClaimViews) -> None:
        self.schema.replace_with(fresh.tables)

    def exists(self, table: str) -> bool:
        return self.schema.exists(table)

    def suffixes(self, start: str) -> list[str]:
        return self.schema.suffixes(start)

    def kpi_select(self, today: str, by: str | None = None, cut: bool = False) -> str:
        return self.schema.kpi_select(today, by, cut)

    def position(self) -> int:
        return self.tables.position()

    def apply(self, page: Sequence[tuple[int, Any]], position: int | None = None,
              record_position: Callable[[Any], None] | None = None, previous: int | None = None) -> None:
        self.writer.apply(page, position, record_position, previous)

    def read_history_with(self, history: Callable[[str], Sequence[Any]],
                          nul_free: Callable[[], bool] | None = None) -> None:
        """How these views read a claim's events back when a late fact changes its past (projections/intervals.py),
        and, from the caller that decodes every event they fold, whether no text in any of them held NUL so far."""
        self.writer.history, self.writer.nul_free = history, nul_free

    def pipeline(self, committed: Callable[[int], None]) -> Pipeline:
        """For a catch-up: on PostgreSQL, with the facts cache kept (a page folds on from the one being written),
        each page is written while the next is folded; one page after the other otherwise."""
        threaded = self.dialect == "postgresql" and self.writer.cache.facts is not None
        return Pipeline(self.writer, threaded, committed)

    def keep_facts(self, claims: int) -> None:
        self.writer.cache.keep(claims)

    def transaction(self, commit: bool = True) -> Any:
        return self.tables.transaction(commit)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.tables.query(statement, params)

"""The catch-up's pipeline (projections/pipeline.py) with a page writer that records what it is asked: pages commit
in order and are counted once committed, a failed write forgets the cached facts, and the collector's young
threshold is raised only while catch-ups run (no I/O)."""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from projections.facts_cache import FactsCache
from projections.page_writer import PageWriter
from projections.pipeline import YOUNG, Pipeline


class RecordingWriter:
    """fold/write as PageWriter has them, over facts of one claim per page; `fail_at` makes that page's write fail."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.cache, self.fail_at, self.log = FactsCache(), fail_at, []
        self.cache.keep(100)
        self.writing = threading.Lock()

    def fold(self, page: list[tuple[int, Any]], position: int, previous: int) -> Any:
        self.log.append(("fold", position))
        return SimpleNamespace(facts={f"claim-{position}": {"seq": position}}, last=position, previous=previous,
                               detached=lambda: SimpleNamespace(last=position))

    def write(self, folded: Any, record_position: Any = None) -> None:
        with self.writing:  # (never two at once)
            if folded.last == self.fail_at:
                raise RuntimeError(f"write of {folded.last} failed")
            self.log.append(("write", folded.last))


def test_pages_commit_in_order_and_are_counted_once_committed():
    writer, committed = RecordingWriter(), []
    with Pipeline(writer, True, committed.append) as pipeline:  # type: ignore[arg-type]
        for position in (10, 20, 30):
            pipeline.apply([(position, None)], position, position - 10, 10)
        pipeline.apply([(35, None)], 35, 30, 5, last=True)
        pipeline.finish()
    assert [entry for entry in writer.log if entry[0] == "write"] == [("write", 10), ("write", 20), ("write", 30),
                                                                      ("write", 35)]
    assert committed == [10, 10, 10, 5]
    assert list(writer.cache.facts or {}) == ["claim-10", "claim-20", "claim-30", "claim-35"]


def test_a_failed_write_is_raised_at_the_next_page_and_the_cached_facts_are_forgotten():
    writer, committed = RecordingWriter(fail_at=20), []
    with pytest.raises(RuntimeError, match="write of 20 failed"):
        with Pipeline(writer, True, committed.append) as pipeline:  # type: ignore[arg-type]
            for position in (10, 20, 30, 40):
                pipeline.apply([(position, None)], position, position - 10, 10)
    assert committed == [10] and writer.cache.facts == {}
    assert ("write", 30) not in writer.log and ("fold", 40) not in writer.log


def test_the_young_generation_is_collected_less_often_only_while_catch_ups_run():
    before = gc.get_threshold()
    outer = Pipeline(RecordingWriter(), False, lambda n: None)  # type: ignore[arg-type]
    inner = Pipeline(RecordingWriter(), False, lambda n: None)  # type: ignore[arg-type]
    with outer:
        assert gc.get_threshold()[0] == max(before[0], YOUNG)
        with inner:
            assert gc.get_threshold()[0] == max(before[0], YOUNG)
        assert gc.get_threshold()[0] == max(before[0], YOUNG)  # the other catch-up still runs
    assert gc.get_threshold() == before


class CopyingCursor:
    """What PageWriter.upsert's PostgreSQL path asks of a cursor when it copies rows straight into a table."""

    def __init__(self) -> None:
        self.copied: list[tuple[str, list[tuple[Any, ...]]]] = []
        self.connection = object()

    @contextmanager
    def copy(self, statement: str) -> Iterator[Any]:
        rows: list[tuple[Any, ...]] = []
        self.copied.append((statement, rows))
        yield SimpleNamespace(set_types=lambda types: None, write_row=rows.append)

    def execute(self, *args: Any) -> None:
        raise AssertionError(f"no statement expected, got {args[0]}")


def test_new_rows_copied_straight_in_go_in_key_order_whatever_order_the_fold_made_them():
    """Rows come claim by claim in an order that depends on where a page starts: two writers inserting some of the
    same keys (two runners over overlapping pages) must take them in one order, or each may wait for the other's."""
    tables = SimpleNamespace(dialect="postgresql", t={"ar_log": "ar_log"}, bare={"ar_log": "ar_log"})
    writer, cursor = PageWriter(tables, FactsCache()), CopyingCursor()  # type: ignore[arg-type]
    columns = ("claim_id", "seq", "effective_on", "responsibility", "delta_cents")
    writer.types[("ar_log", columns)] = [25, 20, 1082, 25, 20]  # (text, bigint, date: as read from the catalog)
    day = date(2026, 3, 1)
    made = [("c2", 7, day, "payer", 5), ("c1", 9, day, "patient", 1), ("c1", 9, day, "payer", -1),
            ("c1", 3, day, "payer", 4)]
    writer.write_ar(cursor, made)
    [(statement, copied)] = cursor.copied
    assert statement.startswith("COPY ar_log ") and copied == sorted(made, key=lambda r: (r[0], r[1], r[3]))

"""A catch-up's pages written one behind the folding: while PostgreSQL writes a page (psycopg waits for the server
with the GIL released), the runner reads, decodes and folds the next one. Exactly once all the same: a page's rows
and its position commit in one transaction, pages one at a time and in order, and a failure leaves the views at
the last page committed, with the facts cache forgotten."""
from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from projections.page_writer import PageWriter


class Pipeline:
    """Applies pages through `writer`, telling `committed` how many notifications each page held once it committed;
    `threaded` writes a page in a thread of its own while the next one is folded (otherwise each page is written
    before `apply` returns). Only this object's thread touches the facts cache: a page's facts go into it before
    the page commits, for the next page's fold to start from, and the cache is forgotten when that commit fails;
    the writing thread gets its own copy of them (`Folded.detached`)."""

    def __init__(self, writer: PageWriter, threaded: bool, committed: Callable[[int], None]) -> None:
        self.writer, self.threaded, self.committed = writer, threaded, committed
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="page-writer") if threaded else None
        self.pending: tuple[Future[None], int] | None = None

    def apply(self, page: Sequence[tuple[int, Any]], position: int, previous: int, events: int,
              last: bool = False) -> None:
        """Folds the page of `events` notifications (up to `position`, following `previous`) and writes it: in the
        thread while the caller folds the next page, or before returning without a thread or for the `last` page
        (the log ends there for now: no page to fold meanwhile). A failure of the page before this one is raised
        here, this one dropped."""
        if self.thread is None:
            self.writer.apply(page, position, previous=previous)
            self.committed(events)
            return
        try:
            folded = self.writer.fold(page, position, previous)
        except BaseException:
            try:
                self.finish()  # the page before commits or fails
            finally:
                self.writer.cache.forget()  # facts the fold may have changed part of the way
            raise
        self.finish()
        if folded is None:  # (nothing to write: no page and no position)
            return
        self.writer.cache.remember(folded.facts, folded.last)  # the next page folds on from these
        if last:
            try:
                self.writer.write(folded)
            except BaseException:
                self.writer.cache.forget()
                raise
            self.committed(events)
        else:
            self.pending = (self.thread.submit(self.writer.write, folded.detached()), events)

    def finish(self) -> None:
        """Waits for the page being written, if any; its failure is raised after forgetting the cached facts
        (folded past what the database holds)."""
        if self.pending is None:
            return
        future, events = self.pending
        self.pending = None
        try:
            future.result()
        except BaseException:
            self.writer.cache.forget()
            raise
        self.committed(events)

    def close(self) -> None:
        """Waits for a page still being written (its failure is not raised: the caller is failing already) and
        ends the thread."""
        if self.thread is None:
            return
        try:
            if self.pending is not None:
                self.pending[0].exception()
                self.writer.cache.forget()
                self.pending = None
        finally:
            self.thread.shutdown()

    def __enter__(self) -> Pipeline:
        self.deferring = young_collections_deferred()
        self.deferring.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            self.deferring.__exit__(None, None, None)


# A page in flight holds some 300,000 objects the cyclic collector tracks (notifications, decoded events, their
# dicts and lists), freed by reference counting once written; collecting the young generation every 100,000 new
# ones (bench and bulk settings; 700 by default) walks them again and again for nothing: some 8% of a catch-up,
# and still 1.2 s of 18 with 1,000,000. While a catch-up runs the young generation is collected every YOUNG new
# objects instead (cycles are rare here: what they hold waits a little longer to be freed).
YOUNG = 20_000_000
deferred = {"catch_ups": 0, "threshold": gc.get_threshold()}
deferred_lock = threading.Lock()


@contextmanager
def young_collections_deferred() -> Iterator[None]:
    """The collector's young threshold raised to YOUNG while any catch-up in this process runs, then put back."""
    with deferred_lock:
        if deferred["catch_ups"] == 0:
            deferred["threshold"] = threshold = gc.get_threshold()
            gc.set_threshold(max(threshold[0], YOUNG), *threshold[1:])
        deferred["catch_ups"] += 1
    try:
        yield
    finally:
        with deferred_lock:
            deferred["catch_ups"] -= 1
            if deferred["catch_ups"] == 0:
                gc.set_threshold(*deferred["threshold"])


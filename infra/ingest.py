"""Bulk ingest: a long command stream split by claim number over worker processes, each a ledger of its own.

Claims are independent aggregates, so two writers on disjoint claims are exactly what the ledger's optimistic
concurrency already allows; the claim-number index goes with its claim because both are keyed by the claim
number. Each worker saves its batches in one transaction each; the store keeps one gap-free notification order
(SQLite's single writer, PostgreSQL's table lock). Small streams stay in this process.

The stream is consumed as it comes and handed to the workers a batch at a time through bounded queues, and
only counts and refusals come back, so memory does not grow with the stream. Workers die with this process.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from domain.ledger import Outcome
from infra.bootstrap import open_ledger, settings_of
from infra.settings import Settings
from infra.gc_tuning import tune_for_bulk_work

BATCH = 2000
PARALLEL_FROM = 8000  # below this, starting workers costs more than it saves
QUEUED_BATCHES = 2  # per worker: enough to keep it busy, little enough to bound memory
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_shared: dict[str, Any] = {}  # handed to forked workers without pickling


@dataclass(frozen=True)
class Rejection:
    label: int  # the command's place in the stream (or the label its caller gave it, e.g. a line number)
    kind: str
    field: str
    error: str


@dataclass
class Tally:
    """What became of the commands: counts, and each refused command with its reason."""

    applied: int = 0
    duplicate: int = 0
    events: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def commands(self) -> int:
        return self.applied + self.duplicate + len(self.rejected)

    def add(self, other: Tally) -> None:
        self.applied, self.duplicate = self.applied + other.applied, self.duplicate + other.duplicate
        self.events += other.events
        self.rejected += other.rejected


def workers_default() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def ingest(url: Settings | str | None, commands: Iterable[Any], *, source: str, workers: int | None = None,
           progress: Callable[[int], None] = lambda n: None, parallel_from: int = PARALLEL_FROM,
           expected: int | None = None) -> Tally:
    """Commands in stream order; a rejection's label is the command's index in the stream."""
    expected = len(commands) if expected is None and isinstance(commands, Sized) else expected
    labelled = InMemory(enumerate(commands)) if isinstance(commands, Sequence) else enumerate(commands)
    return ingest_labelled(url, labelled, source=source, workers=workers, progress=progress,
                           parallel_from=parallel_from, expected=expected)


class InMemory(list):  # type: ignore[type-arg]
    """(label, command) pairs already in memory (the demo's, a benchmark's): forked workers read their share in
    place, as the parent left it, instead of having every command pickled through a queue."""


def share_of(pairs: list[tuple[int, Any]], number: int, count: int) -> Iterator[tuple[int, Any]]:
    return (pair for pair in pairs if worker_for(pair[1], count) == number)


def worker_for(command: Any, count: int) -> int:
    return zlib.crc32(command.claim_number.encode()) % count


def ingest_labelled(url: Settings | str | None, labelled: Iterable[tuple[int, Any]], *, source: str,
                    workers: int | None = None, progress: Callable[[int], None] = lambda n: None,
                    parallel_from: int = PARALLEL_FROM, expected: int | None = None) -> Tally:
    """(label, command) pairs; `expected` (how many, if known) decides whether workers are worth starting."""
    workers = workers_default() if workers is None else workers
    open_ledger(url, source=source).close()  # tables exist before any worker races to create them
    if (workers <= 1 or (expected if expected is not None else parallel_from) < parallel_from
            or settings_of(url).backend == "memory" or "fork" not in multiprocessing.get_all_start_methods()):
        total = Tally()
        run_share(url, source, labelled, lambda tally: (total.add(tally), progress(tally.commands)))
        return total
    return Workers(url, source, workers, progress).run(labelled)


class Workers:
    def __init__(self, url: Settings | str | None, source: str, count: int, progress: Callable[[int], None]) -> None:
        context = multiprocessing.get_context("fork")
        self.results, self.progress, self.total, self.finished = context.Queue(), progress, Tally(), 0
        self.inboxes = [context.Queue(maxsize=QUEUED_BATCHES) for _ in range(count)]
        _shared.update(url=url, source=source, inboxes=self.inboxes, results=self.results, parent=os.getpid(),
                       count=count, in_memory=None)
        self.processes = [context.Process(target=worker, args=(n,), daemon=True) for n in range(count)]

    def run(self, labelled: Iterable[tuple[int, Any]]) -> Tally:
        if isinstance(labelled, InMemory):
            _shared["in_memory"] = labelled  # before the fork: each worker finds its share in place
        for p in self.processes:
            p.start()
        try:
            if isinstance(labelled, InMemory):
                labelled = []
            pending: list[list[tuple[int, Any]]] = [[] for _ in self.inboxes]
            for label, command in labelled:
                n = worker_for(command, len(pending))
                pending[n].append((label, command))
                if len(pending[n]) >= BATCH:
                    self.hand_over(self.inboxes[n], pending[n])
                    pending[n] = []
            for inbox, share in zip(self.inboxes, pending):
                if share:
                    self.hand_over(inbox, share)
                self.hand_over(inbox, None)
            while self.finished < len(self.processes):
                self.collect(block=True)
        except BaseException:
            for p in self.processes:
                p.kill()
            raise
        finally:
            for p in self.processes:
                p.join()
        return self.total

    def hand_over(self, inbox: Any, batch: list[tuple[int, Any]] | None) -> None:
        """Waits while the worker is a batch behind, taking in what the workers report meanwhile."""
        while True:
            self.collect(block=False)
            try:
                inbox.put(batch, timeout=0.2)
                return
            except queue.Full:
                if dead := [p for p in self.processes if p.exitcode is not None]:
                    raise RuntimeError(f"an ingest worker exited with code {dead[0].exitcode}")

    def collect(self, *, block: bool) -> None:
        while True:
            try:
                kind, payload = self.results.get(timeout=1.0) if block else self.results.get_nowait()
            except queue.Empty:
                if block and (dead := [p for p in self.processes if p.exitcode not in (None, 0)]):
                    raise RuntimeError(f"an ingest worker exited with code {dead[0].exitcode}") from None
                if block:
                    continue
                return
            if kind == "tally":
                self.total.add(payload)
                self.progress(payload.commands)
            elif kind == "done":
                self.finished += 1
            else:
                raise RuntimeError(f"an ingest worker failed:\n{payload}")
            if block:
                return


def worker(number: int) -> None:
    parent, results = _shared["parent"], _shared["results"]
    die_with(parent)
    try:
        tune_for_bulk_work()
        in_memory = _shared["in_memory"]
        share = received(_shared["inboxes"][number], parent) if in_memory is None \
            else share_of(in_memory, number, _shared["count"])
        run_share(_shared["url"], _shared["source"], share, lambda tally: results.put(("tally", tally)))
        results.put(("done", None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which stops and says so
        results.put(("failed", traceback.format_exc()))


def die_with(parent: int) -> None:
    """A worker is killed when its parent dies, however it dies (Linux); elsewhere `received` notices."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # died before the signal was asked for
        os._exit(1)


def received(inbox: Any, parent: int) -> Iterator[tuple[int, Any]]:
    while True:
        try:
            batch = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                os._exit(1)  # nobody to report to; exiting now leaves no transaction open
            continue
        if batch is None:
            return
        yield from batch


def run_share(url: Settings | str | None, source: str, labelled: Iterable[tuple[int, Any]],
              report: Callable[[Tally], None]) -> None:
    ledger = open_ledger(url, source=source, create_tables=False)
    stream = iter(labelled)
    try:
        while batch := list(islice(stream, BATCH)):
            report(tally_of([label for label, _ in batch], ledger.execute([command for _, command in batch])))
    finally:
        ledger.close()


def tally_of(labels: Iterable[int], outcomes: Iterable[Outcome]) -> Tally:
    tally = Tally()
    for label, outcome in zip(labels, outcomes):
        error = outcome.error
        if error is not None:
            tally.rejected.append(Rejection(label, type(error).__name__, error.field, str(error)))
        elif outcome.result == "applied":
            tally.applied, tally.events = tally.applied + 1, tally.events + outcome.events
        else:
            tally.duplicate += 1
    return tally

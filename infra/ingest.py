"""Bulk ingest: a long command stream split by claim number over worker processes, each a ledger of its own.

Claims are independent aggregates, so two writers on disjoint claims are exactly what the ledger's optimistic
concurrency already allows; the claim-number index goes with its claim because both are keyed by the claim
number. Each worker saves its batches in one transaction each; the store keeps one gap-free notification order
(SQLite's single writer, PostgreSQL's table lock). Small streams stay in this process.
"""
from __future__ import annotations

import multiprocessing
import os
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from infra.bootstrap import open_ledger
from infra.gc_tuning import tune_for_bulk_work

BATCH = 2000
PARALLEL_FROM = 8000  # below this, starting workers costs more than it saves
_shared: dict[str, Any] = {}  # handed to forked workers without pickling


@dataclass(frozen=True)
class Result:
    index: int
    result: str  # applied | duplicate | rejected
    events: int
    error: str = ""
    kind: str = ""
    field: str = ""


def workers_default() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def ingest(url: str | None, commands: Sequence[Any], *, source: str, workers: int | None = None,
           progress: Callable[[int], None] = lambda n: None, parallel_from: int = PARALLEL_FROM) -> list[Result]:
    workers = workers_default() if workers is None else workers
    open_ledger(url, source=source).close()  # tables exist before any worker races to create them
    if (workers <= 1 or len(commands) < parallel_from or (url or "").startswith("memory")
            or "fork" not in multiprocessing.get_all_start_methods()):
        return run_share(url, source, list(enumerate(commands)), progress)
    shares: list[list[tuple[int, Any]]] = [[] for _ in range(workers)]
    for index, command in enumerate(commands):
        shares[zlib.crc32(command.claim_number.encode()) % workers].append((index, command))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    _shared.update(url=url, source=source, shares=shares, queue=queue)
    processes = [context.Process(target=worker, args=(n,), daemon=True) for n in range(workers)]
    for p in processes:
        p.start()
    results: list[Result] = []
    finished = 0
    while finished < workers:
        kind, payload = queue.get()
        if kind == "progress":
            progress(payload)
        elif kind == "done":
            results.extend(payload)
            finished += 1
        else:
            for p in processes:
                p.terminate()
            raise RuntimeError(f"an ingest worker failed:\n{payload}")
    for p in processes:
        p.join()
    return sorted(results, key=lambda r: r.index)


def worker(number: int) -> None:
    queue = _shared["queue"]
    try:
        tune_for_bulk_work()
        results = run_share(_shared["url"], _shared["source"], _shared["shares"][number],
                            lambda n: queue.put(("progress", n)))
        queue.put(("done", results))
    except BaseException:  # noqa: BLE001 - reported to the parent, which stops and says so
        queue.put(("failed", traceback.format_exc()))


def run_share(url: str | None, source: str, share: list[tuple[int, Any]],
              progress: Callable[[int], None]) -> list[Result]:
    ledger = open_ledger(url, source=source, create_tables=False)
    results = []
    try:
        for start in range(0, len(share), BATCH):
            batch = share[start:start + BATCH]
            for (index, _), outcome in zip(batch, ledger.execute([command for _, command in batch])):
                error = outcome.error
                results.append(Result(index, outcome.result, outcome.events, str(error) if error else "",
                                      type(error).__name__ if error else "", error.field if error else ""))
            progress(len(batch))
    finally:
        ledger.close()
    return results

"""The garbage collector tuned for bulk work (ingest, the relay's reader), where many cached objects stay alive."""
from __future__ import annotations

import gc


def tune_for_bulk_work() -> None:
    """Bulk ingest builds many short-lived objects while thousands of cached claims stay alive: without this,
    CPython's cyclic collector rescans the cache over and over (~20% of ingest time)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)

"""A batch run again when another writer got in its way: what that writer appended is recognised by the commands'
idempotency keys, so the batch's second run applies only what is still new."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError, OperationalError

ATTEMPTS = 10  # of a batch whose save conflicted with another writer's

Result = TypeVar("Result")


def conflicting_writers(error: Exception) -> bool:
    """A version another writer took, or a lock it held (SQLite's 'database is locked', PostgreSQL's deadlock)."""
    return isinstance(error, IntegrityError) or any(
        words in str(error) for words in ("database is locked", "deadlock detected", "could not serialize"))


def retry_conflicts(batch: Callable[[], Result], attempts: int = ATTEMPTS) -> Result:
    """Runs the batch until no other writer gets in its way (the batch drops the claims it loaded when it fails, so
    each run reloads them); any other failure, or the last attempt's, is raised."""
    for attempt in range(attempts):
        try:
            return batch()
        except (IntegrityError, OperationalError) as error:
            if attempt == attempts - 1 or not conflicting_writers(error):
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # two writers retrying in step would collide again
    raise AssertionError("unreachable")

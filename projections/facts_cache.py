"""The facts of recently written claims, kept in memory so a page reads from the database only the claims it has
not seen; no I/O here."""
from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

Facts = dict[str, dict[str, Any]]


class FactsCache:
    """Off until `keep` is called. `cached_at` is the position the cached facts stand at: they are trusted only for
    a page that follows it (another runner may have written since), and dropped whenever a page is not written."""

    def __init__(self) -> None:
        self.facts: Facts | None = None
        self.limit, self.cached_at = 0, -1

    def keep(self, claims: int) -> None:
        self.facts, self.limit = {}, claims

    def drop_unless_at(self, previous: int | None) -> None:
        if previous != self.cached_at:
            self.forget()  # another writer moved these views since this one last wrote: its copies are old

    def known(self, claim_ids: set[str], read: Callable[[set[str]], Facts]) -> Facts:
        """The facts of `claim_ids`: the cached ones, the others by `read` from the database."""
        cache = self.facts
        if cache is None:
            return read(claim_ids)
        found = {i: cache[i] for i in claim_ids if i in cache}
        found.update(read(claim_ids - found.keys()))
        return found

    def remember(self, facts: Facts, position: int) -> None:
        self.cached_at = position
        cache = self.facts
        if cache is None:
            return
        for key in facts:
            cache.pop(key, None)  # to the end: the dict's order is the order of last use
        cache.update(facts)
        if len(cache) > self.limit:  # the oldest dropped; never these (a page folded next may start from them)
            for key in list(islice(cache, len(cache) - max(self.limit // 2, len(facts)))):
                del cache[key]

    def forget(self) -> None:
        if self.facts is not None:
            self.facts.clear()

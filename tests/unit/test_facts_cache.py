"""The facts cache of the page writer: trusted only at the position it was last written at, bounded, off by default."""
from __future__ import annotations

from typing import Any

from projections.facts_cache import FactsCache


def reading(log: list[set[str]]) -> Any:
    def read(claim_ids: set[str]) -> dict[str, dict[str, Any]]:
        log.append(set(claim_ids))
        return {i: {"claim_id": i, "from": "database"} for i in claim_ids}
    return read


def test_off_until_kept_every_claim_is_read_from_the_database():
    cache, reads = FactsCache(), []
    cache.remember({"a": {"claim_id": "a"}}, 10)
    assert cache.known({"a"}, reading(reads)) == {"a": {"claim_id": "a", "from": "database"}}
    assert reads == [{"a"}] and cache.cached_at == 10


def test_a_page_that_follows_the_cached_position_reads_only_claims_not_seen():
    cache, reads = FactsCache(), []
    cache.keep(10)
    cache.remember({"a": {"claim_id": "a", "from": "cache"}}, 10)
    cache.drop_unless_at(10)
    found = cache.known({"a", "b"}, reading(reads))
    assert found["a"]["from"] == "cache" and found["b"]["from"] == "database" and reads == [{"b"}]


def test_a_page_from_another_position_drops_the_cached_facts():
    cache, reads = FactsCache(), []
    cache.keep(10)
    cache.remember({"a": {"claim_id": "a", "from": "cache"}}, 10)
    cache.drop_unless_at(12)  # another runner wrote notifications 11 and 12 meanwhile
    assert cache.known({"a"}, reading(reads))["a"]["from"] == "database" and reads == [{"a"}]


def test_over_its_limit_the_cache_keeps_the_most_recently_written_half():
    cache = FactsCache()
    cache.keep(4)
    cache.remember({key: {"claim_id": key} for key in "abcd"}, 1)
    cache.remember({"a": {"claim_id": "a"}, "e": {"claim_id": "e"}}, 2)
    assert list(cache.facts or {}) == ["a", "e"]  # b, c, d written before a was again


def test_a_page_bigger_than_half_the_limit_keeps_all_its_own_facts():
    """The next page may fold on from a page's facts before that page commits (projections/pipeline.py): the
    trimming never drops them, only older ones."""
    cache = FactsCache()
    cache.keep(4)
    cache.remember({"a": {"claim_id": "a"}}, 1)
    cache.remember({key: {"claim_id": key} for key in "bcde"}, 2)
    assert list(cache.facts or {}) == ["b", "c", "d", "e"]

"""Walks the log in notification order, recomputes the hash chain and names the first event where it breaks."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from infra.store.chain import PAGE, ZERO, Chained, ChainStore, Link, claim_hash, content_hash, log_hash
from infra.store.chain import stored_claim_hashes


@dataclass(frozen=True)
class Break:
    notification_id: int | None
    originator_id: UUID
    version: int
    problem: str  # content changed | event missing from the log | event not in the chain (inserted) | ...
    detail: str
    claim: str = ""  # the claim number, when the claim's first event names one


@dataclass(frozen=True)
class Head:
    notification_id: int
    log_hash: bytes


@dataclass(frozen=True)
class Verdict:
    events: int
    head: Head
    broken: Break | None


@dataclass(frozen=True)
class Event:
    notification_id: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes


def verify(store: ChainStore, progress: Callable[[int], None] = lambda n: None, against: Head | None = None
           ) -> Verdict:
    walk = Walk(store, against)
    broken = walk.run(progress)
    if broken is not None:
        broken = Break(broken.notification_id, broken.originator_id, broken.version, broken.problem,
                       broken.detail, claim_label(store, broken.originator_id))
    return Verdict(walk.count, Head(walk.last_nid, walk.last_log), broken)


def stop_at(store: ChainStore) -> int:
    """The walk's end, fixed when it starts (events appended meanwhile are the next walk's)."""
    t = store.t
    with store.reading() as c:
        c.execute(f"SELECT (SELECT max({t.nid}) FROM {t.events}) AS e, "
                  f"(SELECT max(notification_id) FROM {t.chain}) AS c")
        row = c.fetchone()
    return max(row["e"] or 0, row["c"] or 0)


class Walk:
    def __init__(self, store: ChainStore, against: Head | None) -> None:
        self.store, self.t, self.against = store, store.t, against
        self.count, self.last_nid, self.last_log = 0, 0, ZERO

    def run(self, progress: Callable[[int], None]) -> Break | None:
        stop = stop_at(self.store)
        for events, links in pages(self.store, stop):
            broken = self.check_page(events, links)
            if broken is not None:
                return broken
            progress(len(events))
        if self.against and self.against.notification_id > self.last_nid:
            return Break(None, UUID(int=0), 0, "log rewritten after the checkpoint",
                         f"the log ends at notification {self.last_nid}, the checkpoint signed notification "
                         f"{self.against.notification_id}: events at its end were removed")
        return None

    def check_page(self, events: dict[int, Event], links: dict[int, Link]) -> Break | None:
        mine = {(e.originator_id, e.version): e.notification_id for e in events.values()}
        wanted = [(e.originator_id, e.version - 1) for e in events.values() if e.version > 1]
        with self.store.reading() as c:
            earlier = stored_claim_hashes(c, self.t, [key for key in wanted if key not in mine])
        claims = {**earlier, **{key: (nid, links[nid].claim) for key, nid in mine.items() if nid in links}}
        for nid in sorted(events.keys() | links.keys()):
            broken = self.check(events.get(nid), links.get(nid), claims)
            if broken is not None:
                return broken
        return None

    def check(self, event: Event | None, link: Link | None, claims: Chained) -> Break | None:
        if event is None or link is None or (event.originator_id, event.version) != (link.originator_id,
                                                                                      link.originator_version):
            return self.misplaced(event, link)
        nid, key = event.notification_id, (event.originator_id, event.version)
        content = content_hash(event.originator_id, event.version, event.topic, event.state)
        if content != link.content:
            return Break(nid, *key, "content changed", "the stored event differs from what the chain recorded for it")
        previous = (0, ZERO) if event.version == 1 else claims.get((event.originator_id, event.version - 1))
        if previous is None:
            return Break(nid, event.originator_id, event.version - 1, "event missing from the log",
                         f"version {event.version} (notification {nid}) follows nothing: version "
                         f"{event.version - 1} of this claim is gone, with its chain row")
        if previous[0] > nid:
            return Break(nid, *key, "out of order", f"version {event.version} is at notification {nid}, before "
                         f"version {event.version - 1} at notification {previous[0]}")
        if claim_hash(previous[1], content) != link.claim:
            return Break(nid, *key, "chain row altered", "its claim hash does not follow from its content and the "
                         "claim's previous event")
        if log_hash(self.last_log, nid, link.claim) != link.log:
            gap = nid > self.last_nid + 1
            return Break(nid, *key, "event missing from the log" if gap else "chain row altered",
                         f"its log hash does not follow from notification {self.last_nid}'s" +
                         (": events between them were removed with their chain rows" if gap else ""))
        if self.against and nid == self.against.notification_id and link.log != self.against.log_hash:
            return Break(nid, *key, "log rewritten after the checkpoint",
                         f"the log hash at notification {nid} is not the one the checkpoint signed: events up to "
                         "it were changed and the chain recomputed")
        self.count, self.last_nid, self.last_log = self.count + 1, nid, link.log
        return None

    def misplaced(self, event: Event | None, link: Link | None) -> Break:
        """An event without its chain row, a chain row without its event, or the two not naming the same event."""
        if event is not None:
            recorded = self.chain_position(event.originator_id, event.version)
            key = (event.originator_id, event.version)
            if recorded is not None:
                return Break(event.notification_id, *key, "out of order",
                             f"it is at notification {event.notification_id}; the chain recorded it at {recorded}")
            if link is None:
                hint = " (a ledger written before the chain: run `rcm audit upgrade`)" if self.last_nid == 0 else ""
                return Break(event.notification_id, *key, "event not in the chain (inserted)",
                             f"no chain row at notification {event.notification_id}{hint}")
            return Break(event.notification_id, *key, "chain row altered",
                         f"the chain row at notification {event.notification_id} names version "
                         f"{link.originator_version} of {link.originator_id}")
        assert link is not None
        key = (link.originator_id, link.originator_version)
        with self.store.reading() as c:
            at = stored_claim_hashes(c, self.t, [key]).get(key)
        if at is not None:
            return Break(link.notification_id, *key, "out of order",
                         f"the chain recorded it at notification {link.notification_id}; it is at {at[0]}")
        return Break(link.notification_id, *key, "event missing from the log",
                     f"the chain recorded it at notification {link.notification_id}; no event is there (deleted)")

    def chain_position(self, originator_id: UUID, version: int) -> int | None:
        with self.store.reading() as c:
            c.execute(self.t.sql(f"SELECT notification_id AS nid FROM {self.t.chain} WHERE originator_id = ? AND "
                                 "originator_version = ?"), (self.t.stored_id(originator_id), version))
            row = c.fetchone()
        return row["nid"] if row else None


def pages(store: ChainStore, stop: int) -> Iterator[tuple[dict[int, Event], dict[int, Link]]]:
    """Events and chain rows side by side, a page at a time up to `stop`, each page ending where both sides do."""
    t, position = store.t, 0
    while position < stop:
        with store.reading() as c:
            c.execute(t.sql(f"SELECT {t.nid} AS nid, originator_id AS o, originator_version AS v, topic, state FROM "
                            f"{t.events} WHERE {t.nid} > ? AND {t.nid} <= ? ORDER BY {t.nid} LIMIT ?"),
                      (position, stop, PAGE))
            events = [Event(r["nid"], uuid_of(r["o"]), r["v"], r["topic"], bytes(r["state"])) for r in c.fetchall()]
            c.execute(t.sql(f"SELECT notification_id AS nid, originator_id AS o, originator_version AS v, content_hash,"
                            f" claim_hash, log_hash FROM {t.chain} WHERE notification_id > ? AND notification_id <= ? "
                            "ORDER BY notification_id LIMIT ?"), (position, stop, PAGE))
            links = [Link(r["nid"], uuid_of(r["o"]), r["v"], bytes(r["content_hash"]), bytes(r["claim_hash"]),
                          bytes(r["log_hash"])) for r in c.fetchall()]
        end = min([stop] + [side[-1].notification_id for side in (events, links) if len(side) == PAGE])
        yield ({e.notification_id: e for e in events if e.notification_id <= end},
               {x.notification_id: x for x in links if x.notification_id <= end})
        position = end


def uuid_of(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def claim_label(store: ChainStore, originator_id: UUID) -> str:
    """The claim number the originator's first event names (claims and the claim-number index carry one)."""
    t = store.t
    with store.reading() as c:
        c.execute(t.sql(f"SELECT state FROM {t.events} WHERE originator_id = ? AND originator_version = 1"),
                  (t.stored_id(originator_id),))
        row = c.fetchone()
    try:
        first = orjson.loads(bytes(row["state"])) if row else {}
    except orjson.JSONDecodeError:
        return ""
    return str(first.get("claim_number", "")) if isinstance(first, dict) else ""


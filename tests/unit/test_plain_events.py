"""The runner folds plainly decoded events (infra.store.transcoding.PlainEvents), not the mapper's domain events:
for random command histories, with odd time zones, both give the same facts and effects (no I/O: memory store)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.store.transcoding import PlainEvents
from projections.facts import CONTRIBUTION_FACTS, Effects, contribution, fold, is_ignored, new_facts
from tests.conftest import code
from tests.unit.helpers import memory_ledger, run
from tests.unit.test_properties import ACTIONS, command_for

CONTRIBUTION_NAMES = CONTRIBUTION_FACTS({name: name for name in new_facts("x")})  # (the names it reads)
OFFSETS = st.sampled_from([timedelta(0), timedelta(hours=-5), timedelta(hours=5, minutes=30), timedelta(hours=14)])


def folded(events) -> tuple[dict, Effects]:
    facts, effects = {}, Effects()
    for seq, event in events:
        if not is_ignored(event):
            key = str(event.originator_id)
            fold(facts.setdefault(key, new_facts(key)), event, seq, effects)
    return facts, effects


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ACTIONS + ("advance",) * 12), st.integers(0, 100), st.booleans()),
                min_size=1, max_size=25), OFFSETS, st.integers(0, 999_999))
def test_plain_events_fold_as_the_domain_events_do(actions, offset, micros):
    ledger = memory_ledger()
    when = datetime(2026, 3, 2, 23, 30, 0, micros, tzinfo=timezone(offset))
    run(ledger, code(effective_at=when.isoformat()))
    for step, (action, percent, flag) in enumerate(actions, start=1):
        run(ledger, command_for(action, ledger.find("C1"), percent, flag, step))
    notifications = ledger.recorder.select_notifications(start=1, limit=10**6)
    plain = PlainEvents(ledger.mapper)
    plain_facts, plain_effects = folded([(n.id, plain(n)) for n in notifications])
    facts, effects = folded([(n.id, ledger.mapper.to_domain_event(n)) for n in notifications])
    assert plain_facts == facts
    assert plain_effects == effects


def test_a_compressed_store_takes_the_mappers_path():
    ledger = memory_ledger()
    run(ledger, code())
    [coded] = [n for n in ledger.recorder.select_notifications(start=1, limit=10) if n.topic.endswith("Coded")]
    fast = PlainEvents(ledger.mapper)(coded)
    assert type(fast).__module__ == "domain.claim" and type(fast) is not type(ledger.mapper.to_domain_event(coded))
    mapper = SimpleNamespace(compressor=object(), cipher=None, to_domain_event=ledger.mapper.to_domain_event)
    assert type(PlainEvents(mapper)(coded)) is type(ledger.mapper.to_domain_event(coded))


def test_nul_free_turns_false_for_good_on_an_event_with_nul_or_one_not_looked_at():
    """The views' writer replaces NUL in text only once an event decoded may have held one (page_writer.storable)."""
    ledger = memory_ledger()
    run(ledger, code())
    [coded] = [n for n in ledger.recorder.select_notifications(start=1, limit=10) if n.topic.endswith("Coded")]
    plain = PlainEvents(ledger.mapper)
    plain(coded)
    assert plain.nul_free
    spiked = SimpleNamespace(**{**vars(coded), "state": coded.state.replace(b'"payer_id":"', b'"payer_id":"\\u0000')})
    assert "\x00" in plain(spiked).payer_id and not plain.nul_free
    plain(coded)
    assert not plain.nul_free
    mapper = SimpleNamespace(compressor=object(), cipher=None, to_domain_event=ledger.mapper.to_domain_event)
    unread = PlainEvents(mapper)
    unread(coded)
    assert not unread.nul_free


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ACTIONS + ("advance",) * 12), st.integers(0, 100), st.booleans()),
                min_size=1, max_size=25))
def test_a_claims_contribution_reads_only_the_facts_it_names(actions):
    """The timeline skips recomputing a claim's contribution on a day none of CONTRIBUTION_FACTS changed: every other
    fact may be anything without changing it (projections/intervals.py)."""
    ledger = memory_ledger()
    run(ledger, code())
    for step, (action, percent, flag) in enumerate(actions, start=1):
        run(ledger, command_for(action, ledger.find("C1"), percent, flag, step))
    facts, _ = folded([(n.id, ledger.mapper.to_domain_event(n))
                       for n in ledger.recorder.select_notifications(start=1, limit=10**6)])
    for state in facts.values():
        named = dict(zip(CONTRIBUTION_NAMES, CONTRIBUTION_FACTS(state)))
        for other in (object(), None):  # (a fact read only for being set, or None, would differ under one of them)
            scrambled = {name: named.get(name, other) for name in state}
            assert contribution(scrambled) == contribution(state)

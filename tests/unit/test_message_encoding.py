"""The relay's encoder writes each stored claim event exactly as the message model would (no I/O: memory store).

The relay does not build event objects or pydantic models on its hot path; these tests hold its bytes to
`ClaimEventMessage(...).model_dump_json()` for every event random command sequences produce, with awkward
text and time zones, and check that the model reads every message back."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.contract import ClaimEventMessage, encoded, message_for
from infra.kafka.message_encoder import MessageEncoder
from tests.conftest import code
from tests.unit.helpers import memory_ledger, run
from tests.unit.test_properties import ACTIONS, command_for

# any text a command accepts: no control characters (Cc, refused at the boundary), not blank
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(str.strip)
OFFSETS = st.sampled_from([timedelta(0), timedelta(hours=-5), timedelta(hours=5, minutes=30), timedelta(hours=14)])


def both_ways(ledger) -> list[tuple[object, object]]:
    encoder = MessageEncoder(ledger.mapper, lambda claim: ledger.repository.get(claim).claim_number)
    pairs = []
    for n in ledger.recorder.select_notifications(start=1, limit=10**6):
        fast = encoder(n)
        event = ledger.mapper.to_domain_event(n)
        if not type(event).__qualname__.startswith("Claim."):
            assert fast is None, f"{n.topic} is not a claim event and must not be published"
            continue
        number = ledger.repository.get(n.originator_id).claim_number
        pairs.append((fast, encoded(message_for(event, n.id, number))))
    return pairs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ACTIONS + ("advance",) * 12), st.integers(0, 100), st.booleans()),
                min_size=1, max_size=25),
       TEXT, TEXT, OFFSETS, st.integers(0, 999_999))
def test_encoder_writes_what_the_model_writes(actions, actor, reason, offset, micros):
    ledger = memory_ledger()
    when = datetime(2026, 3, 2, 9, 0, 0, micros, tzinfo=timezone(offset))
    run(ledger, code(effective_at=when.isoformat(), actor=actor))
    for step, (action, percent, flag) in enumerate(actions, start=1):
        command = command_for(action, ledger.find("C1"), percent, flag, step)
        if "reason" in command and command["type"] != "write_off":
            command["reason"] = reason
        command["actor"] = actor
        run(ledger, command)
    pairs = both_ways(ledger)
    assert pairs
    for fast, reference in pairs:
        assert fast == reference
        assert ClaimEventMessage.model_validate_json(fast.value).model_dump_json().encode() == fast.value


def test_unusual_values_take_the_models_path():
    """A stored offset with seconds (no command makes one; an older writer might have) is written by pydantic
    as pydantic writes it, not by the fast path."""
    ledger = memory_ledger()
    run(ledger, code(effective_at="2026-03-02T09:00:00+00:00"))
    [stored] = [n for n in ledger.recorder.select_notifications(start=1, limit=10) if n.topic.endswith("Coded")]
    odd = dataclasses.replace(stored, state=stored.state.replace(b"2026-03-02T09:00:00+00:00",
                                                                 b"2026-03-02T09:00:00+01:00:01"))
    encoder = MessageEncoder(ledger.mapper, lambda claim: "C1")
    fast = encoder(odd)
    assert fast == encoded(message_for(ledger.mapper.to_domain_event(odd), odd.id, "C1"))
    assert b'"occurred_at":"2026-03-02T09:00:00+01:00"' in fast.value

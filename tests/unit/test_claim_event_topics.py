"""The Claim's event classes live in domain/claim_events.py, but every event is still stored under the topic it had
when they were nested in the aggregate (`domain.claim:Claim.<name>`): rows stored before and after the move read
the same, and nothing matching topics by text has to change."""
from __future__ import annotations

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain import claim_events
from domain.claim import Claim
from tests.conftest import at, cmd, denial, lifecycle_to_submitted
from tests.unit.helpers import memory_ledger, run

# The topics stored by every version of the ledger so far: never to change.
STORED_NAMES = ("Event", "Coded", "Opened", "CodingAttached", "Recoded", "Scrubbed", "Submitted", "SubmissionAttached",
                "Accepted", "Rejected", "Paid", "Denied", "Appealed", "AppealDecided", "PaymentReversed", "Adjusted",
                "PatientBilled", "PatientPaid", "WrittenOff", "Voided", "PatientRekeyed")
STORED_TOPICS = {f"domain.claim:Claim.{name}": name for name in STORED_NAMES}


def test_each_claim_event_class_keeps_its_stored_topic():
    for topic, name in STORED_TOPICS.items():
        event_class = resolve_topic(topic)
        assert event_class is getattr(Claim, name)
        assert get_topic(event_class) == topic
        assert issubclass(event_class, Claim.Event)
        assert issubclass(event_class, getattr(claim_events, name))


def test_every_event_class_of_the_module_is_named_on_the_claim():
    moved = {name for name, value in vars(claim_events).items() if isinstance(value, type)
             and issubclass(value, Aggregate.Event) and value.__module__ == claim_events.__name__}
    assert moved == set(STORED_NAMES)


def test_a_claims_events_are_recorded_under_the_stored_topics():
    ledger = memory_ledger()
    outcomes = run(ledger, *lifecycle_to_submitted(), denial(),
                   cmd("appeal_denial", level=1, reason="r", effective_at=at(20)),
                   cmd("decide_appeal", overturned=False, effective_at=at(50)))
    assert [o.result for o in outcomes] == ["applied"] * len(outcomes), [str(o.error) for o in outcomes]
    recorded = {n.topic for n in ledger.recorder.select_notifications(start=1, limit=100)
                if n.topic.startswith("domain.claim")}
    assert recorded == {f"domain.claim:Claim.{name}" for name in
                        ("Coded", "Scrubbed", "Submitted", "Accepted", "Denied", "Appealed", "AppealDecided")}

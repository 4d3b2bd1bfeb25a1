"""An X12 transaction received by the ledger: what it was, what became of each claim in it, and why.

One Intake per transaction (keyed by its control or trace numbers), so a re-imported file is recognised and
appends nothing. A remittance that does not balance is quarantined whole (its text kept for a retry, in the PHI
store: the event names the sealed record; events stored before it carry the text itself); one
that posts records the payment (check/EFT trace, amount, dates), its provider-level adjustments (PLB) and
every claim it could not post, so nothing a payer sent is ever dropped.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import errors

INTAKE_NAMESPACE = UUID("5f8e2d4a-1b3c-5e6f-8a9b-0c1d2e3f4a5b")
KINDS = ("837P", "837I", "835", "999", "277CA")
OPEN = ("rejected", "unmatched")  # a claim's outcomes that a retry tries again


def intake_id(key: str) -> UUID:
    return uuid5(INTAKE_NAMESPACE, key)


class Intake(Aggregate):
    class Logged(Aggregate.Created):
        kind: str
        key: str
        effective_at: datetime

        def apply(self, intake: Intake) -> None:
            intake.kind, intake.key, intake.status = self.kind, self.key, "logged"
            intake.quarantines: list[dict[str, Any]] = []
            intake.posted: dict[str, Any] | None = None

    class Posted(Aggregate.Event):
        """The transaction went into the ledger: its facts, and each claim's outcome (posted, unmatched...). While
        some claims are open (rejected or unmatched) it keeps the transaction's text (now as a reference to the
        PHI store's sealed record; `text` only in events stored before) and whether it was read strictly, to try
        them again once the ledger changed."""
        effective_at: datetime
        source: str
        envelope: dict[str, Any]
        payment: dict[str, Any]
        provider_adjustments: list[dict[str, Any]]
        items: list[dict[str, Any]]
        text: str = ""
        strict: bool = False
        phi_record: str = ""

        def apply(self, intake: Intake) -> None:
            intake.status = "posted"
            intake.posted = {"source": self.source, "envelope": self.envelope, "payment": self.payment,
                             "provider_adjustments": self.provider_adjustments, "items": self.items,
                             "text": self.text, "strict": self.strict, "phi_record": self.phi_record}

    class Quarantined(Aggregate.Event):
        """Held whole and unposted (a remittance that does not balance): the reason and the text to retry (the PHI
        store's record of it; events stored before carry the text itself)."""
        effective_at: datetime
        source: str
        reason: str
        digest: str
        text: str = ""
        phi_record: str = ""

        def apply(self, intake: Intake) -> None:
            intake.status = "quarantined"
            intake.quarantines.append({"source": self.source, "reason": self.reason, "digest": self.digest,
                                       "text": self.text, "phi_record": self.phi_record, "at": self.effective_at})

    @classmethod
    def log(cls, kind: str, key: str, at: datetime) -> Intake:
        if kind not in KINDS:
            raise errors.LedgerError(key, f"an intake is one of {', '.join(KINDS)}", f"kind {kind!r}",
                                     ", ".join(KINDS))
        return cls._create(cls.Logged, id=intake_id(key), kind=kind, key=key, effective_at=at)

    @property
    def open_items(self) -> list[dict[str, Any]]:
        """Claims of a posted transaction the ledger refused or could not match: a re-import tries them again."""
        if self.posted is None:
            return []
        return [i for i in self.posted["items"] if i["outcome"] in OPEN]

    def post(self, *, at: datetime, source: str, envelope: dict[str, Any], payment: dict[str, Any],
             provider_adjustments: list[dict[str, Any]], items: list[dict[str, Any]], phi_record: str = "",
             strict: bool = False) -> None:
        if self.status == "posted" and not self.open_items:
            raise errors.LedgerError(self.key, "a transaction posts once", "it is already posted",
                                     "nothing: re-importing a file appends nothing")
        still_open = self.still_open(items)
        self.trigger_event(self.Posted, effective_at=at, source=source, envelope=envelope, payment=payment,
                           provider_adjustments=provider_adjustments, items=items,
                           phi_record=phi_record if still_open else "", strict=strict)

    @staticmethod
    def still_open(items: list[dict[str, Any]]) -> bool:
        return any(i["outcome"] in OPEN for i in items)

    def holds(self, digest: str) -> bool:
        """Whether a quarantine of this very text would be no news: posted already, or the same text held."""
        return self.status == "posted" or any(q["digest"] == digest for q in self.quarantines)

    def quarantine(self, *, at: datetime, source: str, reason: str, digest: str, phi_record: str) -> bool:
        """Holds the text (by its PHI record); False if this very text is already held (a re-import of the same
        broken file)."""
        if self.holds(digest):
            return False
        self.trigger_event(self.Quarantined, effective_at=at, source=source, reason=reason, digest=digest,
                           phi_record=phi_record)
        return True


class SubmissionBatch(Aggregate):
    """The claims one 837 transaction sent, found again by its group and transaction control numbers, which is
    all a 999 names."""

    class Listed(Aggregate.Created):
        group_control: str
        transaction_control: str
        claims: list[list[str]]

        def apply(self, batch: SubmissionBatch) -> None:
            batch.claims = [list(c) for c in self.claims]

    class Extended(Aggregate.Event):
        claims: list[list[str]]

        def apply(self, batch: SubmissionBatch) -> None:
            batch.claims += [list(c) for c in self.claims if list(c) not in batch.claims]

    @staticmethod
    def batch_id(group_control: str, transaction_control: str) -> UUID:
        return uuid5(INTAKE_NAMESPACE, f"837-batch|{group_control}|{transaction_control}")

    @classmethod
    def list(cls, group_control: str, transaction_control: str, claims: list[list[str]]) -> SubmissionBatch:
        return cls._create(cls.Listed, id=cls.batch_id(group_control, transaction_control),
                           group_control=group_control, transaction_control=transaction_control, claims=claims)

    def extend(self, claims: list[list[str]]) -> None:
        new = [c for c in claims if c not in self.claims]
        if new:
            self.trigger_event(self.Extended, claims=new)


class InterchangeCounter(Aggregate):
    """The sender's interchange control numbers (ISA13): issued once each, in order, never reused."""

    class Started(Aggregate.Created):
        sender: str

        def apply(self, counter: InterchangeCounter) -> None:
            counter.sender, counter.last = self.sender, 0

    class Issued(Aggregate.Event):
        number: int

        def apply(self, counter: InterchangeCounter) -> None:
            counter.last = self.number

    @staticmethod
    def counter_id(sender: str) -> UUID:
        return uuid5(INTAKE_NAMESPACE, f"interchange-counter|{sender}")

    @classmethod
    def start(cls, sender: str) -> InterchangeCounter:
        return cls._create(cls.Started, id=cls.counter_id(sender), sender=sender)

    def issue(self) -> int:
        if self.last >= 999_999_999:
            raise ValueError("ISA13 interchange control numbers are exhausted for this sender")
        self.trigger_event(self.Issued, number=self.last + 1)
        return self.last

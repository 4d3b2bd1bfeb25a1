"""`rcm phi rekey`: claims an earlier release keyed by the unkeyed hash of a member id get the keyed patient key.

The ledger cannot compute the keyed key from the unkeyed one (that is the point of keying it): the X12 files the
claims came from still hold the member ids. Each 837 and 835 is read as `rcm import` reads it; a claim it names
that the ledger holds under the unkeyed hash of that member is given the keyed key by an appended PatientRekeyed
event (stored events are never rewritten). Running it again, or over files already keyed, appends nothing.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from domain.ledger import Ledger
from domain.values import claim_id
from infra.x12.importer import Importer
from infra.x12.plan import PatientKeys
from infra.x12.segments import X12Error, open_text, transactions


@dataclass
class RekeyResult:
    path: str
    error: str = ""
    # rekeyed | already keyed | not recorded (the claim is not in the ledger) | other key (left alone)
    claims: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def as_row(self) -> dict[str, object]:
        return {"file": self.path, "error": self.error, "dry_run": self.dry_run,
                **{state: self.claims[state] for state in STATES}}


STATES = ("rekeyed", "already keyed", "not recorded", "other key")


class Rekeying:
    """Reads X12 files for the member ids of the claims they name; a dry run counts what a real run would append."""

    def __init__(self, ledger: Ledger, patient_keys: PatientKeys, *, dry_run: bool = False) -> None:
        self.importer = Importer(ledger, patient_keys, dry_run=dry_run, validate=False)
        self.dry_run = dry_run

    def rekey_file(self, path: str) -> RekeyResult:
        result = RekeyResult(path, dry_run=self.dry_run)
        try:
            with open_text(path) as stream:  # the whole structure first: a faulty file changes nothing
                for _ in transactions(stream, path):
                    pass
            with open_text(path) as stream:
                for tx in transactions(stream, path):
                    if tx.set_id in ("837", "835"):
                        self.rekey_transaction(tx, result)
        except X12Error as error:
            result.error = str(error)
        except OSError as error:
            result.error = f"{path}: {error.strerror}"
        return result

    def rekey_transaction(self, tx: Any, result: RekeyResult) -> None:
        """One database transaction for the transaction's claims (each rekey stands alone: none waits for another)."""
        importer, commands = self.importer, []
        for claim in importer.plan(tx).claims:
            if not claim.commands or claim.patient is None:
                continue  # the import could not post it either: it names no recorded claim
            if (rekey := importer.rekey(claim)) is not None:
                commands.append(rekey)
                continue
            first = claim.commands[0]
            recorded = importer.ledger.load(claim_id(first.billing_npi, first.claim_number), {})
            result.claims[("not recorded" if recorded is None else "already keyed"
                           if recorded.patient_key == claim.patient.key else "other key")] += 1
        for outcome in importer.ledger.execute(commands):
            if outcome.result == "rejected":  # moved on by another writer since it was read: judged again next run
                result.claims["other key"] += 1
            else:
                result.claims["rekeyed" if outcome.events else "already keyed"] += 1

"""The patient key: a keyed HMAC of the member id (not the unkeyed hash earlier releases recorded), and the
rekey_patient command that replaces a claim's key by appending an event, never by rewriting one."""
from __future__ import annotations

import hashlib

from domain import errors
from domain.commands import COMMAND
from infra.keys import MasterKey
from infra.x12.plan import PSEUDONYMIZED, PatientKeys
from tests.conftest import at, cmd, code, lifecycle_to_submitted, payment
from tests.unit.helpers import last_error, memory_ledger, run

A, B = MasterKey(bytes(range(32)), "test A"), MasterKey(bytes(range(1, 33)), "test B")
LEGACY = "p-" + hashlib.sha256(b"BCBS|M123456|DOE JANE").hexdigest()[:16]  # what releases before issue 14 recorded


def test_the_patient_key_is_keyed_stable_short_and_not_the_unkeyed_hash():
    first, again = PatientKeys(A)("BCBS", "M123456", "DOE JANE"), PatientKeys(A)("BCBS", "M123456", "DOE JANE")
    assert first == again, "the same member under the same key: the same patient key (re-imports match)"
    assert first.key.startswith("pk-") and len(first.key) == 35
    assert COMMAND.validate_python(code(patient_key=first.key)).patient_key == first.key, "fits the commands"
    assert first.key != LEGACY and first.legacy == LEGACY
    assert first.key[3:] not in hashlib.sha256(b"BCBS|M123456|DOE JANE").hexdigest(), "no plain hash of the id"
    assert PatientKeys(B)("BCBS", "M123456", "DOE JANE").key != first.key, "another master key, another key"
    assert PatientKeys(A)("BCBS", "M123457", "DOE JANE").key != first.key
    assert PatientKeys(A)("AETNA", "M123456", "DOE JANE").key != first.key


def test_the_ledgers_own_export_carries_the_key_itself():
    exported = PatientKeys(A)("BCBS", "pk-0123", PSEUDONYMIZED)
    assert (exported.key, exported.legacy) == ("pk-0123", "pk-0123")


def rekey(was: str, new: str, claim: str = "C1", **fields: object) -> dict[str, object]:
    return cmd("rekey_patient", claim, patient_key_was=was, patient_key=new, **fields)


def test_rekey_appends_the_new_key_and_keeps_the_old_in_its_event():
    ledger = memory_ledger()
    new = PatientKeys(A)("BCBS", "M123456", "DOE JANE").key
    run(ledger, *lifecycle_to_submitted(patient_key=LEGACY), payment(effective_at=at(20)))
    before = ledger.find("C1")
    [outcome] = run(ledger, rekey(LEGACY, new))
    assert (outcome.result, outcome.events) == ("applied", 1)
    claim = ledger.find("C1")
    assert claim.patient_key == new and claim.version == before.version + 1
    assert (claim.status, claim.balance, claim.last_activity_at) == (before.status, before.balance,
                                                                     before.last_activity_at)
    events = list(ledger.events.get(claim.id))
    assert events[0].patient_key == LEGACY, "history still shows the old key in the event that recorded it"
    rekeyed = events[-1]
    assert type(rekeyed).__name__ == "PatientRekeyed" and rekeyed.patient_key == new
    assert LEGACY not in str(vars(rekeyed)), "the unkeyed hash is not repeated"
    assert rekeyed.effective_at == before.last_activity_at, "it moves no date the read models keep"
    assert [o.result for o in run(ledger, rekey(LEGACY, new))] == ["duplicate"]
    assert ledger.find("C1").version == claim.version


def test_rekey_applies_only_to_the_key_the_claim_holds():
    ledger = memory_ledger()
    run(ledger, code(patient_key=LEGACY))
    error = last_error(ledger, rekey("p-0000000000000000", "pk-new"))
    assert isinstance(error, errors.IllegalTransition) and error.field == "patient_key_was"
    assert ledger.find("C1").patient_key == LEGACY
    assert run(ledger, rekey(LEGACY, LEGACY))[0].events == 0, "nothing to replace: nothing recorded"
    assert isinstance(last_error(ledger, rekey(LEGACY, "pk-x", claim="NOPE")), errors.UnknownClaim)


def test_a_repeated_coding_is_compared_with_the_current_key():
    ledger = memory_ledger()
    run(ledger, code(patient_key=LEGACY), rekey(LEGACY, "pk-new"))
    assert [o.result for o in run(ledger, code(patient_key="pk-new"))] == ["duplicate"]
    assert isinstance(last_error(ledger, code(patient_key=LEGACY)), errors.ClaimNumberConflict)


def test_a_voided_claim_is_rekeyed_too():
    ledger = memory_ledger()
    run(ledger, code(patient_key=LEGACY), cmd("void_claim", reason="entered in error", effective_at=at(1)))
    assert run(ledger, rekey(LEGACY, "pk-new"))[0].result == "applied"
    assert ledger.find("C1").status == "voided"

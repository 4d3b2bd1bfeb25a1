"""Keyed patient keys from X12, on SQLite and PostgreSQL: an import keys every claim and a re-import appends
nothing; a ledger an earlier release wrote with the unkeyed hashes is migrated by appending PatientRekeyed (from
the original files, or when a new file touches such a claim), a second run appends nothing, the views and Kafka
messages follow, and the history keeps the old key in the event that recorded it."""
from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from domain.contract import message_for
from infra.bootstrap import open_ledger, open_runner
from infra.verify import differences
from infra.x12.importer import Importer
from infra.x12.plan import PatientKey, PatientKeys
from infra.x12.rekey import Rekeying
from tests.integration.test_x12 import (KEYS, SAMPLES, claim_events, event_count,
                                         payment_then_reversal_and_correction)

FILES = [str(SAMPLES / name) for name in (
    "kputnam+stupidedi/commercial-health-insurance.edi",
    "kputnam+stupidedi/drug-administered-in-the-physician-office.edi",
    "kputnam+stupidedi/multiple-claims-single-check.edi", "zentist+TigerShark/5010-835-example-1.txt")]
CLAIMS = 13  # 2 coded from the 837s, 9 + 2 opened from the 835s


class LegacyKeys(PatientKeys):
    """What releases before the keyed pseudonym recorded: the unkeyed hash, through the same X12 mapping."""

    def __call__(self, payer: str, member: str, patient: str = "") -> PatientKey:
        legacy = super().__call__(payer, member, patient).legacy
        return PatientKey(legacy, legacy)


def legacy_ledger(database_url: str, files: list[str]):
    ledger = open_ledger(database_url)
    legacy = Importer(ledger, LegacyKeys(KEYS.master), validate=False)
    for path in files:
        assert not legacy.import_file(path).error
    return ledger


def keys_of(ledger) -> dict[str, str]:
    return {claim.claim_number: claim.patient_key for claim in ledger.claims()}


def test_an_import_keys_every_claim_and_a_reimport_appends_nothing(database_url: str):
    ledger = open_ledger(database_url)
    importer = Importer(ledger, KEYS, validate=False)
    for path in FILES:
        importer.import_file(path)
    keys = keys_of(ledger)
    assert len(keys) == CLAIMS and all(k.startswith("pk-") and len(k) == 35 for k in keys.values()), keys
    unkeyed = keys_of(legacy_ledger("memory:", FILES))
    assert set(unkeyed) == set(keys) and not set(unkeyed.values()) & set(keys.values())
    before = event_count(ledger)
    for path in FILES:
        Importer(ledger, KEYS, validate=False).import_file(path)
    assert event_count(ledger) == before and keys_of(ledger) == keys


def test_a_legacy_ledger_is_rekeyed_from_its_files_once(database_url: str):
    ledger = legacy_ledger(database_url, FILES)
    legacy = keys_of(ledger)
    assert all(k.startswith("p-") and len(k) == 18 for k in legacy.values())
    before = event_count(ledger)

    dry = [Rekeying(ledger, KEYS, dry_run=True).rekey_file(path) for path in FILES]
    assert sum(r.claims["rekeyed"] for r in dry) == CLAIMS
    assert event_count(ledger) == before, "a dry run writes nothing"
    done = [Rekeying(ledger, KEYS).rekey_file(path) for path in FILES]
    assert [r.as_row() for r in done] == [{**r.as_row(), "dry_run": False} for r in dry], "the dry run counted it"
    assert event_count(ledger) == before + CLAIMS

    again = [Rekeying(ledger, KEYS).rekey_file(path) for path in FILES]
    assert sum(r.claims["rekeyed"] for r in again) == 0 and event_count(ledger) == before + CLAIMS
    assert sum(r.claims["already keyed"] for r in again) == CLAIMS

    keyed = keys_of(ledger)
    assert all(k.startswith("pk-") for k in keyed.values()) and set(keyed) == set(legacy)
    for path in FILES:  # a re-import with the key appends nothing
        Importer(ledger, KEYS, validate=False).import_file(path)
    assert event_count(ledger) == before + CLAIMS and keys_of(ledger) == keyed

    for claim in ledger.claims():
        events = list(ledger.events.get(claim.id))
        assert events[0].patient_key == legacy[claim.claim_number], "the old key stays in its old event"
        rekeyed = [e for e in events if type(e).__name__ == "PatientRekeyed"]
        assert [e.patient_key for e in rekeyed] == [keyed[claim.claim_number]]
        message = message_for(rekeyed[0], 1, claim.claim_number)
        assert message.type == "PatientRekeyed" and message.payload["patient_key"] == keyed[claim.claim_number]
        assert legacy[claim.claim_number] not in message.model_dump_json()

    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, ()) == [], "the views follow the appended events (checked against the oracle)"
    versions = {r["claim_number"]: r["version"] for r in runner.views.query(
        f"SELECT claim_number, version FROM {runner.views.t['claim_status']}")}
    assert versions == {claim.claim_number: claim.version for claim in ledger.claims()}


def test_an_import_rekeys_a_legacy_claim_it_touches(database_url: str, tmp_path: Path):
    one, two = payment_then_reversal_and_correction(tmp_path)
    ledger = legacy_ledger(database_url, [str(one)])
    was = ledger.find("RV1").patient_key
    result = Importer(ledger, KEYS, validate=False).import_file(str(two))
    assert [i["outcome"] for i in result.transactions[0].claims] == ["posted", "posted"]
    kinds = [type(e).__name__ for e in claim_events(ledger)]
    assert kinds == ["Opened", "Paid", "PatientRekeyed", "PaymentReversed", "Paid"]
    claim = ledger.find("RV1")
    assert claim.patient_key == KEYS("1999999999", "MRV1").key != was
    assert (claim.payer_paid, claim.contractual, claim.patient_responsibility) == (D("140"), D("40"), D("20"))
    assert Rekeying(ledger, KEYS).rekey_file(str(one)).claims["already keyed"] == 1

"""X12 files as wholes, against real SQLite and PostgreSQL: a dry run counts what the import would count, a file
is written whole or not at all, amounts X12 does not allow are quarantined with their segment and element, and
items left unmatched or rejected are retried once the claim exists."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from infra.bootstrap import open_ledger
from infra.x12 import samples
from infra.x12.export837 import export_837p
from infra.x12.importer import Importer, quarantine_rows, retry_quarantined
from tests.integration.test_x12 import KEYS, PROVIDERS, claim_events, event_count, ready_claims

D = Decimal


def counts(result) -> list[tuple]:
    return [(t.kind, t.control, t.status.replace("dry run", "posted"), t.events,
             [(i["claim"], i["outcome"], i["events"]) for i in t.claims]) for t in result.transactions]


def paying(claim_number: str, control: int = 3, trace: str = "TR1") -> str:
    return samples.remittance([samples.Remit(claim_number, "1", D("175"), D("140"), D("0"), f"ICN-{claim_number}",
                                             adjustments=[("CO", "45", D("35"))])],
                              trace=trace, payee_npi="1234567893", control=control)


def sent_837(tmp_path: Path, number: str) -> str:
    """An 837P another system sent: exported from a ledger of its own."""
    source = open_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    sent = tmp_path / f"{number}.837"
    export_837p(source, ready_claims(source, [number]), str(sent), PROVIDERS)
    return sent.read_text()


def test_a_dry_run_counts_repeats_within_a_file_as_the_import_does(database_url: str, tmp_path: Path):
    """One file: an 837 sending claim DR1, the very same 837 again, and an 835 paying DR1. The import posts the
    first, finds the second already imported and pays the claim the first coded; the dry run must say the same."""
    both = tmp_path / "both.x12"
    both.write_text(sent_837(tmp_path, "DR1") * 2 + paying("DR1"))
    ledger = open_ledger(database_url)
    dry = Importer(ledger, KEYS, dry_run=True, validate=False).import_file(str(both))
    assert event_count(ledger) == 0, "a dry run writes nothing"
    real = Importer(ledger, KEYS, validate=False).import_file(str(both))
    assert [t.status for t in real.transactions] == ["posted", "already imported", "posted"]
    assert counts(dry) == counts(real)
    assert dry.events == real.events == 4  # Coded, Scrubbed, Submitted, Paid


# ---- a file is written whole or not at all; amounts X12 does not allow are quarantined with their reason ----

@pytest.mark.parametrize("bad, where, reason", [
    (("BPR*I*140*", "BPR*I*NaN*"), "(BPR) BPR02", "'NaN' is not a decimal number"),
    (("BPR*I*140*", "BPR*I*Infinity*"), "(BPR) BPR02", "'Infinity' is not a decimal number"),
    (("*175*140*0*", "*175*1E400*0*"), "(CLP) CLP04", "'1E400' uses exponential notation"),
    (("CAS*CO*45*35~", "CAS*CO*45*35.001~"), "(CAS) CAS03", "'35.001' has 3 decimal places"),
    (("BPR*I*140*", "BPR*I*140000000*"), "(BPR) BPR02", "'140000000' exceeds 99999999.99"),
])
def test_an_amount_x12_does_not_allow_quarantines_its_transaction_and_nothing_of_the_file_is_written(
        database_url: str, tmp_path: Path, bad: tuple[str, str], where: str, reason: str):
    claims, remittance = sent_837(tmp_path, "AN1"), paying("AN1")
    assert bad[0] in remittance
    path = tmp_path / "mixed.x12"
    path.write_text(claims + remittance.replace(*bad))
    ledger = open_ledger(database_url)
    result = Importer(ledger, KEYS, validate=False).import_file(str(path))
    assert [t.status for t in result.transactions] == ["not written", "quarantined"]
    assert where in result.transactions[1].reason and reason in result.transactions[1].reason
    assert "835 0001" in result.transactions[0].reason
    assert claim_events(ledger) == [], "the good 837 before it is not written either"
    [row] = quarantine_rows(ledger)
    assert row["state"] == "quarantined" and reason in row["reason"]
    # the corrected file (same payer and trace) posts whole and clears the quarantine
    path.write_text(claims + remittance)
    fixed = Importer(ledger, KEYS, validate=False).import_file(str(path))
    assert [t.status for t in fixed.transactions] == ["posted", "posted"]
    assert [type(e).__name__ for e in claim_events(ledger)] == ["Coded", "Scrubbed", "Submitted", "Paid"]
    assert quarantine_rows(ledger) == []


def test_an_unbalanced_remittance_holds_back_its_file_unless_each_transaction_is_imported_on_its_own(
        database_url: str, tmp_path: Path):
    path = tmp_path / "mixed.x12"
    path.write_text(sent_837(tmp_path, "UB1") + paying("UB1").replace("BPR*I*140*", "BPR*I*140.01*"))
    ledger = open_ledger(database_url)
    whole = Importer(ledger, KEYS, validate=False).import_file(str(path))
    assert [t.status for t in whole.transactions] == ["not written", "quarantined"]
    assert "(transaction balancing)" in whole.transactions[1].reason and claim_events(ledger) == []
    each = Importer(ledger, KEYS, validate=False, per_transaction=True).import_file(str(path))
    assert [t.status for t in each.transactions] == ["posted", "already quarantined"]
    assert [type(e).__name__ for e in claim_events(ledger)] == ["Coded", "Scrubbed", "Submitted"]


def test_a_bad_amount_in_an_837_quarantines_it(database_url: str, tmp_path: Path):
    text = sent_837(tmp_path, "AM1")
    assert "SV1*HC:99214:25*150*UN*1*" in text
    path = tmp_path / "bad.837"
    path.write_text(text.replace("SV1*HC:99214:25*150*UN*1*", "SV1*HC:99214:25*150*UN*1E2*"))
    ledger = open_ledger(database_url)
    result = Importer(ledger, KEYS, validate=False).import_file(str(path))
    assert result.transactions[0].status == "quarantined"
    assert "(SV1) SV104: '1E2' uses exponential notation" in result.transactions[0].reason
    assert claim_events(ledger) == []


# ---- items left unmatched or rejected are retried once the claim exists ----

def test_unmatched_and_rejected_items_are_retried_once_the_claim_exists(database_url: str, tmp_path: Path):
    ledger = open_ledger(database_url)
    importer = Importer(ledger, KEYS, validate=False)
    era, ack, early = tmp_path / "paid.835", tmp_path / "unknown.277", tmp_path / "early.277"
    era.write_text(paying("UM1"))
    ack.write_text(samples.ack_277("1234567893", [("UM1", "A2", D("175"))]))
    ready_claims(ledger, ["RJ1"])  # coded and scrubbed, never submitted: a 277CA cannot accept it yet
    early.write_text(samples.ack_277("1234567893", [("RJ1", "A2", D("175"))], control=10))
    importer.import_file(str(ack))
    importer.import_file(str(early))
    Importer(ledger, KEYS, strict=True, validate=False).import_file(str(era))
    rows = quarantine_rows(ledger)
    assert sorted((r["kind"], r["claim"], r["state"]) for r in rows) == [
        ("277CA", "RJ1", "rejected"), ("277CA", "UM1", "unmatched"), ("835", "UM1", "unmatched")]
    assert all(r["reason"] for r in rows)
    before = event_count(ledger)
    assert all(t.events == 0 for t in retry_quarantined(ledger, KEYS)), "nothing changed: nothing to post"
    assert event_count(ledger) == before, "the 835 was imported with --strict: a retry opens no claim either"

    Importer(ledger, KEYS, validate=False).import_text(sent_837(tmp_path, "UM1"), "the claim's 837")
    export_837p(ledger, [("1234567893", "RJ1")], str(tmp_path / "rj1.837"), PROVIDERS)
    retried = retry_quarantined(ledger, KEYS)
    assert sorted(t.kind for t in retried) == ["277CA", "277CA", "835"]
    assert quarantine_rows(ledger) == [], "a retried item that posts is cleared"
    assert (ledger.find("UM1").status, ledger.find("RJ1").status) == ("closed", "accepted")  # UM1 paid in full
    after = event_count(ledger)
    assert retry_quarantined(ledger, KEYS) == [] and event_count(ledger) == after, "re-retrying appends nothing"

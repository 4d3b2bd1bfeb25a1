"""X12 feeds against real SQLite and PostgreSQL: every public sample file in ../shared/data/x12 (read in place;
their licences are listed in its INDEX.md) imports with exactly the expected events and amounts or is refused
with a precise reason; 837P export -> pyx12 -> re-import round trips; acknowledgments, remittances,
quarantine, reversals and bad input."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from domain.intake import Intake
from infra.bootstrap import open_ledger, open_patient_keys, open_runner
from infra.verify import differences
from infra.x12 import samples
from infra.x12.export837 import Provider, export_837p
from infra.x12.importer import Importer, intakes, pyx12_verdict, quarantine_rows
from tests.conftest import ROOT

SAMPLES = ROOT.parent / "shared" / "data" / "x12"
KEYS = open_patient_keys()  # the test run's fixed master key (tests/conftest.py)
D = Decimal

# file -> what importing it into an empty ledger must give: claim events by type, item outcomes, money posted,
# or the reason the whole file is refused / a transaction quarantined.
EXPECTED: dict[str, dict] = {
    "azoner+pyx12/835_mult_loops.txt": dict(
        events={"Opened": 1, "Denied": 1}, outcomes={"posted": 1}, paid=D("0"), denied=D("500.04"),  # CO-16 only:
        # OA-A7 (presumptive payment adjustment) is no denial reason (docs/domain.md §3)
        carcs={"CO-16", "OA-A7"}),
    "kputnam+stupidedi/multiple-claims-single-check.edi": dict(
        events={"Opened": 9, "Paid": 9}, outcomes={"posted": 9}, paid=D("810.80"), denied=D("0")),
    "kputnam+stupidedi/dollars-and-data-sent-separate.edi": dict(
        events={"Opened": 2, "Paid": 2}, outcomes={"posted": 2}, paid=D("945"), denied=D("0")),
    "kputnam+stupidedi/dollars-and-data-sent-together.edi": dict(
        events={"Opened": 2, "Paid": 2}, outcomes={"posted": 2}, paid=D("149998.73"), denied=D("0"),
        plb=[("CV", "CP", "-1.27")]),
    "kputnam+stupidedi/era-sample.edi": dict(
        events={"Opened": 1, "Paid": 1}, outcomes={"posted": 1}, paid=D("132"), denied=D("0")),
    "kputnam+stupidedi/3a.edi": dict(
        quarantined=["claims paid 1222.00 - provider adjustments -2.54 != BPR02 1222.00 (transaction balancing)"]),
    "keironstoddart+edi-835-parser/united_healthcare_legacy_sample.txt": dict(
        events={"Opened": 2, "Paid": 2}, outcomes={"posted": 2}, paid=D("349.99"), denied=D("0")),
    "keironstoddart+edi-835-parser/blue_cross_nc_sample.txt": dict(
        refused="file: the file starts at ST without an ISA/GS envelope"),
    "Inteligenz+X12Parser/ExampleFromNth.txt": dict(quarantined=[
        "claim 9999999999-999: charge 999.99 - adjustments 1099.98 != paid 0.00 (claim balancing",
        "claim 9999999999-999: charge 999.99 - adjustments 1099.98 != paid 0.00 (claim balancing",
        "claim 99999999 line 1: charge 999.99 - adjustments 99.99 != paid 999.99 (line balancing"]),
    "Inteligenz+X12Parser/835_WithMultipleInterchanges.txt": dict(quarantined=[
        "(claim balancing", "(claim balancing", "(line balancing"]),
    "zentist+TigerShark/5010-835-example-1.txt": dict(
        # "EDI DENIED" pays $0 with PR-32 only: patient responsibility, not a denial (docs/domain.md §7)
        events={"Opened": 2, "Paid": 2}, outcomes={"posted": 2, "kept": 1}, paid=D("1790"), denied=D("0"),
        notes=["predetermination (CLP02 25)"]),
    "kputnam+stupidedi/commercial-health-insurance.edi": dict(
        events={"Coded": 1, "Scrubbed": 1, "Submitted": 1}, outcomes={"posted": 1}, notes=["ICD-9-CM"]),
    "kputnam+stupidedi/COB-claim-from-billing-provider-to-payer-b.edi": dict(
        events={}, outcomes={"rejected": 1}, reasons=["secondary payer after primary adjudication"]),
    "kputnam+stupidedi/drug-administered-in-the-physician-office.edi": dict(
        events={"Coded": 1, "Scrubbed": 1, "Submitted": 1}, outcomes={"posted": 1}),
    "imsweb+x12-parser/x12_complex.txt": dict(
        # BHT04 1996-09-18, dates of service 2015-2016: a bill before the service is refused (issue 12 item 5);
        # A37YH556 is refused first for its CLM02 500.00, its SV1 lines summing to 25.51 (scrub edit CLAIM-TOTAL)
        events={}, outcomes={"rejected": 6},
        reasons=["'478331' is neither CPT", "scrub edit CLAIM-TOTAL", "claim total 500.00 differs from the sum of "
                                                                      "its lines 25.51"],
        notes=["read as BK:8901"], warnings=["SE01 says '25' segments"]),
    "imsweb+x12-parser/x12_many_claims.txt": dict(
        # BHT04 before the dates of service, and CLM02 500.00 above the lines' sum: refused, named by CLAIM-TOTAL
        events={}, outcomes={"rejected": 820}, reasons=["scrub edit CLAIM-TOTAL", "'478331' is neither CPT"]),
    "Inteligenz+X12Parser/MedicaidExample.txt": dict(
        events={}, outcomes={"rejected": 5}, reasons=["code_claim.diagnoses"]),
    "Inteligenz+X12Parser/Example1_2_And_3_Combined.txt": dict(
        events={"Coded": 3, "Scrubbed": 3, "Submitted": 3}, outcomes={"posted": 3}),
    "LinuxForHealth+x12/demo.cob.example3.B.837": dict(
        events={}, outcomes={"rejected": 1}, reasons=["secondary payer after primary adjudication"]),
    "UHIN+x12-parser-library/837.edi": dict(
        # BHT04 2022-01-18, date of service 2024-08-15: days to bill would be negative; refused
        events={}, outcomes={"rejected": 1}, reasons=["a claim is submitted on or after its date of service"]),
    "kputnam+stupidedi/837-institutional-claim.edi": dict(
        events={"Coded": 1, "Scrubbed": 1, "Submitted": 1}, outcomes={"posted": 1}),
    "LinuxForHealth+x12/two-claims-single-provider.837i": dict(
        events={"Coded": 2, "Scrubbed": 2, "Submitted": 2}, outcomes={"posted": 2}),
    "imsweb+x12-parser/x223-test.txt": dict(  # BHT04 1996-09-18, dates of service 2005-2012, and CLM02 500.00 for
        # lines summing to 73.42: refused, named by the total's edit (CLAIM-TOTAL, checked before anything is recorded)
        events={}, outcomes={"rejected": 1}, reasons=["scrub edit CLAIM-TOTAL", "of its lines 73.42"]),
    "imsweb+x12-parser/x12_277CA_accepted.txt": dict(
        events={}, outcomes={"unmatched": 1}, reasons=["277CA status A2 for claim 5781 the ledger never saw"]),
    "imsweb+x12-parser/x12_277CA_rejected.txt": dict(
        events={}, outcomes={"unmatched": 1}, reasons=["277CA status A7 for claim 3920394930203"]),
    "Inteligenz+X12Parser/277_Deidentified_from_nth.txt": dict(events={}, outcomes={"unmatched": 3}),
    "imsweb+x12-parser/x12_999_accepted.txt": dict(
        refused="segment 10 (IEA): IEA02 '000000001' does not match ISA13 '000000286'"),
    "imsweb+x12-parser/x12_999_rejected.txt": dict(
        events={}, outcomes={"unmatched": 1}, reasons=["the ledger never sent 837 0028 in group 28"]),
    "kputnam+stupidedi/response-to-functional-group-containing-3-837s.edi": dict(
        events={}, outcomes={"kept": 1, "unmatched": 2}),
}


def claim_events(ledger) -> list:
    return [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(start=None, limit=10**7)
            if ".Claim." in n.topic or n.topic.startswith("domain.claim:Claim.")]


def event_count(ledger) -> int:
    return len(ledger.recorder.select_notifications(start=None, limit=10**7))


def test_every_sample_file_has_an_expectation():
    files = {str(p.relative_to(SAMPLES)) for p in SAMPLES.glob("*/*")}
    assert files == set(EXPECTED), "a sample file was added or removed: say what importing it must give"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_file(name: str, database_url: str):
    want = EXPECTED[name]
    ledger = open_ledger(database_url)
    result = Importer(ledger, KEYS, validate=False).import_file(str(SAMPLES / name))
    if "refused" in want:
        assert want["refused"] in result.error
        assert event_count(ledger) == 0, "nothing from a refused file is written"
        return
    assert not result.error
    if "quarantined" in want:
        assert [t.status for t in result.transactions] == ["quarantined"] * len(want["quarantined"])
        for t, reason in zip(result.transactions, want["quarantined"]):
            assert reason in t.reason
        assert claim_events(ledger) == []
        assert len(quarantine_rows(ledger)) == len({t.reason for t in result.transactions}) or \
            len(quarantine_rows(ledger)) <= len(result.transactions)
        return
    events = claim_events(ledger)
    assert dict(Counter(type(e).__name__ for e in events)) == want["events"]
    items = [item for t in result.transactions for item in t.claims]
    assert dict(Counter(i["outcome"] for i in items)) == want["outcomes"]
    for reason in want.get("reasons", []):
        assert any(reason in i["reason"] for i in items), (reason, [i["reason"] for i in items])
    for note in want.get("notes", []):
        assert any(note in n for i in items for n in i["notes"]), (note, [i["notes"] for i in items])
    for warning in want.get("warnings", []):
        assert any(warning in w for w in result.warnings)
    remits = [e.remittance for e in events if type(e).__name__ in ("Paid", "Denied")]
    if "paid" in want:
        assert sum((r["paid"] for r in remits), D("0")) == want["paid"]
    if "denied" in want:
        assert sum((e.denied_amount for e in events if type(e).__name__ in ("Paid", "Denied")), D("0")) == want["denied"]
    if "carcs" in want:
        assert {f"{a['group']}-{a['carc']}" for r in remits for a in r["adjustments"]} == want["carcs"]
    if "plb" in want:
        posted = [t for t in result.transactions if t.provider_adjustments]
        assert [(a["reason"], a["reference"], a["amount"]) for a in posted[0].provider_adjustments] == want["plb"]
    if "diagnoses" in want:
        assert [e.diagnoses for e in events if type(e).__name__ == "Coded"] == [want["diagnoses"]]


def test_reimporting_every_sample_appends_nothing(tmp_path: Path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'x12.db'}")
    importer = Importer(ledger, KEYS, validate=False)
    files = [str(SAMPLES / name) for name in sorted(EXPECTED)]
    for path in files:
        importer.import_file(path)
    before = event_count(ledger)
    again = [importer.import_file(path) for path in files]
    assert event_count(ledger) == before
    # a transaction whose claims are still refused says so again ("refused", "partly posted"), rather than
    # "already imported"
    assert all(t.status in ("already imported", "already quarantined", "posted", "refused", "partly posted")
               for r in again for t in r.transactions)


def test_pyx12_verdicts():
    assert pyx12_verdict(str(SAMPLES / "azoner+pyx12/835_mult_loops.txt")).startswith("valid")
    assert pyx12_verdict(str(SAMPLES / "LinuxForHealth+x12/demo.cob.example3.B.837")) == \
        "not validated: pyx12 4.0.0 has no map for 005010X222A2"
    # pyx12 crashes on a byte-order mark; the importer strips it before handing the text over
    assert "errors" in pyx12_verdict(str(SAMPLES / "Inteligenz+X12Parser/ExampleFromNth.txt"))


# ---- round trips through the ledger's own 837P, acknowledgments and remittances ----

PROVIDERS = {"1234567893": Provider(name="VALLEY FAMILY PRACTICE", address="12 MAIN ST", city="SPRINGFIELD",
                                    state="IL", zip="627011234", tin="371234567")}
NOW = datetime.now(timezone.utc)


def ready_claims(ledger, numbers: list[str], charge: str = "150.00") -> list[tuple[str, str]]:
    from domain import commands as c
    cmds = []
    for n in numbers:
        cmds += [
            c.COMMAND.validate_python({
                "type": "code_claim", "claim_number": n, "billing_npi": "1234567893", "rendering_npi": "1679576722",
                "payer_id": "BCBS01", "payer_class": "commercial", "patient_key": f"pt-{n}", "place_of_service": "11",
                "diagnoses": ["E119", "I10"], "effective_at": NOW.isoformat(),
                "lines": [{"procedure": "99214", "modifiers": ["25"], "charge": charge, "pointers": [1, 2],
                           "service_date": NOW.date().isoformat()},
                          {"procedure": "36415", "charge": "25.00", "service_date": NOW.date().isoformat()}]}),
            c.COMMAND.validate_python({"type": "scrub_claim", "claim_number": n, "billing_npi": "1234567893",
                                       "effective_at": NOW.isoformat()})]
    outcomes = ledger.execute(cmds)
    assert all(o.result == "applied" for o in outcomes), [str(o.error) for o in outcomes if o.error]
    return [("1234567893", n) for n in numbers]


def test_export_validates_and_round_trips(database_url: str, tmp_path: Path):
    ledger = open_ledger(database_url)
    candidates = ready_claims(ledger, ["RT1", "RT2", "RT3"])
    out = tmp_path / "claims.837"
    result = export_837p(ledger, candidates, str(out), PROVIDERS)
    assert result.claims == ["RT1", "RT2", "RT3"] and result.interchange == "000000001"
    assert pyx12_verdict(str(out)) == "valid (005010X222A1, pyx12 4.0.0)"
    submitted = [e for e in claim_events(ledger) if type(e).__name__ == "Submitted"]
    assert {(e.interchange_control_number, e.group_control_number, e.transaction_control_number)
            for e in submitted} == {("000000001", "1", "0001")}
    before = event_count(ledger)
    again = Importer(ledger, KEYS, validate=False).import_file(str(out))
    assert [i["outcome"] for i in again.transactions[0].claims] == ["duplicate"] * 3
    assert len(claim_events(ledger)) == 3 * 3  # coded, scrubbed, submitted: nothing appended for the claims
    assert event_count(ledger) == before + 2  # only the record of the imported file (logged, posted)
    # a second export has nothing ready left; a new ready claim gets the next interchange number
    assert export_837p(ledger, candidates, str(tmp_path / "none.837"), PROVIDERS).claims == []
    second = export_837p(ledger, ready_claims(ledger, ["RT4"]), str(tmp_path / "b.837"), PROVIDERS)
    assert second.interchange == "000000002"
    # the projections skip the bookkeeping of files and control numbers, and still equal the oracle
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, ()) == []

    # the 837P into an empty ledger: the same claims, coded and submitted
    other = open_ledger(f"sqlite:///{tmp_path / 'other.db'}")
    fresh = Importer(other, KEYS, validate=False).import_file(str(out))
    assert [i["outcome"] for i in fresh.transactions[0].claims] == ["posted"] * 3
    mine, theirs = ledger.find("RT2"), other.find("RT2")
    for attribute in ("diagnoses", "lines", "total_charge", "patient_key", "payer_id", "payer_class",
                      "place_of_service", "rendering_npi", "status"):
        assert getattr(mine, attribute) == getattr(theirs, attribute), attribute


def test_acknowledgments_and_remittance_after_export(database_url: str, tmp_path: Path):
    ledger = open_ledger(database_url)
    export_837p(ledger, ready_claims(ledger, ["AK1", "AK2"]), str(tmp_path / "c.837"), PROVIDERS)
    importer = Importer(ledger, KEYS, validate=False)
    ack = tmp_path / "ack.277"
    ack.write_text(samples.ack_277("1234567893", [("AK1", "A2", D("175")), ("AK2", "A7", D("175"))]))
    result = importer.import_file(str(ack))
    assert [i["outcome"] for i in result.transactions[0].claims] == ["posted", "posted"]
    assert ledger.find("AK1").status == "accepted"
    assert ledger.find("AK2").status == "rejected" and "277CA A7:20" in ledger.find("AK2").last_rejection
    assert pyx12_verdict(str(ack)).startswith("valid")

    era = tmp_path / "paid.835"
    era.write_text(samples.remittance([samples.Remit(
        "AK1", "1", D("175"), D("98"), D("24.50"), "ICN-AK1",
        lines=[samples.Line("99214", D("150"), D("84"), [("CO", "45", D("45")), ("PR", "2", D("21"))], ref="1"),
               samples.Line("36415", D("25"), D("14"), [("CO", "45", D("7.50")), ("PR", "2", D("3.50"))], ref="2")])],
        payee_npi="1234567893"))
    assert pyx12_verdict(str(era)).startswith("valid")
    posted = importer.import_file(str(era))
    assert posted.transactions[0].claims[0]["outcome"] == "posted"
    claim = ledger.find("AK1")
    assert (claim.status, claim.payer_paid, claim.contractual, claim.patient_responsibility) == \
        ("paid", D("98"), D("52.50"), D("24.50"))


def sent_elsewhere(tmp_path: Path, number: str) -> Path:
    """An 837P another system sent: exported from a ledger of its own."""
    source = open_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    sent = tmp_path / "sent.837"
    export_837p(source, ready_claims(source, [number]), str(sent), PROVIDERS)
    return sent


def ledger_importer(url: str) -> tuple:
    ledger = open_ledger(url)
    return ledger, Importer(ledger, KEYS, validate=False)


def test_an_837_imported_after_the_835_attaches_its_coding_to_the_claim_the_835_opened(database_url: str,
                                                                                        tmp_path: Path):
    """A practice that started from its 835s imports the 837s another system sent: the coding and the submission
    the 835 answered attach to the claim the 835 opened (its status stays), and the views equal the oracle."""
    sent, ledger, importer, era = sent_elsewhere(tmp_path, "LT1"), *ledger_importer(database_url), tmp_path / "paid.835"
    era.write_text(samples.remittance([samples.Remit(
        "LT1", "1", D("175"), D("98"), D("24.50"), "ICN-LT1",
        lines=[samples.Line("99214", D("150"), D("84"), [("CO", "45", D("45")), ("PR", "2", D("21"))]),
               samples.Line("36415", D("25"), D("14"), [("CO", "45", D("7.50")), ("PR", "2", D("3.50"))])])],
        payee_npi="1234567893", paid_on=NOW.date() + timedelta(days=1)))
    assert importer.import_file(str(era)).transactions[0].claims[0]["outcome"] == "posted"
    assert ledger.find("LT1").diagnoses == []
    late = importer.import_file(str(sent))
    assert [i["outcome"] for i in late.transactions[0].claims] == ["posted"], late.transactions[0].claims
    claim = ledger.find("LT1")
    assert (claim.status, claim.diagnoses, claim.place_of_service, claim.submissions) == ("paid", ["E119", "I10"],
                                                                                        "11", 1)
    assert [type(e).__name__ for e in claim_events(ledger)] == ["Opened", "Paid", "CodingAttached",
                                                                "SubmissionAttached"]
    assert claim.first_submitted_at.date() == NOW.date()
    before = event_count(ledger)
    assert importer.import_file(str(sent)).transactions[0].status == "already imported"
    assert event_count(ledger) == before
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, ()) == []
    [row] = runner.views.query(f"SELECT first_submitted_on, submissions, first_pass_resolved FROM "
                               f"{runner.views.t['claim_status']}")
    assert str(row["first_submitted_on"]) == NOW.date().isoformat() and row["submissions"] == 1
    assert row["first_pass_resolved"]


def test_an_837_attaches_to_the_claim_an_835_opened_under_the_billing_providers_tax_id(database_url: str,
                                                                                       tmp_path: Path):
    """The 835's payee gave only a tax id, so the claim was opened as TIN-<tax id>; the 837 names the billing
    NPI and, in 2010AA, that tax id: it attaches to that claim instead of coding the same claim a second time."""
    sent, ledger, importer, era = sent_elsewhere(tmp_path, "TX1"), *ledger_importer(database_url), tmp_path / "paid.835"
    era.write_text(samples.remittance([samples.Remit("TX1", "1", D("175"), D("140"), D("0"), "ICN-TX1",
                                                     adjustments=[("CO", "45", D("35"))])],
                                      payee_tin=PROVIDERS["1234567893"].tin, paid_on=NOW.date() + timedelta(days=1)))
    importer.import_file(str(era))
    assert ledger.find("TX1").billing_npi == "TIN-371234567"
    late = importer.import_file(str(sent)).transactions[0].claims
    assert [i["outcome"] for i in late] == ["posted"] and "tax id 371234567" in late[0]["notes"][0], late
    assert len({e.originator_id for e in claim_events(ledger)}) == 1, "one claim, not two"
    claim = ledger.find("TX1")
    assert (claim.status, claim.diagnoses, claim.submissions) == ("closed", ["E119", "I10"], 1)
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, ()) == []


def test_999_rejects_the_claims_of_the_837_it_names(database_url: str, tmp_path: Path):
    ledger = open_ledger(database_url)
    export_837p(ledger, ready_claims(ledger, ["N1", "N2"]), str(tmp_path / "c.837"), PROVIDERS)
    importer = Importer(ledger, KEYS, validate=False)
    accepted = tmp_path / "a.999"
    accepted.write_text(samples.ack_999("1", "0001", accepted=True))
    assert importer.import_file(str(accepted)).transactions[0].claims[0]["outcome"] == "kept"
    assert ledger.find("N1").status == "submitted"
    rejected = tmp_path / "r.999"
    rejected.write_text(samples.ack_999("1", "0001", accepted=False, control=8))
    result = importer.import_file(str(rejected))
    assert [i["outcome"] for i in result.transactions[0].claims] == ["posted", "posted"]
    assert ledger.find("N2").status == "rejected"
    assert ledger.find("N2").last_rejection.startswith("999 IK5 R 5: segment CLM at 15: syntax error 8")


def test_unbalanced_remittance_is_quarantined_whole_then_posted_after_a_fix(database_url: str, tmp_path: Path):
    ledger = open_ledger(database_url)
    remits = samples.random_remits(4, seed=3)
    broken = tmp_path / "broken.835"
    broken.write_text(samples.remittance(remits, trace="T77", bpr_off_by=D("0.01")))
    result = Importer(ledger, KEYS, validate=False).import_file(str(broken))
    assert result.transactions[0].status == "quarantined"
    assert "(transaction balancing)" in result.transactions[0].reason
    assert claim_events(ledger) == []
    rows = quarantine_rows(ledger)
    assert [(r["state"], r["kind"]) for r in rows] == [("quarantined", "835")]
    again = Importer(ledger, KEYS, validate=False).import_file(str(broken))
    assert again.transactions[0].status == "already quarantined"
    fixed = tmp_path / "fixed.835"
    fixed.write_text(samples.remittance(remits, trace="T77"))
    posted = Importer(ledger, KEYS, validate=False).import_file(str(fixed))
    assert posted.transactions[0].status == "posted"
    assert quarantine_rows(ledger) == []
    assert len([e for e in claim_events(ledger) if type(e).__name__ == "Opened"]) == 4


def test_strict_keeps_unknown_claims_unmatched(tmp_path: Path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 's.db'}")
    era = tmp_path / "u.835"
    era.write_text(samples.remittance(samples.random_remits(3, seed=5), trace="T9", payee_npi="1234567893"))
    result = Importer(ledger, KEYS, strict=True, validate=False).import_file(str(era))
    assert [i["outcome"] for i in result.transactions[0].claims] == ["unmatched"] * 3
    assert claim_events(ledger) == []
    assert [r["state"] for r in quarantine_rows(ledger)] == ["unmatched"] * 3
    # without --strict, importing it again opens the claims from the remittance
    again = Importer(ledger, KEYS, validate=False).import_file(str(era))
    assert [i["outcome"] for i in again.transactions[0].claims] == ["posted"] * 3
    opened = [e for e in claim_events(ledger) if type(e).__name__ == "Opened"]
    assert len(opened) == 3 and all("no coding or submission known" in e.origin for e in opened)


def payment_then_reversal_and_correction(tmp_path: Path) -> tuple[Path, Path]:
    """Two 835s for claim RV1: one pays it (120.00), the other reverses that payment and pays 140.00 instead."""
    first = samples.Remit("RV1", "1", D("200"), D("120"), D("20"), "ICN-RV1",
                          adjustments=[("CO", "45", D("60")), ("PR", "3", D("20"))])
    one = tmp_path / "one.835"
    one.write_text(samples.remittance([first], trace="T1", payee_npi="1234567893"))
    reversal = samples.Remit("RV1", "22", D("-200"), D("-120"), D("-20"), "ICN-RV1",
                             adjustments=[("CO", "45", D("-60")), ("PR", "3", D("-20"))])
    correction = samples.Remit("RV1", "1", D("200"), D("140"), D("20"), "ICN-RV1B",
                               adjustments=[("CO", "45", D("40")), ("PR", "3", D("20"))])
    two = tmp_path / "two.835"
    two.write_text(samples.remittance([reversal, correction], trace="T2", payee_npi="1234567893", control=2))
    return one, two


def test_reversal_then_correction_in_one_remittance(database_url: str, tmp_path: Path):
    ledger = open_ledger(database_url)
    one, two = payment_then_reversal_and_correction(tmp_path)
    Importer(ledger, KEYS, validate=False).import_file(str(one))
    result = Importer(ledger, KEYS, validate=False).import_file(str(two))
    assert [i["outcome"] for i in result.transactions[0].claims] == ["posted", "posted"]
    kinds = [type(e).__name__ for e in claim_events(ledger)]
    assert kinds == ["Opened", "Paid", "PaymentReversed", "Paid"]
    claim = ledger.find("RV1")
    assert (claim.payer_paid, claim.contractual, claim.patient_responsibility) == (D("140"), D("40"), D("20"))


# ---- bad input: refused whole, nothing written ----

GOOD = samples.remittance(samples.random_remits(3, seed=9), trace="TB", payee_npi="1234567893")


@pytest.mark.parametrize("name, text, reason", [
    ("truncated", GOOD[: len(GOOD) // 2], "has no SE: the file is truncated"),
    ("st-se", re.sub(r"SE\*([0-9]+)\*0001~", r"SE*\1*0002~", GOOD), "SE02 '0002' does not match ST02 '0001'"),
    ("gs-ge", GOOD.replace("GE*1*1~", "GE*1*2~"), "GE02 '2' does not match GS06 '1'"),
    ("isa-iea", GOOD.replace("IEA*1*000000001", "IEA*1*000000002"), "IEA02 '000000002' does not match ISA13"),
    ("version", GOOD.replace("005010X221A1", "005010X999"), "version '005010X999' of the 835 is unknown"),
    ("isa-version", GOOD.replace("*00501*", "*00401*"), "interchange version '00401' (ISA12) is not supported"),
    ("empty", "", "the file is empty"),
])
def test_structural_faults_refuse_the_file(name: str, text: str, reason: str, tmp_path: Path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'b.db'}")
    path = tmp_path / f"{name}.x12"
    path.write_text(text)
    result = Importer(ledger, KEYS, validate=False).import_file(str(path))
    assert reason in result.error
    assert event_count(ledger) == 0


def test_binary_garbage_is_refused(tmp_path: Path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'g.db'}")
    path = tmp_path / "garbage.x12"
    path.write_bytes(os.urandom(4096) + b"ISA" + os.urandom(4096))
    result = Importer(ledger, KEYS, validate=False).import_file(str(path))
    assert result.error and event_count(ledger) == 0


def test_fifty_megabytes_broken_at_the_end_writes_nothing_in_bounded_memory(tmp_path: Path):
    """A 50 MB 835 whose last segment is wrong: the structure pass streams the file (1 MB chunks, one
    transaction at a time), refuses it, and the ledger stays empty; a subprocess reports its peak memory."""
    remits = samples.random_remits(2000, seed=11)
    one = samples.remittance(remits, trace="TBIG")
    body = one[one.index("ST*835"):one.index("GE*")]
    head, count = one[:one.index("ST*835")], 0
    path = tmp_path / "big.835"
    with path.open("w") as f:
        f.write(head)
        while f.tell() < 50 * 1024 * 1024:
            f.write(body.replace("*0001~", f"*{count + 1:04d}~"))
            count += 1
        f.write(f"GE*{count}*1~\nIEA*1*000000009~\n")  # ISA13 is 000000001: the file is refused at its very end
    db = tmp_path / "big.db"
    # VmHWM, the child's own peak (ru_maxrss would carry the parent's peak across fork and exec)
    script = (f"from infra.bootstrap import open_ledger, open_patient_keys; from infra.x12.importer import Importer;"
              f"r = Importer(open_ledger('sqlite:///{db}'), open_patient_keys(), validate=False).import_file('{path}');"
              f"print(r.error); print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    error, peak_kib = done.stdout.strip().splitlines()
    assert "IEA02 '000000009' does not match ISA13 '000000001'" in error
    assert int(peak_kib) < 200 * 1024, f"peak memory {int(peak_kib) // 1024} MiB for a 50 MB file"
    assert event_count(open_ledger(f"sqlite:///{db}")) == 0


def test_intake_records_payment_facts(tmp_path: Path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'p.db'}")
    era = tmp_path / "plb.835"
    remits = samples.random_remits(2, seed=4)
    era.write_text(samples.remittance(remits, trace="TP", payee_npi="1234567893",
                                      provider_adjustments=[("WO:LOAN1", D("25.00"))], paid_on=date(2026, 10, 5)))
    result = Importer(ledger, KEYS, validate=False).import_file(str(era))
    payment = result.transactions[0].payment
    assert payment["trace"] == "TP" and payment["paid_on"] == "2026-10-05" and payment["method"] == "ACH"
    assert D(payment["amount"]) == sum((r.paid for r in remits), D("0")) - D("25")
    [intake] = list(intakes(ledger))
    assert isinstance(intake, Intake) and intake.kind == "835"
    assert intake.posted["provider_adjustments"] == [
        {"provider": "1234567893", "fiscal_period": "20261005", "reason": "WO", "reference": "LOAN1", "amount": "25.00"}]


# ---- property: any claim the ledger can export comes back the same ----

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

BILLABLE = ["E119", "I10", "J069", "M5450", "Z0000", "R69", "K219", "F419", "N390", "E785"]
PROCEDURES = ["99213", "99214", "36415", "80053", "J3490", "0001F", "0042T", "G0439"]


@st.composite
def exportable_claims(draw):
    count = draw(st.integers(1, 4))
    claims = []
    for n in range(count):
        diagnoses = draw(st.lists(st.sampled_from(BILLABLE), min_size=1, max_size=4, unique=True))
        lines = [{"procedure": draw(st.sampled_from(PROCEDURES)),
                  "modifiers": draw(st.lists(st.sampled_from(["25", "59", "LT", "RT", "GT"]), max_size=2, unique=True)),
                  "units": str(draw(st.integers(1, 4))),
                  "charge": f"{draw(st.integers(1, 250000)) / 100:.2f}",
                  "pointers": draw(st.lists(st.integers(1, len(diagnoses)), min_size=1, max_size=min(4, len(diagnoses)),
                                            unique=True)),
                  "service_date": (NOW.date().toordinal() - draw(st.integers(0, 60)))}
                 for _ in range(draw(st.integers(1, 5)))]
        for line in lines:
            line["service_date"] = date.fromordinal(line["service_date"]).isoformat()
        claims.append({"claim_number": f"H{n}-{draw(st.integers(0, 99999))}", "diagnoses": diagnoses, "lines": lines,
                       "payer_class": draw(st.sampled_from(["medicare", "medicaid", "commercial"])),
                       "place_of_service": draw(st.sampled_from(["11", "22", "02"]))})
    return claims


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=exportable_claims())
def test_claims_to_837p_and_back(claims, tmp_path_factory):
    from domain import commands as c
    ledger = open_ledger("memory:")
    commands = []
    for claim in {cl["claim_number"]: cl for cl in claims}.values():
        common = {"claim_number": claim["claim_number"], "billing_npi": "1234567893", "effective_at": NOW.isoformat()}
        commands += [c.COMMAND.validate_python({**common, "type": "code_claim", "rendering_npi": "1679576722",
                                                "payer_id": "PAYER1", "patient_key": f"pt-{claim['claim_number']}",
                                                **{k: claim[k] for k in ("diagnoses", "lines", "payer_class",
                                                                         "place_of_service")}}),
                     c.COMMAND.validate_python({**common, "type": "scrub_claim"})]
    ledger.execute(commands)
    ready = [("1234567893", cl.claim_number) for cl in ledger.claims() if cl.status == "ready"]
    out = tmp_path_factory.mktemp("rt") / "claims.837"
    result = export_837p(ledger, ready, str(out), PROVIDERS)
    assert sorted(result.claims) == sorted(n for _, n in ready)
    if not result.claims:
        return
    other = open_ledger("memory:")
    imported = Importer(other, KEYS, validate=False).import_file(str(out))
    assert not imported.error
    assert {i["claim"]: i["outcome"] for i in imported.transactions[0].claims} == {n: "posted" for n in result.claims}
    for number in result.claims:
        mine, theirs = ledger.find(number), other.find(number)
        for attribute in ("diagnoses", "lines", "total_charge", "patient_key", "payer_id", "payer_class",
                          "place_of_service", "rendering_npi", "billing_npi"):
            assert getattr(mine, attribute) == getattr(theirs, attribute), attribute
        assert (theirs.status, theirs.submissions) == ("submitted", 1)


def test_control_characters_in_x12_text_meet_the_same_refusal_as_any_command(tmp_path: Path):
    era = tmp_path / "escape.835"
    era.write_text(samples.remittance([samples.Remit("NB1", "1", D("175"), D("140"), D("0"), "ICN\x1bNB1",
                                                     adjustments=[("CO", "45", D("35"))])], payee_npi="1234567893"))
    ledger, importer = ledger_importer(f"sqlite:///{tmp_path / 'ledger.db'}")
    [item] = importer.import_file(str(era)).transactions[0].claims
    assert item["outcome"] == "rejected" and "payer_claim_control_number" in item["reason"]
    assert "control character U+001B" in item["reason"]
    assert claim_events(ledger) == []

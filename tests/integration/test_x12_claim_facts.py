"""What an X12 file says of a claim is what the ledger keeps, on SQLite and PostgreSQL: patient control numbers as
long as each transaction allows (CLP01 38, CLM01 20), the billed units of a denied line, the payer's place in
coordination of benefits, procedure modifiers, an institutional claim's facility type and revenue codes; and a
transaction whose claims were refused says so."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from domain import commands as c
from domain.contract import message_for
from infra.bootstrap import open_ledger, open_runner
from infra.verify import differences
from infra.x12 import samples
from infra.x12.export837 import export_837p
from infra.x12.importer import Importer
from tests.integration.test_x12 import (NOW, PROVIDERS, SAMPLES, claim_events, ledger_importer, pyx12_verdict,
                                         sent_elsewhere)

D = Decimal
LONG = "PCN-2026-0001-ABCDEFGHIJ-KLMNOP"  # 31 characters: more than an 837's CLM01 allows, within CLP01's 38


def import_remits(importer: Importer, tmp_path: Path, *remits: samples.Remit) -> list[dict]:
    era = tmp_path / "era.835"
    era.write_text(samples.remittance(list(remits), payee_npi="1234567893"))
    result = importer.import_file(str(era))
    assert not result.error, result.error
    return result.transactions[0].claims


def test_an_835_opens_claims_with_long_patient_control_numbers_and_denied_lines_paid_zero_units(database_url: str,
                                                                                             tmp_path: Path):
    ledger, importer = ledger_importer(database_url)
    items = import_remits(importer, tmp_path, samples.Remit(
        LONG, "1", D("175"), D("140"), D("0"), "ICN-LONG", adjustments=[("CO", "45", D("35"))]), samples.Remit(
        "DN1", "4", D("200"), D("0"), D("0"), "ICN-DN1", lines=[
            samples.Line("99214", D("150"), D("0"), [("CO", "50", D("150"))], units_paid="0", original_units="2"),
            samples.Line("36415", D("50"), D("0"), [("CO", "50", D("50"))], units_paid="0")]))
    assert [(i["claim"], i["outcome"]) for i in items] == [(LONG, "posted"), ("DN1", "posted")], items
    assert (ledger.find(LONG).claim_number, ledger.find(LONG).status) == (LONG, "closed")
    denied = ledger.find("DN1")
    assert denied.status == "denied"
    assert [ln.units for ln in denied.lines] == [D("2"), D("1")], "SVC07 when the payer paid 0 units, else 1"
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, ()) == []


def test_claims_opened_from_secondary_and_tertiary_remittances_record_the_payer_sequence(database_url: str,
                                                                                        tmp_path: Path):
    ledger, importer = ledger_importer(database_url)
    prior_payer = [("OA", "23", D("70"))]  # CARC 23: the prior payer's adjudication
    items = import_remits(importer, tmp_path, *(samples.Remit(f"SQ{status}", status, D("100"), D("30"), D("0"),
                                                              f"ICN-SQ{status}", adjustments=prior_payer)
                                                for status in ("1", "2", "3", "20", "21")))
    assert [i["outcome"] for i in items] == ["posted"] * 5, items
    assert [ledger.find(f"SQ{s}").payer_sequence for s in ("1", "2", "3", "20", "21")] == [
        "primary", "secondary", "tertiary", "secondary", "tertiary"]
    opened = [e for e in claim_events(ledger) if type(e).__name__ == "Opened"]
    assert sorted(e.payer_sequence for e in opened) == ["primary", "secondary", "secondary", "tertiary", "tertiary"]


def test_procedure_modifiers_are_kept_on_claims_opened_from_an_835(database_url: str, tmp_path: Path):
    ledger, importer = ledger_importer(database_url)
    items = import_remits(importer, tmp_path, samples.Remit("MD1", "1", D("175"), D("110"), D("0"), "ICN-MD1", lines=[
        samples.Line("99214", D("150"), D("100"), [("CO", "45", D("50"))], modifiers=("25", "59")),
        samples.Line("36415", D("25"), D("10"), [("CO", "45", D("15"))])]))
    assert [i["outcome"] for i in items] == ["posted"], items
    claim = ledger.find("MD1")
    assert [(ln.procedure, ln.modifiers) for ln in claim.lines] == [("99214", ("25", "59")), ("36415", ())]


def test_a_transaction_whose_claims_were_refused_says_so(database_url: str, tmp_path: Path):
    ledger, importer = ledger_importer(database_url)
    too_long = "X" * 39  # CLP01 is at most 38 characters
    era = tmp_path / "era.835"
    era.write_text(samples.remittance([samples.Remit(too_long, "1", D("100"), D("80"), D("0"), "ICN-X",
                                                     adjustments=[("CO", "45", D("20"))]),
                                       samples.Remit("OK1", "1", D("100"), D("80"), D("0"), "ICN-OK1",
                                                     adjustments=[("CO", "45", D("20"))])], payee_npi="1234567893"))
    [partly] = importer.import_file(str(era)).transactions
    assert partly.status == "partly posted"
    assert [(i["claim"], i["outcome"]) for i in partly.claims] == [(too_long, "rejected"), ("OK1", "posted")]
    assert "at most 38 characters" in partly.claims[0]["reason"]
    assert importer.import_file(str(era)).transactions[0].status == "partly posted", "still refused on a re-import"
    [refused] = importer.import_file(str(SAMPLES / "kputnam+stupidedi/COB-claim-from-billing-provider-to-payer-b.edi")
                                     ).transactions
    assert refused.status == "refused" and refused.claims[0]["outcome"] == "rejected"


def test_an_837_claim_number_longer_than_clm01_allows_is_refused_with_the_reason(database_url: str, tmp_path: Path):
    ledger, importer = ledger_importer(database_url)
    text = (SAMPLES / "kputnam+stupidedi/commercial-health-insurance.edi").read_text()
    assert "CLM*26463774*" in text
    path = tmp_path / "long.837"
    path.write_text(text.replace("CLM*26463774*", f"CLM*{LONG}*"))
    [tx] = importer.import_file(str(path)).transactions
    assert [i["outcome"] for i in tx.claims] == ["rejected"]
    assert f"CLM01 {LONG!r} has 31 characters; an 837 allows at most 20" in tx.claims[0]["reason"]
    assert claim_events(ledger) == []


def test_an_837i_keeps_its_facility_type_code_and_revenue_codes_apart_from_the_place_of_service(database_url: str):
    ledger, importer = ledger_importer(database_url)
    for name in ("kputnam+stupidedi/837-institutional-claim.edi", "LinuxForHealth+x12/two-claims-single-provider.837i"):
        [tx] = importer.import_file(str(SAMPLES / name)).transactions
        assert {i["outcome"] for i in tx.claims} == {"posted"}, tx.claims
    claims = {(cl.claim_number, cl.total_charge): cl for cl in ledger.claims()}
    first = claims[("756048Q", D("89.93"))]
    assert (first.facility_type_code, first.place_of_service, first.frequency) == ("14", "", "1")
    assert [(ln.revenue_code, ln.procedure, ln.units) for ln in first.lines] == [
        ("0305", "85025", D("1")), ("0730", "93005", D("3"))]
    assert not any(e["rule"] == "POS-FORMAT" for e in first.scrub_edits), first.scrub_edits
    outpatient = claims[("756049Q", D("50.00"))]
    assert (outpatient.facility_type_code, outpatient.place_of_service) == ("13", "")
    assert [ln.revenue_code for ln in outpatient.lines] == ["0300"]
    coded = [e for e in claim_events(ledger) if type(e).__name__ == "Coded"]
    assert sorted((e.facility_type_code, e.place_of_service) for e in coded) == [("13", ""), ("13", ""), ("14", "")]
    payload = message_for(coded[0], 1, coded[0].claim_number).payload
    assert payload["place_of_service"] == "" and payload["facility_type_code"] in ("13", "14")
    runner = open_runner(database_url)
    runner.catch_up()
    assert differences(runner, ()) == []


def test_the_837p_export_refuses_the_claims_it_cannot_write(tmp_path: Path):
    """An 837P carries a CLM01 of at most 20 characters and a place of service: a claim with a longer number, or an
    institutional claim, is left out with the reason rather than written into an invalid file."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'x.db'}")
    day = NOW.date().isoformat()
    common = {"billing_npi": "1234567893", "effective_at": NOW.isoformat(), "payer_id": "BCBS01",
              "payer_class": "commercial", "patient_key": "pt-1", "diagnoses": ["E119"]}
    line = {"procedure": "99214", "charge": "150.00", "service_date": day}
    long_number = "LONG-CLAIM-NUMBER-00025"
    commands = [
        {**common, "type": "code_claim", "claim_number": long_number, "place_of_service": "11", "lines": [line]},
        {**common, "type": "code_claim", "claim_number": "INST1", "facility_type_code": "13",
         "lines": [{**line, "revenue_code": "0450"}]},
        {**common, "type": "code_claim", "claim_number": "OK1", "place_of_service": "11", "lines": [line]}]
    commands += [{"type": "scrub_claim", "claim_number": cmd["claim_number"], "billing_npi": "1234567893",
                  "effective_at": NOW.isoformat()} for cmd in list(commands)]
    outcomes = ledger.execute([c.COMMAND.validate_python(cmd) for cmd in commands])
    assert [o.result for o in outcomes] == ["applied"] * 6, [str(o.error) for o in outcomes if o.error]
    assert {cl.claim_number: cl.status for cl in ledger.claims()} == {long_number: "ready", "INST1": "ready",
                                                                       "OK1": "ready"}
    out = tmp_path / "claims.837"
    result = export_837p(ledger, [("1234567893", n) for n in (long_number, "INST1", "OK1")], str(out), PROVIDERS)
    assert result.claims == ["OK1"]
    reasons = {s["claim"]: s["reason"] for s in result.skipped}
    assert "23 characters; an 837 CLM01 allows at most 20" in reasons[long_number]
    assert "institutional claim (facility type code 13)" in reasons["INST1"]
    assert pyx12_verdict(str(out)) == "valid (005010X222A1, pyx12 4.0.0)"
    assert ledger.find("INST1").status == "ready" and ledger.find(long_number).status == "ready"


def test_events_stored_before_these_fields_existed_still_replay(tmp_path: Path):
    ledger, importer = ledger_importer(f"sqlite:///{tmp_path / 'old.db'}")
    items = import_remits(importer, tmp_path, samples.Remit("OLD1", "2", D("100"), D("30"), D("0"), "ICN-OLD1", lines=[
        samples.Line("99214", D("100"), D("30"), [("OA", "23", D("70"))], modifiers=("25",))]))
    assert [i["outcome"] for i in items] == ["posted"], items
    [tx] = importer.import_file(str(SAMPLES / "kputnam+stupidedi/837-institutional-claim.edi")).transactions
    assert tx.claims[0]["outcome"] == "posted"
    transcoder = ledger.mapper.transcoder
    for claim_number, dropped in (("OLD1", "payer_sequence"), ("756048Q", "facility_type_code")):
        first = ledger.recorder.select_events(ledger.find(claim_number).id, limit=1)[0]
        state = transcoder.decode(first.state)
        state.pop(dropped)
        for ln in state["lines"]:
            ln.pop("revenue_code", None)
        old = StoredEvent(first.originator_id, first.originator_version, first.topic, transcoder.encode(state))
        claim = ledger.mapper.to_domain_event(old).mutate(None)
        assert (claim.payer_sequence, claim.facility_type_code) == ("primary", "")
        assert all(ln.revenue_code == "" for ln in claim.lines)


def with_clm02(text: str, number: str, total: str) -> str:
    """The 837 with CLM02 of claim `number` replaced: a total that is not the sum of its SV1 lines."""
    head, rest = text.split(f"CLM*{number}*", 1)
    return f"{head}CLM*{number}*{total}*{rest.split('*', 1)[1]}"


def test_an_837_whose_clm02_is_not_the_sum_of_its_lines_is_refused_by_claim_total(database_url: str, tmp_path: Path):
    sent = tmp_path / "total.837"
    sent.write_text(with_clm02(sent_elsewhere(tmp_path, "CT1").read_text(), "CT1", "180"))
    ledger, importer = ledger_importer(database_url)
    [item] = importer.import_file(str(sent)).transactions[0].claims
    assert item["outcome"] == "rejected" and "scrub edit CLAIM-TOTAL" in item["reason"], item
    assert "claim total 180.00 differs from the sum of its lines 175.00" in item["reason"]
    assert claim_events(ledger) == [], "nothing of the refused claim is recorded"


def test_an_837_attaching_to_a_claim_an_835_opened_is_refused_when_its_lines_miss_clm02(database_url: str,
                                                                                       tmp_path: Path):
    text = sent_elsewhere(tmp_path, "CT2").read_text()
    assert "SV1*HC:36415*25*" in text
    sent = tmp_path / "short.837"
    sent.write_text(text.replace("SV1*HC:36415*25*", "SV1*HC:36415*20*"))  # CLM02 still 175, the lines 170
    ledger, importer = ledger_importer(database_url)
    import_remits(importer, tmp_path, samples.Remit("CT2", "1", D("175"), D("140"), D("0"), "ICN-CT2",
                                                    adjustments=[("CO", "45", D("35"))]))
    [item] = importer.import_file(str(sent)).transactions[0].claims
    assert item["outcome"] == "rejected" and "scrub edit CLAIM-TOTAL" in item["reason"], item
    assert [type(e).__name__ for e in claim_events(ledger)] == ["Opened", "Paid"]


def test_an_835_dated_before_the_837_it_answers_is_refused(database_url: str, tmp_path: Path):
    """Payment lag never goes negative: a check dated before the claim was sent is refused, in either order."""
    sent = sent_elsewhere(tmp_path, "EA1")
    ledger, importer = ledger_importer(database_url)
    assert importer.import_file(str(sent)).transactions[0].claims[0]["outcome"] == "posted"
    early = tmp_path / "early.835"
    early.write_text(samples.remittance([samples.Remit("EA1", "1", D("175"), D("140"), D("0"), "ICN-EA1",
                                                       adjustments=[("CO", "45", D("35"))])],
                                        payee_npi="1234567893", paid_on=NOW.date() - timedelta(days=3)))
    [item] = importer.import_file(str(early)).transactions[0].claims
    assert item["outcome"] == "rejected" and "dated on or after the submission it answers" in item["reason"], item
    assert ledger.find("EA1").status == "submitted"
    # the other order: a check of three days ago opened claim EA2; its 837, found later, was sent today
    three_days_ago = tmp_path / "ea2.835"
    three_days_ago.write_text(early.read_text().replace("EA1", "EA2").replace("TRACE1", "TRACE2"))
    assert importer.import_file(str(three_days_ago)).transactions[0].claims[0]["outcome"] == "posted"
    (tmp_path / "source.db").unlink()
    [item] = importer.import_file(str(sent_elsewhere(tmp_path, "EA2"))).transactions[0].claims
    assert item["outcome"] == "rejected" and "dated on or after the submission it answers" in item["reason"], item
    assert ledger.find("EA2").submissions == 0

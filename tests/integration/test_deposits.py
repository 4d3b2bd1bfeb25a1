"""Deposit reconciliation on both back ends: the bank's BAI2 deposits matched with the 835s' BPR/TRN (and with
payments recorded by command under a trace number): matched, amount differs, unmatched on either side, the posting
lag; a re-imported bank file appends nothing; a file whose totals do not add up is refused whole, naming the item."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from infra.bai2_deposits import Credit, write_bai2
from infra.bootstrap import open_ledger
from infra.x12.samples import Line, Remit, remittance
from tests.conftest import NPI, cmd, lifecycle_to_submitted
from tests.e2e.test_cli import rcm

D = Decimal
CREATED = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)


def paid_remit(claim: str, charge: str, paid: str) -> Remit:
    adjusted = D(charge) - D(paid)
    return Remit(claim, "1", D(charge), D(paid), D("0.00"), f"ICN-{claim}",
                 lines=[Line("99213", D(charge), D(paid), [("CO", "45", adjusted)], service_date=date(2026, 11, 2))])


def ach(trace: str, originator: str) -> str:
    return f"ORIG CO NAME:SYNTHETIC PAYER ORIG ID:{originator} DESC:HCCLAIMPMT SEC:CCD TRN*1*{trace}*{originator}\\"


def bank_file(path: Path, days: dict[date, list[Credit]], file_id: str = "1") -> str:
    path.write_text(write_bai2(sender="BANK1", receiver="PRACTICE", account="99887766", file_id=file_id,
                               created=CREATED, days=days))
    return str(path)


def events(url: str) -> int:
    ledger = open_ledger(url)  # kept while its recorder is read: the store closes with it
    return ledger.recorder.max_notification_id() or 0


@pytest.fixture
def reconciled(database_url: str, tmp_path: Path) -> dict:
    """Three imported 835s of payer PAYER77 (TRN03 1PAYER77) and one payment recorded by command under trace
    CMD-1; the bank file deposits two of the 835s (one short by $5.00), the command's payment two days before it
    was posted, and an EFT of another payer whose 835 never came."""
    for n, (claim, paid) in enumerate((("R1", "80.00"), ("R2", "60.00"), ("R3", "40.00")), start=1):
        path = tmp_path / f"{claim}.835"
        path.write_text(remittance([paid_remit(claim, "100.00", paid)], trace=f"TRC{n}", payer_id="PAYER77",
                                   payee_npi=NPI, paid_on=date(2026, 11, 10), control=n))
        done = rcm("import", str(path), "--no-validate", db=database_url)
        assert done.returncode == 0, done.stderr
    story = tmp_path / "story.jsonl"
    lines = lifecycle_to_submitted("K1") + [cmd("record_payment", "K1", payer_claim_control_number="ICN-K1",
                                                charge="100.00", paid="70.00", trace_number="CMD-1",
                                                adjustments=[{"group": "CO", "carc": "45", "amount": "30.00"}],
                                                effective_at="2026-03-20T10:00:00-05:00")]
    story.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert rcm("apply", str(story), db=database_url).returncode == 0
    bank = bank_file(tmp_path / "bank.bai", {
        date(2026, 3, 18): [Credit(D("70.00"), "B0", "CMD-1", ach("CMD-1", "BCBS"))],
        date(2026, 11, 10): [Credit(D("80.00"), "B1", "TRC1", ach("TRC1", "1PAYER77")),
                             Credit(D("55.00"), "B2", "TRC2", ach("TRC2", "1PAYER77")),
                             Credit(D("12.34"), "B3", "TRC3", ach("TRC3", "1OTHERPAY"))]})
    done = rcm("deposits", "import", bank, "--json", db=database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["recorded"] == 4
    return {"url": database_url, "bank": bank}


def report(url: str, *options: str) -> dict:
    done = rcm("report", "deposits", "--json", *options, db=url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_deposits_match_the_835s_by_trace_and_payer(reconciled: dict):
    data = report(reconciled["url"])
    rows = {(r["trace"], r["status"]): r for r in data["rows"]}
    today = datetime.now(timezone.utc).date().isoformat()  # an imported 835 is posted when it is imported
    matched = rows[("TRC1", "matched")]
    assert (matched["amount"], matched["remit_amount"], matched["difference"]) == ("80.00", "80.00", "0.00")
    assert (matched["deposit_date"], matched["paid_on"], matched["posted_on"]) == ("2026-11-10", "2026-11-10", today)
    assert matched["payer"] == "SYNTHETIC PAYER"
    short = rows[("TRC2", "amount differs")]
    assert (short["amount"], short["remit_amount"], short["difference"]) == ("55.00", "60.00", "-5.00")
    # TRC3 was deposited, but by another payer (its TRN03): that deposit has no 835, and PAYER77's 835 no deposit
    assert rows[("TRC3", "deposit without 835")]["amount"] == "12.34"
    assert rows[("TRC3", "835 without deposit")]["remit_amount"] == "40.00"
    recorded = rows[("CMD-1", "matched")]  # a payment recorded by command under its trace number
    assert (recorded["payer"], recorded["posted_on"], recorded["posting_lag_days"]) == ("BCBS", "2026-03-20", 2)
    assert len(data["rows"]) == 5
    counts = {status: figures["count"] for status, figures in data["by_status"].items()}
    assert counts == {"matched": 2, "amount differs": 1, "deposit without 835": 1, "835 without deposit": 1}
    lags = [2, (date.fromisoformat(today) - date(2026, 11, 10)).days,
            (date.fromisoformat(today) - date(2026, 11, 10)).days]
    assert data["posting_lag_days"] == round(sum(lags) / 3, 2)


def test_the_report_takes_a_date_range(reconciled: dict):
    only_march = report(reconciled["url"], "--from", "2026-03-01", "--to", "2026-03-31")
    assert [r["trace"] for r in only_march["rows"]] == ["CMD-1"]
    assert only_march["posting_lag_days"] == 2
    refused = rcm("report", "deposits", "--from", "2026-04-01", "--to", "2026-03-01", db=reconciled["url"])
    assert refused.returncode == 2 and "--from 2026-04-01 is after --to 2026-03-01" in refused.stderr
    assert rcm("report", "kpis", "--from", "2026-03-01", db=reconciled["url"]).returncode == 2


def test_a_reimported_bank_file_appends_nothing(reconciled: dict, tmp_path: Path):
    url, before = reconciled["url"], events(reconciled["url"])
    again = rcm("deposits", "import", reconciled["bank"], "--json", db=url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0] | {"file": ""} == {
        "file": "", "deposits": 4, "recorded": 0, "already_recorded": 4, "debits_skipped": 0, "total": "217.34"}
    # the bank sends the same deposits again in another file: known by the bank's reference numbers
    resent = bank_file(tmp_path / "resent.bai", {date(2026, 11, 10): [Credit(D("80.00"), "B1", "TRC1", ach(
        "TRC1", "1PAYER77"))]}, file_id="2")
    assert rcm("deposits", "import", resent, db=url).returncode == 0
    assert events(url) == before
    assert len(report(url)["rows"]) == 5


@pytest.mark.parametrize("record, wrong, named", [
    ("49", "49,16000,4/", "account 99887766 in group 1 (as of 2026-11-10) of file 1: the account trailer (49) "
                          "control total 160.00 != 188.00"),
    ("98", "98,18000,1,6/", "group 1 (as of 2026-11-10) of file 1: the group trailer (98) control total 180.00 != "
                            "188.00"),
    ("99", "99,1,2,13/", "file 1: the file trailer (99) control total 0.01 != 208.00"),
    ("49", "49,18800,5/", "account 99887766 in group 1 (as of 2026-11-10) of file 1: the account trailer (49) counts "
                          "5 records, the account has 4"),
])
def test_a_file_whose_totals_do_not_add_up_is_refused_whole(database_url: str, tmp_path: Path, record: str,
                                                              wrong: str, named: str):
    good = bank_file(tmp_path / "good.bai", {
        date(2026, 11, 10): [Credit(D("80.00"), "B1", "TRC1", ach("TRC1", "1PAYER77")),
                             Credit(D("14.00"), "B2", "TRC2", ach("TRC2", "1PAYER77"))],
        date(2026, 11, 11): [Credit(D("10.00"), "B3", "TRC3", ach("TRC3", "1PAYER77"))]})
    lines = Path(good).read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(record + ","))
    lines[at] = wrong
    bad = tmp_path / "bad.bai"
    bad.write_text("\n".join(lines) + "\n")
    before = events(database_url)
    done = rcm("deposits", "import", str(bad), db=database_url)
    assert done.returncode == 2, done.stderr
    assert named in " ".join(done.stderr.split()), done.stderr
    assert "nothing from this file was written" in " ".join(done.stderr.split())
    assert events(database_url) == before
    assert rcm("deposits", "import", good, db=database_url).returncode == 0  # the corrected file imports
    assert events(database_url) == before + 3


def test_a_file_that_is_not_bai2_is_refused(database_url: str, tmp_path: Path):
    junk = tmp_path / "junk.bai"
    junk.write_text("ISA*00*not a bank file~\n")
    done = rcm("deposits", "import", str(junk), db=database_url)
    assert done.returncode == 2 and "not a BAI2 file" in done.stderr, done.stderr


def test_the_demo_writes_a_bank_file_that_reconciles_but_for_a_few_exceptions(database_url: str, tmp_path: Path):
    bank = tmp_path / "bank.bai"
    demo = ["demo", "--claims", "300", "--seed", "5", "--until", "2026-11-27", "--bank-file", str(bank)]
    assert rcm(*demo, db=database_url).returncode == 0
    first = bank.read_text()
    assert rcm("deposits", "import", str(bank), db=database_url).returncode == 0
    data = report(database_url)
    counts = {status: figures["count"] for status, figures in data["by_status"].items()}
    assert counts["matched"] > 0.9 * len(data["rows"])
    assert counts["deposit without 835"] == 2 and counts["amount differs"] + counts["835 without deposit"] >= 1
    assert 0 <= data["posting_lag_days"] <= 3
    assert rcm(*demo, db=database_url).returncode == 0  # the same practice again: the same bank file
    assert bank.read_text() == first

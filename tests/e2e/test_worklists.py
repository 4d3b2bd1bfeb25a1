"""`rcm worklist` and `rcm report day` on a small practice computed by hand, on SQLite and PostgreSQL: each list's
members and order, the appeal deadlines `rcm show` gives, the day's figures (and its PDF), and refused input."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from domain.deadlines import filing_deadline
from tests.conftest import cmd
from tests.e2e.test_cli import jsonl, rcm

TODAY = datetime.now(timezone.utc).date()
REPORT_DAY = TODAY - timedelta(days=50)


def on(days_ago: int) -> str:
    return f"{(TODAY - timedelta(days=days_ago)).isoformat()}T12:00:00+00:00"


def coded(claim: str, payer: str, dos_days_ago: int, charge: str) -> dict[str, Any]:
    payer_class = "medicare" if payer == "MEDICARE" else "commercial"
    service = (TODAY - timedelta(days=dos_days_ago)).isoformat()
    return cmd("code_claim", claim, payer_id=payer, payer_class=payer_class, patient_key=f"pk-{claim}",
               place_of_service="11", diagnoses=["E11.9"],
               lines=[{"procedure": "99213", "charge": charge, "service_date": service}], effective_at=on(dos_days_ago))


def sent(claim: str, payer: str, dos_days_ago: int, charge: str, submitted_days_ago: int) -> list[dict[str, Any]]:
    return [coded(claim, payer, dos_days_ago, charge), cmd("scrub_claim", claim, effective_at=on(dos_days_ago)),
            cmd("submit_claim", claim, effective_at=on(submitted_days_ago))]


def paid(claim: str, days_ago: int, charge: str, paid_: str, contractual: str, patient: str = "0.00") -> dict:
    adjustments = [{"group": "CO", "carc": "45", "amount": contractual}]
    if patient != "0.00":
        adjustments.append({"group": "PR", "carc": "2", "amount": patient})
    return cmd("record_payment", claim, payer_claim_control_number=f"ICN-{claim}", charge=charge, paid=paid_,
               patient_responsibility=patient, adjustments=adjustments, effective_at=on(days_ago))


def denied(claim: str, days_ago: int, charge: str) -> dict[str, Any]:
    return cmd("record_denial", claim, payer_claim_control_number=f"ICN-{claim}", charge=charge, paid="0.00",
               adjustments=[{"group": "CO", "carc": "50", "amount": charge}], effective_at=on(days_ago))


def practice() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    # BCBS's answered history: lags 10 (x10), 20 (x8), 40 (x2), and below P0 19, WO 9, D1 10, D4 15, P1 10, F5 10:
    # 26 answers, whose nearest-rank 90th percentile is 20 days (24 answered within 20 days, 24 x 100 >= 26 x 90)
    for i, lag in enumerate([10] * 10 + [20] * 8 + [40] * 2):
        claim = f"H{i:02d}"
        lines += [*sent(claim, "BCBS", 101, "100.00", 100), paid(claim, 100 - lag, "100.00", "80.00", "20.00")]
    lines += [*sent("P0", "BCBS", 70, "100.00", 69), paid("P0", 50, "100.00", "60.00", "20.00", "20.00"),
              cmd("record_patient_payment", "P0", amount="20.00", effective_at=on(50))]
    lines += [*sent("WO", "BCBS", 70, "90.00", 69), denied("WO", 60, "90.00"),
              cmd("write_off", "WO", responsibility="payer", amount="90.00", reason="denial", effective_at=on(50))]
    # follow-up: BCBS N = 20, MEDICARE (2 answers: D2, D3) N = 30 by default
    lines += [*sent("F1", "BCBS", 30, "100.00", 28), cmd("accept_claim", "F1", effective_at=on(27))]  # 28 >= 20
    lines += sent("F2", "BCBS", 16, "100.00", 15)                                                       # 15 < 20
    lines += sent("F3", "MEDICARE", 36, "300.00", 35)                                                   # 35 >= 30
    lines += sent("F4", "MEDICARE", 30, "100.00", 29)                                                   # 29 < 30
    lines += [*sent("F5", "BCBS", 71, "140.00", 70), denied("F5", 60, "140.00"),  # overturned: waits from then
              cmd("appeal_denial", "F5", level=1, reason="records", effective_at=on(55)),
              cmd("decide_appeal", "F5", overturned=True, effective_at=on(25))]                       # 25 >= 20
    # denials
    lines += [*sent("D1", "BCBS", 61, "120.00", 60), denied("D1", 50, "120.00")]          # internal appeal, +180
    lines += [*sent("D2", "MEDICARE", 141, "300.00", 140), denied("D2", 130, "300.00")]   # redetermination, +120
    lines += [*sent("D3", "MEDICARE", 111, "110.00", 110), denied("D3", 100, "110.00"),   # upheld: QIC, +180
              cmd("appeal_denial", "D3", level=1, reason="records", effective_at=on(95)),
              cmd("decide_appeal", "D3", overturned=False, effective_at=on(20))]
    lines += [*sent("D4", "BCBS", 61, "130.00", 60), denied("D4", 45, "130.00"),          # appealed: not listed
              cmd("appeal_denial", "D4", level=1, reason="records", effective_at=on(40))]
    # not yet submitted (and near the timely-filing limit or not)
    lines += [coded("TF1", "BCBS", 75, "100.00"), coded("TF3", "BCBS", 95, "200.00"),
              coded("TF4", "BCBS", 50, "150.00"), coded("TF2", "MEDICARE", 340, "250.00"),
              cmd("scrub_claim", "TF2", effective_at=on(1))]
    lines += [coded("P1", "BCBS", 55, "80.00"), cmd("scrub_claim", "P1", effective_at=on(55)),
              cmd("submit_claim", "P1", effective_at=on(50)), denied("P1", 40, "80.00"),
              cmd("write_off", "P1", responsibility="payer", amount="80.00", reason="denial", effective_at=on(39))]
    return lines


@pytest.fixture
def practice_url(database_url: str, tmp_path: Path) -> str:
    done = rcm("apply", str(jsonl(tmp_path / "practice.jsonl", *practice())), db=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    return database_url


def worklist(url: str, name: str, *options: str) -> list[dict[str, Any]]:
    done = rcm("worklist", name, *options, "--json", db=url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["rows"]


def days_from_today(day: date) -> int:
    return (day - TODAY).days


def test_each_worklist_lists_its_claims_in_order(practice_url: str):
    follow = worklist(practice_url, "follow-up")
    assert [(r["claim_number"], r["follow_up_after"], r["days_waiting"], r["days_past_due"]) for r in follow] == [
        ("F1", 20, 28, 8), ("F3", 30, 35, 5), ("F5", 20, 25, 5)]
    denials = worklist(practice_url, "denials")
    d2, d1, d3 = (TODAY - timedelta(days=130) + timedelta(days=120), TODAY - timedelta(days=50) + timedelta(days=180),
                  TODAY - timedelta(days=20) + timedelta(days=180))
    assert [(r["claim_number"], r["next_level"], r["level_name"], r["appeal_deadline"], r["days_left"], r["overdue"],
             r["at_stake"]) for r in denials] == [
        ("D2", 1, "redetermination", d2.isoformat(), -10, True, "300.00"),
        ("D1", 1, "internal appeal", d1.isoformat(), 130, False, "120.00"),
        ("D3", 2, "QIC reconsideration", d3.isoformat(), 160, False, "110.00")]
    for row in denials:  # one deadline: the one `rcm show` gives
        shown = json.loads(rcm("show", row["claim_number"], "--json", db=practice_url).stdout)
        assert shown["appeal_deadline"] == row["appeal_deadline"]
    filing = worklist(practice_url, "timely-filing")
    tf2 = filing_deadline("medicare", TODAY - timedelta(days=340))
    assert [(r["claim_number"], r["file_by"], r["days_left"], r["overdue"]) for r in filing] == [
        ("TF3", (TODAY - timedelta(days=5)).isoformat(), -5, True),
        ("TF1", (TODAY + timedelta(days=15)).isoformat(), 15, False),
        ("TF2", tf2.isoformat(), days_from_today(tf2), False)]
    unbilled = worklist(practice_url, "unbilled")
    assert [(r["claim_number"], r["status"], r["days_since_service"], r["balance"]) for r in unbilled] == [
        ("TF2", "ready", 340, "250.00"), ("TF3", "coded", 95, "200.00"), ("TF1", "coded", 75, "100.00"),
        ("TF4", "coded", 50, "150.00")]


def test_payer_and_min_balance_narrow_a_list(practice_url: str):
    assert json.loads(rcm("worklist", "consumed", "--json", db=practice_url).stdout) == []  # the Kafka queue, unfed
    assert [r["claim_number"] for r in worklist(practice_url, "unbilled", "--payer", "BCBS")] == ["TF3", "TF1", "TF4"]
    assert [r["claim_number"] for r in worklist(practice_url, "unbilled", "--min-balance", "150")] == [
        "TF2", "TF3", "TF4"]
    assert [r["claim_number"] for r in worklist(practice_url, "denials", "--payer", "MEDICARE",
                                                "--min-balance", "200.00")] == ["D2"]
    table = rcm("worklist", "denials", db=practice_url).stdout
    assert "$300.00" in table and "redetermination" in table


def test_the_day_report_gives_the_days_figures(practice_url: str, tmp_path: Path):
    pdf = tmp_path / "day.pdf"
    done = rcm("report", "day", "--date", REPORT_DAY.isoformat(), "--pdf", str(pdf), "--json", db=practice_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["work"] == {"coded": {"count": 1, "dollars": "150.00"}, "submitted": {"count": 1, "dollars": "80.00"},
                              "paid": {"count": 1, "dollars": "60.00"}, "denied": {"count": 1, "dollars": "120.00"},
                              "written_off": {"count": 1, "dollars": "90.00"}}
    assert report["cash_posted"] == {"payer": "60.00", "patient": "20.00", "total": "80.00"}
    assert (report["adjudicated"], report["denied"], report["denial_rate"]) == (2, 1, 0.5)
    # owed at the end of the day: D1 120, P1 80, TF4 150, TF3 200, TF1 100, TF2 250, D2 300, D3 110, D4 130, F5 140
    assert report["outstanding"] == {"claims": 10, "balance": "1580.00"}
    assert sum(Decimal(r["balance"]) for r in report["aging"]) == Decimal("1580.00")
    text = PdfReader(pdf).pages[0].extract_text()
    assert len(PdfReader(pdf).pages) == 1
    for figure in (REPORT_DAY.isoformat(), "$150.00", "$80.00", "$60.00", "$120.00", "$90.00", "$1,580.00",
                   "50.0% of 2 adjudicated"):
        assert figure in text, figure


@pytest.mark.parametrize(("args", "words"), [
    (["worklist", "overdue"], "invalid choice: 'overdue'"),
    (["worklist", "unbilled", "--min-balance", "-5"], "-5 is not an amount from 0"),
    (["worklist", "unbilled", "--min-balance", "1.234"], "at most 2 decimal places"),
    (["worklist", "unbilled", "--payer", "NOPE"], "--payer 'NOPE': no such payer"),
    (["worklist", "denials", "--all"], "--all is for `rcm worklist consumed`"),
    (["report", "day", "--date", "2026-02-30"], "--date '2026-02-30': not a date"),
    (["report", "day", "--as-of", "2026-02-03"], "it takes no --as-of"),
    (["report", "kpis", "--date", "2026-02-03"], "--date and --pdf are for `rcm report day`"),
])
def test_bad_input_exits_2_with_the_reason(practice_url: str, args: list[str], words: str):
    done = rcm(*args, db=practice_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in " ".join(done.stderr.split()), done.stderr

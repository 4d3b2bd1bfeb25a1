"""Statement cycles as a biller runs them, on SQLite and PostgreSQL: PDFs a patient can read (rendered to PNG),
PatientBilled recorded once per cycle, dunning by age, and a cycle refused whole for a missing address."""
from __future__ import annotations

import json
from pathlib import Path

import pypdfium2

from tests.conftest import cmd, code, lifecycle_to_submitted, payment
from tests.e2e.test_cli import jsonl, rcm, snapshot

ADDRESSES = ("patient_key,name,line1,line2,city,state,postal_code\n"
             "pk-1,Pat Example,12 Elm St,Apt 3,Springfield,IL,62701\n"
             "pk-2,Sam Selfpay,9 Oak Ave,,Peoria,IL,61602\n")


def practice(tmp_path: Path, db: str) -> None:
    """pk-1: C1 (deductible 50 + coinsurance 20, remark N130) and C2 (copay 25); pk-2: C3 self-pay, ready;
    pk-3's C4 is still with its payer (no statement)."""
    c1 = payment("C1", charge="300.00", paid="150.00", contractual="80.00", patient="70.00",
                 adjustments=[{"group": "CO", "carc": "45", "amount": "80.00"},
                              {"group": "PR", "carc": "1", "amount": "50.00"},
                              {"group": "PR", "carc": "2", "amount": "20.00"}], remark_codes=["N130"])
    c2 = payment("C2", charge="120.00", paid="65.00", contractual="30.00", patient="25.00", icn="ICN2",
                 adjustments=[{"group": "CO", "carc": "45", "amount": "30.00"},
                              {"group": "PR", "carc": "3", "amount": "25.00"}])
    lines = [*lifecycle_to_submitted("C1", charge="300.00"), c1, *lifecycle_to_submitted("C2", charge="120.00"), c2,
             code("C3", charge="90.00", patient_key="pk-2", payer_id="SELF", payer_class="self_pay"),
             cmd("scrub_claim", "C3"), *lifecycle_to_submitted("C4", patient_key="pk-3")]
    done = rcm("apply", str(jsonl(tmp_path / "practice.jsonl", *lines)), db=db)
    assert done.returncode == 0, done.stdout + done.stderr


def page_text(pdf: Path) -> str:
    document = pypdfium2.PdfDocument(str(pdf))
    return " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def test_a_cycle_writes_one_pdf_per_patient_and_bills_each_claim_once(tmp_path: Path, database_url: str) -> None:
    practice(tmp_path, database_url)
    (tmp_path / "addresses.csv").write_text(ADDRESSES)
    out = tmp_path / "statements"
    run = rcm("statements", "run", "--cycle", "2026-04-01", "--out", str(out), "--addresses",
              str(tmp_path / "addresses.csv"), "--practice", "Springfield Family Medicine", "--json", db=database_url)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert [(s["patient"], s["claims"], s["balance"], s["dunning_level"]) for s in result["statements"]] == [
        ("pk-1", 2, "95.00", 1), ("pk-2", 1, "90.00", 1)]
    assert result["billed"] == 3
    text = " ".join(page_text(out / "statement-2026-04-01-pk-1.pdf").split())
    for expected in ("Springfield Family Medicine", "Pat Example", "12 Elm St", "Springfield, IL 62701",
                     "Amount due: $95.00", "Please pay by 2026-05-01", "PR-1 $50.00: Deductible",
                     "PR-2 $20.00: Coinsurance", "PR-3 $25.00: Copay", "N130", "Claim C1", "$300.00", "$150.00"):
        assert expected in text, (expected, text)
    assert "self-pay" in " ".join(page_text(out / "statement-2026-04-01-pk-2.pdf").split())
    image = pypdfium2.PdfDocument(str(out / "statement-2026-04-01-pk-1.pdf"))[0].render(scale=1.5).to_pil()
    image.save(tmp_path / "statement.png")
    low, high = image.convert("L").getextrema()
    assert image.size[0] > 800 and low < 100 < 200 < high  # a drawn page: dark text on white, not a blank one
    shown = json.loads(rcm("show", "C1", "--json", db=database_url).stdout)
    assert shown["status"] == "patient_billed"

    before = snapshot(database_url)
    again = rcm("statements", "run", "--cycle", "2026-04-01", "--out", str(out), "--addresses",
                str(tmp_path / "addresses.csv"), "--json", db=database_url)
    assert again.returncode == 0 and json.loads(again.stdout)["billed"] == 0
    assert snapshot(database_url) == before

    plan = rcm("plan", "create", "pk-1", "--claim", "C1", "--claim", "C2", "--first-due", "2026-04-15",
               "--installments", "2", db=database_url)
    assert plan.returncode == 0, plan.stderr
    later = rcm("statements", "run", "--cycle", "2026-05-10", "--out", str(out), "--addresses",
                str(tmp_path / "addresses.csv"), "--json", db=database_url)
    assert [s["dunning_level"] for s in json.loads(later.stdout)["statements"]] == [2, 2]
    text = " ".join(page_text(out / "statement-2026-05-10-pk-1.pdf").split())
    assert "PAST DUE" in text
    assert "Payment plan 1: 1 missed installment(s), $47.50 behind" in text
    assert "Payment plan 1: next installment $47.50 due 2026-05-15" in text


def test_a_patient_without_an_address_refuses_the_whole_cycle(tmp_path: Path, database_url: str) -> None:
    practice(tmp_path, database_url)
    (tmp_path / "addresses.csv").write_text(ADDRESSES.replace("pk-2,Sam Selfpay,9 Oak Ave,", "pk-2,Sam Selfpay,,"))
    before, out = snapshot(database_url), tmp_path / "statements"
    run = rcm("statements", "run", "--cycle", "2026-04-01", "--out", str(out), "--addresses",
              str(tmp_path / "addresses.csv"), db=database_url)
    assert run.returncode == 2
    assert "patient pk-2: a statement needs a mailing address" in " ".join(run.stderr.split())
    assert snapshot(database_url) == before and not list(out.glob("*.pdf"))
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_key,name\npk-1,Pat\n")
    refused = rcm("statements", "run", "--cycle", "2026-04-01", "--out", str(out), "--addresses", str(bad),
                  db=database_url)
    assert refused.returncode == 2 and "the header lacks line1" in refused.stderr


def test_addresses_come_from_the_phi_store_and_a_forgotten_patient_gets_no_statement(tmp_path: Path,
                                                                                    database_url: str) -> None:
    practice(tmp_path, database_url)
    (tmp_path / "addresses.csv").write_text(ADDRESSES)
    bad = tmp_path / "bad.csv"
    bad.write_text(ADDRESSES + "pk-9,Nobody,,,Peoria,IL,61602\n")
    refused = rcm("phi", "import", str(bad), db=database_url)
    assert refused.returncode == 2 and "line 4: field line1 is empty" in refused.stderr
    assert rcm("phi", "show", "pk-1", db=database_url).returncode == 2  # nothing was sealed
    sealed = rcm("phi", "import", str(tmp_path / "addresses.csv"), db=database_url)
    assert sealed.returncode == 0 and "sealed the mailing addresses of 2 patient(s)" in sealed.stdout
    out = tmp_path / "statements"
    run = rcm("statements", "run", "--cycle", "2026-04-01", "--out", str(out), "--json", db=database_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "12 Elm St" in page_text(out / "statement-2026-04-01-pk-1.pdf")
    assert rcm("phi", "forget", "pk-2", "--yes", db=database_url).returncode == 0
    later = rcm("statements", "run", "--cycle", "2026-05-01", "--out", str(out), db=database_url)
    assert later.returncode == 2 and "patient pk-2: a statement needs a mailing address" in " ".join(later.stderr.split())


def test_a_demo_practice_mails_its_statements(tmp_path: Path) -> None:
    """The demo seals its made-up patients' addresses in the PHI store: every patient with a balance gets a PDF."""
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = rcm("demo", "--claims", "300", "--seed", "4", "--until", "2026-11-27", "--json", db=db)
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["addresses_sealed"] == 300
    run = rcm("statements", "run", "--cycle", "2026-11-30", "--out", str(tmp_path / "st"), "--json", db=db)
    assert run.returncode == 0, run.stderr
    statements = json.loads(run.stdout)["statements"]
    assert statements and {s["dunning_level"] for s in statements} <= {1, 2, 3, 4}
    assert len(list((tmp_path / "st").glob("*.pdf"))) == len(statements)
    text = " ".join(page_text(Path(statements[0]["file"])).split())
    assert "Amount due: $" in text and "Account " + statements[0]["patient"] in text

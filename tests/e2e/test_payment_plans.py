"""`rcm plan` as a biller runs it, on SQLite and PostgreSQL: agree, re-run, judge installments, refuse bad plans."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cmd, lifecycle_to_submitted, payment
from tests.e2e.test_cli import jsonl, rcm, snapshot


def practice(tmp_path: Path, db: str) -> None:
    """C1 and C2: pk-1's claims, each leaving the patient 120.00; C3: another patient's; C4: pk-1's, no balance."""
    lines = [*lifecycle_to_submitted("C1", charge="300.00"),
             payment("C1", charge="300.00", paid="150.00", contractual="30.00", patient="120.00"),
             *lifecycle_to_submitted("C2", charge="300.00"),
             payment("C2", charge="300.00", paid="150.00", contractual="30.00", patient="120.00", icn="ICN2"),
             *lifecycle_to_submitted("C3", patient_key="pk-2"), payment("C3", icn="ICN3"),
             *lifecycle_to_submitted("C4"), payment("C4", paid="80.00", patient="0.00", icn="ICN4")]
    done = rcm("apply", str(jsonl(tmp_path / "practice.jsonl", *lines)), db=db)
    assert done.returncode == 0, done.stderr


def test_a_plan_is_agreed_once_and_its_installments_judged(tmp_path: Path, database_url: str) -> None:
    practice(tmp_path, database_url)
    created = rcm("plan", "create", "pk-1", "--claim", "C1", "--claim", "C2", "--first-due", "2027-01-05",
                  "--installments", "3", "--json", db=database_url)
    assert created.returncode == 0, created.stderr
    plan = json.loads(created.stdout)
    assert plan["plan"]["plan"] == "pk-1/1" and plan["plan"]["balance"] == "240.00"
    assert [(i["due"], i["amount"]) for i in plan["installments"]] == [
        ("2027-01-05", "80.00"), ("2027-02-05", "80.00"), ("2027-03-05", "80.00")]
    before = snapshot(database_url)
    again = rcm("plan", "create", "pk-1", "--claim", "C2", "--claim", "C1", "--first-due", "2027-01-05",
                "--installments", "3", db=database_url)
    assert again.returncode == 0 and "agreed already" in again.stderr
    assert snapshot(database_url) == before

    paid = rcm("apply", str(jsonl(tmp_path / "pay.jsonl", cmd("record_patient_payment", "C2", amount="100.00"))),
               db=database_url)
    assert paid.returncode == 0, paid.stderr
    shown = json.loads(rcm("plan", "show", "pk-1", "--as-of", "2027-02-20", "--json", db=database_url).stdout)
    assert [(i["status"], i["short"]) for i in shown[0]["installments"]] == [
        ("paid", "0.00"), ("missed", "60.00"), ("upcoming", "140.00")]
    table = rcm("plan", "show", "pk-1", "--as-of", "2027-02-20", db=database_url)
    assert "$240.00 over 3 installments, $100.00 paid, $140.00 left" in " ".join(table.stdout.split())
    missed = json.loads(rcm("plan", "missed", "--as-of", "2027-02-20", "--json", db=database_url).stdout)
    assert [(m["plan"], m["missed"], m["days_late"], m["short"]) for m in missed] == [("pk-1/1", 1, 15, "60.00")]
    assert json.loads(rcm("plan", "missed", "--as-of", "2027-02-10", "--json", db=database_url).stdout) == []

    cancelled = rcm("plan", "cancel", "pk-1", "1", "--reason", "patient asked for a new plan", db=database_url)
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(rcm("plan", "missed", "--as-of", "2027-02-20", "--json", db=database_url).stdout) == []
    second = rcm("plan", "create", "pk-1", "--claim", "C1", "--first-due", "2027-03-01", "--amount", "50",
                 "--json", db=database_url)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["plan"]["plan"] == "pk-1/2"
    late = rcm("plan", "create", "pk-1", "--claim", "C2", "--first-due", "2026-10-01", "--installments", "2",
               db=database_url)  # its first installment was due before today
    assert late.returncode == 0, late.stderr
    listed = json.loads(rcm("worklist", "missed-installments", "--json", db=database_url).stdout)
    assert "pk-1/3" in [m["plan"] for m in listed] and "pk-1/1" not in [m["plan"] for m in listed]  # 1: cancelled


def test_bad_plans_are_refused_naming_the_item_and_write_nothing(tmp_path: Path, database_url: str) -> None:
    practice(tmp_path, database_url)
    before = snapshot(database_url)
    for args, reason in [
        (["--claim", "C1", "--first-due", "2027-01-05", "--installments", "4", "--amount", "50"],
         "installments exceed the balance: installment 4 of 4 (due 2027-04-05) would be -30.00"),
        (["--claim", "C1", "--claim", "C3", "--first-due", "2027-01-05", "--installments", "2"],
         "claim C3 is another patient's"),
        (["--claim", "C4", "--first-due", "2027-01-05", "--installments", "2"],
         "claim C4 has a patient balance of 0.00"),
        (["--claim", "C9", "--first-due", "2027-01-05", "--installments", "2"], "no claim C9"),
        (["--claim", "C1", "--first-due", "2027-13-05", "--installments", "2"], "is not a date"),
        (["--claim", "C1", "--first-due", "2027-01-05", "--amount", "12.345"], "at most 2 decimals"),
        (["--claim", "C1", "--first-due", "2027-01-05"], "give installments (a count), amount"),
    ]:
        done = rcm("plan", "create", "pk-1", *args, db=database_url)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert reason in " ".join(done.stderr.split()), (reason, done.stderr)
    assert snapshot(database_url) == before
    assert rcm("plan", "show", "pk-9", db=database_url).returncode == 2

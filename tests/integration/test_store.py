"""The ledger on real SQLite and PostgreSQL: persistence, batching, concurrency, idempotency, replay by time."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from domain import errors
from domain.commands import COMMAND
from infra.bootstrap import open_ledger
from infra.simulator import demo_commands
from tests.conftest import NPI, at, cmd, code, denial, lifecycle_to_submitted, payment


def execute(ledger, *bodies):
    return ledger.execute([COMMAND.validate_python(b) for b in bodies])


def stored_rows(ledger):
    return [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
            for n in ledger.recorder.select_notifications(start=None, limit=10**9)]


def test_a_fresh_ledger_reads_back_what_was_written(database_url):
    writer = open_ledger(database_url)
    outcomes = execute(writer, *lifecycle_to_submitted(), payment())
    assert [o.result for o in outcomes] == ["applied"] * 5
    reader = open_ledger(database_url)
    claim = reader.find("C1")
    assert claim == writer.find("C1")
    assert (claim.status, str(claim.patient_balance), claim.version) == ("paid", "20.00", 5)


def test_many_claims_are_saved_in_one_transaction(database_url):
    ledger = open_ledger(database_url)
    before = ledger.recorder.max_notification_id() or 0
    execute(ledger, *[code(f"B{i}") for i in range(300)])
    rows = stored_rows(ledger)
    assert len(rows) == 600  # each claim and its claim-number index entry
    assert [r[0] for r in rows] == list(range(before + 1, before + 601))  # gap-free notification order


def test_a_rejected_command_writes_nothing_and_others_are_saved(database_url):
    ledger = open_ledger(database_url)
    execute(ledger, *lifecycle_to_submitted())
    before = stored_rows(ledger)
    outcomes = execute(ledger, payment(paid="99.00"), code("C2"))
    assert [o.result for o in outcomes] == ["rejected", "applied"]
    after = stored_rows(ledger)
    assert after[:len(before)] == before and len(after) == len(before) + 2


def test_all_or_nothing_batch_writes_nothing_when_one_command_is_refused(database_url):
    ledger = open_ledger(database_url)
    execute(ledger, *lifecycle_to_submitted())
    before = stored_rows(ledger)
    commands = [COMMAND.validate_python(b) for b in (code("C2"), payment(paid="99.00"))]
    outcomes = ledger.execute(commands, all_or_nothing=True)
    assert [o.result for o in outcomes] == ["applied", "rejected"]
    assert stored_rows(ledger) == before
    with pytest.raises(errors.UnknownClaim):
        open_ledger(database_url).find("C2")


def test_two_writers_on_one_claim_never_lose_an_update(database_url):
    first, second = open_ledger(database_url), open_ledger(database_url)
    execute(first, *lifecycle_to_submitted())
    assert first.find("C1").status == "accepted"  # now cached by the first writer
    execute(second, payment())  # the second writer moves the claim on
    outcomes = execute(first, cmd("bill_patient", effective_at=at(16)))  # stale cache: conflict, reload, retry
    assert outcomes[0].result == "applied"
    claim = open_ledger(database_url).find("C1")
    assert (claim.version, claim.status, claim.statements) == (6, "patient_billed", 1)


def test_history_as_of_shows_what_the_ledger_knew_then(database_url):
    ledger = open_ledger(database_url)
    execute(ledger, *lifecycle_to_submitted())
    between = datetime.now(timezone.utc)
    execute(ledger, denial())
    claim = ledger.find("C1")
    assert [type(e).__name__ for e, _ in ledger.replay(claim, as_of=between)][-1] == "Accepted"
    assert [s.status for _, s in ledger.replay(claim)][-1] == "denied"
    assert [s.status for _, s in ledger.replay(claim, version=2)] == ["coded", "ready"]


def test_claim_numbers_shared_by_two_billing_npis_are_told_apart(database_url):
    ledger = open_ledger(database_url)
    execute(ledger, code("SHARED"), {**code("SHARED"), "billing_npi": "1245319599"})
    with pytest.raises(errors.AmbiguousClaimNumber) as refused:
        ledger.find("SHARED")
    assert "1245319599" in str(refused.value) and NPI in str(refused.value)
    assert ledger.find("SHARED", "1245319599").billing_npi == "1245319599"


def test_the_demo_is_deterministic_and_rerunning_it_appends_nothing(database_url):
    ledger = open_ledger(database_url)
    commands = demo_commands(5, 300, date(2026, 11, 27))
    first = ledger.execute(commands)
    assert not [str(o.error) for o in first if o.error]
    rows = stored_rows(ledger)
    again = open_ledger(database_url).execute(demo_commands(5, 300, date(2026, 11, 27)))
    assert {o.result for o in again} == {"duplicate"}
    assert stored_rows(ledger) == rows
    later = open_ledger(database_url).execute(demo_commands(5, 300, date(2026, 12, 15)))
    assert not [str(o.error) for o in later if o.error]  # later days continue the same stories


def test_the_demo_keeps_the_ledgers_rules_in_a_deductible_season(database_url):
    """Issue 12 item 18: a January Medicare visit whose first line went wholly to the deductible and whose add-on
    was bundled (CO-97) was posted as a $0 payment, which the ledger refuses as a denial."""
    commands = demo_commands(22, 200, date(2026, 3, 1))
    outcomes = open_ledger(database_url).execute(commands)
    assert [str(o.error) for o in outcomes if o.error] == []
    assert len({cmd.claim_number for cmd in commands}) == 200


def test_a_failed_save_leaves_no_unsaved_change_in_the_cache(database_url, monkeypatch):
    ledger = open_ledger(database_url)
    execute(ledger, *lifecycle_to_submitted())
    assert ledger.find("C1").status == "accepted"  # cached

    def store_down(*_):
        raise ConnectionError("database went away")

    monkeypatch.setattr(ledger, "record", store_down)
    with pytest.raises(ConnectionError):
        execute(ledger, payment())
    monkeypatch.undo()
    assert ledger.find("C1").status == "accepted" and ledger.find("C1").version == 4
    assert [o.result for o in execute(ledger, payment())] == ["applied"]

"""The store concerns infra plugs into the ledger's seams: claims kept between batches, conflicting writes retried."""
from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.commands import COMMAND
from domain.values import claim_id
from infra.store.ledger import StoreLedger
from infra.store.retry import retry_conflicts
from tests.conftest import cmd, code


def test_written_claims_are_kept_and_a_failed_batch_drops_them():
    ledger = StoreLedger({"PERSISTENCE_MODULE": "eventsourcing.popo"}, cache_limit=2)  # a claim and its index entry
    first, second = (COMMAND.validate_python(code(n)) for n in ("K1", "K2"))
    ledger.execute([first])
    assert claim_id(first.billing_npi, "K1") in ledger.repository.kept
    ledger.execute([second])  # the least recently written go first
    assert claim_id(first.billing_npi, "K1") not in ledger.repository.kept
    assert claim_id(first.billing_npi, "K2") in ledger.repository.kept and len(ledger.repository.kept) == 2

    def fail(outcomes):
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):  # the kept K2 took changes that were never stored
        ledger.execute([COMMAND.validate_python(cmd("scrub_claim", "K2"))], also=fail)
    assert claim_id(first.billing_npi, "K2") not in ledger.repository.kept
    assert ledger.find("K2").status == "coded"


def test_a_conflicting_write_is_tried_again_and_any_other_failure_is_raised_at_once():
    tries: list[int] = []

    def conflicted_once():
        tries.append(1)
        if len(tries) == 1:
            raise IntegrityError("duplicate key")
        return "stored"

    assert retry_conflicts(conflicted_once) == "stored" and len(tries) == 2

    def broken():
        tries.append(1)
        raise OperationalError("disk I/O error")

    tries.clear()
    with pytest.raises(OperationalError):
        retry_conflicts(broken)
    assert len(tries) == 1


def test_every_ledger_over_a_store_shares_the_ledgers_tables():
    """eventsourcing names a subclass's PostgreSQL tables after the class: StoreLedger once wrote to
    `storeledger_events`, which the relay's reader (a plain Ledger) and the Grafana grants never saw."""
    from infra.store.rehearsal import Rehearsal

    assert StoreLedger.name == Rehearsal.name == "rcm"
    env = StoreLedger({"PERSISTENCE_MODULE": "eventsourcing.popo"}).env
    assert not any(key.startswith("STORELEDGER") for key in env)

"""X12 files as wholes, against real SQLite and PostgreSQL: a dry run counts what the import would count, a file
is written whole or not at all, amounts X12 does not allow are quarantined with their segment and element, and
items left unmatched or rejected are retried once the claim exists."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from infra.bootstrap import open_ledger
from infra.x12 import samples
from infra.x12.export837 import export_837p
from infra.x12.importer import Importer
from tests.integration.test_x12 import PROVIDERS, event_count, ready_claims

D = Decimal


def counts(result) -> list[tuple]:
    return [(t.kind, t.control, t.status.replace("dry run", "posted"), t.events,
             [(i["claim"], i["outcome"], i["events"]) for i in t.claims]) for t in result.transactions]


def paying(claim_number: str, control: int = 3, trace: str = "TR1") -> str:
    return samples.remittance([samples.Remit(claim_number, "1", D("175"), D("140"), D("0"), f"ICN-{claim_number}",
                                             adjustments=[("CO", "45", D("35"))])],
                              trace=trace, payee_npi="1234567893", control=control)


def test_a_dry_run_counts_repeats_within_a_file_as_the_import_does(database_url: str, tmp_path: Path):
    """One file: an 837 sending claim DR1, the very same 837 again, and an 835 paying DR1. The import posts the
    first, finds the second already imported and pays the claim the first coded; the dry run must say the same."""
    sent = tmp_path / "sent.837"
    export_837p(open_ledger(f"sqlite:///{tmp_path / 'source.db'}"),
                ready_claims(open_ledger(f"sqlite:///{tmp_path / 'source.db'}"), ["DR1"]), str(sent), PROVIDERS)
    both = tmp_path / "both.x12"
    both.write_text(sent.read_text() * 2 + paying("DR1"))
    ledger = open_ledger(database_url)
    dry = Importer(ledger, dry_run=True, validate=False).import_file(str(both))
    assert event_count(ledger) == 0, "a dry run writes nothing"
    real = Importer(ledger, validate=False).import_file(str(both))
    assert [t.status for t in real.transactions] == ["posted", "already imported", "posted"]
    assert counts(dry) == counts(real)
    assert dry.events == real.events == 4  # Coded, Scrubbed, Submitted, Paid

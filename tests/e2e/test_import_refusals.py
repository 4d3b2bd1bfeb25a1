"""`rcm import` of files whose claims the ledger refuses: each refused claim is named with its reason, exit 2."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from infra.x12 import samples
from tests.e2e.test_cli import X12, rcm


def test_import_names_the_refused_claims_and_exits_2(database_url: str, tmp_path: Path):
    era = tmp_path / "era.835"
    era.write_text(samples.remittance([
        samples.Remit("X" * 39, "1", Decimal("100"), Decimal("80"), Decimal("0"), "ICN-X",
                      adjustments=[("CO", "45", Decimal("20"))]),
        samples.Remit("OK1", "1", Decimal("100"), Decimal("80"), Decimal("0"), "ICN-OK1",
                      adjustments=[("CO", "45", Decimal("20"))])], payee_npi="1234567893"))
    done = rcm("import", str(era), "--no-validate", db=database_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"refused: 835 0001 claim {'X' * 39}: " in done.stderr and "at most 38 characters" in done.stderr
    assert "partly posted" in done.stdout
    cob = rcm("import", str(X12 / "kputnam+stupidedi/COB-claim-from-billing-provider-to-payer-b.edi"), "--json",
              db=database_url)
    assert cob.returncode == 2, cob.stdout + cob.stderr
    [summary] = json.loads(cob.stdout)
    assert summary["transactions"][0]["status"] == "refused"
    assert "secondary payer after primary adjudication" in summary["transactions"][0]["claims"][0]["reason"]
    fine = rcm("import", str(X12 / "azoner+pyx12/835_mult_loops.txt"), "--no-validate", db=database_url)
    assert fine.returncode == 0, fine.stdout + fine.stderr

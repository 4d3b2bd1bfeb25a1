"""X12 import benchmark: claims per second into a fresh ledger, next to pyx12's bare validation of the same file.

  python bench/x12.py [--db sqlite|postgresql] [--remits 10000] [--json]

Files: the 820-claim 837P from ../shared/data/x12 (imsweb x12_many_claims.txt: two claim numbers repeated 410
times each, so 2 claims are coded and 818 CLMs are refused as duplicates or bad codes - every CLM is still read,
mapped and judged) and a generated, balanced 835 paying or denying N claims the ledger has never seen (each is
opened from the remittance, then paid or denied). import_vs_validation = import seconds / pyx12 seconds:
below 1 means the import (parse, map, domain rules, store) is faster than pyx12 only validating.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.bootstrap import open_ledger  # noqa: E402
from infra.gc_tuning import tune_for_bulk_work  # noqa: E402
from infra.keys import MasterKey  # noqa: E402
from infra.x12 import samples  # noqa: E402
from infra.x12.importer import Importer  # noqa: E402
from infra.x12.plan import PatientKeys  # noqa: E402
from infra.x12.segments import check_file  # noqa: E402

MANY = ROOT.parent / "shared" / "data" / "x12" / "imsweb+x12-parser" / "x12_many_claims.txt"


def pyx12_seconds(path: Path) -> float:
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    logging.getLogger("pyx12").propagate = False
    text = path.read_text(encoding="utf-8-sig")
    start = time.perf_counter()
    pyx12.x12n_document.x12n_document(param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=None,
                                      fd_html=None, fd_xmldoc=None)
    return time.perf_counter() - start


def database(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='rcm-bench-x12-')}/ledger.db"
    import subprocess
    url = subprocess.run([str(ROOT / "infra" / "postgres.sh"), "start"], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    return f"{url}?schema=bench_x12_{uuid.uuid4().hex[:8]}"


def measure(path: Path, kind: str) -> dict:
    claims = sum(n for _, _, n in check_file(str(path)))
    url = database(kind)
    ledger = open_ledger(url)
    start = time.perf_counter()
    patient_keys = PatientKeys(MasterKey.generate("bench"))  # a throwaway ledger: a throwaway key
    result = Importer(ledger, patient_keys, validate=False).import_file(str(path))
    seconds = time.perf_counter() - start
    if result.error:
        raise SystemExit(f"{path.name}: {result.error}")
    validation = pyx12_seconds(path)
    if url.startswith("postgresql"):  # drop only this run's schema
        import psycopg
        base, schema = url.split("?schema=")
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
    outcomes: dict[str, int] = {}
    for t in result.transactions:
        for item in t.claims:
            outcomes[item["outcome"]] = outcomes.get(item["outcome"], 0) + 1
    return {"file": path.name, "bytes": path.stat().st_size, "claims": claims, "events": result.events,
            "outcomes": outcomes, "import_seconds": round(seconds, 3), "import_claims_per_s": round(claims / seconds),
            "pyx12_validation_seconds": round(validation, 3),
            "pyx12_claims_per_s": round(claims / validation), "import_vs_validation": round(seconds / validation, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--remits", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tune_for_bulk_work()
    generated = Path(tempfile.mkdtemp(prefix="rcm-bench-x12-")) / f"generated-{args.remits}.835"
    generated.write_text(samples.remittance(samples.random_remits(args.remits, seed=42), trace="BENCH",
                                            payee_npi="1234567893"))
    results = [measure(MANY, args.db), measure(generated, args.db)]
    if args.json:
        print(json.dumps({"db": args.db, "files": results}, indent=2))
        return
    print(f"X12 import on {args.db} (one run; ratios side by side)")
    print(f"{'file':<28} {'claims':>7} {'import s':>9} {'claims/s':>9} {'pyx12 s':>8} {'import/pyx12':>13}")
    for r in results:
        print(f"{r['file']:<28} {r['claims']:>7} {r['import_seconds']:>9} {r['import_claims_per_s']:>9} "
              f"{r['pyx12_validation_seconds']:>8} {r['import_vs_validation']:>13}")


if __name__ == "__main__":
    main()

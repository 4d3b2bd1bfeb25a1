"""Mailing addresses from a CSV file (patient_key,name,line1,line2,city,state,postal_code): read for one statement
run, or sealed into the PHI store by `rcm phi import`. A bad file is refused whole, naming the line and field."""
from __future__ import annotations

import csv
from pathlib import Path

from domain.commands import CONTROL_CHARACTER
from infra.cli.arguments import InputRejected

ADDRESS_COLUMNS = ("patient_key", "name", "line1", "line2", "city", "state", "postal_code")
REQUIRED = ("patient_key", "name", "line1", "city", "state", "postal_code")


def read_addresses(path: Path, complete: bool = False) -> dict[str, dict[str, str]]:
    """patient key -> its address row: printable, each patient once; with `complete`, every part of the address
    present (a statement run instead refuses, naming the patient, only the patients it would mail)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [col for col in ADDRESS_COLUMNS if col not in (reader.fieldnames or [])]
            if missing:
                raise InputRejected(f"{path}: the header lacks {', '.join(missing)} (want {','.join(ADDRESS_COLUMNS)})")
            found: dict[str, dict[str, str]] = {}
            for line, row in enumerate(reader, start=2):
                row = {k: (row.get(k) or "").strip() for k in ADDRESS_COLUMNS}
                for field in ADDRESS_COLUMNS:
                    if CONTROL_CHARACTER.search(row[field]):
                        raise InputRejected(f"{path} line {line}: field {field} holds a control character")
                empty = [field for field in REQUIRED if not row[field]]
                if empty and (complete or empty[0] == "patient_key"):
                    raise InputRejected(f"{path} line {line}: field {empty[0]} is empty (a statement needs a full "
                                        "mailing address)")
                if row["patient_key"] in found:
                    raise InputRejected(f"{path} line {line}: patient {row['patient_key']} is listed twice")
                found[row["patient_key"]] = row
            return found
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputRejected(f"{path}: {e}") from None

"""`rcm deposits import`: the bank's BAI2 file (read with the `bai2` package) into the ledger as deposits.

The file is checked whole before anything is written: every account, group and file trailer's control total and
record count must add up (49, 98, 99), and a file that does not is refused naming the item. The credit details
(record 16 with a credit type code) then become `Deposit` events in one database transaction; debits and summary
amounts are not deposits. Each deposit's id comes from the bank's keys, so a re-imported file appends nothing.
`write_bai2` writes such a file (the demo's bank file).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from bai2 import bai2
from bai2.constants import TypeCodeTransaction
from bai2.exceptions import NotSupportedYetException, ParsingException
from eventsourcing.persistence import IntegrityError

from domain.deposits import Deposit, deposit_id

CENT = Decimal("0.01")
# An ACH credit's addenda as banks show it in the 16 record's text: the 835's TRN segment (TRN*1*trace*payer id)
# and the originator's company name and id.
TRN = re.compile(r"TRN\*1\*([^*\\~/]+)\*?([^*\\~/ ]*)")
COMPANY = re.compile(r"(?:ORIG CO NAME|COMPANY NAME|CO NAME)[:=]\s*(.+?)"
                     r"(?=\s{2,}|\s+(?:ORIG ID|CO ID|DESC|SEC|ENTRY|IND|TRN)\b|$)")
COMPANY_ID = re.compile(r"(?:ORIG ID|CO ID|COMPANY ID)[:=]\s*(\S+)")


class Bai2Refused(Exception):
    """A BAI2 file that cannot be imported: the message names the item (account, group, file) and the reason."""


@dataclass
class DepositImport:
    path: str
    deposits: list[dict[str, Any]] = field(default_factory=list)  # Deposit.record's fields
    recorded: int = 0
    already: int = 0
    not_deposits: int = 0  # debits and credits of other kinds than a detail

    def summary(self) -> dict[str, Any]:
        return {"file": self.path, "deposits": len(self.deposits), "recorded": self.recorded,
                "already_recorded": self.already, "debits_skipped": self.not_deposits,
                "total": str(sum((d["amount"] for d in self.deposits), Decimal("0.00")))}


def dollars(cents: int | None) -> Decimal:
    return (Decimal(cents or 0) * CENT).quantize(CENT)


def parse(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise Bai2Refused(f"{path}: not a BAI2 file: byte {error.start} is not text") from None
    except OSError as error:
        raise Bai2Refused(f"{path}: {error.strerror}") from None
    try:
        # totals are checked below, naming the item; the package's own check names none
        return bai2.parse_from_string(text, check_integrity=False)
    except (ParsingException, NotSupportedYetException, ValueError, KeyError, IndexError, StopIteration) as error:
        raise Bai2Refused(f"{path}: not a BAI2 file the bai2 package can read: {type(error).__name__}: {error}") \
            from None


def check_trailer(path: str, where: str, level: str, record: str, stated: int | None, total: int, summed: str,
                  counts: list[tuple[str, int | None, int]]) -> None:
    """One trailer against what it closes: its control total, then its counts as (what, stated, found)."""
    if total != (stated or 0):
        raise Bai2Refused(f"{path}: {where}: the {level} trailer ({record}) control total {dollars(stated)} != "
                          f"{dollars(total)}, the sum of {summed}")
    if any(said != found for _, said, found in counts):
        raise Bai2Refused(f"{path}: {where}: the {level} trailer ({record}) counts "
                          f"{' and '.join(f'{said} {what}' for what, said, _ in counts)}, the {level} has "
                          f"{' and '.join(str(found) for _, _, found in counts)}")


def check_totals(path: str, bai: Any) -> None:
    """Every trailer against what it closes (BAI2 version 2: the 49 account control total is the sum of the 03 and
    16 amounts; 98 and 99 sum the totals below them; each counts its records, continuations included)."""
    file_id = bai.header.file_id or "?"
    file_total, file_records = 0, len(bai.header.rows) + len(bai.trailer.rows)
    for g, group in enumerate(bai.children, start=1):
        where = f"group {g} (as of {group.header.as_of_date}) of file {file_id}"
        group_total, group_records = 0, len(group.header.rows) + len(group.trailer.rows)
        for account in group.children:
            total = sum(d.amount or 0 for d in account.children) + \
                sum(s.amount or 0 for s in account.header.summary_items)
            records = len(account.header.rows) + len(account.trailer.rows) + sum(len(d.rows) for d in account.children)
            trailer = account.trailer
            check_trailer(path, f"account {account.header.customer_account_number} in {where}", "account", "49",
                          trailer.account_control_total, total, "its 03 and 16 amounts",
                          [("records", trailer.number_of_records, records)])
            group_total += trailer.account_control_total or 0
            group_records += records
        trailer = group.trailer
        check_trailer(path, where, "group", "98", trailer.group_control_total, group_total,
                      "its account control totals", [("accounts", trailer.number_of_accounts, len(group.children)),
                                                     ("records", trailer.number_of_records, group_records)])
        file_total += trailer.group_control_total or 0
        file_records += group_records
    trailer = bai.trailer
    check_trailer(path, f"file {file_id}", "file", "99", trailer.file_control_total, file_total,
                  "its group control totals", [("groups", trailer.number_of_groups, len(bai.children)),
                                               ("records", trailer.number_of_records, file_records)])


def references(text: str, customer_reference: str) -> tuple[str, str, str]:
    """(trace, originator id, payer name) of a credit: the TRN of its addenda, else the customer reference number
    (a check number, or the trace a bank puts there)."""
    trn = TRN.search(text)
    company, company_id = COMPANY.search(text), COMPANY_ID.search(text)
    originator = (trn.group(2) if trn else "") or (company_id.group(1) if company_id else "")
    return ((trn.group(1).strip() if trn else customer_reference), originator,
            company.group(1).strip() if company else "")


def read_bai2(path: str) -> tuple[list[dict[str, Any]], int]:
    """The file's credit details as deposits, and how many details were not (debits); refuses a bad file whole."""
    bai = parse(path)
    check_totals(path, bai)
    header = bai.header
    deposits, others = [], 0
    for g, group in enumerate(bai.children, start=1):
        on = group.header.as_of_date
        if on is None:
            raise Bai2Refused(f"{path}: group {g}: the group header (02) has no as-of date")
        for account in group.children:
            number = account.header.customer_account_number or ""
            for n, detail in enumerate(account.children, start=1):
                if detail.type_code.transaction != TypeCodeTransaction.credit or not detail.amount:
                    others += 1
                    continue
                bank_ref = (detail.bank_reference or "").strip()
                customer_ref = (detail.customer_reference or "").strip()
                text = (detail.text or "").strip()
                trace, originator, payer = references(text, customer_ref)
                # the bank's reference names the credit across files; without one, the file's identity and place
                key = (f"{header.sender_id}|{number}|{bank_ref}" if bank_ref else
                       f"{header.sender_id}|{header.file_id}|{header.creation_date}|{g}|{number}|{n}")
                deposits.append({"key": key, "deposited_on": on, "amount": dollars(detail.amount), "account": number,
                                 "type_code": detail.type_code.code, "bank_reference": bank_ref,
                                 "customer_reference": customer_ref, "trace": trace, "originator": originator,
                                 "payer": payer, "text": text})
    return deposits, others


def import_deposits(ledger: Any, path: str) -> DepositImport:
    """Records the file's new deposits, all in one database transaction (a concurrent import of the same file
    is waited out: its deposits are then found recorded)."""
    lines, others = read_bai2(path)
    result = DepositImport(path, lines, not_deposits=others)
    for attempt in range(ledger.ATTEMPTS):
        new = [d for d in lines if ledger.load(deposit_id(d["key"]), {}) is None]
        aggregates = [Deposit.record(**d, at=datetime.combine(d["deposited_on"], time(12), timezone.utc),
                                     source=f"bai2:{path.rsplit('/', 1)[-1]}") for d in new]
        try:
            ledger.record(aggregates)
        except IntegrityError:
            if attempt == ledger.ATTEMPTS - 1:
                raise
            continue
        result.recorded, result.already = len(new), len(lines) - len(new)
        return result
    raise AssertionError("unreachable")


@dataclass
class Credit:
    """One credit to write into a BAI2 file."""
    amount: Decimal
    bank_reference: str
    customer_reference: str
    text: str
    type_code: str = "165"  # preauthorized ACH credit: a payer's EFT (CCD+ with the 835's TRN as addenda)


def write_bai2(*, sender: str, receiver: str, account: str, file_id: str, created: datetime,
               days: dict[date, list[Credit]]) -> str:
    """A BAI2 (version 2) file: one group per as-of date, the account with its total credits (100) and a 16 record
    per credit, and every trailer's control total and record count."""
    def cents(amount: Decimal) -> int:
        return int((amount / CENT).to_integral_exact())

    lines = [f"01,{sender},{receiver},{created:%y%m%d},{created:%H%M},{file_id},,,2/"]
    file_total = 0
    for on in sorted(days):
        credits = days[on]
        credited = sum(cents(c.amount) for c in credits)
        body = [f"03,{account},USD,100,{credited},{len(credits)},/"]
        body += [f"16,{c.type_code},{cents(c.amount)},Z,{c.bank_reference},{c.customer_reference},{c.text}"
                 for c in credits]
        account_total = 2 * credited  # the 100 summary and the details it sums
        body.append(f"49,{account_total},{len(body) + 1}/")
        lines += [f"02,{receiver},{sender},1,{on:%y%m%d},2400,USD,2/", *body,
                  f"98,{account_total},1,{len(body) + 2}/"]
        file_total += account_total
    lines.append(f"99,{file_total},{len(days)},{len(lines) + 1}/")
    return "\n".join(lines) + "\n"

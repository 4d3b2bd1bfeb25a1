"""Deposit reconciliation's read models: the bank's deposits (BAI2), the remittances that should explain them, and
the SQL that matches the two by trace number.

A remittance is the 835's payment (BPR02 amount, TRN02 trace, BPR16 date) when the ledger imported the 835 (an
`Intake.Posted`, posted on the day it was imported); payments recorded by command under a trace number (the demo,
`rcm apply`) are summed per payer and trace instead (`remittance_claims`, kept with the claim fold). A deposit
matches the remittance with its trace number (and its payer, when the deposit names the originator): matched,
amount differs, deposit without 835, or 835 without deposit; posting lag = deposit date to posting date.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from domain.values import as_date, cents

# the events these tables read (qualified names); the claim fold ignores them
RECONCILED = frozenset({"Intake.Posted", "Deposit.Recorded"})
TABLES = {
    "remittances": (("remit_id", "text"), ("payer_id", "text"), ("payer", "text"), ("trace", "text"),
                    ("originator", "text"), ("method", "text"), ("amount_cents", "int"), ("paid_on", "date"),
                    ("posted_on", "date")),
    "deposits": (("deposit_id", "text"), ("deposited_on", "date"), ("amount_cents", "int"), ("account", "text"),
                 ("type_code", "text"), ("bank_reference", "text"), ("customer_reference", "text"), ("trace", "text"),
                 ("originator", "text"), ("payer", "text")),
}
STATUSES = ("matched", "amount differs", "deposit without 835", "835 without deposit")


def is_reconciled(event: Any) -> bool:
    return type(event).__qualname__ in RECONCILED


def banking_rows(events: Sequence[tuple[int, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a page's intake and deposit events add (the first posting of an 835 counts: a retry of its
    unmatched claims posts the same payment again)."""
    rows: dict[str, dict[str, tuple[Any, ...]]] = {name: {} for name in TABLES}
    for _, e in events:
        if type(e).__qualname__ == "Deposit.Recorded":
            rows["deposits"][str(e.originator_id)] = (
                str(e.originator_id), as_date(e.deposited_on), cents(e.amount), e.account, e.type_code,
                e.bank_reference, e.customer_reference, e.trace, e.originator, e.payer)
            continue
        payment = e.payment
        if not payment.get("trace") or str(e.originator_id) in rows["remittances"]:
            continue  # not an 835 (837, 999, 277CA intakes carry no payment)
        paid_on = payment.get("paid_on") or None
        sign = -1 if payment.get("credit_debit") == "D" else 1
        rows["remittances"][str(e.originator_id)] = (
            str(e.originator_id), payment.get("payer_id", ""), payment.get("payer", ""), payment["trace"],
            payment.get("originator", ""), payment.get("method", ""), sign * cents(payment.get("amount") or "0"),
            as_date(paid_on) if paid_on else None, day_of(e.effective_at))
    return {name: list(found.values()) for name, found in rows.items()}


def day_of(moment: Any) -> date:
    """The date of a time (a datetime, or its ISO text as events decoded plainly hold it)."""
    return moment.date() if isinstance(moment, datetime) else as_date(moment)


def create_statements(t: dict[str, str], date_type: str) -> list[str]:
    kinds = {"text": "TEXT NOT NULL DEFAULT ''", "int": "BIGINT NOT NULL DEFAULT 0", "date": date_type}
    return [f"CREATE TABLE IF NOT EXISTS {t[name]} ({', '.join(f'{c} {kinds[k]}' for c, k in columns)}, "
            f"PRIMARY KEY ({columns[0][0]}))" for name, columns in TABLES.items()]


def write(c: Any, tables: Any, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Inserts the rows into `tables` (projections/tables.py); a row already there stays as first written."""
    for name, found in rows.items():
        if found:
            columns = [col for col, _ in TABLES[name]]
            if tables.dialect == "sqlite":
                found = [tuple(v.isoformat() if isinstance(v, date) else v for v in row) for row in found]
            c.executemany(tables.sql(f"INSERT INTO {tables.t[name]} ({', '.join(columns)}) VALUES "
                                     f"({', '.join('?' * len(columns))}) ON CONFLICT ({columns[0]}) DO NOTHING"),
                          [tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)
                           for row in found])


def reconciliation_select(t: dict[str, str], dialect: str) -> str:
    """One row per deposit and remittance (paired when they match): the dashboard's view and the report's query."""
    lag = ("CAST(julianday(posted_on) - julianday(deposited_on) AS INTEGER)" if dialect == "sqlite"
           else "(posted_on - deposited_on)")
    matches = ("r.trace = d.trace AND d.trace <> '' AND (d.originator = '' OR d.originator IN "
               "(r.originator, r.payer_id) OR '1' || d.originator = r.originator)")
    return f"""
WITH remits AS (
  SELECT payer_id, max(payer) AS payer, trace, max(originator) AS originator, sum(amount_cents) AS amount_cents,
         min(paid_on) AS paid_on, min(posted_on) AS posted_on
  FROM {t['remittances']} GROUP BY payer_id, trace HAVING sum(amount_cents) <> 0
  UNION ALL
  SELECT payer_id, payer_id, trace, '', sum(paid_cents), min(day), min(day) FROM {t['remittance_claims']} c
  WHERE NOT EXISTS (SELECT 1 FROM {t['remittances']} x WHERE x.payer_id = c.payer_id AND x.trace = c.trace)
  GROUP BY payer_id, trace HAVING sum(paid_cents) <> 0),
pairs AS (
  SELECT d.deposited_on, d.amount_cents AS deposit_cents, d.trace, d.type_code,
         coalesce(r.payer_id, '') AS payer_id,
         coalesce(nullif(r.payer, ''), nullif(d.payer, ''), r.payer_id, d.originator) AS payer,
         r.paid_on, r.posted_on, r.amount_cents AS remit_cents
  FROM {t['deposits']} d LEFT JOIN remits r ON {matches}
  UNION ALL
  SELECT NULL, NULL, r.trace, '', r.payer_id, coalesce(nullif(r.payer, ''), r.payer_id), r.paid_on, r.posted_on,
         r.amount_cents
  FROM remits r WHERE NOT EXISTS (SELECT 1 FROM {t['deposits']} d WHERE {matches}))
SELECT coalesce(deposited_on, paid_on) AS day, deposited_on, deposit_cents, trace, payer_id, payer, type_code,
       paid_on, posted_on, remit_cents,
       CASE WHEN remit_cents IS NULL THEN 'deposit without 835' WHEN deposit_cents IS NULL THEN '835 without deposit'
            WHEN deposit_cents = remit_cents THEN 'matched' ELSE 'amount differs' END AS status,
       coalesce(deposit_cents, 0) - coalesce(remit_cents, 0) AS difference_cents,
       CASE WHEN deposited_on IS NOT NULL AND posted_on IS NOT NULL THEN {lag} END AS posting_lag_days
FROM pairs"""

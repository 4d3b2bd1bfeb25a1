"""The daily cash and adjustment journal for the general ledger, from claim event messages: payer and patient
payments, contractual adjustments, responsibility moved to the patient and write-offs, as balanced debit/credit
lines per day and payer. Pure: a message in, journal lines out (cents); infra sums and stores them."""
from __future__ import annotations

from datetime import date

from domain.contract import ClaimEventMessage
from domain.values import cents

CASH = "1000 Cash"
AR_PAYER = "1200 A/R - payer"
AR_PATIENT = "1210 A/R - patient"
CONTRACTUAL = "4900 Contractual adjustments"
ADJUSTMENTS = "4910 Other adjustments"
WRITE_OFF = {"bad_debt": "6100 Bad debt", "charity": "4920 Charity care", "small_balance": "4930 Small balance write-off",
             "timely_filing": "4940 Timely filing write-off", "denial": "4950 Denial write-off",
             "contractual": CONTRACTUAL}

Line = tuple[date, str, str, int, int]  # day, payer, account, debit cents, credit cents


def entry(day: date, payer: str, debit: str, credit: str, amount: int) -> list[Line]:
    """One balanced pair; a negative amount (a reversal) swaps the sides."""
    if amount == 0:
        return []
    if amount < 0:
        debit, credit, amount = credit, debit, -amount
    return [(day, payer, debit, amount, 0), (day, payer, credit, 0, amount)]


def lines(m: ClaimEventMessage, payer: str) -> list[Line]:
    p, day = m.payload, m.occurred_at.date()
    if m.type == "Paid":
        remit = p["remittance"]
        return (entry(day, payer, CASH, AR_PAYER, cents(remit["paid"]))
                + entry(day, payer, CONTRACTUAL, AR_PAYER, cents(p["contractual"]))
                + entry(day, payer, AR_PATIENT, AR_PAYER, cents(remit["patient_responsibility"])))
    if m.type == "Denied":
        return entry(day, payer, AR_PATIENT, AR_PAYER, cents(p["remittance"]["patient_responsibility"]))
    if m.type == "PaymentReversed":
        return (entry(day, payer, CASH, AR_PAYER, -cents(p["paid"]))
                + entry(day, payer, CONTRACTUAL, AR_PAYER, -cents(p["contractual"]))
                + entry(day, payer, AR_PATIENT, AR_PAYER, -cents(p["patient_responsibility"])))
    if m.type == "Adjusted":
        account = CONTRACTUAL if p["group"] == "CO" else ADJUSTMENTS
        return entry(day, payer, account, AR_PAYER, cents(p["amount"]))
    if m.type == "PatientBilled":
        return entry(day, payer, AR_PATIENT, AR_PAYER, cents(p["transferred"]))
    if m.type == "PatientPaid":
        return entry(day, payer, CASH, AR_PATIENT, cents(p["amount"]))
    if m.type == "WrittenOff":
        receivable = AR_PAYER if p["responsibility"] == "payer" else AR_PATIENT
        return entry(day, payer, WRITE_OFF[p["reason"]], receivable, cents(p["amount"]))
    return []

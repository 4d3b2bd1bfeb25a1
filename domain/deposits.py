"""A deposit the bank reported (a BAI2 credit detail, record 16): money that reached the practice's account, to be
matched with the remittance (835 BPR/TRN) that explains it.

One aggregate per deposit, its id from the bank's own keys (bank, account, bank reference number; else the file's
identity and the record's place in it), so a re-imported or re-sent bank file appends nothing.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.values import is_money

DEPOSIT_NAMESPACE = UUID("0b7e4f2c-9d1a-5c3e-8f6b-2a4d6c8e0f13")


def deposit_id(key: str) -> UUID:
    return uuid5(DEPOSIT_NAMESPACE, f"deposit|{key}")


class Deposit(Aggregate):
    class Recorded(Aggregate.Created):
        """The bank's record of one credit: when (the group's as-of date), how much, under which type code, and the
        references that name the payer's payment (the EFT trace number of the 835's TRN02, or a check number)."""
        key: str
        effective_at: datetime
        deposited_on: date
        amount: Decimal
        account: str
        type_code: str
        bank_reference: str
        customer_reference: str
        trace: str
        originator: str
        payer: str
        text: str
        source: str

        def apply(self, deposit: Deposit) -> None:
            deposit.key, deposit.amount, deposit.trace = self.key, self.amount, self.trace
            deposit.deposited_on = self.deposited_on

    @classmethod
    def record(cls, *, key: str, at: datetime, deposited_on: date, amount: Decimal, account: str, type_code: str,
               bank_reference: str, customer_reference: str, trace: str, originator: str, payer: str, text: str,
               source: str) -> Deposit:
        if not is_money(amount) or amount <= 0:
            raise ValueError(f"deposit {key}: a deposit is a positive amount of dollars and cents, not {amount}")
        return cls._create(cls.Recorded, id=deposit_id(key), key=key, effective_at=at, deposited_on=deposited_on,
                           amount=amount, account=account, type_code=type_code, bank_reference=bank_reference,
                           customer_reference=customer_reference, trace=trace, originator=originator, payer=payer,
                           text=text, source=source)

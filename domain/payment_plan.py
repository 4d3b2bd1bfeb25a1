"""A patient's payment plan: the patient balance of some claims, paid in installments on agreed due dates.

The plan records what was agreed (claims, balance, installments); whether an installment is paid or missed is
read from the claims' own patient payments since the agreement, never recorded twice. An installment is missed
once its grace period has passed and the payments since the agreement fall short of every installment due by
then (docs/domain.md §10).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import errors

PLAN_NAMESPACE = UUID("c4a1e7b2-9d3f-5a6e-8b1c-2f0d7e9a4b53")
MAX_INSTALLMENTS = 60  # five years of monthly payments: longer plans are financing, not a billing office's plan
GRACE_DAYS = 10  # a payment this many days after its due date is late, not missed
CENT = Decimal("0.01")


def plan_id(patient_key: str, plan_number: str) -> UUID:
    return uuid5(PLAN_NAMESPACE, f"plan|{patient_key}|{plan_number}")


@dataclass(frozen=True)
class Installment:
    number: int
    due: date
    amount: Decimal


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter (Jan 31 -> Feb 28)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def schedule(plan: str, balance: Decimal, first_due: date, *, count: int | None = None,
             amount: Decimal | None = None, every_months: int = 1) -> list[Installment]:
    """Installments that add up to the balance exactly. With a count, equal amounts in whole cents, the cents left
    over on the last; with an amount, as many as it takes, the last one smaller. With both, they must fit."""
    if balance <= 0:
        raise errors.PaymentPlanRefused(plan, "a plan needs a patient balance", f"the claims' balance is {balance}",
                                        "bill the patient first, or choose claims with a patient balance")
    if count is None and amount is None:
        raise errors.PaymentPlanRefused(plan, "installments", "neither a count nor an amount was given",
                                        "--installments N or --amount A")
    if amount is not None and amount <= 0:
        raise errors.PaymentPlanRefused(plan, "installment amount", f"{amount} is not positive", "an amount > 0")
    if count is None:
        count = installments_for(balance, amount)  # type: ignore[arg-type]
    if not 1 <= count <= MAX_INSTALLMENTS:
        raise errors.PaymentPlanRefused(plan, "installments", f"{count} installments",
                                        f"1 to {MAX_INSTALLMENTS} (a larger amount makes fewer)")
    if amount is None:
        amount = (balance / count).quantize(CENT, rounding=ROUND_DOWN)
    amounts = [amount] * (count - 1) + [balance - amount * (count - 1)]
    for number, value in enumerate(amounts, 1):
        if value <= 0:
            due = add_months(first_due, (number - 1) * every_months)
            raise errors.PaymentPlanRefused(
                plan, "installments exceed the balance",
                f"installment {number} of {count} (due {due}) would be {value}: {count} x {amount} is more than "
                f"the balance of {balance}", f"at most {installments_for(balance, amount)} installments of {amount}")
    return [Installment(n, add_months(first_due, (n - 1) * every_months), value) for n, value in enumerate(amounts, 1)]


def installments_for(balance: Decimal, amount: Decimal) -> int:
    """How many installments of `amount` pay `balance`, the last one smaller."""
    return int((balance / amount).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class InstallmentStanding:
    installment: Installment
    status: str  # paid | upcoming | due | missed
    short: Decimal  # what is still owed of the installments due up to and including this one


def standing(installments: list[Installment], paid: Decimal, today: date,
             grace_days: int = GRACE_DAYS) -> list[InstallmentStanding]:
    """Each installment's state given what the patient paid since the agreement: payments fill installments in
    due order; an unfilled one is upcoming before its due date, due within the grace period, missed after."""
    rows, owed = [], Decimal("0.00")
    for item in installments:
        owed += item.amount
        short = max(owed - paid, Decimal("0.00"))
        if short == 0:
            status = "paid"
        elif today < item.due:
            status = "upcoming"
        elif today <= item.due + timedelta(days=grace_days):
            status = "due"
        else:
            status = "missed"
        rows.append(InstallmentStanding(item, status, short))
    return rows


class PaymentPlan(Aggregate):
    class Agreed(Aggregate.Created):
        patient_key: str
        plan_number: str
        claims: list[dict[str, Any]]  # {"claim_number", "billing_npi", "claim_id"}
        balance: Decimal
        installments: list[dict[str, Any]]  # {"number", "due", "amount"}
        effective_at: datetime
        actor: str

        def apply(self, plan: PaymentPlan) -> None:
            plan.patient_key, plan.plan_number, plan.claims = self.patient_key, self.plan_number, self.claims
            plan.balance, plan.agreed_at, plan.status = self.balance, self.effective_at, "active"
            plan.installments = [Installment(i["number"], i["due"], i["amount"]) for i in self.installments]

    class Cancelled(Aggregate.Event):
        reason: str
        effective_at: datetime
        actor: str

        def apply(self, plan: PaymentPlan) -> None:
            plan.status = "cancelled"

    @classmethod
    def agree(cls, *, patient_key: str, plan_number: str, claims: list[dict[str, Any]], balance: Decimal,
              installments: list[Installment], at: datetime, actor: str) -> PaymentPlan:
        return cls._create(cls.Agreed, id=plan_id(patient_key, plan_number), patient_key=patient_key,
                           plan_number=plan_number, claims=claims, balance=balance,
                           installments=[{"number": i.number, "due": i.due, "amount": i.amount} for i in installments],
                           effective_at=at, actor=actor)

    def cancel(self, *, reason: str, at: datetime, actor: str) -> None:
        if self.status == "cancelled":
            raise errors.PaymentPlanRefused(self.name, "already cancelled", "the plan was cancelled before")
        self.trigger_event(self.Cancelled, reason=reason, effective_at=at, actor=actor)

    @property
    def name(self) -> str:
        return f"{self.patient_key}/{self.plan_number}"

    def same_terms(self, claims: list[dict[str, Any]], first_due: date) -> bool:
        """The same agreement asked again (a re-run command): the same claims, first due the same day."""
        return ({c["claim_id"] for c in self.claims}, self.installments[0].due) == (
            {c["claim_id"] for c in claims}, first_due)

"""Payment plans in the domain: schedules that add up to the balance, installments judged paid/due/missed."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import PaymentPlanRefused
from domain.payment_plan import add_months, schedule, standing

D = Decimal


def test_equal_installments_leave_the_cents_on_the_last() -> None:
    plan = schedule("pk/1", D("100.00"), date(2027, 1, 31), count=3)
    assert [i.amount for i in plan] == [D("33.33"), D("33.33"), D("33.34")]
    assert [i.due for i in plan] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)]


def test_an_amount_makes_as_many_as_it_takes() -> None:
    plan = schedule("pk/1", D("250.00"), date(2027, 1, 15), amount=D("100.00"))
    assert [i.amount for i in plan] == [D("100.00"), D("100.00"), D("50.00")]


def test_installments_that_exceed_the_balance_are_refused_naming_the_installment() -> None:
    with pytest.raises(PaymentPlanRefused, match=r"installment 3 of 3 \(due 2027-03-15\) would be -50.00.*"
                                                 r"at most 2 installments of 100.00"):
        schedule("pk/1", D("150.00"), date(2027, 1, 15), count=3, amount=D("100.00"))


@pytest.mark.parametrize("balance,count,amount,rule", [
    (D("0.00"), 2, None, "needs a patient balance"), (D("10.00"), None, D("0.00"), "not positive"),
    (D("1000.00"), None, D("1.00"), "1000 installments")])
def test_impossible_plans_are_refused(balance: Decimal, count: int | None, amount: Decimal | None, rule: str) -> None:
    with pytest.raises(PaymentPlanRefused, match=rule):
        schedule("pk/1", balance, date(2027, 1, 1), count=count, amount=amount)


@given(st.integers(min_value=1, max_value=10**8), st.integers(min_value=1, max_value=60), st.dates())
def test_every_schedule_adds_up_to_the_balance(cents: int, count: int, first: date) -> None:
    balance = D(cents) / 100
    if balance / count < D("0.01") or first.year > 9990:
        return
    plan = schedule("pk/1", balance, first, count=count)
    assert sum(i.amount for i in plan) == balance and all(i.amount > 0 for i in plan)
    assert [i.due for i in plan] == sorted(i.due for i in plan)


def test_payments_fill_installments_in_due_order() -> None:
    plan = schedule("pk/1", D("300.00"), date(2027, 1, 1), count=3)
    rows = standing(plan, D("150.00"), date(2027, 2, 20))
    assert [(r.status, r.short) for r in rows] == [("paid", 0), ("missed", D("50.00")), ("upcoming", D("150.00"))]
    assert standing(plan, D("150.00"), date(2027, 2, 11))[1].status == "due"  # within the 10-day grace
    assert all(r.status == "paid" for r in standing(plan, D("300.00"), date(2030, 1, 1)))


def test_month_ends_stay_month_ends() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)

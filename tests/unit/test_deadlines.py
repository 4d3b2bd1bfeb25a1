"""The timely-filing limits by payer class and the follow-up N (domain/deadlines.py), and the worklists' SQL giving
the same dates and N as those functions on both back ends' date arithmetic."""
from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from domain.deadlines import (FOLLOW_UP_DEFAULT_DAYS, FOLLOW_UP_FLOOR_DAYS, add_months, filing_deadline,
                              follow_up_after)
from projections import worklists


def test_medicare_and_medicaid_file_within_12_months_commercial_within_90_days_self_pay_never():
    assert filing_deadline("medicare", date(2026, 3, 1)) == date(2027, 3, 1)
    assert filing_deadline("medicare", date(2024, 2, 29)) == date(2025, 2, 28)  # no Feb 29 in 2025
    assert filing_deadline("medicaid", date(2026, 1, 31)) == date(2027, 1, 31)
    assert filing_deadline("commercial", date(2026, 3, 1)) == date(2026, 5, 30)
    assert filing_deadline("self_pay", date(2026, 3, 1)) is None
    assert filing_deadline("commercial", date(2026, 3, 1), payer_days=180) == date(2026, 8, 28)


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_follow_up_after_is_the_payers_90th_percentile_with_a_floor_and_a_default():
    assert follow_up_after({}) == FOLLOW_UP_DEFAULT_DAYS
    assert follow_up_after({5: 19}) == FOLLOW_UP_DEFAULT_DAYS  # too few answers to trust
    assert follow_up_after({10: 10, 20: 8, 40: 2}) == 20       # 18 of 20 answered within 20 days
    assert follow_up_after({10: 10, 20: 7, 40: 3}) == 40       # only 17 of 20 within 20 days
    assert follow_up_after({3: 20}) == FOLLOW_UP_FLOOR_DAYS    # a fast payer still gets 14 days


@pytest.mark.parametrize("dos", [date(2024, 2, 29), date(2026, 1, 31), date(2026, 3, 1), date(2025, 12, 31)])
@pytest.mark.parametrize("payer_class", ["medicare", "medicaid", "commercial", "self_pay", "workers_comp"])
def test_the_sqlite_filing_deadline_is_the_domains(payer_class: str, dos: date):
    sql = worklists.filing_deadline_sql(worklists.cli_target("sqlite"))
    with sqlite3.connect(":memory:") as db:
        got = db.execute(f"SELECT {sql} FROM (SELECT ? AS payer_class, ? AS dos)", [payer_class, dos.isoformat()])
        want = filing_deadline(payer_class, dos)
        assert got.fetchone()[0] == (want.isoformat() if want else None)

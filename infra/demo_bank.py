"""The demo practice's bank file: a BAI2 file of the payers' EFT deposits, made from the payments the ledger
recorded for the demo (the demo records its 835s' payments by command and writes no 835 files), so that it
reconciles with them — but for a few deterministic exceptions, as a real month has: an EFT short of its 835 (a
recoupment netted at the bank), an 835 whose EFT never arrived, and payer EFTs whose 835 never came."""
from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from infra.bai2_deposits import Credit, write_bai2
from infra.simulator import PAYERS, PRACTICE_TZ


def draw(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def weekday_before(day: date, days: int) -> date:
    day -= timedelta(days=days)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def ach_text(payer: str, trace: str) -> str:
    """How banks show a payer's CCD+ EFT: originator name and id, the HCCLAIMPMT entry description, and the
    835's TRN segment as the addenda."""
    return f"ORIG CO NAME:{payer} ORIG ID:{payer} DESC:HCCLAIMPMT SEC:CCD TRN*1*{trace}*{payer}\\"


def demo_credits(seed: int, until: date, remittances: list[dict[str, Any]]) -> dict[date, list[Credit]]:
    """`remittances`: the recorded payments per payer and trace (projections.reports.recorded_remittances)."""
    days: dict[date, list[Credit]] = {}
    for r in remittances:
        payer, trace, amount = r["payer_id"], r["trace"], r["amount"]
        chance = draw(seed, payer, trace)
        if chance % 100 == 2:
            continue  # the EFT never arrived: 835 without deposit
        deposited = weekday_before(r["posted_on"], (chance >> 8) % 4)  # posted 0-3 days after the money came
        if chance % 100 in (0, 1) and amount > Decimal("20.00"):
            amount -= Decimal((chance >> 16) % 1500 + 100) / 100  # a recoupment netted in the EFT: amount differs
        reference = f"{draw('bank', seed, payer, trace) % 10**12:012d}"
        days.setdefault(deposited, []).append(Credit(amount, reference, trace, ach_text(payer, trace)))
    first = min(days) if days else until
    for n in range(1, 3):  # payer EFTs whose 835 never came: deposits without an 835
        day = weekday_before(until, 7 * n)
        if day < first:
            continue
        payer = PAYERS[draw(seed, "no-835", n) % (len(PAYERS) - 1)].payer_id
        trace = f"EFT{day:%y%m%d}X{n}"
        amount = Decimal(draw(seed, "no-835-amount", n) % 90000 + 5000) / 100
        days.setdefault(day, []).append(Credit(amount, f"{draw('bank', seed, payer, trace) % 10**12:012d}", trace,
                                               ach_text(payer, trace)))
    return days


def demo_bank_file(seed: int, until: date, remittances: list[dict[str, Any]]) -> tuple[str, int]:
    """The BAI2 text and how many deposits it holds."""
    days = demo_credits(seed, until, remittances)
    text = write_bai2(sender="DEMOBANK", receiver=f"PRACTICE{seed}", account=f"{draw('account', seed) % 10**10:010d}",
                      file_id=f"{until:%y%m%d}", created=datetime.combine(until + timedelta(days=1), time(6),
                                                                           PRACTICE_TZ), days=days)
    return text, sum(len(credits) for credits in days.values())

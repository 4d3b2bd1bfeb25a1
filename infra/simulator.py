"""A simulated medical practice (docs/domain.md §9 magnitudes) that emits the lifecycle commands of its claims.

Each claim draws from its own random stream (seed + claim number), so a claim always has the same
story: re-running the same seed appends nothing, and running it on a later day only adds what has
happened since (later events, newer claims).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from domain import commands as c
from domain.claim import APPEAL_LEVELS
from domain.codes import npi_check_digit

PRACTICE_TZ = ZoneInfo("America/New_York")
DEMO_NAMESPACE = UUID("5f0c2b8e-7a14-5e6b-9d3c-2a8e4f1b7c90")
WINDOW_DAYS = 150
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Payer:
    payer_id: str
    payer_class: str
    share: float  # of claims
    denial_rate: float
    allowed_ratio: float
    rejection_rate: float


PAYERS = (
    Payer("MEDICARE-JL", "medicare", 0.26, 0.07, 0.42, 0.02),
    Payer("MEDICAID-NY", "medicaid", 0.14, 0.15, 0.36, 0.05),
    Payer("BCBS", "commercial", 0.20, 0.04, 0.62, 0.02),
    Payer("AETNA", "commercial", 0.13, 0.08, 0.60, 0.03),
    Payer("UHC", "commercial", 0.13, 0.11, 0.58, 0.03),
    Payer("SELF-PAY", "self_pay", 0.14, 0.0, 1.0, 0.0),
)
VISITS = (("99213", "105.00", 0.35), ("99214", "160.00", 0.28), ("99212", "75.00", 0.08),
          ("99215", "230.00", 0.06), ("99203", "150.00", 0.06), ("99204", "240.00", 0.05),
          ("99396", "260.00", 0.07), ("99395", "240.00", 0.05))
ADD_ONS = (("36415", "18.00", (), 0.25), ("81002", "15.00", (), 0.10), ("93000", "60.00", (), 0.08),
           ("90686", "40.00", (), 0.07), ("G0008", "30.00", (), 0.04), ("96372", "45.00", (), 0.05),
           ("J1885", "22.00", (), 0.03), ("20610", "180.00", ("25",), 0.03), ("11102", "140.00", ("59",), 0.02))
DIAGNOSES = ("E11.9", "I10", "J06.9", "M54.50", "Z00.00", "E78.5", "F41.1", "K21.9", "N39.0", "R05.9", "Z23",
             "J45.909", "E66.9", "M25.561", "R51.9", "G43.909", "L03.115", "E03.9", "F32.A", "J02.9", "H66.90",
             "B34.9", "R10.9", "M17.11", "I25.10", "E11.65", "D64.9", "R53.83", "K59.00")
# (CARC, RARC, weight): registration/eligibility ~25%, missing data ~16%, authorization ~14%, the rest.
DENIALS = (("27", "N30", 0.11), ("31", "MA61", 0.07), ("22", "N479", 0.07), ("16", "M51", 0.16), ("197", "N54", 0.14),
           ("50", "N115", 0.12), ("96", "N130", 0.07), ("97", "M15", 0.07), ("4", "M78", 0.04), ("29", "N211", 0.03),
           ("18", "N522", 0.04), ("150", "M25", 0.03), ("242", "N130", 0.03), ("A1", "N290", 0.02))
UNAPPEALABLE = {"29", "18"}
# Who does each command: a person of a role (capacity-bound) or a system. Roles and their daily capacity per person
# (README "Productivity"): a coder codes 15-30 charts a day; the other figures are indicative.
ROLES = {"coder": (18, 28, 1.1), "biller": (80, 120, 1.3), "poster": (120, 200, 1.6), "appeals": (12, 20, 0.1)}
UTILISATION = 0.75  # teams are staffed so that an ordinary day fills about this share of their capacity
BY_ROLE = {"recode_claim": "coder", "submit_claim": "biller", "adjust_claim": "biller", "write_off": "biller",
           "void_claim": "biller", "record_payment": "poster", "record_denial": "poster", "reverse_payment": "poster",
           "record_patient_payment": "poster", "appeal_denial": "appeals", "decide_appeal": "appeals"}
BY_SYSTEM = {"scrub_claim": "scrubber", "accept_claim": "clearinghouse", "reject_claim": "clearinghouse",
             "bill_patient": "statement run"}
FIRST_NAMES = ("ana", "ben", "carla", "dev", "elena", "femi", "grace", "hiro", "ines", "jamal", "kim", "luis",
               "maya", "nora", "omar", "priya", "quinn", "rosa", "sam", "tara", "uma", "victor", "wen", "yara")
LAST_NAMES = ("adams", "brooks", "chen", "diaz", "evans", "fischer", "garcia", "haddad", "ito", "jones", "khan",
              "lopez", "moreau", "nguyen", "okafor", "patel", "reyes", "silva", "tanaka", "ward")
CORRECTABLE = {"16", "4", "97", "27", "31", "22"}


def npi(number: int) -> str:
    first_nine = f"1{number:08d}"
    return first_nine + str(npi_check_digit(first_nine))


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def pick(rng: random.Random, options: tuple[Any, ...]) -> Any:
    return rng.choices(options, weights=[o[-1] for o in options])[0]


def working_day(day: date) -> date:
    """The day itself, or the Monday after a weekend."""
    return day + timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)


@dataclass
class Person:
    actor: str  # role:name, as the events record it
    capacity: int  # tasks a working day


class Desk:
    """One role's people and the tasks each has taken per working day: nobody takes more than their capacity, and
    what finds no room waits for the next working day with some."""

    def __init__(self, people: list[Person]) -> None:
        self.people, self.capacity = people, sum(p.capacity for p in people)
        self.load: dict[date, list[int]] = {}
        self.taken: Counter[date] = Counter()

    def room(self, day: date) -> int:
        return 0 if day.weekday() >= 5 else self.capacity - self.taken[day]

    def take(self, day: date) -> str | None:
        """The person who takes a task on `day` (in turn, so a quiet day is shared), None when all are full."""
        if not self.room(day):
            return None
        load = self.load.setdefault(day, [0] * len(self.people))
        turn = self.taken[day] % len(self.people)
        while load[turn] >= self.people[turn].capacity:
            turn = (turn + 1) % len(self.people)
        load[turn] += 1
        self.taken[day] += 1
        return self.people[turn].actor

    def book(self, ready: date, last: date) -> tuple[date, str] | None:
        """The first working day from `ready` to `last` with room, and who takes the task then."""
        day = ready
        while day <= last:
            if person := self.take(day):
                return day, person
            day += timedelta(days=1)
        return None


def staff(seed: int, claims_per_day: float) -> dict[str, Desk]:
    """The practice's people, named and with a daily capacity each, enough of them for its volume."""
    rng = random.Random(f"staff-{seed}")
    combos = [f"{first}.{last}" for first in FIRST_NAMES for last in LAST_NAMES]
    names = rng.sample(combos, 60)
    hired = 0
    desks = {}
    for role, (low, high, tasks_per_claim) in ROLES.items():
        people: list[Person] = []
        while sum(p.capacity for p in people) * UTILISATION < claims_per_day * tasks_per_claim or not people:
            # a large practice (the million-claim bench) outgrows the 60 names: the rest are numbered namesakes
            if names:
                name = names.pop()
            else:
                name, hired = f"{combos[hired % len(combos)]}.{hired // len(combos) + 2}", hired + 1
            people.append(Person(f"{role}:{name}", rng.randint(low, high)))
        desks[role] = Desk(people)
    return desks


class Story:
    """The commands of one claim, in time order, cut at the simulation's 'today'."""

    def __init__(self, rng: random.Random, base: dict[str, Any], until: date, desks: dict[str, Desk]) -> None:
        self.rng, self.base, self.until, self.commands, self.desks = rng, base, until, [], desks
        self.step = 0
        self.clock = datetime.min.replace(tzinfo=PRACTICE_TZ)

    def at(self, day: date) -> datetime:
        """A working-hours time on `day`, never before the claim's previous step."""
        moment = datetime.combine(day, time(self.rng.randint(8, 16), self.rng.randint(0, 59)), PRACTICE_TZ)
        if moment <= self.clock:
            moment = self.clock + timedelta(minutes=self.rng.randint(5, 90))
        self.clock = moment
        return moment

    def add(self, model: type[c.CommandBase], day: date, **fields: Any) -> date | None:
        """Append a command due on `day`, done by whoever `fields` names or else the first person of its role with
        room from then on (or its system); the day it was done, or None once the story has reached the future."""
        day = max(day, self.clock.date())
        actor = fields.pop("actor", None) or BY_SYSTEM.get(fields["type"])
        if actor is None:
            booked = self.desks[BY_ROLE[fields["type"]]].book(day, self.until)
            if booked is None:
                return None
            day, actor = booked
        if day > self.until or self.at(day).date() > self.until:
            return None
        if model is c.SubmitClaim:
            fields.update(daily_batch(self.clock.date()))
        self.step += 1
        source = fields.pop("source", "demo")
        command_id = uuid5(DEMO_NAMESPACE, f"{self.base['claim_number']}|{self.step}")
        self.commands.append(model(**self.base, **fields, command_id=command_id, effective_at=self.clock, actor=actor,
                                   source=source))
        return self.clock.date()


def daily_batch(day: date) -> dict[str, str]:
    """The practice sends one 837 a day: its control numbers (ISA13, GS06, ST02) come from that day, so each
    day's batch has its own interchange control number and a re-run on a later day gives the same ones."""
    number = f"{day.toordinal():09d}"
    return {"interchange_control_number": number, "group_control_number": number, "transaction_control_number": "0001"}


class Practice:
    def __init__(self, seed: int, claims: int, until: date) -> None:
        self.seed, self.claims, self.until = seed, claims, until
        self.rng = random.Random(f"practice-{seed}")
        self.billing_npi = npi(self.rng.randint(10_000_000, 49_999_999))
        business_days = [d for d in self.days() if d.weekday() < 5]
        self.per_day = max(1.0, claims / len(business_days))
        self.providers = [npi(self.rng.randint(50_000_000, 99_999_999)) for _ in range(max(1, math.ceil(self.per_day / 18)))]
        self.desks = staff(seed, math.ceil(self.per_day))

    def days(self) -> list[date]:
        return [self.until - timedelta(days=WINDOW_DAYS - 1 - i) for i in range(WINDOW_DAYS)]

    def encounters(self) -> Iterator[tuple[date, int]]:
        """(date of service, encounter number) for the window; exactly `claims` encounters in all."""
        business = [d for d in self.days() if d.weekday() < 5]
        made = 0
        for i, day in enumerate(business):
            due = round(self.claims * (i + 1) / len(business))
            for n in range(due - made):
                yield day, n + 1
            made = due

    def claim_number(self, dos: date, n: int) -> str:
        return f"S{self.seed % 1000}-{dos:%y%m%d}-{n:04d}"

    def chart_ready(self, dos: date, n: int) -> date:
        """When the provider has signed the visit's note and it can be coded (a stream of its own per claim)."""
        lag = random.Random(f"{self.seed}|{self.claim_number(dos, n)}|chart").choices((0, 1, 2, 3, 5),
                                                                                      weights=(30, 35, 20, 10, 5))[0]
        return working_day(dos + timedelta(days=lag))

    def coding(self) -> Iterator[list[tuple[date, int, date, str]]]:
        """Each working day's charts coded, as (date of service, encounter, day coded, coder): the coders take the
        charts ready, oldest first, up to their capacity; the rest wait for the next working day. Every visit is
        coded by 'today': charts ready only after it are taken early, just as many as the days left need."""
        coders = self.desks["coder"]
        seen = Counter(dos for dos, _ in self.encounters())
        to_come = self.claims
        encounters = self.encounters()
        upcoming = next(encounters, None)
        pending: list[tuple[date, date, int]] = []
        for day in self.days():
            while upcoming is not None and upcoming[0] == day:
                pending.append((self.chart_ready(*upcoming), *upcoming))
                upcoming = next(encounters, None)
            to_come -= seen[day]
            if day.weekday() >= 5:
                continue
            pending.sort()
            room = coders.room(day)
            ready = [p for p in pending if p[0] <= day][:room]
            early = [p for p in pending if p[0] > day]
            days_left = [d for d in self.days() if d > day]
            later_room = int(sum(coders.room(d) for d in days_left) * 0.9)
            short = len(pending) - len(ready) + to_come - later_room
            taken = ready + early[:max(0, min(short, room - len(ready)))]
            gone = set(taken)
            pending = [p for p in pending if p not in gone]
            yield [(dos, n, day, str(coders.take(day))) for _, dos, n in taken]
        if pending:
            raise RuntimeError(f"the simulated coders could not code {len(pending)} visits by {self.until}")

    def commands(self) -> list[Any]:
        return next(self.chunks(self.claims), [])

    def chunks(self, claims_per_chunk: int) -> Iterator[list[Any]]:
        """The commands of `claims_per_chunk` claims at a time, each chunk in time order (bounded memory)."""
        chunk: list[Any] = []
        number = 0
        for charts in self.coding():
            for dos, n, coded_on, coder in charts:
                number += 1
                chunk.extend(self.story(dos, n, coded_on, coder))
                if number % claims_per_chunk == 0 or number == self.claims:
                    chunk.sort(key=lambda cmd: cmd.effective_at)
                    yield chunk
                    chunk = []

    def story(self, dos: date, n: int, coded_on: date, coder: str) -> list[Any]:
        claim_number = self.claim_number(dos, n)
        rng = random.Random(f"{self.seed}|{claim_number}")
        payer = PAYERS[rng.choices(range(len(PAYERS)), weights=[p.share for p in PAYERS])[0]]
        story = Story(rng, {"claim_number": claim_number, "billing_npi": self.billing_npi}, self.until, self.desks)
        ClaimLife(self, story, rng, payer, dos).live(coded_on, coder)
        return story.commands


class ClaimLife:
    def __init__(self, practice: Practice, story: Story, rng: random.Random, payer: Payer, dos: date) -> None:
        self.practice, self.story, self.rng, self.payer, self.dos = practice, story, rng, payer, dos
        self.icn = 0

    def lag(self, median: float, p95: float) -> int:
        sigma = math.log(p95 / median) / 1.645
        return max(1, round(self.rng.lognormvariate(math.log(median), sigma)))

    def coding(self) -> tuple[list[str], list[dict[str, Any]]]:
        rng = self.rng
        diagnoses = rng.sample(DIAGNOSES, rng.choices((1, 2, 3, 4), weights=(40, 35, 17, 8))[0])
        code, charge, _ = pick(rng, VISITS)
        lines = [{"procedure": code, "charge": charge, "pointers": list(range(1, min(4, len(diagnoses)) + 1)),
                  "service_date": self.dos}]
        extra = [a for a in ADD_ONS if rng.random() < a[3] * 1.1]
        for proc, price, modifiers, _ in extra[:3]:
            lines.append({"procedure": proc, "charge": price, "modifiers": list(modifiers), "pointers": [1],
                          "service_date": self.dos})
        return diagnoses, lines

    def live(self, coded_on: date, coder: str) -> None:
        rng, s, payer = self.rng, self.story, self.payer
        diagnoses, lines = self.coding()
        self.charge = sum((Decimal(ln["charge"]) for ln in lines), Decimal("0.00"))
        self.lines, self.diagnoses = lines, diagnoses
        defect = rng.random() < 0.04
        coded_dx = ["E11"] + diagnoses[1:] if defect else diagnoses
        day = s.add(c.CodeClaim, coded_on, type="code_claim", rendering_npi=rng.choice(self.practice.providers),
                    payer_id=payer.payer_id, payer_class=payer.payer_class,
                    patient_key=f"pt-{rng.getrandbits(48):012x}", place_of_service="11", diagnoses=coded_dx,
                    lines=lines, actor=coder)
        if not day or not s.add(c.ScrubClaim, day, type="scrub_claim"):
            return
        if defect:
            day = s.add(c.RecodeClaim, day + timedelta(days=1), type="recode_claim", diagnoses=diagnoses, lines=lines)
            if not day or not s.add(c.ScrubClaim, day, type="scrub_claim"):
                return
        if rng.random() < 0.005:
            s.add(c.VoidClaim, day + timedelta(days=1), type="void_claim", reason="encounter entered twice")
            return
        if payer.payer_class == "self_pay":
            self.patient_share(day + timedelta(days=1), transfer=True)
            return
        accepted = self.submit(day + timedelta(days=rng.choice((0, 1, 1, 2))))
        if accepted is None:
            return
        self.adjudicate(accepted)

    def submit(self, day: date, frequency: str = "1") -> date | None:
        """Sends the claim (again, after a front-end rejection); the day the payer accepted it."""
        rng, s = self.rng, self.story
        sent = s.add(c.SubmitClaim, day, type="submit_claim", frequency=frequency, source="837P")
        if not sent:
            return None
        if frequency == "1" and rng.random() < self.payer.rejection_rate:
            rejected = s.add(c.RejectClaim, sent + timedelta(days=rng.randint(1, 2)), type="reject_claim",
                             stage="277CA", code="A7:164", reason="entity's contract/member number invalid",
                             source="277CA")
            if not rejected:
                return None
            sent = s.add(c.SubmitClaim, rejected + timedelta(days=rng.randint(1, 3)), type="submit_claim",
                         frequency="1", source="837P")
            if not sent:
                return None
        return s.add(c.AcceptClaim, sent + timedelta(days=rng.randint(1, 2)), type="accept_claim", source="277CA")

    def remit_day(self, submitted: date) -> date:
        lag = self.lag(12, 28)
        if self.payer.payer_class == "medicare":
            lag = max(lag, 14)
        return submitted + timedelta(days=lag)

    def next_icn(self) -> str:
        self.icn += 1
        return f"{self.story.base['claim_number'].replace('-', '')}{self.icn:02d}"

    def adjudicate(self, submitted: date) -> None:
        rng = self.rng
        day = self.remit_day(submitted)
        if rng.random() < self.payer.denial_rate:
            self.denied(day, pick(rng, DENIALS))
        else:
            self.paid(day)

    def denied(self, day: date, reason: tuple[str, str, float]) -> None:
        rng, s = self.rng, self.story
        carc, rarc, _ = reason
        posted = s.add(c.RecordDenial, day, type="record_denial", payer_claim_control_number=self.next_icn(),
                       charge=self.charge, paid="0.00",
                       adjustments=[{"group": "CO", "carc": carc, "amount": self.charge}], remark_codes=[rarc],
                       trace_number=f"EFT{day:%y%m%d}", remitted_on=day, source="835")
        if not posted:
            return
        work = posted + timedelta(days=rng.randint(3, 20))
        if carc in CORRECTABLE and rng.random() < 0.5:
            recoded = s.add(c.RecodeClaim, work, type="recode_claim", diagnoses=self.diagnoses, lines=self.lines)
            if recoded and s.add(c.ScrubClaim, recoded, type="scrub_claim"):
                resubmitted = self.submit(recoded + timedelta(days=1), frequency="7")
                if resubmitted:
                    self.paid(self.remit_day(resubmitted))
            return
        level = 0
        while carc not in UNAPPEALABLE and rng.random() < (0.7 if level == 0 else 0.35):
            level += 1
            if not self.may_appeal(level):
                break
            filed = s.add(c.AppealDenial, work, type="appeal_denial", level=level,
                          reason="records attached; medically necessary per policy")
            if not filed:
                return
            overturned = rng.random() < 0.6
            decided = s.add(c.DecideAppeal, filed + timedelta(days=rng.randint(20, 60)), type="decide_appeal",
                            overturned=overturned, reason="overturned on review" if overturned else "denial upheld",
                            source="payer letter")
            if not decided:
                return
            if overturned:
                self.paid(decided + timedelta(days=rng.randint(7, 21)))
                return
            work = decided + timedelta(days=rng.randint(5, 30))
        allowed = money(self.charge * Decimal(str(self.payer.allowed_ratio)))
        reason_ = "timely_filing" if carc == "29" else "denial"
        if rng.random() < 0.3:
            adjusted = s.add(c.AdjustClaim, work, type="adjust_claim", group="CO", carc="45",
                             amount=self.charge - allowed, reason="contractual part of a denied claim")
            if adjusted:
                s.add(c.WriteOff, adjusted, type="write_off", responsibility="payer", amount=allowed, reason=reason_)
                return
        s.add(c.WriteOff, work, type="write_off", responsibility="payer", amount=self.charge, reason=reason_)

    def may_appeal(self, level: int) -> bool:
        """The ledger's rule: the payer class has that level and the denied charge meets its minimum in controversy."""
        levels = APPEAL_LEVELS[self.payer.payer_class]
        return level <= len(levels) and self.charge >= levels[level - 1][3]

    def paid(self, day: date, *, correction: bool = False) -> None:
        rng, s, payer = self.rng, self.story, self.payer
        adjustments, line_paid = [], []
        bundled = len(self.lines) > 1 and rng.random() < 0.06
        patient_total = Decimal("0.00")
        for number, ln in enumerate(self.lines, start=1):
            charge = Decimal(ln["charge"])
            if bundled and number == len(self.lines) and any(lp["paid"] > 0 for lp in line_paid):
                # bundled into a paid line; with nothing paid, a CO-97 line would make the remittance a denial
                adjustments.append({"group": "CO", "carc": "97", "amount": charge, "line": number})
                line_paid.append({"line": number, "paid": Decimal("0.00")})
                continue
            allowed = money(charge * Decimal(str(payer.allowed_ratio * rng.uniform(0.95, 1.05))))
            share = self.patient_cost_share(allowed, number)
            adjustments.append({"group": "CO", "carc": "45", "amount": charge - allowed, "line": number})
            for carc, amount in share:
                adjustments.append({"group": "PR", "carc": carc, "amount": amount, "line": number})
            patient_total += sum((a for _, a in share), Decimal("0.00"))
            line_paid.append({"line": number, "paid": allowed - sum((a for _, a in share), Decimal("0.00"))})
        paid = sum((lp["paid"] for lp in line_paid), Decimal("0.00"))
        icn = self.next_icn()
        posted = s.add(c.RecordPayment, day, type="record_payment", payer_claim_control_number=icn,
                       charge=self.charge, paid=paid, patient_responsibility=patient_total, adjustments=adjustments,
                       line_paid=line_paid, trace_number=f"EFT{day:%y%m%d}", remitted_on=day, source="835")
        if not posted:
            return
        if not correction and rng.random() < 0.012:
            takeback = posted + timedelta(days=rng.randint(5, 12))
            reversed_on = s.add(c.ReversePayment, takeback, type="reverse_payment", payer_claim_control_number=icn,
                                source="835")
            if reversed_on:
                self.paid(takeback, correction=True)  # the 835 that takes it back carries the correction
            return
        if patient_total > 0:
            self.patient_share(posted + timedelta(days=rng.randint(2, 6)))

    def patient_cost_share(self, allowed: Decimal, line: int) -> list[tuple[str, Decimal]]:
        rng, kind = self.rng, self.payer.payer_class
        if kind == "medicaid":
            return []
        if kind == "medicare":
            if line == 1 and self.dos.month <= 2 and rng.random() < 0.3:
                deductible = min(allowed, Decimal("257.00"))
                return [("1", deductible)] + ([("2", money((allowed - deductible) * Decimal("0.2")))]
                                               if allowed > deductible else [])
            return [("2", money(allowed * Decimal("0.2")))]
        if line == 1 and rng.random() < 0.6:
            return [("3", min(allowed, Decimal(rng.choice(("20.00", "25.00", "30.00", "40.00")))))]
        return [("2", money(allowed * Decimal("0.2")))] if rng.random() < 0.5 else []

    def patient_share(self, day: date, *, transfer: bool = False) -> None:
        """Statements about 30 days apart; most patients pay, some in part, the rest go to bad debt."""
        rng, s = self.rng, self.story
        owed = self.charge if transfer else self.patient_owed()
        for statement in range(1, 4):
            billed = s.add(c.BillPatient, day, type="bill_patient", source="statement run")
            if not billed:
                return
            day = billed
            pays, paid_on = rng.random(), day + timedelta(days=rng.randint(8, 28))
            if pays < 0.55:
                s.add(c.RecordPatientPayment, paid_on, type="record_patient_payment", amount=owed,
                      method=rng.choice(("card", "portal", "check")), source="patient portal")
                return
            if pays < 0.7 and statement == 1 and owed > Decimal("1.00"):
                part = money(owed / 2)
                if not s.add(c.RecordPatientPayment, paid_on, type="record_patient_payment", amount=part,
                             method="card", source="patient portal"):
                    return
                owed -= part
            day += timedelta(days=30)
        s.add(c.WriteOff, day, type="write_off", responsibility="patient", amount=owed,
              reason="small_balance" if owed < Decimal("10.00") else "bad_debt", source="collections")

    def patient_owed(self) -> Decimal:
        remits = [cmd for cmd in self.story.commands if cmd.type == "record_payment"]
        return remits[-1].patient_responsibility


def demo_commands(seed: int, claims: int, until: date) -> list[Any]:
    return Practice(seed, claims, until).commands()


def demo_command_chunks(seed: int, claims: int, until: date, claims_per_chunk: int) -> Iterator[list[Any]]:
    return Practice(seed, claims, until).chunks(claims_per_chunk)


def office_visit(claim_number: str) -> Any:
    """One newly coded office visit, for benchmarks that time a single command end to end."""
    return c.CodeClaim(type="code_claim", claim_number=claim_number, billing_npi="1234567893", payer_id="BCBS",
                       payer_class="commercial", patient_key="pk", place_of_service="11", diagnoses=["I10"],
                       lines=[{"procedure": "99213", "charge": "100.00", "service_date": "2026-11-20"}])


PATIENT_FIRST_NAMES = ("Avery", "Jordan", "Riley", "Morgan", "Casey", "Taylor", "Quinn", "Rowan", "Emerson",
                       "Hayden", "Sasha", "Dakota", "Reese", "Parker", "Skyler", "Jamie")
PATIENT_LAST_NAMES = ("Testpatient", "Samplefield", "Demoreau", "Mockingham", "Fictivo", "Synthos", "Placeholder",
                      "Madeup")
STREETS = ("Elm St", "Oak Ave", "Maple Dr", "Cedar Ln", "Birch Rd", "Pine Ct", "Willow Way", "Spruce Blvd")
TOWNS = (("Springfield", "IL", "627"), ("Peoria", "IL", "616"), ("Madison", "WI", "537"), ("Ames", "IA", "500"))


def demo_addresses(seed: int, patient_keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each simulated patient's mailing address: made up (names no one has), deterministic per seed and patient key,
    sealed into the PHI store by `rcm demo` so that its statements have somewhere to go."""
    found = {}
    for key in sorted(set(patient_keys)):
        rng = random.Random(f"{seed}|{key}")
        town, state, zip3 = rng.choice(TOWNS)
        found[key] = {"name": f"{rng.choice(PATIENT_FIRST_NAMES)} {rng.choice(PATIENT_LAST_NAMES)}",
                      "line1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}", "line2": "", "city": town,
                      "state": state, "postal_code": f"{zip3}{rng.randint(0, 99):02d}"}
    return found

"""The demo practice's people (issue 15 item 3): every event has a named person or a system, nobody works beyond
their daily capacity (a coder codes 15-30 charts a day), what finds no room waits for a later working day, and
every visit is still coded by the simulation's today."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from infra.simulator import BY_SYSTEM, ROLES, Practice, demo_commands

UNTIL = date(2026, 11, 27)


@pytest.fixture(scope="module")
def practice() -> tuple[Practice, list]:
    practice = Practice(7, 5000, UNTIL)
    return practice, [cmd for chunk in practice.chunks(5000) for cmd in chunk]


def test_every_command_names_a_person_of_its_role_or_a_system(practice):
    _, commands = practice
    people = {cmd.actor for cmd in commands} - set(BY_SYSTEM.values())
    assert {actor.split(":")[0] for actor in people} == set(ROLES)
    assert len({a for a in people if a.startswith("coder:")}) >= 2  # ~47 visits a day need several coders
    assert all(cmd.actor.startswith("coder:") for cmd in commands if cmd.type in ("code_claim", "recode_claim"))
    assert all(cmd.actor.startswith("poster:") for cmd in commands if cmd.type in ("record_payment", "record_denial"))


def test_nobody_works_beyond_their_capacity_nor_on_weekends(practice):
    simulated, commands = practice
    capacity = {p.actor: p.capacity for desk in simulated.desks.values() for p in desk.people}
    assert all(15 <= capacity[a] <= 30 for a in capacity if a.startswith("coder:"))
    done = Counter((cmd.actor, cmd.effective_at.date()) for cmd in commands if cmd.actor in capacity)
    assert all(count <= capacity[actor] for (actor, _), count in done.items())
    assert max(count for (actor, _), count in done.items() if actor.startswith("coder:")) <= 30
    assert not [cmd for cmd in commands if cmd.actor in capacity and cmd.effective_at.weekday() >= 5]


def test_work_beyond_capacity_waits_and_every_visit_is_coded_by_today(practice):
    simulated, commands = practice
    coded = [cmd for cmd in commands if cmd.type == "code_claim"]
    assert len({cmd.claim_number for cmd in coded}) == 5000 and max(c.effective_at.date() for c in coded) <= UNTIL
    fresh = Practice(7, 5000, UNTIL)
    days = [(day, fresh.chart_ready(dos, n)) for charts in fresh.coding() for dos, n, day, _ in charts]
    assert sum(day > ready for day, ready in days) > 0  # charts that waited for a coder with room
    posted = [cmd for cmd in commands if cmd.type in ("record_payment", "record_denial")]
    assert all(cmd.remitted_on <= cmd.effective_at.date() for cmd in posted)
    assert any(cmd.remitted_on < cmd.effective_at.date() for cmd in posted)  # weekend remittances wait for Monday


def test_the_staff_and_their_work_are_deterministic_per_seed(practice):
    _, commands = practice
    again = demo_commands(7, 5000, UNTIL)
    assert [(c.command_id, c.actor, c.effective_at) for c in sorted(again, key=lambda c: str(c.command_id))] == \
        [(c.command_id, c.actor, c.effective_at) for c in sorted(commands, key=lambda c: str(c.command_id))]

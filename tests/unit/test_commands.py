from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.commands import COMMAND, command_schema
from tests.conftest import cmd, code, payment


def reason(body) -> str:
    with pytest.raises(ValidationError) as caught:
        COMMAND.validate_python(body)
    return str(caught.value)


def test_float_money_is_refused():
    assert "not a float" in reason(cmd("record_patient_payment", amount=12.5))


def test_money_with_more_than_cents_is_refused():
    assert "not an amount of money" in reason(cmd("record_patient_payment", amount="12.505"))


def test_negative_charge_is_refused():
    body = code(lines=[{"procedure": "99213", "charge": "-5.00", "service_date": "2026-03-01"}])
    assert "must not be negative" in reason(body)


def test_zero_units_are_refused():
    body = code(lines=[{"procedure": "99213", "charge": "5.00", "units": 0, "service_date": "2026-03-01"}])
    assert "units" in reason(body)


@pytest.mark.parametrize("field,value,words", [
    ("diagnoses", ["1E11"], "not an ICD-10-CM code"),
    ("place_of_service", "1", "place_of_service"),
    ("billing_npi", "12345", "billing_npi"),
    ("lines", [{"procedure": "ABCDE", "charge": "1.00", "service_date": "2026-03-01"}], "neither CPT"),
    ("lines", [{"procedure": "99213", "modifiers": ["x"], "charge": "1.00", "service_date": "2026-03-01"}],
     "modifier"),
])
def test_codes_of_the_wrong_shape_are_refused(field, value, words):
    assert words in reason(code(**{field: value}))


def test_a_claim_names_its_place_of_service_or_its_facility_type_never_both_nor_neither():
    both, neither = code(facility_type_code="13"), code(place_of_service="")
    for body in (both, neither):
        assert "place_of_service (a professional claim) or facility_type_code (an institutional claim)" in reason(body)
    institutional = COMMAND.validate_python(code(place_of_service="", facility_type_code="13"))
    assert (institutional.place_of_service, institutional.facility_type_code) == ("", "13")
    assert "revenue_code" in reason(code(place_of_service="", facility_type_code="13", lines=[
        {"procedure": "99213", "charge": "1.00", "service_date": "2026-03-01", "revenue_code": "45"}]))


@pytest.mark.parametrize("number, refused", [("A" * 20, False), ("A" * 38, False), ("A" * 39, True)])
def test_a_patient_control_number_is_as_long_as_an_835_allows(number, refused):
    body = payment(number)
    if refused:
        assert "at most 38 characters" in reason(body)
    else:
        assert COMMAND.validate_python(body).claim_number == number


def test_unknown_command_and_unknown_field_are_refused():
    assert "union_tag_invalid" in reason(cmd("pay_everything"))
    assert "extra" in reason(cmd("bill_patient", surprise=1))


def test_times_must_carry_a_zone():
    assert "timezone" in reason(cmd("bill_patient", effective_at="2026-03-01T10:00:00"))


def test_content_key_ignores_who_sent_it():
    a = COMMAND.validate_python(payment(actor="alice", source="x"))
    b = COMMAND.validate_python(payment(actor="bob", source="y"))
    assert a.key() == b.key() != COMMAND.validate_python(payment(paid="61.00")).key()


def test_schema_lists_every_command():
    schema = command_schema()
    assert len(schema["discriminator"]["mapping"]) == 18  # rekey_patient (issue 14) is the 18th


def test_the_published_message_schema_in_the_repository_matches_the_model():
    import json
    from pathlib import Path

    from domain.contract import ClaimEventMessage

    committed = json.loads((Path(__file__).parents[2] / "consumers" / "claim-event.v1.schema.json").read_text())
    assert committed == ClaimEventMessage.model_json_schema(), "regenerate: rcm schema --message > consumers/..."


CONTROL_CHARACTERS = ["\x00", "\t", "\n", "\x1b", "\x7f", "\x9b"]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=lambda ch: f"U+{ord(ch):04X}")
@pytest.mark.parametrize("body,field", [
    (code(payer_id="BC{}BS"), "payer_id"),
    (code(patient_key="pk{}1"), "patient_key"),
    (code(diagnoses=["E11.9", "I1{}0"]), "diagnoses"),
    (code(lines=[{"procedure": "99213", "modifiers": ["2{}5"], "charge": "1.00", "service_date": "2026-03-01"}]),
     "lines.0.modifiers"),
    (cmd("reject_claim", stage="999", code="IK5", reason="bad{}data"), "reason"),
    (cmd("void_claim", reason="du{}p", actor="clerk"), "reason"),
    (cmd("bill_patient", actor="cl{}erk"), "actor"),
    (payment(trace_number="T{}1"), "trace_number"),
    (payment(remark_codes=["N{}130"]), "remark_codes"),
])
def test_control_characters_in_any_text_field_are_refused_naming_the_field(body, field, character):
    def spiked(value):
        if isinstance(value, str):
            return value.replace("{}", character)
        if isinstance(value, list):
            return [spiked(v) for v in value]
        if isinstance(value, dict):
            return {k: spiked(v) for k, v in value.items()}
        return value

    with pytest.raises(ValidationError) as caught:
        COMMAND.validate_python(spiked(body))
    problems = [(".".join(str(part) for part in e["loc"][1:]), e["msg"]) for e in caught.value.errors()]
    assert [loc for loc, _ in problems] == [field], problems
    assert f"U+{ord(character):04X}" in problems[0][1] and "control character" in problems[0][1]


def test_printable_unicode_text_is_accepted():
    assert COMMAND.validate_python(cmd("void_claim", reason="doublon — saisi deux fois")).reason.startswith("doublon")


@pytest.mark.parametrize("amount", ["1000000000.00", "-1000000000", 10**12, "123456789012.00"])
def test_money_of_a_billion_dollars_or_more_is_refused(amount):
    assert "less than 1000000000" in reason(cmd("adjust_claim", group="CO", carc="45", amount=amount))


def test_money_just_under_the_bound_is_accepted():
    assert COMMAND.validate_python(cmd("adjust_claim", group="CO", carc="45", amount="-999999999.99")).amount < 0


def test_a_remittance_is_posted_on_or_after_its_own_date():
    """Issue 15 item 3: `remitted_on` (the 835's date, for the posting lag) after the posting is refused, naming it."""
    assert COMMAND.validate_python(payment(remitted_on="2026-03-16")).remitted_on.isoformat() == "2026-03-16"
    with pytest.raises(ValidationError, match="remitted_on 2026-03-17 is after the posting"):
        COMMAND.validate_python(payment(remitted_on="2026-03-17"))

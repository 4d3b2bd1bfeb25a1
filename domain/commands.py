"""Lifecycle commands as pydantic models: the one boundary every writer (CLI, files, simulator) goes through."""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Union
from uuid import UUID, uuid5

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter,
                      field_validator, model_validator)

from domain.money import MONEY_LIMIT, within_limit
from domain.values import PayerClass
from domain.codes import CPT_CATEGORY_II_SHAPE, CPT_CATEGORY_III_SHAPE, CPT_SHAPE, HCPCS_SHAPE, ICD9_SHAPE, ICD10_SHAPE

COMMAND_NAMESPACE = UUID("0b7e64c3-2f7d-5a39-8c41-d2a51e8f7b60")
MONEY_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]{1,2})?$")
# C0 (tab and newline included: every text field is an identifier, a code or a one-line note shown in one table
# cell, and X12 cannot carry them), DEL and C1. PostgreSQL text cannot hold NUL; ESC and CSI drive terminals.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable_text(value: Any) -> Any:
    """Refuses a control character in a text field or in any text of a list field, saying which and where."""
    for index, text in enumerate(value if isinstance(value, list) else [value]):
        found = CONTROL_CHARACTER.search(text) if isinstance(text, str) else None
        if found:
            character = found.group()
            where = f"item {index}, " if isinstance(value, list) else ""
            raise ValueError(f"contains the control character U+{ord(character):04X} {character!r} "
                             f"({where}character {found.start() + 1}); text fields hold printable characters only")
    return value


def parse_money(value: Any) -> Decimal:
    """Money is written as a string ("125.00") or a whole number; a JSON float could already have lost cents."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("money must be a string like \"125.00\" or a whole number, not a float")
    if isinstance(value, int | Decimal):
        value = str(value)
    if isinstance(value, str) and MONEY_TEXT.match(value.strip()):
        amount = Decimal(value.strip())
        if not within_limit(amount):  # before quantize: 30 digits would overflow the decimal context
            raise ValueError(f"{value!r} is too large: an amount is less than {MONEY_LIMIT} in size")
        return amount.quantize(Decimal("0.01"))
    raise ValueError(f"{value!r} is not an amount of money (digits with at most 2 decimals, e.g. \"125.00\")")


def non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


Money = Annotated[Decimal, BeforeValidator(parse_money)]
NonNegativeMoney = Annotated[Decimal, BeforeValidator(non_negative), BeforeValidator(parse_money)]
NPI = Annotated[str, Field(pattern=r"^[0-9]{10}$", description="10-digit National Provider Identifier")]
BillingKey = Annotated[str, Field(pattern=r"^[0-9]{10}$|^TIN-[0-9]{9}$",
                                  description="billing provider NPI; a claim opened from an 835 whose payee is "
                                              "known only by tax id uses TIN-<9 digits>")]
CLAIM_NUMBER_MAX = 38  # CLP01 of an 835: the longest patient control number X12 carries back to a provider
BILLED_CLAIM_NUMBER_MAX = 20  # CLM01 of an 837P/837I (5010 TR3): what a claim the ledger bills may use
ClaimNumber = Annotated[str, Field(min_length=1, max_length=CLAIM_NUMBER_MAX,
                                   pattern=r"^[A-Za-z0-9\-_.]+( [A-Za-z0-9\-_.]+)*$",
                                   description="patient control number: at most 38 characters (835 CLP01); an 837 "
                                               "(CLM01) carries at most 20")]
Units = Annotated[Decimal, Field(gt=0, max_digits=9, decimal_places=3)]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def no_control_characters(cls, value: Any) -> Any:
        return printable_text(value)


def modifier_shape(modifiers: list[str]) -> list[str]:
    for m in modifiers:
        if not re.match(r"^[A-Z0-9]{2}$", m):
            raise ValueError(f"modifier {m!r} must be 2 capital letters or digits")
    return modifiers


# how many: a scrub edit (COUNTS); control characters are named before the shape
Modifiers = Annotated[list[str], AfterValidator(printable_text), AfterValidator(modifier_shape)]


class ServiceLineIn(Frozen):
    procedure: str = Field(description="CPT (99213, 0001F, 0042T) or HCPCS Level II (J3490)")
    modifiers: Modifiers = Field(default_factory=list)
    units: Units = Decimal("1")
    charge: NonNegativeMoney
    pointers: list[int] = Field(default_factory=lambda: [1], description="1-based diagnosis pointers")
    service_date: date
    revenue_code: str | None = Field(default=None, pattern=r"^[0-9]{4}$",
                                     description="NUBC revenue code of an institutional line (837I SV201)")

    @field_validator("procedure")
    @classmethod
    def procedure_shape(cls, code: str) -> str:
        if not any(s.match(code) for s in (CPT_SHAPE, CPT_CATEGORY_II_SHAPE, CPT_CATEGORY_III_SHAPE, HCPCS_SHAPE)):
            raise ValueError(f"{code!r} is neither CPT (5 digits, 4 digits + F/T) nor HCPCS Level II (A-V + 4 digits)")
        return code


class AdjustmentIn(Frozen):
    group: Literal["CO", "PR", "OA", "PI"]
    carc: str = Field(pattern=r"^[A-Z]?[0-9]{1,3}$|^[A-Z][0-9]?$", description="claim adjustment reason code")
    amount: Money
    line: int | None = Field(default=None, ge=1, description="service line number; none for claim level")


class LinePaidIn(Frozen):
    line: int = Field(ge=1)
    paid: Money


class CommandBase(Frozen):
    claim_number: ClaimNumber
    billing_npi: BillingKey
    command_id: UUID | None = Field(default=None, description="idempotency key; derived from the content if absent")
    effective_at: AwareDatetime | None = Field(default=None, description="business time, with a time zone")
    actor: str | None = None
    source: str | None = None
    correlation_id: UUID | None = None

    def key(self) -> UUID:
        if self.command_id:
            return self.command_id
        body = self.model_dump(mode="json", exclude={"command_id", "actor", "source"})
        return uuid5(COMMAND_NAMESPACE, json.dumps(body, sort_keys=True))


class Coding(Frozen):
    diagnoses: list[str] = Field(min_length=1, max_length=50, description="ICD-10-CM, principal first")
    lines: list[ServiceLineIn] = Field(min_length=1, max_length=200)
    total_charge: NonNegativeMoney | None = Field(default=None, description="claim total (CLM02); sum of lines if absent")

    @field_validator("diagnoses")
    @classmethod
    def diagnosis_shape(cls, codes: list[str]) -> list[str]:
        normalized = [c.strip().upper().replace(".", "") for c in codes]
        for code in normalized:
            if not (ICD10_SHAPE.match(code) or ICD9_SHAPE.match(code)):
                raise ValueError(f"{code!r} is not an ICD-10-CM code (letter, digit, then 1-5 letters/digits)")
        return normalized


class CodeClaim(CommandBase, Coding):
    type: Literal["code_claim"]
    billing_npi: BillingKey  # TIN-<tax id> only to attach to a claim an 835 opened so (the ledger checks)
    rendering_npi: NPI | None = None
    payer_id: str = Field(min_length=1, max_length=80)
    payer_class: PayerClass
    patient_key: str = Field(min_length=1, max_length=64, description="pseudonymous patient key, never a name")
    place_of_service: str = Field(default="", pattern=r"^([0-9]{2})?$",
                                  description="CMS place of service of a professional claim (837P CLM05-1)")
    facility_type_code: str = Field(default="", pattern=r"^([0-9]{2})?$",
                                    description="facility type code of an institutional claim (837I CLM05-1, the "
                                                "first two digits of the type of bill): not a place of service")

    @model_validator(mode="after")
    def professional_or_institutional(self) -> CodeClaim:
        if bool(self.place_of_service) == bool(self.facility_type_code):
            raise ValueError("place_of_service (a professional claim) or facility_type_code (an institutional "
                             "claim): exactly one of them")
        return self


class RemittanceLineIn(Frozen):
    procedure: str = Field(min_length=1, max_length=48, description="as the payer reports it (SVC01)")
    modifiers: Modifiers = Field(default_factory=list)
    units: Units = Decimal("1")
    charge: NonNegativeMoney
    service_date: date | None = None


class OpenFromRemittance(CommandBase):
    """A remittance names a claim the ledger never saw: open it from what the remittance says."""
    type: Literal["open_from_remittance"]
    rendering_npi: NPI | None = None
    payer_id: str = Field(min_length=1, max_length=80)
    payer_class: PayerClass
    patient_key: str = Field(min_length=1, max_length=64)
    payer_sequence: Literal["primary", "secondary", "tertiary"] = Field(
        default="primary", description="the payer's place in coordination of benefits (835 CLP02 1/2/3)")
    lines: list[RemittanceLineIn] = Field(default_factory=list, max_length=999)
    total_charge: NonNegativeMoney
    service_date: date
    origin: str = Field(min_length=1, description="which remittance, e.g. 835 trace 12345 of payer 1512345678")


class RecodeClaim(CommandBase, Coding):
    type: Literal["recode_claim"]


class ScrubClaim(CommandBase):
    type: Literal["scrub_claim"]
    timely_filing_days: int | None = Field(default=None, gt=0, description="payer's own limit, if not the default")


class SubmitClaim(CommandBase):
    type: Literal["submit_claim"]
    frequency: Literal["1", "7", "8"] = "1"
    payer_sequence: Literal["primary", "secondary", "tertiary"] = "primary"
    payer_id: str | None = None
    interchange_control_number: str = Field(default="", pattern=r"^[0-9]{0,9}$")
    group_control_number: str = Field(default="", pattern=r"^[0-9]{0,9}$")
    transaction_control_number: str = Field(default="", pattern=r"^[0-9A-Za-z]{0,9}$")
    already_sent: bool = Field(default=False, description="the 837 already left another system (an imported "
                                                          "file): record the fact even if the ledger's scrub did "
                                                          "not pass it")


class AcceptClaim(CommandBase):
    type: Literal["accept_claim"]
    acknowledgment: str = "277CA A2"


class RejectClaim(CommandBase):
    type: Literal["reject_claim"]
    stage: Literal["999", "277CA", "clearinghouse"]
    code: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class RemittanceIn(CommandBase):
    payer_claim_control_number: str = Field(min_length=1, max_length=50)
    charge: NonNegativeMoney
    paid: NonNegativeMoney
    patient_responsibility: NonNegativeMoney = Decimal("0.00")
    adjustments: list[AdjustmentIn] = Field(default_factory=list)
    line_paid: list[LinePaidIn] = Field(default_factory=list)
    remark_codes: list[str] = Field(default_factory=list)
    trace_number: str = ""
    remitted_on: date | None = Field(default=None, description="the remittance's own date (835 BPR16, the check or "
                                                               "EFT date) when it is posted later: posting lag")

    @model_validator(mode="after")
    def remitted_before_posting(self) -> RemittanceIn:
        if self.remitted_on and self.effective_at and self.remitted_on > self.effective_at.date():
            raise ValueError(f"remitted_on {self.remitted_on} is after the posting (effective_at "
                             f"{self.effective_at.date()}): a remittance is posted on or after its date")
        return self


class RecordPayment(RemittanceIn):
    type: Literal["record_payment"]
    status_code: Literal["1", "2", "3", "19", "20", "21", "23"] = "1"


class RecordDenial(RemittanceIn):
    type: Literal["record_denial"]
    status_code: Literal["1", "2", "3", "4", "19", "20", "21", "23"] = "4"


class AppealDenial(CommandBase):
    type: Literal["appeal_denial"]
    level: int = Field(ge=1, le=5)
    reason: str = Field(min_length=1)


class DecideAppeal(CommandBase):
    type: Literal["decide_appeal"]
    overturned: bool
    reason: str = ""


class ReversePayment(CommandBase):
    type: Literal["reverse_payment"]
    payer_claim_control_number: str = Field(min_length=1)
    reason: str = "payer takeback (CLP02 22)"


class AdjustClaim(CommandBase):
    type: Literal["adjust_claim"]
    group: Literal["CO", "OA", "PI", "PR"]
    carc: str = Field(pattern=r"^[A-Z]?[0-9]{1,3}$|^[A-Z][0-9]?$")
    amount: Money
    reason: str = ""


class BillPatient(CommandBase):
    type: Literal["bill_patient"]


class RecordPatientPayment(CommandBase):
    type: Literal["record_patient_payment"]
    amount: NonNegativeMoney
    method: Literal["card", "cash", "check", "ach", "portal"] = "card"
    reference: str = ""


class WriteOff(CommandBase):
    type: Literal["write_off"]
    responsibility: Literal["payer", "patient"]
    amount: NonNegativeMoney
    reason: Literal["contractual", "denial", "small_balance", "bad_debt", "charity", "timely_filing"]


class VoidClaim(CommandBase):
    type: Literal["void_claim"]
    reason: str = Field(min_length=1)


class ClaimRef(Frozen):
    claim_number: ClaimNumber
    billing_npi: BillingKey | None = Field(default=None, description="needed only when NPIs share the number")


class AgreePaymentPlan(Frozen):
    """A patient agrees to pay some claims' patient balance in installments (not a claim command: `rcm plan`)."""
    patient_key: str = Field(min_length=1, max_length=64)
    claims: list[ClaimRef] = Field(min_length=1, max_length=100)
    first_due: date
    installments: int | None = Field(default=None, ge=1)
    amount: NonNegativeMoney | None = None
    every_months: int = Field(default=1, ge=1, le=12)
    effective_at: AwareDatetime | None = None
    actor: str | None = None

    @model_validator(mode="after")
    def count_or_amount(self) -> AgreePaymentPlan:
        if self.installments is None and self.amount is None:
            raise ValueError("give installments (a count), amount (each installment), or both")
        return self

PatientKey = Annotated[str, Field(min_length=1, max_length=64, description="pseudonymous patient key, never a name")]


class RekeyPatient(CommandBase):
    """Gives a claim a new pseudonymous patient key (the keyed one that replaces an unkeyed hash): applied only
    while the claim still holds `patient_key_was`, so running it again, or after another rekey, changes nothing."""
    type: Literal["rekey_patient"]
    patient_key_was: PatientKey
    patient_key: PatientKey
    reason: str = Field(default="keyed patient pseudonym (HMAC) replaces the unkeyed hash", min_length=1)


Command = Annotated[
    Union[CodeClaim, OpenFromRemittance, RecodeClaim, ScrubClaim, SubmitClaim, AcceptClaim, RejectClaim, RecordPayment, RecordDenial,
          AppealDenial, DecideAppeal, ReversePayment, AdjustClaim, BillPatient, RecordPatientPayment, WriteOff,
          VoidClaim, RekeyPatient],
    Field(discriminator="type"),
]
COMMAND = TypeAdapter(Command)


def command_schema() -> dict[str, Any]:
    return COMMAND.json_schema()

"""X12 files as segments and transactions: separators from ISA, envelopes checked, streamed in bounded memory.

Copes with what real files contain: a UTF-8 byte-order mark, prose before the ISA, any segment terminator
and separators the ISA declares, line breaks or none, indentation, several interchanges, functional groups
and transactions in one file. Every structural fault is an X12Error naming the segment number (counted from
the file's ISA, as pyx12 and the TR3s count), the segment id and the reason.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import IO

CHUNK = 1 << 20
MAX_SEGMENT = 8192  # no X12 segment comes near this; garbage without terminators does
MAX_TRANSACTION_SEGMENTS = 2_000_000
# GS08 versions the importer maps, and the transaction set each belongs to.
VERSIONS = {
    "837": ("005010X222A1", "005010X222A2", "005010X222", "005010X223A1", "005010X223A2", "005010X223A3",
            "005010X223"),
    "835": ("005010X221A1", "005010X221"),
    "999": ("005010X231A1", "005010X231"),
    "277": ("005010X214",),
}


# The decimal (R) elements the ledger reads, by segment: money (data element 782) and quantities (380).
MONEY_ELEMENTS = {"BPR": (2,), "CLP": (3, 4, 5), "CAS": (3, 6, 9, 12, 15, 18), "SVC": (2, 3),
                  "PLB": (4, 6, 8, 10, 12, 14), "CLM": (2,), "SV1": (2,), "SV2": (3, 7)}
QUANTITY_ELEMENTS = {"CAS": (4, 7, 10, 13, 16, 19), "SVC": (5, 7), "SV1": (4,), "SV2": (5,)}
DECIMAL = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
EXPONENTIAL = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[Ee][+-]?[0-9]+$")
LARGEST_MONEY = Decimal("99999999.99")  # TR3 B.1.1.3.1.2: 782 carries at most 10 digits, the cents included
QUANTITY_DIGITS = 15  # data element 380 is R 1/15


class X12Error(Exception):
    def __init__(self, segment: int, segment_id: str, reason: str, file: str = "") -> None:
        self.segment, self.segment_id, self.reason, self.file = segment, segment_id, reason, file
        where = f"segment {segment} ({segment_id})" if segment else "file"
        super().__init__(f"{file + ': ' if file else ''}{where}: {reason}")


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str


@dataclass
class Transaction:
    """One ST..SE with its envelope facts; segments are element lists ([0] is the segment id)."""

    set_id: str
    control: str
    version: str
    functional_id: str
    group_control: str
    interchange_control: str
    sender: str
    receiver: str
    created: datetime
    usage: str  # ISA15: P production, T test
    delimiters: Delimiters
    first_segment: int
    segments: list[list[str]] = field(default_factory=list)
    isa: list[str] = field(default_factory=list)
    gs: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.set_id == "837":
            return "837I" if "X223" in self.version else "837P"
        return {"277": "277CA"}.get(self.set_id, self.set_id)

    def text(self) -> str:
        d = self.delimiters
        return "".join(d.element.join(s) + d.segment + "\n" for s in self.segments)

    def interchange_text(self) -> str:
        """This transaction alone in its own envelope: what a quarantine keeps, to be imported again later."""
        d = self.delimiters
        gs, isa = self.gs, self.isa
        trailer = [["GE", "1", gs[6]], ["IEA", "1", isa[13]]]
        return "".join(d.element.join(s) + d.segment + "\n" for s in [isa, gs, *self.segments, *trailer])

    def digest(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()


def decimal(text: str, where: str, *, money: bool = True) -> Decimal:
    """An X12 decimal (R) element, strictly: digits with an optional point and leading minus; no exponent, NaN or
    infinity; money with at most 2 decimal places and at most 99999999.99. A ValueError names where and why."""
    if not DECIMAL.match(text):
        if EXPONENTIAL.match(text):
            raise ValueError(f"{where}: {text!r} uses exponential notation, which the HIPAA X12 guides prohibit")
        raise ValueError(f"{where}: {text!r} is not a decimal number (X12 R: digits, an optional decimal point "
                         f"and leading minus)")
    value = Decimal(text)
    places = len(text.partition(".")[2])
    if money and places > 2:
        raise ValueError(f"{where}: {text!r} has {places} decimal places; an amount of money has at most 2")
    if money and abs(value) > LARGEST_MONEY:
        raise ValueError(f"{where}: {text!r} exceeds {LARGEST_MONEY}, the largest amount an X12 health care file "
                         f"carries (10 digits with the cents)")
    if not money and sum(ch.isdigit() for ch in text) > QUANTITY_DIGITS:
        raise ValueError(f"{where}: {text!r} has more than {QUANTITY_DIGITS} digits, the most an X12 quantity has")
    return value


def amount_fault(tx: Transaction) -> str:
    """The first decimal element the ledger reads that X12 does not allow, with its segment and element; or ''."""
    for number, segment in enumerate(tx.segments, start=tx.first_segment):
        sid = segment[0]
        for kind, positions in ((True, MONEY_ELEMENTS.get(sid, ())), (False, QUANTITY_ELEMENTS.get(sid, ()))):
            for i in positions:
                text = segment[i].strip() if len(segment) > i else ""
                try:
                    if text:
                        decimal(text, f"segment {number} ({sid}) {sid}{i:02d}", money=kind)
                except ValueError as error:
                    return str(error)
    return ""


def open_text(path: str) -> IO[str]:
    """The file as text: a UTF-8 BOM is dropped; bytes that are not text become an X12Error."""
    return open(path, encoding="utf-8-sig", errors="strict", newline="")


def raw_segments(stream: IO[str], file: str = "") -> Iterator[tuple[list[str], Delimiters]]:
    """Segments as element lists, read in chunks; the separators come from the ISA (prose before it is skipped)."""
    try:
        head = stream.read(CHUNK)
    except UnicodeDecodeError as error:
        raise X12Error(0, "", f"byte {error.start} is not text: this is not an X12 file", file) from None
    start = head.find("ISA")
    while start > 0 and head[start - 1] not in "\r\n\t ~":  # an "ISA" inside prose is not the header
        start = head.find("ISA", start + 1)
    if start < 0 or len(head) < start + 106:
        what = "the file is empty" if not head.strip() else "no ISA interchange header: this is not an X12 file"
        if head.lstrip().startswith("ST"):
            what = "the file starts at ST without an ISA/GS envelope; an X12 file starts with ISA"
        raise X12Error(0, "", what, file)
    element = head[start + 3]
    if element.isalnum() or element.isspace():
        raise X12Error(1, "ISA", f"element separator {element!r} is a letter, digit or space", file)
    position, count = start, 0
    while count < 16:
        position = head.find(element, position + 1)
        if position < 0:
            raise X12Error(1, "ISA", "the ISA has fewer than 16 elements (truncated header)", file)
        count += 1
    component = head[position + 1]
    terminator = head[position + 2]
    if terminator in "\r\n" and component != terminator:
        terminator = "\n"
    isa = head[start:position + 2].split(element)
    repetition = isa[11] if isa[12] >= "00501" else ""
    if component.isalnum() or terminator.isalnum():
        raise X12Error(1, "ISA", f"component separator {component!r} / segment terminator {terminator!r} "
                                 "must not be letters or digits", file)
    delimiters = Delimiters(element, component, repetition, terminator)
    buffer = head[start:]
    decoder_error = None
    while True:
        parts = buffer.split(terminator)
        buffer = parts.pop()
        for part in parts:
            text = part.strip()
            if text:
                yield text.split(element), delimiters
        if len(buffer) > MAX_SEGMENT:
            raise X12Error(0, buffer.strip()[:3], f"more than {MAX_SEGMENT} characters without a segment "
                                                  f"terminator {terminator!r}: not X12 text", file)
        try:
            more = stream.read(CHUNK)
        except UnicodeDecodeError as error:
            decoder_error = error
            more = ""
        if not more:
            break
        buffer += more
    if decoder_error is not None:
        raise X12Error(0, "", f"bytes that are not text near the end of the file ({decoder_error.reason})", file)
    if buffer.strip():
        yield buffer.strip().split(element), delimiters


def x12_date(day: str, time: str = "") -> datetime:
    """CCYYMMDD or YYMMDD with HHMM[SS..]; X12 carries no time zone, so the ledger reads it as UTC."""
    day = day.strip()
    if len(day) == 6:
        day = ("20" if day[:2] < "50" else "19") + day
    time = (time.strip() + "0000")[:6] if time.strip() else "000000"
    time = time[:4] + ("00" if len(time) < 6 else time[4:6])
    return datetime.strptime(day + time, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def transactions(stream: IO[str], file: str = "", warnings: list[str] | None = None) -> Iterator[Transaction]:
    """Every transaction in the file, its envelopes checked. Control numbers that do not pair (ST/SE, GS/GE,
    ISA/IEA) and missing trailers are errors; a wrong count in SE01/GE01/IEA01 is a warning (several
    generators miscount, and a lost trailer is caught anyway)."""
    envelopes = Envelopes(file, [] if warnings is None else warnings)
    for elements, delimiters in raw_segments(stream, file):
        if (done := envelopes.take(elements, delimiters)) is not None:
            yield done
    envelopes.end()


class Envelopes:
    """The interchange (ISA), functional group (GS) and transaction (ST) open at this point of a file."""

    def __init__(self, file: str, warnings: list[str]) -> None:
        self.file, self.warnings = file, warnings
        self.isa: list[str] | None = None
        self.gs: list[str] | None = None
        self.tx: Transaction | None = None
        self.groups = self.sets = 0
        self.number = 0
        self.isa_at = self.gs_at = 0
        self.sid = ""

    def fail(self, reason: str, segment_id: str | None = None, at: int | None = None) -> X12Error:
        return X12Error(at or self.number, segment_id or self.sid, reason, self.file)

    def take(self, elements: list[str], delimiters: Delimiters) -> Transaction | None:
        """Checks one segment against the envelopes; returns the transaction its SE closes."""
        self.number += 1
        sid = self.sid = elements[0].strip()
        if not sid.isalnum() or len(sid) > 3 or not sid.isupper() and not sid.isdigit():
            raise self.fail(f"{sid[:12]!r} is not a segment id (2-3 capital letters or digits)", sid[:12] or "?")
        if sid == "ISA":
            self.open_interchange(elements)
            return None
        if self.isa is None:
            raise self.fail("segment outside an interchange (no ISA before it)")
        if sid == "IEA":
            self.close_interchange(elements, self.isa)
            return None
        if sid == "GS":
            self.open_group(elements)
            return None
        if self.gs is None:
            raise self.fail("segment outside a functional group (no GS before it)")
        if sid == "GE":
            self.close_group(elements, self.gs)
            return None
        if sid == "ST":
            self.open_transaction(elements, delimiters, self.isa, self.gs)
            return None
        if self.tx is None:
            raise self.fail("segment outside a transaction (no ST before it)")
        return self.add(elements, self.tx)

    def open_interchange(self, elements: list[str]) -> None:
        if self.isa is not None:
            raise self.fail(f"interchange {self.isa[13]} has no IEA before this ISA")
        if len(elements) != 17:
            raise self.fail(f"ISA has {len(elements) - 1} elements, 16 expected")
        if elements[12] != "00501":
            raise self.fail(f"interchange version {elements[12]!r} (ISA12) is not supported: only 5010 (00501)")
        if not elements[13].isdigit() or len(elements[13]) != 9:
            raise self.fail(f"ISA13 control number {elements[13]!r} is not 9 digits")
        self.isa, self.groups, self.isa_at = elements, 0, self.number

    def close_interchange(self, elements: list[str], isa: list[str]) -> None:
        if self.gs is not None:
            raise self.fail(f"functional group {self.gs[6]} has no GE before the IEA")
        if len(elements) < 3 or elements[2] != isa[13]:
            raise self.fail(f"IEA02 {elements[2] if len(elements) > 2 else ''!r} does not match ISA13 {isa[13]!r}")
        if elements[1] != str(self.groups):
            self.warnings.append(f"segment {self.number} (IEA): IEA01 says {elements[1]!r} functional groups, "
                                 f"the interchange has {self.groups}")
        self.isa = None

    def open_group(self, elements: list[str]) -> None:
        if self.gs is not None:
            raise self.fail(f"functional group {self.gs[6]} has no GE before this GS")
        if len(elements) < 9:
            raise self.fail(f"GS has {len(elements) - 1} elements, 8 expected")
        self.gs, self.sets, self.gs_at = elements, 0, self.number
        self.groups += 1

    def close_group(self, elements: list[str], gs: list[str]) -> None:
        if self.tx is not None:
            raise self.fail(f"transaction {self.tx.control} has no SE before the GE")
        if len(elements) < 3 or elements[2] != gs[6]:
            raise self.fail(f"GE02 {elements[2] if len(elements) > 2 else ''!r} does not match GS06 {gs[6]!r}")
        if elements[1] != str(self.sets):
            self.warnings.append(f"segment {self.number} (GE): GE01 says {elements[1]!r} transactions, the group "
                                 f"has {self.sets}")
        self.gs = None

    def open_transaction(self, elements: list[str], delimiters: Delimiters, isa: list[str], gs: list[str]) -> None:
        if self.tx is not None:
            raise self.fail(f"transaction {self.tx.control} has no SE before this ST")
        if len(elements) < 3 or not elements[2]:
            raise self.fail("ST02 transaction control number is missing")
        set_id = elements[1]
        version = (elements[3] if len(elements) > 3 and elements[3] else gs[8]).strip()
        if set_id not in VERSIONS:
            raise self.fail(f"transaction set {set_id!r} is not imported (837, 835, 999 and 277CA are)")
        if version not in VERSIONS[set_id]:
            raise self.fail(f"version {version!r} of the {set_id} is unknown (known: {', '.join(VERSIONS[set_id])})")
        try:
            created = x12_date(gs[4], gs[5])
        except ValueError:
            created = x12_date(isa[9], isa[10]) if isa[9].strip().isdigit() else datetime.now(timezone.utc)
        self.tx = Transaction(set_id=set_id, control=elements[2], version=version, functional_id=gs[1],
                              group_control=gs[6], interchange_control=isa[13], sender=isa[6].strip(),
                              receiver=isa[8].strip(), created=created, usage=isa[15], delimiters=delimiters,
                              first_segment=self.number, segments=[elements], isa=isa, gs=gs)
        self.sets += 1

    def add(self, elements: list[str], tx: Transaction) -> Transaction | None:
        tx.segments.append(elements)
        if len(tx.segments) > MAX_TRANSACTION_SEGMENTS:
            raise self.fail(f"transaction {tx.control} exceeds {MAX_TRANSACTION_SEGMENTS} segments")
        if self.sid != "SE":
            return None
        if len(elements) < 3 or elements[2] != tx.control:
            raise self.fail(f"SE02 {elements[2] if len(elements) > 2 else ''!r} does not match ST02 {tx.control!r}")
        if elements[1] != str(len(tx.segments)):
            self.warnings.append(f"segment {self.number} (SE): SE01 says {elements[1]!r} segments, "
                                 f"transaction {tx.control} has {len(tx.segments)}")
        self.tx = None
        return tx

    def end(self) -> None:
        """At the end of the file: every envelope opened is closed, and there was something in it."""
        if self.tx is not None:
            raise self.fail(f"transaction {self.tx.control} has no SE: the file is truncated", "ST",
                            self.tx.first_segment)
        if self.gs is not None:
            raise self.fail(f"functional group {self.gs[6]} has no GE: the file is truncated", "GS", self.gs_at)
        if self.isa is not None:
            raise self.fail(f"interchange {self.isa[13]} has no IEA: the file is truncated", "ISA", self.isa_at)
        if self.number == 0:
            raise X12Error(0, "", "no segments", self.file)


def check_file(path: str, warnings: list[str] | None = None) -> list[tuple[str, str, int]]:
    """Reads the whole file once, checking structure only; returns (kind, control, claims) per transaction."""
    with open_text(path) as stream:
        return [(tx.kind, tx.control, sum(1 for s in tx.segments if s[0] in ("CLM", "CLP", "STC", "IK5")))
                for tx in transactions(stream, path, warnings)]


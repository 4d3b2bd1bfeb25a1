"""The PHI store: what identifies a person (X12 text held for a retry, demographics), kept apart and encrypted.

Every record is sealed with AES-GCM, its record id and kind bound in as associated data (a ciphertext moved to
another row does not open). A record about one patient is sealed under that patient's data key; one mentioning
several (a held X12 transaction) under a key of its own, linked to each of them. Data keys are stored wrapped
(AES-GCM) under `MasterKey.derive("phi-wrap")`; the master key itself never reaches the database, only its
fingerprint, recorded the first time something is sealed, so that a wrong or missing key is named before anything
is decrypted or written. `forget(patient)` destroys the patient's data key and every record key linked to it
(crypto-shredding): the ciphertext stays, and nothing can read it any more.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.keys import ENV_FILE, ENV_KEY, MasterKey, MasterKeyError

NONCE_BYTES = 12
TABLES = ("rcm_phi_meta", "rcm_phi_keys", "rcm_phi_records", "rcm_phi_links")


@dataclass
class Sealing:
    """A record to seal: its id, kind, data (JSON-able) and the patient keys it names."""
    record_id: str
    kind: str
    data: Any
    patients: list[str]

    def __post_init__(self) -> None:
        self.patients = sorted(set(p for p in self.patients if p))


class PhiUnreadable(Exception):
    """A PHI record that cannot be read: its key was destroyed (the patient forgotten), or it was never stored."""


def schema_statements(blob: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS {rcm_phi_meta} (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # key_id: "patient:<patient key>" or "record:<record id>"; wrapped is NULL once the key is destroyed
        f"CREATE TABLE IF NOT EXISTS {{rcm_phi_keys}} (key_id TEXT PRIMARY KEY, wrapped {blob}, "
        f"created_at TEXT NOT NULL, forgotten_at TEXT)",
        f"CREATE TABLE IF NOT EXISTS {{rcm_phi_records}} (record_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
        f"key_id TEXT NOT NULL, nonce {blob} NOT NULL, ciphertext {blob} NOT NULL, sealed_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {rcm_phi_links} (record_id TEXT NOT NULL, patient_key TEXT NOT NULL, "
        "PRIMARY KEY (record_id, patient_key))",
    ]


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def bound(record_id: str, kind: str) -> bytes:
    """The associated data sealed with a record: a ciphertext copied to another row or kind does not open."""
    return f"{record_id}|{kind}".encode()


def patient_key_id(patient: str) -> str:
    return f"patient:{patient}"


class PhiStore:
    """Over the ledger's own database: its SQLite file, or its PostgreSQL schema (`dialect` "sqlite" or
    "postgresql"). `dry_run`: everything is checked and nothing written."""

    def __init__(self, datastore: Any, dialect: str, schema: str = "", env: Mapping[str, str] | None = None, *,
                 create_tables: bool = True, dry_run: bool = False) -> None:
        self.datastore, self.dialect, self.dry_run = datastore, dialect, dry_run
        self.ledger: Any = None
        self.mark = "%s" if dialect == "postgresql" else "?"
        prefix = f'"{schema}".' if schema else ""
        self.names = {t: f"{prefix}{t}" for t in TABLES}
        if create_tables:
            self.create_tables()
        self.recorded = self.meta("master_key_fingerprint")
        # No fingerprint yet: nothing was ever sealed here, so a key may be made for it (the zero set-up path).
        self.key = MasterKey.load(env, create=self.recorded is None)
        if self.recorded is not None and self.key.fingerprint != self.recorded:
            raise MasterKeyError(
                f"the master key from {self.key.source} (fingerprint {self.key.fingerprint}) is not the one this "
                f"ledger's PHI was sealed with (fingerprint {self.recorded}): set {ENV_KEY} or {ENV_FILE} to that "
                f"key; nothing was read or written")
        self.wrapping = AESGCM(self.key.derive("phi-wrap"))

    # ---- storage ----

    def sql(self, statement: str) -> str:
        return statement.format(**self.names).replace("?", self.mark)

    @contextmanager
    def cursor(self, commit: bool, writing_first: bool = False) -> Iterator[Any]:
        """A transaction; one that writes takes SQLite's write lock with its first statement: a deferred transaction
        that read first would have to upgrade its lock, and two processes doing so at once fail at once
        ("database is locked") instead of waiting for each other."""
        with self.datastore.transaction(commit=commit) as cursor:
            if commit and not writing_first and self.dialect == "sqlite":
                cursor.execute(self.sql("UPDATE {rcm_phi_meta} SET value = value WHERE 0"))
            yield cursor

    def create_tables(self) -> None:
        with self.cursor(commit=True, writing_first=True) as c:
            for statement in schema_statements("BYTEA" if self.dialect == "postgresql" else "BLOB"):
                c.execute(self.sql(statement))

    def rows(self, statement: str, *params: Any) -> list[Any]:
        with self.cursor(commit=False) as c:
            c.execute(self.sql(statement), params)
            return list(c.fetchall())

    def meta(self, name: str) -> str | None:
        found = self.rows("SELECT value FROM {rcm_phi_meta} WHERE name = ?", name)
        return found[0]["value"] if found else None

    # ---- keys ----

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self.wrapping.encrypt(nonce, data_key, key_id.encode())

    def unwrap(self, key_id: str, cursor: Any = None) -> bytes:
        statement = "SELECT wrapped, forgotten_at FROM {rcm_phi_keys} WHERE key_id = ?"
        if cursor is None:
            found = self.rows(statement, key_id)
        else:  # inside a write: the same connection (another would wait for this one's lock)
            cursor.execute(self.sql(statement), (key_id,))
            found = cursor.fetchall()
        if not found:
            raise PhiUnreadable(f"no key {key_id} in the PHI store")
        if found[0]["wrapped"] is None:
            raise PhiUnreadable(f"its key was destroyed on {found[0]['forgotten_at']} (the patient was forgotten): "
                                f"the PHI can no longer be read")
        wrapped = bytes(found[0]["wrapped"])
        try:
            return self.wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise MasterKeyError(f"key {key_id} does not unwrap under the master key from {self.key.source}: the "
                                 f"PHI store was altered or sealed under another key") from None

    def patient(self, patient: str) -> dict[str, Any] | None:
        found = self.rows("SELECT created_at, forgotten_at FROM {rcm_phi_keys} WHERE key_id = ?",
                          patient_key_id(patient))
        return {"created_at": found[0]["created_at"], "forgotten_at": found[0]["forgotten_at"]} if found else None

    def knows(self, patient: str) -> bool:
        return self.patient(patient) is not None or bool(
            self.rows("SELECT 1 FROM {rcm_phi_links} WHERE patient_key = ?", patient))

    # ---- sealing and reading ----

    def seal(self, record_id: str, kind: str, data: Any, patients: list[str]) -> str:
        return self.seal_many([Sealing(record_id, kind, data, patients)])[0]

    def seal_many(self, records: list[Sealing]) -> list[str]:
        """Seals each record's `data` (JSON) as its id, replacing an earlier seal of the same id, all in one
        database transaction; returns the ids, "" for a record naming a patient who was forgotten (what arrives
        about them afterwards is not kept, nor revived)."""
        if not records:
            return []
        with self.cursor(commit=not self.dry_run) as c:
            if self.recorded is None and not self.dry_run:
                c.execute(self.sql("INSERT INTO {rcm_phi_meta} (name, value) VALUES (?, ?) ON CONFLICT (name) "
                                   "DO NOTHING"), ("master_key_fingerprint", self.key.fingerprint))
            forgotten = self.forgotten(c, {p for r in records for p in r.patients})
            ids = ["" if forgotten & set(r.patients) else r.record_id for r in records]
            if not self.dry_run:
                keys: dict[str, bytes] = {}
                for record in (r for r, kept in zip(records, ids) if kept):
                    self.write(c, record, keys)
        if not self.dry_run:
            self.recorded = self.key.fingerprint
        return ids

    def forgotten(self, c: Any, patients: set[str]) -> set[str]:
        found = set()
        for patient in sorted(patients):
            c.execute(self.sql("SELECT forgotten_at FROM {rcm_phi_keys} WHERE key_id = ?"), (patient_key_id(patient),))
            row = c.fetchone()
            if row is not None and row["forgotten_at"]:
                found.add(patient)
        return found

    def write(self, c: Any, record: Sealing, keys: dict[str, bytes]) -> None:
        patients = sorted(set(record.patients))
        key_id = patient_key_id(patients[0]) if len(patients) == 1 else f"record:{record.record_id}"
        if key_id not in keys or len(patients) != 1:
            keys[key_id] = self.data_key(c, key_id, fresh=len(patients) != 1)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(keys[key_id]).encrypt(nonce, json.dumps(record.data, default=str).encode(),
                                              bound(record.record_id, record.kind))
        c.execute(self.sql(
            "INSERT INTO {rcm_phi_records} (record_id, kind, key_id, nonce, ciphertext, sealed_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO UPDATE SET kind = excluded.kind, "
            "key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, "
            "sealed_at = excluded.sealed_at"), (record.record_id, record.kind, key_id, nonce, sealed, now()))
        for patient in patients:
            c.execute(self.sql("INSERT INTO {rcm_phi_links} (record_id, patient_key) VALUES (?, ?) "
                               "ON CONFLICT (record_id, patient_key) DO NOTHING"), (record.record_id, patient))

    def data_key(self, c: Any, key_id: str, fresh: bool) -> bytes:
        """A new key for a record of its own, or the patient's data key: made on first use, and otherwise (another
        writer made it first, even at the same moment) the stored one, whose insert wins (DO NOTHING, then read)."""
        data_key = AESGCM.generate_key(bit_length=256)
        upsert = ("DO UPDATE SET wrapped = excluded.wrapped, created_at = excluded.created_at, forgotten_at = NULL"
                  if fresh else "DO NOTHING")
        c.execute(self.sql("INSERT INTO {rcm_phi_keys} (key_id, wrapped, created_at) VALUES (?, ?, ?) "
                           f"ON CONFLICT (key_id) {upsert}"), (key_id, self.wrap(key_id, data_key), now()))
        return data_key if fresh else self.unwrap(key_id, c)

    def open(self, record_id: str) -> Any:
        found = self.rows("SELECT kind, key_id, nonce, ciphertext FROM {rcm_phi_records} WHERE record_id = ?",
                          record_id)
        if not found:
            raise PhiUnreadable(f"PHI record {record_id} is not in the PHI store")
        row = found[0]
        try:
            data_key = self.unwrap(row["key_id"])
        except PhiUnreadable as error:
            raise PhiUnreadable(f"PHI record {record_id}: {error}") from None
        try:
            plain = AESGCM(data_key).decrypt(bytes(row["nonce"]), bytes(row["ciphertext"]),
                                             bound(record_id, row["kind"]))
        except InvalidTag:
            raise PhiUnreadable(f"PHI record {record_id} does not decrypt: it was altered or moved") from None
        return json.loads(plain)

    def records_of(self, patient: str) -> list[dict[str, Any]]:
        """Every record mentioning the patient, each opened (`data`) or with why it cannot be (`unreadable`)."""
        out = []
        for row in self.rows("SELECT r.record_id, r.kind, r.sealed_at FROM {rcm_phi_links} l JOIN {rcm_phi_records} r "
                             "ON r.record_id = l.record_id WHERE l.patient_key = ? ORDER BY r.sealed_at, r.record_id",
                             patient):
            item = {"record": row["record_id"], "kind": row["kind"], "sealed_at": row["sealed_at"]}
            try:
                item["data"] = self.open(row["record_id"])
            except PhiUnreadable as error:
                item["unreadable"] = str(error)
            out.append(item)
        return out

    def forget(self, patient: str) -> dict[str, Any]:
        """Destroys the patient's data key and every record key linked to the patient; records when (not who)."""
        at = now()
        with self.cursor(commit=True) as c:
            c.execute(self.sql("INSERT INTO {rcm_phi_keys} (key_id, wrapped, created_at, forgotten_at) "
                               "VALUES (?, NULL, ?, ?) ON CONFLICT (key_id) DO UPDATE SET wrapped = NULL, "
                               "forgotten_at = excluded.forgotten_at"), (patient_key_id(patient), at, at))
            c.execute(self.sql("SELECT record_id FROM {rcm_phi_links} WHERE patient_key = ?"), (patient,))
            records = [r["record_id"] for r in c.fetchall()]
            for record_id in records:
                c.execute(self.sql("UPDATE {rcm_phi_keys} SET wrapped = NULL, forgotten_at = ? "
                                   "WHERE key_id = ? AND wrapped IS NOT NULL"), (at, f"record:{record_id}"))
        return {"patient": patient, "forgotten_at": at, "records": len(records)}


def open_phi_store(ledger: Any, env: Mapping[str, str] | None = None, *, create_tables: bool = True,
                   dry_run: bool = False) -> PhiStore:
    """The PHI store beside a ledger's events: its SQLite file or PostgreSQL schema (a ledger in memory gets an
    in-memory SQLite store, gone with the process)."""
    recorder = getattr(ledger, "real", ledger).recorder  # a dry run's Rehearsal reads through to the real store
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:
        from eventsourcing.sqlite import SQLiteDatastore

        datastore = ledger.phi_memory = SQLiteDatastore(f"file:rcm-phi-{os.urandom(8).hex()}?mode=memory&cache=shared")
    dialect = "postgresql" if hasattr(datastore, "schema") else "sqlite"
    store = PhiStore(datastore, dialect, getattr(datastore, "schema", ""), env, create_tables=create_tables,
                     dry_run=dry_run)
    store.ledger = ledger  # the ledger closes the database when it is collected: kept as long as the store
    return store

"""The tamper-evident hash chain on both back ends: each kind of tampering named by `rcm audit verify`, the rebuild
refusing a broken chain, signed checkpoints, the upgrade of a ledger written before the chain, the append-only guard.

The attacker is the database owner, who switches the append-only guard off first: the one the chain is for."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from domain.commands import COMMAND
from infra.bootstrap import open_ledger
from infra.cli import main
from infra.settings import Settings
from infra.store.chain import UnchainedEvents
from tests.conftest import lifecycle_to_submitted, payment


def ledger_with_two_claims(url: str) -> Any:
    ledger = open_ledger(url)
    commands = [*lifecycle_to_submitted("C1"), *lifecycle_to_submitted("C2"), payment("C1"), payment("C2")]
    assert {o.result for o in ledger.execute([COMMAND.validate_python(c) for c in commands])} == {"applied"}
    return ledger


@contextmanager
def owner(url: str) -> Iterator[Any]:
    """A connection of the database owner with the append-only guard switched off (and back on afterwards)."""
    settings = Settings.load(url)
    if settings.backend == "sqlite":
        conn = sqlite3.connect(settings.eventsourcing_env()["SQLITE_DBNAME"], isolation_level=None)
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        yield Owner(conn, "rowid", "stored_events", "rcm_chain", "?", lambda o: o.hex)
        for _, sql in triggers:
            conn.execute(sql)
        conn.close()
        return
    import psycopg

    schema = settings.postgres_schema
    with psycopg.connect(settings.postgres_conninfo(), autocommit=True) as conn:
        for table in ("rcm_events", "rcm_chain"):
            conn.execute(f"ALTER TABLE {schema}.{table} DISABLE TRIGGER {table}_append_only")
        yield Owner(conn, "notification_id", f"{schema}.rcm_events", f"{schema}.rcm_chain", "%s", lambda o: o)
        for table in ("rcm_events", "rcm_chain"):
            conn.execute(f"ALTER TABLE {schema}.{table} ENABLE TRIGGER {table}_append_only")


class Owner:
    def __init__(self, conn: Any, nid: str, events: str, chain: str, mark: str, stored_id: Any) -> None:
        self.conn, self.nid, self.events, self.chain, self.mark = conn, nid, events, chain, mark
        self.stored_id = stored_id

    def run(self, sql: str, *params: Any) -> list[Any]:
        cursor = self.conn.execute(sql.replace("?", self.mark), params)
        return cursor.fetchall() if cursor.description else []

    def forge_payment(self, claim_id: Any) -> int:
        """C1's payment of 60.00 (version 5) made 6000.00; its notification id."""
        nid, state = self.event(claim_id, 5)
        assert b'"60.00"' in state
        forged = state.replace(b'"60.00"', b'"6000.00"')
        self.run(f"UPDATE {self.events} SET state = ? WHERE {self.nid} = ?", forged, nid)
        return nid

    def delete(self, nid: int, *, with_chain_row: bool) -> None:
        self.run(f"DELETE FROM {self.events} WHERE {self.nid} = ?", nid)
        if with_chain_row:
            self.run(f"DELETE FROM {self.chain} WHERE notification_id = ?", nid)

    def event(self, claim_id: Any, version: int) -> tuple[int, bytes]:
        [(nid, state)] = self.run(f"SELECT {self.nid}, state FROM {self.events} WHERE originator_id = ? AND "
                                  "originator_version = ?", self.stored_id(claim_id), version)
        return nid, bytes(state)


def verdict(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["audit", "verify", "--json", "--db", url, *extra])
    return code, json.loads(capsys.readouterr().out)


def assert_broken(url: str, capsys: pytest.CaptureFixture[str], nid: int | None, version: int, problem: str,
                  claim: str = "C1", *extra: str) -> dict[str, Any]:
    code, found = verdict(url, capsys, *extra)
    assert code == 2 and not found["intact"], found
    assert (found["break"]["notification_id"], found["break"]["claim"], found["break"]["version"],
            found["break"]["problem"]) == (nid, claim, version, problem), found["break"]
    return found["break"]


def test_an_untouched_ledger_verifies_and_history_shows_each_hash(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    code, found = verdict(database_url, capsys)
    assert code == 0 and found["intact"] and found["events"] == ledger.recorder.max_notification_id() == 12
    assert main(["history", "C1", "--json", "--db", database_url]) == 0
    hashes = [e["hash"] for e in json.loads(capsys.readouterr().out)["events"]]
    assert len(hashes) == 5 and all(len(h) == 64 for h in hashes) and len(set(hashes)) == 5


def test_a_changed_amount_is_named(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    with owner(database_url) as db:
        nid = db.forge_payment(ledger.find("C1").id)
    assert_broken(database_url, capsys, nid, 5, "content changed")


def test_a_deleted_event_is_named(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    with owner(database_url) as db:
        nid, _ = db.event(ledger.find("C1").id, 5)
        db.delete(nid, with_chain_row=False)
    assert_broken(database_url, capsys, nid, 5, "event missing from the log")


def test_an_event_deleted_with_its_chain_row_is_named(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    with owner(database_url) as db:
        nid, _ = db.event(ledger.find("C1").id, 3)
        db.delete(nid, with_chain_row=True)
    found = assert_broken(database_url, capsys, nid + 1, 3, "event missing from the log")
    assert "version 3 of this claim is gone" in found["detail"]


def test_the_last_event_deleted_with_its_chain_row_is_caught_by_a_checkpoint(database_url: str, capsys: Any,
                                                                           tmp_path: Path) -> None:
    ledger_with_two_claims(database_url)
    key, signed = tmp_path / "audit.pem", tmp_path / "head.json"
    assert main(["audit", "keygen", "--out", str(key)]) == 0
    assert main(["audit", "checkpoint", "--out", str(signed), "--key", str(key), "--db", database_url]) == 0
    with owner(database_url) as db:
        db.delete(12, with_chain_row=True)
    assert verdict(database_url, capsys)[0] == 0  # a chain alone cannot see its own end cut off
    code, found = verdict(database_url, capsys, "--against", str(signed))
    assert code == 2 and found["break"]["problem"] == "log rewritten after the checkpoint"
    assert "the log ends at notification 11" in found["break"]["detail"]


def test_an_inserted_event_is_named(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    claim = ledger.find("C2")
    with owner(database_url) as db:
        _, state = db.event(claim.id, 5)
        db.run(f"INSERT INTO {db.events} (originator_id, originator_version, topic, state) VALUES (?, 6, ?, ?)",
               db.stored_id(claim.id), "domain.claim:Claim.Paid", state)
    assert_broken(database_url, capsys, 13, 6, "event not in the chain (inserted)", "C2")


def test_swapped_events_are_named(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    claim = ledger.find("C1")
    with owner(database_url) as db:
        second, _ = db.event(claim.id, 2)
        third, _ = db.event(claim.id, 3)
        for old, new in ((second, -1), (third, second), (-1, third)):
            db.run(f"UPDATE {db.events} SET {db.nid} = ? WHERE {db.nid} = ?", new, old)
    found = assert_broken(database_url, capsys, second, 3, "out of order")
    assert f"the chain recorded it at {third}" in found["detail"]


def test_rebuild_refuses_a_broken_chain_unless_accepted(database_url: str, capsys: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    with owner(database_url) as db:
        nid = db.forge_payment(ledger.find("C1").id)
    capsys.readouterr()
    assert main(["projections", "rebuild", "--db", database_url]) == 2
    said = capsys.readouterr().err
    assert f"chain broken at notification {nid}: claim C1 version 5: content changed" in said and "not rebuilt" in said
    assert main(["projections", "rebuild", "--accept-broken-chain", "--db", database_url]) == 0
    assert "rebuilt" in capsys.readouterr().out


def test_checkpoints_are_signed_and_a_forgery_or_another_key_is_refused(database_url: str, capsys: Any,
                                                                       tmp_path: Path) -> None:
    ledger_with_two_claims(database_url)
    key, other, signed = tmp_path / "audit.pem", tmp_path / "other.pem", tmp_path / "head.json"
    capsys.readouterr()
    assert main(["audit", "keygen", "--out", str(key)]) == 0
    public = capsys.readouterr().out.split("public key: ")[1].strip()
    assert key.stat().st_mode & 0o777 == 0o600
    assert main(["audit", "keygen", "--out", str(key)]) == 2  # never replaced
    assert main(["audit", "keygen", "--out", str(other)]) == 0
    other_public = capsys.readouterr().out.split("public key: ")[1].strip()
    assert main(["audit", "checkpoint", "--out", str(signed), "--db", database_url]) == 2  # no key anywhere
    assert main(["audit", "checkpoint", "--out", str(signed), "--key", str(key), "--db", database_url]) == 0
    code, found = verdict(database_url, capsys, "--against", str(signed), "--public-key", public)
    assert code == 0 and found["checkpoint"]["notification_id"] == 12 and found["checkpoint"]["signer_pinned"]
    assert main(["audit", "verify", "--db", database_url, "--against", str(signed), "--public-key", other_public]) == 2
    assert "not by the pinned" in capsys.readouterr().err
    body = json.loads(signed.read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**body, "notification_id": 11}))
    assert main(["audit", "verify", "--db", database_url, "--against", str(forged)]) == 2
    assert "the signature does not hold" in capsys.readouterr().err


def test_a_log_rewritten_and_rechained_after_a_checkpoint_is_caught(database_url: str, capsys: Any,
                                                                    tmp_path: Path, monkeypatch: Any) -> None:
    ledger = ledger_with_two_claims(database_url)
    key, signed = tmp_path / "audit.pem", tmp_path / "head.json"
    assert main(["audit", "keygen", "--out", str(key)]) == 0
    monkeypatch.setenv("RCM_AUDIT_SIGNING_KEY_FILE", str(key))
    assert main(["audit", "checkpoint", "--out", str(signed), "--db", database_url]) == 0
    with owner(database_url) as db:  # the forger changes a payment and recomputes the whole chain
        db.forge_payment(ledger.find("C1").id)
        db.run(f"DELETE FROM {db.chain}")
    assert main(["audit", "upgrade", "--db", database_url]) == 0
    assert verdict(database_url, capsys)[0] == 0
    code, found = verdict(database_url, capsys, "--against", str(signed))
    assert code == 2 and found["break"]["problem"] == "log rewritten after the checkpoint"
    assert found["break"]["notification_id"] == 12


def test_a_ledger_written_before_the_chain_is_upgraded_without_rewriting_events(database_url: str,
                                                                               capsys: Any) -> None:
    ledger_with_two_claims(database_url)
    events_before = as_before_the_chain(database_url)
    assert_broken(database_url, capsys, 1, 1, "event not in the chain (inserted)")
    old = open_ledger(database_url)
    with pytest.raises(UnchainedEvents, match="rcm audit upgrade"):
        old.execute([COMMAND.validate_python(c) for c in lifecycle_to_submitted("C3")])
    capsys.readouterr()
    assert main(["audit", "upgrade", "--db", database_url]) == 0
    assert "chained 12 event(s)" in capsys.readouterr().out
    assert main(["audit", "upgrade", "--db", database_url]) == 0
    assert "chained 0 event(s)" in capsys.readouterr().out
    assert verdict(database_url, capsys)[0] == 0
    with owner(database_url) as db:
        assert db.run(f"SELECT {db.nid}, originator_id, originator_version, topic, state FROM {db.events} "
                      f"ORDER BY {db.nid}") == events_before  # not one event rewritten
    ledger = ledger_with_a_third_claim(database_url)
    code, found = verdict(database_url, capsys)
    # (PostgreSQL's refused write above drew notification ids it never used: a gap the chain passes over)
    assert code == 0 and found["events"] == 17
    assert found["head"]["notification_id"] == ledger.recorder.max_notification_id()


def as_before_the_chain(url: str) -> list[Any]:
    """The ledger as the previous release left it: no chain table, no append-only guard; returns its events."""
    with owner(url) as db:
        events = db.run(f"SELECT {db.nid}, originator_id, originator_version, topic, state FROM {db.events} "
                        f"ORDER BY {db.nid}")
    settings = Settings.load(url)
    if settings.backend == "sqlite":
        conn = sqlite3.connect(settings.eventsourcing_env()["SQLITE_DBNAME"], isolation_level=None)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE rcm_chain")
        conn.close()
        return events
    import psycopg

    with psycopg.connect(settings.postgres_conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP TABLE {settings.postgres_schema}.rcm_chain")
        conn.execute(f"DROP TRIGGER rcm_events_append_only ON {settings.postgres_schema}.rcm_events")
    return events


def ledger_with_a_third_claim(url: str) -> Any:
    ledger = open_ledger(url)
    assert {o.result for o in ledger.execute([COMMAND.validate_python(c) for c in lifecycle_to_submitted("C3")])
            } == {"applied"}
    return ledger


@pytest.mark.parametrize("table", ["events", "rcm_chain"])
def test_the_guard_refuses_update_and_delete(database_url: str, table: str) -> None:
    ledger = ledger_with_two_claims(database_url)
    settings = Settings.load(database_url)
    if settings.backend == "sqlite":  # eventsourcing names the events table stored_events on SQLite
        table = "stored_events" if table == "events" else table
        conn = sqlite3.connect(settings.eventsourcing_env()["SQLITE_DBNAME"], isolation_level=None)
        for statement in (f"UPDATE {table} SET originator_version = originator_version",
                          f"DELETE FROM {table}", f"DELETE FROM {table} WHERE originator_version = 5"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(statement)
        conn.close()
    else:
        import psycopg

        table = "rcm_events" if table == "events" else table
        with psycopg.connect(settings.postgres_conninfo(), autocommit=True) as conn:
            for statement in (f"UPDATE {settings.postgres_schema}.{table} SET originator_version = originator_version",
                              f"DELETE FROM {settings.postgres_schema}.{table}",
                              f"TRUNCATE {settings.postgres_schema}.{table} CASCADE"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                    conn.execute(statement)
    assert ledger.recorder.max_notification_id() == 12

"""Settings from flags and the environment: where the ledger lives, as a URL, translated for eventsourcing."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import BaseModel, Field, field_validator

from domain.commands import printable_text

DEFAULT_URL = "sqlite:///./rcm-ledger.db"


class Settings(BaseModel):
    database_url: str = DEFAULT_URL
    actor: str = "rcm"
    claim_cache: int = Field(default=20_000, ge=0)  # claims a ledger process keeps loaded (~7 KB each)

    @classmethod
    def load(cls, database_url: str | None = None) -> Settings:
        return cls(database_url=database_url or os.environ.get("RCM_DATABASE_URL") or DEFAULT_URL,
                   actor=os.environ.get("RCM_ACTOR") or os.environ.get("USER") or "rcm",
                   claim_cache=os.environ.get("RCM_CLAIM_CACHE") or 20_000)

    @field_validator("database_url")
    @classmethod
    def known_scheme(cls, url: str) -> str:
        if url == "memory:" or url.split(":", 1)[0] in ("sqlite", "postgresql", "postgres"):
            return url
        raise ValueError(f"{url!r}: use sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DB or memory:")

    @field_validator("actor")
    @classmethod
    def printable_actor(cls, actor: str) -> str:  # recorded on every event this process appends
        return printable_text(actor)

    @property
    def backend(self) -> str:
        scheme = self.database_url.split(":", 1)[0]
        return {"postgres": "postgresql"}.get(scheme, scheme)

    def eventsourcing_env(self) -> dict[str, str]:
        env = {"TRANSCODER_TOPIC": "infra.store.transcoding:FastJSONTranscoder"}
        if self.backend == "memory":
            return {**env, "PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.backend == "sqlite":
            path = self.database_url[len("sqlite://"):]
            path = path[1:] if path.startswith("/./") else path
            return {**env, "PERSISTENCE_MODULE": "infra.store.recorders:BatchedSQLiteFactory",
                    "SQLITE_DBNAME": path or ":memory:", "SQLITE_LOCK_TIMEOUT": "30"}
        url = urlparse(self.database_url)
        env |= {
            "PERSISTENCE_MODULE": "infra.store.recorders:CopyPostgresFactory",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "rcm",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_POOL_SIZE": "2",  # one CLI process or worker needs one connection at a time
            "POSTGRES_MAX_OVERFLOW": "4",
        }
        if self.postgres_schema:
            env["POSTGRES_SCHEMA"] = self.postgres_schema
        return env

    @field_validator("database_url")
    @classmethod
    def plain_schema_name(cls, url: str) -> str:
        schema = schema_of(url)
        if schema and not SCHEMA_NAME.match(schema):
            raise ValueError(f"?schema={schema!r}: a schema name is a letter or _ then up to 62 letters, digits or _")
        return url

    @property
    def postgres_schema(self) -> str:
        """?schema=NAME keeps several ledgers (tests, tenants) apart in one database. PostgreSQL folds unquoted
        names to lower case, and so does this, so that every statement, quoted or not, names the same schema."""
        return schema_of(self.database_url).lower()

    def postgres_conninfo(self) -> str:
        return self.database_url.split("?", 1)[0].replace("postgres://", "postgresql://", 1)


SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def schema_of(url: str) -> str:
    return parse_qs(urlparse(url).query).get("schema", [""])[0]


def pgpass_fields(line: str) -> list[str]:
    """A pgpass line's fields: split at the colons not escaped by a backslash (which escapes : and \\)."""
    fields, field, escaped = [], "", False
    for char in line:
        if escaped:
            field, escaped = field + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields, field = fields + [field], ""
        else:
            field += char
    return fields + [field]


def libpq_password(settings: Settings, user: str, env: Mapping[str, str] | None = None) -> str | None:
    """The password libpq takes from its passfile ($PGPASSFILE, else ~/.pgpass, which infra/postgres.sh keeps) for
    `user` on the ledger's PostgreSQL server and database; None when it has none."""
    env = os.environ if env is None else env
    path = Path(env.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    url = urlparse(settings.postgres_conninfo())
    wanted = (url.hostname or "127.0.0.1", str(url.port or 5432), url.path.lstrip("/") or "rcm", user)
    for line in lines:
        fields = pgpass_fields(line)
        if line.startswith("#") or len(fields) != 5:
            continue
        if all(have in ("*", want) for have, want in zip(fields, wanted)):
            return fields[4]
    return None

"""`rcm dashboards publish`: folder, PostgreSQL datasource and dashboards upserted by uid with grafana-client.

Idempotent: what the server already has, unchanged, is left alone (a second run changes nothing). Errors say
plainly whether the server is unreachable, refused the credentials, or changed a dashboard meanwhile.
"""
from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError
from niquests.exceptions import ConnectionError as Unreachable

from infra.grafana.dashboards import DATASOURCE_UID, load
from infra.settings import libpq_password
from projections.schema import READER

if TYPE_CHECKING:
    from infra.settings import Settings

FOLDER_UID = "rcm"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
VOLATILE = ("id", "version", "iteration")


class PublishError(Exception):
    pass


def datasource_model(settings: Settings) -> dict[str, Any]:
    """Grafana reads the projections as the read-only role, in the ledger's database and schema."""
    url, schema = urlparse(settings.postgres_conninfo()), settings.postgres_schema
    model: dict[str, Any] = {
        "uid": DATASOURCE_UID, "name": "rcm projections (PostgreSQL)", "type": DATASOURCE_TYPE, "access": "proxy",
        "url": f"{url.hostname or '127.0.0.1'}:{url.port or 5432}", "user": READER, "isDefault": False,
        "jsonData": {"database": (url.path or "/rcm").lstrip("/"), "sslmode": "disable", "postgresVersion": 1500,
                     "timescaledb": False, "maxOpenConns": 5},
    }
    if schema:
        model["jsonData"]["searchPath"] = schema  # recorded for people; the role's search_path does the work
    return model


def same(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return {k: v for k, v in existing.items() if k not in VOLATILE} == \
        {k: v for k, v in wanted.items() if k not in VOLATILE}


def find_reader_password(settings: Settings) -> str:
    """The read-only role's password: RCM_GRAFANA_PASSWORD, else libpq's passfile line for it (infra/postgres.sh)."""
    password = os.environ.get("RCM_GRAFANA_PASSWORD") or libpq_password(settings, READER)
    if not password:
        raise PublishError(f"no password for the read-only role {READER}: set RCM_GRAFANA_PASSWORD, or run "
                           f"infra/postgres.sh start, which keeps it in ~/.pgpass")
    return password


def publish(grafana_url: str, token: str | None, settings: Settings, folder_title: str = "Revenue cycle",
            reader_password: str | None = None) -> list[dict[str, str]]:
    """Upserts the folder, the datasource (`reader_password` is the read-only role's, by default the one
    `find_reader_password` finds) and the dashboards."""
    password = reader_password if reader_password is not None else find_reader_password(settings)
    api = GrafanaApi.from_url(grafana_url, credential=token, timeout=10.0)
    report: list[dict[str, str]] = []
    try:
        report.append(upsert_folder(api, folder_title))
        report.append(upsert_datasource(api, datasource_model(settings), password))
        for dashboard in load():
            report.append(upsert_dashboard(api, dashboard))
    except GrafanaUnauthorizedError as error:
        said = error.response.get("message") if isinstance(error.response, dict) else error.message
        raise PublishError(f"Grafana at {grafana_url} refused the credentials (401): {said}; "
                           f"give a service account token with --token or GRAFANA_TOKEN") from None
    except GrafanaClientError as error:
        if error.status_code == 403:
            raise PublishError(f"Grafana at {grafana_url}: the token may not do this (403): {error.message}") \
                from None
        if error.status_code == 412:
            raise PublishError(f"Grafana at {grafana_url}: version conflict (412): a dashboard changed on the "
                               f"server while publishing ({error.message}); run publish again") from None
        raise PublishError(f"Grafana at {grafana_url} refused a request ({error.status_code}): {error.message}") \
            from None
    except GrafanaException as error:
        raise PublishError(f"Grafana at {grafana_url} failed: {error.message}") from None
    except Unreachable as error:  # the HTTP library's, not Grafana's
        raise PublishError(f"cannot reach Grafana at {grafana_url}: {error}") from None
    return report


def not_found(error: GrafanaClientError) -> bool:
    return error.status_code == 404


def upsert_folder(api: GrafanaApi, title: str) -> dict[str, str]:
    try:
        folder = api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as error:
        if not not_found(error):
            raise
        api.folder.create_folder(title, uid=FOLDER_UID)
        return {"kind": "folder", "uid": FOLDER_UID, "result": "created"}
    if folder.get("title") == title:
        return {"kind": "folder", "uid": FOLDER_UID, "result": "unchanged"}
    api.folder.update_folder(FOLDER_UID, title=title, version=folder.get("version"))
    return {"kind": "folder", "uid": FOLDER_UID, "result": "updated"}


def upsert_datasource(api: GrafanaApi, model: dict[str, Any], password: str) -> dict[str, str]:
    try:
        existing = api.datasource.get_datasource_by_uid(model["uid"])
    except GrafanaClientError as error:
        if not not_found(error):
            raise
        api.datasource.create_datasource({**model, "secureJsonData": {"password": password}})
        return {"kind": "datasource", "uid": model["uid"], "result": "created"}
    if all(existing.get(k) == v for k, v in model.items()):
        return {"kind": "datasource", "uid": model["uid"], "result": "unchanged"}
    api.datasource.update_datasource_by_uid(model["uid"], {**model, "secureJsonData": {"password": password}})
    return {"kind": "datasource", "uid": model["uid"], "result": "updated"}


def upsert_dashboard(api: GrafanaApi, dashboard: dict[str, Any]) -> dict[str, str]:
    wanted = copy.deepcopy(dashboard)
    try:
        existing = api.dashboard.get_dashboard(wanted["uid"])
    except GrafanaClientError as error:
        if not not_found(error):
            raise
        existing = None
    if existing is not None:
        if existing.get("meta", {}).get("folderUid") == FOLDER_UID and same(existing["dashboard"], wanted):
            return {"kind": "dashboard", "uid": wanted["uid"], "result": "unchanged"}
        wanted["version"] = existing["dashboard"].get("version")
        wanted["id"] = existing["dashboard"].get("id")
    else:
        wanted.pop("id", None)
        wanted.pop("version", None)
    api.dashboard.update_dashboard({"dashboard": wanted, "folderUid": FOLDER_UID, "overwrite": False,
                                    "message": "rcm dashboards publish"})
    return {"kind": "dashboard", "uid": wanted["uid"], "result": "updated" if existing else "created"}

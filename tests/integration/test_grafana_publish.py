"""`rcm dashboards publish` against a local HTTP test double of the few Grafana endpoints it uses.

A test double, because Grafana itself cannot be installed or run on our machines: this server implements the
folder, datasource and dashboard endpoints as Grafana's HTTP API documents them (uids, versions, 401 for a bad
token, 404 for a missing object, 412 version-mismatch), keeps what is written, and records every write.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.grafana.dashboards import load
from infra.grafana.publish import PublishError, publish
from infra.settings import Settings
from tests.conftest import ROOT

TOKEN = "glsa_test_token"
DB = "postgresql://rcm:rcm@127.0.0.1:5433/rcm"
SETTINGS = Settings(database_url=DB)


class FakeGrafana(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []
        self.reader_passwords: list[str] = []  # the read-only role's password, as each datasource write sent it
        self.edit_behind_our_back = False
        self.next_id = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.reply(401, {"message": "Invalid API key"})
            return False
        return True

    def body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self) -> None:  # noqa: N802
        if not self.authorized():
            return
        g, path = self.server, self.path
        if path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            return self.reply(200, g.folders[uid]) if uid in g.folders else self.reply(404, {"message": "folder not found"})
        if path.startswith("/api/datasources/uid/"):
            uid = path.rsplit("/", 1)[1]
            return self.reply(200, g.datasources[uid]) if uid in g.datasources else \
                self.reply(404, {"message": "Data source not found"})
        if path.startswith("/api/dashboards/uid/"):
            uid = path.rsplit("/", 1)[1]
            if uid not in g.dashboards:
                return self.reply(404, {"message": "Dashboard not found"})
            stored = g.dashboards[uid]
            if g.edit_behind_our_back:  # someone saves a new version between our read and our write
                stored["dashboard"]["version"] += 1
            return self.reply(200, {"dashboard": {**stored["dashboard"], "version": stored["dashboard"]["version"]
                                                  - (1 if g.edit_behind_our_back else 0)},
                                    "meta": {"folderUid": stored["folderUid"]}})
        self.reply(404, {"message": "Not found"})

    def do_POST(self) -> None:  # noqa: N802
        if not self.authorized():
            return
        g, body = self.server, self.body()
        g.writes.append(("POST", self.path))
        if self.path == "/api/folders":
            g.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
            return self.reply(200, g.folders[body["uid"]])
        if self.path == "/api/datasources":
            g.reader_passwords.append(body["secureJsonData"]["password"])
            g.datasources[body["uid"]] = {**body, "id": len(g.datasources) + 1, "orgId": 1, "readOnly": False}
            g.datasources[body["uid"]].pop("secureJsonData", None)
            return self.reply(200, {"datasource": g.datasources[body["uid"]], "message": "Datasource added"})
        if self.path == "/api/dashboards/db":
            dashboard, uid = body["dashboard"], body["dashboard"]["uid"]
            stored = g.dashboards.get(uid)
            if stored and not body.get("overwrite") and dashboard.get("version") != stored["dashboard"]["version"]:
                return self.reply(412, {"status": "version-mismatch",
                                        "message": "The dashboard has been changed by someone else"})
            version = stored["dashboard"]["version"] + 1 if stored else 1
            if not stored:
                g.next_id += 1
            ident = stored["dashboard"]["id"] if stored else g.next_id
            g.dashboards[uid] = {"dashboard": {**dashboard, "id": ident, "version": version},
                                 "folderUid": body.get("folderUid")}
            return self.reply(200, {"id": ident, "uid": uid, "version": version, "status": "success"})
        self.reply(404, {"message": "Not found"})

    def do_PUT(self) -> None:  # noqa: N802
        if not self.authorized():
            return
        g, body = self.server, self.body()
        g.writes.append(("PUT", self.path))
        if self.path.startswith("/api/datasources/uid/"):
            uid = self.path.rsplit("/", 1)[1]
            g.datasources[uid] = {**g.datasources[uid], **{k: v for k, v in body.items() if k != "secureJsonData"}}
            return self.reply(200, {"datasource": g.datasources[uid], "message": "Datasource updated"})
        if self.path.startswith("/api/folders/"):
            uid = self.path.rsplit("/", 1)[1]
            g.folders[uid] = {**g.folders[uid], "title": body["title"], "version": g.folders[uid]["version"] + 1}
            return self.reply(200, g.folders[uid])
        self.reply(404, {"message": "Not found"})


@pytest.fixture(autouse=True)
def reader_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The read-only role's password where infra/postgres.sh leaves it: libpq's passfile (here a test's own)."""
    passfile = tmp_path / "pgpass"
    passfile.write_text("127.0.0.1:5433:*:rcm:owner-secret\n127.0.0.1:5433:*:rcm_grafana:reader\\:secret\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.delenv("RCM_GRAFANA_PASSWORD", raising=False)
    return "reader:secret"


@pytest.fixture
def grafana():
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_publish_creates_then_changes_nothing(grafana: FakeGrafana):
    first = publish(grafana.url, TOKEN, SETTINGS)
    assert [(r["kind"], r["result"]) for r in first] == [
        ("folder", "created"), ("datasource", "created"), *[("dashboard", "created")] * len(load())]
    assert set(grafana.dashboards) == {d["uid"] for d in load()}
    assert all(d["folderUid"] == "rcm" for d in grafana.dashboards.values())
    ds = grafana.datasources["rcm-pg"]
    assert (ds["type"], ds["user"], ds["url"], ds["jsonData"]["database"]) == \
        ("grafana-postgresql-datasource", "rcm_grafana", "127.0.0.1:5433", "rcm")
    writes = len(grafana.writes)
    second = publish(grafana.url, TOKEN, SETTINGS)
    assert {r["result"] for r in second} == {"unchanged"}
    assert len(grafana.writes) == writes, "a second publish writes nothing"


def test_a_dashboard_edited_on_the_server_is_put_back(grafana: FakeGrafana):
    publish(grafana.url, TOKEN, SETTINGS)
    grafana.dashboards["rcm-denials"]["dashboard"]["title"] = "edited by hand"
    report = publish(grafana.url, TOKEN, SETTINGS)
    assert [r["result"] for r in report if r["uid"] == "rcm-denials"] == ["updated"]
    assert grafana.dashboards["rcm-denials"]["dashboard"]["title"] == "Denials"
    assert grafana.dashboards["rcm-denials"]["dashboard"]["version"] == 2


def test_bad_credentials(grafana: FakeGrafana):
    with pytest.raises(PublishError, match="refused the credentials \\(401\\): Invalid API key"):
        publish(grafana.url, "wrong", SETTINGS)
    assert grafana.writes == []


def test_unreachable_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    with pytest.raises(PublishError, match=f"cannot reach Grafana at http://127.0.0.1:{port}"):
        publish(f"http://127.0.0.1:{port}", TOKEN, SETTINGS)


def test_version_conflict(grafana: FakeGrafana):
    publish(grafana.url, TOKEN, SETTINGS)
    grafana.dashboards["rcm-overview"]["dashboard"]["title"] = "edited"
    grafana.edit_behind_our_back = True
    with pytest.raises(PublishError, match="version conflict \\(412\\)"):
        publish(grafana.url, TOKEN, SETTINGS)


def test_cli_publish_exit_codes(grafana: FakeGrafana):
    def rcm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "infra.cli", "dashboards", "publish", *args, "--db", DB],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
    done = rcm("--grafana-url", grafana.url, "--token", TOKEN, "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2 + len(load())  # folder, datasource, each dashboard
    refused = rcm("--grafana-url", grafana.url, "--token", "nope")
    assert refused.returncode == 2 and "refused the credentials" in refused.stderr


def test_the_datasource_gets_the_reader_password_from_the_passfile_or_the_environment(
        grafana: FakeGrafana, reader_password: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    publish(grafana.url, TOKEN, SETTINGS)
    assert grafana.reader_passwords == [reader_password]
    monkeypatch.setenv("RCM_GRAFANA_PASSWORD", "from-env")
    grafana.datasources.clear()
    publish(grafana.url, TOKEN, SETTINGS)
    assert grafana.reader_passwords == [reader_password, "from-env"]


def test_no_reader_password_anywhere_is_refused_before_anything_is_written(
        grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))
    done = subprocess.run([sys.executable, "-m", "infra.cli", "dashboards", "publish", "--grafana-url", grafana.url,
                           "--token", TOKEN, "--db", DB], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "RCM_GRAFANA_PASSWORD" in done.stderr and "rcm_grafana" in done.stderr
    assert grafana.writes == []

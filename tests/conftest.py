"""Shared fixtures: an app on a temporary instance folder, a SCIM client with a real token, and a live server
started exactly as users start it (``python app.py``) with a token made by the real CLI."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from scimapp import create_app

ROOT = Path(__file__).resolve().parent.parent
# Set to a PostgreSQL server URL (e.g. the one tools/pg_test_server.sh prints) to run the suite on PostgreSQL: every
# test then gets a database of its own, copied from a template at the newest schema.
TEST_PG = os.environ.get("SCIMAPP_TEST_DATABASE_URL", "")
# Tests send requests far faster than an IdP does: no per-token rate limit unless a test configures one (for every
# app the tests build, in-process or as a server, module-scoped fixtures included).
os.environ["SCIMAPP_SCIM_RATE_LIMIT"] = ""
DATA = Path(__file__).resolve().parent / "data"
SCIM = "/scim/v2"
SCIM_JSON = "application/scim+json; charset=utf-8"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _pg_admin(sql: str) -> None:
    from sqlalchemy import create_engine, text
    engine = create_engine(TEST_PG, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _pg_url(name: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(TEST_PG).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _pg_template(tmp_path_factory):
    """A database at the newest schema, copied for each test (CREATE DATABASE … TEMPLATE is fast)."""
    if not TEST_PG:
        yield None
        return
    name = f"scimapp_tpl_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_admin(f'CREATE DATABASE "{name}"')
    app = create_app({"INSTANCE_PATH": tmp_path_factory.mktemp("pg-template"), "DATABASE_URL": _pg_url(name)})
    from scimapp.extensions import db
    with app.app_context():
        db.engine.dispose()
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_database(template: str | None, empty: bool = False) -> tuple[str | None, str | None]:
    """(database name, URL) of a new PostgreSQL database, or (None, None) when the suite runs on SQLite."""
    if not TEST_PG:
        return None, None
    import uuid
    name = f"t_{uuid.uuid4().hex[:16]}"
    _pg_admin(f'CREATE DATABASE "{name}"' + ("" if empty else f' TEMPLATE "{template}"'))
    return name, _pg_url(name)


def drop_database(name: str | None) -> None:
    if name:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _database_per_test(request, monkeypatch, _pg_template):
    """On PostgreSQL runs, point every app the test makes (and every server it starts) at its own database."""
    if not TEST_PG:
        yield
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("checks something only SQLite has")
    name, url = fresh_database(_pg_template, empty=bool(request.node.get_closest_marker("empty_database")))
    monkeypatch.setenv("SCIMAPP_DATABASE_URL", url)
    yield
    drop_database(name)


def database_url(instance: Path) -> str:
    """The database an instance folder's app uses: SCIMAPP_DATABASE_URL (PostgreSQL runs) or its SQLite file."""
    return os.environ.get("SCIMAPP_DATABASE_URL") or f"sqlite:///{(Path(instance) / 'scimapp.db').as_posix()}"


def query_rows(url: str, sql: str, **params) -> list[tuple]:
    """Rows straight from the database (what is really stored, not what the API shows)."""
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def stored_bytes(url: str) -> bytes:
    """Everything the database holds, as bytes: the SQLite file (and its WAL), or a dump of every table."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    from sqlalchemy import create_engine, inspect, select, table
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return repr([list(conn.execute(select("*").select_from(table(n)))) for n in names]).encode()
    finally:
        engine.dispose()


@contextmanager
def recorded_sql(app):
    """The SQL statements the app runs inside the block on this thread (a test client's requests run here; the
    sync-activity writer's inserts and prunes, on its own thread, are not part of what a request costs)."""
    from sqlalchemy import event

    from scimapp.extensions import db
    with app.app_context():
        engine = db.engine
    statements: list[str] = []
    me = threading.get_ident()

    def listener(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


@contextmanager
def write_between_statements(app, table: str, nth: int, write, wait: float = 30):
    """Run ``write`` on another thread just before the ``nth`` statement of this thread naming ``table``, waiting
    up to ``wait`` seconds for it to finish. Yields a list that holds True once the write was started."""
    from sqlalchemy import event

    from scimapp.extensions import db
    with app.app_context():
        engine = db.engine
    me, seen, started = threading.get_ident(), [], []
    workers = []

    def before(_conn, _cursor, statement, *_args):
        if threading.get_ident() == me and table in statement and not started:
            seen.append(statement)
            if len(seen) == nth:
                started.append(True)
                workers.append(threading.Thread(target=write))
                workers[0].start()
                workers[0].join(wait)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield started
    finally:
        event.remove(engine, "before_cursor_execute", before)
        for worker in workers:
            worker.join(60)


def needs(condition, why: str) -> None:
    """Skip a test whose tool is missing on this machine, but fail it where SCIMAPP_REQUIRE_ALL=1 (CI): there,
    every tool must be installed and a skip would hide a missing install step."""
    if condition:
        return
    if os.environ.get("SCIMAPP_REQUIRE_ALL") == "1":
        pytest.fail(f"required in this run (SCIMAPP_REQUIRE_ALL=1): {why}")
    pytest.skip(why)


@pytest.fixture
def app(tmp_path):
    """A fresh app with its own instance folder (SQLite file database, generated secret key)."""
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "TESTING": True})
    yield app
    app.extensions["scim_activity"].discard()  # its database is about to go: nothing left for the writer thread
    from scimapp.extensions import db
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def token(app):
    """The secret of a freshly created SCIM token."""
    from scimapp import tokens
    with app.app_context():
        return tokens.create("pytest", "pytest")[1]


class ScimClient:
    """Calls /scim/v2 through the Flask test client with a bearer token and SCIM media type."""

    def __init__(self, client, token: str):
        self.client = client
        self.token = token

    def headers(self, extra: dict | None = None) -> dict:
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, body=None, headers: dict | None = None, **kw):
        h = self.headers(headers)
        data = None
        if body is not None:
            data = body if isinstance(body, (str, bytes)) else json.dumps(body)
            h.setdefault("Content-Type", SCIM_JSON)
        return self.client.open(SCIM + path, method=method, data=data, headers=h, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, operations, **kw):
        body = operations if isinstance(operations, (dict, str, bytes)) else \
            {"schemas": [PATCH_OP], "Operations": operations}
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_user(self, user_name: str, **attrs) -> dict:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, **attrs}
        r = self.post("/Users", body)
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()

    def create_group(self, display_name: str, **attrs) -> dict:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": display_name, **attrs}
        r = self.post("/Groups", body)
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()


@pytest.fixture
def scim(client, token):
    """A SCIM client for the test app."""
    return ScimClient(client, token)


# ---------------------------------------------------------------------------- the real server

def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(instance: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``flask --app app …`` as a user would, against ``instance``."""
    full_env = {**os.environ, "SCIMAPP_INSTANCE_PATH": str(instance), **(env or {})}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=60)


class LiveServer:
    """``python app.py`` on a free port with its own instance folder."""

    def __init__(self, instance: Path, env: dict | None = None):
        self.instance = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = self.url + SCIM
        self.env = {**os.environ, "SCIMAPP_INSTANCE_PATH": str(instance), **(env or {})}
        self.log_path = instance.parent / f"server-{self.port}.log"
        self.proc = None

    def start(self) -> "LiveServer":
        self.instance.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()}")

    def token(self, name: str) -> str:
        result = cli(self.instance, "token", "create", name, env=self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc:
            self.log.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, _pg_template):
    """The real server (``python app.py``), one per test module (with its own database on PostgreSQL runs)."""
    name, url = fresh_database(_pg_template)
    server = LiveServer(tmp_path_factory.mktemp("live") / "instance",
                        env={"SCIMAPP_DATABASE_URL": url} if url else None).start()
    yield server
    server.stop()
    drop_database(name)

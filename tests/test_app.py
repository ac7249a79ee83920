"""The application shell: first start, config layers, the health check, and ``python app.py`` itself."""
from __future__ import annotations

import json
import os
import stat

import pytest
import requests
from sqlalchemy import text

from scimapp import create_app
from scimapp.config import from_environment
from scimapp.extensions import db

from .conftest import LiveServer


@pytest.mark.sqlite_only
def test_first_start_creates_instance_secret_and_database(tmp_path):
    instance = tmp_path / "fresh" / "instance"
    app = create_app({"INSTANCE_PATH": instance})
    secret = (instance / "secret_key").read_text().strip()
    assert len(secret) == 64 and app.config["SECRET_KEY"] == secret
    assert (instance / "scimapp.db").exists()
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM scim_users")).scalar() == 0
    # A second start keeps the same key (sessions survive restarts).
    assert create_app({"INSTANCE_PATH": instance}).config["SECRET_KEY"] == secret


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.sqlite_only
@pytest.mark.skipif(os.name != "posix", reason="file modes apply on POSIX only")
@pytest.mark.parametrize("where", ["instance", "database_url"])
def test_a_new_sqlite_database_and_its_wal_files_are_private_like_the_key_files(tmp_path, monkeypatch, where):
    old_umask = os.umask(0o022)  # the usual umask, under which SQLite alone would create the file 0644
    try:
        instance = tmp_path / "instance"
        if where == "instance":
            database = instance / "scimapp.db"
        else:
            database = tmp_path / "elsewhere" / "scim.db"
            database.parent.mkdir()
            monkeypatch.setenv("SCIMAPP_DATABASE_URL", f"sqlite:///{database.as_posix()}")
        app = create_app({"INSTANCE_PATH": instance})
        assert _mode(instance / "secret_key") == 0o600
        with app.app_context():
            with db.engine.connect() as conn:  # an open connection in WAL mode keeps the -wal and -shm files
                conn.execute(text("SELECT count(*) FROM scim_users")).scalar()
                assert _mode(database) == 0o600
                for suffix in ("-wal", "-shm"):
                    assert _mode(f"{database}{suffix}") == 0o600, suffix
            db.engine.dispose()
    finally:
        os.umask(old_umask)


@pytest.mark.sqlite_only
@pytest.mark.skipif(os.name != "posix", reason="file modes apply on POSIX only")
def test_an_existing_database_keeps_its_mode(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    database = instance / "scimapp.db"
    create_app({"INSTANCE_PATH": instance})
    database.chmod(0o640)  # an operator's own choice (e.g. readable by a backup group) is left alone
    app = create_app({"INSTANCE_PATH": instance})
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM scim_users")).scalar() == 0
        db.engine.dispose()
    assert _mode(database) == 0o640


def test_each_instance_gets_its_own_random_secret(tmp_path):
    a = create_app({"INSTANCE_PATH": tmp_path / "a"}).config["SECRET_KEY"]
    b = create_app({"INSTANCE_PATH": tmp_path / "b"}).config["SECRET_KEY"]
    assert a != b


def test_config_layers_defaults_then_instance_file_then_environment_then_test_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("SCIM_MAX_RESULTS = 50\nSCIM_DEFAULT_COUNT = 7\nTHREADS = 3\n")
    monkeypatch.setenv("SCIMAPP_SCIM_DEFAULT_COUNT", "9")
    monkeypatch.setenv("SCIMAPP_THREADS", "5")
    app = create_app({"INSTANCE_PATH": instance, "THREADS": 11})
    assert app.config["SCIM_MAX_RESULTS"] == 50  # instance file over default (1000)
    assert app.config["SCIM_DEFAULT_COUNT"] == 9  # environment over instance file
    assert app.config["THREADS"] == 11  # test config over environment
    assert app.config["PORT"] == 8000  # untouched default


def test_environment_values_take_the_type_of_the_default():
    env = {"SCIMAPP_PORT": "9000", "SCIMAPP_TRUST_PROXY": "true", "SCIMAPP_EXTERNAL_URL": "https://x",
           "SCIMAPP_INSTANCE_PATH": "/ignored", "OTHER": "1"}
    assert from_environment(env) == {"PORT": 9000, "TRUST_PROXY": 1, "EXTERNAL_URL": "https://x"}


def test_database_url_environment_variable_is_used(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv("SCIMAPP_DATABASE_URL", f"sqlite:///{target.as_posix()}")
    create_app({"INSTANCE_PATH": tmp_path / "instance"})
    assert target.exists()
    assert not (tmp_path / "instance" / "scimapp.db").exists()


def test_healthz_ok_when_the_database_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_healthz_503_when_the_database_server_is_unreachable(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "AUTO_MIGRATE": False,
                      "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["status"] == "unavailable"


@pytest.mark.sqlite_only
def test_healthz_503_when_the_database_does_not_answer(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path / "instance"})
    with app.app_context():
        db.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "instance" / f"scimapp.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "instance" / "scimapp.db").write_bytes(b"this is not a database" * 100)
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["status"] == "unavailable"


def test_landing_page_shows_the_tenant_url(client):
    r = client.get("/", base_url="https://scim.example.org")
    assert r.status_code == 200
    assert "https://scim.example.org/scim/v2" in r.get_data(as_text=True)


def test_external_url_setting_builds_the_tenant_url_and_locations(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "EXTERNAL_URL": "https://id.example.com/"})
    assert "https://id.example.com/scim/v2" in app.test_client().get("/").get_data(as_text=True)


def test_forwarded_headers_ignored_unless_trust_proxy(tmp_path):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com"}
    plain = create_app({"INSTANCE_PATH": tmp_path / "a"}).test_client().get("/", headers=headers)
    assert "public.example.com" not in plain.get_data(as_text=True)
    proxied = create_app({"INSTANCE_PATH": tmp_path / "b", "TRUST_PROXY": 1}).test_client().get("/", headers=headers)
    assert "https://public.example.com/scim/v2" in proxied.get_data(as_text=True)


def test_python_app_py_serves_and_logs_its_url_and_tenant_url(tmp_path):
    server = LiveServer(tmp_path / "instance").start()
    try:
        assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
        out = server.output()
        assert f"listening on http://127.0.0.1:{server.port}" in out
        assert f"Tenant URL: http://127.0.0.1:{server.port}/scim/v2" in out
        assert (tmp_path / "instance" / "secret_key").exists()
    finally:
        server.stop()


def test_host_and_port_come_from_the_environment_too(tmp_path):
    server = LiveServer(tmp_path / "instance")
    # LiveServer passes --host/--port; here the environment alone must be enough.
    import subprocess
    import sys
    import time

    from .conftest import ROOT, free_port
    port = free_port()
    env = {**server.env, "SCIMAPP_HOST": "127.0.0.1", "SCIMAPP_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start from SCIMAPP_HOST/SCIMAPP_PORT")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"listening on http://127.0.0.1:{port}" in out


def test_behind_a_proxy_the_tenant_url_and_locations_use_the_forwarded_address(tmp_path):
    """Waitress drops X-Forwarded-* by default; with TRUST_PROXY they must reach the app (and only then)."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "scim.example.org", "X-Forwarded-For": "203.0.113.9"}
    for trust, expected in (("1", "https://scim.example.org/scim/v2/Users/"), ("0", None)):
        server = LiveServer(tmp_path / f"instance{trust}", env={"SCIMAPP_TRUST_PROXY": trust}).start()
        try:
            token = server.token(f"proxy-{trust}")
            r = requests.post(server.base + "/Users", json={"userName": f"behind-{trust}@proxy"}, timeout=10,
                              headers={"Authorization": f"Bearer {token}", **forwarded})
            location = r.json()["meta"]["location"]
            if expected:
                assert location.startswith(expected) and r.headers["Location"] == location
            else:
                assert location.startswith(f"http://127.0.0.1:{server.port}/scim/v2/Users/")
        finally:
            server.stop()


def test_bad_settings_stop_the_server_with_a_one_line_error(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT
    for env, words in (({"SCIMAPP_PORT": "abc"}, "PORT must be a whole number"),
                       ({"SCIMAPP_EXTERNAL_URL": "scim.example.org"}, "EXTERNAL_URL must be a full URL")):
        result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={**__import__("os").environ, "SCIMAPP_INSTANCE_PATH": str(tmp_path), **env})
        assert result.returncode != 0
        assert words in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path):
    import socket
    import subprocess
    import sys

    from .conftest import ROOT
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, capture_output=True,
                                text=True, timeout=60,
                                env={**__import__("os").environ, "SCIMAPP_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.empty_database
def test_a_database_behind_this_version_with_automatic_upgrades_off_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT
    result = subprocess.run([sys.executable, "app.py", "--port", "0"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**__import__("os").environ, "SCIMAPP_INSTANCE_PATH": str(tmp_path),
                                             "SCIMAPP_AUTO_MIGRATE": "false"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "nothing (new database)" in result.stderr and "flask --app app db upgrade" in result.stderr


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT, free_port
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/scimapp?connect_timeout=5"
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "SCIMAPP_INSTANCE_PATH": str(tmp_path),
                                 "SCIMAPP_DATABASE_URL": url})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot open the database" in result.stderr


def test_the_connection_stays_open_after_a_bodiless_answer(live_server):
    """Waitress alone closed the connection after every 204 and 304 (no Content-Length to go by); Entra's
    membership changes are 204s, sent one after another (scimapp/httpserver.py)."""
    import http.client

    token = live_server.token("keep-alive")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=30)

    def send(method, path, body=None, **headers):
        conn.request(method, "/scim/v2" + path, body=json.dumps(body) if body is not None else None,
                     headers={**auth, **headers})
        resp = conn.getresponse()
        return resp, resp.read(), conn.sock

    resp, body, first_socket = send("POST", "/Users", {"userName": "kept@x.example"})
    assert resp.status == 201
    uid = json.loads(body)["id"]
    resp, body, _ = send("POST", "/Groups", {"displayName": "kept", "members": [{"value": uid}]})
    gid = json.loads(body)["id"]
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "remove", "path": f'members[value eq "{uid}"]'}]}
    resp, body, sock = send("PATCH", f"/Groups/{gid}", patch)
    assert (resp.status, body, resp.getheader("Connection")) == (204, b"", None)
    resp, body, sock = send("GET", f"/Users/{uid}")
    assert resp.status == 200 and sock is first_socket
    resp, body, sock = send("GET", f"/Users/{uid}", **{"If-None-Match": resp.getheader("ETag")})
    assert (resp.status, resp.getheader("Connection"), sock is first_socket) == (304, None, True)
    resp, body, sock = send("DELETE", f"/Groups/{gid}")
    assert (resp.status, resp.getheader("Connection"), sock is first_socket) == (204, None, True)
    # A client that asks for the connection to end still gets that.
    resp, body, _ = send("DELETE", f"/Users/{uid}", Connection="close")
    assert (resp.status, resp.getheader("Connection")) == (204, "close")
    conn.close()

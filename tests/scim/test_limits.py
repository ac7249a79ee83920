"""Limits and resilience: per-token rate limits, a busy or unreachable database (503 + Retry-After, nothing half
applied), and shared rate-limit counters between servers."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests
from sqlalchemy import create_engine, text

from scimapp import create_app, tokens

from ..conftest import TEST_PG, LiveServer, ScimClient, free_port, needs

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def make(tmp_path, **config):
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", **config})
    with app.app_context():
        a, b = tokens.create("a", "pytest")[1], tokens.create("b", "pytest")[1]
    return app, ScimClient(app.test_client(), a), ScimClient(app.test_client(), b)


def test_each_token_gets_its_own_budget_and_429_carries_retry_after(tmp_path):
    app, a, b = make(tmp_path, SCIM_RATE_LIMIT="3 per 5 seconds")  # a wide window: slow machines still fit 4 calls
    assert [a.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
    over = a.get("/Users")
    assert over.status_code == 429 and over.mimetype == "application/scim+json"
    assert over.get_json()["status"] == "429" and "too many requests" in over.get_json()["detail"]
    assert 1 <= int(over.headers["Retry-After"]) <= 5
    assert b.get("/Users").status_code == 200  # another token is not slowed by this one
    assert a.post("/Users", {"schemas": [USER], "userName": "refused"}).status_code == 429
    assert b.get("/Users").get_json()["totalResults"] == 0  # the refused create wrote nothing
    time.sleep(float(over.headers["Retry-After"]) + 0.1)
    assert a.get("/Users").status_code == 200  # after Retry-After seconds the token may call again


def test_no_limit_when_the_setting_is_empty(tmp_path):
    app, a, _ = make(tmp_path, SCIM_RATE_LIMIT="")
    assert {a.get("/ServiceProviderConfig").status_code for _ in range(300)} == {200}


def test_a_bad_limit_setting_stops_the_app(tmp_path):
    with pytest.raises(ValueError, match="SCIM_RATE_LIMIT"):
        create_app({"INSTANCE_PATH": tmp_path, "SCIM_RATE_LIMIT": "lots"})


def test_an_unreachable_counter_store_lets_requests_through(tmp_path, caplog):
    app, a, _ = make(tmp_path, SCIM_RATE_LIMIT="1 per minute", RATE_LIMIT_STORAGE=f"redis://127.0.0.1:{free_port()}")
    assert [a.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
    assert any("rate limit store unavailable" in r.getMessage() for r in caplog.records)


def test_servers_share_counters_through_redis(tmp_path):
    binary = shutil.which("redis-server")
    needs(binary, "redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    redis = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        env = {"SCIMAPP_SCIM_RATE_LIMIT": "5 per minute", "SCIMAPP_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{port}"}
        one = LiveServer(tmp_path / "instance", env=env).start()
        two = LiveServer(tmp_path / "instance", env=env).start()
        try:
            token = one.token("shared")
            headers = {"Authorization": f"Bearer {token}"}
            codes = [requests.get((one if i % 2 else two).base + "/Users", headers=headers, timeout=10).status_code
                     for i in range(7)]
            assert codes == [200] * 5 + [429] * 2  # five in total, whichever server answered
        finally:
            one.stop()
            two.stop()
    finally:
        redis.terminate()
        redis.wait(10)


@pytest.mark.sqlite_only
def test_a_locked_sqlite_database_answers_503_and_writes_nothing(tmp_path):
    import sqlite3
    app, a, _ = make(tmp_path, SQLITE_BUSY_TIMEOUT_MS=300)
    u = a.create_user("before")
    holder = sqlite3.connect(tmp_path / "instance" / "scimapp.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = a.post("/Users", {"schemas": [USER], "userName": "during"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5" and r.get_json()["status"] == "503"
        p = a.patch(f"/Users/{u['id']}", [{"op": "replace", "path": "title", "value": "x"},
                                          {"op": "add", "path": "emails", "value": [{"value": "x@y"}]}])
        assert p.status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    names = {x["userName"] for x in a.get("/Users").get_json()["Resources"]}
    assert names == {"before"} and "title" not in a.get(f"/Users/{u['id']}").get_json()


def test_a_locked_postgresql_table_answers_503_and_writes_nothing(tmp_path):
    if not TEST_PG:
        pytest.skip("this run uses SQLite (the SQLite variant is the test above)")
    app, a, _ = make(tmp_path, SQLITE_BUSY_TIMEOUT_MS=300)
    a.create_user("before")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    conn = engine.connect()
    trans = conn.begin()
    conn.execute(text("LOCK TABLE scim_users IN ACCESS EXCLUSIVE MODE"))
    try:
        r = a.post("/Users", {"schemas": [USER], "userName": "during"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    finally:
        trans.rollback()
        conn.close()
        engine.dispose()
    assert {x["userName"] for x in a.get("/Users").get_json()["Resources"]} == {"before"}


def test_an_unreachable_database_answers_503_not_500(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path, "AUTO_MIGRATE": False,
                      "DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"})
    r = app.test_client().get("/scim/v2/Users", headers={"Authorization": "Bearer " + tokens.new_secret()})
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@pytest.mark.sqlite_only
def test_a_writer_that_waits_too_long_for_its_turn_gets_503_like_a_locked_database(tmp_path):
    """Writers of one server queue on a lock in the process before SQLite's own (database.py); waiting there
    longer than the busy timeout is the same 503, not a 500."""
    from scimapp import database
    app, a, _ = make(tmp_path, SQLITE_BUSY_TIMEOUT_MS=200)
    turn = database._WRITE_TURNS[str(tmp_path / "instance" / "scimapp.db")]
    assert turn.acquire(timeout=5)  # another writer of this process has its turn
    try:
        r = a.post("/Users", {"schemas": [USER], "userName": "waiting"})
    finally:
        turn.release()
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert a.post("/Users", {"schemas": [USER], "userName": "after"}).status_code == 201
    assert [u["userName"] for u in a.get("/Users").get_json()["Resources"]] == ["after"]


def test_concurrent_writes_under_a_short_lock_timeout_never_500(tmp_path):
    """Writers racing for the lock either succeed or get 503: never 500, never a partial write."""
    app, a, _ = make(tmp_path, SQLITE_BUSY_TIMEOUT_MS=50, SCIM_RATE_LIMIT="")
    server = LiveServer(tmp_path / "instance", env={"SCIMAPP_SQLITE_BUSY_TIMEOUT_MS": "50",
                                                    "SCIMAPP_SCIM_RATE_LIMIT": ""}).start()
    try:
        token = server.token("race")
        codes = []

        def burst(k):
            s = requests.Session()
            for i in range(15):
                codes.append(s.post(server.base + "/Users", json={"userName": f"w{k}-{i}"}, timeout=30,
                                    headers={"Authorization": f"Bearer {token}"}).status_code)
        threads = [threading.Thread(target=burst, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(codes) <= {201, 503} and 201 in codes
        listed = requests.get(server.base + "/Users", params={"count": 1000}, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}).json()
        assert listed["totalResults"] == codes.count(201)
    finally:
        server.stop()


def _psycopg_error(name: str, message: str):
    import psycopg.errors
    from sqlalchemy.exc import OperationalError
    return OperationalError("INSERT …", {}, getattr(psycopg.errors, name)(message))


@pytest.mark.parametrize("name,transient,too_long", [
    ("ProgramLimitExceeded", False, True),  # 54000: index row size exceeds maximum (was answered 503, retried forever)
    ("LockNotAvailable", True, False),  # 55P03: lock_timeout
    ("AdminShutdown", True, False),  # 57P01
    ("TooManyConnections", True, False),  # 53300
    ("OperationalError", True, False),  # no SQLSTATE: the server cannot be reached
])
def test_postgresql_errors_are_classified_by_their_sqlstate(name, transient, too_long):
    from scimapp.database import is_too_long, is_transient
    exc = _psycopg_error(name, "x")
    assert is_transient(exc) is transient
    assert is_too_long(exc) is too_long


def test_a_value_too_long_for_a_postgresql_index_is_400_not_503(tmp_path):
    """PostgreSQL refuses an index entry over ~2,700 bytes (54000); that is the client's value, so 400 invalidValue,
    never 503 with Retry-After (an IdP would retry it forever). Single requests and bulk operations alike."""
    if not TEST_PG:
        pytest.skip("only PostgreSQL limits the size of an index entry")
    import random
    import string
    app, a, _ = make(tmp_path, SCIM_RATE_LIMIT="")
    rng = random.Random(1)
    long = "".join(rng.choice(string.ascii_letters) for _ in range(3000))  # incompressible
    for attr in ("userName", "title"):
        r = a.post("/Users", {"schemas": [USER], "userName": "short", attr: long})
        assert r.status_code == 400 and "Retry-After" not in r.headers, r.get_data(as_text=True)
        assert r.get_json()["scimType"] == "invalidValue"
    r = a.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"schemas": [USER], "userName": long}}]})
    assert r.get_json()["Operations"][0]["status"] == "400"
    assert a.get("/Users").get_json()["totalResults"] == 0

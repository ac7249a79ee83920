"""End-to-end: replay Microsoft Entra ID provisioning traffic against the real server (``python app.py``).

The request sequences live in ``tests/data/entra/*.json`` (one list of steps per file, replayed by the shared
engine in ``tests/replay.py``, which documents the format). Every request is sent over real HTTP with
``http.client`` and carries exactly the headers Entra sends: ``Authorization: Bearer <token>`` always,
``Content-Type: application/scim+json; charset=utf-8`` on bodies, and no ``Accept`` (nor ``Accept-Encoding``)
header at all. Every response must be ``application/scim+json``.
"""
from __future__ import annotations

import http.client
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from scimapp import tokens
from tests import replay
from tests.replay import ERROR_SCHEMA, Reply, connection, media_type_problem

DATA = Path(__file__).resolve().parent.parent / "data" / "entra"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
FLAG = "aadOptscim062020"
# Entra sends no Accept (nor Accept-Encoding) header at all, and Content-Type only on requests with a body.
ENTRA = replay.ClientHeaders("Microsoft Entra ID", always=(), content_type="application/scim+json; charset=utf-8")


# ---------------------------------------------------------------------------------------------- HTTP

def send(server, token: str | None, method: str, path: str, query: str = "", body=None,
         conn: http.client.HTTPConnection | None = None) -> Reply:
    """One request as Entra sends it. ``path`` is relative to the Tenant URL; ``query`` is already encoded."""
    return replay.send(server, token, method, path, query, body, headers=ENTRA, conn=conn)


def with_flag(query: str, first: bool = True) -> str:
    """The query with Entra's compliance flag added as an extra, value-less parameter."""
    if not query:
        return FLAG
    return f"{FLAG}&{query}" if first else f"{query}&{FLAG}"


# ---------------------------------------------------------------------------------------------- data files

def run_steps(server, token: str, steps: list[dict], label: str, flag: bool = False) -> None:
    """Replay steps with Entra's headers (format: see ``tests/replay.py``). With ``flag`` every request also
    carries ``?aadOptscim062020``, as when the Tenant URL has it appended."""
    replay.run_steps(server, token, steps, label, ENTRA, rewrite_query=with_flag if flag else None)


def load(name: str) -> list[dict]:
    return replay.load(DATA, name)


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def token(live_server) -> str:
    """A Secret Token made by the real CLI, as the admin pastes it into Entra."""
    return live_server.token("entra-e2e")


# ---------------------------------------------------------------------------------------------- lifecycles

@pytest.mark.parametrize("name, flag", [
    pytest.param("lifecycle_default.json", False, id="default"),
    pytest.param("lifecycle_aadoptscim062020.json", False, id="aadOptscim062020"),
    pytest.param("lifecycle_aadoptscim062020.json", True, id="aadOptscim062020-flag-in-every-url"),
])
def test_entra_lifecycle(live_server, token, name, flag):
    """The whole provisioning lifecycle in one dialect, step by step, with every expectation checked."""
    run_steps(live_server, token, load(name), name + (" +?aadOptscim062020" if flag else ""), flag=flag)


@pytest.mark.parametrize("rounds", [5])
def test_connection_probes_repeated(live_server, token, rounds):
    """Test Connection and the probes at the start of each provisioning activity, sent again and again."""
    steps = load("test_connection_probes.json")
    for r in range(1, rounds + 1):
        run_steps(live_server, token, steps, f"test_connection_probes.json round {r}")


# ---------------------------------------------------------------------------------------------- the URL flag

@pytest.mark.parametrize("first", [True, False], ids=["flag-first", "flag-last"])
def test_compliance_flag_in_query_is_ignored(live_server, token, first):
    """``?aadOptscim062020`` appended to the Tenant URL reaches us as an extra, value-less query parameter."""
    user_name = f"flag.{'first' if first else 'last'}@brindlewood.example"
    enc = user_name.replace("@", "%40")
    query = f"filter=userName+eq+%22{enc}%22"

    reply = send(live_server, token, "GET", "/Users", with_flag(query, first))
    assert reply.status == 200 and reply.json()["totalResults"] == 0, reply.describe()
    assert media_type_problem(reply) is None, reply.describe()

    reply = send(live_server, token, "POST", "/Users", FLAG,
                 {"schemas": [CORE_USER], "userName": user_name, "active": "True"})
    assert reply.status == 201, reply.describe()
    uid = reply.json()["id"]
    try:
        reply = send(live_server, token, "GET", "/Users", with_flag(query, first))
        assert reply.status == 200, reply.describe()
        assert reply.json()["totalResults"] == 1 and reply.json()["Resources"][0]["id"] == uid, reply.describe()

        reply = send(live_server, token, "GET", f"/Users/{uid}", FLAG)
        assert reply.status == 200 and reply.json()["id"] == uid, reply.describe()

        reply = send(live_server, token, "PATCH", f"/Users/{uid}", FLAG,
                     {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "active", "value": False}]})
        assert reply.status == 200 and reply.json()["active"] is False, reply.describe()

        reply = send(live_server, token, "GET", "/Groups",
                     with_flag("excludedAttributes=members&filter=displayName+eq+%22Brindlewood+Nobody%22", first))
        assert reply.status == 200 and reply.json()["totalResults"] == 0, reply.describe()
    finally:
        reply = send(live_server, token, "DELETE", f"/Users/{uid}", FLAG)
        assert reply.status == 204, reply.describe()
    reply = send(live_server, token, "GET", "/Users", with_flag(query, first))
    assert reply.status == 200 and reply.json()["totalResults"] == 0, reply.describe()


# ---------------------------------------------------------------------------------------------- authentication

@pytest.mark.parametrize("method, path, query, body", [
    pytest.param("GET", "/Users", "filter=userName+eq+%22" + "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" + "%22", None,
                 id="test-connection-probe"),
    pytest.param("POST", "/Users", "", {"schemas": [CORE_USER], "userName": "intruder@brindlewood.example"},
                 id="create"),
    pytest.param("GET", "/Groups", "excludedAttributes=members&filter=displayName+eq+%22Brindlewood+Crew%22", None,
                 id="group-probe"),
])
@pytest.mark.parametrize("credential", ["wrong", "missing"])
def test_bad_token_is_401_with_scim_error(live_server, token, credential, method, path, query, body):
    """A wrong or missing Secret Token: 401, a SCIM Error body and a Bearer challenge; nothing is written."""
    secret = None if credential == "missing" else tokens.new_secret()  # well-formed, never issued
    reply = send(live_server, secret, method, path, query, body)
    assert reply.status == 401, reply.describe()
    assert media_type_problem(reply) is None, reply.describe()
    doc = reply.json()
    assert ERROR_SCHEMA in doc.get("schemas", []), reply.describe()
    assert doc.get("status") == "401", reply.describe()
    challenge = reply.headers.get("WWW-Authenticate") or ""
    assert challenge.lower().startswith("bearer"), f"WWW-Authenticate {challenge!r}: {reply.describe()}"
    if body is not None:
        check = send(live_server, token, "GET", "/Users", "filter=userName+eq+%22intruder%40brindlewood.example%22")
        assert check.status == 200 and check.json()["totalResults"] == 0, check.describe()


def test_valid_token_is_accepted_with_entra_headers_only(live_server, token):
    """The control for the 401 tests: the same probe with the real token answers 200."""
    reply = send(live_server, token, "GET", "/Users", "filter=userName+eq+%22" + str(uuid.uuid4()) + "%22")
    assert reply.status == 200 and reply.json()["totalResults"] == 0, reply.describe()
    assert media_type_problem(reply) is None, reply.describe()


# ---------------------------------------------------------------------------------------------- concurrency

def test_concurrent_duplicate_creates(live_server, token):
    """20 threads, each on its own connection, POST the same userName at once: one 201, nineteen 409."""
    n = 20
    user_name = "same.person@quillfeather.example"
    body = {"schemas": [CORE_USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "userName": user_name, "active": "True",
            "displayName": "Same Person"}
    conns = [connection(live_server) for _ in range(n)]
    for c in conns:
        c.connect()
    barrier = threading.Barrier(n)
    replies: list[Reply | BaseException | None] = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(30)
            replies[i] = send(live_server, token, "POST", "/Users", "", body, conn=conns[i])
        except BaseException as exc:  # noqa: BLE001 (reported below)
            replies[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in conns:
        c.close()

    errors = [r for r in replies if not isinstance(r, Reply)]
    assert not errors, f"requests failed: {errors!r}"
    summary = "\n".join(r.describe() for r in replies)
    statuses = Counter(r.status for r in replies)
    assert statuses == Counter({201: 1, 409: n - 1}), f"statuses {dict(statuses)}:\n{summary}"
    for r in replies:
        assert media_type_problem(r) is None, r.describe()
        if r.status == 409:
            doc = r.json()
            assert doc.get("scimType") == "uniqueness" and ERROR_SCHEMA in doc.get("schemas", []), r.describe()
            assert doc.get("status") == "409", r.describe()
    created = next(r for r in replies if r.status == 201).json()["id"]

    reply = send(live_server, token, "GET", "/Users", "filter=userName+eq+%22same.person%40quillfeather.example%22")
    assert reply.status == 200, reply.describe()
    doc = reply.json()
    assert doc["totalResults"] == 1 and [u["id"] for u in doc["Resources"]] == [created], reply.describe()
    reply = send(live_server, token, "DELETE", f"/Users/{created}")
    assert reply.status == 204, reply.describe()

"""End-to-end: replay Okta provisioning traffic (and OneLogin's quirks) against the real server (``python app.py``).

The request sequences live in ``tests/data/okta/*.json`` and are replayed by the shared engine in
``tests/replay.py`` (which documents the format):

- ``test_connector.json``: Test Connector and every save of the To App page (``GET /Users?startIndex=1&count=2``,
  ``GET /Groups?startIndex=1&count=100``), and the same with a bad or missing token;
- ``aiw_put_dialect.json``: an App Integration Wizard ("Classic") app, which updates everything by PUT of the
  whole resource: profile, deactivation, reactivation, password, group membership and rename;
- ``oin_patch_dialect.json``: an OIN / template app: profile by PUT, but (de)activation and password sync by a
  path-less PATCH, and groups by PATCH (filtered removals before additions, path-less rename, "Push now");
- ``onelogin_quirks.json``: OneLogin's match query ending in ``&``, its ``PUT /Users/{id}?`` and its pre-RFC schema
  URNs.

Every Okta request carries exactly the headers Okta sends: ``Accept: application/scim+json``,
``Accept-Charset: utf-8``, ``User-Agent: Okta SCIM Client 1.0.0``, ``Authorization: Bearer <token>``, and
``Content-Type: application/scim+json; charset=utf-8`` on POST, PUT and PATCH and also on the bodiless DELETE;
a GET has no Content-Type. Every response must be ``application/scim+json``, and no response may ever carry a
password: neither a ``password`` key nor any password value the replay sent.
"""
from __future__ import annotations

import json
import socket
import threading
import uuid
from pathlib import Path

import pytest

from scimapp import tokens
from tests import replay
from tests.replay import ERROR_SCHEMA, LIST_SCHEMA, media_type_problem

DATA = Path(__file__).resolve().parent.parent / "data" / "okta"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

OKTA = replay.ClientHeaders(
    "Okta",
    always=(("Accept", "application/scim+json"), ("Accept-Charset", "utf-8"),
            ("User-Agent", "Okta SCIM Client 1.0.0")),
    content_type="application/scim+json; charset=utf-8",
    content_type_without_body=frozenset({"POST", "PUT", "PATCH", "DELETE"}),
)
# Okta's own "SCIM 2.0 SPEC Test" (Runscope) suite posts plain JSON and asks for the SCIM type with a charset.
RUNSCOPE = replay.ClientHeaders(
    "Okta Runscope suite",
    always=(("Accept", "application/scim+json; charset=utf-8"), ("User-Agent", "OKTA SCIM Integration")),
    content_type="application/json",
)
# OneLogin's headers are not in the source material (only its URLs and bodies are); this is the minimal set any
# SCIM client sends: the SCIM media type on bodies, nothing else.
ONELOGIN = replay.ClientHeaders("OneLogin", always=(), content_type="application/scim+json; charset=utf-8")


# ---------------------------------------------------------------------------------------------- helpers

def passwords_in(value) -> set[str]:
    """Every string sent under a ``password`` key (any depth, PATCH values included)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.lower() == "password" and isinstance(v, str):
                found.add(v)
            else:
                found |= passwords_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= passwords_in(v)
    return found


def password_keys(doc, where: str = "$") -> list[str]:
    """Where a ``password`` key (any letter case) occurs in a JSON document."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(k, str) and k.lower() == "password":
                out.append(f"{where}.{k}")
            out += password_keys(v, f"{where}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += password_keys(v, f"{where}[{i}]")
    return out


def no_password_echo(steps: list[dict]):
    """A reply check: no ``password`` key anywhere in any reply, and none of the passwords of ``steps`` in its
    bytes (a server could echo one under another name, or in an error detail)."""
    secrets = set().union(*(passwords_in(st.get("body")) for st in steps))

    def check(step: dict, reply: replay.Reply) -> list[str]:
        problems = [f"a password value came back in the reply: {s!r}" for s in sorted(secrets) if s in reply.text]
        try:
            doc = reply.json()
        except ValueError:
            return problems
        return problems + [f"a password came back at {w}" for w in password_keys(doc)]
    return check


def load(name: str) -> list[dict]:
    return replay.load(DATA, name)


def replay_file(server, token: str, name: str, headers: replay.ClientHeaders = OKTA, label: str | None = None):
    steps = load(name)
    return replay.run_steps(server, token, steps, label or name, headers, reply_check=no_password_echo(steps))


def send(server, token, method, path, query="", body=None, **kw) -> replay.Reply:
    return replay.send(server, token, method, path, query, body, headers=OKTA, **kw)


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def token(live_server) -> str:
    """The API token made by the real CLI, as the admin pastes it into Okta's HTTP Header authentication."""
    return live_server.token("okta-e2e")


# ---------------------------------------------------------------------------------------------- the headers themselves

class RawRequests:
    """A one-connection-at-a-time HTTP listener that records each raw request head and answers 204."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}/scim/v2"
        self.heads: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.heads.append(head)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("method, body, expected", [
    pytest.param("GET", None, ["Accept: application/scim+json", "Accept-Charset: utf-8",
                               "User-Agent: Okta SCIM Client 1.0.0", "Authorization: Bearer t0k"], id="GET"),
    pytest.param("POST", {"a": 1}, ["Accept: application/scim+json", "Accept-Charset: utf-8",
                                    "User-Agent: Okta SCIM Client 1.0.0", "Authorization: Bearer t0k",
                                    "Content-Type: application/scim+json; charset=utf-8", "Content-Length: 8"],
                 id="POST"),
    pytest.param("DELETE", None, ["Accept: application/scim+json", "Accept-Charset: utf-8",
                                  "User-Agent: Okta SCIM Client 1.0.0", "Authorization: Bearer t0k",
                                  "Content-Type: application/scim+json; charset=utf-8"], id="DELETE-no-body"),
])
def test_replay_sends_exactly_oktas_headers(method, body, expected):
    """The engine's own check: the bytes on the wire carry Okta's headers and nothing else but Host."""
    listener = RawRequests()
    try:
        reply = replay.send(listener, "t0k", method, "/Users/x", "startIndex=1&count=2", body, headers=OKTA)
        assert reply.status == 204
    finally:
        listener.close()
    lines = listener.heads[0].decode().split("\r\n")
    assert lines[0] == f"{method} /scim/v2/Users/x?startIndex=1&count=2 HTTP/1.1"
    assert [h for h in lines[1:] if not h.startswith("Host:")] == expected
    assert len(lines) == len(expected) + 2


# ---------------------------------------------------------------------------------------------- Test Connector

def seed_for_test_connector(server, token: str) -> None:
    """Three users and a group, so that ``count=2`` really cuts the first page short."""
    tag = uuid.uuid4().hex[:8]
    for n in range(3):
        user_name = f"seed{n}.{tag}@larkspur-yard.example"
        reply = send(server, token, "POST", "/Users", "", {
            "schemas": [CORE_USER], "userName": user_name, "name": {"givenName": f"Seed{n}", "familyName": "Larkspur"},
            "emails": [{"primary": True, "value": user_name, "type": "work"}], "displayName": f"Seed{n} Larkspur",
            "externalId": f"00useed{n}{tag}".ljust(20, "0"), "groups": [], "password": f"Seed-Pass-{tag}-{n}",
            "active": True})
        assert reply.status == 201, reply.describe()
    reply = send(server, token, "POST", "/Groups", "",
                 {"schemas": [CORE_GROUP], "displayName": f"Larkspur Yard {tag}", "members": []})
    assert reply.status == 201, reply.describe()


@pytest.mark.parametrize("saves", [3])
def test_okta_test_connector(live_server, token, saves):
    """Test Connector, then each later save of the To App page: the same constant requests every time."""
    seed_for_test_connector(live_server, token)
    for n in range(1, saves + 1):
        replay_file(live_server, token, "test_connector.json", label=f"test_connector.json save {n}")


# ---------------------------------------------------------------------------------------------- lifecycles

@pytest.mark.parametrize("name", [
    pytest.param("aiw_put_dialect.json", id="AIW-PUT-dialect"),
    pytest.param("oin_patch_dialect.json", id="OIN-PATCH-dialect"),
])
def test_okta_lifecycle(live_server, token, name):
    """The whole provisioning lifecycle in one Okta dialect, step by step, with every expectation checked."""
    replay_file(live_server, token, name)


def test_onelogin_quirks(live_server, token):
    """OneLogin: ``…%22&`` match queries, ``PUT /Users/{id}?`` and the pre-RFC schema URNs."""
    replay_file(live_server, token, "onelogin_quirks.json", ONELOGIN)


# ---------------------------------------------------------------------------------------------- authentication

@pytest.mark.parametrize("authorization", [
    pytest.param("Bearer " + tokens.new_secret(), id="wrong-token"),
    pytest.param("non-token", id="runscope-non-token"),
    pytest.param("Basic b2t0YTpva3Rh", id="basic"),
    pytest.param(None, id="missing"),
])
@pytest.mark.parametrize("method, path, query, body", [
    pytest.param("GET", "/Users", "startIndex=1&count=2", None, id="test-connector"),
    pytest.param("GET", "/Groups", "startIndex=1&count=100", None, id="groups"),
    pytest.param("GET", "/Users/010101001010101011001010101011", "", None, id="get-by-id"),
    pytest.param("DELETE", "/Groups/010101001010101011001010101011", "", None, id="group-delete"),
])
def test_bad_token_is_401_with_detail(live_server, token, authorization, method, path, query, body):
    """A wrong, malformed or missing token: 401 with a SCIM Error carrying ``detail`` and ``status`` "401" (what
    Okta's Runscope suite checks), before any lookup (so never a 404)."""
    reply = send(live_server, token, method, path, query, body, authorization=authorization)
    assert reply.status == 401, reply.describe()
    assert media_type_problem(reply) is None, reply.describe()
    doc = reply.json()
    assert ERROR_SCHEMA in doc.get("schemas", []), reply.describe()
    assert doc.get("status") == "401", reply.describe()
    assert isinstance(doc.get("detail"), str) and doc["detail"].strip(), reply.describe()


def test_valid_token_is_accepted_with_okta_headers(live_server, token):
    """The control for the 401 tests: the Test Connector request with the real token answers 200."""
    reply = send(live_server, token, "GET", "/Users", "startIndex=1&count=2")
    assert reply.status == 200, reply.describe()
    assert media_type_problem(reply) is None, reply.describe()
    doc = reply.json()
    assert LIST_SCHEMA in doc["schemas"] and isinstance(doc["totalResults"], int), reply.describe()


def test_runscope_suite_media_types(live_server, token):
    """Okta's Runscope suite: create with ``Content-Type: application/json``, read back with
    ``Accept: application/scim+json; charset=utf-8``, then the duplicate (409) and the case check."""
    user_name = f"runscope.{uuid.uuid4().hex[:10]}@fernhollow.example"
    body = {"schemas": [CORE_USER], "userName": user_name, "name": {"givenName": "Run", "familyName": "Scope"},
            "emails": [{"primary": True, "value": user_name, "type": "work"}], "active": True,
            "password": "Fern-Hollow-5151"}
    reply = replay.send(live_server, token, "POST", "/Users", "", body, headers=RUNSCOPE)
    assert reply.status == 201 and media_type_problem(reply) is None, reply.describe()
    assert "password" not in reply.json() and "Fern-Hollow-5151" not in reply.text, reply.describe()
    uid = reply.json()["id"]
    reply = replay.send(live_server, token, "GET", f"/Users/{uid}", "", headers=RUNSCOPE)
    assert reply.status == 200 and reply.json()["userName"] == user_name, reply.describe()
    reply = replay.send(live_server, token, "POST", "/Users", "", body, headers=RUNSCOPE)
    assert reply.status == 409 and reply.json().get("status") == "409", reply.describe()
    query = "filter=userName+eq+%22" + user_name.upper().replace("@", "%40") + "%22"
    reply = replay.send(live_server, token, "GET", "/Users", query, headers=RUNSCOPE)
    assert reply.status == 200, reply.describe()
    assert [r["id"] for r in reply.json()["Resources"]] == [uid], reply.describe()


# ---------------------------------------------------------------------------------------------- the checks can fail

def fake_reply(doc, status: int = 200) -> replay.Reply:
    import email.message
    headers = email.message.Message()
    headers["Content-Type"] = "application/scim+json"
    return replay.Reply(status, headers, json.dumps(doc).encode(), "/scim/v2/Users", "GET")


@pytest.mark.parametrize("doc, page, complaint", [
    pytest.param({"totalResults": "5", "startIndex": 1, "Resources": [{}, {}]}, {"startIndex": 1, "count": 2},
                 "totalResults must be a JSON integer", id="string-total"),
    pytest.param({"totalResults": 5, "startIndex": 3, "Resources": [{}, {}]}, {"startIndex": 1, "count": 2},
                 "startIndex 3, expected the requested 1", id="startIndex-not-echoed"),
    pytest.param({"totalResults": 5, "startIndex": 1, "Resources": [{}, {}, {}]}, {"startIndex": 1, "count": 2},
                 "3 Resources", id="count-ignored"),
    pytest.param({"totalResults": 5, "startIndex": 5, "Resources": []}, {"startIndex": 5, "count": 2},
                 "0 Resources", id="last-page-empty"),
    pytest.param({"totalResults": 2, "startIndex": 1, "itemsPerPage": 3, "Resources": [{}, {}]},
                 {"startIndex": 1, "count": 100}, "itemsPerPage 3", id="itemsPerPage-wrong"),
    pytest.param({"totalResults": 2, "startIndex": True, "Resources": [{}, {}]}, {"startIndex": 1, "count": 100},
                 "startIndex must be a JSON integer", id="boolean-startIndex"),
])
def test_page_check_catches(doc, page, complaint):
    problems = replay.page_problems(page, doc)
    assert any(complaint in p for p in problems), problems


def test_page_check_accepts_a_good_page():
    assert replay.page_problems({"startIndex": 3, "count": 2},
                                {"totalResults": 3, "startIndex": 3, "itemsPerPage": 1, "Resources": [{}]}) == []


@pytest.mark.parametrize("doc", [
    {"id": "1", "password": "x"},
    {"id": "1", "Password": None},
    {"id": "1", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"password": "x"}},
    {"id": "1", "note": "was Salt-Cellar-4242"},
    {"Resources": [{"id": "1", "password": "y"}]},
])
def test_password_check_catches(doc):
    check = no_password_echo([{"body": {"password": "Salt-Cellar-4242"}},
                              {"body": {"Operations": [{"op": "replace", "value": {"password": "Other-Pass-1"}}]}}])
    assert check({}, fake_reply(doc)), doc
    assert check({}, fake_reply({"id": "1", "title": "Other-Pass-1"})), "a PATCH password value came back"
    assert check({}, fake_reply({"id": "1", "title": "ok"})) == []


@pytest.mark.parametrize("check, doc", [
    ({"path": ["members"], "values": ["a", "b"]}, {"members": [{"value": "a"}]}),
    ({"path": ["members"], "values": ["a"]}, {"members": [{"value": "a"}, {"value": "a"}]}),
    ({"path": ["members"], "empty": True}, {"members": [{"value": "a"}]}),
    ({"path": ["meta", "version"], "not_equals": "v1.0"}, {"meta": {"version": "v1.0"}}),
    ({"path": ["Resources"], "each_has": [["name", "givenName"]]}, {"Resources": [{"name": {"givenName": None}}]}),
    ({"path": ["Resources"], "each_has": [["emails", 0, "value"]]}, {"Resources": [{"emails": []}]}),
    ({"path": ["Resources"], "each_lacks": [["password"]]}, {"Resources": [{"password": "p"}]}),
    ({"path": ["Resources"], "max_length": 2}, {"Resources": [1, 2, 3]}),
    ({"path": ["detail"], "non_empty": True}, {"detail": ""}),
    ({"path": ["detail"], "type": "string"}, {"status": "404"}),
])
def test_step_checks_catch(check, doc):
    assert replay.check_one(check, doc), (check, doc)


def test_status_list_and_media_type_are_checked():
    assert replay.check_expectations({"status": [200, 204]}, fake_reply({}, 201))
    reply = fake_reply({}, 200)
    reply.headers.replace_header("Content-Type", "application/json")
    assert replay.check_expectations({"status": 200}, reply)


# ---------------------------------------------------------------------------------------------- the data files

def test_data_files_use_only_okta_query_shapes():
    """Okta's queries as the source describes them: a filter is always ``eq`` and followed by
    ``&startIndex=1&count=100``; lists are paged with ``startIndex`` before ``count``."""
    for name in ("aiw_put_dialect.json", "oin_patch_dialect.json", "test_connector.json"):
        for st in load(name):
            query = st.get("query", "")
            if "filter=" in query:
                assert query.startswith("filter=") and query.endswith("&startIndex=1&count=100"), (name, st["name"])
                assert "%20eq%20" in query or "+eq+" in query, (name, st["name"])
            elif query:
                assert query in ("startIndex=1&count=2", "startIndex=1&count=100"), (name, st["name"])
            if st["method"] in ("PATCH", "PUT", "POST"):
                assert isinstance(st.get("body"), dict), (name, st["name"])
            assert st["method"] != "DELETE" or (st["path"].startswith("/Groups/") and "body" not in st), \
                f"{name}: Okta never DELETEs users and sends no DELETE body ({st['name']!r})"
            for op in (st.get("body") or {}).get("Operations", []):
                assert op["op"] in ("add", "remove", "replace"), (name, st["name"])
                for item in op.get("value", []) if isinstance(op.get("value"), list) else []:
                    assert "type" not in item, f"{name}: Okta's member items carry no type ({st['name']!r})"


"""End-to-end: replay Microsoft Entra ID provisioning traffic against the real server (``python app.py``).

The request sequences live in ``tests/data/entra/*.json`` (one list of steps per file, see ``run_steps`` for the
format). Every request is sent over real HTTP with ``http.client`` and carries exactly the headers Entra sends:
``Authorization: Bearer <token>`` always, ``Content-Type: application/scim+json; charset=utf-8`` on bodies, and no
``Accept`` (nor ``Accept-Encoding``) header at all. Every response must be ``application/scim+json``.
"""
from __future__ import annotations

import http.client
import json
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "entra"
ENTRA_BODY_TYPE = "application/scim+json; charset=utf-8"
SCIM_MEDIA = "application/scim+json"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
FLAG = "aadOptscim062020"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


# ---------------------------------------------------------------------------------------------- HTTP

@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes
    target: str
    method: str

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.raw.decode("utf-8"))

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 1500 else self.text[:1500] + "…"
        return f"{self.method} {self.target} -> {self.status} ({self.content_type}): {shown or '<empty body>'}"


def connection(server) -> http.client.HTTPConnection:
    split = urlsplit(server.base)
    return http.client.HTTPConnection(split.hostname, split.port, timeout=60)


def send(server, token: str | None, method: str, path: str, query: str = "", body=None,
         conn: http.client.HTTPConnection | None = None) -> Reply:
    """One request as Entra sends it. ``path`` is relative to the Tenant URL; ``query`` is already encoded."""
    target = urlsplit(server.base).path + path + (f"?{query}" if query else "")
    own = conn is None
    conn = conn or connection(server)
    try:
        # http.client adds only Host (and Accept-Encoding, skipped here): no Accept header is ever sent.
        conn.putrequest(method, target, skip_accept_encoding=True)
        if token is not None:
            conn.putheader("Authorization", f"Bearer {token}")
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            conn.putheader("Content-Type", ENTRA_BODY_TYPE)
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        raw = resp.read()
        return Reply(resp.status, resp.headers, raw, target, method)
    finally:
        if own:
            conn.close()


def media_type_problem(reply: Reply) -> str | None:
    """Every SCIM response is application/scim+json (an empty 204 may carry no Content-Type at all)."""
    ctype = reply.content_type
    if ctype is None and reply.raw == b"" and reply.status == 204:
        return None
    if ctype is None or ctype.split(";")[0].strip().lower() != SCIM_MEDIA:
        return f"Content-Type is {ctype!r}, expected {SCIM_MEDIA}"
    return None


def with_flag(query: str, first: bool = True) -> str:
    """The query with Entra's compliance flag added as an extra, value-less parameter."""
    if not query:
        return FLAG
    return f"{FLAG}&{query}" if first else f"{query}&{FLAG}"


# ---------------------------------------------------------------------------------------------- data files

class MissingPlaceholder(KeyError):
    pass


def fill(value, saved: dict):
    """Replace ``{name}`` with saved values; ``{new_guid}`` is a fresh random GUID at each occurrence."""
    if isinstance(value, str):
        def one(m):
            name = m.group(1)
            if name == "new_guid":
                return str(uuid.uuid4())
            if name not in saved:
                raise MissingPlaceholder(name)
            return saved[name]
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [fill(v, saved) for v in value]
    if isinstance(value, dict):
        return {fill(k, saved): fill(v, saved) for k, v in value.items()}
    return value


_MISSING = object()


def at(doc, path):
    """The value at a key path (a key, or a list of keys and list indexes); _MISSING when there is none."""
    for key in ([path] if isinstance(path, (str, int)) else path):
        if isinstance(key, int) and isinstance(doc, list) and -len(doc) <= key < len(doc):
            doc = doc[key]
        elif isinstance(key, str) and isinstance(doc, dict) and key in doc:
            doc = doc[key]
        else:
            return _MISSING
    return doc


def same(a, b) -> bool:
    """Exact JSON equality (``true`` is not ``1``, ``"False"`` is not ``false``)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def contained(expected, actual, where: str = "$") -> list[str]:
    """Problems keeping ``expected`` from being contained in ``actual``: dicts by key, lists element-wise in any
    order (each expected element needs its own actual element), scalars exactly."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)}"]
        out = []
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{where}: key {k!r} missing")
            else:
                out += contained(v, actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {json.dumps(actual)}"]
        free = list(range(len(actual)))
        out = []
        for i, e in enumerate(expected):
            hit = next((j for j in free if not contained(e, actual[j])), None)
            if hit is None:
                out.append(f"{where}: no element contains {json.dumps(e)} (elements: {json.dumps(actual)})")
            else:
                free.remove(hit)
        return out
    if not same(expected, actual):
        return [f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]
    return []


def check_expectations(expect: dict, reply: Reply) -> list[str]:
    """Every failed expectation of one step (empty when the reply is as expected)."""
    problems = []
    if reply.status != expect["status"]:
        problems.append(f"status {reply.status}, expected {expect['status']}")
    media = media_type_problem(reply)
    if media:
        problems.append(media)
    if expect.get("empty_body") and reply.raw != b"":
        problems.append(f"expected an empty body, got {len(reply.raw)} bytes")
    for name in expect.get("header_present", []):
        if not reply.headers.get(name):
            problems.append(f"header {name} missing")
    needs_json = any(k in expect for k in ("totalResults", "json_subset", "absent", "checks"))
    if not needs_json:
        return problems
    try:
        doc = reply.json()
    except ValueError as exc:
        return problems + [f"the body is not JSON ({exc})"]
    if "totalResults" in expect and not same(doc.get("totalResults") if isinstance(doc, dict) else None,
                                             expect["totalResults"]):
        problems.append(f"totalResults {doc.get('totalResults') if isinstance(doc, dict) else None!r}, "
                        f"expected {expect['totalResults']}")
    problems += contained(expect.get("json_subset", {}), doc)
    for path in expect.get("absent", []):
        if at(doc, path) is not _MISSING:
            problems.append(f"{path!r} must be absent, found {json.dumps(at(doc, path))}")
    for check in expect.get("checks", []):
        value = at(doc, check["path"])
        label = "/".join(str(p) for p in check["path"])
        if value is _MISSING:
            problems.append(f"{label}: missing")
        elif "equals" in check and not same(value, check["equals"]):
            problems.append(f"{label}: expected exactly {json.dumps(check['equals'])}, got {json.dumps(value)}")
        elif "length" in check and (not isinstance(value, list) or len(value) != check["length"]):
            problems.append(f"{label}: expected a list of {check['length']}, got {json.dumps(value)}")
        elif "values" in check:
            got = sorted(e.get("value") for e in value if isinstance(e, dict)) if isinstance(value, list) else value
            if not isinstance(value, list) or got != sorted(check["values"]) or len(value) != len(check["values"]):
                problems.append(f"{label}: expected exactly the values {sorted(check['values'])}, got {got}")
    return problems


def run_steps(server, token: str, steps: list[dict], label: str, flag: bool = False) -> None:
    """Replay steps; collect every failed expectation (naming the step) and fail once at the end.

    A step: ``name``, ``method``, ``path`` (relative to the Tenant URL, ``{placeholders}`` allowed), ``query`` (raw,
    already encoded), ``body`` (JSON, optional), ``expect`` (``status`` plus optional ``totalResults``,
    ``json_subset``, ``absent`` (keys or key paths), ``checks`` ([{path, equals|length|values}]), ``empty_body``,
    ``header_present``) and ``save`` ({placeholder: key or key path of the response}).
    With ``flag`` every request also carries ``?aadOptscim062020``, as when the Tenant URL has it appended.
    """
    saved: dict[str, str] = {}
    failures: list[str] = []
    for n, st in enumerate(steps, 1):
        head = f"[{label}] step {n} {st['name']!r}"
        try:
            path = fill(st["path"], saved)
            query = fill(st.get("query", ""), saved)
            body = fill(st["body"], saved) if "body" in st else None
            expect = fill(st["expect"], saved)
        except MissingPlaceholder as exc:
            failures.append(f"{head}: not run, placeholder {exc} was never saved (an earlier step failed)")
            break
        if flag:
            query = with_flag(query)
        reply = send(server, token, st["method"], path, query, body)
        problems = check_expectations(expect, reply)
        for name, key in st.get("save", {}).items():
            try:
                value = at(reply.json(), key)
            except ValueError:
                value = _MISSING
            if isinstance(value, str) and value:
                saved[name] = value
            else:
                problems.append(f"cannot save {name!r}: no non-empty string at {key!r}")
        if problems:
            failures.append(f"{head}: " + "; ".join(problems) + f"\n    {reply.describe()}")
    assert not failures, f"{len(failures)} of {len(steps)} steps of {label} failed:\n" + "\n".join(failures)


def load(name: str) -> list[dict]:
    steps = json.loads((DATA / name).read_text(encoding="utf-8"))
    assert isinstance(steps, list) and steps, f"{name} holds no steps"
    for st in steps:
        assert {"name", "method", "path", "expect"} <= st.keys() and "status" in st["expect"], st
    return steps


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
    secret = None if credential == "missing" else "scim_" + "x" * 43
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

"""POST /Bulk (RFC 7644 §3.7): many operations on Users and Groups in one request, bulkId references in paths and
in data (in any order), cycles and references to failed operations, duplicate/missing bulkIds, malformed operations,
``version`` as If-Match, ``failOnErrors``, ``maxOperations`` and ``maxPayloadSize``, one transaction per operation,
and the shape of the BulkResponse. The final database state is always checked through GETs, not only statuses."""
from __future__ import annotations

import json
import re

import pytest

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_MEDIA = "application/scim+json"
BASE = "http://localhost/scim/v2"
WEAK_ETAG = re.compile(r'^W/"\d+"$')


# ---------------------------------------------------------------------------- helpers

def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    return resp.get_json()


def assert_error(resp, status: int, scim_type: str | None = None) -> dict:
    """A whole-request SCIM error (RFC 7644 §3.12)."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    body = resp.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body.get("detail")
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def bulk_request(ops, **extra) -> dict:
    return {"schemas": [BULK_REQUEST], "Operations": ops, **extra}


def bulk(scim, ops, **extra) -> list[dict]:
    """Send a BulkRequest; the answer is 200 with a BulkResponse; return its Operations."""
    body = ok(scim.post("/Bulk", bulk_request(ops, **extra)))
    assert body["schemas"] == [BULK_RESPONSE]
    assert isinstance(body["Operations"], list)
    return body["Operations"]


def check_success(result: dict, method: str, status: str, bulk_id: str | None = None) -> None:
    """One successful operation result: method, bulkId (only when sent), location, version, string status."""
    assert result["status"] == status, result
    assert isinstance(result["status"], str)
    assert result["method"] == method, result
    if bulk_id is None:
        assert "bulkId" not in result, result
    else:
        assert result["bulkId"] == bulk_id, result
    assert re.fullmatch(rf"{re.escape(BASE)}/(Users|Groups)/[0-9a-f-]{{36}}", result["location"]), result
    if method == "DELETE":
        assert "version" not in result, result
    else:
        assert WEAK_ETAG.match(result["version"]), result
    assert "response" not in result or result["response"].get("schemas") != [ERROR], result


def check_error(result: dict, status: int, scim_type: str | None = None, method: str | None = None,
                bulk_id: str | None = None) -> None:
    """One failed operation result: string status and a SCIM Error with the same status in ``response``."""
    assert result["status"] == str(status), result
    response = result["response"]
    assert response["schemas"] == [ERROR], result
    assert response["status"] == str(status), result
    assert isinstance(response.get("detail"), str) and response["detail"], result
    if scim_type is not None:
        assert response.get("scimType") == scim_type, result
    if method is not None:
        assert result["method"] == method, result
    if bulk_id is not None:
        assert result["bulkId"] == bulk_id, result
    assert "version" not in result, result


def check_results(results: list[dict], expected: list[tuple]) -> None:
    """``expected``: per reported operation, (status,) or (status, scimType); success statuses are 2xx."""
    assert [r["status"] for r in results] == [str(e[0]) for e in expected], results
    for result, exp in zip(results, expected):
        if exp[0] >= 400:
            check_error(result, exp[0], exp[1] if len(exp) > 1 else None)
        else:
            check_success(result, result["method"], str(exp[0]), result.get("bulkId"))


def state(scim) -> dict:
    """What is stored, as the API shows it: users (userName -> title) and groups (displayName -> member names)."""
    users = ok(scim.get("/Users", query_string={"count": 1000}))["Resources"]
    groups = ok(scim.get("/Groups", query_string={"count": 1000}))["Resources"]
    names = {u["id"]: u["userName"] for u in users} | {g["id"]: g["displayName"] for g in groups}
    return {"users": {u["userName"]: u.get("title") for u in users},
            "groups": {g["displayName"]: sorted(names[m["value"]] for m in g.get("members", [])) for g in groups}}


def fill(value, ids: dict[str, str]):
    """Replace ``@name`` in every string with the id of the seeded resource ``name``."""
    if isinstance(value, str):
        return re.sub(r"@(\w+)", lambda m: ids[m.group(1)], value)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def user_op(bulk_id, name, **attrs):
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": {"schemas": [USER], "userName": name, **attrs}}


def group_op(bulk_id, name, *member_refs, path="/Groups", method="POST"):
    op = {"method": method, "path": path,
          "data": {"schemas": [GROUP], "displayName": name, "members": [{"value": r} for r in member_refs]}}
    if bulk_id is not None:
        op["bulkId"] = bulk_id
    return op


def patch_op(path, operations, **extra):
    return {"method": "PATCH", "path": path, "data": {"schemas": [PATCH_OP], "Operations": operations}, **extra}


def title_patch(path, title, **extra):
    return patch_op(path, [{"op": "replace", "path": "title", "value": title}], **extra)


@pytest.fixture
def seeded(scim):
    """Resources that exist before the bulk request: users keep (title "orig") and doomed, groups team and old."""
    keep = scim.create_user("keep", title="orig")
    doomed = scim.create_user("doomed")
    team = scim.create_group("team")
    old = scim.create_group("old")
    return {"keep": keep["id"], "doomed": doomed["id"], "team": team["id"], "old": old["id"]}


BASELINE = {"users": {"keep": "orig", "doomed": None}, "groups": {"team": [], "old": []}}


def with_changes(users: dict | None = None, groups: dict | None = None, gone: tuple = ()) -> dict:
    """The baseline state with these users/groups added or changed and ``gone`` removed."""
    out = {"users": {**BASELINE["users"], **(users or {})}, "groups": {**BASELINE["groups"], **(groups or {})}}
    for name in gone:
        out["users"].pop(name, None)
        out["groups"].pop(name, None)
    return out


# ---------------------------------------------------------------------------- success table

SUCCESS_CASES = {
    "every method on Users and Groups in one request": (
        [user_op("u1", "new1", title="t1"),
         group_op("g1", "grp1", "bulkId:u1"),
         {"method": "PUT", "path": "/Users/@keep", "data": {"schemas": [USER], "userName": "keep", "title": "put"}},
         patch_op("/Groups/@team", [{"op": "add", "path": "members", "value": [{"value": "bulkId:u1"},
                                                                                {"value": "@keep"}]}]),
         title_patch("/Users/bulkId:u1", "patched"),
         {"method": "DELETE", "path": "/Users/@doomed"},
         group_op(None, "grp1-renamed", "@keep", path="/Groups/bulkId:g1", method="PUT"),
         {"method": "DELETE", "path": "/Groups/@old"}],
        ["201", "201", "200", "200", "200", "204", "200", "204"],
        with_changes(users={"keep": "put", "new1": "patched"},
                     groups={"grp1-renamed": ["keep"], "team": ["keep", "new1"]}, gone=("doomed", "old"))),
    "path reference to an earlier POST": (
        [user_op("u1", "new1"), title_patch("/Users/bulkId:u1", "x")],
        ["201", "200"], with_changes(users={"new1": "x"})),
    "path reference to a later POST": (
        [title_patch("/Users/bulkId:u1", "x"), user_op("u1", "new1")],
        ["200", "201"], with_changes(users={"new1": "x"})),
    "data reference to a later POST": (
        [group_op("g1", "grp1", "bulkId:u1"), user_op("u1", "new1")],
        ["201", "201"], with_changes(users={"new1": None}, groups={"grp1": ["new1"]})),
    "chain of references in reverse order (nested groups)": (
        [group_op("g2", "outer", "bulkId:g1"), group_op("g1", "inner", "bulkId:u1"), user_op("u1", "new1")],
        ["201", "201", "201"], with_changes(users={"new1": None}, groups={"outer": ["inner"], "inner": ["new1"]})),
    "one POST referenced by several operations": (
        [group_op("g1", "grp1", "bulkId:u1", "@keep"), title_patch("/Users/bulkId:u1", "x"), user_op("u1", "new1"),
         patch_op("/Groups/@team", [{"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}]}])],
        ["201", "200", "201", "200"],
        with_changes(users={"new1": "x"}, groups={"grp1": ["keep", "new1"], "team": ["new1"]})),
    "DELETE through a bulkId path": (
        [user_op("u1", "new1"), {"method": "DELETE", "path": "/Users/bulkId:u1"}],
        ["201", "204"], BASELINE),
    "PUT through a bulkId path referencing a later user": (
        [group_op(None, "renamed", "bulkId:u1", path="/Groups/bulkId:g1", method="PUT"),
         group_op("g1", "grp1"), user_op("u1", "new1")],
        ["200", "201", "201"], with_changes(users={"new1": None}, groups={"renamed": ["new1"]})),
    "bulkId on a non-POST operation is echoed and harmless": (
        [title_patch("/Users/@keep", "x", bulkId="p1"), {"method": "DELETE", "path": "/Users/@doomed", "bulkId": "d1"}],
        ["200", "204"], with_changes(users={"keep": "x"}, gone=("doomed",))),
    "method names in any case": (
        [{**user_op("u1", "new1"), "method": "post"}, {**title_patch("/Users/@keep", "x"), "method": "Patch"}],
        ["201", "200"], with_changes(users={"new1": None, "keep": "x"})),
}


@pytest.mark.parametrize("ops,statuses,expected_state", SUCCESS_CASES.values(), ids=SUCCESS_CASES.keys())
def test_bulk_success_table(scim, seeded, ops, statuses, expected_state):
    ops = fill(ops, seeded)
    results = bulk(scim, ops)
    # Every operation is reported, in request order, with its own method and bulkId.
    assert len(results) == len(ops)
    for op, result, status in zip(ops, results, statuses):
        check_success(result, op["method"].upper(), status, op.get("bulkId"))
    # A path /X/bulkId:k names the resource the POST with bulkId k created.
    created = {op["bulkId"]: r["location"] for op, r in zip(ops, results) if op["method"].upper() == "POST"}
    for op, result in zip(ops, results):
        m = re.search(r"bulkId:(\w+)", op["path"])
        if m:
            assert result["location"] == created[m.group(1)]
        elif op["method"].upper() != "POST":
            assert result["location"] == BASE + op["path"]
    assert state(scim) == expected_state


def test_locations_and_versions_are_those_the_resources_then_have(scim, seeded):
    """Each result's location is the resource's meta.location and its version the ETag a GET gives right after."""
    ops = fill([user_op("u1", "new1"), group_op("g1", "grp1", "bulkId:u1"), title_patch("/Users/@keep", "v2"),
                patch_op("/Groups/@team", [{"op": "replace", "path": "displayName", "value": "team2"}])], seeded)
    results = bulk(scim, ops)
    for result in results:
        path = result["location"][len(BASE):]
        resp = scim.get(path)
        body = ok(resp)
        assert body["meta"]["location"] == result["location"]
        assert resp.headers["ETag"] == result["version"] == body["meta"]["version"]
    assert [r["version"] for r in results] == ['W/"1"', 'W/"1"', 'W/"2"', 'W/"2"']
    assert ok(scim.get(f"/Groups/{results[1]['location'].rsplit('/', 1)[1]}"))["members"][0]["value"] == \
        results[0]["location"].rsplit("/", 1)[1]


def test_a_later_operation_on_the_same_resource_sees_the_earlier_one(scim, seeded):
    ops = fill([title_patch("/Users/@keep", "one"),
                patch_op("/Users/@keep", [{"op": "add", "path": "nickName", "value": "nick"}]),
                {"method": "PUT", "path": "/Users/@keep", "data": {"userName": "keep", "title": "three",
                                                                   "nickName": "nick"}}], seeded)
    results = bulk(scim, ops)
    assert [r["version"] for r in results] == ['W/"2"', 'W/"3"', 'W/"4"']
    user = ok(scim.get(f"/Users/{seeded['keep']}"))
    assert (user["title"], user["nickName"], user["meta"]["version"]) == ("three", "nick", 'W/"4"')


# ---------------------------------------------------------------------------- failure table

def cyc(bulk_id, name, ref):
    return group_op(bulk_id, name, f"bulkId:{ref}")


FAILURE_CASES = {
    # bulkId references that cannot be resolved
    "cycle of two": ([cyc("g1", "grp1", "g2"), cyc("g2", "grp2", "g1")], [(409,), (409,)], BASELINE),
    "cycle of three": ([cyc("g1", "grp1", "g2"), cyc("g2", "grp2", "g3"), cyc("g3", "grp3", "g1")],
                       [(409,), (409,), (409,)], BASELINE),
    "self reference": ([cyc("g1", "grp1", "g1")], [(409,)], BASELINE),
    "cycle through a reference in a plain attribute value": (
        [{"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "new1", "title": "bulkId:g1"}},
         group_op("g1", "grp1", "bulkId:u1")],
        [(409,), (409,)], BASELINE),
    "cycle beside an independent operation": (
        [cyc("g1", "grp1", "g2"), cyc("g2", "grp2", "g1"), user_op("u1", "new1")],
        [(409,), (409,), (201,)], with_changes(users={"new1": None})),
    "reference to an earlier failed POST (data)": (
        [{"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"title": "no userName"}},
         group_op("g1", "grp1", "bulkId:u1")],
        [(400,), (409,)], BASELINE),
    "reference to a later failed POST (path)": (
        [title_patch("/Users/bulkId:u1", "x"),
         {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "keep"}}],
        [(409,), (409, "uniqueness")], BASELINE),
    "reference to an invalid POST": (
        [{"method": "POST", "path": "Users", "bulkId": "u1", "data": {"userName": "new1"}},
         title_patch("/Users/bulkId:u1", "x")],
        [(400, "invalidSyntax"), (409,)], BASELINE),
    "reference to an unknown bulkId": ([group_op("g1", "grp1", "bulkId:nobody")], [(409,)], BASELINE),
    "reference to the bulkId of a non-POST": (
        [title_patch("/Users/@keep", "x", bulkId="p1"), title_patch("/Users/bulkId:p1", "y")],
        [(200,), (409,)], with_changes(users={"keep": "x"})),
    # bulkIds
    "duplicate bulkId": ([user_op("d", "new1"), user_op("d", "new2")], [(201,), (400, "invalidSyntax")],
                         with_changes(users={"new1": None})),
    "POST without bulkId": ([{"method": "POST", "path": "/Users", "data": {"userName": "new1"}}],
                            [(400, "invalidSyntax")], BASELINE),
    "POST with an empty bulkId": ([user_op("", "new1")], [(400, "invalidSyntax")], BASELINE),
    "bulkId that is not a string": ([user_op(7, "new1")], [(400, "invalidSyntax")], BASELINE),
    # a list or an object as bulkId was a 500 (unhashable, when remembered as seen)
    "bulkId that is a list": ([user_op(["u1"], "new1"), user_op("u2", "new2")], [(400, "invalidSyntax"), (201,)],
                              with_changes(users={"new2": None})),
    "bulkId that is an object": ([user_op({"id": "u1"}, "new1")], [(400, "invalidSyntax")], BASELINE),
    # methods, paths and data
    "unknown method": ([{**user_op("u1", "new1"), "method": "GET"}], [(400, "invalidSyntax")], BASELINE),
    "missing method": ([{"path": "/Users/@doomed"}], [(400, "invalidSyntax")], BASELINE),
    "path without a leading slash": ([{"method": "DELETE", "path": "Users/@doomed"}], [(400, "invalidSyntax")],
                                     BASELINE),
    "missing path": ([{"method": "DELETE"}], [(400, "invalidSyntax")], BASELINE),
    "unknown endpoint": ([{"method": "POST", "path": "/Devices", "bulkId": "x", "data": {"userName": "new1"}}],
                         [(404,)], BASELINE),
    "POST to a resource": ([{**user_op("u1", "new1"), "path": "/Users/@keep"}], [(400, "invalidPath")], BASELINE),
    "PUT to a collection": ([{"method": "PUT", "path": "/Users", "data": {"userName": "keep", "title": "x"}}],
                            [(400, "invalidPath")], BASELINE),
    "DELETE below a resource": ([{"method": "DELETE", "path": "/Users/@doomed/extra"}], [(400, "invalidPath")],
                                BASELINE),
    "DELETE of an unknown id": ([{"method": "DELETE", "path": "/Users/no-such-id"}], [(404,)], BASELINE),
    "PATCH of a user id under /Groups": ([title_patch("/Groups/@keep", "x")], [(404,)], BASELINE),
    "POST data that is a list": ([{"method": "POST", "path": "/Users", "bulkId": "u1", "data": [{"userName": "x"}]}],
                                 [(400, "invalidSyntax")], BASELINE),
    "PUT without data": ([{"method": "PUT", "path": "/Users/@keep"}], [(400, "invalidSyntax")], BASELINE),
    "PATCH data that is not a PatchOp": (
        [{"method": "PATCH", "path": "/Users/@keep", "data": {"title": "x"}}], [(400, "invalidSyntax")], BASELINE),
    "POST data with a wrong value type": ([user_op("u1", "new1", active="maybe")], [(400, "invalidValue")], BASELINE),
    "POST data without the required userName": (
        [{"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"title": "x"}}], [(400,)], BASELINE),
    "POST of a taken userName": ([user_op("u1", "KEEP")], [(409, "uniqueness")], BASELINE),
    "version that is not a string": ([title_patch("/Users/@keep", "x", version=1)], [(400, "invalidSyntax")],
                                     BASELINE),
    "operation that is not an object": (["DELETE /Users/@doomed"], [(400, "invalidSyntax")], BASELINE),
}


@pytest.mark.parametrize("ops,expected,expected_state", FAILURE_CASES.values(), ids=FAILURE_CASES.keys())
def test_bulk_failure_table(scim, seeded, ops, expected, expected_state):
    ops = fill(ops, seeded)
    results = bulk(scim, ops)
    check_results(results, expected)
    for op, result in zip(ops, results):
        if not isinstance(op, dict):
            continue
        if isinstance(op.get("method"), str) and op["method"].upper() in ("POST", "PUT", "PATCH", "DELETE"):
            assert result["method"] == op["method"].upper()
        if isinstance(op.get("bulkId"), str) and op["bulkId"]:
            assert result["bulkId"] == op["bulkId"]
    assert state(scim) == expected_state


def test_every_operation_in_a_cycle_is_reported_as_circular(scim):
    results = bulk(scim, [cyc("a", "A", "b"), cyc("b", "B", "c"), cyc("c", "C", "a")])
    assert [r["bulkId"] for r in results] == ["a", "b", "c"]
    for r in results:
        check_error(r, 409, method="POST")
        assert "circular" in r["response"]["detail"]
    assert state(scim)["groups"] == {}


def test_the_error_names_the_unresolvable_bulk_id(scim):
    result, = bulk(scim, [group_op("g1", "grp1", "bulkId:ghost")])
    check_error(result, 409, method="POST", bulk_id="g1")
    assert "ghost" in result["response"]["detail"]


# ---------------------------------------------------------------------------- version (If-Match)

def _versioned(method: str, version: str) -> dict:
    op = {"PUT": {"method": "PUT", "path": "/Users/@keep", "data": {"userName": "keep", "title": "changed"}},
          "PATCH": title_patch("/Users/@keep", "changed"),
          "DELETE": {"method": "DELETE", "path": "/Users/@keep"}}[method]
    return {**op, "version": version}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("version,matches", [
    ('W/"1"', True), ('"1"', True), ("*", True),
    ('W/"2"', False), ('"0"', False), ("1", False),
], ids=["current weak", "current strong", "star", "future", "stale strong", "unquoted"])
def test_version_is_if_match(scim, seeded, method, version, matches):
    before = ok(scim.get(f"/Users/{seeded['keep']}"))
    result, = bulk(scim, fill([_versioned(method, version)], seeded))
    resp = scim.get(f"/Users/{seeded['keep']}")
    if not matches:
        check_error(result, 412, "invalidVers", method=method)
        assert ok(resp) == before  # nothing changed
        return
    if method == "DELETE":
        check_success(result, "DELETE", "204")
        assert resp.status_code == 404
    else:
        check_success(result, method, "200")
        assert result["version"] == 'W/"2"'
        assert ok(resp)["title"] == "changed"


def test_versions_within_one_request_follow_earlier_operations(scim, seeded):
    ops = fill([title_patch("/Users/@keep", "a", version='W/"1"'),
                title_patch("/Users/@keep", "b", version='W/"1"'),  # stale now
                title_patch("/Users/@keep", "c", version='W/"2"'),
                {"method": "DELETE", "path": "/Users/@keep", "version": 'W/"2"'},  # stale now
                {"method": "DELETE", "path": "/Users/@keep", "version": 'W/"3"'}], seeded)
    results = bulk(scim, ops)
    check_results(results, [(200,), (412, "invalidVers"), (200,), (412, "invalidVers"), (204,)])
    assert [r.get("version") for r in results] == ['W/"2"', None, 'W/"3"', None, None]
    assert scim.get(f"/Users/{seeded['keep']}").status_code == 404


def test_version_on_group_operations(scim, seeded):
    ops = fill([patch_op("/Groups/@team", [{"op": "add", "path": "members", "value": [{"value": "@keep"}]}],
                         version='W/"9"'),
                group_op(None, "team", "@doomed", path="/Groups/@team", method="PUT") | {"version": 'W/"1"'},
                {"method": "DELETE", "path": "/Groups/@old", "version": 'W/"2"'}], seeded)
    results = bulk(scim, ops)
    check_results(results, [(412, "invalidVers"), (200,), (412, "invalidVers")])
    assert state(scim)["groups"] == {"team": ["doomed"], "old": []}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_failed_non_post_results_carry_their_location(scim, seeded, method):
    """RFC 7644 §3.7: location is required in every result except a failed POST (missing at commit 1fb18f9)."""
    result, = bulk(scim, fill([_versioned(method, 'W/"5"')], seeded))
    check_error(result, 412, "invalidVers")
    assert result.get("location") == f"{BASE}/Users/{seeded['keep']}"


# ---------------------------------------------------------------------------- failOnErrors

def pattern_ops(pattern: str) -> list[dict]:
    """``ok``: a POST creating user n<i>; ``err``: a DELETE of a missing id (404); ``bad``: an invalid method."""
    ops = []
    for i, kind in enumerate(pattern.split()):
        if kind == "ok":
            ops.append(user_op(f"b{i}", f"n{i}"))
        elif kind == "err":
            ops.append({"method": "DELETE", "path": f"/Users/missing-{i}"})
        else:
            ops.append({"method": "GET", "path": f"/Users/missing-{i}"})
    return ops


FAIL_ON_ERRORS = {
    # fail_on, pattern, statuses reported, users created
    "unset: everything runs": (None, "ok err ok err ok", ["201", "404", "201", "404", "201"], ["n0", "n2", "n4"]),
    "1: stops at the first error": (1, "ok err ok", ["201", "404"], ["n0"]),
    "1: first operation fails": (1, "err ok ok", ["404"], []),
    "2: stops at the second error": (2, "err ok err ok err", ["404", "201", "404"], ["n1"]),
    "3: fewer errors than allowed": (3, "err ok err ok", ["404", "201", "404", "201"], ["n1", "n3"]),
    "1: an invalid first operation stops everything": (1, "bad ok", ["400"], []),
    "2: invalid then failing operation": (2, "ok bad ok err ok", ["201", "400", "201", "404"], ["n0", "n2"]),
}


@pytest.mark.parametrize("fail_on,pattern,statuses,created", FAIL_ON_ERRORS.values(), ids=FAIL_ON_ERRORS.keys())
def test_fail_on_errors(scim, fail_on, pattern, statuses, created):
    extra = {} if fail_on is None else {"failOnErrors": fail_on}
    results = bulk(scim, pattern_ops(pattern), **extra)
    assert [r["status"] for r in results] == statuses  # later operations are neither executed nor reported
    assert sorted(state(scim)["users"]) == created


@pytest.mark.parametrize("fail_on,pattern,statuses,created", [
    (1, "ok bad", ["201", "400"], ["n0"]),
    (2, "ok err ok bad", ["201", "404", "201", "400"], ["n0", "n2"]),
], ids=["1: valid then invalid", "2: valid, failing, valid, invalid"])
def test_fail_on_errors_counts_invalid_operations_in_order(scim, fail_on, pattern, statuses, created):
    """A malformed operation counts when its turn comes, not before the valid ones ahead of it run (at commit
    1fb18f9 it was counted up front, so nothing before it ran)."""
    results = bulk(scim, pattern_ops(pattern), failOnErrors=fail_on)
    assert [r["status"] for r in results] == statuses
    assert sorted(state(scim)["users"]) == created


def test_fail_on_errors_bounds_cycle_errors(scim):
    """Never more errors than failOnErrors, cycles included (at commit 1fb18f9 the whole cycle was reported)."""
    results = bulk(scim, [cyc("g1", "grp1", "g2"), cyc("g2", "grp2", "g1"), user_op("u1", "new1")], failOnErrors=1)
    assert sum(r["status"].startswith("4") for r in results) == 1


@pytest.mark.parametrize("value", [0, -1, True, "1", 1.5, [1]])
def test_invalid_fail_on_errors_is_400_and_runs_nothing(scim, value):
    resp = scim.post("/Bulk", bulk_request([user_op("u1", "new1")], failOnErrors=value))
    assert_error(resp, 400, "invalidValue")
    assert state(scim)["users"] == {}


# ---------------------------------------------------------------------------- limits

def test_more_operations_than_max_operations_is_413_and_runs_nothing(app, scim):
    app.config["SCIM_BULK_MAX_OPERATIONS"] = 3
    ops = [user_op(f"b{i}", f"n{i}") for i in range(4)]
    body = assert_error(scim.post("/Bulk", bulk_request(ops)), 413, "tooLarge")
    assert "3" in body["detail"]
    assert state(scim)["users"] == {}
    # Exactly the maximum is accepted, and every operation runs.
    results = bulk(scim, ops[:3])
    assert [r["status"] for r in results] == ["201"] * 3
    assert sorted(state(scim)["users"]) == ["n0", "n1", "n2"]


def test_invalid_operations_count_towards_max_operations(app, scim):
    app.config["SCIM_BULK_MAX_OPERATIONS"] = 2
    ops = [user_op("b0", "n0"), {"method": "GET"}, {"method": "GET"}]
    assert_error(scim.post("/Bulk", bulk_request(ops)), 413, "tooLarge")
    assert state(scim)["users"] == {}


def sized_bulk(size: int) -> str:
    """A BulkRequest creating user ``big`` whose JSON text is exactly ``size`` bytes."""
    def text(pad: int) -> str:
        return json.dumps(bulk_request([user_op("b", "big", title="x" * pad)]))
    pad = size - len(text(0))
    body = text(pad)
    assert len(body.encode()) == size
    return body


def sized_user(size: int, name: str = "big") -> str:
    def text(pad: int) -> str:
        return json.dumps({"schemas": [USER], "userName": name, "title": "x" * pad})
    body = text(size - len(text(0)))
    assert len(body.encode()) == size
    return body


def test_bulk_body_larger_than_max_payload_is_413_while_users_takes_it(app, scim):
    app.config["SCIM_BULK_MAX_PAYLOAD"] = 3000  # MAX_CONTENT_LENGTH stays at its 1 MiB default
    assert app.config["MAX_CONTENT_LENGTH"] > 5000
    body = assert_error(scim.post("/Bulk", sized_bulk(3001)), 413, "tooLarge")
    assert "3000" in body["detail"]
    assert state(scim)["users"] == {}
    # The same size on /Users is governed by MAX_CONTENT_LENGTH: accepted.
    ok(scim.post("/Users", sized_user(3001)), 201)
    assert list(state(scim)["users"]) == ["big"]


def test_bulk_body_of_exactly_max_payload_is_accepted(app, scim):
    app.config["SCIM_BULK_MAX_PAYLOAD"] = 3000
    results = bulk_raw(scim, sized_bulk(3000))
    assert [r["status"] for r in results] == ["201"]
    assert list(state(scim)["users"]) == ["big"]


def bulk_raw(scim, text: str) -> list[dict]:
    body = ok(scim.post("/Bulk", text))
    assert body["schemas"] == [BULK_RESPONSE]
    return body["Operations"]


def test_bulk_may_exceed_max_content_length_up_to_max_payload(app, scim):
    app.config["MAX_CONTENT_LENGTH"] = 3000
    app.config["SCIM_BULK_MAX_PAYLOAD"] = 50_000
    results = bulk_raw(scim, sized_bulk(5000))
    assert [r["status"] for r in results] == ["201"]
    assert list(state(scim)["users"]) == ["big"]
    # /Users keeps MAX_CONTENT_LENGTH.
    assert_error(scim.post("/Users", sized_user(5000, "big2")), 413, "tooLarge")
    assert list(state(scim)["users"]) == ["big"]


# ---------------------------------------------------------------------------- request syntax

BAD_REQUESTS = {
    "no schemas": {"Operations": [user_op("u1", "new1")]},
    "wrong schema": {"schemas": [PATCH_OP], "Operations": [user_op("u1", "new1")]},
    "schemas not a list": {"schemas": BULK_REQUEST, "Operations": [user_op("u1", "new1")]},
    "schemas of other types": {"schemas": [1, None], "Operations": [user_op("u1", "new1")]},
    "no Operations": {"schemas": [BULK_REQUEST]},
    "empty Operations": {"schemas": [BULK_REQUEST], "Operations": []},
    "Operations an object": {"schemas": [BULK_REQUEST], "Operations": user_op("u1", "new1")},
    "body a list": [bulk_request([user_op("u1", "new1")])],
    "body a string": "Operations",
    "body not JSON": '{"schemas": ["' + BULK_REQUEST + '"], "Operations": [',
}


@pytest.mark.parametrize("body", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_bulk_request_is_400_invalid_syntax_and_runs_nothing(scim, body):
    raw = body if isinstance(body, str) and body.startswith("{") else json.dumps(body)
    assert_error(scim.post("/Bulk", raw), 400, "invalidSyntax")
    assert state(scim)["users"] == {}


@pytest.mark.parametrize("depth", [50, 150, 900])
def test_deeply_nested_data_is_an_operation_error_not_a_500(scim, depth):
    """The JSON parser takes ~1000 levels; walking such data for bulkId references exhausted the stack (a 500)."""
    nested = "1"
    for _ in range(depth):
        nested = '{"a": ' + nested + "}"
    deep = ('{"method": "POST", "path": "/Users", "bulkId": "deep", "data": {"schemas": ["%s"], "userName": "deep", '
            '"nickName": "bulkId:ok", "x": %s}}' % (USER, nested))
    fine = json.dumps(user_op("ok", "fine"))
    results = bulk_raw(scim, '{"schemas": ["%s"], "Operations": [%s, %s]}' % (BULK_REQUEST, deep, fine))
    if depth <= 100:
        check_success(results[0], "POST", "201", "deep")
    else:
        check_error(results[0], 400, "invalidSyntax", "POST", "deep")
        assert "nested deeper" in results[0]["response"]["detail"]
    check_success(results[1], "POST", "201", "ok")
    assert set(state(scim)["users"]) == ({"deep", "fine"} if depth <= 100 else {"fine"})


def test_request_member_names_are_case_insensitive(scim):
    results = bulk_raw(scim, json.dumps({"SCHEMAS": [BULK_REQUEST.upper()], "operations": [
        {"METHOD": "post", "Path": "/Users", "BULKID": "u1", "Data": {"userName": "new1"}}], "FailOnErrors": 1}))
    check_success(results[0], "POST", "201", "u1")
    assert list(state(scim)["users"]) == ["new1"]


# ---------------------------------------------------------------------------- one transaction per operation

def test_each_operation_is_its_own_transaction(scim, seeded):
    ops = fill([
        user_op("u1", "new1"),
        # Half valid: the first change of this PATCH must not survive its second, invalid one.
        patch_op("/Users/@keep", [{"op": "replace", "path": "title", "value": "half"},
                                  {"op": "replace", "path": "active", "value": "maybe"}]),
        group_op("g1", "grp1", "bulkId:u1", "@keep"),
        # A group PATCH that fails after a member row was written: none of it is kept.
        patch_op("/Groups/@team", [{"op": "replace", "path": "displayName", "value": "renamed"},
                                   {"op": "add", "path": "members", "value": [{"value": "@keep"}]},
                                   {"op": "add", "path": "members", "value": [{"value": "@team"}]}]),
        user_op("u2", "new1"),  # uniqueness failure: new1 from the first operation stays
        title_patch("/Users/@keep", "whole"),
    ], seeded)
    results = bulk(scim, ops)
    check_results(results, [(201,), (400,), (201,), (400,), (409, "uniqueness"), (200,)])
    assert state(scim) == with_changes(users={"new1": None, "keep": "whole"}, groups={"grp1": ["keep", "new1"]})
    keep = ok(scim.get(f"/Users/{seeded['keep']}"))
    assert keep["meta"]["version"] == 'W/"2"' and "active" not in keep


def test_a_failure_does_not_undo_earlier_successes_on_the_same_resource(scim, seeded):
    ops = fill([title_patch("/Users/@keep", "one"),
                {"method": "PUT", "path": "/Users/@keep", "data": {"title": "no userName"}},
                {"method": "DELETE", "path": "/Users/@keep", "version": 'W/"1"'}], seeded)
    results = bulk(scim, ops)
    check_results(results, [(200,), (400,), (412, "invalidVers")])
    user = ok(scim.get(f"/Users/{seeded['keep']}"))
    assert (user["title"], user["meta"]["version"]) == ("one", 'W/"2"')


# ---------------------------------------------------------------------------- response shape

def test_response_shape(scim, seeded):
    ops = fill([user_op("u1", "new1"),
                {"method": "DELETE", "path": "/Users/no-such-id", "bulkId": "del"},
                user_op("u2", "KEEP"),
                {"method": "DELETE", "path": "/Groups/@old"}], seeded)
    resp = scim.post("/Bulk", bulk_request(ops))
    body = ok(resp)
    assert set(body) == {"schemas", "Operations"}
    created, missing, taken, deleted = body["Operations"]
    assert set(created) == {"method", "bulkId", "location", "version", "status"}
    assert created["status"] == "201" and created["version"] == 'W/"1"'
    assert created["location"] == ok(scim.get(created["location"][len(BASE):]))["meta"]["location"]
    assert set(missing) >= {"method", "bulkId", "status", "response"}
    check_error(missing, 404, method="DELETE", bulk_id="del")
    assert set(taken) >= {"method", "bulkId", "status", "response"} and "location" not in taken
    check_error(taken, 409, "uniqueness", method="POST", bulk_id="u2")
    assert deleted == {"method": "DELETE", "location": f"{BASE}/Groups/{seeded['old']}", "status": "204"}
    assert scim.get(f"/Groups/{seeded['old']}").status_code == 404


def test_bulk_only_takes_post(scim):
    resp = scim.get("/Bulk")
    assert_error(resp, 405)
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"POST", "OPTIONS"}
    assert_error(scim.put("/Bulk", bulk_request([user_op("u1", "new1")])), 405)
    assert state(scim)["users"] == {}


@pytest.mark.parametrize("shape", ["chain", "fan"])
def test_waiting_operations_are_judged_without_rereading_every_reference(monkeypatch, shape):
    """1,000 operations that each reference the next (a chain in reverse order), or the next 300 (a fan): the
    resolution loop re-read every reference of every waiting operation on every pass, and scanned the pending list
    for each, taking 16 s and 45 s of CPU in one request. Run order and results stay those of the pass rule."""
    import time

    from scimapp.scim import bulk as bulk_module
    order = []

    def execute(op, ids, service_for, token_id):
        order.append(op.index)
        return {"method": op.method, "bulkId": op.bulk_id, "location": f"{BASE}/Users/id-{op.index}", "status": "201"}
    monkeypatch.setattr(bulk_module, "_execute", execute)
    n, reach = 1000, (1 if shape == "chain" else 300)
    ops = [user_op(f"b{i}", f"u{i}", nickName=[f"bulkId:b{j}" for j in range(i + 1, min(n, i + 1 + reach))])
           for i in range(n)]
    started = time.monotonic()
    result = bulk_module.run(bulk_request(ops), None, None, n)
    assert time.monotonic() - started < 5
    assert order == list(range(n - 1, -1, -1))
    assert [r["status"] for r in result["Operations"]] == ["201"] * n

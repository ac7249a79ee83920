"""The /Users endpoint through the real Flask app and a real SQLite file database (RFC 7644 §3.3-§3.6, §3.4.2,
§3.14): create, read, list and page, project, replace, patch, delete, uniqueness, sorting and ETags."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from ..conftest import query_rows, stored_bytes

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_MEDIA = "application/scim+json"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# ---------------------------------------------------------------------------- helpers

def assert_error(resp, status: int, scim_type: str | None = None) -> dict:
    """The response is an RFC 7644 §3.12 error with this status (as a string) and, if given, scimType."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    body = resp.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    return resp.get_json()


def list_users(scim, **params) -> dict:
    return ok(scim.get("/Users", query_string=params))


def user_names(listing: dict) -> list[str]:
    return [r["userName"] for r in listing["Resources"]]


def total(scim) -> int:
    return list_users(scim, count=0)["totalResults"]


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def db_rows(app, sql: str, **params) -> list[tuple]:
    """Read the app's database directly (what is really stored, not what the API shows)."""
    return query_rows(app.config["SQLALCHEMY_DATABASE_URI"], sql, **params)


FULL = {
    "schemas": [USER, ENTERPRISE],
    "userName": "alice@example.com",
    "externalId": "ext-alice",
    "name": {"givenName": "Alice", "familyName": "Anderson", "formatted": "Alice Anderson"},
    "displayName": "Alice A.",
    "nickName": "Al",
    "title": "Engineer",
    "active": True,
    "password": "s3cret-Passw0rd!",
    "emails": [{"value": "alice@example.com", "type": "work", "primary": True},
               {"value": "alice@home.example", "type": "home"}],
    "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
    ENTERPRISE: {"employeeNumber": "E100", "department": "R&D"},
}


# ---------------------------------------------------------------------------- create

def test_create_returns_201_with_location_etag_and_meta(scim):
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    resp = scim.post("/Users", FULL)
    body = ok(resp, 201)

    assert isinstance(body["id"], str) and body["id"].strip()
    assert body["userName"] == "alice@example.com"
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"http://localhost/scim/v2/Users/{body['id']}"
    assert resp.headers["Location"] == meta["location"]
    assert meta["version"] == 'W/"1"'
    assert resp.headers["ETag"] == meta["version"]
    for key in ("created", "lastModified"):
        assert TIMESTAMP.match(meta[key]), meta[key]
        assert before <= parse_ts(meta[key]) <= datetime.now(timezone.utc) + timedelta(seconds=5)
    assert meta["created"] == meta["lastModified"]
    # Values come back exactly as sent (no normalisation), extension under its URN and listed in schemas.
    assert body["name"] == FULL["name"]
    assert body["emails"] == FULL["emails"]
    assert body[ENTERPRISE] == {"employeeNumber": "E100", "department": "R&D"}
    assert set(body["schemas"]) == {USER, ENTERPRISE}
    assert "password" not in body


def test_create_ignores_client_supplied_id_and_meta(scim):
    body = ok(scim.post("/Users", {"schemas": [USER], "userName": "mallory", "id": "chosen-by-client",
                                   "meta": {"version": 'W/"99"', "created": "2001-01-01T00:00:00Z"}}), 201)
    assert body["id"] != "chosen-by-client"
    assert body["meta"]["version"] == 'W/"1"'
    assert not body["meta"]["created"].startswith("2001")
    assert_error(scim.get("/Users/chosen-by-client"), 404)


def test_create_without_username_is_400_and_writes_nothing(scim):
    assert_error(scim.post("/Users", {"schemas": [USER], "displayName": "Nobody"}), 400)
    assert total(scim) == 0


def test_get_returns_what_create_returned(scim):
    created = scim.create_user("bob", name={"givenName": "Bob"}, active=False)
    resp = scim.get(f"/Users/{created['id']}")
    assert ok(resp) == created
    assert resp.headers["ETag"] == 'W/"1"'


def test_get_unknown_id_is_scim_404(scim):
    assert_error(scim.get("/Users/00000000-0000-0000-0000-000000000000"), 404)


def test_password_is_never_returned_nor_stored(app, scim):
    created = ok(scim.post("/Users", FULL), 201)
    uid = created["id"]
    assert "password" not in ok(scim.get(f"/Users/{uid}"))
    assert "password" not in ok(scim.get(f"/Users/{uid}", query_string={"attributes": "password,userName"}))
    assert all("password" not in r for r in list_users(scim)["Resources"])
    put = dict(FULL, password="another-Secret-1")
    assert "password" not in ok(scim.put(f"/Users/{uid}", put))
    patched = ok(scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "password", "value": "third-Secret-2"}]))
    assert "password" not in patched
    raw = stored_bytes(app.config["SQLALCHEMY_DATABASE_URI"])
    for secret in ("s3cret-Passw0rd!", "another-Secret-1", "third-Secret-2"):
        assert secret.encode() not in raw


# ---------------------------------------------------------------------------- list and paging

@pytest.fixture
def ten_users(scim):
    return [scim.create_user(f"user{i:02d}") for i in range(10)]


def test_list_is_a_list_response(scim, ten_users):
    body = list_users(scim)
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 10
    assert body["itemsPerPage"] == 10
    assert body["startIndex"] == 1
    assert sorted(r["id"] for r in body["Resources"]) == sorted(u["id"] for u in ten_users)
    # Each listed resource is the full representation, meta included.
    by_id = {u["id"]: u for u in ten_users}
    for r in body["Resources"]:
        assert r == by_id[r["id"]]


def test_list_empty(scim):
    body = list_users(scim)
    assert body["totalResults"] == 0 and body["itemsPerPage"] == 0 and body["Resources"] == []


def test_paging_is_stable_and_complete(scim, ten_users):
    full = [r["id"] for r in list_users(scim)["Resources"]]
    pages = []
    for start in (1, 4, 7, 10):
        body = list_users(scim, startIndex=start, count=3)
        assert body["startIndex"] == start
        assert body["totalResults"] == 10
        assert body["itemsPerPage"] == len(body["Resources"]) == (3 if start < 10 else 1)
        pages += [r["id"] for r in body["Resources"]]
    assert pages == full
    assert len(set(pages)) == 10
    # The same request twice gives the same order.
    assert [r["id"] for r in list_users(scim)["Resources"]] == full


def test_count_is_capped_by_max_results(app, scim, ten_users):
    app.config["SCIM_MAX_RESULTS"] = 4
    body = list_users(scim, count=1000)
    assert body["itemsPerPage"] == 4 and len(body["Resources"]) == 4
    assert body["totalResults"] == 10
    huge = list_users(scim, count=10 ** 30)
    assert huge["itemsPerPage"] == 4


def test_default_count_applies_without_count(app, scim, ten_users):
    app.config["SCIM_DEFAULT_COUNT"] = 3
    body = list_users(scim)
    assert body["itemsPerPage"] == 3 and body["totalResults"] == 10


def test_count_zero_gives_only_the_total(scim, ten_users):
    body = list_users(scim, count=0)
    assert body["totalResults"] == 10
    assert body["itemsPerPage"] == 0
    assert body["Resources"] == []


def test_count_zero_with_filter_counts_matches(scim, ten_users):
    body = list_users(scim, count=0, filter='userName sw "user0"')
    assert body["totalResults"] == 10
    body = list_users(scim, count=0, filter='userName eq "user03"')
    assert body["totalResults"] == 1


def test_start_index_beyond_end(scim, ten_users):
    body = list_users(scim, startIndex=11, count=5)
    assert body["totalResults"] == 10
    assert body["itemsPerPage"] == 0 and body["Resources"] == []
    assert body["startIndex"] == 11


@pytest.mark.parametrize("start", ["0", "-1", "-100"])
def test_start_index_below_one_is_one(scim, ten_users, start):
    # RFC 7644 §3.4.2.4: a startIndex below 1 is interpreted as 1.
    body = list_users(scim, startIndex=start, count=2)
    assert body["startIndex"] == 1
    assert [r["id"] for r in body["Resources"]] == [r["id"] for r in list_users(scim, count=2)["Resources"]]


def test_negative_count_is_zero(scim, ten_users):
    # RFC 7644 §3.4.2.4: a negative count is interpreted as 0.
    body = list_users(scim, count=-5)
    assert body["itemsPerPage"] == 0 and body["Resources"] == []
    assert body["totalResults"] == 10


@pytest.mark.parametrize("param", ["count", "startIndex"])
@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0x10", "ten", "--1"])
def test_non_integer_paging_is_400_invalid_value(scim, param, value):
    assert_error(scim.get("/Users", query_string={param: value}), 400, "invalidValue")


def test_huge_start_index_is_not_a_server_error(scim, ten_users):
    # Regression: beyond SQLite's 64-bit range the OFFSET used to raise OverflowError -> 500.
    resp = scim.get("/Users", query_string={"startIndex": str(10 ** 20)})
    assert resp.status_code != 500
    if resp.status_code == 200:
        assert resp.get_json()["Resources"] == []
    else:
        assert_error(resp, 400, "invalidValue")


def test_paging_parameter_names_are_case_insensitive(scim, ten_users):
    body = list_users(scim, STARTINDEX=3, COUNT=2)
    assert body["startIndex"] == 3 and body["itemsPerPage"] == 2


# ---------------------------------------------------------------------------- attributes / excludedAttributes

def test_attributes_on_get(scim):
    uid = ok(scim.post("/Users", FULL), 201)["id"]
    body = ok(scim.get(f"/Users/{uid}", query_string={"attributes": "userName,emails.value,name.familyName"}))
    assert set(body) == {"schemas", "id", "userName", "emails", "name"}
    assert body["emails"] == [{"value": "alice@example.com"}, {"value": "alice@home.example"}]
    assert body["name"] == {"familyName": "Anderson"}
    assert body["schemas"] == [USER]


def test_attributes_selects_extension_attribute_by_urn(scim):
    uid = ok(scim.post("/Users", FULL), 201)["id"]
    body = ok(scim.get(f"/Users/{uid}", query_string={"attributes": f"{ENTERPRISE}:department"}))
    assert body[ENTERPRISE] == {"department": "R&D"}
    assert ENTERPRISE in body["schemas"]
    assert "userName" not in body and "emails" not in body


def test_excluded_attributes_on_get(scim):
    uid = ok(scim.post("/Users", FULL), 201)["id"]
    body = ok(scim.get(f"/Users/{uid}", query_string={"excludedAttributes": "emails,name.givenName,meta,id"}))
    assert "emails" not in body and "meta" not in body
    assert body["name"] == {"familyName": "Anderson", "formatted": "Alice Anderson"}
    assert body["id"] == uid  # returned "always": cannot be excluded
    assert body["userName"] == "alice@example.com"
    assert body["phoneNumbers"] == FULL["phoneNumbers"]


def test_excluding_whole_extension(scim):
    uid = ok(scim.post("/Users", FULL), 201)["id"]
    body = ok(scim.get(f"/Users/{uid}", query_string={"excludedAttributes": ENTERPRISE}))
    assert ENTERPRISE not in body
    assert body["schemas"] == [USER]
    assert body["title"] == "Engineer"


def test_attributes_and_excluded_attributes_on_list(scim):
    ok(scim.post("/Users", FULL), 201)
    scim.create_user("bob", emails=[{"value": "bob@example.com"}], title="Boss")
    body = list_users(scim, attributes="userName,emails.value")
    assert body["totalResults"] == 2
    for r in body["Resources"]:
        assert set(r) <= {"schemas", "id", "userName", "emails"}
        assert all(set(e) == {"value"} for e in r["emails"])
    body = list_users(scim, excludedAttributes="emails,title")
    for r in body["Resources"]:
        assert "emails" not in r and "title" not in r
        assert "userName" in r and "meta" in r


def test_unknown_attribute_names_in_projection_select_nothing(scim):
    uid = scim.create_user("bob")["id"]
    body = ok(scim.get(f"/Users/{uid}", query_string={"attributes": "noSuchAttribute"}))
    assert set(body) == {"schemas", "id"}


# ---------------------------------------------------------------------------- PUT

def test_put_replaces_everything(scim, app):
    created = ok(scim.post("/Users", FULL), 201)
    uid = created["id"]
    replacement = {"schemas": [USER], "userName": "alice@example.com", "displayName": "Alice Replaced",
                   "emails": [{"value": "new@example.com", "type": "other"}]}
    resp = scim.put(f"/Users/{uid}", replacement)
    body = ok(resp)
    assert body["displayName"] == "Alice Replaced"
    assert body["emails"] == [{"value": "new@example.com", "type": "other"}]
    for gone in ("name", "nickName", "title", "active", "phoneNumbers", "externalId", ENTERPRISE):
        assert gone not in body, gone
    assert body["schemas"] == [USER]
    assert body["meta"]["version"] == 'W/"2"' == resp.headers["ETag"]
    assert body["meta"]["created"] == created["meta"]["created"]
    assert parse_ts(body["meta"]["lastModified"]) >= parse_ts(created["meta"]["lastModified"])
    assert ok(scim.get(f"/Users/{uid}")) == body
    # The filter index follows the replacement: old values are no longer found, new ones are.
    assert list_users(scim, filter='emails.value eq "alice@example.com"')["totalResults"] == 0
    assert list_users(scim, filter='title eq "Engineer"')["totalResults"] == 0
    assert list_users(scim, filter=f'{ENTERPRISE}:department eq "R&D"')["totalResults"] == 0
    assert list_users(scim, filter='externalId eq "ext-alice"')["totalResults"] == 0
    assert list_users(scim, filter='emails.value eq "new@example.com"')["totalResults"] == 1
    assert list_users(scim, filter='displayName eq "alice replaced"')["totalResults"] == 1
    leftover = db_rows(app, "SELECT attr, sub, key FROM scim_user_values WHERE resource_id = :uid", uid=uid)
    assert {r[0] for r in leftover} <= {"emails", "displayname"}, leftover


def test_put_ignores_read_only_attributes(scim):
    other = scim.create_user("other")
    created = scim.create_user("bob")
    group = scim.create_group("Staff")
    body = ok(scim.put(f"/Users/{created['id']}", {
        "schemas": [USER], "userName": "bob", "id": other["id"], "title": "New",
        "meta": {"version": 'W/"77"', "created": "2000-01-01T00:00:00.000Z", "resourceType": "Group"},
        "groups": [{"value": group["id"]}]}))
    assert body["id"] == created["id"]
    assert body["title"] == "New"
    assert body["meta"]["version"] == 'W/"2"'
    assert body["meta"]["created"] == created["meta"]["created"]
    assert body["meta"]["resourceType"] == "User"
    assert "groups" not in body  # read-only: not a way to join a group
    assert ok(scim.get(f"/Groups/{group['id']}")).get("members") in (None, [])
    assert ok(scim.get(f"/Users/{other['id']}")) == other


def test_put_unknown_id_is_404(scim):
    assert_error(scim.put("/Users/nope", {"schemas": [USER], "userName": "x"}), 404)
    assert total(scim) == 0


def test_put_without_required_username_is_400_and_changes_nothing(scim):
    created = ok(scim.post("/Users", FULL), 201)
    assert_error(scim.put(f"/Users/{created['id']}", {"schemas": [USER], "displayName": "no user name"}), 400)
    assert ok(scim.get(f"/Users/{created['id']}")) == created


def test_put_with_invalid_value_changes_nothing(scim):
    created = ok(scim.post("/Users", FULL), 201)
    bad = dict(FULL, displayName="Changed", active="perhaps")
    assert_error(scim.put(f"/Users/{created['id']}", bad), 400, "invalidValue")
    assert ok(scim.get(f"/Users/{created['id']}")) == created


# ---------------------------------------------------------------------------- PATCH

def test_patch_returns_200_with_the_resource(scim):
    created = ok(scim.post("/Users", FULL), 201)
    resp = scim.patch(f"/Users/{created['id']}", [
        {"op": "replace", "path": "displayName", "value": "Alice Patched"},
        {"op": "add", "path": "emails", "value": [{"value": "third@example.com", "type": "other"}]},
        {"op": "remove", "path": "nickName"},
    ])
    body = ok(resp)
    assert body["displayName"] == "Alice Patched"
    assert body["emails"][-1] == {"value": "third@example.com", "type": "other"}
    assert len(body["emails"]) == 3
    assert "nickName" not in body
    assert body["meta"]["version"] == 'W/"2"' == resp.headers["ETag"]
    assert ok(scim.get(f"/Users/{created['id']}")) == body
    assert list_users(scim, filter='emails.value eq "third@example.com"')["totalResults"] == 1
    assert list_users(scim, filter="nickName pr")["totalResults"] == 0


def test_patch_with_attributes_returns_the_selection(scim):
    created = ok(scim.post("/Users", FULL), 201)
    body = ok(scim.patch(f"/Users/{created['id']}?attributes=displayName",
                         [{"op": "replace", "path": "displayName", "value": "X"}]))
    assert set(body) == {"schemas", "id", "displayName"}
    assert body["displayName"] == "X"


def test_patch_is_all_or_nothing(scim):
    created = ok(scim.post("/Users", FULL), 201)
    resp = scim.patch(f"/Users/{created['id']}", [
        {"op": "replace", "path": "displayName", "value": "Should Not Stick"},
        {"op": "replace", "path": "active", "value": "perhaps"},
    ])
    assert_error(resp, 400)
    assert ok(scim.get(f"/Users/{created['id']}")) == created
    assert list_users(scim, filter='displayName eq "Should Not Stick"')["totalResults"] == 0


def test_patch_that_changes_nothing_keeps_the_version(scim):
    created = scim.create_user("bob", displayName="Bob")
    resp = scim.patch(f"/Users/{created['id']}", [{"op": "replace", "path": "displayName", "value": "Bob"}])
    assert ok(resp)["meta"]["version"] == 'W/"1"'


def test_patch_unknown_id_is_404(scim):
    assert_error(scim.patch("/Users/nope", [{"op": "replace", "path": "title", "value": "x"}]), 404)


# ---------------------------------------------------------------------------- DELETE

def test_delete_then_404(app, scim):
    created = ok(scim.post("/Users", FULL), 201)
    keep = scim.create_user("keep")
    uid = created["id"]
    resp = scim.delete(f"/Users/{uid}")
    assert resp.status_code == 204
    assert resp.get_data() == b""
    assert_error(scim.get(f"/Users/{uid}"), 404)
    assert_error(scim.delete(f"/Users/{uid}"), 404)
    assert_error(scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "x"}]), 404)
    assert_error(scim.put(f"/Users/{uid}", FULL), 404)
    assert [r["id"] for r in list_users(scim)["Resources"]] == [keep["id"]]
    assert list_users(scim, filter='emails.value eq "alice@example.com"')["totalResults"] == 0
    assert db_rows(app, "SELECT count(*) FROM scim_user_values WHERE resource_id = :uid", uid=uid) == [(0,)]
    # Its userName is free again.
    scim.create_user("ALICE@example.com")


# ---------------------------------------------------------------------------- uniqueness

@pytest.mark.parametrize("first,second", [
    ("alice", "alice"),
    ("alice", "ALICE"),
    ("alice", "Alice"),
    ("ÉMILE@x", "émile@x"),
    ("émile@x", "e\u0301mile@x"),  # the same text, decomposed (NFC vs NFD)
    ("straße@x", "STRASSE@x"),  # full case folding, not just lower()
    ("ΣΊΣΥΦΟΣ", "σίσυφος"),
])
def test_duplicate_username_is_409(scim, first, second):
    original = scim.create_user(first, title="first")
    resp = scim.post("/Users", {"schemas": [USER], "userName": second, "title": "second"})
    assert_error(resp, 409, "uniqueness")
    listing = list_users(scim)
    assert listing["totalResults"] == 1
    assert listing["Resources"][0] == original
    assert list_users(scim, filter='title eq "second"')["totalResults"] == 0


def test_distinct_unicode_names_are_not_duplicates(scim):
    scim.create_user("emile@x")
    scim.create_user("émile@x")  # an accent is not a case difference
    assert total(scim) == 2


def test_username_change_to_a_taken_one_is_409_and_changes_nothing(scim):
    taken = scim.create_user("Taken@Example.com", title="keep")
    mover = scim.create_user("mover", title="old", emails=[{"value": "mover@example.com"}])
    assert_error(scim.patch(f"/Users/{mover['id']}", [
        {"op": "replace", "path": "title", "value": "patched"},
        {"op": "replace", "path": "userName", "value": "TAKEN@example.COM"}]), 409, "uniqueness")
    assert_error(scim.put(f"/Users/{mover['id']}", {
        "schemas": [USER], "userName": "taken@example.com", "title": "put",
        "emails": [{"value": "put@example.com"}]}), 409, "uniqueness")
    assert ok(scim.get(f"/Users/{mover['id']}")) == mover
    assert ok(scim.get(f"/Users/{taken['id']}")) == taken
    for f in ('title eq "patched"', 'title eq "put"', 'emails.value eq "put@example.com"'):
        assert list_users(scim, filter=f)["totalResults"] == 0, f
    assert list_users(scim, filter='userName eq "mover"')["totalResults"] == 1


def test_username_case_change_of_the_same_user_is_allowed(scim):
    user = scim.create_user("casey")
    body = ok(scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "userName", "value": "CASEY"}]))
    assert body["userName"] == "CASEY"
    assert [r["userName"] for r in list_users(scim, filter='userName eq "casey"')["Resources"]] == ["CASEY"]
    # …and its old spelling is still taken by it.
    assert_error(scim.post("/Users", {"schemas": [USER], "userName": "casey"}), 409, "uniqueness")


def test_username_freed_by_a_rename_can_be_reused(scim):
    user = scim.create_user("first")
    ok(scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "userName", "value": "second"}]))
    scim.create_user("FIRST")
    assert total(scim) == 2


# ---------------------------------------------------------------------------- sorting

@pytest.fixture
def sortable(scim):
    """Users whose sort keys have ties, case differences and missing values, created in this order."""
    specs = [
        ("delta", {"familyName": "Smith"}, [{"value": "d@example.com"}]),
        ("Alpha", {"familyName": "jones"}, [{"value": "z@example.com", "primary": False},
                                            {"value": "B@example.com", "primary": True}]),
        ("charlie", {"familyName": "SMITH"}, [{"value": "c@example.com"}]),
        ("bravo", None, [{"value": "y@example.com"}, {"value": "a@example.com"}]),
        ("Echo", {"familyName": "Adams"}, None),
        ("foxtrot", {"familyName": "smith"}, [{"value": "b@EXAMPLE.com"}]),
    ]
    out = []
    for name, n, emails in specs:
        attrs = {}
        if n:
            attrs["name"] = n
        if emails:
            attrs["emails"] = emails
        out.append(scim.create_user(name, **attrs))
    return out


def tie_order(users: list[dict]) -> list[dict]:
    """The documented tie-breaker: creation time, then id."""
    return sorted(users, key=lambda u: (u["meta"]["created"], u["id"]))


def test_sort_by_username(scim, sortable):
    asc = user_names(list_users(scim, sortBy="userName"))
    assert asc == ["Alpha", "bravo", "charlie", "delta", "Echo", "foxtrot"]
    desc = user_names(list_users(scim, sortBy="userName", sortOrder="descending"))
    assert desc == list(reversed(asc))
    # Attribute names and the order keyword are case-insensitive; the default order is ascending.
    assert user_names(list_users(scim, sortBy="USERNAME", sortOrder="ASCENDING")) == asc
    assert user_names(list_users(scim, sortby="username")) == asc


def test_sort_by_family_name_with_ties_and_missing(scim, sortable):
    by_name = {u["userName"]: u for u in sortable}
    smiths = [u["userName"] for u in tie_order([by_name[n] for n in ("delta", "charlie", "foxtrot")])]
    asc = user_names(list_users(scim, sortBy="name.familyName"))
    assert asc == ["Echo", "Alpha", *smiths, "bravo"]  # case-insensitive keys; no value sorts last
    desc = user_names(list_users(scim, sortBy="name.familyName", sortOrder="descending"))
    assert desc == [*smiths, "Alpha", "Echo", "bravo"]  # ties keep the tie-breaker order; missing still last
    # Paging through a sorted listing gives the same sequence.
    paged = []
    for start in (1, 3, 5):
        paged += user_names(list_users(scim, sortBy="name.familyName", startIndex=start, count=2))
    assert paged == asc


def test_sort_by_email_value_uses_primary_then_first(scim, sortable):
    # Alpha: primary B@…; bravo: first y@…; foxtrot: b@EXAMPLE (ties with Alpha's b@ case-insensitively);
    # Echo has no email and sorts last.
    by_name = {u["userName"]: u for u in sortable}
    tie = [u["userName"] for u in tie_order([by_name["Alpha"], by_name["foxtrot"]])]
    expected = [*tie, "charlie", "delta", "bravo", "Echo"]
    assert user_names(list_users(scim, sortBy="emails.value")) == expected
    assert user_names(list_users(scim, sortBy="emails")) == expected


def test_sort_by_extension_attribute_and_columns(scim):
    for name, dept, ext in (("u1", "Sales", "c"), ("u2", "engineering", "a"), ("u3", None, "B"), ("u4", "legal", None)):
        attrs = {}
        if dept:
            attrs[ENTERPRISE] = {"department": dept}
        if ext:
            attrs["externalId"] = ext
        ok(scim.post("/Users", {"schemas": [USER, ENTERPRISE], "userName": name, **attrs}), 201)
    assert user_names(list_users(scim, sortBy=f"{ENTERPRISE}:department")) == ["u2", "u4", "u1", "u3"]
    assert user_names(list_users(scim, sortBy="department", sortOrder="descending")) == ["u1", "u4", "u2", "u3"]
    # externalId is case-exact: "B" sorts before "a" and "c".
    assert user_names(list_users(scim, sortBy="externalId")) == ["u3", "u2", "u1", "u4"]
    created = list_users(scim, sortBy="meta.created")["Resources"]
    assert [r["id"] for r in created] == [r["id"] for r in tie_order(created)]


def test_sort_combined_with_filter_and_paging(scim, sortable):
    body = list_users(scim, filter='name.familyName eq "smith"', sortBy="userName", sortOrder="descending",
                      count=2)
    assert body["totalResults"] == 3
    assert user_names(body) == ["foxtrot", "delta"]


@pytest.mark.parametrize("sort_by", ["noSuchAttribute", "name", "emails[type eq \"work\"]", "meta.version",
                                     "groups", "x509Certificates.value", "urn:foo:bar"])
def test_unsortable_sort_by_is_400(scim, sortable, sort_by):
    assert_error(scim.get("/Users", query_string={"sortBy": sort_by}), 400, "invalidValue")


# ---------------------------------------------------------------------------- ETags

def test_etag_tracks_the_version(scim):
    user = scim.create_user("bob")
    uid = user["id"]
    assert scim.get(f"/Users/{uid}").headers["ETag"] == 'W/"1"'
    r = scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "a"}])
    assert r.headers["ETag"] == 'W/"2"'
    r = scim.put(f"/Users/{uid}", {"schemas": [USER], "userName": "bob", "title": "b"})
    assert r.headers["ETag"] == 'W/"3"'
    r = scim.get(f"/Users/{uid}")
    assert r.headers["ETag"] == 'W/"3"' == r.get_json()["meta"]["version"]


def test_if_none_match_current_version_is_304(scim):
    uid = scim.create_user("bob")["id"]
    resp = scim.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"1"'})
    assert resp.status_code == 304
    assert resp.get_data() == b""
    assert resp.headers["ETag"] == 'W/"1"'
    resp = scim.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"0", W/"1"'})
    assert resp.status_code == 304


def test_if_none_match_old_version_is_200(scim):
    uid = scim.create_user("bob")["id"]
    ok(scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "a"}]))
    resp = scim.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"1"'})
    assert ok(resp)["title"] == "a"
    assert resp.headers["ETag"] == 'W/"2"'


@pytest.mark.parametrize("header", ["*", '"1"'])
def test_if_none_match_weak_comparison_and_star(scim, header):
    # RFC 7232 §3.2 / §2.3.2: "*" matches any current representation; If-None-Match compares weakly.
    uid = scim.create_user("bob")["id"]
    assert scim.get(f"/Users/{uid}", headers={"If-None-Match": header}).status_code == 304


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_mismatch_is_412_and_changes_nothing(scim, method):
    user = scim.create_user("bob", title="original")
    uid = user["id"]
    headers = {"If-Match": 'W/"7"'}
    if method == "PUT":
        resp = scim.put(f"/Users/{uid}", {"schemas": [USER], "userName": "bob", "title": "x"}, headers=headers)
    elif method == "PATCH":
        resp = scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "x"}], headers=headers)
    else:
        resp = scim.delete(f"/Users/{uid}", headers=headers)
    assert_error(resp, 412)
    assert ok(scim.get(f"/Users/{uid}")) == user


@pytest.mark.parametrize("header", ['W/"1"', "*", 'W/"0", W/"1"'])
def test_if_match_current_version_succeeds(scim, header):
    uid = scim.create_user("bob")["id"]
    resp = scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "x"}],
                      headers={"If-Match": header})
    assert ok(resp)["title"] == "x"


def test_if_match_stale_after_concurrent_change(scim):
    uid = scim.create_user("bob")["id"]
    etag = scim.get(f"/Users/{uid}").headers["ETag"]
    ok(scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "first writer"}]))
    resp = scim.put(f"/Users/{uid}", {"schemas": [USER], "userName": "bob", "title": "second writer"},
                    headers={"If-Match": etag})
    assert_error(resp, 412)
    assert ok(scim.get(f"/Users/{uid}"))["title"] == "first writer"
    assert scim.delete(f"/Users/{uid}", headers={"If-Match": 'W/"2"'}).status_code == 204

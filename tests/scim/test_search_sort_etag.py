"""Searching with POST (RFC 7644 §3.4.3) on /Users, /Groups and the root, queries across resource types at the root
(§3.4.2.1), sorting (§3.4.2.3) on columns and on filter-index attributes, and ETags (§3.14, RFC 7232).

test_users_api.py already covers the basics (sort by userName/familyName/emails on a small set, ETag on GET, the
If-None-Match and If-Match basics on Users); these tables extend that coverage to groups, the strong/weak/star forms
on every write method, no-op writes, paging of sorted results and the SearchRequest body."""
from __future__ import annotations

import json
import time

import pytest

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_MEDIA = "application/scim+json"


# ---------------------------------------------------------------------------- helpers

def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    return resp.get_json()


def assert_error(resp, status: int, scim_type: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    body = resp.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body.get("detail")
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def names(listing: dict) -> list[str]:
    """userName of users and displayName of groups, in the order listed."""
    return [r.get("userName", r.get("displayName")) for r in listing["Resources"]]


def search_body(params: dict) -> dict:
    """The SearchRequest equivalent to GET query parameters (attribute lists as JSON lists)."""
    body = {"schemas": [SEARCH]}
    for k, v in params.items():
        if k in ("attributes", "excludedAttributes"):
            body[k] = [a.strip() for a in v.split(",")]
        elif k in ("startIndex", "count"):
            body[k] = int(v)
        else:
            body[k] = v
    return body


@pytest.fixture
def directory(scim):
    """Users and groups with values that discriminate filters, projections and sorting."""
    users = {
        "alice": {"displayName": "Alice", "title": "Engineer", "name": {"familyName": "Lee", "givenName": "Alice"},
                  "emails": [{"value": "alice@work.example", "type": "work", "primary": True}],
                  ENTERPRISE: {"department": "R&D"}},
        "bob": {"title": "engineer", "name": {"familyName": "Ng"},
                "emails": [{"value": "bob@home.example", "type": "home"}]},
        "carol": {"displayName": "carol", "title": "Manager", "active": False,
                  "emails": [{"value": "carol@work.example", "type": "work"}], ENTERPRISE: {"department": "Sales"}},
        "dave": {"displayName": "Dave", "name": {"familyName": "adams"}},
        "erin": {"displayName": "Erin", "title": "Analyst", "active": True},
    }
    out = {}
    for name, attrs in users.items():
        schemas = [USER, ENTERPRISE] if ENTERPRISE in attrs else [USER]
        out[name] = ok(scim.post("/Users", {"schemas": schemas, "userName": name, **attrs}), 201)
        time.sleep(0.003)  # distinct meta.created: the default order is creation order
    out["Admins"] = scim.create_group("Admins", members=[{"value": out["alice"]["id"]}])
    time.sleep(0.003)
    out["staff"] = scim.create_group("staff", members=[{"value": out["bob"]["id"]}, {"value": out["carol"]["id"]}])
    time.sleep(0.003)
    out["Zeta"] = scim.create_group("Zeta")
    return out


# ---------------------------------------------------------------------------- POST /.search equals GET

SEARCH_CASES = [
    ("/Users", {}, ["alice", "bob", "carol", "dave", "erin"]),
    ("/Users", {"filter": 'title eq "ENGINEER"'}, ["alice", "bob"]),
    ("/Users", {"filter": 'emails[type eq "work"]', "attributes": "userName,emails.value"}, ["alice", "carol"]),
    ("/Users", {"filter": "title pr", "sortBy": "userName", "sortOrder": "descending", "startIndex": "2",
                "count": "2"}, ["carol", "bob"]),
    ("/Users", {"attributes": "userName,name.familyName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
     ["alice", "bob", "carol", "dave", "erin"]),
    ("/Users", {"excludedAttributes": "meta,emails,name,title", "sortBy": "displayName"},
     ["alice", "carol", "dave", "erin", "bob"]),
    ("/Users", {"sortBy": "name.familyName", "count": "3"}, ["dave", "alice", "bob"]),
    ("/Users", {"filter": f'{ENTERPRISE}:department sw "s"', "excludedAttributes": ENTERPRISE}, ["carol"]),
    ("/Users", {"count": "0"}, []),
    ("/Groups", {}, ["Admins", "staff", "Zeta"]),
    ("/Groups", {"filter": 'displayName sw "a"'}, ["Admins"]),
    ("/Groups", {"sortBy": "displayName", "sortOrder": "descending"}, ["Zeta", "staff", "Admins"]),
    ("/Groups", {"attributes": "displayName", "startIndex": "2"}, ["staff", "Zeta"]),
    ("/Groups", {"excludedAttributes": "members", "filter": "members pr"}, ["Admins", "staff"]),
    ("", {"filter": 'displayName sw "a"'}, ["alice", "Admins"]),
    ("", {"startIndex": "5", "count": "2", "attributes": "userName,displayName"}, ["erin", "Admins"]),
]


@pytest.mark.parametrize("endpoint,params,expected", SEARCH_CASES,
                         ids=[f"{e or '/'} {p}" for e, p, _ in SEARCH_CASES])
def test_post_search_equals_get(scim, directory, endpoint, params, expected):
    got = ok(scim.get(endpoint or "/", query_string=params))
    searched = ok(scim.post(f"{endpoint}/.search", search_body(params)))
    assert searched == got
    assert searched["schemas"] == [LIST]
    assert names(searched) == expected


def test_search_projection_really_projects(scim, directory):
    body = ok(scim.post("/Users/.search", {"schemas": [SEARCH], "filter": 'userName eq "alice"',
                                           "attributes": ["name.familyName", "emails.value"]}))
    alice = body["Resources"][0]
    assert alice == {"schemas": [USER], "id": directory["alice"]["id"], "name": {"familyName": "Lee"},
                     "emails": [{"value": "alice@work.example"}]}
    body = ok(scim.post("/Groups/.search", {"schemas": [SEARCH], "filter": 'displayName eq "staff"',
                                            "excludedAttributes": ["members", "meta"]}))
    assert body["Resources"] == [{"schemas": [GROUP], "id": directory["staff"]["id"], "displayName": "staff"}]


def test_search_request_member_names_are_case_insensitive(scim, directory):
    body = ok(scim.post("/Users/.search", {"SCHEMAS": [SEARCH.upper()], "FILTER": 'userName sw "a"',
                                           "SortBy": "userName", "COUNT": 1}))
    assert names(body) == ["alice"] and body["totalResults"] == 1


BAD_SEARCHES = {
    "no schemas": ({"filter": 'userName eq "a"'}, "invalidSyntax"),
    "ListResponse schema": ({"schemas": [LIST]}, "invalidSyntax"),
    "schemas a string": ({"schemas": SEARCH}, "invalidSyntax"),
    "body a list": ([{"schemas": [SEARCH]}], "invalidSyntax"),
    "body a string": ("filter", "invalidSyntax"),
    "filter a number": ({"schemas": [SEARCH], "filter": 5}, "invalidSyntax"),
    "filter a list": ({"schemas": [SEARCH], "filter": ['userName eq "a"']}, "invalidSyntax"),
    "attributes with a number": ({"schemas": [SEARCH], "attributes": ["userName", 3]}, "invalidSyntax"),
    "attributes an object": ({"schemas": [SEARCH], "attributes": {"userName": True}}, "invalidSyntax"),
    "excludedAttributes a number": ({"schemas": [SEARCH], "excludedAttributes": 1}, "invalidSyntax"),
    "sortBy a list": ({"schemas": [SEARCH], "sortBy": ["userName"]}, "invalidSyntax"),
    "sortOrder a boolean": ({"schemas": [SEARCH], "sortOrder": True}, "invalidSyntax"),
    "count a fraction": ({"schemas": [SEARCH], "count": 1.5}, "invalidValue"),
    "count a boolean": ({"schemas": [SEARCH], "count": True}, "invalidValue"),
    "count an object": ({"schemas": [SEARCH], "count": {}}, "invalidValue"),
    "startIndex text": ({"schemas": [SEARCH], "startIndex": "first"}, "invalidValue"),
    "startIndex a boolean": ({"schemas": [SEARCH], "startIndex": False}, "invalidValue"),
    "unparsable filter": ({"schemas": [SEARCH], "filter": 'displayName eq'}, "invalidFilter"),
    "unknown sortBy": ({"schemas": [SEARCH], "sortBy": "noSuchAttribute"}, "invalidValue"),
}


@pytest.mark.parametrize("endpoint", ["/Users/.search", "/Groups/.search", "/.search"])
@pytest.mark.parametrize("body,scim_type", BAD_SEARCHES.values(), ids=BAD_SEARCHES.keys())
def test_bad_search_request_is_400(scim, directory, endpoint, body, scim_type):
    assert_error(scim.post(endpoint, json.dumps(body)), 400, scim_type)


@pytest.mark.parametrize("path", ["/Users/.search", "/Groups/.search", "/.search"])
def test_search_is_post_only(scim, path):
    assert_error(scim.get(path), 405)
    assert_error(scim.put(path, {"schemas": [SEARCH]}), 405)


# ---------------------------------------------------------------------------- the root: all resource types

ROOT_ORDER = ["alice", "bob", "carol", "dave", "erin", "Admins", "staff", "Zeta"]


@pytest.mark.parametrize("start,count,expected", [
    (1, 3, ROOT_ORDER[0:3]), (4, 2, ROOT_ORDER[3:5]), (5, 2, ROOT_ORDER[4:6]), (6, 2, ROOT_ORDER[5:7]),
    (7, 5, ROOT_ORDER[6:8]), (8, 1, ["Zeta"]), (9, 2, []), (1, 0, []), (2, 100, ROOT_ORDER[1:]),
    (0, 2, ROOT_ORDER[0:2]),
], ids=lambda v: str(v) if not isinstance(v, list) else "")
def test_root_pages_across_types(scim, directory, start, count, expected):
    for resp in (scim.get("/", query_string={"startIndex": start, "count": count}),
                 scim.post("/.search", {"schemas": [SEARCH], "startIndex": start, "count": count})):
        body = ok(resp)
        assert body["totalResults"] == 8
        assert body["startIndex"] == max(start, 1) and body["itemsPerPage"] == len(expected)
        assert names(body) == expected
        for r in body["Resources"]:
            assert r["meta"]["resourceType"] == ("Group" if r["id"] in {directory[g]["id"] for g in
                                                                         ("Admins", "staff", "Zeta")} else "User")


def test_root_pages_concatenate_to_the_whole_list(scim, directory):
    paged = []
    for start in range(1, 10, 3):
        paged += names(ok(scim.get("/", query_string={"startIndex": start, "count": 3})))
    assert paged == ROOT_ORDER
    assert names(ok(scim.get(""))) == ROOT_ORDER  # /scim/v2 without the trailing slash


@pytest.mark.parametrize("flt,expected", [
    ('userName sw "c"', ["carol"]),  # only Users have userName
    ("members pr", ["Admins", "staff"]),  # only Groups have members
    ('meta.resourceType eq "Group"', ["Admins", "staff", "Zeta"]),
    ('meta.resourceType eq "User" and title pr', ["alice", "bob", "carol", "erin"]),
    ('displayName co "a"', ["alice", "carol", "dave", "Admins", "staff", "Zeta"]),  # fits both
    (f'{ENTERPRISE}:department eq "sales"', ["carol"]),
    ('members[value eq "{alice}"]', ["Admins"]),
])
def test_root_filter_fitting_one_or_both_types(scim, directory, flt, expected):
    flt = flt.replace("{alice}", directory["alice"]["id"])
    got = ok(scim.get("/", query_string={"filter": flt}))
    assert names(got) == expected and got["totalResults"] == len(expected)
    assert ok(scim.post("/.search", {"schemas": [SEARCH], "filter": flt})) == got


@pytest.mark.parametrize("flt", ['noSuchAttribute eq "x"', 'userName eq "alice" and members pr',
                                 'urn:example:nope:2.0:User:x eq "y"', 'userName eq', 'title gt true'])
def test_root_filter_fitting_no_type_is_400_invalid_filter(scim, directory, flt):
    assert_error(scim.get("/", query_string={"filter": flt}), 400, "invalidFilter")
    assert_error(scim.post("/.search", {"schemas": [SEARCH], "filter": flt}), 400, "invalidFilter")


def test_root_sorts_within_each_type(scim, directory):
    body = ok(scim.get("/", query_string={"sortBy": "displayName", "sortOrder": "descending"}))
    assert names(body) == ["erin", "dave", "carol", "alice", "bob", "Zeta", "staff", "Admins"]


def test_root_projection_applies_to_each_type(scim, directory):
    body = ok(scim.get("/", query_string={"attributes": "displayName", "filter": 'displayName sw "a"'}))
    assert names(body) == ["Alice", "Admins"]  # users' displayName: userName was not asked for
    assert [sorted(r) for r in body["Resources"]] == [["displayName", "id", "schemas"]] * 2


def test_root_sort_by_a_user_attribute_keeps_the_groups(scim, directory):
    """Sorting never changes what is returned (at commit 1fb18f9 a sortBy only Users know dropped every Group)."""
    body = ok(scim.get("/", query_string={"sortBy": "userName"}))
    assert body["totalResults"] == 8
    assert names(body) == ROOT_ORDER  # groups have no userName: after the users


def test_root_invalid_sort_by_is_400(scim, directory):
    assert_error(scim.get("/", query_string={"sortBy": "noSuchAttribute"}), 400, "invalidValue")


# ---------------------------------------------------------------------------- sorting

@pytest.fixture
def sortable(scim):
    """Users created a few milliseconds apart (so meta.created is strictly increasing), with ties, case
    differences and missing values in every sort key; then two of them modified (meta.lastModified)."""
    specs = [
        ("carol", {"displayName": "Carol", "title": "Engineer", "name": {"familyName": "Lee"},
                   "emails": [{"value": "z@x.example"}, {"value": "c@x.example", "primary": True}],
                   ENTERPRISE: {"department": "R&D"}}),
        ("alice", {"displayName": "alice", "title": "engineer", "name": {"familyName": "lee"},
                   "emails": [{"value": "a@x.example"}], ENTERPRISE: {"department": "Sales"}}),
        ("Bob", {"title": "Manager", "name": {"familyName": "Ng"},
                 "emails": [{"value": "b@x.example", "primary": False}, {"value": "A0@x.example"}]}),
        ("dave", {"displayName": "Dave", "title": "", ENTERPRISE: {"department": "sales"}}),
        ("erin", {"displayName": "erin", "title": "Analyst", "name": {"familyName": "Adams"},
                  "emails": [{"value": "e@x.example", "primary": True}]}),
    ]
    out = {}
    for name, attrs in specs:
        schemas = [USER, ENTERPRISE] if ENTERPRISE in attrs else [USER]
        out[name] = ok(scim.post("/Users", {"schemas": schemas, "userName": name, **attrs}), 201)
        time.sleep(0.005)
    for name in ("alice", "carol"):  # modified after everyone was created, alice first
        ok(scim.patch(f"/Users/{out[name]['id']}", [{"op": "replace", "path": "nickName", "value": "n"}]))
        time.sleep(0.005)
    return out


SORTS = {
    # sortBy: (ascending, descending); missing values are last both ways, ties keep creation order
    "userName": (["alice", "Bob", "carol", "dave", "erin"], ["erin", "dave", "carol", "Bob", "alice"]),
    "displayName": (["alice", "carol", "dave", "erin", "Bob"], ["erin", "dave", "carol", "alice", "Bob"]),
    "meta.created": (["carol", "alice", "Bob", "dave", "erin"], ["erin", "dave", "Bob", "alice", "carol"]),
    "meta.lastModified": (["Bob", "dave", "erin", "alice", "carol"], ["carol", "alice", "erin", "dave", "Bob"]),
    "title": (["erin", "carol", "alice", "Bob", "dave"], ["Bob", "carol", "alice", "erin", "dave"]),
    "name.familyName": (["erin", "carol", "alice", "Bob", "dave"], ["Bob", "carol", "alice", "erin", "dave"]),
    "emails": (["alice", "Bob", "carol", "erin", "dave"], ["erin", "carol", "Bob", "alice", "dave"]),
    "emails.value": (["alice", "Bob", "carol", "erin", "dave"], ["erin", "carol", "Bob", "alice", "dave"]),
    f"{ENTERPRISE}:department": (["carol", "alice", "dave", "Bob", "erin"], ["alice", "dave", "carol", "Bob", "erin"]),
}


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize("sort_by", SORTS.keys())
def test_sort_table(scim, sortable, sort_by, order):
    expected = SORTS[sort_by][order == "descending"]
    params = {"sortBy": sort_by, "sortOrder": order}
    assert names(ok(scim.get("/Users", query_string=params))) == expected
    if order == "ascending":  # the default order
        assert names(ok(scim.get("/Users", query_string={"sortBy": sort_by}))) == expected
    # The same order page by page, whatever the page size: ties are broken the same way every time.
    for size in (1, 2, 3):
        paged = []
        for start in range(1, 6, size):
            body = ok(scim.get("/Users", query_string={**params, "startIndex": start, "count": size}))
            assert body["totalResults"] == 5
            paged += names(body)
        assert paged == expected, size
    # And through POST /Users/.search.
    assert names(ok(scim.post("/Users/.search", {"schemas": [SEARCH], **params}))) == expected


def test_sort_ties_break_by_creation_then_id(scim, sortable):
    """Within equal keys (title engineer/Engineer, familyName Lee/lee, department Sales/sales), creation order."""
    created = {n: u["meta"]["created"] for n, u in sortable.items()}
    for sort_by, tie in (("title", ("carol", "alice")), ("name.familyName", ("carol", "alice")),
                         (f"{ENTERPRISE}:department", ("alice", "dave"))):
        got = names(ok(scim.get("/Users", query_string={"sortBy": sort_by})))
        first, second = tie
        assert created[first] < created[second]
        assert got.index(first) + 1 == got.index(second), (sort_by, got)


def test_sort_groups(scim, sortable):
    for name in ("beta", "Alpha", "gamma", "ALPHA"):
        scim.create_group(name)
        time.sleep(0.005)
    groups = lambda **p: names(ok(scim.get("/Groups", query_string=p)))  # noqa: E731
    assert groups(sortBy="displayName") == ["Alpha", "ALPHA", "beta", "gamma"]
    assert groups(sortBy="displayName", sortOrder="descending") == ["gamma", "beta", "Alpha", "ALPHA"]
    assert groups(sortBy="meta.created", sortOrder="descending") == ["ALPHA", "gamma", "Alpha", "beta"]
    assert groups(sortBy="displayName", startIndex=2, count=2) == ["ALPHA", "beta"]


@pytest.mark.parametrize("endpoint,sort_by", [
    ("/Users", "meta"), ("/Users", "meta.location"), ("/Users", "meta.resourceType"), ("/Users", "name.nope"),
    ("/Users", ENTERPRISE), ("/Users", f"{ENTERPRISE}:manager"), ("/Users", f"{ENTERPRISE}:nope"),
    ("/Users", "members"), ("/Users", "emails.value eq"), ("/Users", "addresses"),
    ("/Groups", "userName"), ("/Groups", "members"), ("/Groups", "members.value"), ("/Groups", "title"),
])
def test_invalid_sort_by_is_400(scim, sortable, endpoint, sort_by):
    assert_error(scim.get(endpoint, query_string={"sortBy": sort_by}), 400, "invalidValue")
    assert_error(scim.post(f"{endpoint}/.search", {"schemas": [SEARCH], "sortBy": sort_by}), 400, "invalidValue")


# ---------------------------------------------------------------------------- ETags

def etag_of(scim, path: str) -> str:
    resp = scim.get(path)
    body = ok(resp)
    assert resp.headers["ETag"] == body["meta"]["version"]
    return resp.headers["ETag"]


def test_post_answers_with_etag_and_location(scim):
    for path, body in (("/Users", {"schemas": [USER], "userName": "x"}),
                       ("/Groups", {"schemas": [GROUP], "displayName": "x"})):
        resp = scim.post(path, body)
        created = ok(resp, 201)
        assert resp.headers["ETag"] == 'W/"1"' == created["meta"]["version"]
        assert resp.headers["Location"] == created["meta"]["location"]
        assert etag_of(scim, resp.headers["Location"].split("/scim/v2", 1)[1]) == 'W/"1"'


def _user_steps(uid):
    p = f"/Users/{uid}"
    rep = {"schemas": [USER], "userName": "u", "title": "a", "emails": [{"value": "x@y.example"}]}
    return [
        ("PATCH title", lambda s: s.patch(p, [{"op": "replace", "path": "title", "value": "a"}]), True),
        ("PATCH same title", lambda s: s.patch(p, [{"op": "replace", "path": "title", "value": "a"}]), False),
        ("PATCH remove absent", lambda s: s.patch(p, [{"op": "remove", "path": "nickName"}]), False),
        ("PATCH add email", lambda s: s.patch(p, [{"op": "add", "path": "emails",
                                                   "value": [{"value": "x@y.example"}]}]), True),
        ("PUT identical", lambda s: s.put(p, rep), False),
        ("PUT changed", lambda s: s.put(p, {**rep, "displayName": "U"}), True),
        ("PATCH extension", lambda s: s.patch(p, [{"op": "add", "path": f"{ENTERPRISE}:department",
                                                   "value": "D"}]), True),
        ("PATCH same extension value, path-less", lambda s: s.patch(p, [{"op": "replace", "value": {
            ENTERPRISE: {"department": "D"}}}]), False),
        ("PATCH remove extension", lambda s: s.patch(p, [{"op": "remove", "path": ENTERPRISE}]), True),
    ]


def _group_steps(gid, member):
    p = f"/Groups/{gid}"
    add = [{"op": "add", "path": "members", "value": [{"value": member}]}]
    return [
        ("PATCH add member", lambda s: s.patch(p, add), True),
        ("PATCH add same member", lambda s: s.patch(p, add), False),
        ("PATCH same displayName", lambda s: s.patch(p, [{"op": "replace", "path": "displayName", "value": "g"}]),
         False),
        ("PATCH remove member", lambda s: s.patch(p, [{"op": "remove", "path": f'members[value eq "{member}"]'}]),
         True),
        ("PATCH remove absent member", lambda s: s.patch(p, [{"op": "remove",
                                                              "path": f'members[value eq "{member}"]'}]), False),
        ("PUT identical", lambda s: s.put(p, {"schemas": [GROUP], "displayName": "g"}), False),
        ("PUT renamed with member", lambda s: s.put(p, {"schemas": [GROUP], "displayName": "g2",
                                                        "members": [{"value": member}]}), True),
        ("member deleted", lambda s: s.delete(f"/Users/{member}"), True),
    ]


@pytest.mark.parametrize("kind", ["User", "Group"])
def test_version_grows_on_every_change_and_not_on_no_ops(scim, kind):
    if kind == "User":
        uid = scim.create_user("u")["id"]
        path, steps = f"/Users/{uid}", _user_steps(uid)
    else:
        member = scim.create_user("m")["id"]
        gid = scim.create_group("g")["id"]
        path, steps = f"/Groups/{gid}", _group_steps(gid, member)
    version = 1
    last_modified = ok(scim.get(path))["meta"]["lastModified"]
    for label, step, changes in steps:
        time.sleep(0.003)
        resp = step(scim)
        assert resp.status_code in (200, 204), (label, resp.get_data(as_text=True))
        version += changes
        if resp.request.path.startswith(f"/scim/v2{path}"):  # the write on this resource answers its ETag
            assert resp.headers.get("ETag") == f'W/"{version}"', label
        assert etag_of(scim, path) == f'W/"{version}"', label
        meta = ok(scim.get(path))["meta"]
        assert (meta["lastModified"] > last_modified) == changes, label
        last_modified = meta["lastModified"]


@pytest.fixture(params=["User", "Group"])
def at_version_2(request, scim):
    """A user or group changed once (version 2), its path, and a valid PUT body / PATCH for it."""
    if request.param == "User":
        rid = scim.create_user("target", title="one")["id"]
        path = f"/Users/{rid}"
        ok(scim.patch(path, [{"op": "replace", "path": "title", "value": "two"}]))
        put = {"schemas": [USER], "userName": "target", "title": "put"}
        patch = [{"op": "replace", "path": "title", "value": "patched"}]
        read = lambda body: body["title"]  # noqa: E731
    else:
        rid = scim.create_group("target")["id"]
        path = f"/Groups/{rid}"
        assert scim.patch(path, [{"op": "replace", "path": "displayName", "value": "two"}]).status_code == 204
        put = {"schemas": [GROUP], "displayName": "put"}
        patch = [{"op": "replace", "path": "displayName", "value": "patched"}]
        read = lambda body: body["displayName"]  # noqa: E731
    assert etag_of(scim, path) == 'W/"2"'
    return {"path": path, "put": put, "patch": patch, "read": read}


IF_MATCH = {
    "current weak": ('W/"2"', True),
    "current strong": ('"2"', True),
    "star": ("*", True),
    "list holding current": ('W/"1", W/"2"', True),
    "list of strong, holding current": ('"7", "2"', True),
    "stale weak": ('W/"1"', False),
    "stale strong": ('"1"', False),
    "future": ('W/"3"', False),
    "list without current": ('W/"1", "3"', False),
    "unquoted": ("2", False),
    "lower-case weak prefix": ('w/"2"', False),
}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("header,matches", IF_MATCH.values(), ids=IF_MATCH.keys())
def test_if_match(scim, at_version_2, method, header, matches):
    path = at_version_2["path"]
    before = ok(scim.get(path))
    h = {"If-Match": header}
    if method == "PUT":
        resp = scim.put(path, at_version_2["put"], headers=h)
    elif method == "PATCH":
        resp = scim.patch(path, at_version_2["patch"], headers=h)
    else:
        resp = scim.delete(path, headers=h)
    if not matches:
        assert_error(resp, 412, "invalidVers")
        assert ok(scim.get(path)) == before  # nothing changed, the version included
        return
    if method == "DELETE":
        assert resp.status_code == 204 and resp.get_data() == b""
        assert_error(scim.get(path), 404)
        return
    assert resp.status_code in (200, 204), resp.get_data(as_text=True)
    assert resp.headers["ETag"] == 'W/"3"'
    after = ok(scim.get(path))
    assert after["meta"]["version"] == 'W/"3"'
    assert at_version_2["read"](after) == ("put" if method == "PUT" else "patched")


def test_if_match_on_a_missing_resource_is_404(scim):
    assert_error(scim.put("/Users/nope", {"schemas": [USER], "userName": "x"}, headers={"If-Match": "*"}), 404)
    assert_error(scim.delete("/Groups/nope", headers={"If-Match": 'W/"1"'}), 404)


IF_NONE_MATCH = {
    "current weak": ('W/"2"', True),
    "current strong": ('"2"', True),
    "star": ("*", True),
    "list holding current": ('"1", W/"2"', True),
    "stale": ('W/"1"', False),
    "future": ('"3"', False),
}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("header,matches", IF_NONE_MATCH.values(), ids=IF_NONE_MATCH.keys())
def test_if_none_match(scim, at_version_2, method, header, matches):
    path = at_version_2["path"]
    resp = scim.request(method, path, headers={"If-None-Match": header})
    assert resp.headers["ETag"] == 'W/"2"'
    if matches:
        assert resp.status_code == 304
        assert resp.get_data() == b""
    else:
        assert resp.status_code == 200
        if method == "GET":
            assert resp.get_json()["meta"]["version"] == 'W/"2"'
        else:
            assert resp.get_data() == b""


def test_if_none_match_with_projection_is_still_304(scim, at_version_2):
    path = at_version_2["path"]
    resp = scim.get(path, query_string={"attributes": "id"}, headers={"If-None-Match": 'W/"2"'})
    assert resp.status_code == 304 and resp.get_data() == b""


def test_if_none_match_sees_a_change_made_by_another_request(scim, at_version_2):
    path = at_version_2["path"]
    if path.startswith("/Users"):
        ok(scim.patch(path, [{"op": "replace", "path": "title", "value": "three"}]))
    else:
        scim.patch(path, [{"op": "replace", "path": "displayName", "value": "three"}])
    resp = scim.get(path, headers={"If-None-Match": 'W/"2"'})
    assert ok(resp)["meta"]["version"] == 'W/"3"' == resp.headers["ETag"]

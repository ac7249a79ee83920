"""Custom schema extensions declared in configuration (``SCIM_EXTENSIONS``): published under /Schemas and
/ResourceTypes, stored and returned, filtered (the SQL agrees with ``paths.evaluate``, the in-memory reference),
sorted by type (numbers as numbers, dateTimes as instants, caseExact strings by code point), patched through URN
paths, the bare extension URN and path-less URN keys, projected with attributes/excludedAttributes; undeclared
extension URNs are refused with a detail that names them; invalid declarations stop create_app with ValueError.
The setting may be a Python list, JSON text in SCIMAPP_SCIM_EXTENSIONS, or the path of a JSON file."""
from __future__ import annotations

import copy
import json
import time

import pytest

from scimapp import create_app
from scimapp.scim.filter import parse_filter
from scimapp.scim.paths import PathError, evaluate
from tests.conftest import ScimClient

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_MEDIA = "application/scim+json"

CONTOSO = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
CONTOSO_GROUP = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:Group"
P = CONTOSO + ":"
G = CONTOSO_GROUP + ":"

EXTENSIONS = [
    {"id": CONTOSO, "name": "ContosoUser", "description": "Contoso's user attributes", "resourceType": "User",
     "attributes": [
         {"name": "costCenter", "type": "string", "description": "Cost centre"},
         {"name": "badgeCode", "type": "string", "caseExact": True},
         {"name": "remote", "type": "boolean"},
         {"name": "level", "type": "integer"},
         {"name": "score", "type": "decimal"},
         {"name": "hiredAt", "type": "dateTime"},
         {"name": "tags", "type": "string", "multiValued": True},
         {"name": "office", "type": "complex", "subAttributes": [
             {"name": "building", "type": "string"},
             {"name": "floor", "type": "integer"},
             {"name": "deskCode", "type": "string", "caseExact": True}]},
         {"name": "secretNote", "type": "string", "mutability": "writeOnly", "returned": "never"},
         {"name": "legacyId", "type": "string", "mutability": "readOnly", "returned": "always",
          "uniqueness": "server"},
     ]},
    {"id": CONTOSO_GROUP, "resourceType": "Group", "description": "Contoso's group attributes", "attributes": [
        {"name": "mailEnabled", "type": "boolean"},
        {"name": "groupCode", "type": "string", "caseExact": True},
        {"name": "rank", "type": "integer"}]},
]


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
    return [r.get("userName", r.get("displayName")) for r in listing["Resources"]]


def client_for(app) -> ScimClient:
    from scimapp import tokens
    with app.app_context():
        secret = tokens.create("pytest", "pytest")[1]
    return ScimClient(app.test_client(), secret)


def dispose(app) -> None:
    from scimapp.extensions import db
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def ext_app(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path / "ext", "TESTING": True, "SCIM_EXTENSIONS": EXTENSIONS})
    yield app
    dispose(app)


@pytest.fixture
def ext(ext_app) -> ScimClient:
    return client_for(ext_app)


def new_user(scim, name: str, ext: dict | None = None, **attrs) -> dict:
    body = {"schemas": [USER] + ([CONTOSO] if ext is not None else []), "userName": name, **attrs}
    if ext is not None:
        body[CONTOSO] = ext
    return ok(scim.post("/Users", body), 201)


# ---------------------------------------------------------------------------- discovery

def attr_def(name, type_="string", **kw):
    """An attribute as /Schemas publishes it: every RFC 7643 §2.2 characteristic, defaults filled."""
    out = {"name": name, "type": type_, "multiValued": False, "description": "", "required": False,
           "caseExact": False, "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
    out.update(kw)
    return out


CONTOSO_PUBLISHED = [
    attr_def("costCenter", description="Cost centre"),
    attr_def("badgeCode", caseExact=True),
    attr_def("remote", "boolean"),
    attr_def("level", "integer"),
    attr_def("score", "decimal"),
    attr_def("hiredAt", "dateTime"),
    attr_def("tags", multiValued=True),
    attr_def("office", "complex", subAttributes=[attr_def("building"), attr_def("floor", "integer"),
                                                 attr_def("deskCode", caseExact=True)]),
    attr_def("secretNote", mutability="writeOnly", returned="never"),
    attr_def("legacyId", mutability="readOnly", returned="always", uniqueness="server"),
]


def test_schemas_lists_the_extensions_with_full_characteristics(ext):
    listed = ok(ext.get("/Schemas"))
    by_id = {s["id"]: s for s in listed["Resources"]}
    assert set(by_id) == {USER, GROUP, ENTERPRISE, CONTOSO, CONTOSO_GROUP}
    assert listed["totalResults"] == 5
    contoso = by_id[CONTOSO]
    assert contoso["name"] == "ContosoUser" and contoso["description"] == "Contoso's user attributes"
    assert contoso["attributes"] == CONTOSO_PUBLISHED
    assert contoso["meta"] == {"resourceType": "Schema", "location": f"http://localhost/scim/v2/Schemas/{CONTOSO}"}
    group = by_id[CONTOSO_GROUP]
    assert group["name"] == "Contoso"  # no name given: taken from the URN
    assert group["attributes"] == [attr_def("mailEnabled", "boolean"), attr_def("groupCode", caseExact=True),
                                   attr_def("rank", "integer")]
    # One schema by id, in any case.
    assert ok(ext.get(f"/Schemas/{CONTOSO}")) == contoso
    assert ok(ext.get(f"/Schemas/{CONTOSO.lower()}")) == contoso


def test_resource_types_list_the_extensions(ext):
    types = {t["id"]: t for t in ok(ext.get("/ResourceTypes"))["Resources"]}
    assert types["User"]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False},
                                                 {"schema": CONTOSO, "required": False}]
    assert types["Group"]["schemaExtensions"] == [{"schema": CONTOSO_GROUP, "required": False}]
    assert ok(ext.get("/ResourceTypes/User")) == types["User"]


def test_without_the_setting_nothing_extra_is_published(scim):
    ids = {s["id"] for s in ok(scim.get("/Schemas"))["Resources"]}
    assert ids == {USER, GROUP, ENTERPRISE}
    assert ok(scim.get("/ResourceTypes/Group"))["schemaExtensions"] == []
    assert_error(scim.post("/Users", {"schemas": [USER, CONTOSO], "userName": "x", CONTOSO: {"level": 1}}), 400)


# ---------------------------------------------------------------------------- storing and returning

FULL = {"costCenter": "CC-1", "badgeCode": "AbC", "remote": True, "level": 10, "score": 2.75,
        "hiredAt": "2024-01-01T10:00:00+02:00", "tags": ["red", "Blue"],
        "office": {"building": "North", "floor": 3, "deskCode": "D-1"}}


def test_post_stores_the_extension_and_get_returns_it(ext):
    sent = {**FULL, "secretNote": "whisper", "legacyId": "L-1"}
    created = new_user(ext, "full", sent, title="T")
    assert created["schemas"] == [USER, CONTOSO]
    assert created[CONTOSO] == FULL  # readOnly legacyId ignored, writeOnly secretNote never returned
    got = ok(ext.get(f"/Users/{created['id']}"))
    assert got == created
    listed = ok(ext.get("/Users", query_string={"filter": 'userName eq "full"'}))["Resources"]
    assert listed == [created]
    # The write-only value was not stored either: nothing to find.
    assert ok(ext.get("/Users", query_string={"attributes": P + "secretNote"}))["Resources"][0].get(CONTOSO) is None


def test_values_are_coerced_to_their_declared_types(ext):
    created = new_user(ext, "coerced", {"remote": "False", "level": "7", "score": "1.5", "tags": "solo",
                                        "office": {"floor": "4"}})
    assert created[CONTOSO] == {"remote": False, "level": 7, "score": 1.5, "tags": ["solo"], "office": {"floor": 4}}


@pytest.mark.parametrize("ext_value", [
    {"level": "ten"}, {"level": 1.5}, {"score": "much"}, {"remote": "maybe"}, {"hiredAt": "yesterday"},
    {"tags": [1]}, {"office": "x"}, {"office": {"floor": "high"}}, {"costCenter": 5}, "not an object",
])
def test_wrong_values_are_400_and_store_nothing(ext, ext_value):
    resp = ext.post("/Users", {"schemas": [USER, CONTOSO], "userName": "bad", CONTOSO: ext_value})
    assert_error(resp, 400)
    assert ok(ext.get("/Users"))["totalResults"] == 0


def test_declared_urn_in_another_case_is_the_same_extension(ext):
    created = ok(ext.post("/Users", {"schemas": [USER], "userName": "cased", CONTOSO.upper(): {"level": 2}}), 201)
    assert created[CONTOSO] == {"level": 2} and CONTOSO in created["schemas"]


def test_put_replaces_and_removes_the_extension(ext):
    uid = new_user(ext, "p", FULL)["id"]
    body = ok(ext.put(f"/Users/{uid}", {"schemas": [USER, CONTOSO], "userName": "p", CONTOSO: {"level": 3}}))
    assert body[CONTOSO] == {"level": 3}
    body = ok(ext.put(f"/Users/{uid}", {"schemas": [USER], "userName": "p"}))
    assert CONTOSO not in body and body["schemas"] == [USER]
    assert ok(ext.get(f"/Users/{uid}")) == body
    assert ok(ext.get("/Users", query_string={"filter": P + "level pr"}))["totalResults"] == 0


def test_group_extension_round_trip(ext):
    created = ext.create_group("g", **{CONTOSO_GROUP: {"mailEnabled": "true", "groupCode": "Gx", "rank": 5}})
    assert created["schemas"] == [GROUP, CONTOSO_GROUP]
    assert created[CONTOSO_GROUP] == {"mailEnabled": True, "groupCode": "Gx", "rank": 5}
    assert ok(ext.get(f"/Groups/{created['id']}")) == created


def test_required_attribute_of_an_optional_extension_binds_only_its_users(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path / "req", "TESTING": True, "SCIM_EXTENSIONS": [
        {"id": "urn:example:params:scim:schemas:extension:Req:2.0:User",
         "attributes": [{"name": "badge", "required": True}]}]})
    try:
        scim = client_for(app)
        # With the extension, its required attribute must be there.
        assert_error(scim.post("/Users", {"userName": "with", "urn:example:params:scim:schemas:extension:Req:2.0:User":
                                          {"other": "x"}}), 400)
        # Without the extension (RFC 7643 §3.3: required false, "MAY omit this schema extension"): accepted.
        ok(scim.post("/Users", {"schemas": [USER], "userName": "plain"}), 201)
    finally:
        dispose(app)


# ---------------------------------------------------------------------------- filtering

USERS = {
    "u1": {"costCenter": "CC-Alpha", "badgeCode": "AbC", "remote": True, "level": 9, "score": 2.5,
           "hiredAt": "2024-01-01T10:00:00+02:00", "tags": ["red", "Blue"],
           "office": {"building": "North", "floor": 3, "deskCode": "D-1"}},
    "u2": {"costCenter": "cc-beta", "badgeCode": "abc", "remote": False, "level": 10, "score": -1,
           "hiredAt": "2024-01-01T09:00:00Z", "tags": ["green"], "office": {"building": "south", "floor": 12}},
    "u3": {"costCenter": "CC-alpha", "level": 100, "score": 10.25, "hiredAt": "2023-12-31T23:00:00-05:00"},
    "u4": {"badgeCode": "XYZ", "remote": True, "tags": ["blue", "RED"], "office": {"deskCode": "d-1"}},
    "u5": None,
    "u6": {"costCenter": "", "level": 0, "remote": False, "score": 0.0},
}
# Instants of hiredAt: u3 2024-01-01T04:00Z < u1 08:00Z < u2 09:00Z (as text the order would be u3, u2, u1).


class Loaded:
    def __init__(self, app, scim):
        self.app, self.scim = app, scim
        self.ids: dict[str, str] = {}
        self.reps: dict[str, dict] = {}
        self.rt = app.extensions["scim_registry"].user

    def name(self, uid: str) -> str:
        return next(n for n, i in self.ids.items() if i == uid)

    def sql(self, flt: str) -> list[str]:
        body = ok(self.scim.get("/Users", query_string={"filter": flt, "count": 100}))
        return sorted(names(body))

    def reference(self, flt: str) -> list[str]:
        node = parse_filter(flt)
        return sorted(self.name(uid) for uid, rep in self.reps.items() if evaluate(self.rt, node, rep))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    app = create_app({"INSTANCE_PATH": tmp_path_factory.mktemp("extfilter") / "instance", "TESTING": True,
                      "SCIM_EXTENSIONS": EXTENSIONS})
    scim = client_for(app)
    d = Loaded(app, scim)
    for name, ext_value in USERS.items():
        created = new_user(scim, name, ext_value, **({"title": "T"} if name in ("u2", "u5") else {}))
        time.sleep(0.003)  # distinct meta.created: ties and missing values keep creation order
        d.ids[name] = created["id"]
        d.reps[created["id"]] = ok(scim.get(f"/Users/{created['id']}"))
    yield d
    dispose(app)


FILTERS = {
    # string (caseExact false)
    P + 'costCenter eq "cc-alpha"': ["u1", "u3"],
    P + 'costCenter eq "CC-ALPHA"': ["u1", "u3"],
    P + 'costCenter ne "cc-alpha"': ["u2", "u4", "u5", "u6"],
    P + 'costCenter co "ALPHA"': ["u1", "u3"],
    P + 'costCenter sw "CC-"': ["u1", "u2", "u3"],
    P + 'costCenter ew "Beta"': ["u2"],
    P + 'costCenter gt "cc-alpha"': ["u2"],
    P + 'costCenter ge "cc-alpha"': ["u1", "u2", "u3"],
    P + 'costCenter lt "cc-b"': ["u1", "u3"],
    P + 'costCenter le "cc-alpha"': ["u1", "u3"],
    P + "costCenter pr": ["u1", "u2", "u3"],  # u6's "" is no value
    P + "costCenter eq null": ["u4", "u5", "u6"],
    # string (caseExact true)
    P + 'badgeCode eq "abc"': ["u2"],
    P + 'badgeCode eq "AbC"': ["u1"],
    P + 'badgeCode ne "abc"': ["u1", "u3", "u4", "u5", "u6"],
    P + 'badgeCode co "b"': ["u1", "u2"],
    P + 'badgeCode sw "A"': ["u1"],
    P + 'badgeCode ew "C"': ["u1"],
    P + 'badgeCode gt "X"': ["u2", "u4"],  # code points: "X" < "XYZ" < "abc"
    P + 'badgeCode lt "a"': ["u1", "u4"],
    P + "badgeCode pr": ["u1", "u2", "u4"],
    # boolean
    P + "remote eq true": ["u1", "u4"],
    P + "remote eq false": ["u2", "u6"],
    P + "remote ne true": ["u2", "u3", "u5", "u6"],
    P + "remote ne false": ["u1", "u3", "u4", "u5"],
    P + 'remote eq "TRUE"': ["u1", "u4"],
    P + "remote pr": ["u1", "u2", "u4", "u6"],
    # integer
    P + "level eq 10": ["u2"],
    P + 'level eq "10"': ["u2"],
    P + "level ne 10": ["u1", "u3", "u4", "u5", "u6"],
    P + "level gt 9": ["u2", "u3"],
    P + "level ge 10": ["u2", "u3"],
    P + "level lt 10": ["u1", "u6"],
    P + "level le 9": ["u1", "u6"],
    P + "level gt 9.5": ["u2", "u3"],
    P + "level eq 0": ["u6"],
    P + "level pr": ["u1", "u2", "u3", "u6"],
    P + "level gt 9 and " + P + "level lt 100": ["u2"],
    # decimal
    P + "score gt 0": ["u1", "u3"],
    P + "score ge 2.5": ["u1", "u3"],
    P + "score lt 0": ["u2"],
    P + "score le 0": ["u2", "u6"],
    P + "score eq -1": ["u2"],
    P + "score eq 10.25": ["u3"],
    P + "score ne 2.5": ["u2", "u3", "u4", "u5", "u6"],
    P + "score gt -1.5": ["u1", "u2", "u3", "u6"],
    # dateTime (compared as instants, whatever the zone they were written in)
    P + 'hiredAt eq "2024-01-01T08:00:00Z"': ["u1"],
    P + 'hiredAt eq "2024-01-01T03:00:00-01:00"': ["u3"],
    P + 'hiredAt gt "2024-01-01T08:30:00Z"': ["u2"],
    P + 'hiredAt ge "2024-01-01T08:00:00Z"': ["u1", "u2"],
    P + 'hiredAt lt "2024-01-01T05:00:00+01:00"': [],
    P + 'hiredAt le "2024-01-01T05:00:00+01:00"': ["u3"],
    P + 'hiredAt ne "2024-01-01T09:00:00Z"': ["u1", "u3", "u4", "u5", "u6"],
    P + "hiredAt pr": ["u1", "u2", "u3"],
    # multi-valued string
    P + 'tags eq "blue"': ["u1", "u4"],
    P + 'tags co "E"': ["u1", "u2", "u4"],
    P + 'tags sw "r"': ["u1", "u4"],
    P + 'tags ew "n"': ["u2"],
    P + 'tags ne "red"': ["u2", "u3", "u5", "u6"],
    P + "tags pr": ["u1", "u2", "u4"],
    P + 'tags[value eq "Red"]': ["u1", "u4"],
    P + 'tags[value sw "b" or value eq "green"]': ["u1", "u2", "u4"],
    P + 'tags[not (value eq "red")]': ["u1", "u2", "u4"],
    "not (" + P + 'tags eq "red")': ["u2", "u3", "u5", "u6"],
    # complex
    P + 'office.building eq "north"': ["u1"],
    P + "office.floor gt 5": ["u2"],
    P + "office.floor le 3": ["u1"],
    P + 'office.deskCode eq "d-1"': ["u4"],
    P + 'office.deskCode eq "D-1"': ["u1"],
    P + "office pr": ["u1", "u2", "u4"],
    P + "office.building pr": ["u1", "u2"],
    P + 'office[building eq "NORTH" and floor lt 5]': ["u1"],
    P + 'office[building eq "south" and floor lt 5]': [],
    P + "office[deskCode pr]": ["u1", "u4"],
    "not (" + P + "office.floor gt 5)": ["u1", "u3", "u4", "u5", "u6"],
    # combined with core attributes, unqualified extension names (unique among the extensions)
    'title eq "t" and ' + P + "level gt 9": ["u2"],
    P + "remote eq true or " + P + "score lt 0": ["u1", "u2", "u4"],
    "level ge 10": ["u2", "u3"],
    'tags eq "green" or title pr': ["u2", "u5"],
    P.upper() + 'COSTCENTER eq "cc-beta"': ["u2"],
}


@pytest.mark.parametrize("flt", FILTERS.keys())
def test_filter_agrees_with_the_reference_and_the_hand_checked_result(loaded, flt):
    got = loaded.sql(flt)
    assert got == loaded.reference(flt), flt
    assert got == FILTERS[flt], flt


@pytest.mark.parametrize("flt", [
    P + "remote gt true", P + 'level co "1"', P + 'score sw "2"', P + 'hiredAt co "2024"',
    P + 'hiredAt eq "yesterday"', P + 'level eq "ten"', P + 'office eq "x"', P + 'nope eq "x"',
    P + 'tags[type eq "x"]', P + 'secretNote eq "s"', P + "badgeCode gt true", P + "office.nope pr",
    G + "rank eq 1",  # the Group extension on /Users
])
def test_invalid_extension_filters_are_400_and_the_reference_refuses_them_too(loaded, flt):
    assert_error(loaded.scim.get("/Users", query_string={"filter": flt}), 400, "invalidFilter")
    with pytest.raises(PathError):
        loaded.reference(flt)


def test_group_extension_filters(ext):
    groups = {"a": {"mailEnabled": True, "groupCode": "Gx", "rank": 5},
              "b": {"mailEnabled": False, "groupCode": "gx", "rank": 40},
              "c": {"rank": 300}, "d": None}
    rt = ext.client.application.extensions["scim_registry"].group
    reps = []
    for name, value in groups.items():
        reps.append(ext.create_group(name, **({CONTOSO_GROUP: value} if value else {})))
        time.sleep(0.003)
    for flt, expected in [(G + 'groupCode eq "gx"', ["b"]), (G + "mailEnabled eq true", ["a"]),
                          (G + "rank gt 10", ["b", "c"]), (G + "rank pr", ["a", "b", "c"]),
                          (G + "mailEnabled ne true", ["b", "c", "d"]), ('displayName eq "d" or ' + G + "rank lt 6",
                                                                         ["a", "d"])]:
        got = sorted(names(ok(ext.get("/Groups", query_string={"filter": flt}))))
        node = parse_filter(flt)
        assert got == sorted(r["displayName"] for r in reps if evaluate(rt, node, r)) == expected, flt
    # At the root, a Group-extension filter finds only groups.
    assert names(ok(ext.get("/", query_string={"filter": G + "rank gt 10"}))) == ["b", "c"]


# ---------------------------------------------------------------------------- sorting

SORTS = {
    # (ascending, descending); no value sorts last both ways, ties keep creation order
    "level": (["u6", "u1", "u2", "u3", "u4", "u5"], ["u3", "u2", "u1", "u6", "u4", "u5"]),  # as text: 0,10,100,9
    "score": (["u2", "u6", "u1", "u3", "u4", "u5"], ["u3", "u1", "u6", "u2", "u4", "u5"]),  # as text: -1,0,10.25,2.5
    "hiredAt": (["u3", "u1", "u2", "u4", "u5", "u6"], ["u2", "u1", "u3", "u4", "u5", "u6"]),
    "costCenter": (["u1", "u3", "u2", "u4", "u5", "u6"], ["u2", "u1", "u3", "u4", "u5", "u6"]),
    "badgeCode": (["u1", "u4", "u2", "u3", "u5", "u6"], ["u2", "u4", "u1", "u3", "u5", "u6"]),
    "remote": (["u2", "u6", "u1", "u4", "u3", "u5"], ["u1", "u4", "u2", "u6", "u3", "u5"]),
    "tags": (["u4", "u2", "u1", "u3", "u5", "u6"], ["u1", "u2", "u4", "u3", "u5", "u6"]),  # by the first value
    "office.floor": (["u1", "u2", "u3", "u4", "u5", "u6"], ["u2", "u1", "u3", "u4", "u5", "u6"]),  # text: 12 < 3
    "office.deskCode": (["u1", "u4", "u2", "u3", "u5", "u6"], ["u4", "u1", "u2", "u3", "u5", "u6"]),
}


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize("attr", SORTS.keys())
def test_sort_by_extension_attributes(loaded, attr, order):
    expected = SORTS[attr][order == "descending"]
    params = {"sortBy": P + attr, "sortOrder": order}
    assert names(ok(loaded.scim.get("/Users", query_string=params))) == expected
    paged = []
    for start in (1, 3, 5):
        paged += names(ok(loaded.scim.get("/Users", query_string={**params, "startIndex": start, "count": 2})))
    assert paged == expected
    assert names(ok(loaded.scim.post("/Users/.search", {"schemas": [SEARCH], **params}))) == expected


def test_sort_by_unqualified_extension_attribute(loaded):
    assert names(ok(loaded.scim.get("/Users", query_string={"sortBy": "level"}))) == SORTS["level"][0]


@pytest.mark.parametrize("sort_by", [P + "office", CONTOSO, P + "nope", P + "secretNote", G + "rank"])
def test_unsortable_extension_paths_are_400(loaded, sort_by):
    assert_error(loaded.scim.get("/Users", query_string={"sortBy": sort_by}), 400, "invalidValue")


def test_sort_groups_by_extension_integer(ext):
    for name, rank in (("a", 300), ("b", None), ("c", 40), ("d", 5)):
        ext.create_group(name, **({CONTOSO_GROUP: {"rank": rank}} if rank else {}))
    sort = lambda order: names(ok(ext.get("/Groups", query_string={"sortBy": G + "rank",  # noqa: E731
                                                                    "sortOrder": order})))
    assert sort("ascending") == ["d", "c", "a", "b"]
    assert sort("descending") == ["a", "c", "d", "b"]


# ---------------------------------------------------------------------------- PATCH

START = {"costCenter": "C1", "level": 1, "tags": ["x"], "office": {"building": "N", "floor": 1}}


def changed(**kw) -> dict:
    out = copy.deepcopy(START)
    for k, v in kw.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


PATCHES = {
    "replace through a URN path (string coerced)": ([{"op": "replace", "path": P + "level", "value": "7"}],
                                                    changed(level=7)),
    "add to a multi-valued attribute appends": ([{"op": "add", "path": P + "tags", "value": ["y"]}],
                                                changed(tags=["x", "y"])),
    "replace a multi-valued attribute": ([{"op": "replace", "path": P + "tags", "value": ["only"]}],
                                         changed(tags=["only"])),
    "replace a sub-attribute": ([{"op": "replace", "path": P + "office.floor", "value": 5}],
                                changed(office={"building": "N", "floor": 5})),
    "add to a complex attribute merges": ([{"op": "add", "path": P + "office", "value": {"deskCode": "D"}}],
                                          changed(office={"building": "N", "floor": 1, "deskCode": "D"})),
    "remove through a value filter": ([{"op": "remove", "path": P + 'tags[value eq "X"]'}], changed(tags=None)),
    "remove an attribute": ([{"op": "remove", "path": P + "costCenter"}], changed(costCenter=None)),
    "remove a sub-attribute": ([{"op": "remove", "path": P + "office.building"}], changed(office={"floor": 1})),
    "add with the bare extension URN as path": (
        [{"op": "add", "path": CONTOSO, "value": {"remote": True, "tags": ["z"]}}],
        changed(remote=True, tags=["x", "z"])),
    "replace with the bare extension URN as path keeps what is not named": (
        [{"op": "replace", "path": CONTOSO, "value": {"level": 3, "office": {"floor": 2}}}],
        changed(level=3, office={"building": "N", "floor": 2})),
    "remove the bare extension URN": ([{"op": "remove", "path": CONTOSO}], None),
    "path-less with the URN as key": ([{"op": "replace", "value": {CONTOSO: {"costCenter": "C2"}}}],
                                      changed(costCenter="C2")),
    "path-less with URN-qualified attribute keys": (
        [{"op": "add", "value": {P + "score": "1.5", P + "office.building": "S"}}],
        changed(score=1.5, office={"building": "S", "floor": 1})),
    "path-less mixing core and extension keys": ([{"op": "replace", "value": {"title": "T", P + "level": 2}}],
                                                 changed(level=2)),
    "URN path in another case": ([{"op": "replace", "path": P.upper() + "LEVEL", "value": 4}], changed(level=4)),
    "unqualified name of an extension attribute": ([{"op": "replace", "path": "level", "value": 5}],
                                                   changed(level=5)),
    "removing every attribute drops the extension": (
        [{"op": "remove", "path": P + a} for a in ("costCenter", "level", "tags", "office")], None),
    "several operations in order": (
        [{"op": "add", "path": P + "tags", "value": "y"}, {"op": "remove", "path": P + 'tags[value eq "x"]'},
         {"op": "replace", "path": P + "hiredAt", "value": "2024-05-01T12:00:00Z"}],
        changed(tags=["y"], hiredAt="2024-05-01T12:00:00Z")),
}

PROBES = [P + "level pr", P + "level eq 1", P + 'tags eq "x"', P + 'tags eq "y"', P + 'office.building eq "n"',
          P + "office.floor gt 1", P + "score eq 1.5", P + "remote eq true", P + 'costCenter eq "c1"', P + "office pr",
          P + 'hiredAt gt "2024-01-01T00:00:00Z"']


@pytest.mark.parametrize("ops,expected", PATCHES.values(), ids=PATCHES.keys())
def test_patch_extension(ext_app, ext, ops, expected):
    uid = new_user(ext, "p", START)["id"]
    body = ok(ext.patch(f"/Users/{uid}", ops))
    assert body.get(CONTOSO) == expected
    assert (CONTOSO in body["schemas"]) == (expected is not None)
    assert body["meta"]["version"] == 'W/"2"'
    got = ok(ext.get(f"/Users/{uid}"))
    assert got == body
    # The filter index follows the change: SQL and the reference agree about this user for every probe.
    rt = ext_app.extensions["scim_registry"].user
    for flt in PROBES:
        hit = ok(ext.get("/Users", query_string={"filter": flt}))["totalResults"] == 1
        assert hit == evaluate(rt, parse_filter(flt), got), flt


BAD_PATCHES = {
    "value of the wrong type": ([{"op": "replace", "path": P + "level", "value": "abc"}], "invalidValue"),
    # The JSON parser reads 1e400 as infinity and takes NaN: stored, they were answered as non-JSON Infinity/NaN; an
    # integer of 400 digits overflowed when indexed (a 500).
    "infinite decimal": ([{"op": "replace", "path": P + "score", "value": float("inf")}], "invalidValue"),
    "NaN decimal": ([{"op": "replace", "path": P + "score", "value": float("nan")}], "invalidValue"),
    "integer beyond a double": ([{"op": "replace", "path": P + "level", "value": 10**400}], "invalidValue"),
    "integer text beyond a double": ([{"op": "replace", "path": P + "office.floor", "value": "9" * 400}],
                                     "invalidValue"),
    "unknown attribute": ([{"op": "add", "path": P + "nope", "value": "x"}], "invalidPath"),
    "read-only attribute": ([{"op": "replace", "path": P + "legacyId", "value": "x"}], "mutability"),
    "bare URN with a non-object value": ([{"op": "replace", "path": CONTOSO, "value": "x"}], "invalidSyntax"),
    "unknown sub-attribute": ([{"op": "replace", "path": P + "office.nope", "value": 1}], "invalidPath"),
    "second operation fails": ([{"op": "replace", "path": P + "level", "value": 2},
                                {"op": "replace", "path": P + "remote", "value": "maybe"}], "invalidValue"),
    "Group extension on a user": ([{"op": "add", "path": G + "rank", "value": 1}], "invalidPath"),
}


@pytest.mark.parametrize("ops,scim_type", BAD_PATCHES.values(), ids=BAD_PATCHES.keys())
def test_bad_extension_patch_changes_nothing(ext, ops, scim_type):
    uid = new_user(ext, "p", START)["id"]
    before = ok(ext.get(f"/Users/{uid}"))
    assert_error(ext.patch(f"/Users/{uid}", ops), 400, scim_type)
    assert ok(ext.get(f"/Users/{uid}")) == before
    assert ok(ext.get("/Users", query_string={"filter": P + "level eq 1"}))["totalResults"] == 1


def test_patch_group_extension(ext):
    gid = ext.create_group("g", **{CONTOSO_GROUP: {"rank": 1}})["id"]
    resp = ext.patch(f"/Groups/{gid}", [{"op": "replace", "path": G + "rank", "value": 6},
                                        {"op": "add", "value": {G + "mailEnabled": True}}])
    assert resp.status_code == 204 and resp.headers["ETag"] == 'W/"2"'
    assert ok(ext.get(f"/Groups/{gid}"))[CONTOSO_GROUP] == {"rank": 6, "mailEnabled": True}
    assert names(ok(ext.get("/Groups", query_string={"filter": G + "rank eq 6 and " + G + "mailEnabled eq true"}))) \
        == ["g"]


# ---------------------------------------------------------------------------- attributes / excludedAttributes

PROJECTIONS = {
    "one extension attribute": ({"attributes": P + "level"}, {"level": 1}, False),
    "the whole extension": ({"attributes": CONTOSO}, START, False),
    "a sub-attribute": ({"attributes": P + "office.floor"}, {"office": {"floor": 1}}, False),
    "unqualified extension name": ({"attributes": "level,userName"}, {"level": 1}, True),
    "core only": ({"attributes": "userName"}, None, True),
    "a never-returned attribute": ({"attributes": P + "secretNote"}, None, False),
    "exclude the extension": ({"excludedAttributes": CONTOSO}, None, True),
    "exclude one attribute": ({"excludedAttributes": P + "office"},
                              {k: v for k, v in START.items() if k != "office"}, True),
    "exclude a sub-attribute": ({"excludedAttributes": P + "office.floor"}, changed(office={"building": "N"}), True),
    "exclude several": ({"excludedAttributes": f"{P}tags,{P}costCenter,{P}level"}, {"office": START["office"]}, True),
}


@pytest.mark.parametrize("params,expected_ext,has_user_name", PROJECTIONS.values(), ids=PROJECTIONS.keys())
def test_projection_selects_extension_attributes(ext, params, expected_ext, has_user_name):
    uid = new_user(ext, "p", START)["id"]
    single = ok(ext.get(f"/Users/{uid}", query_string=params))
    listed = ok(ext.get("/Users", query_string=params))["Resources"][0]
    search = {"schemas": [SEARCH], **{k: v.split(",") for k, v in params.items()}}
    searched = ok(ext.post("/Users/.search", search))["Resources"][0]
    for rep in (single, listed, searched):
        assert rep.get(CONTOSO) == expected_ext, params
        assert (CONTOSO in rep["schemas"]) == (expected_ext is not None)
        assert ("userName" in rep) == has_user_name
        assert rep["id"] == uid


# ---------------------------------------------------------------------------- undeclared extensions

SHORT = "urn:ietf:params:scim:schemas:extension:Fabrikam:2.0:User"
LONG = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"  # Entra's documented example

def _undeclared(kind: str, urn: str, uid: str):
    if kind == "POST":
        return "POST", "/Users", {"schemas": [USER, urn], "userName": "new", urn: {"x": "1"}}
    if kind == "PUT":
        return "PUT", f"/Users/{uid}", {"schemas": [USER, urn], "userName": "p", urn: {"x": "1"}}
    if kind == "PATCH path-less":
        return "PATCH", f"/Users/{uid}", [{"op": "add", "value": {urn: {"x": "1"}}}]
    if kind == "PATCH path-less flat key":
        return "PATCH", f"/Users/{uid}", [{"op": "add", "value": {urn + ":x": "1"}}]
    if kind == "PATCH attribute path":
        return "PATCH", f"/Users/{uid}", [{"op": "add", "path": urn + ":x", "value": "1"}]
    return "PATCH", f"/Users/{uid}", [{"op": "add", "path": urn, "value": {"x": "1"}}]


KINDS = ["POST", "PUT", "PATCH path-less", "PATCH path-less flat key", "PATCH attribute path", "PATCH URN path"]


@pytest.mark.parametrize("kind,urn", [
    *[(k, SHORT) for k in KINDS],
    *[(k, LONG) for k in KINDS],
])
def test_undeclared_extension_urn_is_400_naming_it(ext, kind, urn):
    uid = new_user(ext, "p", START)["id"]
    before = ok(ext.get(f"/Users/{uid}"))
    method, path, body = _undeclared(kind, urn, uid)
    resp = ext.patch(path, body) if method == "PATCH" else ext.request(method, path, body)
    detail = assert_error(resp, 400)["detail"]
    assert urn in detail, detail
    assert ok(ext.get(f"/Users/{uid}")) == before
    assert ok(ext.get("/Users"))["totalResults"] == 1


def test_user_extension_on_a_group_is_400_naming_it(ext):
    detail = assert_error(ext.post("/Groups", {"schemas": [GROUP, CONTOSO], "displayName": "g",
                                               CONTOSO: {"level": 1}}), 400)["detail"]
    assert CONTOSO in detail
    assert ok(ext.get("/Groups"))["totalResults"] == 0


# ---------------------------------------------------------------------------- where the setting comes from

def _round_trip(app) -> None:
    scim = client_for(app)
    assert CONTOSO in {s["id"] for s in ok(scim.get("/Schemas"))["Resources"]}
    created = new_user(scim, "env", {"level": 3, "tags": ["a"]})
    assert ok(scim.get(f"/Users/{created['id']}"))[CONTOSO] == {"level": 3, "tags": ["a"]}
    assert names(ok(scim.get("/Users", query_string={"filter": P + "level eq 3"}))) == ["env"]
    assert ok(scim.get("/ResourceTypes/Group"))["schemaExtensions"] == [{"schema": CONTOSO_GROUP, "required": False}]


def test_extensions_from_environment_json_text(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIMAPP_SCIM_EXTENSIONS", json.dumps(EXTENSIONS))
    app = create_app({"INSTANCE_PATH": tmp_path / "env", "TESTING": True})
    try:
        _round_trip(app)
    finally:
        dispose(app)


def test_extensions_from_a_json_file_named_in_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "extensions.json"
    path.write_text(json.dumps(EXTENSIONS, indent=2), encoding="utf-8")
    monkeypatch.setenv("SCIMAPP_SCIM_EXTENSIONS", str(path))
    app = create_app({"INSTANCE_PATH": tmp_path / "file", "TESTING": True})
    try:
        _round_trip(app)
    finally:
        dispose(app)


def test_extensions_from_a_json_file_in_config(tmp_path):
    path = tmp_path / "extensions.json"
    path.write_text(json.dumps(EXTENSIONS), encoding="utf-8")
    app = create_app({"INSTANCE_PATH": tmp_path / "cfg", "TESTING": True, "SCIM_EXTENSIONS": f"  {path}  "})
    try:
        _round_trip(app)
    finally:
        dispose(app)


# ---------------------------------------------------------------------------- invalid declarations

def one(attrs, **schema):
    return [{"id": "urn:example:params:scim:schemas:extension:Bad:2.0:User", "attributes": attrs, **schema}]


INVALID = {
    "id not a URN": ([{"id": "Contoso", "attributes": [{"name": "a"}]}], "must be a URN"),
    "unknown type": (one([{"name": "a", "type": "text"}]), "unknown type 'text'"),
    "unknown characteristic": (one([{"name": "a", "typ": "string"}]), "unknown keys"),
    "core User URN": ([{"id": USER, "attributes": [{"name": "a"}]}], USER),
    "core Group URN on Group": ([{"id": GROUP, "resourceType": "Group", "attributes": [{"name": "a"}]}], GROUP),
    "same URN twice": (one([{"name": "a"}]) + one([{"name": "b"}], resourceType="Group"), "Bad:2.0:User"),
    "enterprise URN": pytest.param([{"id": ENTERPRISE, "attributes": [{"name": "a"}]}], ENTERPRISE),
    "enterprise URN in another case": pytest.param(
        [{"id": ENTERPRISE.upper(), "attributes": [{"name": "a"}]}], "ENTERPRISE"),
    "enterprise URN on Group": pytest.param(
        [{"id": ENTERPRISE, "resourceType": "Group", "attributes": [{"name": "a"}]}], ENTERPRISE),
    "unknown resourceType": (one([{"name": "a"}], resourceType="Device"), "resourceType must be User or Group"),
    "entry without attributes": ([{"id": "urn:example:x:2.0:User"}], "list of 'attributes'"),
    "entry without id": ([{"attributes": [{"name": "a"}]}], "needs an 'id'"),
    "not a list": ({"id": "urn:example:x:2.0:User", "attributes": []}, "must be a list"),
    "bad JSON text": ('[{"id": "urn:example:x:2.0:User", "attributes": [}]', "SCIM_EXTENSIONS is not valid JSON"),
    "attribute without a name": pytest.param(
        one([{"type": "string"}]), "name"),
    "invalid mutability": pytest.param(
        one([{"name": "a", "mutability": "sometimes"}]), "mutability"),
    "multiValued as text": pytest.param(
        one([{"name": "a", "multiValued": "false"}]), "multiValued"),
}


@pytest.mark.parametrize("value,fragment", INVALID.values(), ids=INVALID.keys())
def test_invalid_declarations_stop_create_app(tmp_path, value, fragment):
    with pytest.raises(ValueError) as info:
        create_app({"INSTANCE_PATH": tmp_path / "bad", "TESTING": True, "SCIM_EXTENSIONS": value})
    assert fragment in str(info.value)


def test_bad_json_in_the_environment_stops_create_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIMAPP_SCIM_EXTENSIONS", '[{"id": "urn:example:x:2.0:User",')
    with pytest.raises(ValueError, match="SCIM_EXTENSIONS is not valid JSON"):
        create_app({"INSTANCE_PATH": tmp_path / "bad", "TESTING": True})


def test_bad_json_in_the_file_stops_create_app(tmp_path, monkeypatch):
    path = tmp_path / "extensions.json"
    path.write_text("[{'id': 'single quotes'}]", encoding="utf-8")
    monkeypatch.setenv("SCIMAPP_SCIM_EXTENSIONS", str(path))
    with pytest.raises(ValueError, match="SCIM_EXTENSIONS is not valid JSON"):
        create_app({"INSTANCE_PATH": tmp_path / "bad", "TESTING": True})


def test_json_object_in_the_environment_is_a_value_error(tmp_path, monkeypatch):
    """app.py only catches ValueError (at commit 1fb18f9 a JSON object was read as a file name: FileNotFoundError)."""
    monkeypatch.setenv("SCIMAPP_SCIM_EXTENSIONS", json.dumps(EXTENSIONS[0]))
    with pytest.raises(ValueError, match="list"):
        create_app({"INSTANCE_PATH": tmp_path / "bad", "TESTING": True})


def test_missing_extensions_file_is_a_value_error(tmp_path, monkeypatch):
    """app.py only catches ValueError (at commit 1fb18f9 a missing file raised FileNotFoundError)."""
    missing = tmp_path / "nope.json"
    monkeypatch.setenv("SCIMAPP_SCIM_EXTENSIONS", str(missing))
    with pytest.raises(ValueError, match="SCIM_EXTENSIONS"):
        create_app({"INSTANCE_PATH": tmp_path / "bad", "TESTING": True})

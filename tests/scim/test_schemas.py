"""Table tests for scimapp/scim/schemas.py: cleaning POST/PUT bodies, filter-index rows, rendering and the
``attributes``/``excludedAttributes`` projection (RFC 7643 §2, RFC 7644 §3.3, §3.4.2.5)."""
from __future__ import annotations

import copy

import pytest

from scimapp.scim.attributes import Registry
from scimapp.scim.errors import ScimError
from scimapp.scim.schemas import Projection, clean_resource, clean_value, index_rows, render

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_CORE = "urn:ietf:params:scim:schemas:core:2.0:Group"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
LAB = "urn:example:scim:lab:1.0:User"

REG = Registry()
USER = REG.user
GROUP = REG.group
LAB_USER = Registry(extra_user_extensions=[{
    "id": LAB, "name": "LabUser",
    "attributes": [{"name": "level", "type": "integer"}, {"name": "score", "type": "decimal"},
                   {"name": "tags", "type": "string", "multiValued": True},
                   {"name": "code", "type": "string", "caseExact": True},
                   {"name": "hiredAt", "type": "dateTime"}],
}]).user


# --------------------------------------------------------------------------- clean_resource: accepted bodies

# (id, resource type, body, stored data)
CLEAN_OK = [
    ("minimal user", USER, {"schemas": [CORE], "userName": "maren"}, {"userName": "maren"}),
    ("no schemas member at all", USER, {"userName": "maren"}, {"userName": "maren"}),
    ("strings kept exactly, case and spacing", USER,
     {"userName": "  Maren.Varga@Oakridge.EXAMPLE ", "displayName": "Maren  Varga-Tan",
      "phoneNumbers": [{"value": "+31 (0)20 555-0142", "type": "work"}]},
     {"userName": "  Maren.Varga@Oakridge.EXAMPLE ", "displayName": "Maren  Varga-Tan",
      "phoneNumbers": [{"value": "+31 (0)20 555-0142", "type": "work"}]}),
    ("read-only id, meta, groups dropped", USER,
     {"userName": "maren", "id": "client-chosen", "meta": {"resourceType": "User", "version": "W/\"1\""},
      "groups": [{"value": "g-1", "display": "Logistics"}]},
     {"userName": "maren"}),
    ("password dropped", USER, {"userName": "maren", "password": "c2VjcmV0LXZhbHVl"}, {"userName": "maren"}),
    ("string booleans coerced", USER,
     {"userName": "maren", "active": "True", "emails": [{"value": "a@x", "primary": "true"}]},
     {"userName": "maren", "active": True, "emails": [{"value": "a@x", "primary": True}]}),
    ("string False coerced", USER, {"userName": "maren", "active": "False"}, {"userName": "maren", "active": False}),
    ("real booleans kept", USER, {"userName": "maren", "active": False}, {"userName": "maren", "active": False}),
    ("names canonicalised", USER,
     {"USERNAME": "maren", "Name": {"GIVENNAME": "Maren"}, "Emails": [{"Value": "a@x", "TYPE": "work"}]},
     {"userName": "maren", "name": {"givenName": "Maren"}, "emails": [{"value": "a@x", "type": "work"}]}),
    ("nulls and empty lists are no value", USER,
     {"userName": "maren", "title": None, "roles": [], "name": {"givenName": "Maren", "middleName": None},
      "addresses": [None]},
     {"userName": "maren", "name": {"givenName": "Maren"}}),
    ("externalId kept exactly", USER, {"userName": "maren", "externalId": "00uX8pLm3QrT5vWz1A2b"},
     {"userName": "maren", "externalId": "00uX8pLm3QrT5vWz1A2b"}),
    ("extension under its URN", USER,
     {"schemas": [CORE, ENT], "userName": "maren", ENT: {"employeeNumber": "EMP-1", "department": "Logistics"}},
     {"userName": "maren", ENT: {"employeeNumber": "EMP-1", "department": "Logistics"}}),
    ("extension URN in any case", USER, {"userName": "maren", ENT.lower(): {"Department": "Ops"}},
     {"userName": "maren", ENT: {"department": "Ops"}}),
    ("empty extension object dropped", USER, {"userName": "maren", ENT: {}}, {"userName": "maren"}),
    ("manager as bare string", USER, {"userName": "maren", ENT: {"manager": "m-1"}},
     {"userName": "maren", ENT: {"manager": {"value": "m-1"}}}),
    ("manager object, read-only displayName dropped", USER,
     {"userName": "maren", ENT: {"manager": {"value": "m-1", "displayName": "Boss"}}},
     {"userName": "maren", ENT: {"manager": {"value": "m-1"}}}),
    ("empty manager string is no value", USER, {"userName": "maren", ENT: {"manager": ""}}, {"userName": "maren"}),
    ("core attributes under the core URN", USER, {CORE: {"userName": "maren", "nickName": "M"}},
     {"userName": "maren", "nickName": "M"}),
    ("single object for a multi-valued attribute", USER, {"userName": "maren", "emails": {"value": "a@x"}},
     {"userName": "maren", "emails": [{"value": "a@x"}]}),
    ("one primary is fine", USER,
     {"userName": "maren", "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": False}]},
     {"userName": "maren", "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": False}]}),
    ("Entra roles as JSON strings", USER, {"userName": "maren", "roles": [{"value": '{"id":"r","value":"Auditor"}'}]},
     {"userName": "maren", "roles": [{"value": '{"id":"r","value":"Auditor"}'}]}),
    ("Entra create body", USER,
     {"schemas": [CORE, ENT], "externalId": "7d4e-guid", "userName": "quinn.ashford@contoso.example",
      "active": "True", "displayName": "Quinn Ashford", "title": "Buyer", "preferredLanguage": "en-GB",
      "emails": [{"primary": True, "type": "work", "value": "quinn.ashford@contoso.example"}],
      "meta": {"resourceType": "User"}, "name": {"formatted": "Quinn Ashford", "familyName": "Ashford", "givenName": "Quinn"},
      "addresses": [{"type": "work", "locality": "Eastholm", "country": "NL"}], "roles": [],
      ENT: {"employeeNumber": "C-77", "department": "Purchasing"}},
     {"externalId": "7d4e-guid", "userName": "quinn.ashford@contoso.example", "active": True,
      "displayName": "Quinn Ashford", "title": "Buyer", "preferredLanguage": "en-GB",
      "emails": [{"primary": True, "type": "work", "value": "quinn.ashford@contoso.example"}],
      "name": {"formatted": "Quinn Ashford", "familyName": "Ashford", "givenName": "Quinn"},
      "addresses": [{"type": "work", "locality": "Eastholm", "country": "NL"}],
      ENT: {"employeeNumber": "C-77", "department": "Purchasing"}}),
    ("Okta PUT echoing the GET body", USER,
     {"schemas": [CORE], "id": "23a35c27", "externalId": "00u1", "userName": "jo@example.com",
      "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "version": "v1"},
      "active": True, "password": "secret", "locale": "en_US",
      "emails": [{"value": "jo@example.com", "type": "work", "primary": True}],
      "name": {"familyName": "Doe", "givenName": "Jo"}, "groups": []},
     {"externalId": "00u1", "userName": "jo@example.com", "active": True, "locale": "en_US",
      "emails": [{"value": "jo@example.com", "type": "work", "primary": True}],
      "name": {"familyName": "Doe", "givenName": "Jo"}}),
    # groups
    ("Entra group with Microsoft's extra schema URN", GROUP,
     {"schemas": [GROUP_CORE, MS_GROUP], "externalId": "5e0b", "displayName": "Data Stewards",
      "meta": {"resourceType": "Group"}},
     {"externalId": "5e0b", "displayName": "Data Stewards"}),
    ("Okta group with empty members", GROUP, {"schemas": [GROUP_CORE], "displayName": "Push Test Group", "members": []},
     {"displayName": "Push Test Group"}),
    ("group members, $ref and display null dropped", GROUP,
     {"displayName": "G", "members": [{"$ref": None, "value": "u1"}, {"value": "u2", "display": None, "type": "User"}]},
     {"displayName": "G", "members": [{"value": "u1"}, {"value": "u2", "type": "User"}]}),
    ("group displayName kept exactly", GROUP, {"displayName": " Sales  EMEA "}, {"displayName": " Sales  EMEA "}),
]


@pytest.mark.parametrize("rt,payload,expected", [c[1:] for c in CLEAN_OK], ids=[c[0] for c in CLEAN_OK])
def test_clean_resource(rt, payload, expected):
    before = copy.deepcopy(payload)
    assert clean_resource(rt, payload) == expected
    assert payload == before


# --------------------------------------------------------------------------- clean_resource: rejected bodies

# (id, resource type, body, status, scimType, text the detail must contain)
CLEAN_ERRORS = [
    ("not an object", USER, ["userName", "maren"], 400, "invalidSyntax", "object"),
    ("schemas not a list", USER, {"schemas": CORE, "userName": "maren"}, 400, "invalidSyntax", "schemas"),
    ("schemas with a non-string", USER, {"schemas": [CORE, 7], "userName": "maren"}, 400, "invalidSyntax", "schemas"),
    ("unknown extension URN", USER, {"userName": "maren", "urn:example:acme:2.0:User": {"x": 1}}, 400, "invalidSyntax",
     "urn:example:acme:2.0:User"),
    ("unknown extension URN on a group", GROUP, {"displayName": "G", "urn:okta:custom:group:1.0": {"description": "d"}},
     400, "invalidSyntax", "urn:okta:custom:group:1.0"),
    ("User extension on a group", GROUP, {"displayName": "G", ENT: {"department": "x"}}, 400, "invalidSyntax", ENT),
    ("extension not an object", USER, {"userName": "maren", ENT: "Logistics"}, 400, "invalidSyntax", ENT),
    ("core URN not an object", USER, {CORE: "maren"}, 400, "invalidSyntax", CORE),
    ("missing userName", USER, {"schemas": [CORE], "displayName": "Maren"}, 400, "invalidValue", "userName"),
    ("empty userName", USER, {"userName": ""}, 400, "invalidValue", "userName"),
    ("null userName", USER, {"userName": None}, 400, "invalidValue", "userName"),
    ("missing displayName", GROUP, {"schemas": [GROUP_CORE], "members": []}, 400, "invalidValue", "displayName"),
    ("userName not a string", USER, {"userName": 42}, 400, "invalidValue", "userName"),
    ("active not a boolean", USER, {"userName": "maren", "active": "yes"}, 400, "invalidValue", "active"),
    ("active as a number", USER, {"userName": "maren", "active": 1}, 400, "invalidValue", "active"),
    ("single-valued given a list", USER, {"userName": "maren", "title": ["a"]}, 400, "invalidValue", "title"),
    ("complex given a string without value sub-attribute", USER, {"userName": "maren", "name": "Maren"}, 400,
     "invalidValue", "name"),
    ("element wrong type", USER, {"userName": "maren", "emails": [{"value": ["a@x"]}]}, 400, "invalidValue", "emails"),
    ("two primaries", USER,
     {"userName": "maren", "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": "True"}]},
     400, "invalidValue", "primary"),
    ("bad dateTime", LAB_USER, {"userName": "maren", LAB: {"hiredAt": "last tuesday"}}, 400, "invalidValue",
     "last tuesday"),
    ("bad integer", LAB_USER, {"userName": "maren", LAB: {"level": "high"}}, 400, "invalidValue", "level"),
    ("boolean for integer", LAB_USER, {"userName": "maren", LAB: {"level": True}}, 400, "invalidValue", "level"),
]


@pytest.mark.parametrize("rt,payload,status,scim_type,fragment", [c[1:] for c in CLEAN_ERRORS],
                         ids=[c[0] for c in CLEAN_ERRORS])
def test_clean_resource_rejects(rt, payload, status, scim_type, fragment):
    with pytest.raises(ScimError) as info:
        clean_resource(rt, payload)
    assert (info.value.status, info.value.scim_type) == (status, scim_type)
    assert fragment in info.value.detail


def test_bad_datetime_error_names_the_attribute():
    with pytest.raises(ScimError) as info:
        clean_resource(LAB_USER, {"userName": "maren", LAB: {"hiredAt": "last tuesday"}})
    assert "hiredAt" in info.value.detail


@pytest.mark.parametrize("payload,expected", [
    ({"userName": "m", LAB: {"level": "7", "score": "2.5", "tags": ["A", "b"], "hiredAt": "2020-02-29T10:00:00Z"}},
     {"userName": "m", LAB: {"level": 7, "score": 2.5, "tags": ["A", "b"], "hiredAt": "2020-02-29T10:00:00Z"}}),
    ({"userName": "m", LAB: {"level": 3, "score": 1, "tags": "solo"}},
     {"userName": "m", LAB: {"level": 3, "score": 1, "tags": ["solo"]}}),
], ids=["strings coerced to numbers", "numbers kept, scalar wrapped"])
def test_clean_resource_custom_types(payload, expected):
    assert clean_resource(LAB_USER, payload) == expected


MANAGER = USER.extension(ENT).attr("manager")
EMAILS = USER.core.attr("emails")
ACTIVE = USER.core.attr("active")


@pytest.mark.parametrize("attr,value,expected", [
    (MANAGER, "m-1", {"value": "m-1"}),
    (MANAGER, "", None),
    (MANAGER, None, None),
    (MANAGER, {"value": "m-1", "$ref": "../Users/m-1"}, {"value": "m-1", "$ref": "../Users/m-1"}),
    (EMAILS, [], None),
    (EMAILS, [None, {"value": "a"}], [{"value": "a"}]),
    (EMAILS, {"value": "a"}, [{"value": "a"}]),
    (ACTIVE, " TRUE ", True),
    (ACTIVE, "false", False),
], ids=lambda x: repr(x)[:40])
def test_clean_value(attr, value, expected):
    assert clean_value(attr, value, attr.name) == expected


# --------------------------------------------------------------------------- index_rows

INDEX = [
    ("case-insensitive attributes are folded", USER,
     {"userName": "Maren.Varga@Oakridge.EXAMPLE", "displayName": "STRASSE Team", "title": "Straße"},
     frozenset(),
     {("username", 0, ""): ("maren.varga@oakridge.example", None),
      ("displayname", 0, ""): ("strasse team", None),
      ("title", 0, ""): ("strasse", None)}),
    ("caseExact reference kept exactly", USER, {"userName": "m", "profileUrl": "https://Intranet.example/Maren"},
     frozenset(),
     {("username", 0, ""): ("m", None), ("profileurl", 0, ""): ("https://Intranet.example/Maren", None)}),
    ("booleans", USER, {"userName": "m", "active": False}, frozenset(),
     {("username", 0, ""): ("m", None), ("active", 0, ""): ("false", None)}),
    ("complex single-valued", USER, {"userName": "m", "name": {"givenName": "MAREN", "familyName": ""}}, frozenset(),
     {("username", 0, ""): ("m", None), ("name", 0, ""): (None, None),  # the element's marker row
      ("name", 0, "givenname"): ("maren", None)}),
    ("multi-valued complex, one row per element and sub-attribute", USER,
     {"userName": "m", "emails": [{"value": "A@X", "type": "Work", "primary": True}, {"value": "b@x"}]},
     frozenset(),
     {("username", 0, ""): ("m", None), ("emails", 0, ""): (None, None), ("emails", 1, ""): (None, None),
      ("emails", 0, "value"): ("a@x", None), ("emails", 0, "type"): ("work", None),
      ("emails", 0, "primary"): ("true", None), ("emails", 1, "value"): ("b@x", None)}),
    ("binary has no key, only presence", USER,
     {"userName": "m", "x509Certificates": [{"value": "TUlJQw==", "display": "Cert"}]}, frozenset(),
     {("username", 0, ""): ("m", None), ("x509certificates", 0, ""): (None, None),
      ("x509certificates", 0, "value"): (None, None), ("x509certificates", 0, "display"): ("cert", None)}),
    ("extension keys carry the lower-case URN", USER,
     {"userName": "m", ENT: {"department": "Logistics", "manager": {"value": "M-1"}}}, frozenset(),
     {("username", 0, ""): ("m", None),
      (f"{ENT.lower()}:department", 0, ""): ("logistics", None), (f"{ENT.lower()}:manager", 0, ""): (None, None),
      (f"{ENT.lower()}:manager", 0, "value"): ("M-1", None)}),  # an id: kept exact
    ("column-backed attributes skipped", USER,
     {"userName": "Maren", "displayName": "Maren", "active": True, "nickName": "MH"},
     frozenset({"username", "displayname", "active"}),
     {("nickname", 0, ""): ("mh", None)}),
    ("common attributes never need rows", USER, {"userName": "m", "externalId": "AbC", "id": "x"}, frozenset(),
     {("username", 0, ""): ("m", None)}),
    ("group members skipped", GROUP, {"displayName": "Logistics", "members": [{"value": "u1"}]},
     frozenset({"displayname", "members"}), {}),
    ("numbers, caseExact, simple multi-valued, dateTime", LAB_USER,
     {"userName": "m", LAB: {"level": 5, "score": 2.5, "code": "AbC", "tags": ["Blue", "GREEN"],
                             "hiredAt": "2020-02-29T12:00:00+02:00"}},
     frozenset({"username"}),
     {(f"{LAB.lower()}:level", 0, ""): (None, 5.0), (f"{LAB.lower()}:score", 0, ""): (None, 2.5),
      (f"{LAB.lower()}:code", 0, ""): ("AbC", None),
      (f"{LAB.lower()}:tags", 0, ""): ("blue", None), (f"{LAB.lower()}:tags", 1, ""): ("green", None),
      (f"{LAB.lower()}:hiredat", 0, ""): ("2020-02-29T10:00:00.000000Z", None)}),
]


@pytest.mark.parametrize("rt,data,skip,expected", [c[1:] for c in INDEX], ids=[c[0] for c in INDEX])
def test_index_rows(rt, data, skip, expected):
    assert index_rows(rt, data, skip) == expected


# --------------------------------------------------------------------------- render

def test_render_orders_schemas_and_places_extensions():
    data = {"userName": "maren", "name": {"givenName": "Maren"}, ENT: {"department": "Ops"}}
    rep = render(USER, data, "u-1", {"resourceType": "User"}, {"groups": [{"value": "g-1"}]})
    assert rep == {"schemas": [CORE, ENT], "id": "u-1", "userName": "maren", "name": {"givenName": "Maren"},
                   "groups": [{"value": "g-1"}], ENT: {"department": "Ops"}, "meta": {"resourceType": "User"}}
    assert list(rep)[:2] == ["schemas", "id"] and list(rep)[-1] == "meta"


def test_render_without_extension_lists_only_core_schema():
    rep = render(GROUP, {"displayName": "G"}, "g-1", {"resourceType": "Group"})
    assert rep == {"schemas": [GROUP_CORE], "id": "g-1", "displayName": "G", "meta": {"resourceType": "Group"}}


def test_rendered_clean_resource_never_contains_password():
    data = clean_resource(USER, {"userName": "maren", "password": "hunter2"})
    rep = render(USER, data, "u-1", {})
    assert "password" not in rep
    assert "hunter2" not in repr(rep)


# --------------------------------------------------------------------------- Projection

FULL = {
    "schemas": [CORE, ENT],
    "id": "u-1",
    "externalId": "e-1",
    "userName": "maren",
    "name": {"givenName": "Maren", "familyName": "Varga"},
    "displayName": "Maren Varga",
    "emails": [{"value": "w@x", "type": "work", "primary": True}, {"value": "h@x", "type": "home"}],
    "groups": [{"value": "g-1", "display": "Logistics"}],
    "password": "should-never-leave",  # as if a bug had stored it: projection must still drop it
    ENT: {"department": "Ops", "manager": {"value": "m-1"}},
    "meta": {"resourceType": "User", "created": "2024-05-01T12:00:00.000Z"},
}


def full_without(*keys, **replace):
    out = {k: v for k, v in copy.deepcopy(FULL).items() if k not in keys and k != "password"}
    out.update(replace)
    return out


BASE_KEYS = {"schemas": [CORE], "id": "u-1"}

# (id, attributes, excludedAttributes, expected)
PROJECTIONS = [
    ("attributes: one", "userName", None, {**BASE_KEYS, "userName": "maren"}),
    ("attributes: any case", "USERNAME,DisplayName", None,
     {**BASE_KEYS, "userName": "maren", "displayName": "Maren Varga"}),
    ("attributes: id only", "id", None, BASE_KEYS),
    ("attributes: unknown names ignored", "userName,nope,name.nope2", None, {**BASE_KEYS, "userName": "maren"}),
    ("attributes: sub-attribute", "name.givenName", None, {**BASE_KEYS, "name": {"givenName": "Maren"}}),
    ("attributes: sub-attribute of multi-valued", "emails.value", None,
     {**BASE_KEYS, "emails": [{"value": "w@x"}, {"value": "h@x"}]}),
    ("attributes: two sub-attributes", "emails.value,emails.type", None,
     {**BASE_KEYS, "emails": [{"value": "w@x", "type": "work"}, {"value": "h@x", "type": "home"}]}),
    ("attributes: sub then whole", "name.givenName,name", None, {**BASE_KEYS, "name": FULL["name"]}),
    ("attributes: whole then sub", "name,name.givenName", None, {**BASE_KEYS, "name": FULL["name"]}),
    ("attributes: value filter selects the attribute", 'emails[type eq "work"]', None,
     {**BASE_KEYS, "emails": FULL["emails"]}),
    ("attributes: value filter then sub", 'emails[type eq "work"].value', None,
     {**BASE_KEYS, "emails": [{"value": "w@x"}, {"value": "h@x"}]}),
    ("attributes: extension attribute", f"{ENT}:department", None,
     {"schemas": [CORE, ENT], "id": "u-1", ENT: {"department": "Ops"}}),
    ("attributes: extension sub-attribute", f"{ENT}:manager.value", None,
     {"schemas": [CORE, ENT], "id": "u-1", ENT: {"manager": {"value": "m-1"}}}),
    ("attributes: unqualified extension attribute", "manager", None,
     {"schemas": [CORE, ENT], "id": "u-1", ENT: {"manager": {"value": "m-1"}}}),
    ("attributes: whole extension", ENT, None, {"schemas": [CORE, ENT], "id": "u-1", ENT: FULL[ENT]}),
    ("attributes: core URN qualified", f"{CORE}:userName", None, {**BASE_KEYS, "userName": "maren"}),
    ("attributes: meta sub-attribute", "meta.created", None,
     {**BASE_KEYS, "meta": {"created": "2024-05-01T12:00:00.000Z"}}),
    ("attributes: groups", "groups", None, {**BASE_KEYS, "groups": FULL["groups"]}),
    ("attributes: password never", "password,userName", None, {**BASE_KEYS, "userName": "maren"}),
    ("excluded: one", None, "emails", full_without("emails")),
    ("excluded: several", None, "emails,groups,meta", full_without("emails", "groups", "meta")),
    ("excluded: id and schemas cannot be excluded", None, "id,schemas", full_without()),
    ("excluded: sub-attribute", None, "name.givenName", full_without(name={"familyName": "Varga"})),
    ("excluded: sub-attribute of multi-valued", None, "emails.type,emails.primary",
     full_without(emails=[{"value": "w@x"}, {"value": "h@x"}])),
    ("excluded: every sub-attribute drops the attribute", None, "name.givenName,name.familyName", full_without("name")),
    ("excluded: extension attribute", None, f"{ENT}:manager", full_without(**{ENT: {"department": "Ops"}})),
    ("excluded: every extension attribute drops the block and its schema", None,
     f"{ENT}:manager,{ENT}:department", {**full_without(ENT), "schemas": [CORE]}),
    ("excluded: whole extension", None, ENT, {**full_without(ENT), "schemas": [CORE]}),
    ("excluded: password anyway", None, "userName", full_without("userName")),
    ("excluded: unknown names ignored", None, "nope", full_without()),
]


@pytest.mark.parametrize("attributes,excluded,expected", [c[1:] for c in PROJECTIONS], ids=[c[0] for c in PROJECTIONS])
def test_projection(attributes, excluded, expected):
    rep = copy.deepcopy(FULL)
    out = Projection(USER, attributes, excluded).apply(rep)
    assert out == expected
    assert out["id"] == "u-1"
    assert CORE in out["schemas"]
    assert "password" not in out
    assert rep == FULL  # the input representation is not modified


GROUP_FULL = {"schemas": [GROUP_CORE], "id": "g-1", "displayName": "Logistics",
              "members": [{"value": "u1", "display": "Maren"}], "meta": {"resourceType": "Group"}}


@pytest.mark.parametrize("attributes,excluded,expected", [
    (None, "members", {"schemas": [GROUP_CORE], "id": "g-1", "displayName": "Logistics",
                       "meta": {"resourceType": "Group"}}),
    ("displayName", None, {"schemas": [GROUP_CORE], "id": "g-1", "displayName": "Logistics"}),
    ("members.value", None, {"schemas": [GROUP_CORE], "id": "g-1", "members": [{"value": "u1"}]}),
    (None, None, GROUP_FULL),
], ids=["Entra excludedAttributes=members", "attributes=displayName", "members.value", "default"])
def test_group_projection(attributes, excluded, expected):
    assert Projection(GROUP, attributes, excluded).apply(copy.deepcopy(GROUP_FULL)) == expected


@pytest.mark.parametrize("attributes,excluded,name,expected", [
    (None, "members", "members", False),
    (None, "displayName", "members", True),
    ("displayName", None, "members", False),
    ("members.value", None, "members", True),
    (None, None, "members", True),
], ids=["excluded members", "excluded other", "attributes other", "attributes sub", "default"])
def test_projection_includes(attributes, excluded, name, expected):
    # lets the service skip loading members when they will not be returned
    assert Projection(GROUP, attributes, excluded).includes(GROUP.core.attr(name)) is expected


def test_projection_never_includes_password():
    password = USER.core.attr("password")
    for attributes, excluded in [(None, None), ("password", None), (None, "userName")]:
        assert Projection(USER, attributes, excluded).includes(password) is False


@pytest.mark.parametrize("attributes,excluded", [('emails[type eq "work"', None), (None, "name.given.first")])
def test_projection_rejects_invalid_lists(attributes, excluded):
    with pytest.raises(ScimError) as info:
        Projection(USER, attributes, excluded)
    assert info.value.status == 400


@pytest.mark.parametrize("body,ignored", [
    ({"userName": "maren", "favouriteColour": "teal"}, ["favouriteColour"]),
    ({"userName": "maren", "members": []}, ["members"]),  # a Group attribute on a User
    ({"userName": "maren", "name": {"nick": "M", "givenName": "Maren"}}, ["name.nick"]),
    ({"userName": "maren", ENT: {"badgeNumber": "1", "department": "Ops"}}, [f"{ENT}:badgeNumber"]),
], ids=["unknown attribute", "Group attribute on a User", "unknown sub-attribute", "unknown extension attribute"])
def test_unknown_attributes_are_ignored_and_reported(body, ignored):
    from scimapp.scim.schemas import collecting_ignored
    with collecting_ignored() as found:
        data = clean_resource(USER, body)
    assert found == ignored
    assert set(data) <= {"userName", "name", ENT}
    assert "nick" not in data.get("name", {}) and "badgeNumber" not in data.get(ENT, {})

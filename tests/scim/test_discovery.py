"""Discovery endpoints (RFC 7644 §4, RFC 7643 §5-§7): ServiceProviderConfig, ResourceTypes, Schemas, and that what
they advertise is what the service does."""
from __future__ import annotations

import pytest

BASE = "http://localhost/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_MEDIA = "application/scim+json"

CHARACTERISTICS = {"name", "type", "multiValued", "description", "required", "caseExact", "mutability", "returned",
                   "uniqueness"}
TYPES = {"string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"}
MUTABILITY = {"readOnly", "readWrite", "immutable", "writeOnly"}
RETURNED = {"always", "never", "default", "request"}
UNIQUENESS = {"none", "server", "global"}


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    return resp.get_json()


def assert_404(resp):
    assert resp.status_code == 404
    assert resp.mimetype == SCIM_MEDIA
    body = resp.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == "404"


def attr(attributes: list[dict], name: str) -> dict:
    found = [a for a in attributes if a["name"] == name]
    assert len(found) == 1, (name, [a["name"] for a in attributes])
    return found[0]


# ---------------------------------------------------------------------------- ServiceProviderConfig

def test_service_provider_config(app, scim):
    body = ok(scim.get("/ServiceProviderConfig"))
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"]["supported"] is True
    assert body["filter"]["supported"] is True
    assert body["filter"]["maxResults"] == app.config["SCIM_MAX_RESULTS"] == 1000
    assert body["sort"]["supported"] is True
    assert body["etag"]["supported"] is True
    assert body["bulk"] == {"supported": True, "maxOperations": app.config["SCIM_BULK_MAX_OPERATIONS"],
                            "maxPayloadSize": app.config["SCIM_BULK_MAX_PAYLOAD"]}
    assert body["changePassword"]["supported"] is False
    schemes = body["authenticationSchemes"]
    assert schemes and schemes[0]["type"] == "oauthbearertoken"
    assert all({"type", "name", "description"} <= set(s) for s in schemes)
    assert body["meta"]["resourceType"] == "ServiceProviderConfig"
    assert body["meta"]["location"] == f"{BASE}/ServiceProviderConfig"


def test_max_results_follows_config_and_is_enforced(app, scim):
    app.config["SCIM_MAX_RESULTS"] = 3
    assert ok(scim.get("/ServiceProviderConfig"))["filter"]["maxResults"] == 3
    for i in range(5):
        scim.create_user(f"u{i}")
    body = ok(scim.get("/Users", query_string={"count": 50}))
    assert body["itemsPerPage"] == 3 and body["totalResults"] == 5
    body = ok(scim.get("/Users", query_string={"count": 50, "filter": 'userName sw "u"'}))
    assert body["itemsPerPage"] == 3


def test_advertised_bulk_limits_are_enforced(app, scim):
    app.config["SCIM_BULK_MAX_OPERATIONS"] = 2
    assert ok(scim.get("/ServiceProviderConfig"))["bulk"]["maxOperations"] == 2
    op = {"method": "DELETE", "path": "/Users/x"}
    resp = scim.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                               "Operations": [op, op, op]})
    assert resp.status_code == 413 and resp.get_json()["scimType"] == "tooLarge"


def test_advertised_features_work(scim):
    """etag, sort, filter and patch are advertised as supported: each one does something."""
    a = scim.create_user("b-user")
    scim.create_user("a-user")
    r = scim.get(f"/Users/{a['id']}")
    assert r.headers["ETag"] == 'W/"1"'
    assert scim.get(f"/Users/{a['id']}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    names = [u["userName"] for u in ok(scim.get("/Users", query_string={"sortBy": "userName"}))["Resources"]]
    assert names == ["a-user", "b-user"]
    assert ok(scim.get("/Users", query_string={"filter": 'userName eq "A-USER"'}))["totalResults"] == 1
    assert scim.patch(f"/Users/{a['id']}", [{"op": "replace", "path": "title", "value": "t"}]).status_code == 200


# ---------------------------------------------------------------------------- ResourceTypes

def test_resource_types_list(scim):
    body = ok(scim.get("/ResourceTypes"))
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 2 == len(body["Resources"])
    by_name = {r["name"]: r for r in body["Resources"]}
    user, group = by_name["User"], by_name["Group"]
    assert user["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]
    assert user["id"] == "User" and user["endpoint"] == "/Users" and user["schema"] == USER
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert user["meta"] == {"resourceType": "ResourceType", "location": f"{BASE}/ResourceTypes/User"}
    assert group["id"] == "Group" and group["endpoint"] == "/Groups" and group["schema"] == GROUP
    assert group["schemaExtensions"] == []
    assert group["meta"]["location"] == f"{BASE}/ResourceTypes/Group"
    assert user["description"] and group["description"]


@pytest.mark.parametrize("name", ["User", "Group", "user", "GROUP"])
def test_resource_type_by_id(scim, name):
    body = ok(scim.get(f"/ResourceTypes/{name}"))
    listed = {r["name"]: r for r in ok(scim.get("/ResourceTypes"))["Resources"]}
    assert body == listed[name.capitalize()]


@pytest.mark.parametrize("name", ["Users", "Nope", "Schema", "urn:ietf:params:scim:schemas:core:2.0:User"])
def test_unknown_resource_type_is_404(scim, name):
    assert_404(scim.get(f"/ResourceTypes/{name}"))


# ---------------------------------------------------------------------------- Schemas

def _check_attribute(a: dict, where: str, top: bool = True) -> None:
    assert CHARACTERISTICS <= set(a), (where, set(a))
    assert a["type"] in TYPES, where
    assert a["mutability"] in MUTABILITY, where
    assert a["returned"] in RETURNED, where
    assert a["uniqueness"] in UNIQUENESS, where
    for key in ("multiValued", "required", "caseExact"):
        assert isinstance(a[key], bool), (where, key)
    assert isinstance(a["description"], str) and a["description"], where
    if a["type"] == "complex":
        assert a.get("subAttributes"), where
        assert top, f"{where}: complex sub-attributes are not allowed (RFC 7643 §2.3.8)"
        for sub in a["subAttributes"]:
            _check_attribute(sub, f"{where}.{sub['name']}", top=False)
    else:
        assert "subAttributes" not in a, where
    if a["type"] == "reference":
        assert a.get("referenceTypes"), where


def test_schemas_list(scim):
    body = ok(scim.get("/Schemas"))
    assert body["schemas"] == [LIST]
    ids = [s["id"] for s in body["Resources"]]
    assert sorted(ids) == sorted([USER, GROUP, ENTERPRISE])
    assert body["totalResults"] == 3 == body["itemsPerPage"]
    by_id = {s["id"]: s for s in body["Resources"]}
    assert by_id[USER]["name"] == "User" and by_id[USER]["description"] == "User Account"
    assert by_id[GROUP]["name"] == "Group"
    assert by_id[ENTERPRISE]["name"] == "EnterpriseUser"
    for s in body["Resources"]:
        assert s["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        assert s["meta"] == {"resourceType": "Schema", "location": f"{BASE}/Schemas/{s['id']}"}
        assert s["attributes"]
        for a in s["attributes"]:
            _check_attribute(a, f"{s['id']}:{a['name']}")


def test_user_schema_characteristics(scim):
    attrs = ok(scim.get(f"/Schemas/{USER}"))["attributes"]
    names = {a["name"] for a in attrs}
    assert {"userName", "name", "displayName", "active", "emails", "phoneNumbers", "addresses", "groups",
            "password", "title", "x509Certificates"} <= names
    user_name = attr(attrs, "userName")
    assert user_name["required"] is True and user_name["uniqueness"] == "server"
    assert user_name["caseExact"] is False and user_name["type"] == "string" and user_name["multiValued"] is False
    password = attr(attrs, "password")
    assert password["mutability"] == "writeOnly" and password["returned"] == "never"
    assert attr(attrs, "active")["type"] == "boolean"
    emails = attr(attrs, "emails")
    assert emails["multiValued"] is True and emails["type"] == "complex"
    subs = {s["name"]: s for s in emails["subAttributes"]}
    assert set(subs) == {"value", "display", "type", "primary"}
    assert subs["primary"]["type"] == "boolean"
    assert subs["type"]["canonicalValues"] == ["work", "home", "other"]
    groups = attr(attrs, "groups")
    assert groups["mutability"] == "readOnly" and groups["multiValued"] is True
    gsubs = {s["name"]: s for s in groups["subAttributes"]}
    assert gsubs["$ref"]["type"] == "reference" and gsubs["$ref"]["referenceTypes"] == ["Group"]
    assert gsubs["type"]["canonicalValues"] == ["direct", "indirect"]
    assert all(s["mutability"] == "readOnly" for s in gsubs.values())
    name = attr(attrs, "name")
    assert {s["name"] for s in name["subAttributes"]} >= {"formatted", "familyName", "givenName"}
    assert attr(attrs, "profileUrl")["caseExact"] is True  # a reference compares exactly
    assert attr(attrs, "x509Certificates")["subAttributes"][0]["type"] == "binary"


def test_group_schema_characteristics(scim):
    attrs = ok(scim.get(f"/Schemas/{GROUP}"))["attributes"]
    assert attr(attrs, "displayName")["required"] is True
    members = attr(attrs, "members")
    assert members["multiValued"] is True and members["type"] == "complex"
    subs = {s["name"]: s for s in members["subAttributes"]}
    assert set(subs) == {"value", "$ref", "type", "display"}
    assert subs["value"]["mutability"] == "immutable"
    assert subs["$ref"]["referenceTypes"] == ["User", "Group"]
    assert subs["type"]["canonicalValues"] == ["User", "Group"]


def test_enterprise_schema_characteristics(scim):
    attrs = ok(scim.get(f"/Schemas/{ENTERPRISE}"))["attributes"]
    assert {a["name"] for a in attrs} == {"employeeNumber", "costCenter", "organization", "division", "department",
                                          "manager"}
    manager = attr(attrs, "manager")
    assert manager["type"] == "complex" and manager["multiValued"] is False
    subs = {s["name"]: s for s in manager["subAttributes"]}
    assert set(subs) == {"value", "$ref", "displayName"}
    assert subs["displayName"]["mutability"] == "readOnly"
    assert subs["$ref"]["referenceTypes"] == ["User"]


@pytest.mark.parametrize("urn", [USER, GROUP, ENTERPRISE, USER.lower(), ENTERPRISE.upper()])
def test_schema_by_id(scim, urn):
    body = ok(scim.get(f"/Schemas/{urn}"))
    listed = {s["id"].lower(): s for s in ok(scim.get("/Schemas"))["Resources"]}
    assert body == listed[urn.lower()]


@pytest.mark.parametrize("urn", ["urn:scimapp:common", "urn:ietf:params:scim:schemas:core:2.0:Nope", "User",
                                 "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig", "x"])
def test_unknown_schema_is_404(scim, urn):
    assert_404(scim.get(f"/Schemas/{urn}"))


def test_schema_declarations_match_behaviour(scim):
    """What the User schema says about returned/mutability is what the API does."""
    attrs = {a["name"]: a for a in ok(scim.get(f"/Schemas/{USER}"))["attributes"]}
    body = {"schemas": [USER], "userName": "probe", "password": "pw-Secret-1", "title": "t",
            "groups": [{"value": "someone"}]}
    created = scim.post("/Users", body)
    assert created.status_code == 201
    rep = created.get_json()
    for name, a in attrs.items():
        if a["returned"] == "never":
            assert name not in rep, name
        if a["mutability"] == "readOnly" and name in body:
            assert rep.get(name) != body[name], name
    assert attrs["userName"]["uniqueness"] == "server"
    dup = scim.post("/Users", {"schemas": [USER], "userName": "PROBE"})
    assert dup.status_code == 409

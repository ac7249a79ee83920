"""Table tests for the PATCH engine (scimapp/scim/patch.py): RFC 7644 §3.5.2 plus what Entra ID and Okta send.

Every success case asserts the whole resulting data dict; every failure asserts status and scimType and that the
input was left untouched.
"""
from __future__ import annotations

import copy

import pytest

from scimapp.scim.attributes import Registry
from scimapp.scim.errors import ScimError
from scimapp.scim.filter import And, AttrPath, Compare
from scimapp.scim.patch import MAX_OPERATIONS, PATCH_SCHEMA, MemberChange, apply_patch

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_CORE = "urn:ietf:params:scim:schemas:core:2.0:Group"

REG = Registry()
USER = REG.user
GROUP = REG.group

DROP = object()

BASE_USER = {
    "userName": "maren@oakridge.example",
    "externalId": "a71e0c44",
    "active": True,
    "displayName": "Maren Varga-Tan",
    "name": {"givenName": "Maren", "familyName": "Varga-Tan"},
    "emails": [{"value": "maren@oakridge.example", "type": "work", "primary": True}],
    "phoneNumbers": [{"value": "+31 20 555 0142", "type": "work"}],
    "addresses": [{"type": "work", "formatted": "Hall C", "locality": "Lindenau"}],
    ENT: {"employeeNumber": "EMP-1", "department": "Logistics", "manager": {"value": "m-1"}},
}

BASE_GROUP = {"displayName": "Data Stewards", "externalId": "5e0b9d21"}


def user(**changes) -> dict:
    """BASE_USER with top-level keys replaced (or dropped with DROP)."""
    d = copy.deepcopy(BASE_USER)
    for k, v in changes.items():
        if v is DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def ent(**changes) -> dict:
    """BASE_USER's enterprise block with keys replaced (or dropped with DROP)."""
    d = copy.deepcopy(BASE_USER[ENT])
    for k, v in changes.items():
        if v is DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def body(*ops) -> dict:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(ops)}


def op(kind: str, path: str | None = None, **kw) -> dict:
    out = {"op": kind}
    if path is not None:
        out["path"] = path
    if "value" in kw:
        out["value"] = kw["value"]
    return out


def run(rt, data, ops):
    """Apply and check the engine's contract: the input is never modified."""
    before = copy.deepcopy(data)
    result = apply_patch(rt, data, body(*ops))
    assert data == before, "apply_patch modified its input"
    return result


MAREN_WORK = {"value": "maren@oakridge.example", "type": "work", "primary": True}
HOME = {"value": "maren@home.example", "type": "home"}
NO_PHONES = user(phoneNumbers=DROP)
NO_EMAILS = user(emails=DROP)
TWO_EMAILS = user(emails=[MAREN_WORK, HOME])
ONLY_MANAGER = user(**{ENT: {"manager": {"value": "m-1"}}})
NO_ENT = user(**{ENT: DROP})

# (id, starting data, operations, expected data)
USER_SUCCESS = [
    # ---------------------------------------------------------------- RFC add
    ("add simple attribute", BASE_USER, [op("add", "nickName", value="Izzy")], user(nickName="Izzy")),
    ("add replaces a single value", BASE_USER, [op("add", "displayName", value="Maren H")], user(displayName="Maren H")),
    ("add without path", BASE_USER, [op("add", value={"nickName": "Izzy", "title": "SRE"})],
     user(nickName="Izzy", title="SRE")),
    ("add complex merges sub-attributes", BASE_USER, [op("add", "name", value={"middleName": "J"})],
     user(name={"givenName": "Maren", "familyName": "Varga-Tan", "middleName": "J"})),
    ("add sub-attribute", BASE_USER, [op("add", "name.honorificPrefix", value="Dr")],
     user(name={"givenName": "Maren", "familyName": "Varga-Tan", "honorificPrefix": "Dr"})),
    ("add sub-attribute creates the complex", user(name=DROP), [op("add", "name.givenName", value="Maren")],
     user(name={"givenName": "Maren"})),
    ("add to multi-valued appends", BASE_USER, [op("add", "emails", value=[HOME])],
     user(emails=[MAREN_WORK, HOME])),
    ("add a single object to multi-valued", BASE_USER, [op("add", "emails", value=HOME)],
     user(emails=[MAREN_WORK, HOME])),
    ("add creates multi-valued", NO_EMAILS, [op("add", "emails", value=[HOME])], user(emails=[HOME])),
    ("duplicate add is a no-op", BASE_USER, [op("add", "emails", value=[dict(MAREN_WORK)])], BASE_USER),
    ("duplicate path-less add is a no-op", BASE_USER, [op("add", value={"emails": [dict(MAREN_WORK)]})], BASE_USER),
    ("new primary takes the flag from others", BASE_USER,
     [op("add", "emails", value=[{"value": "m@new.example", "type": "other", "primary": True}])],
     user(emails=[{**MAREN_WORK, "primary": False}, {"value": "m@new.example", "type": "other", "primary": True}])),
    ("non-primary add keeps the primary", BASE_USER,
     [op("add", "emails", value=[{"value": "m@new.example", "primary": False}])],
     user(emails=[MAREN_WORK, {"value": "m@new.example", "primary": False}])),
    ("add of an empty list adds nothing", user(emails=[{"value": "a@x"}]), [op("add", "emails", value=[])],
     user(emails=[{"value": "a@x"}])),
    ("add of an empty object adds nothing", user(name={"givenName": "M"}), [op("add", "name", value={})],
     user(name={"givenName": "M"})),
    # ---------------------------------------------------------------- RFC replace
    ("replace simple attribute", BASE_USER, [op("replace", "displayName", value="M. Varga")],
     user(displayName="M. Varga")),
    ("replace creates when absent", BASE_USER, [op("replace", "title", value="SRE")], user(title="SRE")),
    ("replace without path", BASE_USER, [op("replace", value={"displayName": "MH", "locale": "en-GB"})],
     user(displayName="MH", locale="en-GB")),
    ("replace complex keeps unspecified sub-attributes", BASE_USER,
     [op("replace", "name", value={"givenName": "Marenka"})],
     user(name={"givenName": "Marenka", "familyName": "Varga-Tan"})),
    ("replace sub-attribute", BASE_USER, [op("replace", "name.familyName", value="Tan")],
     user(name={"givenName": "Maren", "familyName": "Tan"})),
    ("replace multi-valued replaces all", TWO_EMAILS, [op("replace", "emails", value=[{"value": "z@x.example"}])],
     user(emails=[{"value": "z@x.example"}])),
    ("replace multi-valued with empty list clears", BASE_USER, [op("replace", "emails", value=[])], NO_EMAILS),
    ("replace with null clears", BASE_USER, [op("replace", "displayName", value=None)], user(displayName=DROP)),
    ("replace sub-attribute of every element", TWO_EMAILS, [op("replace", "emails.display", value="Maren")],
     user(emails=[{**MAREN_WORK, "display": "Maren"}, {**HOME, "display": "Maren"}])),
    ("replace externalId", BASE_USER, [op("replace", "externalId", value="NEW-id")], user(externalId="NEW-id")),
    ("attribute names are case-insensitive, stored canonically", BASE_USER,
     [op("replace", "USERNAME", value="M@F.example"), op("replace", "Name.GivenName", value="Mi")],
     user(userName="M@F.example", name={"givenName": "Mi", "familyName": "Varga-Tan"})),
    ("core URN path", BASE_USER, [op("replace", f"{CORE}:name.givenName", value="Marenka")],
     user(name={"givenName": "Marenka", "familyName": "Varga-Tan"})),
    ("strings are stored exactly as sent", BASE_USER, [op("replace", "displayName", value="  MaReN  vARGa ")],
     user(displayName="  MaReN  vARGa ")),
    # ---------------------------------------------------------------- RFC remove
    ("remove simple attribute", BASE_USER, [op("remove", "displayName")], user(displayName=DROP)),
    ("remove absent attribute is a no-op", BASE_USER, [op("remove", "title")], BASE_USER),
    ("remove sub-attribute", BASE_USER, [op("remove", "name.familyName")], user(name={"givenName": "Maren"})),
    ("remove last sub-attribute drops the complex", user(name={"givenName": "Maren"}), [op("remove", "name.givenName")],
     user(name=DROP)),
    ("remove complex", BASE_USER, [op("remove", "name")], user(name=DROP)),
    ("remove multi-valued", BASE_USER, [op("remove", "emails")], NO_EMAILS),
    ("remove sub-attribute of every element", TWO_EMAILS, [op("remove", "emails.type")],
     user(emails=[{"value": "maren@oakridge.example", "primary": True}, {"value": "maren@home.example"}])),
    ("remove listed values from multi-valued", TWO_EMAILS, [op("remove", "emails", value=[{"value": "maren@home.example"}])],
     user(emails=[MAREN_WORK])),
    # ---------------------------------------------------------------- value-filter paths
    ("remove through filter", TWO_EMAILS, [op("remove", 'emails[type eq "home"]')], user(emails=[MAREN_WORK])),
    ("remove through filter, last element", BASE_USER, [op("remove", 'emails[type eq "work"]')], NO_EMAILS),
    ("remove through filter matching nothing", BASE_USER, [op("remove", 'emails[type eq "home"]')], BASE_USER),
    ("remove through filter with and", TWO_EMAILS, [op("remove", 'emails[type eq "work" and value ew "oakridge.example"]')],
     user(emails=[HOME])),
    ("remove sub-attribute through filter", BASE_USER, [op("remove", 'emails[type eq "work"].primary')],
     user(emails=[{"value": "maren@oakridge.example", "type": "work"}])),
    ("replace sub-attribute through filter", TWO_EMAILS, [op("replace", 'emails[type eq "home"].value', value="m@h.example")],
     user(emails=[MAREN_WORK, {"value": "m@h.example", "type": "home"}])),
    ("replace element through filter", TWO_EMAILS,
     [op("replace", 'emails[type eq "work"]', value={"value": "new@oakridge.example", "type": "work"})],
     user(emails=[{"value": "new@oakridge.example", "type": "work"}, HOME])),
    ("add sub-attribute through filter", BASE_USER, [op("add", 'emails[type eq "work"].display', value="Work")],
     user(emails=[{**MAREN_WORK, "display": "Work"}])),
    ("add element through filter merges", BASE_USER, [op("add", 'emails[type eq "work"]', value={"display": "W"})],
     user(emails=[{**MAREN_WORK, "display": "W"}])),
    ("add through filter creates the element", BASE_USER, [op("add", 'emails[type eq "home"]', value={"value": "h@x.example"})],
     user(emails=[MAREN_WORK, {"type": "home", "value": "h@x.example"}])),
    ("add through and-filter creates the element", BASE_USER,
     [op("add", 'addresses[type eq "home" and country eq "GB"].locality', value="Eastholm")],
     user(addresses=[BASE_USER["addresses"][0], {"type": "home", "country": "GB", "locality": "Eastholm"}])),
    ("primary through filter takes the flag from others", TWO_EMAILS,
     [op("replace", 'emails[type eq "home"].primary', value=True)],
     user(emails=[{**MAREN_WORK, "primary": False}, {**HOME, "primary": True}])),
    ("add through filter with primary takes the flag", BASE_USER,
     [op("add", 'emails[type eq "home" and primary eq true].value', value="h@x.example")],
     user(emails=[{**MAREN_WORK, "primary": False}, {"type": "home", "primary": True, "value": "h@x.example"}])),
    ("filter path is case-insensitive", TWO_EMAILS, [op("replace", 'EMAILS[TYPE eq "HOME"].VALUE', value="x@h.example")],
     user(emails=[MAREN_WORK, {"value": "x@h.example", "type": "home"}])),
    ("path-less key may be a filter path", BASE_USER,
     [op("replace", value={'emails[type eq "work"].value': "w@oakridge.example"})],
     user(emails=[{**MAREN_WORK, "value": "w@oakridge.example"}])),
    # ---------------------------------------------------------------- extension by URN
    ("replace extension attribute", BASE_USER, [op("replace", f"{ENT}:department", value="Procurement")],
     user(**{ENT: ent(department="Procurement")})),
    ("add extension attribute", BASE_USER, [op("add", f"{ENT}:costCenter", value="CC-9")],
     user(**{ENT: ent(costCenter="CC-9")})),
    ("add extension attribute creates the block", NO_ENT, [op("add", f"{ENT}:department", value="Procurement")],
     user(**{ENT: {"department": "Procurement"}})),
    ("remove extension attribute", BASE_USER, [op("remove", f"{ENT}:employeeNumber")],
     user(**{ENT: ent(employeeNumber=DROP)})),
    ("remove last extension attribute drops the block", ONLY_MANAGER, [op("remove", f"{ENT}:manager")], NO_ENT),
    ("remove from an absent block is a no-op", NO_ENT, [op("remove", f"{ENT}:department")], NO_ENT),
    ("extension URN in any case", BASE_USER, [op("replace", f"{ENT.lower()}:DEPARTMENT", value="Ops")],
     user(**{ENT: ent(department="Ops")})),
    ("replace extension sub-attribute", BASE_USER, [op("replace", f"{ENT}:manager.value", value="m-2")],
     user(**{ENT: ent(manager={"value": "m-2"})})),
    ("unqualified extension attribute", BASE_USER, [op("replace", "department", value="Ops")],
     user(**{ENT: ent(department="Ops")})),
    # ---------------------------------------------------------------- whole extension
    ("add whole extension merges", BASE_USER, [op("add", ENT, value={"division": "EMEA"})],
     user(**{ENT: ent(division="EMEA")})),
    ("add whole extension creates it", NO_ENT, [op("add", ENT, value={"division": "EMEA"})],
     user(**{ENT: {"division": "EMEA"}})),
    ("add whole extension merges complex", BASE_USER, [op("add", ENT, value={"manager": {"$ref": "../Users/m-1"}})],
     user(**{ENT: ent(manager={"value": "m-1", "$ref": "../Users/m-1"})})),
    ("remove whole extension", BASE_USER, [op("remove", ENT)], NO_ENT),
    ("path-less add with whole extension key", BASE_USER, [op("add", value={ENT: {"costCenter": "CC"}})],
     user(**{ENT: ent(costCenter="CC")})),
    ("path-less add with lower-case extension key", BASE_USER, [op("add", value={ENT.lower(): {"costCenter": "CC"}})],
     user(**{ENT: ent(costCenter="CC")})),
    # ---------------------------------------------------------------- Entra ID
    ("Entra capitalised Replace", BASE_USER, [op("Replace", "displayName", value="X")], user(displayName="X")),
    ("Entra capitalised Add", BASE_USER, [op("Add", "nickName", value="Izzy")], user(nickName="Izzy")),
    ("Entra capitalised Remove", BASE_USER, [op("Remove", "displayName")], user(displayName=DROP)),
    ("Entra upper-case op", BASE_USER, [op("REPLACE", "title", value="SRE")], user(title="SRE")),
    ("Entra disable with 'False'", BASE_USER, [op("Replace", "active", value="False")], user(active=False)),
    ("Entra disable with 'false'", BASE_USER, [op("replace", "active", value="false")], user(active=False)),
    ("Entra enable with 'True'", user(active=False), [op("Replace", "active", value="True")], user(active=True)),
    ("Entra Replace with JSON boolean", BASE_USER, [op("Replace", "active", value=False)], user(active=False)),
    ("boolean string in a sub-attribute", TWO_EMAILS, [op("replace", 'emails[type eq "home"].primary', value="True")],
     user(emails=[{**MAREN_WORK, "primary": False}, {**HOME, "primary": True}])),
    ("Entra path-less replace with dotted and URN keys", BASE_USER,
     [op("replace", value={"displayName": "Maren Varga", "name.givenName": "Marenka", "name.familyName": "Varga",
                           f"{ENT}:employeeNumber": "EMP-20001"})],
     user(displayName="Maren Varga", name={"givenName": "Marenka", "familyName": "Varga"},
          **{ENT: ent(employeeNumber="EMP-20001")})),
    ("Entra path-less add with dotted keys", user(name=DROP),
     [op("add", value={"name.givenName": "Maren", "name.formatted": "Maren Varga-Tan"})],
     user(name={"givenName": "Maren", "formatted": "Maren Varga-Tan"})),
    ("Entra path-less URN key creates the block", NO_ENT, [op("replace", value={f"{ENT}:department": "Procurement"})],
     user(**{ENT: {"department": "Procurement"}})),
    ("Entra path-less replace of active string", BASE_USER, [op("replace", value={"active": "False"})],
     user(active=False)),
    ("Entra set manager as bare string", NO_ENT, [op("Add", f"{ENT}:manager", value="m-9")],
     user(**{ENT: {"manager": {"value": "m-9"}}})),
    ("Entra change manager", BASE_USER, [op("Replace", f"{ENT}:manager", value="m-9")],
     user(**{ENT: ent(manager={"value": "m-9"})})),
    ("Entra remove manager through unqualified filter", BASE_USER, [op("Remove", 'manager[value eq "m-1"]')],
     user(**{ENT: ent(manager=DROP)})),
    ("Entra remove only manager drops the block", ONLY_MANAGER, [op("remove", 'manager[value eq "m-1"]')], NO_ENT),
    ("Entra remove manager through qualified filter", BASE_USER, [op("remove", f'{ENT}:manager[value eq "m-1"]')],
     user(**{ENT: ent(manager=DROP)})),
    ("Microsoft validator removes manager by replace with empty", BASE_USER, [op("Replace", f"{ENT}:manager", value="")],
     user(**{ENT: ent(manager=DROP)})),
    ("path-less manager bare string", BASE_USER, [op("replace", value={f"{ENT}:manager": "m-3"})],
     user(**{ENT: ent(manager={"value": "m-3"})})),
    ("Entra add through filter creates a mobile phone", BASE_USER,
     [op("Add", 'phoneNumbers[type eq "mobile"].value', value="+31 6 5550 0199")],
     user(phoneNumbers=[BASE_USER["phoneNumbers"][0], {"type": "mobile", "value": "+31 6 5550 0199"}])),
    ("Entra add through filter updates an existing element", BASE_USER,
     [op("Add", 'phoneNumbers[type eq "work"].value', value="+31 20 000 0000")],
     user(phoneNumbers=[{"value": "+31 20 000 0000", "type": "work"}])),
    ("Entra replace work email in place", BASE_USER,
     [op("Replace", 'emails[type eq "work"].value', value="maren.tan@oakridge.example")],
     user(emails=[{"value": "maren.tan@oakridge.example", "type": "work", "primary": True}])),
    ("Entra replace address sub-attribute in place", BASE_USER,
     [op("Replace", 'addresses[type eq "work"].formatted', value="Hall D / 2.07")],
     user(addresses=[{"type": "work", "formatted": "Hall D / 2.07", "locality": "Lindenau"}])),
    ("Entra update user", BASE_USER,
     [op("Replace", 'emails[type eq "work"].value', value="maren.tan@oakridge.example"),
      op("Replace", "name.familyName", value="Tan"),
      op("Replace", f"{ENT}:employeeNumber", value="EMP-2"),
      op("Add", f"{ENT}:costCenter", value="Procurement")],
     user(emails=[{"value": "maren.tan@oakridge.example", "type": "work", "primary": True}],
          name={"givenName": "Maren", "familyName": "Tan"}, **{ENT: ent(employeeNumber="EMP-2", costCenter="Procurement")})),
    ("Entra roles as JSON-encoded strings", BASE_USER,
     [op("Add", "roles", value=[{"value": '{"id":"r-1","value":"Auditor","displayName":"Auditor"}'}])],
     user(roles=[{"value": '{"id":"r-1","value":"Auditor","displayName":"Auditor"}'}])),
    ("Entra assertive roles as objects", user(roles=[{"value": "Old"}]),
     [op("replace", "roles", value=[{"value": "Auditor", "display": "Auditor", "primary": False}])],
     user(roles=[{"value": "Auditor", "display": "Auditor", "primary": False}])),
    ("path-less schemas key is ignored", BASE_USER,
     [op("replace", value={"schemas": [CORE], "title": "SRE"})], user(title="SRE")),
    # ---------------------------------------------------------------- Okta
    ("Okta deactivate", BASE_USER, [op("replace", value={"active": False})], user(active=False)),
    ("Okta reactivate", user(active=False), [op("replace", value={"active": True})], user(active=True)),
    ("Okta password sync is accepted and never stored", BASE_USER, [op("replace", value={"password": "S3cret!"})],
     BASE_USER),
    ("password by path is never stored", BASE_USER, [op("replace", "password", value="S3cret!")], BASE_USER),
    ("path-less read-only attributes are ignored", BASE_USER,
     [op("replace", value={"id": "other", "meta": {"resourceType": "User"}, "groups": [], "title": "SRE"})],
     user(title="SRE")),
    # ---------------------------------------------------------------- sequencing
    ("operations apply in order", BASE_USER,
     [op("add", "title", value="A"), op("replace", "title", value="B"), op("remove", "title"),
      op("add", "title", value="C")],
     user(title="C")),
    ("member keys of the PatchOp are case-insensitive", BASE_USER,
     [{"OP": "replace", "Path": "title", "VALUE": "SRE"}], user(title="SRE")),
]


@pytest.mark.parametrize("start,ops,expected", [c[1:] for c in USER_SUCCESS], ids=[c[0] for c in USER_SUCCESS])
def test_user_patch(start, ops, expected):
    result = run(USER, start, ops)
    assert result.data == expected
    assert result.member_changes == []


@pytest.mark.parametrize("ops,name,ent_block", [
    ([op("replace", value={"name.givenName": "X", "name.familyName": "Y"})],
     {"givenName": "X", "familyName": "Y"}, BASE_USER[ENT]),
    ([op("add", value={"name.formatted": "X Y", f"{ENT}:employeeNumber": "9", f"{ENT}:manager.value": "m"})],
     {"givenName": "Maren", "familyName": "Varga-Tan", "formatted": "X Y"},
     {"employeeNumber": "9", "department": "Logistics", "manager": {"value": "m"}}),
], ids=["replace", "add"])
def test_dotted_and_urn_keys_are_paths_not_names(ops, name, ent_block):
    data = run(USER, BASE_USER, ops).data
    assert data["name"] == name
    assert data[ENT] == ent_block
    top_keys = set(data) - {ENT}
    ent_keys = set(data.get(ENT, {}))
    assert not any("." in k or ":" in k for k in top_keys), top_keys
    assert not any("." in k or ":" in k for k in ent_keys), ent_keys
    assert "name.givenName" not in data and "name.formatted" not in data


def test_patchop_body_keys_in_any_case():
    result = apply_patch(USER, BASE_USER, {"Schemas": [PATCH_SCHEMA.upper()],
                                           "operations": [{"op": "replace", "path": "title", "value": "SRE"}]})
    assert result.data == user(title="SRE")


def test_result_does_not_share_structure_with_input():
    data = copy.deepcopy(BASE_USER)
    result = apply_patch(USER, data, body(op("replace", "title", value="SRE")))
    result.data["emails"][0]["value"] = "changed"
    result.data[ENT]["department"] = "changed"
    assert data == BASE_USER


# ---------------------------------------------------------------- edge cases found while writing these tests

@pytest.mark.parametrize("start,ops,expected", [
    (NO_PHONES, [op("Add", 'phoneNumbers[type eq "mobile"].value', value="+1 555 0100")],
     user(phoneNumbers=[{"type": "mobile", "value": "+1 555 0100"}])),
    (NO_EMAILS, [op("add", 'emails[type eq "work"]', value={"value": "w@x.example"})],
     user(emails=[{"type": "work", "value": "w@x.example"}])),
    (NO_EMAILS, [op("remove", 'emails[type eq "work"]')], NO_EMAILS),
    (NO_EMAILS, [op("remove", 'emails[type eq "work"].display')], NO_EMAILS),
], ids=["Entra add mobile to user without phones", "add through filter to user without emails",
        "remove through filter, attribute absent", "remove sub through filter, attribute absent"])
def test_filter_path_on_absent_multi_valued_attribute(start, ops, expected):
    assert run(USER, start, ops).data == expected


def test_replace_through_filter_on_absent_attribute_is_no_target():
    with pytest.raises(ScimError) as info:
        run(USER, NO_EMAILS, [op("Replace", 'emails[type eq "work"].value', value="w@x.example")])
    assert (info.value.status, info.value.scim_type) == (400, "noTarget")


@pytest.mark.parametrize("start,ops,expected", [
    (BASE_USER, [op("Remove", 'manager[value eq "m-other"]')], BASE_USER),
    (BASE_USER, [op("remove", 'name[givenName eq "Maren"].familyName')], user(name={"givenName": "Maren"})),
    (BASE_USER, [op("remove", 'name[givenName eq "Nobody"]')], BASE_USER),
], ids=["Entra remove stale manager id", "remove sub of single-valued through filter",
        "remove single-valued through filter matching nothing"])
def test_filtered_remove_on_single_valued_complex_keeps_an_object(start, ops, expected):
    assert run(USER, start, ops).data == expected


@pytest.mark.parametrize("ops", [
    [op("replace", value={ENT: {"department": "Procurement"}})],
    [op("replace", ENT, value={"department": "Procurement"})],
], ids=["path-less", "extension URN path"])
def test_replace_extension_keeps_unmentioned_attributes(ops):
    assert run(USER, BASE_USER, ops).data == user(**{ENT: ent(department="Procurement")})


def test_replace_sub_attribute_of_absent_multi_valued_acts_as_add():
    assert run(USER, NO_EMAILS, [op("replace", "emails.value", value="a@x.example")]).data == \
        run(USER, NO_EMAILS, [op("add", "emails.value", value="a@x.example")]).data == \
        user(emails=[{"value": "a@x.example"}])


def test_invalid_filter_is_rejected_even_without_elements():
    with pytest.raises(ScimError) as info:
        run(USER, user(name=DROP), [op("remove", 'name[nickName eq "x"]')])
    assert (info.value.status, info.value.scim_type) == (400, "invalidPath")


def test_invalid_filter_is_rejected_when_elements_exist():
    with pytest.raises(ScimError) as info:
        run(USER, BASE_USER, [op("remove", 'emails[kind eq "x"]')])
    assert (info.value.status, info.value.scim_type) == (400, "invalidPath")


# ---------------------------------------------------------------- groups: members never in data

U1, U2, U3 = "2819c223-0001", "2819c223-0002", "2819c223-0003"

GROUP_SUCCESS = [
    ("Entra add members with $ref null", [op("Add", "members", value=[{"$ref": None, "value": U1}, {"$ref": None, "value": U2}])],
     BASE_GROUP, [MemberChange("add", [{"value": U1}, {"value": U2}])]),
    ("Okta add members with display", [op("add", "members", value=[{"value": U1, "display": "maren@okta.local"}])],
     BASE_GROUP, [MemberChange("add", [{"value": U1, "display": "maren@okta.local"}])]),
    ("add members with type", [op("add", "members", value=[{"value": U1, "type": "User"}, {"value": "g-2", "type": "Group"}])],
     BASE_GROUP, [MemberChange("add", [{"value": U1, "type": "User"}, {"value": "g-2", "type": "Group"}])]),
    ("add a single member object", [op("add", "members", value={"value": U1})],
     BASE_GROUP, [MemberChange("add", [{"value": U1}])]),
    ("core URN members path", [op("add", f"{GROUP_CORE}:members", value=[{"value": U1}])],
     BASE_GROUP, [MemberChange("add", [{"value": U1}])]),
    ("Entra remove listed members", [op("Remove", "members", value=[{"$ref": None, "value": U1}])],
     BASE_GROUP, [MemberChange("remove", [{"value": U1}])]),
    ("remove through filter", [op("remove", f'members[value eq "{U1}"]')],
     BASE_GROUP, [MemberChange("remove", filter=Compare(AttrPath(None, "value"), "eq", U1))]),
    ("remove through filter on value and type", [op("remove", f'members[value eq "{U1}" and type eq "User"]')],
     BASE_GROUP, [MemberChange("remove", filter=And(Compare(AttrPath(None, "value"), "eq", U1),
                                                    Compare(AttrPath(None, "type"), "eq", "User")))]),
    ("remove all members", [op("remove", "members")], BASE_GROUP, [MemberChange("clear")]),
    ("remove all members with null value", [op("remove", "members", value=None)], BASE_GROUP, [MemberChange("clear")]),
    ("replace members", [op("replace", "members", value=[{"value": U1}, {"value": U2}])],
     BASE_GROUP, [MemberChange("replace", [{"value": U1}, {"value": U2}])]),
    ("Okta push of an empty group", [op("replace", "members", value=[])], BASE_GROUP, [MemberChange("replace", [])]),
    ("Okta membership update", [op("remove", f'members[value eq "{U3}"]'), op("add", "members", value=[{"value": U1}])],
     BASE_GROUP, [MemberChange("remove", filter=Compare(AttrPath(None, "value"), "eq", U3)),
                  MemberChange("add", [{"value": U1}])]),
    ("Okta rename carrying read-only id", [op("replace", value={"id": "g-self", "displayName": "Data Office"})],
     {**BASE_GROUP, "displayName": "Data Office"}, []),
    ("Entra rename", [op("Replace", "displayName", value="Data Office")],
     {**BASE_GROUP, "displayName": "Data Office"}, []),
    ("path-less replace with members", [op("replace", value={"displayName": "New", "members": [{"value": U2}]})],
     {**BASE_GROUP, "displayName": "New"}, [MemberChange("replace", [{"value": U2}])]),
    ("path-less add with members", [op("add", value={"members": [{"value": U2}]})],
     BASE_GROUP, [MemberChange("add", [{"value": U2}])]),
    ("replace externalId", [op("replace", "externalId", value="X-1")], {**BASE_GROUP, "externalId": "X-1"}, []),
]


@pytest.mark.parametrize("ops,expected_data,expected_changes", [c[1:] for c in GROUP_SUCCESS],
                         ids=[c[0] for c in GROUP_SUCCESS])
def test_group_patch(ops, expected_data, expected_changes):
    result = run(GROUP, BASE_GROUP, ops)
    assert result.data == expected_data
    assert "members" not in result.data
    assert result.member_changes == expected_changes


def test_remove_members_with_empty_list_removes_nobody():
    result = run(GROUP, BASE_GROUP, [op("Remove", "members", value=[])])
    assert MemberChange("clear") not in result.member_changes


# ---------------------------------------------------------------- failures

ERROR_BODIES = [
    ("body not an object", USER, BASE_USER, [body(op("replace", "title", value="x"))], 400, "invalidSyntax"),
    ("no schemas", USER, BASE_USER, {"Operations": [op("replace", "title", value="x")]}, 400, "invalidSyntax"),
    ("wrong schema", USER, BASE_USER, {"schemas": [CORE], "Operations": [op("replace", "title", value="x")]},
     400, "invalidSyntax"),
    ("schemas not a list", USER, BASE_USER, {"schemas": PATCH_SCHEMA, "Operations": [op("replace", "title", value="x")]},
     400, "invalidSyntax"),
    ("no Operations", USER, BASE_USER, {"schemas": [PATCH_SCHEMA]}, 400, "invalidSyntax"),
    ("empty Operations", USER, BASE_USER, body(), 400, "invalidSyntax"),
    ("Operations not a list", USER, BASE_USER, {"schemas": [PATCH_SCHEMA], "Operations": op("replace", "title", value="x")},
     400, "invalidSyntax"),
    ("operation not an object", USER, BASE_USER, body("replace"), 400, "invalidSyntax"),
    ("op missing", USER, BASE_USER, body({"path": "title", "value": "x"}), 400, "invalidSyntax"),
    ("unknown op", USER, BASE_USER, body(op("move", "title", value="x")), 400, "invalidSyntax"),
    ("op not a string", USER, BASE_USER, body({"op": 1, "path": "title", "value": "x"}), 400, "invalidSyntax"),
    ("path not a string", USER, BASE_USER, body({"op": "replace", "path": ["title"], "value": "x"}), 400, "invalidPath"),
]


@pytest.mark.parametrize("rt,start,payload,status,scim_type", [c[1:] for c in ERROR_BODIES],
                         ids=[c[0] for c in ERROR_BODIES])
def test_invalid_patchop_bodies(rt, start, payload, status, scim_type):
    before = copy.deepcopy(start)
    with pytest.raises(ScimError) as info:
        apply_patch(rt, start, payload)
    assert (info.value.status, info.value.scim_type) == (status, scim_type)
    assert start == before


def test_too_many_operations():
    ops = [op("replace", "title", value=str(i)) for i in range(MAX_OPERATIONS + 1)]
    with pytest.raises(ScimError) as info:
        apply_patch(USER, BASE_USER, body(*ops))
    assert info.value.status == 413
    assert apply_patch(USER, BASE_USER, body(*ops[:MAX_OPERATIONS])).data == user(title=str(MAX_OPERATIONS - 1))


# (id, resource type, start, operations, status, scimType)
ERROR_OPS = [
    # targets
    ("remove without path", USER, BASE_USER, [op("remove")], 400, "noTarget"),
    ("remove with empty path", USER, BASE_USER, [op("remove", "")], 400, "noTarget"),
    ("Entra Remove without path", USER, BASE_USER, [op("Remove", value={"title": "x"})], 400, "noTarget"),
    ("replace through filter matching nothing", USER, BASE_USER,
     [op("replace", 'emails[type eq "home"].value', value="h@x.example")], 400, "noTarget"),
    ("replace element through filter matching nothing", USER, BASE_USER,
     [op("replace", 'emails[type eq "home"]', value={"value": "h@x.example"})], 400, "noTarget"),
    ("add through an or-filter matching nothing", USER, BASE_USER,
     [op("add", 'emails[type eq "home" or type eq "other"].value', value="h@x.example")], 400, "noTarget"),
    ("add through a co-filter matching nothing", USER, BASE_USER,
     [op("add", 'emails[value co "nothing"].display', value="x")], 400, "noTarget"),
    # values required
    ("add with path but no value", USER, BASE_USER, [op("add", "title")], 400, "invalidValue"),
    ("replace with path but no value", USER, BASE_USER, [op("replace", "title")], 400, "invalidValue"),
    ("path-less add with a string", USER, BASE_USER, [op("add", value="x")], 400, "invalidValue"),
    ("path-less replace with a list", USER, BASE_USER, [op("replace", value=[{"title": "x"}])], 400, "invalidValue"),
    ("path-less replace without value", USER, BASE_USER, [op("replace")], 400, "invalidValue"),
    # paths
    ("unknown attribute", USER, BASE_USER, [op("replace", "nickname2", value="x")], 400, "invalidPath"),
    ("unknown sub-attribute", USER, BASE_USER, [op("replace", "name.nickName", value="x")], 400, "invalidPath"),
    ("sub-attribute of a simple attribute", USER, BASE_USER, [op("replace", "userName.value", value="x")],
     400, "invalidPath"),
    ("unknown sub-attribute after filter", USER, BASE_USER, [op("replace", 'emails[type eq "work"].bogus', value="x")],
     400, "invalidPath"),
    ("unknown extension URN", USER, BASE_USER, [op("replace", "urn:example:nope:1.0:User:level", value="1")],
     400, "invalidPath"),
    ("unknown extension attribute", USER, BASE_USER, [op("replace", f"{ENT}:nickName", value="x")], 400, "invalidPath"),
    ("path syntax error", USER, BASE_USER, [op("replace", 'emails[type eq "work"', value="x")], 400, "invalidPath"),
    ("path with nested filter", USER, BASE_USER, [op("remove", 'emails[type eq "work" and addresses[type pr]]')],
     400, "invalidPath"),
    ("path-less unknown key", USER, BASE_USER, [op("replace", value={"nickname2": "x"})], 400, "invalidPath"),
    ("path-less unknown dotted key", USER, BASE_USER, [op("replace", value={"name.nickName": "x"})], 400, "invalidPath"),
    ("path-less unknown URN key", USER, BASE_USER, [op("replace", value={"urn:example:nope:1.0:User:level": 1})],
     400, "invalidPath"),
    ("Group attribute on a User", USER, BASE_USER, [op("add", "members", value=[{"value": "x"}])], 400, "invalidPath"),
    # read-only (explicit paths)
    ("replace id", USER, BASE_USER, [op("replace", "id", value="x")], 400, "mutability"),
    ("add id", USER, BASE_USER, [op("add", "id", value="x")], 400, "mutability"),
    ("remove id", USER, BASE_USER, [op("remove", "id")], 400, "mutability"),
    ("replace meta", USER, BASE_USER, [op("replace", "meta", value={"resourceType": "User"})], 400, "mutability"),
    ("replace meta.lastModified", USER, BASE_USER, [op("replace", "meta.lastModified", value="2024-01-01T00:00:00Z")],
     400, "mutability"),
    ("add groups", USER, BASE_USER, [op("add", "groups", value=[{"value": "g-1"}])], 400, "mutability"),
    ("remove groups", USER, BASE_USER, [op("remove", "groups")], 400, "mutability"),
    ("remove groups through filter", USER, BASE_USER, [op("remove", 'groups[value eq "g-1"]')], 400, "mutability"),
    ("id under the core URN", USER, BASE_USER, [op("replace", f"{CORE}:id", value="x")], 400, "mutability"),
    ("read-only manager.displayName", USER, BASE_USER, [op("replace", f"{ENT}:manager.displayName", value="Boss")],
     400, "mutability"),
    # wrong value types
    ("active not a boolean", USER, BASE_USER, [op("replace", "active", value="maybe")], 400, "invalidValue"),
    ("active as a number", USER, BASE_USER, [op("replace", "active", value=0)], 400, "invalidValue"),
    ("path-less active not a boolean", USER, BASE_USER, [op("replace", value={"active": "nope"})], 400, "invalidValue"),
    ("userName as a number", USER, BASE_USER, [op("replace", "userName", value=5)], 400, "invalidValue"),
    ("single value given a list", USER, BASE_USER, [op("replace", "displayName", value=["a", "b"])], 400, "invalidValue"),
    ("string given an object", USER, BASE_USER, [op("replace", "title", value={"value": "x"})], 400, "invalidValue"),
    ("complex given a string", USER, BASE_USER, [op("replace", "name", value="Maren")], 400, "invalidValue"),
    ("element value wrong type", USER, BASE_USER, [op("add", "emails", value=[{"value": 5}])], 400, "invalidValue"),
    ("element not an object", USER, BASE_USER, [op("add", "addresses", value=["Lindenau"])], 400, "invalidValue"),
    ("sub-attribute wrong type", USER, BASE_USER, [op("replace", "name.givenName", value=7)], 400, "invalidValue"),
    ("primary through filter not a boolean", USER, BASE_USER,
     [op("replace", 'emails[type eq "work"].primary', value="yes")], 400, "invalidValue"),
    ("element through filter not an object", USER, BASE_USER,
     [op("replace", 'emails[type eq "work"]', value=["x"])], 400, "invalidValue"),
    ("whole extension not an object", USER, BASE_USER, [op("replace", ENT, value="Procurement")], 400, "invalidSyntax"),
    ("extension attribute wrong type", USER, BASE_USER, [op("replace", f"{ENT}:department", value=["a"])],
     400, "invalidValue"),
    # required
    ("remove userName", USER, BASE_USER, [op("remove", "userName")], 400, "invalidValue"),
    ("replace userName with empty", USER, BASE_USER, [op("replace", "userName", value="")], 400, "invalidValue"),
    ("replace userName with null", USER, BASE_USER, [op("replace", "userName", value=None)], 400, "invalidValue"),
    ("path-less userName null", USER, BASE_USER, [op("replace", value={"userName": None})], 400, "invalidValue"),
    # primary
    ("replace with two primaries", USER, BASE_USER,
     [op("replace", "emails", value=[{"value": "a", "primary": True}, {"value": "b", "primary": True}])],
     400, "invalidValue"),
    ("add with two primaries", USER, BASE_USER,
     [op("add", "emails", value=[{"value": "a", "primary": True}, {"value": "b", "primary": "True"}])],
     400, "invalidValue"),
    ("every element made primary", USER, TWO_EMAILS, [op("replace", "emails.primary", value=True)], 400, "invalidValue"),
    # groups
    ("remove group displayName", GROUP, BASE_GROUP, [op("remove", "displayName")], 400, "invalidValue"),
    ("add members through filter", GROUP, BASE_GROUP, [op("add", f'members[value eq "{U1}"]', value={"value": U1})],
     400, "invalidPath"),
    ("replace members through filter", GROUP, BASE_GROUP,
     [op("replace", f'members[value eq "{U1}"]', value={"value": U2})], 400, "invalidPath"),
    ("member filter on display", GROUP, BASE_GROUP, [op("remove", 'members[display eq "Maren"]')], 400, "invalidPath"),
    ("member filter on unknown sub-attribute", GROUP, BASE_GROUP, [op("remove", 'members[id eq "x"]')],
     400, "invalidPath"),
    ("member sub-attribute change", GROUP, BASE_GROUP,
     [op("replace", f'members[value eq "{U1}"].display', value="x")], 400, "mutability"),
    ("members.value path", GROUP, BASE_GROUP, [op("remove", "members.value")], 400, "mutability"),
    ("member value not a string", GROUP, BASE_GROUP, [op("add", "members", value=[{"value": 17}])], 400, "invalidValue"),
    ("User attribute on a Group", GROUP, BASE_GROUP, [op("replace", "userName", value="x")], 400, "invalidPath"),
    ("add null (RFC 7644 §3.5.2.1: add carries a value)", USER, BASE_USER, [op("add", "title", value=None)],
     400, "invalidValue"),
    ("path-less add of null", USER, BASE_USER, [op("add", value={"displayName": None})], 400, "invalidValue"),
    ("value filter on a single simple value", USER, BASE_USER, [op("remove", 'externalId[value eq "x"]')],
     400, "invalidPath"),
    ("value filter on active", USER, BASE_USER, [op("remove", "active[value eq false]")], 400, "invalidPath"),
    ("group id", GROUP, BASE_GROUP, [op("replace", "id", value="x")], 400, "mutability"),
]


@pytest.mark.parametrize("rt,start,ops,status,scim_type", [c[1:] for c in ERROR_OPS], ids=[c[0] for c in ERROR_OPS])
def test_patch_errors(rt, start, ops, status, scim_type):
    before = copy.deepcopy(start)
    with pytest.raises(ScimError) as info:
        apply_patch(rt, start, body(*ops))
    assert (info.value.status, info.value.scim_type) == (status, scim_type), info.value.detail
    assert info.value.detail
    assert start == before


def test_error_detail_names_the_operation():
    with pytest.raises(ScimError) as info:
        apply_patch(USER, BASE_USER, body(op("replace", "title", value="x"), op("replace", "nickname2", value="x")))
    assert "Operations[1]" in info.value.detail
    assert "nickname2" in info.value.detail


# ---------------------------------------------------------------- atomicity

ATOMIC = [
    ("user: later op has an unknown path", USER, BASE_USER,
     [op("replace", "name.givenName", value="X"), op("add", "emails", value=[{"value": "n@x", "primary": True}]),
      op("remove", f"{ENT}:manager"), op("replace", "nickname2", value="x")]),
    ("user: later op removes userName", USER, TWO_EMAILS,
     [op("replace", 'emails[type eq "home"].primary', value=True), op("remove", "emails.type"), op("remove", "userName")]),
    ("user: later op targets nothing", USER, BASE_USER,
     [op("remove", ENT), op("replace", value={"active": "False", "name.familyName": "T"}),
      op("replace", 'emails[type eq "home"].value', value="x")]),
    ("user: later op has a bad value", USER, BASE_USER,
     [op("Add", 'phoneNumbers[type eq "mobile"].value', value="+1"), op("replace", "active", value="perhaps")]),
    ("group: member change then read-only", GROUP, BASE_GROUP,
     [op("add", "members", value=[{"value": U1}]), op("replace", "displayName", value="X"), op("replace", "id", value="x")]),
    ("group: rename then remove required", GROUP, BASE_GROUP,
     [op("replace", value={"displayName": "Other"}), op("remove", "displayName")]),
]


@pytest.mark.parametrize("rt,start,ops", [c[1:] for c in ATOMIC], ids=[c[0] for c in ATOMIC])
def test_failed_patch_leaves_input_unchanged(rt, start, ops):
    data = copy.deepcopy(start)
    snapshot = copy.deepcopy(start)
    # the operations before the failing one succeed on their own
    apply_patch(rt, data, body(*ops[:-1]))
    assert data == snapshot
    with pytest.raises(ScimError):
        apply_patch(rt, data, body(*ops))
    assert data == snapshot


def test_unknown_sub_attributes_in_values_are_ignored_and_reported():
    """Values are tolerant (unknown keys dropped and reported); paths are not (see the invalidPath cases)."""
    from scimapp.scim.schemas import collecting_ignored
    with collecting_ignored() as ignored:
        result = apply_patch(USER, copy.deepcopy(BASE_USER), body(op("add", "emails", value=[{"value": "a@x", "kind": "x"}])))
    assert {"value": "a@x"} in result.data["emails"] and ignored == ["emails[0].kind"]
    with collecting_ignored() as ignored:
        result = apply_patch(GROUP, copy.deepcopy(BASE_GROUP),
                             body(op("add", "members", value=[{"value": U1, "role": "x", "displayName": "Una"}])))
    assert result.member_changes[0].items == [{"value": U1, "display": "Una"}]  # displayName read as display
    assert ignored == ["members[0].role"]

"""Table tests for scimapp/scim/paths.py: resolving paths against a resource type, the typing rules of a
comparison (RFC 7644 §3.4.2.2) and the in-memory meaning of a filter (``evaluate``, the reference for SQL)."""
from __future__ import annotations

import pytest

from scimapp.scim.attributes import Registry
from scimapp.scim.filter import AttrPath, parse_filter, parse_path
from scimapp.scim.paths import PathError, condition, element_matches, evaluate, resolve

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_CORE = "urn:ietf:params:scim:schemas:core:2.0:Group"
COMMON = "urn:scimapp:common"
LAB = "urn:example:scim:lab:1.0:User"  # a test-only extension with the types the bundled schemas lack
CLASH = "urn:example:scim:clash:1.0:User"  # a second extension that also defines "manager" and "department"

LAB_SCHEMA = {
    "id": LAB,
    "name": "LabUser",
    "attributes": [
        {"name": "level", "type": "integer"},
        {"name": "score", "type": "decimal"},
        {"name": "hiredAt", "type": "dateTime"},
        {"name": "badge", "type": "binary"},
        {"name": "tags", "type": "string", "multiValued": True},
        {"name": "code", "type": "string", "caseExact": True},
    ],
}
CLASH_SCHEMA = {
    "id": CLASH,
    "name": "ClashUser",
    "attributes": [{"name": "manager", "type": "string"}, {"name": "department", "type": "string"}],
}

REG = Registry()
USER = REG.user
GROUP = REG.group
LAB_REG = Registry(extra_user_extensions=[LAB_SCHEMA])
LAB_USER = LAB_REG.user
CLASH_USER = Registry(extra_user_extensions=[CLASH_SCHEMA]).user


def path(text: str) -> AttrPath:
    return parse_path(text).attr


# --------------------------------------------------------------------------- resolve

# (text, schema id, attr name, sub name, extension flag, str())
RESOLVE_USER = [
    ("userName", CORE, "userName", None, False, "userName"),
    ("USERNAME", CORE, "userName", None, False, "userName"),
    ("name.givenName", CORE, "name", "givenName", False, "name.givenName"),
    ("NAME.GIVENNAME", CORE, "name", "givenName", False, "name.givenName"),
    ("emails", CORE, "emails", None, False, "emails"),
    ("emails.value", CORE, "emails", "value", False, "emails.value"),
    ("groups.display", CORE, "groups", "display", False, "groups.display"),
    ("password", CORE, "password", None, False, "password"),
    # common attributes (RFC 7643 §3.1) live in their own schema
    ("id", COMMON, "id", None, False, "id"),
    ("externalId", COMMON, "externalId", None, False, "externalId"),
    ("meta.created", COMMON, "meta", "created", False, "meta.created"),
    ("META.LASTMODIFIED", COMMON, "meta", "lastModified", False, "meta.lastModified"),
    # URN-qualified core names
    (f"{CORE}:userName", CORE, "userName", None, False, "userName"),
    (f"{CORE}:name.familyName", CORE, "name", "familyName", False, "name.familyName"),
    (f"{CORE.upper()}:userName", CORE, "userName", None, False, "userName"),
    # extension attributes by URN
    (f"{ENT}:employeeNumber", ENT, "employeeNumber", None, True, f"{ENT}:employeeNumber"),
    (f"{ENT}:manager", ENT, "manager", None, True, f"{ENT}:manager"),
    (f"{ENT}:manager.value", ENT, "manager", "value", True, f"{ENT}:manager.value"),
    (f"{ENT.lower()}:DEPARTMENT", ENT, "department", None, True, f"{ENT}:department"),
    # unqualified names that exactly one extension defines (Entra: manager[value eq "…"])
    ("manager", ENT, "manager", None, True, f"{ENT}:manager"),
    ("manager.value", ENT, "manager", "value", True, f"{ENT}:manager.value"),
    ("costCenter", ENT, "costCenter", None, True, f"{ENT}:costCenter"),
]


@pytest.mark.parametrize("text,schema_id,attr,sub,extension,shown", RESOLVE_USER, ids=[c[0] for c in RESOLVE_USER])
def test_resolve_user(text, schema_id, attr, sub, extension, shown):
    r = resolve(USER, path(text))
    assert r.schema.id == schema_id
    assert r.attr.name == attr
    assert (r.sub.name if r.sub else None) == sub
    assert r.extension is extension
    assert str(r) == shown
    assert r.target is (r.sub or r.attr)


@pytest.mark.parametrize("text", [ENT, ENT.lower(), ENT.upper()])
def test_resolve_bare_extension_urn(text):
    r = resolve(USER, path(text))
    assert r.schema.id == ENT
    assert r.attr is None and r.sub is None and r.target is None
    assert r.extension is True
    assert str(r) == ENT


RESOLVE_GROUP = [
    ("displayName", GROUP_CORE, "displayName", None),
    ("members", GROUP_CORE, "members", None),
    ("members.value", GROUP_CORE, "members", "value"),
    ("members.$ref", GROUP_CORE, "members", "$ref"),
    (f"{GROUP_CORE}:members.type", GROUP_CORE, "members", "type"),
    ("externalId", COMMON, "externalId", None),
]


@pytest.mark.parametrize("text,schema_id,attr,sub", RESOLVE_GROUP, ids=[c[0] for c in RESOLVE_GROUP])
def test_resolve_group(text, schema_id, attr, sub):
    r = resolve(GROUP, path(text))
    assert (r.schema.id, r.attr.name, r.sub.name if r.sub else None, r.extension) == (schema_id, attr, sub, False)


UNRESOLVABLE = [
    (USER, "nickname2"),
    (USER, "name.nickName"),  # not a sub-attribute of name
    (USER, "userName.value"),  # userName is not complex
    (USER, "emails.bogus"),
    (USER, "members"),  # a Group attribute
    (USER, f"{GROUP_CORE}:displayName"),  # the Group schema is not the User's
    (USER, "urn:example:unknown:1.0:User:title"),
    (USER, f"{ENT}:nickName"),  # core attribute under the extension URN
    (USER, f"{ENT}:manager.displayNameX"),
    (USER, f"{CORE}:employeeNumber"),  # extension attribute under the core URN
    (USER, CORE),  # the core URN alone is not an extension
    (GROUP, "userName"),
    (GROUP, "manager"),  # no extensions on Group: the unqualified fallback finds nothing
    (GROUP, "members.display2"),
    (GROUP, ENT),
    (CLASH_USER, "manager"),  # two extensions define it: ambiguous
    (CLASH_USER, "department"),
]


@pytest.mark.parametrize("rt,text", UNRESOLVABLE, ids=[f"{rt.name}:{t}" for rt, t in UNRESOLVABLE])
def test_resolve_unknown(rt, text):
    with pytest.raises(PathError):
        resolve(rt, path(text))


def test_ambiguous_unqualified_name_still_resolves_when_qualified():
    assert resolve(CLASH_USER, path(f"{CLASH}:manager")).attr.type == "string"
    assert resolve(CLASH_USER, path(f"{ENT}:manager")).attr.type == "complex"


# --------------------------------------------------------------------------- condition(): typing rules

def attr_of(text: str, rt=USER):
    return resolve(rt, path(text)).target


# (path, op, literal, expected op, expected key)
CONDITIONS = [
    # strings: folded unless caseExact
    ("userName", "eq", "Maren.Varga", "eq", "maren.varga"),
    ("userName", "ne", "MAREN", "eq", "maren"),  # ne is returned as eq: callers negate
    ("userName", "co", "Holl", "co", "holl"),
    ("userName", "sw", "M", "sw", "m"),
    ("userName", "ew", "@X.Example", "ew", "@x.example"),
    ("userName", "gt", "M", "gt", "m"),  # strings are ordered lexicographically
    ("userName", "le", "Z", "le", "z"),
    ("userName", "eq", "STRASSE", "eq", "strasse"),
    ("userName", "eq", "Straße", "eq", "strasse"),  # full Unicode case folding
    ("userName", "eq", 42, "eq", "42"),  # an unquoted number against a string means its text
    ("emails.value", "eq", "M@X.example", "eq", "m@x.example"),
    ("name.familyName", "sw", "HOLL", "sw", "holl"),
    ("externalId", "eq", "AbC-1", "eq", "AbC-1"),  # caseExact
    ("id", "eq", "AbC", "eq", "AbC"),
    ("profileUrl", "eq", "HTTPS://Ex/A", "eq", "HTTPS://Ex/A"),  # references compare exactly
    ("meta.resourceType", "eq", "User", "eq", "User"),
    # null: only eq / ne
    ("title", "eq", None, "eq", None),
    ("title", "ne", None, "eq", None),
    ("active", "eq", None, "eq", None),
    # booleans: eq / ne with true/false (strings tolerated)
    ("active", "eq", True, "eq", "true"),
    ("active", "ne", False, "eq", "false"),
    ("active", "eq", "TRUE", "eq", "true"),
    ("active", "eq", "False", "eq", "false"),
    ("emails.primary", "eq", True, "eq", "true"),
    # dateTime: normalised to UTC, ordered
    ("meta.created", "gt", "2024-05-01T14:00:00+02:00", "gt", "2024-05-01T12:00:00.000000Z"),
    ("meta.created", "eq", "2024-05-01T12:00:00Z", "eq", "2024-05-01T12:00:00.000000Z"),
    ("meta.lastModified", "le", "2024-05-01T12:00:00.5Z", "le", "2024-05-01T12:00:00.500000Z"),
    ("meta.created", "ge", "2024-05-01T12:00:00", "ge", "2024-05-01T12:00:00.000000Z"),  # no zone = UTC
]


@pytest.mark.parametrize("text,op,literal,want_op,want_key", CONDITIONS,
                         ids=[f"{c[0]} {c[1]} {c[2]!r}" for c in CONDITIONS])
def test_condition_accepts(text, op, literal, want_op, want_key):
    cond = condition(attr_of(text), op, literal)
    assert (cond.op, cond.key) == (want_op, want_key)
    assert cond.attr is attr_of(text)


LAB_CONDITIONS = [
    ("level", "gt", 5, "gt", 5.0),
    ("level", "eq", "7", "eq", 7.0),
    ("level", "ne", 3, "eq", 3.0),
    ("score", "le", 1.5, "le", 1.5),
    ("score", "eq", -2, "eq", -2.0),
    ("hiredAt", "lt", "2020-01-01T00:00:00Z", "lt", "2020-01-01T00:00:00.000000Z"),
    ("tags", "eq", "Blue", "eq", "blue"),
    ("code", "eq", "Blue", "eq", "Blue"),
]


@pytest.mark.parametrize("text,op,literal,want_op,want_key", LAB_CONDITIONS,
                         ids=[f"{c[0]} {c[1]} {c[2]!r}" for c in LAB_CONDITIONS])
def test_condition_numbers_and_custom_types(text, op, literal, want_op, want_key):
    cond = condition(attr_of(f"{LAB}:{text}", LAB_USER), op, literal)
    assert (cond.op, cond.key) == (want_op, want_key)
    assert cond.numeric is (cond.attr.type in ("integer", "decimal"))


REJECTED_CONDITIONS = [
    # booleans: only eq/ne, only booleans
    (USER, "active", "gt", True),
    (USER, "active", "co", "tr"),
    (USER, "active", "sw", "t"),
    (USER, "active", "eq", 1),
    (USER, "active", "eq", "yes"),
    (USER, "emails.primary", "le", False),
    # strings cannot be compared with a boolean
    (USER, "userName", "eq", True),
    (USER, "externalId", "ne", False),
    # dateTime: no substring operators, must parse
    (USER, "meta.created", "co", "2024"),
    (USER, "meta.created", "sw", "2024"),
    (USER, "meta.created", "ew", "Z"),
    (USER, "meta.created", "gt", "yesterday"),
    (USER, "meta.created", "eq", "2024-13-01T00:00:00Z"),
    (USER, "meta.lastModified", "eq", True),
    # binary: never
    (USER, "x509Certificates.value", "eq", "MIIC"),
    (USER, "x509Certificates.value", "co", "MII"),
    (USER, "x509Certificates.value", "gt", "A"),
    # complex: compare a sub-attribute instead
    (USER, "name", "eq", "x"),
    (USER, "emails", "eq", "x"),
    (USER, f"{ENT}:manager", "eq", "m1"),
    (USER, "meta", "eq", "x"),
    # write-only / never returned
    (USER, "password", "eq", "secret"),
    (USER, "password", "eq", None),
    # null only with eq / ne
    (USER, "title", "gt", None),
    (USER, "title", "co", None),
    # group
    (GROUP, "members", "eq", "u1"),
]


@pytest.mark.parametrize("rt,text,op,literal", REJECTED_CONDITIONS,
                         ids=[f"{c[1]} {c[2]} {c[3]!r}" for c in REJECTED_CONDITIONS])
def test_condition_rejects(rt, text, op, literal):
    with pytest.raises(PathError):
        condition(attr_of(text, rt), op, literal)


@pytest.mark.parametrize("text,op,literal", [
    ("level", "co", 5), ("level", "sw", 5), ("level", "eq", "five"), ("level", "eq", True), ("score", "ew", 1),
    ("hiredAt", "co", "2020"), ("badge", "eq", "AAAA"), ("badge", "lt", "AAAA"),
])
def test_condition_rejects_custom_types(text, op, literal):
    with pytest.raises(PathError):
        condition(attr_of(f"{LAB}:{text}", LAB_USER), op, literal)


# --------------------------------------------------------------------------- evaluate()

MAREN = {
    "schemas": [CORE, ENT],
    "id": "2819c223-AbCd",
    "externalId": "Ext-0042",
    "userName": "Maren.Varga@Oakridge.example",
    "name": {"givenName": "Maren", "familyName": "Varga-Tan", "formatted": "Maren Varga-Tan"},
    "displayName": "Maren Varga-Tan",
    "title": "Field Technician",
    "profileUrl": "https://Intranet.example/Maren",
    "active": True,
    "emails": [
        {"value": "Maren.Varga@Oakridge.example", "type": "work", "primary": True},
        {"value": "maren@home.example", "type": "home"},
    ],
    "phoneNumbers": [{"value": "+31 20 555 0142", "type": "work"}],
    "addresses": [{"type": "work", "locality": "Lindenau", "country": "GB"}],
    "groups": [{"value": "g-1", "display": "Logistics"}],
    "x509Certificates": [{"value": "TUlJQw=="}],
    ENT: {"employeeNumber": "EMP-4471", "department": "Logistics", "manager": {"value": "m-77"}},
    "meta": {"resourceType": "User", "created": "2024-05-01T12:00:00.000Z",
             "lastModified": "2024-06-01T08:30:00.000Z"},
}

BARE = {"id": "b1", "userName": "bare", "active": False, "nickName": "", "name": {"givenName": ""},
        "meta": {"resourceType": "User", "created": "2023-01-01T00:00:00.000Z"}}

EVALUATE = [
    # eq / ne and case sensitivity per caseExact
    ('userName eq "maren.varga@oakridge.example"', MAREN, True),
    ('userName eq "MAREN.VARGA@OAKRIDGE.EXAMPLE"', MAREN, True),
    ('USERNAME EQ "maren.varga@oakridge.example"', MAREN, True),
    ('userName eq "maren"', MAREN, False),
    ('userName ne "MAREN.varga@oakridge.example"', MAREN, False),
    ('userName ne "someone"', MAREN, True),
    ('externalId eq "Ext-0042"', MAREN, True),
    ('externalId eq "ext-0042"', MAREN, False),  # caseExact
    ('externalId ne "ext-0042"', MAREN, True),
    ('id eq "2819c223-AbCd"', MAREN, True),
    ('id eq "2819C223-ABCD"', MAREN, False),  # caseExact
    ('profileUrl eq "https://intranet.example/maren"', MAREN, False),  # reference: caseExact
    ('displayName eq "maren varga-tan"', MAREN, True),
    # substring operators
    ('userName co "VARGA"', MAREN, True),
    ('userName co "smith"', MAREN, False),
    ('userName sw "MAREN."', MAREN, True),
    ('userName sw "varga"', MAREN, False),
    ('userName ew "@OAKRIDGE.EXAMPLE"', MAREN, True),
    ('userName ew "@oakridge"', MAREN, False),
    ('externalId co "ext"', MAREN, False),  # caseExact substring
    ('externalId sw "Ext-"', MAREN, True),
    # ordering on strings
    ('userName gt "M"', MAREN, True),
    ('userName gt "n"', MAREN, False),
    ('userName lt "N"', MAREN, True),
    ('userName ge "maren.varga@oakridge.example"', MAREN, True),
    ('userName le "maren.varga@oakridge.example"', MAREN, True),
    ('userName lt "maren.varga@oakridge.example"', MAREN, False),
    # dateTime ordering (normalised to UTC, unquoted accepted)
    ('meta.created gt "2024-04-30T23:59:59Z"', MAREN, True),
    ('meta.created gt "2024-05-01T12:00:00Z"', MAREN, False),
    ('meta.created ge "2024-05-01T12:00:00Z"', MAREN, True),
    ('meta.created eq "2024-05-01T14:00:00+02:00"', MAREN, True),
    ('meta.created lt 2024-05-01T12:00:01Z', MAREN, True),
    ('meta.lastModified le "2024-06-01T08:29:59.999Z"', MAREN, False),
    ('meta.created gt "2023-06-01T00:00:00Z"', BARE, False),
    # booleans
    ("active eq true", MAREN, True),
    ("active eq false", MAREN, False),
    ('active eq "True"', MAREN, True),
    ("active ne true", MAREN, False),
    ("active eq false", BARE, True),
    ("active eq true", {"userName": "x"}, False),
    ("active ne true", {"userName": "x"}, True),  # absent attribute: "ne" matches
    # ne and null on absent attributes
    ('title ne "x"', BARE, True),
    ('title eq "x"', BARE, False),
    ("title eq null", BARE, True),
    ("title ne null", BARE, False),
    ("title eq null", MAREN, False),
    ("title ne null", MAREN, True),
    ('nickName ne "x"', BARE, True),  # empty string counts as absent
    ("nickName eq null", BARE, True),
    ('name.middleName ne "x"', MAREN, True),
    ('name.givenName eq "MAREN"', MAREN, True),
    # pr
    ("title pr", MAREN, True),
    ("title pr", BARE, False),
    ("nickName pr", BARE, False),  # "" is not present
    ("name pr", MAREN, True),
    ("name pr", BARE, False),  # {"givenName": ""} is not present
    ("name.givenName pr", BARE, False),
    ("emails pr", MAREN, True),
    ("emails pr", BARE, False),
    ("emails.type pr", MAREN, True),
    ("emails.display pr", MAREN, False),
    ("x509Certificates pr", MAREN, True),
    ("x509Certificates.value pr", MAREN, True),  # binary may be tested for presence
    # multi-valued: any element matches
    ('emails.value eq "maren@HOME.example"', MAREN, True),
    ('emails.type eq "home"', MAREN, True),
    ('emails.type eq "other"', MAREN, False),
    ('emails co "@home"', MAREN, True),  # emails compares emails.value (RFC 7644 §3.4.2.2)
    ('emails eq "maren@home.example"', MAREN, True),
    ('emails ew ".org"', MAREN, False),
    ("emails.primary eq true", MAREN, True),
    ('phoneNumbers.value sw "+31"', MAREN, True),
    ('groups.value eq "g-1"', MAREN, True),
    ('groups.display eq "logistics"', MAREN, True),
    # ne on multi-valued: "no value equals" (paths.condition docstring), so one matching element is enough to fail
    ('emails.type ne "home"', MAREN, False),
    ('emails.type ne "other"', MAREN, True),
    # value filters
    ('emails[type eq "work"]', MAREN, True),
    ('emails[type eq "other"]', MAREN, False),
    ('emails[type eq "work" and value co "@oakridge"]', MAREN, True),
    ('emails[type eq "home" and value co "@oakridge"]', MAREN, False),  # same element must match both
    ('emails[type eq "home" or primary eq true]', MAREN, True),
    ('emails[not (type eq "work")]', MAREN, True),
    ('emails[type ne "work"]', MAREN, True),  # element-wise: the home element
    ('emails[primary eq false]', MAREN, False),
    ('emails[primary ne true]', MAREN, True),  # the home element has no primary
    ('emails[display pr]', MAREN, False),
    ('emails[type eq "work"].value eq "MAREN.VARGA@oakridge.example"', MAREN, True),
    ('emails[type eq "home"].value eq "maren.varga@oakridge.example"', MAREN, False),
    ('addresses[type eq "work" and country eq "gb"]', MAREN, True),
    ('emails[type eq "work"]', BARE, False),
    ('name[givenName eq "maren"]', MAREN, True),  # value filter on a single-valued complex attribute
    # extensions: qualified, unqualified fallback
    (f'{ENT}:employeeNumber eq "emp-4471"', MAREN, True),
    (f'{ENT}:department eq "Logistics"', MAREN, True),
    (f'{ENT}:department pr', BARE, False),
    (f'{ENT}:manager.value eq "M-77"', MAREN, False),  # manager.value is an id: compared exactly
    ('manager.value eq "m-77"', MAREN, True),
    (f'{ENT}:manager[value eq "m-77"]', MAREN, True),
    (f'{ENT}:manager eq "m-77"', MAREN, True),  # Entra's old pre-update check: compares manager.value
    (f'{ENT}:manager eq "M-77"', MAREN, False),  # ids compare exactly
    ('manager[value eq "m-99"]', MAREN, False),
    ("manager pr", MAREN, True),
    (f'{CORE}:userName sw "maren"', MAREN, True),
    # logic
    ('userName sw "maren" and active eq true', MAREN, True),
    ('userName sw "maren" and active eq false', MAREN, False),
    ('userName sw "zed" or active eq true', MAREN, True),
    ('userName sw "zed" or active eq false', MAREN, False),
    ('not (userName sw "zed")', MAREN, True),
    ('not (userName sw "maren")', MAREN, False),
    ('title pr and not (emails[type eq "other"]) and (externalId eq "x" or id pr)', MAREN, True),
    ('userName eq "bare" or userName eq "maren" and active eq true', BARE, True),  # and binds tighter
    ('(userName eq "bare" or userName eq "maren") and active eq true', BARE, False),
]


@pytest.mark.parametrize("text,resource,expected", EVALUATE,
                         ids=[f"{'MAREN' if r is MAREN else 'BARE' if r is BARE else 'other'}: {t}" for t, r, _ in EVALUATE])
def test_evaluate(text, resource, expected):
    assert evaluate(USER, parse_filter(text), resource) is expected


LAB_RESOURCE = {"userName": "lab", LAB: {"level": 5, "score": 2.5, "tags": ["Blue", "green"], "code": "AbC",
                                         "hiredAt": "2020-02-29T10:00:00Z"}}

LAB_EVALUATE = [
    ("level eq 5", True), ("level gt 4", True), ("level gt 5", False), ("level ge 5", True), ("level lt 10", True),
    ("level le 4.5", False), ('level eq "5"', True), ("level ne 5", False), ("score lt 3", True),
    ("score eq 2.5", True), ('tags eq "BLUE"', True), ('tags eq "red"', False), ('tags co "ree"', True),
    ('tags[value eq "green"]', True), ('tags[value sw "b"]', True), ('tags[value eq "red"]', False),
    ('code eq "abc"', False), ('code eq "AbC"', True), ('hiredAt gt "2020-02-29T09:59:59Z"', True),
    ('hiredAt lt "2020-02-29T11:00:00+02:00"', False),
]


@pytest.mark.parametrize("text,expected", LAB_EVALUATE, ids=[t for t, _ in LAB_EVALUATE])
def test_evaluate_custom_extension(text, expected):
    assert evaluate(LAB_USER, parse_filter(f"{LAB}:{text}"), LAB_RESOURCE) is expected


GROUP_RESOURCE = {"id": "g1", "displayName": "Data Stewards",
                  "members": [{"value": "u1", "type": "User", "display": "Maren"}, {"value": "g2", "type": "Group"}]}


@pytest.mark.parametrize("text,expected", [
    ('displayName eq "DATA stewards"', True),
    ('members[value eq "u1"]', True),
    ('members[value eq "U1"]', False),  # member ids are compared exactly, like ids
    ('members.type eq "group"', True),
    ('members[type eq "User" and value eq "g2"]', False),
    ("members pr", True),
], ids=lambda x: str(x))
def test_evaluate_group(text, expected):
    assert evaluate(GROUP, parse_filter(text), GROUP_RESOURCE) is expected


EVALUATE_ERRORS = [
    'name eq "x"',  # complex
    'password eq "x"',
    'x509Certificates.value eq "TUlJQw=="',  # binary
    "active gt true",
    'meta.created co "2024"',
    'nickname2 eq "x"',
    f"{ENT} pr",  # a schema, not an attribute
    'emails[bogus eq "x"]',
    'emails[value.sub eq "x"]',
    'userName eq true',
]


@pytest.mark.parametrize("text", EVALUATE_ERRORS)
def test_evaluate_rejects(text):
    with pytest.raises(PathError):
        evaluate(USER, parse_filter(text), MAREN)


def test_evaluate_rejects_invalid_value_filter_even_without_elements():
    with pytest.raises(PathError):
        evaluate(USER, parse_filter('phoneNumbers[bogus eq "x"]'), BARE)


@pytest.mark.parametrize("text,value", [("externalId eq 1.50", "1.50"), ("externalId eq 1E3", "1E3")])
def test_unquoted_number_against_string_uses_its_text(text, value):
    assert evaluate(USER, parse_filter(text), {"userName": "n", "externalId": value}) is True


@pytest.mark.parametrize("text,value,expected", [
    ("externalId eq 42", "42", True), ("externalId eq 42", "042", False), ("employeeNumber eq 1234", "1234", True),
])
def test_unquoted_integer_against_string(text, value, expected):
    resource = {"userName": "n", "externalId": value, ENT: {"employeeNumber": value}}
    assert evaluate(USER, parse_filter(text), resource) is expected


# --------------------------------------------------------------------------- element_matches()

EMAILS = resolve(USER, path("emails")).attr


@pytest.mark.parametrize("flt,element,expected", [
    ('type eq "WORK"', {"type": "work", "value": "a@x"}, True),
    ('type eq "work"', {"value": "a@x"}, False),
    ('type ne "work"', {"value": "a@x"}, True),
    ("type pr", {"type": ""}, False),
    ('value co "@X" and primary eq true', {"value": "a@x", "primary": True}, True),
    ('value co "@X" and primary eq true', {"value": "a@x", "primary": False}, False),
    ('not (type eq "home") or value eq "h@x"', {"type": "home", "value": "h@x"}, True),
    ("type eq null", {"value": "a@x"}, True),
], ids=lambda x: str(x))
def test_element_matches(flt, element, expected):
    node = parse_filter(f"emails[{flt}]").filter
    assert element_matches(EMAILS, node, element) is expected


def test_element_matches_rejects_unknown_sub_attribute():
    node = parse_filter('emails[kind eq "work"]').filter
    with pytest.raises(PathError):
        element_matches(EMAILS, node, {"type": "work"})

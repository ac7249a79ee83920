"""Filters compiled to SQL (``query.py``) agree with the in-memory reference meaning (``paths.evaluate``).

A varied directory of ~40 users is loaded once through the API; for every filter in a large table the ids that
``GET /Users?filter=…`` returns must equal the ids of the users whose full representation (``GET /Users/{id}``)
matches the filter in memory. A handful of result sets are also checked by hand, so that both sides cannot be
wrong together. RFC 7644 §3.4.2.2.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest

from scimapp import create_app
from scimapp.scim.filter import parse_filter
from scimapp.scim.paths import evaluate
from tests.conftest import ScimClient, recorded_sql

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_MEDIA = "application/scim+json"


# ---------------------------------------------------------------------------- the directory

def _specs() -> list[tuple[str, dict]]:
    """(userName, attributes) of every user; ``"@alice"`` etc. are replaced by that user's id after creation."""
    s: list[tuple[str, dict]] = [
        ("alice", {"name": {"givenName": "Alice", "familyName": "Anderson"}, "displayName": "Alice Anderson",
                   "title": "Engineer", "active": True, "externalId": "EXT-001",
                   "profileUrl": "https://Example.com/alice",
                   "emails": [{"value": "alice@example.com", "type": "work", "primary": True},
                              {"value": "Alice@Home.ORG", "type": "home"}],
                   ENT: {"department": "Sales", "employeeNumber": "E001", "organization": "ACME Corp"}}),
        ("Bob", {"name": {"givenName": "Bob", "familyName": "Smith"}, "title": "engineer", "active": False,
                 "externalId": "ext-001",
                 "emails": [{"value": "bob@home.com", "type": "home"}, {"value": "bob@work.org", "type": "work"}],
                 "phoneNumbers": [{"value": "+1 555 0101", "type": "mobile"}],
                 ENT: {"department": "sales", "employeeNumber": "E002", "manager": {"value": "@alice"}}}),
        ("CHARLIE", {"name": {"familyName": "SMITH"}, "title": "ENGINEER", "externalId": "Ext-ABC",
                     "emails": [{"value": "charlie@example.net", "type": "other", "primary": False}],
                     "addresses": [{"locality": "Paris", "country": "FR", "type": "work"}]}),
        ("dave.smith@example.com", {"displayName": "Dave Smith", "title": "Senior Engineer", "active": "True",
                                    "emails": [{"value": "dave.smith@example.com", "type": "work", "primary": True}],
                                    ENT: {"department": "Engineering", "employeeNumber": "E010"}}),
        ("Émile@exemple.fr", {"name": {"givenName": "Émile", "familyName": "Zola"}, "title": "Manager",
                              "emails": [{"value": "émile@exemple.fr", "type": "work"}],
                              "preferredLanguage": "fr-FR", "locale": "fr-FR",
                              "addresses": [{"locality": "Lyon", "country": "FR"}],
                              ENT: {"department": "Ingeniería"}}),
        ("zoë", {"name": {"familyName": "Ångström"}, "nickName": "Zo", "active": True,
                 ENT: {"department": "INGENIERÍA", "costCenter": "CC1"}}),
        ("straße", {"title": "manager", "active": False,
                    "addresses": [{"locality": "Berlin", "country": "DE", "primary": True}]}),
        ("O'Brien", {"name": {"familyName": "O'Brien"}, "nickName": "",
                     "emails": [{"value": "obrien@example.com", "type": "work"},
                                {"value": "OBrien@Example.com", "type": "home", "primary": True}]}),
        ("under_score", {"title": "under_score title", "emails": [{"value": "u_s@example.com", "type": "work"}]}),
        ("percent%sign", {"title": "100% done"}),
        ("star*name", {"title": "a*b"}),
        ("bracket[x]", {"title": "[x]"}),
        ("question?", {"title": "why?"}),
        ("minimal", {}),
        ("ALLCAPS@EXAMPLE.COM", {"emails": [{"value": "ALLCAPS@EXAMPLE.COM", "type": "work", "primary": True}],
                                 "roles": [{"value": "admin"}], "entitlements": [{"value": "license-e5"}]}),
        ("roleuser", {"roles": [{"value": "Admin", "type": "x"}, {"value": "reader"}], "active": True}),
        ("phoneonly", {"phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"},
                                        {"value": "+1 555 0199", "type": "mobile", "primary": True}]}),
        ("ünïcödé", {"displayName": "ÜNÏCÖDÉ", "nickName": "ünï"}),
        ("emailtypes", {"emails": [{"value": "e1@example.com"}, {"value": "e2@example.org", "type": "home"},
                                   {"value": "e3@example.com", "type": "other", "primary": True}]}),
        ("mgr2", {ENT: {"department": "Sales", "costCenter": "CC1", "division": "North",
                        "manager": {"value": "@Bob"}}, "active": True}),
        ("cc2", {ENT: {"costCenter": "CC2", "organization": "acme labs"}}),
        ("timezone", {"timezone": "Europe/Paris", "userType": "Employee"}),
        ("contractor", {"userType": "Contractor", "active": False, "title": "Contractor"}),
        ("ΣΊΣΥΦΟΣ", {"displayName": "Σίσυφος"}),
        ("ﬁnance", {"title": "ﬁnance"}),
        ("blankdisplay", {"displayName": "", "title": "", "externalId": ""}),
    ]
    titles = ["Engineer", "Manager", None, "Analyst"]
    families = ["Smith", "Jones", "smith", None]
    departments = ["Sales", "Engineering", None]
    actives = [True, False, None]
    for i in range(14):
        attrs: dict = {}
        if titles[i % 4]:
            attrs["title"] = titles[i % 4]
        if families[i % 4]:
            attrs["name"] = {"familyName": families[i % 4], "givenName": f"Gen{i}"}
        if actives[i % 3] is not None:
            attrs["active"] = actives[i % 3]
        if departments[i % 3]:
            attrs[ENT] = {"department": departments[i % 3], "employeeNumber": f"E{100 + i}"}
        if i % 2 == 0:
            attrs["emails"] = [{"value": f"gen{i}@example.com", "type": "work", "primary": i % 4 == 0}]
        if i % 5 == 0:
            attrs.setdefault("emails", []).append({"value": f"gen{i}@home.example", "type": "home"})
        if i % 3 == 0:
            attrs["externalId"] = f"GEN-{i}"
        s.append((f"gen{i:02d}", attrs))
    return s


class Directory:
    """The loaded directory: a client, the users' ids by userName, their full representations, and values the
    filter table refers to (ids, timestamps)."""

    def __init__(self, app, scim: ScimClient):
        self.app = app
        self.scim = scim
        self.ids: dict[str, str] = {}
        self.reps: dict[str, dict] = {}
        self.values: dict[str, str] = {}

    def name_of(self, uid: str) -> str:
        return next(n for n, i in self.ids.items() if i == uid)


def _resolve_refs(value, ids):
    if isinstance(value, dict):
        return {k: _resolve_refs(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("@"):
        return ids[value[1:]]
    return value


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    app = create_app({"INSTANCE_PATH": tmp_path_factory.mktemp("filters") / "instance", "TESTING": True})
    from scimapp import tokens
    from scimapp.extensions import db
    with app.app_context():
        secret = tokens.create("filters", "pytest")[1]
    scim = ScimClient(app.test_client(), secret)
    d = Directory(app, scim)
    for i, (name, attrs) in enumerate(_specs()):
        if name == "mgr2":
            time.sleep(0.01)  # mgr2's creation time splits the directory for meta.created comparisons
        body = {"schemas": [USER] + ([ENT] if ENT in attrs else []), "userName": name,
                **_resolve_refs(attrs, d.ids)}
        resp = scim.post("/Users", body)
        assert resp.status_code == 201, (name, resp.get_data(as_text=True))
        d.ids[name] = resp.get_json()["id"]
    time.sleep(0.01)
    for name in ("Bob", "zoë", "gen03"):  # later lastModified for a few
        resp = scim.patch(f"/Users/{d.ids[name]}", [{"op": "replace", "path": "nickName", "value": f"nick-{name}"}])
        assert resp.status_code == 200
    groups = {}
    for gname, members in (("Engineering", ["alice", "CHARLIE", "gen00", "gen04"]), ("Sales", ["Bob", "mgr2"]),
                           ("Empty", [])):
        resp = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": gname,
                                     "members": [{"value": d.ids[m]} for m in members]})
        assert resp.status_code == 201
        groups[gname] = resp.get_json()["id"]
    resp = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "All",
                                 "members": [{"value": groups["Engineering"]}, {"value": d.ids["zoë"]},
                                             {"value": d.ids["alice"]}]})
    assert resp.status_code == 201
    groups["All"] = resp.get_json()["id"]
    for name, uid in d.ids.items():
        resp = scim.get(f"/Users/{uid}")
        assert resp.status_code == 200
        d.reps[name] = resp.get_json()
    created = d.reps["mgr2"]["meta"]["created"]
    shifted = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(hours=2)
    d.values = {
        "alice": d.ids["alice"], "bob": d.ids["Bob"], "gid_eng": groups["Engineering"], "gid_sales": groups["Sales"],
        "gid_all": groups["All"], "alice_prefix": d.ids["alice"][:8],
        "created_mid": created,
        "created_mid_plus2": shifted.strftime("%Y-%m-%dT%H:%M:%S.") + f"{shifted.microsecond // 1000:03d}+02:00",
        "lastmod_bob": d.reps["Bob"]["meta"]["lastModified"],
    }
    yield d
    with app.app_context():
        db.engine.dispose()




def sql_ids(d: Directory, flt: str) -> tuple[set[str], list[str]]:
    """The ids the API returns for a filter, and the SQL it ran."""
    with recorded_sql(d.app) as statements:
        resp = d.scim.get("/Users", query_string={"filter": flt, "count": 1000})
    assert resp.status_code == 200, (flt, resp.get_data(as_text=True))
    body = resp.get_json()
    ids = {r["id"] for r in body["Resources"]}
    assert body["totalResults"] == len(ids) == body["itemsPerPage"]
    return ids, statements


def reference_ids(d: Directory, flt: str) -> set[str]:
    registry = d.app.extensions["scim_registry"]
    node = parse_filter(flt)
    return {rep["id"] for rep in d.reps.values() if evaluate(registry.user, node, rep)}


VALUE_READ = re.compile(r"\b(?:FROM|JOIN)\s+scim_user_values\b(?:\s+AS\s+(\w+))?", re.IGNORECASE)


def unanchored_value_scans(statements: list[str]) -> list[str]:
    """Statements that read scim_user_values through an alias whose ``attr`` is never constrained."""
    bad = []
    for st in statements:
        for m in VALUE_READ.finditer(st):
            alias = m.group(1) or "scim_user_values"
            if not re.search(rf"\b{re.escape(alias)}\.attr\s*=", st):
                bad.append(st)
    return bad


# ---------------------------------------------------------------------------- the table

FILTERS = [
    # userName: dedicated column, case-insensitive, Unicode folded
    'userName eq "alice"', 'userName eq "ALICE"', 'userName eq "émile@EXEMPLE.FR"', 'userName eq "STRASSE"',
    'userName eq "σίσυφος"', 'userName ne "alice"', 'userName co "e"', 'userName co "SMITH"', 'userName co "*"',
    'userName co "%"', 'userName co "_"', 'userName co "["', 'userName co "?"', 'userName co "\'"',
    'userName sw "a"', 'userName sw "É"', 'userName sw "gen0"', 'userName ew ".com"', 'userName ew "X]"',
    'userName gt "m"', 'userName ge "minimal"', 'userName lt "c"', 'userName le "bob"', 'userName pr',
    'userName eq null', 'userName ne null', 'userName gt "ü"',
    # externalId: dedicated column, case-exact
    'externalId eq "EXT-001"', 'externalId eq "ext-001"', 'externalId eq "Ext-abc"', 'externalId co "ABC"',
    'externalId sw "GEN"', 'externalId sw "gen"', 'externalId pr', 'externalId ne "EXT-001"', 'externalId eq null',
    'externalId gt "GEN-3"', 'externalId eq EXT-001',
    'externalId eq ""',
    # id
    'id eq "{alice}"', 'id ne "{alice}"', 'id pr', 'id sw "{alice_prefix}"', 'id eq "{ALICE_UPPER}"',
    # displayName: dedicated column, case-insensitive
    'displayName eq "alice anderson"', 'displayName co "SMITH"', 'displayName pr', 'displayName ne "Dave Smith"',
    'displayName eq null', 'displayName eq "ünïcödé"', 'displayName sw "σίσ"',
    'displayName co ""',
    # active: boolean column, present / absent / string-coerced
    'active eq true', 'active eq false', 'active ne true', 'active ne false', 'active pr', 'active eq "TRUE"',
    'not (active pr)', 'active eq null', 'active ne null', 'ACTIVE EQ TRUE',
    # meta
    'meta.created gt "{created_mid}"', 'meta.created ge "{created_mid}"', 'meta.created lt "{created_mid}"',
    'meta.created le "{created_mid}"', 'meta.created eq "{created_mid}"', 'meta.created ne "{created_mid}"',
    'meta.created gt "{created_mid_plus2}"', 'meta.created eq "{created_mid_plus2}"',
    'meta.created gt "2000-01-01T00:00:00Z"', 'meta.created lt "2000-01-01T00:00:00Z"',
    'meta.created gt 2000-01-01T00:00:00Z', 'meta.lastModified gt "{created_mid}"',
    'meta.lastModified ge "{lastmod_bob}"', 'meta.lastModified eq "{lastmod_bob}"', 'meta.lastModified pr',
    'meta.created pr', 'meta.resourceType eq "User"', 'meta.resourceType eq "Group"', 'meta.resourceType pr',
    'meta.resourceType ne "User"', 'meta.resourceType eq "user"',
    # simple attributes in the filter index
    'title eq "engineer"', 'title eq "Engineer"', 'title co "eng"', 'title sw "senior"', 'title ew "ER"',
    'title ne "engineer"', 'title pr', 'title eq null', 'title ne null', 'title gt "m"', 'title lt "f"',
    'title le "engineer"', 'title ge "senior engineer"', 'title co "%"', 'title co "*"', 'title co "["',
    'title co "?"', 'title co "_"', 'title eq "finance"', 'title eq "FINANCE"', 'title co " "',
    'nickName pr', 'not (nickName pr)', 'nickName eq "zo"', 'nickName ne "zo"', 'nickName sw "nick-"',
    'userType eq "employee"', 'timezone eq "europe/paris"', 'preferredLanguage sw "fr"', 'locale pr',
    # case-exact reference attributes
    'profileUrl co "Example"', 'profileUrl co "example"', 'profileUrl eq "https://example.com/alice"',
    'profileUrl pr',
    # complex single-valued
    'name.familyName eq "smith"', 'name.familyName co "mi"', 'name.givenName sw "a"', 'name pr',
    'name.familyName pr', 'name.middleName pr', 'name.familyName ne "smith"', 'not (name.familyName eq "Smith")',
    'name.familyName eq "ångström"', 'name.familyName gt "s"', 'name[familyName eq "smith" and givenName pr]',
    'name[givenName sw "gen1"]', 'name.familyName eq "O\'Brien"',
    # multi-valued complex
    'emails eq "alice@example.com"', 'emails co "EXAMPLE"', 'emails.value ew ".org"', 'emails.type eq "home"',
    'emails.primary eq true', 'emails.primary eq false', 'emails.primary ne true', 'emails pr', 'not (emails pr)',
    'emails.value ne "alice@example.com"', 'emails.value pr', 'emails.type pr', 'emails.display pr',
    'emails.value gt "m"', 'emails.value eq null',
    'emails[type eq "work"]', 'emails[type eq "work" and value co "example"]', 'emails[type eq "work" and primary eq true]',
    'emails[type eq "home" or type eq "other"]', 'emails[not (type eq "work")]', 'emails[type ne "work"]',
    'emails[type eq null]', 'emails[primary eq false]', 'emails[value pr]', 'emails[primary pr]',
    'emails[type eq "work"].value co "example"', 'emails[type eq "home"].value ew ".org"',
    'emails[type eq "home" and value ew ".com"]', 'emails.type eq "home" and emails.value ew ".com"',
    'emails[value ew ".org" and not (type eq "home")]', 'emails[(type eq "work" or type eq "home") and primary eq true]',
    'emails[value eq "OBRIEN@example.com" and type eq "home"]', 'emails[type eq "WORK"]',
    'phoneNumbers.value sw "+1"', 'phoneNumbers[type eq "mobile"]', 'phoneNumbers[type eq "mobile" and primary eq true]',
    'phoneNumbers pr', 'addresses.locality eq "paris"', 'addresses[country eq "FR" and locality eq "Lyon"]',
    'addresses.country pr', 'addresses[primary eq true]', 'addresses.country ne "fr"',
    'roles.value eq "admin"', 'roles[value eq "admin" and type pr]', 'entitlements pr', 'roles pr',
    # enterprise extension
    f'{ENT}:department eq "sales"', f'{ENT}:department eq "Sales"', 'department eq "ingeniería"',
    'department eq "INGENIERÍA"', f'{ENT}:employeeNumber pr', f'{ENT}:employeeNumber gt "E010"',
    f'{ENT}:employeeNumber le "E010"', f'{ENT}:manager.value eq "{{alice}}"', f'{ENT}:manager pr',
    f'{ENT}:manager[value eq "{{bob}}"]', f'{ENT}:costCenter ne "CC1"', f'{ENT}:organization co "acme"',
    f'{ENT}:division pr', f'not ({ENT}:department pr)', f'{ENT}:department ne "sales"',
    f'{ENT}:manager.displayName pr', f'{ENT.upper()}:DEPARTMENT EQ "SALES"', 'manager.value eq "{alice}"',
    f'{ENT}:manager.value ne "{{alice}}"', f'not ({ENT}:manager.value eq "{{bob}}")',
    # core attributes by URN
    f'{USER}:userName sw "a"', f'{USER}:name.familyName eq "Smith"', f'{USER}:emails[type eq "work"]',
    f'{USER}:active eq true',
    # logic, grouping, precedence
    'userName sw "a" or userName sw "b"', 'userName sw "a" and active eq true',
    '(title eq "engineer" or title eq "manager") and active eq true',
    'title eq "engineer" or title eq "manager" and active eq true',
    'not (userName sw "a" or userName sw "b")', 'not (not (active eq true))', '((userName pr))',
    'active eq true and (emails[type eq "home"] or phoneNumbers pr)', 'userName Eq "alice" AND active EQ TRUE',
    'title eq "engineer" and not (emails[type eq "work"])', 'not (title pr) or not (emails pr)',
    'emails[type eq "work"] and emails[type eq "home"]', 'not (emails[type eq "work"] or emails[type eq "home"])',
    f'{ENT}:department eq "sales" and not (title eq "engineer")',
    'active ne true and title ne "engineer" and not (name.familyName pr)',
    # not (…) over nullable columns: an absent value must match (two-valued logic, not SQL's NULL)
    'not (active eq false)', 'not (active eq true)', 'title pr and not (active eq false)',
    'not (externalId eq "EXT-001")', 'not (externalId sw "GEN")', 'not (displayName co "smith")',
    'not (displayName eq "Dave Smith") and userName sw "d"', 'not (userName sw "gen")',
    'not (active pr and active eq false)', 'not (title eq "engineer")', 'not (emails.value co "example")',
    'not (meta.created gt "{created_mid}")', 'not (id eq "{alice}")',
    '(userName sw "gen" and (active eq true or active eq false)) or (externalId pr and not (userName sw "gen"))',
    # groups (computed from the member table)
    'groups.value eq "{gid_eng}"', 'groups[value eq "{gid_eng}"]', 'groups.display eq "engineering"',
    'groups pr', 'not (groups pr)', 'groups[display co "eng" and type eq "direct"]', 'groups.type eq "direct"',
    'groups.value eq "{gid_all}"', 'groups.value eq "{gid_eng}" or groups.value eq "{gid_sales}"',
    'groups.display sw "S"', 'groups[value eq "{gid_eng}"] and groups[value eq "{gid_all}"]',
    # ne / eq null at the resource level: "no membership matches", users without groups included
    'groups.value ne "{gid_eng}"', 'groups.value eq null', 'groups.display ne "Engineering"', 'groups.value ne null',
    'not (groups.value eq "{gid_eng}")',
]


def _fill(d: Directory, template: str) -> str:
    return template.format(**d.values, ALICE_UPPER=d.values["alice"].upper()) if "{" in template else template


@pytest.mark.parametrize("template", FILTERS)
def test_sql_agrees_with_reference(directory, template):
    flt = _fill(directory, template)
    got, statements = sql_ids(directory, flt)
    expected = reference_ids(directory, flt)
    names = directory.name_of
    assert sorted(map(names, got)) == sorted(map(names, expected)), flt
    assert unanchored_value_scans(statements) == [], flt


def test_the_table_is_discriminating(directory):
    """Most filters select some but not all users, so agreement is not trivially reached by empty results."""
    sizes = []
    for t in FILTERS:
        template = t.values[0] if hasattr(t, "values") else t
        sizes.append(len(reference_ids(directory, _fill(directory, template))))
    n = len(directory.ids)
    assert n >= 40
    partial = [s for s in sizes if 0 < s < n]
    assert len(partial) >= 0.75 * len(sizes)


# ---------------------------------------------------------------------------- by hand

HAND = [
    ('userName eq "ALICE"', {"alice"}),
    ('userName eq "émile@EXEMPLE.FR"', {"Émile@exemple.fr"}),
    ('userName eq "STRASSE"', {"straße"}),
    ('userName eq "σίσυφος"', {"ΣΊΣΥΦΟΣ"}),
    ('userName co "*"', {"star*name"}),
    ('userName co "%"', {"percent%sign"}),
    ('userName co "_"', {"under_score"}),
    ('userName co "["', {"bracket[x]"}),
    ('userName co "?"', {"question?"}),
    ('userName sw "É"', {"Émile@exemple.fr"}),
    ('externalId eq "EXT-001"', {"alice"}),
    ('externalId eq "ext-001"', {"Bob"}),
    ('externalId eq "ext-abc"', set()),
    ('title eq "engineer" and not (userName sw "gen")', {"alice", "Bob", "CHARLIE"}),
    ('title eq "finance"', {"ﬁnance"}),
    ('title co "%"', {"percent%sign"}),
    ('emails[type eq "home" and value ew ".com"] and not (userName sw "gen")', {"Bob", "O'Brien"}),
    ('emails.type eq "home" and emails.value ew ".org" and not (userName sw "gen")', {"alice", "Bob", "emailtypes"}),
    ('emails[type eq "work" and primary eq true] and not (userName sw "gen")',
     {"alice", "dave.smith@example.com", "ALLCAPS@EXAMPLE.COM"}),
    ('emails[type eq null]', {"emailtypes"}),
    ('emails.value eq "obrien@EXAMPLE.com"', {"O'Brien"}),
    (f'{ENT}:department eq "sales" and not (userName sw "gen")', {"alice", "Bob", "mgr2"}),
    ('department eq "ingeniería"', {"Émile@exemple.fr", "zoë"}),
    (f'{ENT}:manager.value eq "{{alice}}"', {"Bob"}),
    (f'{ENT}:costCenter ne "CC1" and {ENT}:costCenter pr', {"cc2"}),
    ('profileUrl co "Example"', {"alice"}),
    ('profileUrl co "example"', set()),
    ('groups.value eq "{gid_eng}"', {"alice", "CHARLIE", "gen00", "gen04"}),
    ('groups.value eq "{gid_all}"', {"alice", "zoë"}),  # direct members only
    ('addresses[country eq "FR" and locality eq "Lyon"]', {"Émile@exemple.fr"}),
    ('roles.value eq "admin"', {"ALLCAPS@EXAMPLE.COM", "roleuser"}),
    ('phoneNumbers[type eq "mobile" and primary eq true]', {"phoneonly"}),
    ('nickName ne "ÜNÏ" and not (userName sw "gen")',
     set(n for n, _ in _specs() if not n.startswith("gen")) - {"ünïcödé"}),
    ('meta.lastModified ge "{lastmod_bob}"', {"Bob", "zoë", "gen03"}),
]


@pytest.mark.parametrize("template,expected", HAND)
def test_hand_checked_results(directory, template, expected):
    got, _ = sql_ids(directory, _fill(directory, template))
    assert {directory.name_of(i) for i in got} == expected


def test_active_string_true_was_stored_as_boolean(directory):
    got, _ = sql_ids(directory, 'active eq true and userName sw "dave"')
    assert {directory.name_of(i) for i in got} == {"dave.smith@example.com"}
    assert directory.reps["dave.smith@example.com"]["active"] is True


def test_meta_created_ordering_splits_the_directory(directory):
    later, _ = sql_ids(directory, _fill(directory, 'meta.created ge "{created_mid}"'))
    earlier, _ = sql_ids(directory, _fill(directory, 'meta.created lt "{created_mid}"'))
    assert later and earlier and not (later & earlier)
    assert len(later | earlier) == len(directory.ids)
    assert directory.ids["alice"] in earlier and directory.ids["mgr2"] in later


def test_filter_with_paging_and_sorting(directory):
    resp = directory.scim.get("/Users", query_string={"filter": 'title eq "engineer"', "sortBy": "userName",
                                                      "count": 2, "startIndex": 2})
    body = resp.get_json()
    all_names = sorted((directory.name_of(i) for i in sql_ids(directory, 'title eq "engineer"')[0]),
                       key=lambda n: n.casefold())
    assert body["totalResults"] == len(all_names)
    assert [r["userName"] for r in body["Resources"]] == all_names[1:3]


# ---------------------------------------------------------------------------- refusals

INVALID = [
    "userName", "userName eq", 'userName xx "a"', '(userName eq "a"', 'userName eq "a")', 'userName eq "a" and',
    'and userName eq "a"', 'foo eq "a"', 'name eq "x"', 'emails[type eq "work"', 'emails[type eq "work"]]',
    'emails[type eq "work"][value eq "x"]', 'emails[type[value eq "x"]]', 'active gt true', 'active co "t"',
    'active eq "maybe"', 'active eq 1', 'meta.version eq "W/\\"1\\""', 'meta.location eq "x"', 'meta eq "x"',
    'password eq "x"', 'x509Certificates.value eq "x"', 'meta.created co "2020"',
    'meta.created gt "not-a-date"', 'meta.created gt "2020-13-45T99:00:00Z"', 'urn:unknown:schema:attr eq "x"',
    f'{ENT} eq "x"', f'{ENT} pr', 'userName eq "unterminated', 'userName eq "\\q"', 'not userName eq "a"',
    'not (userName eq "a"', 'emails.value[type eq "work"]', 'name.familyName.x eq "a"', 'groups.$ref eq "x"',
    'title gt true', 'title eq false', 'emails[type eq "work"].bogus eq "x"', 'emails[bogus eq "x"]',
    'name.bogus eq "x"', "userName eq " + '"' + "a" * 10_001 + '"', "(" * 60 + 'userName pr' + ")" * 60,
    " or ".join(['userName eq "a"'] * 1001), 'userName eq "a" or', "()", "[]", '"userName" eq "a"',
    'userName eq "a" userName eq "b"', 'emails[]', 'members eq "x"', 'groups[value eq "x"].display eq "y"x',
    'userName pr pr', 'userName eq [1]', 'emails[type eq "work" and emails[type eq "home"]]',
    'name pr eq "x"', 'userName ge null', 'emails.primary gt false',
]


@pytest.mark.parametrize("flt", INVALID)
def test_invalid_filters_are_400_invalid_filter(directory, flt):
    resp = directory.scim.get("/Users", query_string={"filter": flt})
    assert resp.status_code == 400, (flt, resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == SCIM_MEDIA
    body = resp.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == "400"
    assert body["scimType"] == "invalidFilter"


@pytest.mark.parametrize("flt", ['userName eq "\\ud800"', 'title co "x\\udfff"'])
def test_lone_surrogate_in_filter_is_400(directory, flt):
    # Regression: the decoded lone surrogate used to reach the SQLite driver (UnicodeEncodeError -> 500).
    resp = directory.scim.get("/Users", query_string={"filter": flt})
    assert resp.status_code == 400
    assert resp.get_json()["scimType"] == "invalidFilter"


def test_empty_filter_means_no_filter(directory):
    resp = directory.scim.get("/Users", query_string={"filter": "   ", "count": 1000})
    assert resp.status_code == 200
    assert resp.get_json()["totalResults"] == len(directory.ids)


def test_unanchored_scan_detector_detects(directory):
    """The SQL check used above flags a statement that reads every index row."""
    assert unanchored_value_scans(["SELECT resource_id FROM scim_user_values WHERE key = ?"])
    assert unanchored_value_scans(["SELECT a.x FROM scim_user_values AS a WHERE a.sub = ?"])
    assert not unanchored_value_scans(["SELECT a.x FROM scim_user_values AS a WHERE a.attr = ? AND a.sub = ?"])

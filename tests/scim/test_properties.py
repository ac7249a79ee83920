"""Property-based tests (hypothesis) of the filter compiler and of PATCH.

1. SQL equals the reference: for random directories of users and random filters built as ASTs from the RFC 7644
   §3.4.2.2 grammar, ``GET /Users?filter=…`` returns exactly the users whose full representation matches the filter
   in memory (``paths.evaluate``), and a filter the server refuses (400 invalidFilter) is one ``evaluate`` refuses
   too (PathError), and the other way round.
2. Random PATCH sequences on users and groups keep the invariants: no 500, a 4xx changes nothing, userNames stay
   unique case-insensitively, no duplicate members, at most one primary value, ``meta.version`` grows by one exactly
   when the representation changed, and group members are what a small model of the operations predicts.

Bugs these properties found (and that are now fixed) keep a test each, with an explicit ``@example`` reproducing
the first failure: ``test_server_and_reference_refuse_the_same_filters`` (filters the server refused and the
reference accepted), ``test_meta_value_filters_equal_reference`` (``meta[…]`` matched nothing in SQL) and
``test_group_version_changes_only_with_the_group`` (member operations that cancel out bumped the version).

Deterministic for CI: ``derandomize=True`` (a fixed seed) and no example database.
"""
from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from scimapp.scim.filter import And, AttrPath, Compare, Not, Number, Or, Present, ValuePath, parse_filter
from scimapp.scim.paths import PathError, evaluate
from scimapp.scim.values import fold

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_CORE = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def prop_settings(max_examples: int):
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ============================================================================ shared helpers

def listing(scim, endpoint: str) -> list[dict]:
    resp = scim.get(endpoint, query_string={"count": 1000})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["Resources"]


def reset(scim) -> None:
    """Delete every group and user, so each hypothesis example starts from an empty directory."""
    for endpoint in ("/Groups", "/Users"):
        for r in listing(scim, endpoint):
            resp = scim.delete(f"{endpoint}/{r['id']}")
            assert resp.status_code == 204, resp.get_data(as_text=True)


def rcase(rnd, text: str) -> str:
    """``text`` in a random case (names, operators and keywords are case-insensitive)."""
    how = rnd.randrange(4)
    if how == 0:
        return text
    if how == 1:
        return text.upper()
    if how == 2:
        return text.lower()
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in text)


# ============================================================================ 1. SQL equals the reference

# Pieces of text chosen for case-folding trouble: ß/ẞ/SS (fold to ss), final and capital sigma, dotted and dotless
# i, the Kelvin sign (folds to k), the ﬁ ligature (NFKC: fi), precomposed and decomposed é; and the characters
# LIKE and GLOB treat specially (% _ \\ * ? [ ]), and a double quote (escaped in the filter text).
SPECIALS = ["*", "?", "[", "]", "%", "_", "\\", '"']
PIECES = ["a", "A", "b", "B", "k", "K", "ss", "SS", "ß", "ẞ", "é", "É", "e\u0301", "ü", "Ü", "σ", "ς", "Σ", "İ", "ı",
          "i", "K", "ﬁ", "fi", " ", "@", ".", "-", *SPECIALS, *SPECIALS]
WORD = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)
OPTIONAL_TEXT = st.one_of(st.none(), st.just(""), WORD)
EMAIL_TYPES = ["work", "home", "other", "Work", "HOME"]


@st.composite
def email_lists(draw):
    n = draw(st.integers(0, 3))
    primary_at = draw(st.one_of(st.none(), st.integers(0, max(n - 1, 0))))
    out = []
    for i in range(n):
        e: dict = {}
        value = draw(st.one_of(st.just(""), WORD, WORD.map(lambda w: w + "@example.com")))
        if draw(st.integers(0, 5)):
            e["value"] = value
        t = draw(st.one_of(st.none(), st.sampled_from(EMAIL_TYPES)))
        if t is not None:
            e["type"] = t
        if i == primary_at:
            e["primary"] = True
        elif draw(st.booleans()):
            e["primary"] = False
        if draw(st.integers(0, 4)) == 0:
            e["display"] = draw(WORD)
        out.append(e)
    return out


@st.composite
def user_specs(draw):
    u: dict = {"schemas": [CORE], "userName": draw(WORD)}
    for attr in ("displayName", "title", "nickName", "externalId"):
        v = draw(OPTIONAL_TEXT)
        if v is not None:
            u[attr] = v
    active = draw(st.sampled_from([None, True, False, "True", "false"]))
    if active is not None:
        u["active"] = active
    emails = draw(email_lists())
    if emails:
        u["emails"] = emails
    name = {k: v for k in ("givenName", "familyName") if (v := draw(OPTIONAL_TEXT)) is not None}
    if name:
        u["name"] = name
    ent = {}
    department = draw(OPTIONAL_TEXT)
    if department is not None:
        ent["department"] = department
    number = draw(st.one_of(st.none(), st.sampled_from(["42", "042", "1.50", "E42"]), WORD))
    if number is not None:
        ent["employeeNumber"] = number
    manager = draw(st.one_of(st.none(), WORD))
    if manager is not None:
        ent["manager"] = {"value": manager}
    if ent:
        u["schemas"] = [CORE, ENT]
        u[ENT] = ent
    return u


def strings_in(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def variants(text: str) -> list[str]:
    """Literals derived from a stored value: other cases, normal forms, prefixes, suffixes, a middle part."""
    t = text
    out = [t, t.upper(), t.lower(), t.swapcase(), t.casefold(), unicodedata.normalize("NFD", t),
           unicodedata.normalize("NFKC", t)]
    if len(t) > 1:
        out += [t[:1], t[:2], t[-1:], t[-2:], t[1:-1] or t]
    return out


class Ctx:
    """What a filter strategy draws from: the strings stored in the directory and runtime values (ids, times)."""

    def __init__(self, specs: list[dict], reps: list[dict], group_names: list[str], group_ids: list[str]):
        pool = sorted({s for spec in specs for s in strings_in(spec) if not s.startswith("urn:")} | set(group_names))
        self.pool = pool or ["a"]
        self.ids = [r["id"] for r in reps]
        self.group_ids = group_ids
        self.times = [r["meta"]["created"] for r in reps] + [r["meta"]["lastModified"] for r in reps]


def P(uri, attr, sub=None) -> AttrPath:
    return AttrPath(uri, attr, sub)


# Paths of string-valued attributes (top-level, sub-attributes, implied emails.value, extension with and without
# its URN, core attribute with its URN, computed attributes). Filters both sides must refuse (meta.version,
# meta.location, groups.$ref, "meta pr", title[value eq "x"]) and meta[…] have tests of their own below.
STRING_PATHS = [
    P(None, "userName"), P(None, "displayName"), P(None, "title"), P(None, "nickName"), P(None, "externalId"),
    P(None, "name", "givenName"), P(None, "name", "familyName"), P(None, "emails", "value"), P(None, "emails"),
    P(None, "emails", "type"), P(None, "emails", "display"), P(ENT, "department"), P(None, "department"),
    P(ENT, "employeeNumber"), P(CORE, "userName"), P(CORE, "emails", "type"), P(None, "meta", "resourceType"),
    P(None, "groups", "display"), P(None, "groups", "type"),
]
BOOL_PATHS = [P(None, "active"), P(None, "emails", "primary"), P(CORE, "active")]
PRESENT_PATHS = STRING_PATHS + BOOL_PATHS + [
    P(None, "name"), P(None, "emails"), P(None, "phoneNumbers"), P(ENT, "manager"), P(None, "id"),
    P(None, "meta", "created"), P(None, "meta", "lastModified"), P(None, "groups"), P(None, "groups", "value"),
    P(None, "addresses", "locality"),
]
STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
ORDER_OPS = ["eq", "ne", "gt", "ge", "lt", "le"]
EMAIL_SUBS = ["value", "type", "display"]

# Filters the server must refuse, and evaluate too: type rules of RFC 7644 §3.4.2.2, unknown names, the password,
# a schema URN used as an attribute, bad value filters.
INVALID_LEAVES = [
    Compare(P(None, "active"), "gt", True), Compare(P(None, "active"), "co", "t"),
    Compare(P(None, "active"), "eq", "maybe"), Compare(P(None, "active"), "eq", Number("1")),
    Compare(P(None, "title"), "eq", True), Compare(P(None, "name"), "eq", "x"),
    Compare(P(None, "userName"), "ge", None), Compare(P(None, "bogus"), "eq", "x"), Present(P(None, "bogus")),
    Compare(P(None, "meta", "created"), "co", "2020"), Compare(P(None, "meta", "created"), "gt", "not-a-date"),
    Present(P(None, "password")), Compare(P(None, "password"), "eq", "x"),
    Present(P("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User")),
    Compare(P("urn:unknown:schema", "attr"), "eq", "x"), Compare(P(None, "name", "bogus"), "eq", "x"),
    Compare(P(None, "emails", "primary"), "gt", False), Compare(P(None, "x509Certificates", "value"), "eq", "x"),
    ValuePath(P(None, "emails"), Compare(P(None, "bogus"), "eq", "x")),
    ValuePath(P(None, "emails"), Compare(P(None, "primary"), "co", "t")),
    ValuePath(P(None, "emails"), Compare(P(None, "value", "x"), "eq", "x")),
    ValuePath(P(None, "name"), Compare(P(None, "bogus"), "eq", "x")),
]

def case_variants(text: str) -> list[str]:
    return [text, text.upper(), text.lower(), "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(text))]


def cased(path: AttrPath):
    """A path in random letter case (RFC 7643 §2.1: names are case-insensitive)."""
    return st.builds(AttrPath, st.sampled_from(case_variants(path.uri)) if path.uri else st.none(),
                     st.sampled_from(case_variants(path.attr)),
                     st.sampled_from(case_variants(path.sub)) if path.sub else st.none())


def any_cased(paths: list[AttrPath]):
    return st.sampled_from(paths).flatmap(cased)


def rel(names: list[str]):
    """A relative path inside a value filter, in random case."""
    return st.sampled_from(names).flatmap(lambda n: cased(AttrPath(None, n)))


def literal_strategy(ctx: Ctx):
    derived = st.sampled_from(ctx.pool).flatmap(lambda s: st.sampled_from(variants(s)))
    return st.one_of(derived, derived, derived, WORD, st.just(""), st.sampled_from(SPECIALS))


def filter_strategy(ctx: Ctx):
    """Random filter ASTs for this directory, literals mostly derived from its stored values."""
    lit = literal_strategy(ctx)
    booleans = st.sampled_from([True, False, "true", "FALSE"])
    eq_ne = st.sampled_from(["eq", "ne"])

    string_cmp = st.builds(Compare, any_cased(STRING_PATHS), st.sampled_from(STRING_OPS), lit)
    bool_cmp = st.builds(Compare, any_cased(BOOL_PATHS), eq_ne, booleans)
    null_cmp = st.builds(Compare, any_cased(PRESENT_PATHS), eq_ne, st.none())
    present = st.builds(Present, any_cased(PRESENT_PATHS))
    numbers = st.builds(Compare, st.sampled_from([P(ENT, "employeeNumber"), P(None, "title"), P(None, "externalId")]),
                        st.sampled_from(ORDER_OPS), st.sampled_from(["42", "1.50", "0", "-7"]).map(Number))
    runtime = [st.builds(Compare, st.just(P(None, "id")), eq_ne, st.sampled_from(ctx.ids))]
    if ctx.group_ids:
        runtime.append(st.builds(Compare, st.just(P(None, "groups", "value")), eq_ne, st.sampled_from(ctx.group_ids)))
    runtime.append(st.builds(Compare, st.sampled_from([P(None, "meta", "created"), P(None, "meta", "lastModified")]),
                             st.sampled_from(ORDER_OPS), st.sampled_from(ctx.times + ["2000-01-01T00:00:00Z"])))

    # value filters: emails[…] (multi-valued complex), name[…] and manager[…] (single complex), groups[…]
    rel_string = st.builds(Compare, rel(EMAIL_SUBS), st.sampled_from(STRING_OPS), lit)
    rel_bool = st.builds(Compare, rel(["primary"]), eq_ne, booleans)
    rel_null = st.builds(Compare, rel(EMAIL_SUBS + ["primary"]), eq_ne, st.none())
    rel_present = st.builds(Present, rel(EMAIL_SUBS + ["primary"]))
    rel_leaf = st.one_of(rel_string, rel_string, rel_bool, rel_null, rel_present)
    inner = st.recursive(rel_leaf, lambda c: st.one_of(st.builds(And, c, c), st.builds(Or, c, c), st.builds(Not, c)),
                         max_leaves=4)
    emails_vp = st.builds(ValuePath, cased(P(None, "emails")), inner)
    name_vp = st.builds(ValuePath, st.just(P(None, "name")),
                        st.builds(Compare, rel(["givenName", "familyName"]), st.sampled_from(STRING_OPS), lit))
    group_vp = st.builds(ValuePath, st.just(P(None, "groups")),
                         st.builds(Compare, rel(["display", "type"]), st.sampled_from(STRING_OPS), lit))
    manager_vp = st.builds(ValuePath, st.just(P(ENT, "manager")), st.builds(Compare, rel(["value"]), eq_ne, lit))

    leaves = [string_cmp, string_cmp, string_cmp, bool_cmp, null_cmp, present, numbers, *runtime,
              emails_vp, emails_vp, name_vp, group_vp, manager_vp, st.sampled_from(INVALID_LEAVES)]
    leaf = st.one_of(*leaves)
    return st.recursive(leaf, lambda c: st.one_of(st.builds(And, c, c), st.builds(Or, c, c), st.builds(Not, c)),
                        max_leaves=5)


# ---------------------------------------------------------------------------- rendering

KEYWORDS = {"true", "false", "null", "and", "or", "not", "pr", *STRING_OPS}
UNQUOTED = re.compile(r"^[A-Za-z][A-Za-z0-9@._:-]*$")
NUMBER = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


def render_literal(value, rnd) -> str:
    if value is None:
        return rcase(rnd, "null")
    if isinstance(value, bool):
        return rcase(rnd, "true" if value else "false")
    if isinstance(value, Number):
        return value.text
    if UNQUOTED.match(value) and value.lower() not in KEYWORDS and not NUMBER.match(value) and rnd.random() < 0.2:
        return value  # lenient unquoted string (Microsoft's examples: externalId eq jyoung)
    return json.dumps(value, ensure_ascii=rnd.random() < 0.5)


def render(node, rnd) -> str:
    """Filter text for an AST; parse_filter(render(ast)) == ast."""
    def child(n):
        text = render(n, rnd)
        return f"({text})" if isinstance(n, (And, Or)) or rnd.random() < 0.1 else text

    if isinstance(node, And):
        return f"{child(node.left)} {rcase(rnd, 'and')} {child(node.right)}"
    if isinstance(node, Or):
        return f"{child(node.left)} {rcase(rnd, 'or')} {child(node.right)}"
    if isinstance(node, Not):
        return f"{rcase(rnd, 'not')}{' ' if rnd.random() < 0.7 else ''}({render(node.expr, rnd)})"
    if isinstance(node, Present):
        return f"{node.path} {rcase(rnd, 'pr')}"
    if isinstance(node, Compare):
        return f"{node.path} {rcase(rnd, node.op)} {render_literal(node.value, rnd)}"
    if isinstance(node, ValuePath):
        f = node.filter
        tail = f.right if isinstance(f, And) else None
        if isinstance(tail, (Compare, Present)) and tail.path.uri is None and tail.path.sub is None \
                and rnd.random() < 0.3:
            # lenient form: emails[type eq "work"].value co "x"  ==  emails[type eq "work" and value co "x"]
            return f"{node.path}[{render(f.left, rnd)}].{render(tail, rnd)}"
        return f"{node.path}[{render(f, rnd)}]"
    raise AssertionError(node)


def leaves_of(node) -> list:
    if isinstance(node, (And, Or)):
        return leaves_of(node.left) + leaves_of(node.right)
    if isinstance(node, Not):
        return leaves_of(node.expr)
    return [node]


def reference_refuses(rt, node) -> PathError | None:
    """The PathError ``evaluate`` raises for some leaf of the filter, whatever the data (``evaluate`` short-circuits
    and/or, so the whole filter is not enough: every leaf is checked on its own)."""
    for leaf in leaves_of(node):
        try:
            evaluate(rt, leaf, {})
        except PathError as exc:
            return exc
    return None


# ---------------------------------------------------------------------------- the property

def load_directory(scim, specs: list[dict], groups: list[tuple[str, list[int]]]) -> tuple[list[dict], list[str]]:
    """Create the users and groups through the API; returns the users' full representations (GET /Users/{id})
    and the group ids."""
    reset(scim)
    ids = []
    for spec in specs:
        resp = scim.post("/Users", spec)
        assert resp.status_code == 201, (spec, resp.get_data(as_text=True))
        ids.append(resp.get_json()["id"])
    group_ids = []
    for name, members in groups:
        resp = scim.post("/Groups", {"schemas": [GROUP_CORE], "displayName": name,
                                     "members": [{"value": ids[i]} for i in members]})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        group_ids.append(resp.get_json()["id"])
    reps = []
    for uid in ids:
        resp = scim.get(f"/Users/{uid}")
        assert resp.status_code == 200
        reps.append(resp.get_json())
    return reps, group_ids


def check_filter(rt, scim, reps: list[dict], ast, seed: int) -> None:
    """The property for one filter: same users from SQL as from evaluate, or refused by both."""
    text = render(ast, random.Random(seed))  # cosmetic choices: keyword case, quoting, parentheses
    note(f"filter: {text}")
    assert parse_filter(text) == ast, text  # the renderer and the parser agree
    node = parse_filter(text)
    refused = reference_refuses(rt, node)
    resp = scim.get("/Users", query_string={"filter": text, "count": 1000})
    body = resp.get_json()
    if refused is not None:
        assert resp.status_code == 400 and body["scimType"] == "invalidFilter", \
            (text, str(refused), resp.status_code, body)
        return
    assert resp.status_code == 200, (text, body)  # the server refuses what evaluate accepts (or fails)
    expected = {rep["id"] for rep in reps if evaluate(rt, node, rep)}
    got = [r["id"] for r in body["Resources"]]
    assert len(got) == len(set(got)) == body["totalResults"], text
    by_id = {rep["id"]: rep["userName"] for rep in reps}
    assert sorted(by_id[i] for i in got) == sorted(by_id[i] for i in expected), text


USERS = st.lists(user_specs(), min_size=5, max_size=12, unique_by=lambda u: fold(u["userName"]))
FILTERS_PER_DIRECTORY = 10


@prop_settings(max_examples=60)
@given(data=st.data())
def test_sql_filter_equals_reference_evaluate(app, scim, data):
    """GET /Users?filter=… returns exactly the users evaluate() matches; both refuse the same filters."""
    rt = app.extensions["scim_registry"].user
    specs = data.draw(USERS, label="users")
    n = len(specs)
    groups = data.draw(st.lists(st.tuples(WORD, st.lists(st.integers(0, n - 1), unique=True)), max_size=2),
                       label="groups")
    reps, group_ids = load_directory(scim, specs, groups)
    strategy = filter_strategy(Ctx(specs, reps, [g[0] for g in groups], group_ids))
    for _ in range(FILTERS_PER_DIRECTORY):
        check_filter(rt, scim, reps, data.draw(strategy, label="filter"),
                     data.draw(st.integers(0, 2**32), label="render seed"))


# Filters GET /Users refuses (400 invalidFilter) by design but evaluate() accepts: value filters on single-valued
# simple attributes ("title is a single value: filter it directly"; PATCH refuses such paths too), and meta.version,
# meta.location, "meta pr", groups.$ref ("cannot be used in a filter").
SINGLE_VALUE_PATHS = [P(None, "title"), P(None, "userName"), P(None, "displayName"), P(None, "active"), P(None, "id"),
                      P(None, "externalId"), P(ENT, "department")]
REFUSED_BY_SERVER_ONLY = st.one_of(
    st.builds(ValuePath, st.sampled_from(SINGLE_VALUE_PATHS),
              st.builds(Compare, rel(["value"]), st.sampled_from(["eq", "ne", "co"]), WORD)),
    st.builds(ValuePath, st.sampled_from(SINGLE_VALUE_PATHS), st.just(Present(P(None, "value")))),
    st.sampled_from([Present(P(None, "meta")), Present(P(None, "meta", "version")),
                     Compare(P(None, "meta", "version"), "eq", 'W/"1"'), Present(P(None, "meta", "location")),
                     Compare(P(None, "meta", "location"), "co", "Users"), Present(P(None, "groups", "$ref")),
                     ValuePath(P(None, "groups"), Present(P(None, "$ref")))]))


@prop_settings(max_examples=10)
@example(specs=[{"schemas": [CORE], "userName": "a", "title": "x"}],
         flt=ValuePath(P(None, "title"), Compare(P(None, "value"), "eq", "x")), seed=0)
@given(specs=USERS, flt=REFUSED_BY_SERVER_ONLY, seed=st.integers(0, 2**32))
def test_server_and_reference_refuse_the_same_filters(app, scim, specs, flt, seed):
    """Filters the main grammar leaves out are refused by both sides: a value filter on a single value
    (title[value eq "x"]: filter title directly), meta as a whole, meta.version and meta.location (computed when a
    resource is rendered), groups.$ref (the membership rows hold no $ref). Found when the reference accepted them;
    both now share paths.check_filter_target."""
    rt = app.extensions["scim_registry"].user
    reps, _ = load_directory(scim, specs, [])
    check_filter(rt, scim, reps, flt, seed)


META_VALUE_FILTERS = st.builds(ValuePath, cased(P(None, "meta")), st.one_of(
    st.builds(Compare, rel(["resourceType"]), st.sampled_from(["eq", "ne", "sw", "co"]),
              st.sampled_from(["User", "Group", "U"])),
    st.builds(Compare, rel(["created", "lastModified"]), st.sampled_from(ORDER_OPS),
              st.sampled_from(["2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"])),
    st.builds(Present, rel(["resourceType", "created", "lastModified"]))))


@prop_settings(max_examples=10)
@example(specs=[{"schemas": [CORE], "userName": "a"}],
         flt=ValuePath(P(None, "meta"), Compare(P(None, "resourceType"), "eq", "User")), seed=0)
@given(specs=USERS, flt=META_VALUE_FILTERS, seed=st.integers(0, 2**32))
def test_meta_value_filters_equal_reference(app, scim, specs, flt, seed):
    """Value filters on meta (meta[resourceType eq "User"], meta[created gt "2000-01-01T00:00:00Z"]) match what the
    reference matches. Found when they compiled to a lookup in the filter-index table, which holds no rows for meta,
    and answered no users; meta[F] now compiles as F with each path read under meta."""
    rt = app.extensions["scim_registry"].user
    reps, _ = load_directory(scim, specs, [])
    check_filter(rt, scim, reps, flt, seed)


# ============================================================================ 2. random PATCH sequences

# userNames that collide case-insensitively (Alice/ALICE, straße/STRASSE, the Kelvin sign K/k, the ﬁ ligature,
# é precomposed and decomposed), so renames run into the uniqueness index.
USERNAMES = ["alice", "Alice", "ALICE", "bob", "BOB", "straße", "STRASSE", "strasse", "\u212aim", "kim", "KIM",
             "ﬁona", "fiona", "e\u0301mile", "émile", "zoë"]
MV_ATTRS = ["emails", "phoneNumbers"]
MV_VALUES = {"emails": ["a@x.org", "A@X.org", "b@y.net", "c@z.com"], "phoneNumbers": ["+1 555 0100", "+44 20", "555"]}
MV_TYPES = ["work", "home", "other", "Work", "mobile"]
PRIMARY_VALUES = [True, False, "True", "false"]
GROUP_NAMES = ["Eng", "eng", "Sales", "Ops"]
UNKNOWN_IDS = ["00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"]
N_USERS, N_GROUPS = 4, 3


def op_name(kind: str):
    return st.sampled_from([kind, kind.capitalize(), kind.upper()])


def mv_item(attr: str, valid: bool = False):
    primary = st.sampled_from(PRIMARY_VALUES) if valid else st.sampled_from(PRIMARY_VALUES + ["maybe"])
    return st.fixed_dictionaries({}, optional={"value": st.sampled_from(MV_VALUES[attr]),
                                               "type": st.sampled_from(MV_TYPES), "primary": primary,
                                               "display": st.sampled_from(["D", ""])})


@st.composite
def valid_mv_list(draw, attr: str):
    """A list a POST accepts: at most one element marked primary."""
    items = draw(st.lists(mv_item(attr, valid=True), max_size=3))
    seen = False
    for item in items:
        if item.get("primary") in (True, "True"):
            if seen:
                item["primary"] = False
            seen = True
    return items


def mv_filter(attr: str):
    v = MV_VALUES[attr]
    return st.sampled_from([
        'type eq "work"', 'TYPE eq "Work"', f'value eq "{v[0]}"', f'value eq "{v[1]}"', 'primary eq true',
        'type eq "home" or type eq "other"', 'not (type pr)', f'value co "{v[0][:2]}"', 'type ne "work"',
        'display pr', f'type eq "work" and value eq "{v[2]}"', "primary eq false", 'type eq "mobile"',
    ])


@st.composite
def mv_op(draw):
    """add/replace/remove on emails or phoneNumbers: the whole attribute, through a value filter (with or without a
    sub-attribute), or a sub-attribute of every element."""
    attr = draw(st.sampled_from(MV_ATTRS))
    name = draw(st.sampled_from(case_variants(attr)))
    kind = draw(st.sampled_from(["add", "replace", "remove"]))
    shape = draw(st.sampled_from(["whole", "whole", "filter", "filter_sub", "filter_sub", "sub"]))
    sub = draw(st.sampled_from(["value", "type", "primary", "display"]))
    flt = draw(mv_filter(attr))
    path = {"whole": name, "filter": f"{name}[{flt}]", "filter_sub": f"{name}[{flt}].{sub}",
            "sub": f"{name}.{sub}"}[shape]
    op = {"op": draw(op_name(kind)), "path": path}
    if shape == "whole":
        values = st.one_of(valid_mv_list(attr), valid_mv_list(attr), mv_item(attr, valid=True),
                           st.none() if kind != "add" else valid_mv_list(attr),
                           st.lists(st.builds(lambda v: {"value": v}, st.sampled_from(MV_VALUES[attr])), max_size=2))
    elif shape == "filter":
        values = st.one_of(mv_item(attr, valid=True), st.none())
    elif sub == "primary":
        values = st.sampled_from(PRIMARY_VALUES)
    elif sub == "type":
        values = st.sampled_from(MV_TYPES + ["", None])
    else:
        values = st.sampled_from(MV_VALUES[attr] + ["", None])
    if kind != "remove" or not draw(st.integers(0, 2)):
        op["value"] = draw(values)
    return op


def simple_op(path_values: list[tuple[str, list]], kinds=("add", "replace", "replace", "remove")):
    """add/replace/remove of one of ``(path, candidate values)``."""
    @st.composite
    def strategy(draw):
        path, values = draw(st.sampled_from(path_values))
        kind = draw(st.sampled_from(kinds))
        op = {"op": draw(op_name(kind)), "path": draw(st.sampled_from(case_variants(path)[:2]))}
        if kind != "remove" or not draw(st.integers(0, 3)):
            op["value"] = draw(st.sampled_from(values))
        return op
    return strategy()


NAMES = ["Ann", "ann", ""]
USER_SIMPLE = st.one_of(
    simple_op([("userName", USERNAMES)], kinds=("add", "replace")),
    simple_op([
        ("displayName", ["Dee", "dee", ""]), ("active", [True, False, "True", "False", "TRUE"]),
        ("name.givenName", NAMES), ("name.familyName", NAMES),
        ("name", [{"givenName": "Ann"}, {"familyName": "Lee", "givenName": None}, {}]),
        (f"{ENT}:department", ["Sales", "sales", ""]), (ENT, [{"department": "Ops"}, {"employeeNumber": "7"}, {}]),
        (f"{ENT}:manager", ["m-1", {"value": "m-2"}, ""]), ("nickName", ["n", ""]),
    ]))

PATHLESS_KEYS = {
    "displayName": ["Dee", "", None], "name.givenName": NAMES, "name.familyName": NAMES,
    "active": [True, "False", "True"], "userName": USERNAMES, f"{ENT}:department": ["Sales", "ops"],
    ENT: [{"department": "Ops"}], "emails": [[{"value": "a@x.org", "type": "work", "primary": True}], []],
    'emails[type eq "work"].value': ["w@x.org", "a@x.org"], 'phoneNumbers[type eq "mobile"].value': ["555"],
    'emails[type eq "home"].primary': [True, "true"], f"{CORE}:title": ["T"], CORE: [{"title": "U"}],
    "id": ["ignored"], "nickName": ["n"],
}


@st.composite
def pathless_op(draw):
    """A path-less add/replace whose keys are attribute names and paths (Entra: ``name.givenName``, URNs)."""
    kind = draw(st.sampled_from(["add", "replace", "replace"]))
    keys = draw(st.lists(st.sampled_from(sorted(PATHLESS_KEYS)), min_size=1, max_size=3, unique=True))
    return {"op": draw(op_name(kind)), "value": {k: draw(st.sampled_from(PATHLESS_KEYS[k])) for k in keys}}


# Operations the server must refuse (400): read-only and unknown paths, values of the wrong type, required
# attributes removed, bad value filters, two primary values.
USER_INVALID = st.sampled_from([
    {"op": "replace", "path": "id", "value": "x"}, {"op": "add", "path": "groups", "value": [{"value": "x"}]},
    {"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"},
    {"op": "replace", "path": "bogus", "value": "x"}, {"op": "add", "path": "name.bogus", "value": "x"},
    {"op": "add", "path": "displayName", "value": None}, {"op": "replace", "path": "active", "value": "yes"},
    {"op": "replace", "path": "displayName", "value": 5}, {"op": "replace", "path": "userName", "value": ""},
    {"op": "remove", "path": "userName"}, {"op": "replace", "path": "userName", "value": None},
    {"op": "replace", "path": "name", "value": "x"}, {"op": "remove"}, {"op": "copy", "path": "title"},
    {"op": "replace", "path": 'emails[bogus eq "x"].value', "value": "x"},
    {"op": "replace", "path": 'emails[primary co "t"]', "value": {"value": "x"}},
    {"op": "add", "path": 'emails[value[type eq "x"]]', "value": {"value": "x"}},
    {"op": "add", "path": "emails[type eq \"work\"].primary", "value": "maybe"},
    {"op": "add", "path": "emails", "value": [{"value": "p@x.org", "primary": True},
                                              {"value": "q@x.org", "primary": True}]},
    {"op": "replace", "value": {"bogus.attr": 1}}, {"op": "replace", "path": "title[value eq \"x\"]", "value": "y"},
])



def weighted(*pairs):
    """One of the strategies, picked with the given weights."""
    return st.sampled_from([strategy for weight, strategy in pairs for _ in range(weight)]).flatmap(lambda s: s)


USER_OP = weighted((3, mv_op()), (3, USER_SIMPLE), (1, pathless_op()), (1, USER_INVALID))

# ---------------------------------------------------------------------------- group operations and their model
#
# Group operations are drawn as specs that name resources symbolically ("U1", "G0", "X0" for an unknown id) and are
# turned into JSON at run time; the same spec drives the model.
# "SELF" is the group being patched (a group cannot contain itself).
REFS = [f"U{i}" for i in range(N_USERS)] + [f"G{i}" for i in range(N_GROUPS)] + ["X0", "X1", "SELF"]
good_item = st.tuples(st.sampled_from(REFS), st.sampled_from([None, None, "Shown"]))
item_lists = st.one_of(st.lists(good_item, min_size=1, max_size=3), st.lists(good_item, min_size=1, max_size=3),
                       st.lists(st.one_of(good_item, good_item, good_item, st.just(("bad", None))), min_size=1,
                                max_size=3))

member_filter = st.recursive(
    st.one_of(st.tuples(st.sampled_from(["eq", "eq", "ne"]), st.just("value"), st.sampled_from(REFS + ["U0up"])),
              st.tuples(st.sampled_from(["eq", "ne"]), st.just("type"), st.sampled_from(["User", "group"])),
              st.just(("pr",))),
    lambda c: st.one_of(st.tuples(st.just("and"), c, c), st.tuples(st.just("or"), c, c), st.tuples(st.just("not"), c)),
    max_leaves=3)

members_spec = st.one_of(  # "absent": no value at all; None: "value": null
    st.tuples(st.just("members"), st.just("add"), st.one_of(item_lists, item_lists, item_lists, st.just([])),
              st.booleans()),
    st.tuples(st.just("members"), st.just("replace"), st.one_of(item_lists, item_lists, st.sampled_from([[], None])),
              st.booleans()),
    st.tuples(st.just("members"), st.just("remove"), st.one_of(item_lists, st.sampled_from([[], None, "absent"])),
              st.just(False)))
filter_spec = st.tuples(st.just("filter"), st.just("remove"), member_filter)
rename_spec = st.tuples(st.just("rename"), st.sampled_from(["add", "replace", "replace"]),
                        st.sampled_from(GROUP_NAMES), st.booleans())
GROUP_INVALID = st.one_of(
    st.tuples(st.just("members"), st.sampled_from(["add", "replace"]), st.just("absent"), st.booleans()),
    st.tuples(st.just("members"), st.just("add"), st.just(None), st.booleans()),
    st.tuples(st.just("bad"), st.sampled_from(["members.display", "bogus", "no path", "move"])),
    st.tuples(st.just("filter"), st.sampled_from(["remove", "add"]), st.just(("bad",))),
    st.tuples(st.just("filter"), st.just("add"), member_filter),
    st.tuples(st.just("rename"), st.sampled_from(["add", "replace", "remove"]), st.sampled_from(["", None]),
              st.booleans()))
GROUP_SPEC = weighted((6, members_spec), (2, filter_spec), (2, rename_spec), (1, GROUP_INVALID))
# A request that adds members and then fails in a later operation: everything must be rolled back.
FAILING_LATE = st.tuples(
    st.tuples(st.just("members"), st.just("add"), st.lists(good_item, min_size=1, max_size=2), st.just(False)),
    st.one_of(st.just(("members", "add", [("SELF", None)], False)), st.just(("members", "add", [("bad", None)], False)),
              st.tuples(st.just("members"), st.just("add"), st.lists(st.tuples(st.sampled_from(REFS[N_USERS:]),
                                                                                st.none()), min_size=1, max_size=2),
                        st.just(False)),
              st.just(("rename", "replace", "", False)))).map(list)
GROUP_REQUEST = weighted((5, st.lists(GROUP_SPEC, min_size=1, max_size=3)), (1, FAILING_LATE))


def render_member_filter(f, ids) -> str:
    if f[0] in ("and", "or"):
        return f"({render_member_filter(f[1], ids)}) {f[0]} ({render_member_filter(f[2], ids)})"
    if f[0] == "not":
        return f"not ({render_member_filter(f[1], ids)})"
    if f[0] == "pr":
        return "value pr"
    if f[0] == "bad":
        return 'display eq "x"'  # only value and type can be compared
    op, sub, v = f
    if sub == "value":
        v = ids[v[:-2]].upper() if v.endswith("up") else ids[v]  # member ids compare case-exactly
    return f"{sub} {op} {json.dumps(v)}"


def group_op_json(spec, gref: str, ids: dict) -> dict:
    ids = {**ids, "SELF": ids[gref]}
    kind = spec[1]
    if spec[0] == "members":
        _, kind, items, pathless = spec
        if items == "absent":
            return {"op": kind, "path": "members"}
        value = items if items is None else [
            {"display": "nobody"} if ref == "bad" else {"value": ids[ref], **({"display": d} if d else {})}
            for ref, d in items]
        if pathless and kind != "remove":
            return {"op": kind, "value": {"members": value}}
        return {"op": kind, "path": "members", "value": value}
    if spec[0] == "filter":
        return {"op": kind, "path": f"members[{render_member_filter(spec[2], ids)}]"}
    if spec[0] == "rename":
        _, kind, name, pathless = spec
        if kind == "remove":
            return {"op": kind, "path": "displayName"}
        if pathless:  # Okta's rename carries the (read-only) id: ignored
            return {"op": kind, "value": {"id": ids[gref], "displayName": name}}
        return {"op": kind, "path": "displayName", "value": name}
    what = spec[1]
    if what == "no path":
        return {"op": "remove"}
    if what == "move":
        return {"op": "move", "path": "displayName", "value": "x"}
    return {"op": "replace", "path": what, "value": "x"}


class GroupModel:
    """What a group PATCH should do: members skip unknown ids, remove what is listed or matched, replace sets;
    a group cannot contain itself or an ancestor; every error rolls the whole request back."""

    def __init__(self, ids: dict):
        self.ids = ids
        self.types = {ids[r]: ("User" if r.startswith("U") else "Group") for r in ids if r[0] in "UG"}
        self.members: dict[str, set] = {}
        self.names: dict[str, str] = {}

    def ancestors(self, members: dict, gid: str) -> set:
        out, todo = set(), [gid]
        while todo:
            cur = todo.pop()
            for g, ms in members.items():
                if cur in ms and g not in out:
                    out.add(g)
                    todo.append(g)
        return out

    def _add(self, members: dict, gid: str, values: list) -> None:
        wanted = [v for v in dict.fromkeys(values) if v in self.types]
        nested = [v for v in wanted if self.types[v] == "Group"]
        if gid in nested or set(nested) & self.ancestors(members, gid):
            raise ValueError("membership cycle")
        members[gid] |= set(wanted)

    def _matches(self, f, mid: str) -> bool:
        if f[0] == "and":
            return self._matches(f[1], mid) and self._matches(f[2], mid)
        if f[0] == "or":
            return self._matches(f[1], mid) or self._matches(f[2], mid)
        if f[0] == "not":
            return not self._matches(f[1], mid)
        if f[0] == "pr":
            return True
        op, sub, v = f
        if sub == "value":
            hit = mid == (self.ids[v[:-2]].upper() if v.endswith("up") else self.ids[v])
        else:
            hit = self.types[mid].lower() == v.lower()
        return hit if op == "eq" else not hit

    @staticmethod
    def _has_bad(f) -> bool:
        return f[0] == "bad" or any(isinstance(x, tuple) and GroupModel._has_bad(x) for x in f[1:])

    def apply(self, gid: str, specs: list) -> bool:
        """Apply a request's operations to the model; False (and no change) when the server must refuse it."""
        self.ids["SELF"] = gid
        members = {g: set(ms) for g, ms in self.members.items()}
        name = self.names[gid]
        try:
            for spec in specs:
                if spec[0] == "bad":
                    raise ValueError(spec)
                if spec[0] == "rename":
                    _, kind, new, _pathless = spec
                    if kind == "add" and new is None:
                        raise ValueError("add needs a value")
                    name = None if kind == "remove" else new
                elif spec[0] == "filter":
                    _, kind, f = spec
                    if kind != "remove" or self._has_bad(f):
                        raise ValueError("filter")
                    members[gid] = {m for m in members[gid] if not self._matches(f, m)}
                else:
                    _, kind, items, pathless = spec
                    if kind != "remove" and (items == "absent" or (kind == "add" and items is None)):
                        raise ValueError("needs a value")
                    if items in ("absent", None) or (items == [] and kind != "add"):
                        if kind == "remove" and items == []:
                            continue  # an empty list removes nobody
                        if kind in ("remove", "replace"):
                            members[gid] = set()
                        continue
                    if any(ref == "bad" for ref, _ in items):
                        raise ValueError("member without value")
                    values = [self.ids[ref] for ref, _ in items]
                    if kind == "add":
                        self._add(members, gid, values)
                    elif kind == "remove":
                        members[gid] -= set(values)
                    else:
                        current = set(members[gid])
                        members[gid] &= set(values)
                        self._add(members, gid, [v for v in values if v not in current])
            if not name:
                raise ValueError("displayName is required")
        except ValueError:
            return False
        self.members, self.names[gid] = members, name
        return True


# ---------------------------------------------------------------------------- invariants

def version_of(rep: dict) -> int:
    m = re.fullmatch(r'W/"(\d+)"', rep["meta"]["version"])
    assert m, rep["meta"]
    return int(m.group(1))


def without(rep: dict, *keys: str) -> dict:
    return {k: v for k, v in rep.items() if k not in keys}


def snapshot(scim) -> dict:
    return {"users": {r["id"]: r for r in listing(scim, "/Users")},
            "groups": {r["id"]: r for r in listing(scim, "/Groups")}}


def check_invariants(state: dict, model: GroupModel) -> None:
    users, groups = state["users"], state["groups"]
    keys = Counter(u["userName"].casefold() for u in users.values())
    assert all(n == 1 for n in keys.values()), f"userNames not unique case-insensitively: {keys}"
    for u in users.values():
        for attr, value in u.items():
            if isinstance(value, list) and value and all(isinstance(e, dict) for e in value) and attr != "groups":
                marked = [e for e in value if e.get("primary") is True]
                assert len(marked) <= 1, (attr, value)
    for gid, g in groups.items():
        values = [m["value"] for m in g.get("members", [])]
        assert len(values) == len(set(values)), f"duplicate members in {g['displayName']}: {values}"
        assert set(values) == model.members[gid], (g["displayName"], sorted(values), sorted(model.members[gid]))
        assert g["displayName"] == model.names[gid]
    for uid, u in users.items():
        expected = {(gid, model.names[gid]) for gid, ms in model.members.items() if uid in ms}
        assert {(m["value"], m["display"]) for m in u.get("groups", [])} == expected, u.get("groups")


def check_version(before: dict, after: dict) -> None:
    """meta.version grows by one exactly when the representation (meta aside) changed; an unchanged version means an
    unchanged meta."""
    changed = without(before, "meta") != without(after, "meta")
    grew = version_of(after) - version_of(before)
    assert grew == (1 if changed else 0), ("version", before, after)
    if not changed:
        assert after["meta"] == before["meta"]


def setup_directory(scim, data) -> tuple[dict, GroupModel]:
    """N_USERS users (userNames drawn from a colliding pool, a few emails and phone numbers) and N_GROUPS groups of
    users; returns the symbolic ids (U0…, G0…, X0… unknown) and the model."""
    names = data.draw(st.lists(st.sampled_from(USERNAMES), min_size=N_USERS, max_size=N_USERS, unique_by=fold),
                      label="userNames")
    reset(scim)
    ids: dict[str, str] = {f"X{i}": u for i, u in enumerate(UNKNOWN_IDS)}
    for i, name in enumerate(names):
        body = {"schemas": [CORE], "userName": name, "emails": data.draw(valid_mv_list("emails"), label="emails"),
                "phoneNumbers": data.draw(valid_mv_list("phoneNumbers"), label="phoneNumbers")}
        resp = scim.post("/Users", body)
        assert resp.status_code == 201, (body, resp.get_data(as_text=True))
        ids[f"U{i}"] = resp.get_json()["id"]
    model = GroupModel(ids)
    for k in range(N_GROUPS):  # users, and sometimes groups made before (so that cycles can be attempted)
        refs = [f"U{i}" for i in range(N_USERS)] + [f"G{j}" for j in range(k)]
        members = [ids[r] for r in data.draw(st.lists(st.sampled_from(refs), unique=True), label=f"G{k} members")]
        resp = scim.post("/Groups", {"schemas": [GROUP_CORE], "displayName": GROUP_NAMES[k],
                                     "members": [{"value": m} for m in members]})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        gid = ids[f"G{k}"] = resp.get_json()["id"]
        model.types[gid] = "Group"
        model.members[gid] = set(members)
        model.names[gid] = GROUP_NAMES[k]
    return ids, model


def patch_and_check(scim, state: dict, model: GroupModel, ids: dict, who: str, ops: list, specs: list | None) -> dict:
    """Send one PATCH (to user or group ``who``) and check every invariant; returns the new state."""
    kind = "groups" if who.startswith("G") else "users"
    endpoint, rid = "/" + kind.capitalize(), ids[who]
    note(f"PATCH {endpoint}/{who} {json.dumps(ops, ensure_ascii=False)}")
    resp = scim.patch(f"{endpoint}/{rid}", ops)
    status = resp.status_code
    note(f"  -> {status} {resp.get_data(as_text=True)[:300]}")
    assert status < 500, resp.get_data(as_text=True)
    after = snapshot(scim)
    target = scim.get(f"{endpoint}/{rid}")
    assert target.status_code == 200 and target.get_json() == after[kind][rid]
    if specs is not None:
        predicted = model.apply(rid, specs)
        assert (200 <= status < 300) == predicted, ("model", specs, status, resp.get_data(as_text=True))
    if status >= 400:
        body = resp.get_json()
        assert body["schemas"] == [ERROR] and body["status"] == str(status)
        assert after == state, "a refused PATCH changed something"
    else:
        assert status in (200, 204)
        check_version(state[kind][rid], after[kind][rid])
        if status == 200:
            assert resp.get_json() == after[kind][rid]
            assert resp.headers["ETag"] == after[kind][rid]["meta"]["version"]
        for other_kind in ("users", "groups"):
            for oid, rep in state[other_kind].items():
                if oid == rid:
                    continue
                # A group PATCH changes its members' computed groups attribute, not the users themselves.
                ignore = ("groups",) if other_kind == "users" and kind == "groups" else ()
                assert without(after[other_kind][oid], *ignore) == without(rep, *ignore), (other_kind, oid)
    check_invariants(after, model)
    return after


@prop_settings(max_examples=80)
@given(data=st.data())
def test_random_patch_sequences_keep_invariants(app, scim, data):
    """Random PATCH requests on users and groups: no 500, a refusal changes nothing, userNames stay unique, no
    duplicate members, at most one primary value, versions follow changes, members follow the model."""
    ids, model = setup_directory(scim, data)
    state = snapshot(scim)
    check_invariants(state, model)
    for _ in range(data.draw(st.integers(3, 12), label="requests")):
        if data.draw(st.booleans(), label="user or group"):
            who = f"U{data.draw(st.integers(0, N_USERS - 1), label='user')}"
            ops, specs = data.draw(st.lists(USER_OP, min_size=1, max_size=3), label="user PATCH"), None
        else:
            who = f"G{data.draw(st.integers(0, N_GROUPS - 1), label='group')}"
            specs = data.draw(GROUP_REQUEST, label="group PATCH")
            ops = [group_op_json(s, who, ids) for s in specs]
        state = patch_and_check(scim, state, model, ids, who, ops, specs)


@prop_settings(max_examples=40)
@example(members=[], specs=[("members", "add", [("U0", None)], False), ("members", "replace", [], False)])
@given(members=st.lists(st.integers(0, N_USERS - 1), unique=True),
       specs=st.lists(members_spec, min_size=2, max_size=3))
def test_group_version_changes_only_with_the_group(app, scim, members, specs):
    """meta.version of a group grows exactly when its representation changes (RFC 7644 §3.14: the version is the
    representation's entity tag). Found when member operations that undo each other within one PATCH still made a
    new version; members.Delta now nets them out (a re-add with another display is a change)."""
    reset(scim)
    ids = {f"X{i}": u for i, u in enumerate(UNKNOWN_IDS)}
    for i in range(N_USERS):
        ids[f"U{i}"] = scim.create_user(f"user{i}")["id"]
    model = GroupModel(ids)
    for k in range(N_GROUPS):
        g = scim.create_group(GROUP_NAMES[k], members=[{"value": ids[f"U{i}"]} for i in (members if k == 0 else [])])
        ids[f"G{k}"] = g["id"]
        model.types[g["id"]] = "Group"
        model.members[g["id"]] = {g_m["value"] for g_m in g.get("members", [])}
        model.names[g["id"]] = GROUP_NAMES[k]
    ops = [group_op_json(s, "G0", ids) for s in specs]
    patch_and_check(scim, snapshot(scim), model, ids, "G0", ops, specs)

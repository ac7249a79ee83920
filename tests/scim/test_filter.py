"""Table tests for the pure filter / PATCH-path / attribute-list parser (scimapp/scim/filter.py).

RFC 7644 §3.4.2.2 (filter grammar, precedence ``not`` > ``and`` > ``or``), §3.5.2 (PATCH paths), §3.4.2.5
(``attributes`` lists), plus the leniencies the module documents for real IdPs.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scimapp.scim.filter import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    And,
    AttrPath,
    Compare,
    FilterError,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    parse_attr_list,
    parse_filter,
    parse_path,
)

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


def a(text: str, uri: str | None = None) -> AttrPath:
    """Shorthand: ``a("name.givenName")`` -> AttrPath(None, "name", "givenName")."""
    attr, _, sub = text.partition(".")
    return AttrPath(uri, attr, sub or None)


def eq(path: str, value, uri: str | None = None) -> Compare:
    return Compare(a(path, uri), "eq", value)


def pr(path: str) -> Present:
    return Present(a(path))


# --------------------------------------------------------------------------- filters that parse

VALID_FILTERS = [
    # -- plain comparisons, every operator
    ("eq", 'userName eq "maren"', eq("userName", "maren")),
    ("ne", 'title ne "boss"', Compare(a("title"), "ne", "boss")),
    ("co", 'displayName co "arg"', Compare(a("displayName"), "co", "arg")),
    ("sw", 'userName sw "mi"', Compare(a("userName"), "sw", "mi")),
    ("ew", 'userName ew "@oakridge.example"', Compare(a("userName"), "ew", "@oakridge.example")),
    ("gt", 'meta.created gt "2024-01-01T00:00:00Z"',
     Compare(a("meta.created"), "gt", "2024-01-01T00:00:00Z")),
    ("ge", 'meta.lastModified ge "2024-01-01T00:00:00Z"',
     Compare(a("meta.lastModified"), "ge", "2024-01-01T00:00:00Z")),
    ("lt", 'userName lt "n"', Compare(a("userName"), "lt", "n")),
    ("le", 'userName le "n"', Compare(a("userName"), "le", "n")),
    ("pr", "title pr", pr("title")),
    ("sub-attribute", 'name.familyName eq "Varga"', eq("name.familyName", "Varga")),
    ("$ref is a valid name", 'members.$ref eq "x"', eq("members.$ref", "x")),
    ("hyphen and underscore in name", "x-y_z pr", pr("x-y_z")),
    # -- operators and keywords are case-insensitive, attribute names are kept as written
    ("upper-case operator", 'UserName EQ "Maren"', eq("UserName", "Maren")),
    ("mixed-case operator", 'userName Sw "M"', Compare(a("userName"), "sw", "M")),
    ("upper-case pr", "title PR", pr("title")),
    ("upper-case AND / OR / NOT", 'NOT (a pr) AND b pr OR c pr',
     Or(And(Not(pr("a")), pr("b")), pr("c"))),
    # -- literals
    ("true", "active eq true", eq("active", True)),
    ("TRUE any case", "active eq TRUE", eq("active", True)),
    ("False any case", "active eq False", eq("active", False)),
    ("null", "title eq null", eq("title", None)),
    ("NULL any case", "title ne NULL", Compare(a("title"), "ne", None)),
    ("integer", "level gt 5", Compare(a("level"), "gt", 5)),
    ("negative decimal", "score lt -0.5", Compare(a("score"), "lt", -0.5)),
    ("exponent", "score eq 1e3", eq("score", 1000.0)),
    ("leading zero is not a number", "employeeNumber eq 007", eq("employeeNumber", "007")),
    ("quoted true stays a string", 'title eq "true"', eq("title", "true")),
    ("quoted number stays a string", 'externalId eq "42"', eq("externalId", "42")),
    ("quoted null stays a string", 'title eq "null"', eq("title", "null")),
    # -- unquoted values are strings (Microsoft's own examples)
    ("unquoted word", "externalId eq kpetrov", eq("externalId", "kpetrov")),
    ("unquoted dateTime", "meta.created gt 2016-03-07T09:15:44Z",
     Compare(a("meta.created"), "gt", "2016-03-07T09:15:44Z")),
    ("unquoted guid", "externalId eq a71e0c44-5b2d-4f19",
     eq("externalId", "a71e0c44-5b2d-4f19")),
    # -- JSON string escapes
    ("escaped quote", r'displayName eq "say \"hi\""', eq("displayName", 'say "hi"')),
    ("escaped backslash", r'displayName eq "a\\b"', eq("displayName", "a\\b")),
    ("unicode escape", r'displayName eq "caf\u00e9"', eq("displayName", "café")),
    ("newline escape", r'displayName eq "a\nb"', eq("displayName", "a\nb")),
    ("brackets and parens inside a string", 'displayName eq "a (b) [c] and d"',
     eq("displayName", "a (b) [c] and d")),
    ("keyword inside a string", 'displayName eq "x or y"', eq("displayName", "x or y")),
    ("empty string", 'title eq ""', eq("title", "")),
    ("no space before quote", 'userName eq"maren"', eq("userName", "maren")),
    # -- precedence and grouping
    ("and binds tighter than or (left)", "a pr or b pr and c pr", Or(pr("a"), And(pr("b"), pr("c")))),
    ("and binds tighter than or (right)", "a pr and b pr or c pr", Or(And(pr("a"), pr("b")), pr("c"))),
    ("and is left-associative", "a pr and b pr and c pr", And(And(pr("a"), pr("b")), pr("c"))),
    ("or is left-associative", "a pr or b pr or c pr", Or(Or(pr("a"), pr("b")), pr("c"))),
    ("parentheses override", "(a pr or b pr) and c pr", And(Or(pr("a"), pr("b")), pr("c"))),
    ("redundant parentheses", "((a pr))", pr("a")),
    ("not binds tighter than and", "not (a pr) and b pr", And(Not(pr("a")), pr("b"))),
    ("not without space", "not(a pr)", Not(pr("a"))),
    ("not over a group", "not (a pr or b pr)", Not(Or(pr("a"), pr("b")))),
    ("double not", "not (not (a pr))", Not(Not(pr("a")))),
    ("whitespace is free", "  (  a  pr  )\tand\nb pr ", And(pr("a"), pr("b"))),
    ("'not' as an attribute name", 'not eq "x"', eq("not", "x")),
    # -- URN-qualified paths (RFC 7644 §3.10): the URI is everything before the last colon
    ("extension attribute", f'{ENT}:employeeNumber eq "7"', eq("employeeNumber", "7", ENT)),
    ("extension sub-attribute", f'{ENT}:manager.value eq "m1"', eq("manager.value", "m1", ENT)),
    ("core URN", f'{CORE}:userName eq "maren"', eq("userName", "maren", CORE)),
    ("core URN with sub-attribute", f'{CORE}:name.givenName pr', Present(a("name.givenName", CORE))),
    ("lower-case URN prefix", 'URN:example:ext:level gt 1', Compare(AttrPath("URN:example:ext", "level"), "gt", 1)),
    ("bare extension URN parses as uri + last segment", f"{ENT} pr",
     Present(AttrPath("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User"))),
    # -- value filters
    ("value filter", 'emails[type eq "work"]', ValuePath(a("emails"), eq("type", "work"))),
    ("value filter with and", 'emails[type eq "work" and value co "@x"]',
     ValuePath(a("emails"), And(eq("type", "work"), Compare(a("value"), "co", "@x")))),
    ("value filter with or/not/group", 'emails[(type eq "work" or type eq "home") and not (primary eq true)]',
     ValuePath(a("emails"), And(Or(eq("type", "work"), eq("type", "home")), Not(eq("primary", True))))),
    ("value filter combined with others", 'userName sw "m" and emails[type eq "work"] or title pr',
     Or(And(Compare(a("userName"), "sw", "m"), ValuePath(a("emails"), eq("type", "work"))), pr("title"))),
    ("value filter on URN-qualified attribute", f'{ENT}:manager[value eq "m1"]',
     ValuePath(a("manager", ENT), eq("value", "m1"))),
    ("value filter inside not", 'not (emails[type eq "work"])', Not(ValuePath(a("emails"), eq("type", "work")))),
    ("two value filters", 'emails[type eq "work"] and phoneNumbers[type eq "mobile"]',
     And(ValuePath(a("emails"), eq("type", "work")), ValuePath(a("phoneNumbers"), eq("type", "mobile")))),
    ("pr inside a value filter", "emails[value pr]", ValuePath(a("emails"), pr("value"))),
    # -- leniency: emails[type eq "work"].value eq "x" == emails[type eq "work" and value eq "x"]
    ("filter.sub leniency", 'emails[type eq "work"].value eq "m@x.example"',
     ValuePath(a("emails"), And(eq("type", "work"), eq("value", "m@x.example")))),
    ("filter.sub leniency with pr", 'emails[type eq "work"].display pr',
     ValuePath(a("emails"), And(eq("type", "work"), pr("display")))),
    ("filter.sub leniency with and after it", 'emails[type eq "work"].value eq "x" and active eq true',
     And(ValuePath(a("emails"), And(eq("type", "work"), eq("value", "x"))), eq("active", True))),
    ("filter.sub leniency with upper-case op", 'addresses[type eq "work"].locality SW "North"',
     ValuePath(a("addresses"), And(eq("type", "work"), Compare(a("locality"), "sw", "North")))),
    # -- Entra/Okta real-world shapes
    ("Entra match on externalId", 'externalId eq "a71e0c44-5b2d-4f19-8c3e-0d9b6e2f7a15"',
     eq("externalId", "a71e0c44-5b2d-4f19-8c3e-0d9b6e2f7a15")),
    ("pre-update check", 'id eq "u1" and manager eq "m1"', And(eq("id", "u1"), eq("manager", "m1"))),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in VALID_FILTERS], ids=[c[0] for c in VALID_FILTERS])
def test_parse_filter_ast(text, expected):
    assert parse_filter(text) == expected


# --------------------------------------------------------------------------- filters that must fail

INVALID_FILTERS = [
    ("empty", "", "empty"),
    ("blank", "   \t ", "empty"),
    ("not a string", None, "string"),
    ("bytes", b'userName eq "x"', "string"),
    # unbalanced
    ("open paren", '(userName eq "x"', "')'"),
    ("close paren", 'userName eq "x")', "unexpected"),
    ("open bracket", 'emails[type eq "work"', "']'"),
    ("close bracket", 'emails[type eq "work"]]', "unexpected"),
    ("stray bracket", 'userName eq "x"]', "unexpected"),
    ("unterminated string", 'userName eq "maren', "unterminated"),
    ("string ending with escaped quote", 'userName eq "maren\\"', "unterminated"),
    ("empty parens", "()", "attribute"),
    ("empty brackets", "emails[]", "attribute"),
    ("brackets without attribute", '[type eq "x"]', "attribute"),
    # missing / unknown parts
    ("missing operator", "userName", "operator"),
    ("missing operator before value", 'userName "maren"', "operator"),
    ("missing value", "userName eq", "value"),
    ("value is a paren", "userName eq (x)", "value"),
    ("value is a bracket", "userName eq ]", "value"),
    ("unknown operator", 'userName like "m%"', "operator"),
    ("symbolic operator", 'userName == "m"', "operator"),
    ("dangling and", 'userName eq "x" and', "attribute"),
    ("dangling or", 'userName eq "x" or', "attribute"),
    ("leading and", 'and userName eq "x"', "operator"),
    ("two expressions without logic", 'userName eq "x" title pr', "unexpected"),
    ("trailing garbage after string", 'userName eq "x"y', "unexpected"),
    ("pr with a value", 'title pr "x"', "unexpected"),
    ("not without parens", "not title pr", "operator"),
    ("value first", '"maren" eq userName', "attribute"),
    ("invalid escape", r'userName eq "\x41"', "escape"),
    ("raw control character in string", 'userName eq "a\tb"', "escape"),
    # value filters
    ("nested value filter", 'emails[type eq "work" and addresses[type eq "home"]]', "nested"),
    ("nested value filter inside not", 'emails[not (addresses[type eq "home"])]', "nested"),
    ("value filter on a sub-attribute", 'emails.value[type eq "work"]', "value filter"),
    ("filter.sub with empty sub", 'emails[type eq "work"]. eq "x"', "sub-attribute"),
    ("filter.sub with dotted sub", 'emails[type eq "work"].value.x eq "y"', "sub-attribute"),
    ("filter.sub without comparison", 'emails[type eq "work"].value', "operator"),
    # bad attribute names
    ("starts with a digit", '1userName eq "x"', "attribute path"),
    ("starts with underscore", '_userName eq "x"', "attribute path"),
    ("three levels", 'name.given.first eq "x"', "attribute path"),
    ("empty sub-attribute", 'name. eq "x"', "attribute path"),
    ("leading dot", '.name eq "x"', "attribute path"),
    ("illegal character", 'user!name eq "x"', "attribute path"),
    ("URN without attribute", 'urn:foo eq "x"', "attribute path"),
    ("URN ending in colon", 'urn:foo:bar: eq "x"', "attribute path"),
    ("URN with three-level attribute", f'{ENT}:manager.value.x eq "y"', "attribute path"),
]


@pytest.mark.parametrize("text,fragment", [c[1:] for c in INVALID_FILTERS], ids=[c[0] for c in INVALID_FILTERS])
def test_parse_filter_rejects(text, fragment):
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert fragment.lower() in str(info.value).lower()


def test_filter_error_is_a_value_error():
    # Callers catch ValueError around parsing; FilterError must stay one.
    assert issubclass(FilterError, ValueError)


def test_error_reports_position():
    with pytest.raises(FilterError, match="position 17"):
        parse_filter('userName eq "x" title pr')


# --------------------------------------------------------------------------- limits

def _string_filter(length: int) -> str:
    head = 'title eq "'
    return head + "x" * (length - len(head) - 1) + '"'


@pytest.mark.parametrize("length,ok", [(MAX_LENGTH, True), (MAX_LENGTH + 1, False)])
def test_length_limit(length, ok):
    text = _string_filter(length)
    assert len(text) == length
    if ok:
        assert parse_filter(text) == eq("title", "x" * (length - 11))
    else:
        with pytest.raises(FilterError, match="longer than"):
            parse_filter(text)


def _parens(depth: int) -> str:
    return "(" * depth + "a pr" + ")" * depth


def _nots(depth: int) -> str:
    return "not (" * depth + "a pr" + ")" * depth


@pytest.mark.parametrize("builder", [_parens, _nots], ids=["parens", "not"])
def test_depth_limit(builder):
    # the outermost expression is level 1, each group adds one
    ok = parse_filter(builder(MAX_DEPTH - 1))
    assert ok is not None
    with pytest.raises(FilterError, match="deeper than"):
        parse_filter(builder(MAX_DEPTH))


def test_deeply_nested_input_fails_cleanly_not_with_recursion_error():
    with pytest.raises(FilterError):
        parse_filter("(" * 5000 + "a pr" + ")" * 5000)


def test_node_limit():
    # n terms joined by "and" make n Present nodes and n-1 And nodes
    n_ok = (MAX_NODES + 1) // 2
    ast = parse_filter(" and ".join(["a pr"] * n_ok))
    assert isinstance(ast, And)
    with pytest.raises(FilterError, match="expressions"):
        parse_filter(" and ".join(["a pr"] * (n_ok + 1)))


# --------------------------------------------------------------------------- PATCH paths

EMAILS_WORK = ValuePath(a("emails"), eq("type", "work")).filter

VALID_PATHS = [
    ("simple", "userName", PatchPath(a("userName"))),
    ("case kept", "USERNAME", PatchPath(a("USERNAME"))),
    ("padded", "  displayName  ", PatchPath(a("displayName"))),
    ("sub-attribute", "name.givenName", PatchPath(a("name.givenName"))),
    ("multi-valued", "emails", PatchPath(a("emails"))),
    ("value filter", 'emails[type eq "work"]', PatchPath(a("emails"), EMAILS_WORK)),
    ("value filter then sub", 'emails[type eq "work"].value', PatchPath(a("emails"), EMAILS_WORK, "value")),
    ("Entra phone path", 'phoneNumbers[type eq "mobile"].value',
     PatchPath(a("phoneNumbers"), eq("type", "mobile"), "value")),
    ("complex value filter", 'addresses[type eq "work" and primary eq true].formatted',
     PatchPath(a("addresses"), And(eq("type", "work"), eq("primary", True)), "formatted")),
    ("value filter with or/not", 'emails[type eq "work" or not (value ew "@x")]',
     PatchPath(a("emails"), Or(eq("type", "work"), Not(Compare(a("value"), "ew", "@x"))))),
    ("member removal", 'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
     PatchPath(a("members"), eq("value", "2819c223-7f76-453a-919d-413861904646"))),
    ("unqualified manager filter", 'manager[value eq "m1"]', PatchPath(a("manager"), eq("value", "m1"))),
    ("extension attribute", f"{ENT}:employeeNumber", PatchPath(a("employeeNumber", ENT))),
    ("extension sub-attribute", f"{ENT}:manager.value", PatchPath(a("manager.value", ENT))),
    ("extension with filter", f'{ENT}:manager[value eq "m1"]', PatchPath(a("manager", ENT), eq("value", "m1"))),
    ("core URN", f"{CORE}:name.familyName", PatchPath(a("name.familyName", CORE))),
    ("bare extension URN", ENT,
     PatchPath(AttrPath("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User"))),
    ("upper-case operator in filter", 'emails[TYPE EQ "Work"].VALUE', PatchPath(a("emails"), eq("TYPE", "Work"), "VALUE")),
    ("unquoted value in filter", "members[value eq u1]", PatchPath(a("members"), eq("value", "u1"))),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in VALID_PATHS], ids=[c[0] for c in VALID_PATHS])
def test_parse_path(text, expected):
    assert parse_path(text) == expected


INVALID_PATHS = [
    ("empty", ""),
    ("blank", "   "),
    ("not a string", None),
    ("starts with bracket", '[type eq "work"]'),
    ("starts with string", '"userName"'),
    ("unclosed filter", 'emails[type eq "work"'),
    ("extra bracket", 'emails[type eq "work"]]'),
    ("empty filter", "emails[]"),
    ("dangling dot", 'emails[type eq "work"].'),
    ("two-level sub after filter", 'emails[type eq "work"].value.display'),
    ("word after filter", 'emails[type eq "work"]value'),
    ("filter on sub-attribute", 'name.givenName[value eq "x"]'),
    ("nested filter", 'emails[type eq "work" and addresses[type eq "x"]]'),
    ("a filter is not a path", 'userName eq "maren"'),
    ("filter.sub comparison is not a path", 'emails[type eq "work"].value eq "x"'),
    ("three levels", "name.givenName.first"),
    ("digit first", "1name"),
    ("space inside", "user name"),
    ("URN without attribute", "urn:x"),
    ("bad operator inside filter", 'emails[type is "work"]'),
    ("too long", "a" * (MAX_LENGTH + 1)),
]


@pytest.mark.parametrize("text", [c[1] for c in INVALID_PATHS], ids=[c[0] for c in INVALID_PATHS])
def test_parse_path_rejects(text):
    with pytest.raises(FilterError):
        parse_path(text)


def test_patch_path_str():
    assert str(parse_path("name.givenName")) == "name.givenName"
    assert str(parse_path(f"{ENT}:manager")) == f"{ENT}:manager"
    assert str(parse_path('emails[type eq "work"].value')) == "emails[…].value"


# --------------------------------------------------------------------------- attribute lists

VALID_ATTR_LISTS = [
    ("one", "userName", [PatchPath(a("userName"))]),
    ("several", "userName,name.givenName,emails",
     [PatchPath(a("userName")), PatchPath(a("name.givenName")), PatchPath(a("emails"))]),
    ("spaces around commas", " userName ,  displayName ", [PatchPath(a("userName")), PatchPath(a("displayName"))]),
    ("empty entries skipped", "userName,,displayName,", [PatchPath(a("userName")), PatchPath(a("displayName"))]),
    ("empty list", "", []),
    ("only commas", " , ,", []),
    ("URN entries", f"{ENT}:manager,{ENT}",
     [PatchPath(a("manager", ENT)),
      PatchPath(AttrPath("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User"))]),
    ("comma inside a value filter is not a separator", 'emails[type eq "work" or type eq "home"].value,userName',
     [PatchPath(a("emails"), Or(eq("type", "work"), eq("type", "home")), "value"), PatchPath(a("userName"))]),
    ("comma inside a quoted value inside brackets", 'emails[value eq "a,b"],title',
     [PatchPath(a("emails"), eq("value", "a,b")), PatchPath(a("title"))]),
    ("Group members exclusion", "members", [PatchPath(a("members"))]),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in VALID_ATTR_LISTS], ids=[c[0] for c in VALID_ATTR_LISTS])
def test_parse_attr_list(text, expected):
    assert parse_attr_list(text) == expected


def test_parse_attr_list_bracket_inside_quotes():
    assert parse_attr_list('emails[display eq "a]b"],userName') == [
        PatchPath(a("emails"), eq("display", "a]b")), PatchPath(a("userName"))]


@pytest.mark.parametrize("text", ["userName,1bad", "name.given.first", 'emails[type eq "work"', "userName,emails]",
                                  'userName eq "x"'],
                         ids=["bad name", "three levels", "unclosed filter", "stray bracket", "a filter"])
def test_parse_attr_list_rejects(text):
    with pytest.raises(FilterError):
        parse_attr_list(text)


def _through_the_parser(text: str):
    from scimapp.scim.filter import _Parser
    p = _Parser(text)
    node = p.or_expr(False)
    p.end()
    return node


@pytest.mark.parametrize("text", [
    'userName eq "a@b.c"', ' userName EQ "x" ', 'userName\teq\t"x"', 'name.givenName eq ""', 'not eq "x"',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"', 'externalId eq "é漢"',
    'userName eq "a\tb"', 'userName eq "\ud800"', 'a.b.c eq "x"', 'userName eq "x" and active pr',
    'emails[type eq "work"]', 'userName eq "a\\"b"', 'userName eq "\x00"', 'user\x00Name eq "x"',
    'urn:x\x00:userName eq "a"',
])
def test_the_quick_path_for_attr_eq_string_gives_what_the_parser_gives(text):
    """``attr eq "text"`` skips the tokenizer: the node or the error must be the parser's own."""
    try:
        expected = _through_the_parser(text)
    except FilterError:
        with pytest.raises(FilterError):
            parse_filter(text)
        return
    assert parse_filter(text) == expected


@given(st.text(alphabet=st.sampled_from(list('aZ.:_-[]()" \t\\\x00\x01eqEQé')), max_size=30))
@settings(derandomize=True, max_examples=500, deadline=None)
def test_the_quick_path_agrees_with_the_parser_on_any_text(text):
    for candidate in (text, f'userName eq "{text}"', f'{text} eq "x"'):
        try:
            expected = _through_the_parser(candidate)
        except FilterError:
            expected = FilterError
        try:
            got = parse_filter(candidate)
        except FilterError:
            got = FilterError
        assert got == expected, candidate

"""The admin directory pages (scimapp/directory/): users and groups as SCIM provisioned them, searched, filtered,
sorted and paged in SQL; a user's and a group's page; streamed CSV exports from the web and ``flask export``.

Admins are signed in through the session (an AdminUser row and the session keys the OIDC callback sets), so these
tests need no identity provider; tests/web/ covers the real sign-in."""
from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from flask_login.utils import _create_identifier
from sqlalchemy import select, text

from scimapp import create_app
from scimapp.directory import export, queries
from scimapp.monitor import queries as monitor_queries
from scimapp.extensions import db
from scimapp.models import AdminUser, AuditEvent, ScimGroupMember
from scimapp.scim.values import utcnow

from .conftest import PATCH_OP, cli

ADMIN = "admin@example.com"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def app(tmp_path):
    """An app whose admin rules admit ADMIN (no IdP needed: the tests sign in through the session)."""
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "TESTING": True, "ADMIN_EMAILS": ADMIN})
    yield app
    with app.app_context():
        db.engine.dispose()


def sign_in(app, client, email: str) -> None:
    """Sign ``client`` in as an admin account with this e-mail, as the OIDC callback would (Flask-Login's session
    keys, with the "strong" session-protection identifier, and the admin's session generation)."""
    with app.app_context():
        admin = AdminUser(issuer="https://idp.example", subject=email, email=email, name=None,
                          claims={"sub": email, "email": email}, first_login_at=utcnow(), last_login_at=utcnow())
        db.session.add(admin)
        db.session.commit()
        admin_id = admin.id
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as session:
        session.update({"_user_id": str(admin_id), "_fresh": True, "_id": identifier, "admin_generation": 0})


@pytest.fixture
def admin(app, client):
    """The test client, signed in as an admin."""
    sign_in(app, client, ADMIN)
    return client


def page(client, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.get_data(as_text=True)[:2000])
    return r.get_data(as_text=True)


def listed_users(body: str) -> list[str]:
    """The userNames in a users list page, in order."""
    return [html.unescape(u) for u in re.findall(r'<th scope="row"><a href="/directory/users/[^"]+">([^<]*)</a>', body)]


def listed_members(body: str) -> list[str]:
    return re.findall(r"<td><code>([^<]+)</code></td>\s*</tr>", body)


def raw_json(body: str) -> dict:
    m = re.search(r'<pre class="json"[^>]*>(.*?)</pre>', body, re.S)
    assert m, "no SCIM representation on the page"
    return json.loads(html.unescape(m.group(1)))


def audit_rows(app) -> list[tuple]:
    with app.app_context():
        return [(e.action, e.actor, e.target) for e in
                db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id))]


def flush_activity(app) -> None:
    app.extensions["scim_activity"].flush()


def csv_rows(text_: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_)))


def downloaded(r) -> str:
    """The text of a web export, which starts with one UTF-8 byte order mark (for Excel) and has no other."""
    assert r.status_code == 200, r.status_code
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:20]
    text_ = raw[3:].decode("utf-8")
    assert "\ufeff" not in text_
    return text_


# ---------------------------------------------------------------------------- access control

PAGES = ["/directory/users", "/directory/users/some-id", "/directory/groups", "/directory/groups/some-id",
         "/directory/export/users.csv", "/directory/export/groups.csv", "/directory/export/memberships.csv"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    r = client.get(url)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/auth/login?next=" + url)


@pytest.mark.parametrize("url", PAGES)
def test_a_signed_in_person_who_is_not_an_admin_gets_403(app, client, scim, url):
    scim.create_user("ada@example.com")
    sign_in(app, client, "someone@example.com")
    r = client.get(url)
    assert r.status_code == 403
    assert b"ada@example.com" not in r.data
    assert audit_rows(app) == []


def test_directory_pages_are_never_cached(admin):
    r = admin.get("/directory/users")
    assert "no-store" in r.headers["Cache-Control"]


def test_nav_links_to_users_and_groups(admin):
    body = page(admin, "/directory/groups")
    assert 'href="/directory/users">Users</a>' in body
    assert 'href="/directory/groups" aria-current="page">Groups</a>' in body


# ---------------------------------------------------------------------------- users list

def test_empty_directory_tells_the_admin_to_connect_the_idp(admin):
    body = page(admin, "/directory/users")
    assert "No users yet" in body and '<a href="/settings">Settings</a>' in body
    assert "Setup SCIM" in body
    assert "No groups yet" in page(admin, "/directory/groups")


@pytest.fixture
def people(scim):
    """A few users with every searchable field set differently."""
    ada = scim.create_user("ada.lovelace@example.com", displayName="Ada Lovelace", externalId="EXT-ada-001",
                           name={"givenName": "Augusta", "familyName": "Byron"},
                           emails=[{"value": "countess@analytical.example", "type": "work", "primary": True}])
    grace = scim.create_user("grace@example.com", displayName="Grace Hopper", externalId="ext-grace",
                             name={"givenName": "Grace", "familyName": "Hopper"}, active=False,
                             emails=[{"value": "amazing.grace@navy.example", "type": "work"}])
    alan = scim.create_user("Alan.Turing@Example.com", displayName="Alan Turing", active=True,
                            name={"givenName": "Alan", "familyName": "Turing"})
    return {"ada": ada, "grace": grace, "alan": alan}


@pytest.mark.parametrize("q, expected", [
    ("ada.love", ["ada.lovelace@example.com"]),          # userName prefix
    ("ADA.LOVE", ["ada.lovelace@example.com"]),          # case-insensitively
    ("alan.turing@example.COM", ["Alan.Turing@Example.com"]),
    ("grace hop", ["grace@example.com"]),                # displayName prefix
    ("augusta", ["ada.lovelace@example.com"]),           # given name
    ("byron", ["ada.lovelace@example.com"]),             # family name
    ("countess@", ["ada.lovelace@example.com"]),         # e-mail address
    ("amazing.grace@navy.example", ["grace@example.com"]),
    ("EXT-ada-001", ["ada.lovelace@example.com"]),       # externalId, exactly
    ("ext-ada-001", []),                                 # externalId is case-exact (RFC 7643 §3.1)
    ("EXT-ada", []),                                     # … and not a prefix
    ("lovelace", []),                                    # a later word: not a prefix of any field
    ("example.com", []),                                 # only prefixes: no scan for substrings
    ("nobody", []),
])
def test_search_by_each_field(admin, people, q, expected):
    body = page(admin, "/directory/users?q=" + q.replace(" ", "+"))
    assert sorted(listed_users(body)) == sorted(expected)
    if not expected:
        assert "No users match" in body


def test_search_by_id(admin, people):
    body = page(admin, "/directory/users?q=" + people["grace"]["id"])
    assert listed_users(body) == ["grace@example.com"]


def test_active_filter(admin, people):
    assert listed_users(page(admin, "/directory/users?status=active")) == \
        ["ada.lovelace@example.com", "Alan.Turing@Example.com"]
    assert listed_users(page(admin, "/directory/users?status=inactive")) == ["grace@example.com"]
    assert listed_users(page(admin, "/directory/users?status=inactive&q=ada")) == []
    body = page(admin, "/directory/users?status=inactive")
    assert '<span class="status status-inactive">inactive</span>' in body
    assert '<option value="inactive" selected>' in body


def test_sort_by_each_column_both_ways(admin, scim):
    scim.create_user("b@example.com", displayName="Zed")
    scim.create_user("c@example.com", displayName="Amy")
    scim.create_user("a@example.com", displayName="Mia")
    by = lambda url: listed_users(page(admin, url))  # noqa: E731
    assert by("/directory/users") == ["a@example.com", "b@example.com", "c@example.com"]
    assert by("/directory/users?order=desc") == ["c@example.com", "b@example.com", "a@example.com"]
    assert by("/directory/users?sort=displayName") == ["c@example.com", "a@example.com", "b@example.com"]
    assert by("/directory/users?sort=created") == ["b@example.com", "c@example.com", "a@example.com"]
    assert by("/directory/users?sort=created&order=desc") == ["a@example.com", "c@example.com", "b@example.com"]
    scim.patch("/Users/" + scim.get("/Users?filter=userName eq \"b@example.com\"").get_json()["Resources"][0]["id"],
               [{"op": "replace", "path": "displayName", "value": "Zed B."}])
    assert by("/directory/users?sort=lastModified&order=desc")[0] == "b@example.com"
    body = page(admin, "/directory/users?sort=displayName&order=desc")
    assert 'aria-sort="descending"' in body


def test_paging(admin, scim, monkeypatch):
    monkeypatch.setattr(queries, "USERS_PER_PAGE", 3)
    for i in range(7):
        scim.create_user(f"user{i}@example.com")
    assert listed_users(page(admin, "/directory/users")) == [f"user{i}@example.com" for i in (0, 1, 2)]
    body = page(admin, "/directory/users?page=2")
    assert listed_users(body) == [f"user{i}@example.com" for i in (3, 4, 5)]
    assert "Showing 4–6 of <strong>7</strong> users" in body
    assert 'href="/directory/users?page=3" rel="next"' in body and 'href="/directory/users" rel="prev"' in body
    assert listed_users(page(admin, "/directory/users?page=3")) == ["user6@example.com"]
    # Past the end: the last page; search, filter and sort are kept in the page links.
    assert listed_users(page(admin, "/directory/users?page=99")) == ["user6@example.com"]
    body = page(admin, "/directory/users?q=user&status=all&sort=created&order=desc")
    assert 'href="/directory/users?q=user&amp;sort=created&amp;order=desc&amp;page=2"' in body


def test_paging_is_bounded_and_says_how_to_reach_the_rest(admin, scim, monkeypatch):
    monkeypatch.setattr(queries, "USERS_PER_PAGE", 2)
    monkeypatch.setattr(queries, "MAX_PAGED_ROWS", 4)
    for i in range(7):
        scim.create_user(f"user{i}@example.com")
    body = page(admin, "/directory/users?page=3")  # beyond the paged rows: the last page within them
    assert listed_users(body) == ["user2@example.com", "user3@example.com"]
    assert "of <strong>7</strong> users" in body and "reverse the order" in body
    assert listed_users(page(admin, "/directory/users?order=desc")) == ["user6@example.com", "user5@example.com"]


@pytest.mark.parametrize("query", [
    "page=abc", "page=-3", "page=0", "page=99999999999999999999", "page=%00", "sort=nonsense", "sort=",
    "order=sideways", "status=maybe", "q=%00%01zero", "q=" + "x" * 5000, "q=%ff%fe", "q=%ED%A0%80",
    "q=%25_%5C", "q='%3B DROP TABLE scim_users;--", "sort=userName&sort=created", "page=1&page=abc",
])
def test_bad_query_strings_fall_back_to_defaults(admin, people, query):
    for url in ("/directory/users?", "/directory/groups?"):
        assert page(admin, url + query)


@pytest.mark.parametrize("path", ["/directory/users/%00", "/directory/users/" + "a" * 400,
                                  "/directory/groups/x%00y", "/directory/users/a/b", "/directory/groups/%ED%A0%80"])
def test_bad_ids_are_404(admin, path):
    assert admin.get(path).status_code == 404


def test_search_runs_on_indexes(app, people):
    """No table scan for a search: every part of it is an index range (SQLite's plan; PostgreSQL compiles the
    same statement)."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite query plan")
        listing = queries.Listing(q="ada")
        for stmt in (queries.users_count_statement(listing), queries.users_page_statement(listing, 1)):
            sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = [r[3] for r in db.session.execute(text("EXPLAIN QUERY PLAN " + sql))]
            assert not [p for p in plan if p.startswith("SCAN")], plan
            assert sum("ix_scim_user_values_key" in p for p in plan) == len(queries.SEARCHED_VALUES), plan


# ---------------------------------------------------------------------------- a user's page

def test_user_page_shows_attributes_manager_groups_history_and_raw_json(app, admin, scim, people):
    boss = people["grace"]
    ada = people["ada"]
    r = scim.patch(f"/Users/{ada['id']}", [
        {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}},
        {"op": "replace", "path": "title", "value": "Analyst"},
        {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Engines"}])
    assert r.status_code == 200, r.get_data(as_text=True)
    engines = scim.create_group("Engine <Builders>", members=[{"value": ada["id"]}])
    scim.create_group("Poets", members=[{"value": ada["id"]}])
    flush_activity(app)

    body = page(admin, f"/directory/users/{ada['id']}")
    assert "<h1>Ada Lovelace</h1>" in body
    assert "<dt>Title</dt><dd>Analyst</dd>" in body and "<dt>Department</dt><dd>Engines</dd>" in body
    assert "<dt>Given name</dt><dd>Augusta</dd>" in body and "<dt>Family name</dt><dd>Byron</dd>" in body
    assert "<code>EXT-ada-001</code>" in body and "countess@analytical.example" in body
    assert re.search(r"<dt>Created</dt><dd><time datetime=\"\d{4}-\d\d-\d\dT", body)
    # manager: a link to the manager's page
    assert f'<a href="/directory/users/{boss["id"]}">Grace Hopper</a>' in body
    # groups: links, names escaped
    assert f'<a href="/directory/groups/{engines["id"]}">Engine &lt;Builders&gt;</a>' in body and "Poets" in body
    # history: the token's writes, newest first, with what they changed
    history = body[body.index('id="history-heading"'):body.index('id="raw-heading"')]
    assert history.count("<td>pytest</td>") == 2
    assert history.index("PATCH") < history.index("POST")
    for attr in ("title", "department"):
        assert re.search(rf"<li>[^<]*{attr}[^<]*</li>", history, re.I), history
    # the raw JSON is exactly what the SCIM API returns
    assert raw_json(body) == scim.get(f"/Users/{ada['id']}").get_json()


def test_user_page_of_a_user_whose_manager_is_not_here(admin, scim):
    user = scim.create_user("ivy@example.com", **{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                                                  ENTERPRISE: {"manager": {"value": "not-provisioned-yet"}}})
    body = page(admin, f"/directory/users/{user['id']}")
    assert "<code>not-provisioned-yet</code>" in body and "no user with this id here" in body
    assert "Not a direct member of any group" in body and "No changes recorded" in body


def test_unknown_user_and_group_are_404(admin):
    assert "No user has this id" in page(admin, "/directory/users/8d2e1c1e-0000-4000-8000-000000000000", 404)
    assert admin.get("/directory/groups/8d2e1c1e-0000-4000-8000-000000000000").status_code == 404


def test_list_links_to_the_user_page(admin, people):
    body = page(admin, "/directory/users?q=grace")
    assert f'href="/directory/users/{people["grace"]["id"]}"' in body


# ---------------------------------------------------------------------------- groups

def test_groups_list_with_member_counts_and_search(admin, scim, people):
    ids = [u["id"] for u in people.values()]
    scim.create_group("Everyone", externalId="grp-all", members=[{"value": i} for i in ids])
    scim.create_group("Empty")
    body = page(admin, "/directory/groups")
    counts = dict(re.findall(r'">([^<]+)</a></th>\s*<td class="num">([\d,]+)</td>', body))
    assert counts == {"Everyone": "3", "Empty": "0"}
    assert "Everyone" in page(admin, "/directory/groups?q=EVERY") and \
        "Empty" not in page(admin, "/directory/groups?q=EVERY")
    assert "Everyone" in page(admin, "/directory/groups?q=grp-all")
    assert "No groups match" in page(admin, "/directory/groups?q=zzz")


def test_group_members_are_paged_by_key(app, admin, scim, monkeypatch):
    monkeypatch.setattr(queries, "MEMBERS_PER_PAGE", 3)
    users = [scim.create_user(f"m{i}@example.com") for i in range(8)]
    sub = scim.create_group("Sub-team")
    members = [{"value": u["id"]} for u in users] + [{"value": sub["id"], "type": "Group"}]
    group = scim.create_group("Big", members=members)
    expected = sorted(m["value"] for m in members)

    url, seen, pages = f"/directory/groups/{group['id']}", [], []
    while url:
        body = page(admin, url)
        pages.append(body)
        seen += listed_members(body)
        m = re.search(r'<a href="([^"]+)" rel="next">', body)
        url = html.unescape(m.group(1)) if m else None
    assert seen == expected and len(pages) == 3
    assert "9 members" in pages[0] and 'rel="prev"' not in pages[0]
    assert "Sub-team" in "".join(pages) and "m0@example.com" in "".join(pages)
    # back from the second page: the first page
    prev = html.unescape(re.search(r'<a href="([^"]+)" rel="prev">', pages[1]).group(1))
    assert listed_members(page(admin, prev)) == expected[:3]
    # the last page: the last three members
    assert listed_members(page(admin, f"/directory/groups/{group['id']}?last=1")) == expected[-3:]
    # keys that match nothing, or are not ids at all: the first page
    for q in ("after=zzzz", "before=0", "after=" + "x" * 100, "after=%00", "before=&after=", "last=yes"):
        assert listed_members(page(admin, f"/directory/groups/{group['id']}?{q}")) == expected[:3], q
    # the group's own JSON is the SCIM representation without members
    body = pages[0]
    got = raw_json(body)
    want = scim.get(f"/Groups/{group['id']}?excludedAttributes=members").get_json()
    assert got == want and "members" not in got


def test_member_rows_without_a_resource_are_shown_by_id_and_name(app, admin, scim):
    """Deleting a user removes its memberships; a row left dangling any other way (a restored backup, a race) is
    still listed, by the name the client sent, not hidden or fatal."""
    group = scim.create_group("G")
    with app.app_context():
        db.session.add(ScimGroupMember(group_id=group["id"], member_id="gone-id", member_type="User",
                                       display="Gone Person"))
        db.session.commit()
    body = page(admin, f"/directory/groups/{group['id']}")
    assert "Gone Person" in body and "(no longer here)" in body and "<code>gone-id</code>" in body
    memberships = csv_rows(downloaded(admin.get("/directory/export/memberships.csv")))
    assert memberships[1] == [group["id"], "G", "gone-id", "User", "", "Gone Person"]


# ---------------------------------------------------------------------------- exports

@pytest.fixture
def directory(scim, people):
    """People, a group of all of them, and cells a spreadsheet would run as formulas."""
    evil = scim.create_user("=cmd|' /C calc'!A0", displayName="+SUM(1,2)", externalId="-2+3",
                            name={"givenName": "@evil", "familyName": "\tTab"})
    team = scim.create_group("=HYPERLINK(\"http://x\")",
                             members=[{"value": u["id"]} for u in [*people.values(), evil]])
    return {**people, "evil": evil, "team": team}


def test_web_export_of_users(app, admin, directory):
    r = admin.get("/directory/export/users.csv")
    assert r.status_code == 200 and r.is_streamed
    assert r.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="scimapp-users-\d{8}-\d{4}\.csv"', r.headers["Content-Disposition"])
    rows = csv_rows(downloaded(r))
    assert rows[0] == export.USER_COLUMNS
    by_name = {row[1]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert len(by_name) == 4
    ada = by_name["ada.lovelace@example.com"]
    assert (ada["id"], ada["externalId"], ada["displayName"], ada["givenName"], ada["familyName"], ada["email"],
            ada["active"]) == (directory["ada"]["id"], "EXT-ada-001", "Ada Lovelace", "Augusta", "Byron",
                               "countess@analytical.example", "true")
    assert by_name["grace@example.com"]["active"] == "false" and by_name["Alan.Turing@Example.com"]["active"] == "true"
    assert by_name["grace@example.com"]["email"] == "amazing.grace@navy.example"
    assert ada["created"] == directory["ada"]["meta"]["created"]
    assert audit_rows(app) == [("export", ADMIN, "users")]


def test_exported_active_agrees_with_the_dashboard_for_users_provisioned_without_it(app, admin, scim):
    """A user whose client never sent ``active`` counts as active on the dashboard and the users list, so the
    export says ``true`` for it, not a blank cell."""
    scim.create_user("no.active@example.com")
    scim.create_user("off@example.com", active=False)
    with app.app_context():
        stored = db.session.execute(text("SELECT user_name, active FROM scim_users")).all()
        counts = monitor_queries.directory_counts()
    assert ("no.active@example.com", None) in [tuple(r) for r in stored]  # the column really is empty
    rows = csv_rows(downloaded(admin.get("/directory/export/users.csv")))
    active = {row[1]: row[rows[0].index("active")] for row in rows[1:]}
    assert active == {"no.active@example.com": "true", "off@example.com": "false"}
    assert (list(active.values()).count("true"), list(active.values()).count("false")) == \
        (counts["active"], counts["inactive"])
    assert listed_users(page(admin, "/directory/users?status=active")) == ["no.active@example.com"]


def test_exported_cells_never_start_a_formula(admin, directory):
    """OWASP CSV injection: cells starting with = + - @ (or tab, CR) are prefixed with an apostrophe."""
    users = csv_rows(downloaded(admin.get("/directory/export/users.csv")))
    evil = next(dict(zip(users[0], r)) for r in users[1:] if r[0] == directory["evil"]["id"])
    assert evil["userName"] == "'=cmd|' /C calc'!A0"
    assert evil["displayName"] == "'+SUM(1,2)" and evil["externalId"] == "'-2+3"
    assert evil["givenName"] == "'@evil" and evil["familyName"] == "'\tTab"
    groups = csv_rows(downloaded(admin.get("/directory/export/groups.csv")))
    assert groups[1][1] == "'=HYPERLINK(\"http://x\")"
    for text_ in (downloaded(admin.get(f"/directory/export/{w}.csv")) for w in export.EXPORTS):
        for row in csv_rows(text_):
            assert not [c for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")], row


def test_web_export_of_groups_and_memberships(app, admin, directory):
    team = directory["team"]
    groups = csv_rows(downloaded(admin.get("/directory/export/groups.csv")))
    assert groups == [export.GROUP_COLUMNS, [team["id"], "'=HYPERLINK(\"http://x\")", "", "4"]]
    members = csv_rows(downloaded(admin.get("/directory/export/memberships.csv")))
    assert members[0] == export.MEMBERSHIP_COLUMNS
    assert sorted(r[2] for r in members[1:]) == sorted(directory[k]["id"] for k in ("ada", "grace", "alan", "evil"))
    ada = next(r for r in members[1:] if r[2] == directory["ada"]["id"])
    assert ada == [team["id"], "'=HYPERLINK(\"http://x\")", directory["ada"]["id"], "User",
                   "ada.lovelace@example.com", "Ada Lovelace"]
    assert audit_rows(app) == [("export", ADMIN, "groups"), ("export", ADMIN, "memberships")]


def test_web_exports_open_in_excel_with_non_ascii_names_intact(admin, scim):
    """Excel on Windows reads a CSV file as UTF-8 only after a byte order mark; without one "Zoë Ångström" becomes
    "ZoÃ« Ã…ngstrÃ¶m". Every web download starts with the mark (once), is declared UTF-8, and is still streamed."""
    zoe = scim.create_user("zoe@example.com", displayName="Zoë Ångström", name={"givenName": "Zoë"})
    team = scim.create_group("Équipe Øst", members=[{"value": zoe["id"]}])
    headers = {"users": export.USER_COLUMNS, "groups": export.GROUP_COLUMNS,
               "memberships": export.MEMBERSHIP_COLUMNS}
    for what, header in headers.items():
        r = admin.get(f"/directory/export/{what}.csv")
        assert r.is_streamed and r.content_type == "text/csv; charset=utf-8"
        # read as Excel does: with the mark, as UTF-8, the mark itself not part of the first column's name
        assert csv_rows(r.get_data().decode("utf-8-sig"))[0] == header
        assert csv_rows(downloaded(r))[0] == header
    users = csv_rows(downloaded(admin.get("/directory/export/users.csv")))
    assert [r[3:5] for r in users[1:]] == [["Zoë Ångström", "Zoë"]]
    groups = csv_rows(downloaded(admin.get("/directory/export/groups.csv")))
    assert groups[1][:2] == [team["id"], "Équipe Øst"]
    members = csv_rows(downloaded(admin.get("/directory/export/memberships.csv")))
    assert members[1][1] == "Équipe Øst" and members[1][5] == "Zoë Ångström"


def test_the_byte_order_mark_is_a_chunk_of_its_own_before_the_streamed_rows(app, directory):
    with app.app_context():
        plain = list(export.csv_stream("users", batch=2))
        marked = list(export.csv_stream("users", bom=True, batch=2))
        assert plain == list(export.users_csv(batch=2)) and len(plain) == 1 + 2  # the header, 4 users in two batches
    assert marked[0] == "\ufeff" and marked[1:] == plain


def test_export_is_audited_even_when_another_writer_commits_meanwhile(app, admin, monkeypatch):
    """The activity writer commits about once a second, from its own connection. One that commits after the page
    has loaded the signed-in admin, and before the export writes its audit row, must not make the download fail
    (SQLite refuses at once, with no busy wait, to turn a read transaction into a write after that)."""
    from scimapp import audit
    from scimapp.directory import routes
    record = audit.record

    def commit_elsewhere_first(*args, **kwargs):
        with db.engine.begin() as conn:  # another connection of the pool, as the writer thread has
            conn.execute(AuditEvent.__table__.insert().values(at=utcnow(), actor="writer", action="other"))
        return record(*args, **kwargs)

    monkeypatch.setattr(routes.audit, "record", commit_elsewhere_first)
    assert csv_rows(downloaded(admin.get("/directory/export/users.csv")))[0] == export.USER_COLUMNS
    assert audit_rows(app) == [("export", ADMIN, "users")]


def test_list_pages_offer_the_exports(admin):
    assert 'href="/directory/export/users.csv"' in page(admin, "/directory/users")
    body = page(admin, "/directory/groups")
    assert 'href="/directory/export/groups.csv"' in body and 'href="/directory/export/memberships.csv"' in body


def test_exports_are_streamed_in_batches(app, directory):
    with app.app_context():
        chunks = list(export.users_csv(batch=2))
        assert len(chunks) == 1 + 2  # the header, then 4 users in two batches
        assert "".join(chunks).count("\r\n") == 5
        assert len(list(export.memberships_csv(batch=3))) == 1 + 2


def test_cli_export_to_a_file_and_to_stdout(app, tmp_path, directory):
    runner = app.test_cli_runner()
    out = tmp_path / "users.csv"
    result = runner.invoke(args=["export", "users", "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = csv_rows(out.read_text(encoding="utf-8"))
    assert rows[0] == export.USER_COLUMNS and len(rows) == 5
    assert not (tmp_path / "users.csv.part").exists()
    result = runner.invoke(args=["export", "--what", "memberships"])
    assert result.exit_code == 0, result.output
    assert csv_rows(result.stdout)[0] == export.MEMBERSHIP_COLUMNS and len(csv_rows(result.stdout)) == 5
    assert audit_rows(app) == [("export", "cli", "users"), ("export", "cli", "memberships")]
    with app.app_context():
        assert db.session.scalars(select(AuditEvent.address).where(AuditEvent.action == "export")).all() == \
            ["cli", "cli"]


def test_cli_export_writes_a_byte_order_mark_only_when_asked(app, tmp_path, scim):
    """Scripts get plain UTF-8 by default; ``--bom`` makes a file for Excel; ``--no-bom`` says the default aloud."""
    scim.create_user("zoe@example.com", displayName="Zoë Ångström")
    runner = app.test_cli_runner()
    files = {}
    for flags in ([], ["--bom"], ["--no-bom"]):
        out = tmp_path / f"users{''.join(flags)}.csv"
        result = runner.invoke(args=["export", "users", *flags, "-o", str(out)])
        assert result.exit_code == 0, result.output
        files[tuple(flags)] = out.read_bytes()
    assert files[()].startswith(b"id,userName,") and files[("--no-bom",)] == files[()]
    assert files[("--bom",)] == b"\xef\xbb\xbf" + files[()]
    assert "Zoë Ångström".encode("utf-8") in files[()]
    stdout = runner.invoke(args=["export", "users", "--bom"]).stdout_bytes
    assert stdout == files[("--bom",)]
    assert runner.invoke(args=["export", "users"]).stdout_bytes == files[()]
    assert "--bom / --no-bom" in runner.invoke(args=["export", "--help"]).output


def test_cli_export_refuses_bad_usage(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["export"]).exit_code == 2
    assert runner.invoke(args=["export", "passwords"]).exit_code == 2
    assert runner.invoke(args=["export", "users", "--what", "groups"]).exit_code == 2
    assert audit_rows(app) == []


def test_cli_export_as_a_real_command(app, tmp_path, scim):
    """``flask --app app export groups -o FILE`` run as an operator would, against the same instance."""
    scim.create_group("@admins")
    out = tmp_path / "groups.csv"
    result = cli(tmp_path / "instance", "export", "groups", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"Exported groups to {out}" in result.stderr
    assert csv_rows(out.read_text(encoding="utf-8"))[1][1:] == ["'@admins", "", "0"]
    assert audit_rows(app) == [("export", "cli", "groups")]


def test_patch_history_lists_changed_attributes(app, admin, scim):
    user = scim.create_user("h@example.com")
    r = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]})
    assert r.status_code == 200
    scim.get(f"/Users/{user['id']}")  # reads are not changes
    flush_activity(app)
    body = page(admin, f"/directory/users/{user['id']}")
    history = body[body.index('id="history-heading"'):body.index('id="raw-heading"')]
    assert history.count("<code>PATCH</code>") == 1 and history.count("<code>GET</code>") == 0
    assert "<li>active</li>" in history

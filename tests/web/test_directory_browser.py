"""The directory pages in a real browser, against the real server (``python app.py``): users, groups, a manager and a
PATCH provisioned through real SCIM requests; then an admin signed in through the real IdP (Canaille) finds a user
by searching, reads their groups, manager, change history and raw SCIM JSON, opens a group and its members, and
downloads the users CSV. At 1280 px and at 320 px (no sideways scrolling); each directory page is checked for
labels, script and CSP errors, and screenshotted to test-artifacts/screenshots/ (30-33, 320px-30-33)."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from scimapp.directory.export import USER_COLUMNS
from tests.conftest import PATCH_OP
from tests.web.helpers import CLIENT_ID, CLIENT_SECRET, SCOPES, created, scim, until_reload_shows
from tests.web.test_browser import Checker, idp_sign_in

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TOKEN = "Entra ID provisioning"
# The width the page lays out, against the width it needs: more means the page scrolls sideways.
WIDTHS = "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"


def user(user_name: str, display: str, given: str, family: str, email: str, **more) -> dict:
    return {"schemas": [USER, ENTERPRISE], "userName": user_name, "displayName": display, "active": True,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"value": email, "type": "work", "primary": True}], **more}


def provision(server, token: str) -> dict:
    """What an Entra provisioning cycle leaves: four users, a group filled member by member, a manager and a title
    set by a PATCH (Entra's way: capitalised ops, the manager as a bare id)."""
    grace = created(server, token, "/Users", user("grace.hopper@contoso.example", "Grace Hopper", "Grace", "Hopper",
                                                  "grace@navy.example", externalId="obj-grace"))
    zoe = created(server, token, "/Users", user("z.angstrom@contoso.example", "Zoë Ångström", "Zoë", "Ångström",
                                                "zoe.a@contoso.example", externalId="obj-zoe"))
    alan = created(server, token, "/Users", user("alan.turing@contoso.example", "Alan Turing", "Alan", "Turing",
                                                 "alan@bletchley.example"))
    # a near miss for the search below: same domain, same first letters
    created(server, token, "/Users", user("zoey.baker@contoso.example", "Zoey Baker", "Zoey", "Baker",
                                          "zoe.b@contoso.example"))
    group = created(server, token, "/Groups", {"schemas": [GROUP], "displayName": "Engineering",
                                               "externalId": "obj-engineering", "members": [{"value": zoe["id"]}]})
    r = scim(server, token, "PATCH", f"/Groups/{group['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": alan["id"]}]}]})
    assert r.status_code == 204, r.text
    r = scim(server, token, "PATCH", f"/Users/{zoe['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "title", "value": "Staff engineer"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": grace["id"]}]})
    assert r.status_code == 200, r.text
    return {"grace": grace, "zoe": zoe, "alan": alan, "group": group}


@pytest.mark.parametrize("width", [1280, 320])
def test_directory_pages_find_a_user_their_groups_history_and_export(new_context, live_factory, idp, screenshots,
                                                                     width):
    from playwright.sync_api import expect
    server = live_factory({"SCIMAPP_OIDC_METADATA_URL": idp.metadata_url, "SCIMAPP_OIDC_CLIENT_ID": CLIENT_ID,
                           "SCIMAPP_OIDC_CLIENT_SECRET": CLIENT_SECRET, "SCIMAPP_OIDC_SCOPES": SCOPES,
                           "SCIMAPP_ADMIN_EMAILS": "alice@example.com"})
    token = server.token(TOKEN)
    made = provision(server, token)
    zoe, grace, group = made["zoe"], made["grace"], made["group"]

    alice = idp.user("alice", email="alice@example.com")
    page = new_context(width, 900).new_page()
    prefix = "" if width == 1280 else "320px-"
    check = Checker(page, screenshots, prefix=prefix)

    def page_checked(name: str) -> None:
        # Measured once the page has loaded: before its stylesheet applies, the bare table is wider than 320 px.
        page.wait_for_load_state("load")
        scroll_width, client_width = page.evaluate(WIDTHS)
        assert scroll_width <= client_width, f"{name} scrolls sideways at {width} px: {scroll_width} > {client_width}"
        check(name)

    page.goto(server.url + "/")
    page.get_by_role("link", name="Sign in").first.click()
    idp_sign_in(page, alice)
    expect(page).to_have_url(server.url + "/dashboard")
    nav = page.get_by_role("navigation", name="Main")

    # Users: all four, then found by the start of an e-mail address (the near miss is not)
    nav.get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    rows = page.locator("table.directory tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("p.summary")).to_contain_text("Showing 1–4 of 4 users")
    page_checked("30-users")
    page.get_by_label("Search", exact=True).fill("zoe.a@contoso")
    page.get_by_role("button", name="Show users").click()
    expect(page).to_have_url(re.compile(r"/directory/users\?q=zoe\.a%40contoso"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("z.angstrom@contoso.example")
    expect(rows.first).to_contain_text("Zoë Ångström")
    expect(page.locator("p.summary")).to_contain_text("1 user matching")
    page_checked("30-users-search")

    # the user's page: groups, manager, the PATCH in the change history, the raw JSON
    rows.first.get_by_role("link", name="z.angstrom@contoso.example").click()
    expect(page).to_have_url(f"{server.url}/directory/users/{zoe['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Zoë Ångström")
    expect(page.get_by_role("region", name="Profile")).to_contain_text("Staff engineer")
    groups = page.get_by_role("region", name="Groups", exact=True)
    expect(groups).to_contain_text("Direct member of 1 group")
    expect(groups.get_by_role("link")).to_have_text(["Engineering"])
    manager = page.get_by_role("region", name="Organization").get_by_role("link", name="Grace Hopper")
    expect(manager).to_have_attribute("href", f"/directory/users/{grace['id']}")
    history = page.get_by_role("region", name="Change history").locator("tbody tr")
    until_reload_shows(page, lambda: expect(history).to_have_count(2, timeout=1000))
    expect(history.nth(0)).to_contain_text("PATCH")  # newest first
    expect(history.nth(0)).to_contain_text(TOKEN)
    expect(history.nth(0).locator("li", has_text="title")).to_have_count(1)
    expect(history.nth(1)).to_contain_text("POST")
    raw = json.loads(page.locator("pre.json").text_content())
    assert raw == scim(server, token, "GET", f"/Users/{zoe['id']}").json()
    assert raw["title"] == "Staff engineer" and raw[ENTERPRISE]["manager"]["value"] == grace["id"]
    page_checked("31-user")

    # the manager link leads to the manager; the group link to the group
    manager.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zoë Ångström")

    # Groups: the member count, then the group and its members
    nav.get_by_role("link", name="Groups", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Groups")
    row = page.locator("table.directory tbody tr", has_text="Engineering")
    expect(row.locator("td.num")).to_have_text("2")
    page_checked("32-groups")
    row.get_by_role("link", name="Engineering").click()
    expect(page).to_have_url(f"{server.url}/directory/groups/{group['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Engineering")
    members = page.locator("section").filter(has=page.get_by_role("heading", name="Members", exact=True))
    expect(members).to_contain_text("2 members")
    expect(members.locator("tbody th a")).to_have_count(2)
    for name, who in (("Zoë Ångström", zoe), ("Alan Turing", made["alan"])):
        expect(members.get_by_role("link", name=name)).to_have_attribute("href", f"/directory/users/{who['id']}")
    group_history = page.get_by_role("region", name="Change history").locator("tbody tr")
    until_reload_shows(page, lambda: expect(group_history).to_have_count(2, timeout=1000))
    expect(group_history.nth(0)).to_contain_text("PATCH")
    expect(group_history.nth(0)).to_contain_text("members (1 added or removed)")
    page_checked("33-group")
    members.get_by_role("link", name="Zoë Ångström").click()
    expect(page).to_have_url(f"{server.url}/directory/users/{zoe['id']}")

    # the users CSV, downloaded as an admin does: ready for Excel (byte order mark), every user, names intact
    nav.get_by_role("link", name="Users", exact=True).click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Export users (CSV)").click()
    download = info.value
    assert re.fullmatch(r"scimapp-users-\d{8}-\d{4}\.csv", download.suggested_filename), download.suggested_filename
    raw_csv = Path(download.path()).read_bytes()
    assert raw_csv.startswith(b"\xef\xbb\xbf"), raw_csv[:20]
    table = list(csv.reader(io.StringIO(raw_csv[3:].decode("utf-8"))))
    assert table[0] == USER_COLUMNS
    by_name = {r[1]: dict(zip(USER_COLUMNS, r)) for r in table[1:]}
    assert sorted(by_name) == ["alan.turing@contoso.example", "grace.hopper@contoso.example",
                               "z.angstrom@contoso.example", "zoey.baker@contoso.example"]
    exported = by_name["z.angstrom@contoso.example"]
    assert (exported["id"], exported["externalId"], exported["displayName"], exported["givenName"],
            exported["familyName"], exported["email"], exported["active"], exported["lastModified"]) == \
        (zoe["id"], "obj-zoe", "Zoë Ångström", "Zoë", "Ångström", "zoe.a@contoso.example", "true",
         raw["meta"]["lastModified"])
    # the download is in the audit log
    nav.get_by_role("link", name="Audit log").click()
    expect(page.locator("table tbody tr", has_text="export").first).to_contain_text("users")

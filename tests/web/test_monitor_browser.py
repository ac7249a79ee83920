"""The monitoring pages in a real browser, against the real server: provision through SCIM with two tokens, find
a failed request in the sync activity, read the audit log, change the activity settings, and clean up after the
test token while the production token's users stay. At 1280 px and at 320 px; every page is checked for labels,
script and CSP errors and sideways scrolling, and screenshotted to test-artifacts/screenshots/."""
from __future__ import annotations

import re

import pytest

from tests.web.helpers import CLIENT_ID, CLIENT_SECRET, SCOPES, created, scim, until_reload_shows
from tests.web.test_browser import Checker, idp_sign_in

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.mark.parametrize("width", [1280, 320])
def test_monitoring_pages_find_an_error_and_clean_up_a_test_token(new_context, live_factory, idp, screenshots,
                                                                  width):
    from playwright.sync_api import expect
    server = live_factory({"SCIMAPP_OIDC_METADATA_URL": idp.metadata_url, "SCIMAPP_OIDC_CLIENT_ID": CLIENT_ID,
                           "SCIMAPP_OIDC_CLIENT_SECRET": CLIENT_SECRET, "SCIMAPP_OIDC_SCOPES": SCOPES,
                           "SCIMAPP_ADMIN_EMAILS": "alice@example.com"})
    production, validator = server.token("Entra ID production"), server.token("SCIM validator")
    real = created(server, production, "/Users", {"schemas": [USER], "userName": "real@example.org"})["id"]
    test_user = created(server, validator, "/Users", {"schemas": [USER], "userName": "test@example.org"})["id"]
    created(server, validator, "/Groups", {"schemas": [GROUP], "displayName": "Validator group",
                                           "members": [{"value": real}, {"value": test_user}]})
    assert scim(server, validator, "POST", "/Users", {"schemas": [USER], "userName": "real@example.org"}) \
        .status_code == 409

    alice = idp.user("alice", email="alice@example.com")
    page = new_context(width, 900).new_page()
    prefix = "" if width == 1280 else "320px-"
    check = Checker(page, screenshots, prefix=prefix, narrow=width == 320)
    page.goto(server.url + "/")
    page.get_by_role("link", name="Sign in").first.click()
    idp_sign_in(page, alice)

    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".stat").first).to_contain_text("2")  # users
    expect(page.get_by_role("img", name=re.compile("Requests and errors per hour"))).to_be_visible()
    # the activity writer flushes about once a second: the 409 may need a reload to show
    until_reload_shows(page, lambda: expect(page.get_by_role("row", name=re.compile("SCIM validator")))
                       .to_contain_text("409", timeout=1000))
    check("20-dashboard")

    page.get_by_role("link", name="Activity", exact=True).click()
    page.get_by_label("Errors only").check()
    page.get_by_role("button", name="Show activity").click()
    expect(page).to_have_url(re.compile(r"/activity\?.*errors=1"))
    rows = page.locator("table.activity tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("409")
    check("21-activity-errors")
    rows.first.get_by_role("link").click()
    expect(page.locator("main")).to_contain_text("uniqueness")
    expect(page.locator("main")).to_contain_text("SCIM validator")
    check("22-activity-entry")

    page.goto(server.url + "/activity/settings")
    page.get_by_label("Keep activity for (days)").fill("400")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("from 1 to 365")
    page.get_by_label("Keep activity for (days)").fill("14")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("activity is kept 14 days")
    check("23-activity-settings")

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Clean up after SCIM validator").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("SCIM validator")
    expect(page.locator("dl.facts")).to_contain_text(re.compile(r"Users\s*1\s*Groups\s*1\s*Memberships\s*2"))
    check("24-cleanup-preview")
    page.get_by_label("Type the token's name to confirm").fill("SCIM")
    page.get_by_role("button", name=re.compile("Revoke token and delete")).click()
    expect(page.locator("main")).to_contain_text("That is not the token's name")
    assert scim(server, validator, "GET", f"/Users/{test_user}").status_code == 200, "nothing happened yet"
    page.get_by_label("Type the token's name to confirm").fill("SCIM validator")
    page.get_by_role("button", name=re.compile("Revoke token and delete")).click()
    expect(page).to_have_url(server.url + "/settings")
    expect(page.get_by_role("status")).to_contain_text("deleted 1 user, 1 group, 2 memberships")
    assert scim(server, validator, "GET", "/Users").status_code == 401
    assert scim(server, production, "GET", f"/Users/{test_user}").status_code == 404
    assert scim(server, production, "GET", f"/Users/{real}").status_code == 200

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("table")).to_contain_text("token.purge")
    page.get_by_label("Action").select_option("token.purge")
    page.get_by_role("button", name="Show events").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody tr")).to_contain_text("deleted 1 user, 1 group, 2 memberships")
    check("25-audit-log")

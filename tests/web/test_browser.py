"""End to end in a real browser: the real server (``python app.py``), a real OpenID Provider (Canaille) and
headless Chromium (Debian's /usr/bin/chromium through Playwright). First-run set-up with the code from the server's
log, the test sign-in, Setup SCIM, the one-time token used for a real SCIM request, revocation; a non-admin's 403
page; every page at 320 px wide and every form control labelled. Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from tests.web.helpers import CLIENT_ID, CLIENT_SECRET, PASSWORD, SCOPES, setup_code_from_log

# Form controls without a usable label (label[for], aria-label or aria-labelledby), and buttons without a name.
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button')).filter(el => {
  if (el.type === 'hidden') return false;
  if (el.tagName === 'BUTTON' || ['submit', 'button', 'reset'].includes(el.type))
    return !((el.textContent || '').trim() || el.getAttribute('aria-label') || el.value);
  const labelled = Array.from(el.labels || []).some(l => l.textContent.trim());
  return !(labelled || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'));
}).map(el => el.outerHTML.slice(0, 160))"""

SCROLL_WIDTH = "() => document.documentElement.scrollWidth"


class Checker:
    """Checks every page of ours the same way: labels, no CSP violation or script error, width; then a screenshot."""

    def __init__(self, page, screenshots, prefix: str = "", narrow: bool = False):
        self.page, self.dir, self.prefix, self.narrow = page, screenshots, prefix, narrow
        self.errors: list[str] = []
        self.favicon_missing = False
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)
        self.seen: list[str] = []

    def _console(self, message) -> None:
        # A page answered with 403/404 on purpose is logged as "Failed to load resource": _response judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console {message.type}: {message.text}")  # e.g. a CSP violation

    def _response(self, response) -> None:
        request = response.request
        if response.status < 400 or request.resource_type == "document":
            return
        if urlsplit(request.url).netloc != urlsplit(self.page.url).netloc:
            # Not one of ours (our CSP allows no other origin): the IdP's own fonts can still be arriving after its
            # sign-in page redirected back to us, and a 404 there is the IdP's business.
            return
        if request.url.endswith("/favicon.ico"):  # Chromium asks for it unprompted; reported, not failed
            self.favicon_missing = True
            return
        self.errors.append(f"{response.status} for {request.resource_type} {request.url}")

    def __call__(self, name: str, width_tested_elsewhere: bool = False) -> None:
        page = self.page
        page.wait_for_load_state("load")
        unlabelled = page.evaluate(UNLABELLED)
        assert unlabelled == [], f"{name}: form controls without a label: {unlabelled}"
        assert not self.errors, f"{name}: {self.errors}"
        if self.narrow and not width_tested_elsewhere:
            width = page.evaluate(SCROLL_WIDTH)
            assert width <= 320, f"{name}: the page scrolls sideways at 320 px (scrollWidth {width})"
        page.screenshot(path=str(self.dir / f"{self.prefix}{name}.png"), full_page=True)
        self.seen.append(name)


def scim_test_connection(tenant_url: str, token: str) -> requests.Response:
    """The request Entra's Test connection sends."""
    return requests.get(tenant_url + "/Users", params={"filter": 'userName eq "nobody"'},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def idp_sign_in(page, user) -> None:
    """Canaille's two pages: the login name, then the password."""
    page.wait_for_url(re.compile(r"/login"))
    page.locator("input[name=login]").fill(user.user_name)
    page.locator("button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/auth/password"))
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button[type=submit]").first.click()


def walk_first_run_and_setup_scim(page, server, idp, check: Checker) -> None:
    """From the start page of a fresh install to a revoked SCIM token, as an admin does it."""
    from playwright.sync_api import expect
    group = idp.group()
    alice = idp.user("alice", email="alice@example.com", groups=[group])
    log = server.output()
    code = setup_code_from_log(server)
    assert f"Open {server.url}/setup and enter this one-time set-up code" in log

    page.goto(server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("scimapp")
    check("01-start")
    page.keyboard.press("Tab")  # keyboard users can skip the header
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
    page.get_by_role("link", name="first-run set-up").click()

    expect(page).to_have_url(server.url + "/setup")
    check("02-setup-code")
    page.get_by_label("Set-up code").fill(code)
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(server.url + "/setup/sign-in")
    expect(page.locator("code.value")).to_have_text(server.url + "/auth/callback")
    check("03-sign-in-settings")
    page.get_by_label("Discovery (metadata) URL").fill(idp.metadata_url)
    page.get_by_label("Client (application) ID").fill(CLIENT_ID)
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_label("Scopes").fill(SCOPES)
    page.get_by_label("Admin email addresses").fill("")
    page.get_by_label("Admin groups (values of the groups claim)").fill(group.display_name)
    page.get_by_role("button", name="Save and continue").click()

    expect(page).to_have_url(server.url + "/setup/test")
    expect(page.locator("dl.facts")).to_contain_text(group.display_name)
    check("04-test-sign-in")
    page.get_by_role("link", name="Test sign-in").click()
    idp_sign_in(page, alice)

    expect(page).to_have_url(server.url + "/settings")
    expect(page.get_by_role("status")).to_contain_text("Sign-in works and is now saved")
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_contain_text("alice@example.com")
    check("05-settings")
    page.get_by_role("link", name="Setup SCIM").click()

    expect(page).to_have_url(server.url + "/settings/scim")
    expect(page.get_by_role("heading", level=1)).to_have_text("Setup SCIM")
    check("06-setup-scim-intro")
    page.get_by_role("link", name="Continue").click()

    expect(page).to_have_url(server.url + "/settings/scim/token")
    check("07-token-form")
    page.get_by_label("Token name").fill("Entra ID production")
    page.get_by_role("button", name="Generate Token").click()

    expect(page).to_have_url(server.url + "/settings/scim/token/created")
    expect(page.get_by_role("alert")).to_contain_text("shown only now")
    tenant_url = page.get_by_label("Tenant URL").input_value()
    token = page.get_by_label("Secret Token").input_value()
    assert tenant_url == server.url + "/scim/v2"
    assert re.fullmatch(r"scim_[A-Za-z0-9_-]{43}", token)
    for field, value in (("tenant-url", tenant_url), ("secret-token", token)):
        button = page.locator(f"button[data-copy='{field}']")
        expect(button).to_have_text("Copy")
        button.click()
        expect(page.locator(f"#{field}-status")).to_have_text("Copied.")
        expect(button).to_have_text("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == value
    check("08-token-created")

    assert scim_test_connection(tenant_url, token).status_code == 200

    page.get_by_role("link", name="Done").click()
    expect(page).to_have_url(server.url + "/settings")
    page.go_back()  # the token page is no-store: the browser asks again, and the server shows it no more
    expect(page).to_have_url(server.url + "/settings")
    expect(page.get_by_role("status")).to_contain_text("shown only once")
    assert token not in page.content()
    row = page.get_by_role("row", name=re.compile("Entra ID production"))
    expect(row).to_contain_text("active")
    row.get_by_role("link", name="Revoke Entra ID production").click()

    expect(page).to_have_url(re.compile(r"/settings/tokens/\d+/revoke$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke token “Entra ID production”?")
    check("09-revoke-confirm")
    assert scim_test_connection(tenant_url, token).status_code == 200, "nothing is revoked before confirming"
    page.get_by_role("button", name="Revoke").click()

    expect(page).to_have_url(server.url + "/settings")
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    expect(page.get_by_role("row", name=re.compile("Entra ID production"))).to_contain_text("revoked")
    assert scim_test_connection(tenant_url, token).status_code == 401
    # The token table, the widest thing on any page (its width at 320 px: test_settings_with_tokens_fits_320_px).
    check("11-settings-with-tokens", width_tested_elsewhere=True)

    # the token page is gone for good: going back to it shows no token
    page.goto(server.url + "/settings/scim/token/created")
    expect(page).to_have_url(server.url + "/settings")
    assert token not in page.content()


def test_first_run_to_a_revoked_scim_token(new_context, live_factory, idp, screenshots):
    page = new_context().new_page()
    server = live_factory()
    check = Checker(page, screenshots)
    walk_first_run_and_setup_scim(page, server, idp, check)
    assert len(check.seen) == 10


def test_the_pages_work_320_px_wide(new_context, live_factory, idp, screenshots):
    """The same walk on a 320 px wide screen: nothing scrolls sideways, every control is labelled and usable."""
    page = new_context(320, 640).new_page()
    check = Checker(page, screenshots, prefix="320px-", narrow=True)
    walk_first_run_and_setup_scim(page, live_factory(), idp, check)
    assert len(check.seen) == 10


@pytest.mark.parametrize("width", [1280, 320])
def test_a_non_admin_sees_the_not_an_admin_page(new_context, live_factory, idp, screenshots, width):
    from playwright.sync_api import expect
    group = str(uuid.uuid4())
    server = live_factory({"SCIMAPP_OIDC_METADATA_URL": idp.metadata_url, "SCIMAPP_OIDC_CLIENT_ID": CLIENT_ID,
                           "SCIMAPP_OIDC_CLIENT_SECRET": CLIENT_SECRET, "SCIMAPP_OIDC_SCOPES": SCOPES,
                           "SCIMAPP_ADMIN_GROUPS": group})
    assert "one-time set-up code" not in server.output(), "no set-up code when sign-in is configured"
    bob = idp.user("bob", email="bob@example.com", groups=[idp.group()])
    page = new_context(width, 800).new_page()
    check = Checker(page, screenshots, prefix="" if width == 1280 else "320px-", narrow=width == 320)
    page.goto(server.url + "/settings")
    idp_sign_in(page, bob)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "You are signed in at your identity provider, but you are not an admin here")
    expect(page.locator("main")).to_contain_text("checked your groups against its admin rules")
    expect(page.locator("main")).to_contain_text("bob@example.com")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    check("10-not-an-admin")
    # Signing in again (the IdP remembers Bob) ends on the same page: he is never let in.
    page.goto(server.url + "/settings/scim")
    expect(page.get_by_role("heading", level=1)).to_contain_text("you are not an admin here")
    assert page.url.startswith(server.url + "/auth/callback")


def test_settings_with_tokens_fits_320_px(new_context, live_factory, idp):
    server = live_factory({"SCIMAPP_OIDC_METADATA_URL": idp.metadata_url, "SCIMAPP_OIDC_CLIENT_ID": CLIENT_ID,
                           "SCIMAPP_OIDC_CLIENT_SECRET": CLIENT_SECRET, "SCIMAPP_OIDC_SCOPES": SCOPES,
                           "SCIMAPP_ADMIN_EMAILS": "alice@example.com"})
    server.token("Entra ID production")  # made with the CLI, so this test needs nothing but the Settings page
    alice = idp.user("alice", email="alice@example.com")
    page = new_context(320, 640).new_page()
    page.goto(server.url + "/settings")
    idp_sign_in(page, alice)
    page.wait_for_url(server.url + "/settings")
    assert "Entra ID production" in page.content()
    assert page.evaluate(SCROLL_WIDTH) <= 320

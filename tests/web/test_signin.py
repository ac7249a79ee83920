"""Sign-in over real HTTP (requests, no browser) against a real OpenID Provider (Canaille): first-run set-up, the
admin rules, the guard on every admin page, and the audit trail."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.web.helpers import CLIENT_SECRET, HttpBrowser, find_form, signin_config

ADMIN_PAGES = ["/settings", "/settings/scim", "/settings/scim/token", "/settings/scim/token/created",
               "/settings/tokens/{token}/revoke", "/settings/sign-in", "/dashboard", "/activity", "/activity/settings",
               "/audit", "/settings/tokens/{token}/cleanup"]


def text_of(html: str) -> str:
    """The page's text with tags removed and spaces collapsed (for phrases that span markup)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def stored(rp, key: str) -> dict | None:
    from scimapp.extensions import db
    from scimapp.models import AppSetting
    with rp.ctx():
        row = db.session.get(AppSetting, key)
        value = dict(row.value) if row else None
        db.session.remove()
        return value


def configured(rp) -> bool:
    from scimapp.settings import is_configured
    with rp.ctx():
        return is_configured()


def code_matches(rp, code: str) -> bool:
    from scimapp.settings import setup_code_matches
    with rp.ctx():
        return setup_code_matches(code)


def assert_not_signed_in(web: HttpBrowser, rp) -> None:
    r = web.get(rp.url + "/settings", allow_redirects=False)
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"], (r.status_code, r.headers)


# ---------------------------------------------------------------------------- first-run set-up

def test_first_run_setup_happy_path(idp, rp, web):
    """Set-up with the printed code → sign-in settings → test sign-in → Settings; set-up closes, the code dies."""
    alice = idp.user("alice", email="alice@example.com")
    code = rp.setup_code()
    bystander = HttpBrowser()  # someone else who opened the set-up page while it was open
    bystander_form = bystander.get(rp.url + "/setup")
    assert bystander_form.status_code == 200

    home = web.get(rp.url + "/")
    assert 'href="/setup"' in home.text and "not set up yet" in home.text
    r = web.get(rp.url + "/auth/login")  # "Sign in" before anything is configured leads to set-up
    assert r.url == rp.url + "/setup" and r.status_code == 200

    page = web.submit(r, having="code", code=code)
    assert page.url == rp.url + "/setup/sign-in"
    assert rp.callback in page.text  # the redirect URI to register at the IdP is shown
    page = web.submit(page, having="metadata_url", metadata_url=idp.metadata_url, client_id="scimapp-test",
                      client_secret=CLIENT_SECRET, scopes="openid email profile groups",
                      admin_emails="alice@example.com")
    assert page.status_code == 200 and page.url == rp.url + "/setup/test"
    assert idp.metadata_url in page.text and "alice@example.com" in page.text
    assert not configured(rp), "nothing is active before the test sign-in proves it"
    pending = stored(rp, "sign_in_pending")
    assert pending["OIDC_CLIENT_ID"] == "scimapp-test"
    assert pending["OIDC_CLIENT_SECRET"] and CLIENT_SECRET not in pending["OIDC_CLIENT_SECRET"], \
        "the client secret is stored encrypted"

    test_link = re.search(r'href="(/auth/login\?setup=1)"', page.text)
    assert test_link, "the Test sign-in button"
    landed = web.idp_login(web.get(rp.url + test_link.group(1)), alice)
    assert landed.status_code == 200 and landed.url == rp.url + "/settings", (landed.url, landed.text[:2000])
    assert "Sign-in works and is now saved" in landed.text
    assert "alice@example.com" in landed.text  # the Sign out button names who is signed in

    # Set-up is closed and the code is used up
    assert configured(rp)
    assert stored(rp, "setup_code") is None and stored(rp, "sign_in_pending") is None
    active = stored(rp, "sign_in")
    assert active["ADMIN_EMAILS"] == "alice@example.com"
    assert active["OIDC_CLIENT_SECRET"] and CLIENT_SECRET not in active["OIDC_CLIENT_SECRET"]
    assert not code_matches(rp, code)
    closed = web.get(rp.url + "/setup")
    assert closed.status_code == 404 and "Set-up is not available" in closed.text
    replay = bystander.submit(bystander_form, having="code", code=code)
    assert replay.status_code == 404 and "already configured" in replay.text
    assert web.get(rp.url + "/setup/sign-in").status_code == 404
    assert web.get(rp.url + "/setup/test").status_code == 404

    actions = [(e["action"], e["actor"]) for e in rp.audit()]
    assert ("setup.completed", "alice@example.com") in actions
    assert ("sign_in", "alice@example.com") in actions

    # The saved settings now work for an ordinary sign-in in a new browser
    again = HttpBrowser()
    r = again.sign_in(rp, alice)
    assert r.url == rp.url + "/dashboard" and r.status_code == 200
    r = again.get(rp.url + "/settings")
    assert "(saved)" in r.text and CLIENT_SECRET not in r.text


def test_refused_test_sign_in_keeps_setup_open_and_can_be_fixed(idp, rp, web):
    """A test sign-in that the rules refuse shows what the IdP sent; fixing the rules then works (blank secret
    keeps the one entered before)."""
    alice = idp.user("alice", email="alice@example.com")
    page = web.finish_setup(rp, rp.setup_code(), idp, admin_emails="bob@example.com")
    assert page.url.endswith("/setup/test")
    refused = web.idp_login(web.get(rp.url + "/auth/login?setup=1"), alice)
    assert refused.status_code == 403
    assert "not an admin" in refused.text and "alice@example.com" in refused.text
    assert "Back to set-up" in refused.text
    assert not configured(rp)
    assert [e["detail"] for e in rp.audit("sign_in.refused")] == ["checked email"]

    form_page = web.get(rp.url + "/setup/sign-in")
    assert form_page.status_code == 200
    form = find_form(form_page.text, having="metadata_url")
    assert form.fields["metadata_url"] == idp.metadata_url and form.fields["client_secret"] == ""
    assert "A secret is already entered" in form_page.text
    assert CLIENT_SECRET not in form_page.text, "the secret is never sent back to the browser"
    page = web.submit(form_page, having="metadata_url", admin_emails="alice@example.com")  # secret left blank
    assert page.url.endswith("/setup/test"), page.text[:3000]
    landed = web.idp_login(web.get(rp.url + "/auth/login?setup=1"), alice)
    assert landed.url == rp.url + "/settings" and landed.status_code == 200
    assert configured(rp)


def test_wrong_setup_code_is_refused_and_audited(rp, web):
    rp.setup_code()
    page = web.get(rp.url + "/setup")
    r = web.submit(page, having="code", code="ABCDEF-123456-ABCDEF-123456")
    assert r.status_code == 400
    assert "not the current set-up code" in r.text
    assert 'aria-invalid="true"' in r.text
    refused = rp.audit("setup.code_refused")
    assert len(refused) == 1 and refused[0]["actor"] == "anonymous"
    after = web.get(rp.url + "/setup/sign-in", allow_redirects=False)
    assert after.status_code == 302 and after.headers["Location"].endswith("/setup")


def test_setup_code_tolerates_case_and_spaces(rp, web):
    code = rp.setup_code()
    r = web.submit(web.get(rp.url + "/setup"), having="code", code=f"  {code.lower()} ")
    assert r.url == rp.url + "/setup/sign-in" and r.status_code == 200


def test_a_restart_replaces_the_setup_code(rp, web):
    """Each start of an unconfigured server prints a new code; the previous one stops working."""
    old, new = rp.setup_code(), rp.setup_code()
    r = web.submit(web.get(rp.url + "/setup"), having="code", code=old)
    assert r.status_code == 400
    r = web.submit(r, having="code", code=new)
    assert r.url == rp.url + "/setup/sign-in"


def test_setup_is_closed_when_no_code_was_issued(rp, web):
    """Without ``python app.py`` (which issues the code) there is no set-up, and sign-in says it is not set up."""
    r = web.get(rp.url + "/setup")
    assert r.status_code == 404 and "python app.py" in r.text
    r = web.get(rp.url + "/auth/login")
    assert r.status_code == 503 and "Sign-in is not set up" in r.text


def test_setup_form_requires_a_secret_and_an_admin_rule(idp, rp, web):
    code = rp.setup_code()
    page = web.submit(web.get(rp.url + "/setup"), having="code", code=code)
    r = web.submit(page, having="metadata_url", metadata_url=idp.metadata_url, client_id="scimapp-test",
                   client_secret="", admin_emails="")
    assert r.status_code == 400 and "Enter the client secret" in r.text
    r = web.submit(r, having="metadata_url", client_secret=CLIENT_SECRET, admin_emails="", admin_domains="",
                   admin_groups="", admin_roles="")
    assert r.status_code == 400 and "at least one admin rule" in r.text
    r = web.submit(r, having="metadata_url", metadata_url="not a url", client_secret=CLIENT_SECRET,
                   admin_emails="alice@example.com")
    assert r.status_code == 400 and r.url.endswith("/setup/sign-in")
    assert stored(rp, "sign_in_pending") is None


def test_wrong_client_secret_in_setup_gives_a_friendly_error(idp, rp, web):
    alice = idp.user("alice")
    web.finish_setup(rp, rp.setup_code(), idp, client_secret="not-the-secret")
    r = web.idp_login(web.get(rp.url + "/auth/login?setup=1"), alice)
    assert r.status_code == 400 and "Sign-in could not be completed" in r.text
    assert "invalid_client" in r.text
    assert not configured(rp)


def test_unreachable_idp_gives_a_friendly_error(idp, rp, web):
    web.finish_setup(rp, rp.setup_code(), idp, metadata_url="http://127.0.0.1:9/.well-known/openid-configuration")
    r = web.get(rp.url + "/auth/login?setup=1")
    assert r.status_code == 502 and "cannot be reached" in r.text
    assert "127.0.0.1:9" in r.text


# ---------------------------------------------------------------------------- the admin rules at sign-in

GROUP_A, GROUP_B = str(uuid.uuid4()), str(uuid.uuid4())  # Entra sends group object ids


@pytest.mark.parametrize("rules, email, groups, admitted, checked", [
    pytest.param({"ADMIN_EMAILS": "Alice@Example.com"}, "alice@example.com", [], "email alice@example.com",
                 None, id="email-allowed"),
    pytest.param({"ADMIN_EMAILS": "bob@example.com, carol@example.com"}, "alice@example.com", [], None,
                 "email", id="email-denied"),
    pytest.param({"ADMIN_DOMAINS": "@EXAMPLE.com"}, "alice@example.com", [], "email domain example.com",
                 None, id="domain-allowed"),
    pytest.param({"ADMIN_DOMAINS": "example.org"}, "alice@example.com", [], None,
                 "email domain", id="domain-denied"),
    pytest.param({"ADMIN_DOMAINS": "example.com"}, "alice@example.com.evil.test", [], None,
                 "email domain", id="domain-suffix-trick-denied"),
    pytest.param({"ADMIN_DOMAINS": "example.com"}, "alice@sub.example.com", [], None,
                 "email domain", id="subdomain-denied"),
    pytest.param({"ADMIN_GROUPS": GROUP_A.upper()}, "alice@example.com", [GROUP_A], f"group {GROUP_A}",
                 None, id="group-allowed-case-insensitive"),
    pytest.param({"ADMIN_GROUPS": GROUP_A}, "alice@example.com", [GROUP_B], None, "groups", id="group-denied"),
    pytest.param({"ADMIN_GROUPS": GROUP_A}, "alice@example.com", [], None, "groups", id="no-groups-denied"),
    pytest.param({"ADMIN_ROLES": "SCIM.Admin"}, "alice@example.com", [GROUP_A], None, "roles",
                 id="roles-not-sent-denied"),
    pytest.param({"ADMIN_EMAILS": "bob@example.com", "ADMIN_GROUPS": GROUP_A}, "alice@example.com", [GROUP_A],
                 f"group {GROUP_A}", None, id="any-rule-admits"),
    pytest.param({"ADMIN_EMAILS": "bob@example.com", "ADMIN_DOMAINS": "example.org", "ADMIN_GROUPS": GROUP_A,
                  "ADMIN_ROLES": "SCIM.Admin"}, "alice@example.com", [GROUP_B], None,
                 "email, email domain, groups, roles", id="all-rules-denied"),
])
def test_admin_rules_at_sign_in(idp, rp_factory, web, rules, email, groups, admitted, checked):
    """Real ID tokens from Canaille against each rule. Canaille sends ``groups`` as group display names; the test
    groups are named with GUIDs as Entra's object ids are. (Canaille cannot send a ``roles`` claim: see
    test_role_rules_through_the_stored_claims for roles that are present.)"""
    rp = rp_factory(signin_config(idp, **rules))
    idp_groups = {name: idp.group(name) for name in {GROUP_A, GROUP_B}}
    user = idp.user("alice", email=email, groups=[idp_groups[g] for g in groups])
    r = web.sign_in(rp, user)
    if admitted:
        assert r.status_code == 200 and r.url == rp.url + "/dashboard", (r.status_code, r.text[:2000])
        events = rp.audit("sign_in")
        assert [e["detail"] for e in events] == [f"admitted by {admitted}"]
        assert events[0]["actor"] == email and events[0]["address"] == "127.0.0.1"
        assert not rp.audit("sign_in.refused")
    else:
        assert r.status_code == 403, (r.status_code, r.url, r.text[:2000])
        assert r.url.startswith(rp.callback)
        text = text_of(r.text)
        assert "you are not an admin here" in text
        assert f"scimapp checked your {checked} against its admin rules" in text
        assert f"Email {email}" in text
        if groups:
            assert groups[0] in text  # what the IdP sent, to help fix the rules
        else:
            assert "Groups claim — (not sent)" in text
        assert "Roles claim — (not sent)" in text
        refused = rp.audit("sign_in.refused")
        assert [(e["actor"], e["detail"]) for e in refused] == [(email, f"checked {checked}")]
        assert not rp.audit("sign_in")
        assert_not_signed_in(web, rp)


def test_email_falls_back_to_preferred_username(idp, rp_factory, web):
    """Entra may send no ``email``; ``preferred_username`` (the UPN) stands in when it looks like an address."""
    rp = rp_factory(signin_config(idp, ADMIN_DOMAINS="example.com"))
    carol = idp.user("carol", email=None, display_name="carol@example.com")  # Canaille: preferred_username
    r = web.sign_in(rp, carol)
    assert r.url == rp.url + "/dashboard" and r.status_code == 200
    assert [e["detail"] for e in rp.audit("sign_in")] == ["admitted by email domain example.com"]


def test_what_the_idp_sent_is_shown_escaped(idp, rp_factory, web):
    """Claims are the IdP's (and so partly the user's) text: the 403 page shows them, never runs them."""
    rp = rp_factory(signin_config(idp, ADMIN_GROUPS=str(uuid.uuid4())))
    group = idp.group('<img src=x onerror="alert(1)">')
    r = web.sign_in(rp, idp.user("mallory", email="mallory@example.com", groups=[group]))
    assert r.status_code == 403
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=" in r.text


def test_no_rules_admit_nobody(idp, rp_factory, web):
    rp = rp_factory(signin_config(idp))
    r = web.sign_in(rp, idp.user("alice"))
    assert r.status_code == 403
    assert "No admin rules are configured" in r.text
    assert rp.audit("sign_in.refused")[0]["detail"] == "checked no rules (none configured)"


def set_stored_claims(rp, claims: dict) -> None:
    from scimapp.extensions import db
    from scimapp.models import AdminUser
    with rp.ctx():
        admin = db.session.query(AdminUser).one()
        admin.claims = {**admin.claims, **claims}
        db.session.commit()
        db.session.remove()


def test_role_rules_through_the_stored_claims(idp, rp_factory, web):
    """Canaille cannot put a ``roles`` claim in its ID tokens (only the standard claims and ``groups``), so the
    roles rule is tested through the admin decision every admin page makes from the stored snapshot of the last
    sign-in's claims: Alice signs in for real, then the server restarts with a roles-only rule and her snapshot
    is given Entra-style app roles."""
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    assert web.sign_in(rp, idp.user("alice")).url == rp.url + "/dashboard"

    rp.restart(signin_config(idp, ADMIN_ROLES="SCIM.Admin, Directory.Writer"))
    r = web.get(rp.url + "/settings")
    assert r.status_code == 403 and "checked your roles against its admin rules" in text_of(r.text)

    set_stored_claims(rp, {"roles": ["Reader", "scim.admin"]})  # roles compare case-insensitively
    r = web.get(rp.url + "/settings")
    assert r.status_code == 200 and "<h1>Settings</h1>" in r.text

    set_stored_claims(rp, {"roles": "Directory.Writer"})  # a single string is one role
    assert web.get(rp.url + "/settings").status_code == 200

    set_stored_claims(rp, {"roles": ["SCIM.Reader"]})
    r = web.get(rp.url + "/settings")
    assert r.status_code == 403
    assert "Roles claim SCIM.Reader" in text_of(r.text)


# ---------------------------------------------------------------------------- the guard on every admin page

def make_token(rp) -> int:
    from scimapp import tokens
    from scimapp.extensions import db
    with rp.ctx():
        token_id = tokens.create("guard test", "pytest")[0].id
        db.session.remove()
        return token_id


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_send_anonymous_visitors_to_sign_in(idp, rp_factory, web, path):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    path = path.format(token=make_token(rp))
    r = web.get(rp.url + path, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/auth/login?next=")
    assert path in requests_unquote(r.headers["Location"])


def requests_unquote(text: str) -> str:
    from urllib.parse import unquote
    return unquote(text)


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(idp, rp_factory, web):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    alice = idp.user("alice")
    r = web.get(rp.url + "/settings/scim")  # → sign in → back to Setup SCIM
    r = web.idp_login(r, alice)
    assert r.url == rp.url + "/settings/scim" and r.status_code == 200
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        other = HttpBrowser()
        r = other.sign_in(rp, alice, next_path=evil)
        assert r.url == rp.url + "/dashboard", evil


@pytest.mark.parametrize("kind", ["email", "email domain", "groups"])
def test_every_admin_page_refuses_a_signed_in_person_the_rules_no_longer_admit(idp, rp_factory, web, kind):
    """Admitted at sign-in; the rules then change (restart with new configuration): every admin page, GET and
    POST, answers 403 "not an admin", names the claim it checked, and changes nothing."""
    group = idp.group()
    before, after = {"email": ("ADMIN_EMAILS", "alice@example.com", "bob@example.com"),
                     "email domain": ("ADMIN_DOMAINS", "example.com", "example.org"),
                     "groups": ("ADMIN_GROUPS", group.display_name, str(uuid.uuid4()))}[kind][1:]
    key = {"email": "ADMIN_EMAILS", "email domain": "ADMIN_DOMAINS", "groups": "ADMIN_GROUPS"}[kind]
    rp = rp_factory(signin_config(idp, **{key: before}))
    assert web.sign_in(rp, idp.user("alice", groups=[group])).url == rp.url + "/dashboard"
    token_id = make_token(rp)
    rp.restart(signin_config(idp, **{key: after}))

    csrf = None
    for path in ADMIN_PAGES:
        r = web.get(rp.url + path.format(token=token_id), allow_redirects=False)
        assert r.status_code == 403, path
        text = text_of(r.text)
        assert "you are not an admin here" in text and f"checked your {kind} against its admin rules" in text
        assert group.display_name in text and "Email alice@example.com" in text
        csrf = web.csrf(r)  # the sign-out form of the 403 page: a valid token for this session
    posts = {"/settings/scim/token": {"name": "sneaky"}, "/settings/tokens/{token}/revoke": {},
             "/settings/sign-in": {"admin_groups": group.display_name, "scopes": "openid"}}
    for path, data in posts.items():
        r = web.post(rp.url + path.format(token=token_id), data={"csrf_token": csrf, **data},
                     allow_redirects=False)
        assert r.status_code == 403, path
    from scimapp import tokens
    from scimapp.extensions import db
    with rp.ctx():
        assert [(t.name, tokens.status(t)) for t in tokens.all_tokens()] == [("guard test", "active")]
        db.session.remove()
    assert stored(rp, "sign_in") is None  # no rules were saved
    assert not rp.audit("token.revoke") and not rp.audit("settings.changed")

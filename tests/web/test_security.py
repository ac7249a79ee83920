"""Security of the sign-in and the admin pages over real HTTP: state, nonce, audience and PKCE against a real
OpenID Provider; CSRF on every form; the session cookie; security headers; the one-time token page; the SCIM API
never taking the admin's cookie; sign-out; and configuration winning over saved settings."""
from __future__ import annotations

import base64
import hashlib
import html
import re
import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
import requests

from tests.web.helpers import (CLIENT_ID, CLIENT_SECRET, COOKIE, SCOPES, HttpBrowser, find_form, query_of,
                               session_of, signin_config)
from tests.web.test_signin import assert_not_signed_in, stored, text_of


@pytest.fixture
def admin(idp, rp_factory, web):
    """scimapp with sign-in in its configuration, and Alice signed in as an admin (by her email) in ``web``."""
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    alice = idp.user("alice", email="alice@example.com")
    r = web.sign_in(rp, alice)
    assert r.url == rp.url + "/dashboard" and r.status_code == 200
    return rp, alice, r


def with_query(url: str, **changes) -> str:
    """``url`` with some query parameters replaced (None removes one)."""
    parts = urlsplit(url)
    query = query_of(url)
    for k, v in changes.items():
        if v is None:
            query.pop(k, None)
        else:
            query[k] = v
    return urlunsplit(parts._replace(query=urlencode(query)))


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authlib_state(rp, web: HttpBrowser, state: str) -> dict:
    """What authlib kept in our (signed, readable) session cookie for this sign-in: redirect_uri, nonce, code_verifier."""
    data = session_of(rp, web.cookie())
    assert data, "no readable session cookie"
    entries = [v for k, v in data.items() if k.startswith("_state_") and k.endswith(state)]
    assert len(entries) == 1, list(data)
    return entries[0]["data"]


def make_token(web: HttpBrowser, rp, name: str = "Entra ID production") -> tuple[requests.Response, str]:
    form = web.get(rp.url + "/settings/scim/token")
    r = web.submit(form, having="name", name=name)
    secret = re.search(r'id="secret-token" type="text" value="(scim_[^"]+)"', r.text)
    assert r.status_code == 200 and secret, (r.status_code, r.url, r.text[:2000])
    return r, secret.group(1)


def scim_users(rp, secret: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return requests.get(rp.url + "/scim/v2/Users", params={"filter": 'userName eq "nobody"'}, headers=headers,
                        timeout=10, **kw)


# ---------------------------------------------------------------------------- PKCE, state, nonce, audience

def test_authorize_request_carries_pkce_s256_state_and_nonce(idp, rp_factory, web):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    url = web.authorize_only(rp)
    assert url.startswith(idp.metadata()["authorization_endpoint"])
    q = query_of(url)
    assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
    assert q["redirect_uri"] == rp.callback
    assert "openid" in q["scope"].split()
    assert q["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", q["code_challenge"])
    assert len(q["state"]) >= 20 and len(q["nonce"]) >= 16
    kept = authlib_state(rp, web, q["state"])
    assert kept["nonce"] == q["nonce"]
    assert s256(kept["code_verifier"]) == q["code_challenge"], "the challenge is S256 of the kept verifier"
    again = query_of(HttpBrowser().authorize_only(rp))
    assert {again[k] for k in ("state", "nonce", "code_challenge")}.isdisjoint(
        {q[k] for k in ("state", "nonce", "code_challenge")}), "fresh values for every sign-in"


def test_forged_state_on_the_callback_is_refused(admin, web):
    rp, _, _ = admin
    other = HttpBrowser()
    other.authorize_only(rp)  # a sign-in in progress, with its own state
    r = other.get(rp.callback, params={"code": "made-up", "state": "forged-state"})
    assert r.status_code == 400
    assert "Sign-in could not be completed" in r.text and "mismatching_state" in r.text
    assert "Try signing in again" in r.text
    assert_not_signed_in(other, rp)
    nothing = HttpBrowser().get(rp.callback, params={"code": "made-up"})  # no state, no session
    assert nothing.status_code == 400 and "Sign-in could not be completed" in nothing.text


def test_code_and_state_replayed_in_another_session_are_refused(admin, idp, web):
    """Login CSRF: a callback URL made in session A is useless in session B (the state is bound to A's session)."""
    rp, alice, _ = admin
    a = HttpBrowser()
    callback = a.code_for(a.authorize_only(rp), alice)
    b = HttpBrowser()
    b.authorize_only(rp)  # B has a sign-in of its own in progress
    r = b.get(callback)
    assert r.status_code == 400 and "mismatching_state" in r.text
    assert_not_signed_in(b, rp)
    r = a.get(callback)  # the code itself was fine: in A's own session it signs A in
    assert r.url == rp.url + "/dashboard" and r.status_code == 200


def test_a_used_code_cannot_be_replayed_with_the_old_session_cookie(admin, idp):
    """The cookie from before sign-in still holds the state, but the IdP redeems a code only once."""
    rp, alice, _ = admin
    a = HttpBrowser()
    callback = a.code_for(a.authorize_only(rp), alice)
    before = a.cookie()
    assert a.get(callback).url == rp.url + "/dashboard"
    thief = HttpBrowser()
    thief.set_cookie(before)
    r = thief.get(callback)
    assert r.status_code == 400 and "invalid_grant" in r.text
    assert_not_signed_in(thief, rp)


def test_wrong_nonce_is_refused(admin, web):
    """The IdP puts the nonce of the authorize request in the ID token; one that differs from ours is refused."""
    rp, alice, _ = admin
    b = HttpBrowser()
    url = with_query(b.authorize_only(rp), nonce="a-nonce-that-is-not-ours")
    callback = b.code_for(url, alice)
    r = b.get(callback)
    assert r.status_code == 400, (r.status_code, r.text[:1500])
    assert "The sign-in response could not be verified" in r.text
    assert "Invalid claim: 'nonce'" in html.unescape(r.text)
    assert_not_signed_in(b, rp)
    assert len(rp.audit("sign_in")) == 1, "only the fixture's own sign-in"


@pytest.mark.parametrize("audience", [None, "another-app"], ids=["empty-aud", "aud-is-another-app"])
def test_id_token_for_another_audience_is_refused(idp, rp_factory, web, audience):
    """The IdP issues the ID token to a client audience that does not contain our client id."""
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"), audience=audience)
    r = web.sign_in(rp, idp.user("alice"))
    assert r.status_code == 400, (r.status_code, r.url, r.text[:1500])
    assert "The sign-in response could not be verified" in r.text
    assert "Invalid claim: 'aud'" in html.unescape(r.text)
    assert_not_signed_in(web, rp)
    assert not rp.audit("sign_in")


def redeem(idp, callback: str, redirect_uri: str, verifier: str | None) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": query_of(callback)["code"], "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(idp.metadata()["token_endpoint"], data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)


def test_the_idp_refuses_a_missing_or_wrong_pkce_verifier(admin, idp):
    """Codes issued for our challenge are redeemed only with our verifier (each attempt with a fresh code; a
    refused code is then deleted at the IdP, see Idp.forget_code)."""
    rp, alice, _ = admin
    results = {}
    for case in ("missing", "wrong", "right"):
        b = HttpBrowser()
        url = b.authorize_only(rp)
        verifier = authlib_state(rp, b, query_of(url)["state"])["code_verifier"]
        callback = b.code_for(url, alice)
        given = {"missing": None, "wrong": "x" * 43, "right": verifier}[case]
        results[case] = redeem(idp, callback, rp.callback, given)
        idp.forget_code(query_of(callback)["code"])
    assert results["missing"].status_code == 400 and results["missing"].json()["error"] == "invalid_request"
    assert results["wrong"].status_code == 400 and results["wrong"].json()["error"] == "invalid_grant"
    assert results["right"].status_code == 200 and "id_token" in results["right"].json(), results["right"].text


def test_a_tampered_pkce_challenge_makes_sign_in_fail(admin, web):
    """The code is bound to the challenge the IdP saw; our verifier does not match it, so the IdP refuses our
    token request and the person sees a friendly page (not a 500) and is not signed in."""
    rp, alice, _ = admin
    b = HttpBrowser()
    url = with_query(b.authorize_only(rp), code_challenge=s256("an attacker's verifier " + "x" * 30))
    r = b.get(b.code_for(url, alice))
    assert r.status_code == 400 and "Sign-in could not be completed" in r.text and "invalid_grant" in r.text
    assert_not_signed_in(b, rp)


def test_error_from_the_idp_is_a_friendly_page(admin):
    rp, _, _ = admin
    r = HttpBrowser().get(rp.callback, params={"error": "access_denied", "error_description": "User cancelled"})
    assert r.status_code == 400
    assert "The identity provider refused the sign-in" in r.text and "User cancelled" in r.text


# ---------------------------------------------------------------------------- CSRF

FORMS = ["setup code", "setup sign-in", "token create", "revoke", "admin rules", "sign-out"]


def open_form(form_name: str, idp, rp_factory, web):
    """Reach the form as its legitimate user would; returns (app, page, the values a person would enter)."""
    if form_name.startswith("setup"):
        rp = rp_factory()
        code = rp.setup_code()
        page = web.get(rp.url + "/setup")
        if form_name == "setup code":
            return rp, page, {"code": code}
        page = web.submit(page, having="code", code=code)
        return rp, page, {"metadata_url": idp.metadata_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                          "admin_emails": "alice@example.com"}
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com, bob@example.com"))
    assert web.sign_in(rp, idp.user("alice", email="alice@example.com")).url.endswith("/dashboard")
    from scimapp import tokens
    with rp.ctx():
        token_id = tokens.create("victim", "pytest")[0].id
    path, values = {"token create": ("/settings/scim/token", {"name": "evil"}),
                    "revoke": (f"/settings/tokens/{token_id}/revoke", {}),
                    "admin rules": ("/settings/sign-in", {"scopes": "openid", "admin_emails": "", "admin_domains": ""}),
                    "sign-out": ("/settings", {})}[form_name]
    return rp, web.get(rp.url + path), values


@pytest.mark.parametrize("form_name", FORMS)
@pytest.mark.parametrize("csrf", ["missing", "from another session"])
def test_every_form_refuses_a_post_without_its_csrf_token(idp, rp_factory, web, form_name, csrf):
    rp, page, values = open_form(form_name, idp, rp_factory, web)
    assert page.status_code == 200
    if form_name == "sign-out":
        form = find_form(page.text, action="/auth/logout")
    else:
        form = find_form(page.text, having=next(iter(values), None) or "csrf_token")
    assert "csrf_token" in form.fields, f"the {form_name} form has a CSRF token"
    data = {**form.fields, **values}
    if csrf == "missing":
        data.pop("csrf_token")
    else:  # a valid token, but of someone else's session (what a cross-site attacker could get for themselves)
        stranger = HttpBrowser()
        if form_name.startswith("setup"):
            data["csrf_token"] = stranger.csrf(stranger.get(rp.url + "/setup"))
        else:
            data["csrf_token"] = stranger.csrf(stranger.sign_in(rp, idp.user("bob", email="bob@example.com")))
        assert data["csrf_token"] != form.fields["csrf_token"]
    r = web.post(requests.compat.urljoin(page.url, form.action or page.url), data=data, allow_redirects=False)
    assert r.status_code == 400, (form_name, r.status_code, r.headers.get("Location"))
    assert "This form expired" in r.text

    # ... and nothing happened
    if form_name == "setup code":
        assert web.get(rp.url + "/setup/sign-in", allow_redirects=False).status_code == 302
    elif form_name == "setup sign-in":
        assert stored(rp, "sign_in_pending") is None
    else:
        from scimapp import tokens
        from scimapp.extensions import db
        with rp.ctx():
            assert [(t.name, tokens.status(t)) for t in tokens.all_tokens()] == [("victim", "active")]
            db.session.remove()
        assert stored(rp, "sign_in") is None
        assert web.get(rp.url + "/settings").status_code == 200, "still signed in"
    # the same form with its own token goes through (so the 400 above was the CSRF check)
    r = web.post(requests.compat.urljoin(page.url, form.action or page.url), data={**form.fields, **values},
                 allow_redirects=False)
    assert r.status_code == 302, (form_name, r.status_code)


# ---------------------------------------------------------------------------- the set-up code

def test_set_up_code_replayed_after_set_up_finished(idp, rp, web):
    """Someone who saw the code (and has the form open, CSRF token and all) tries it after set-up: 404."""
    alice = idp.user("alice")
    code = rp.setup_code()
    late = HttpBrowser()
    late_form = late.get(rp.url + "/setup")
    web.finish_setup(rp, code, idp)
    assert web.sign_in(rp, alice, setup=True).url == rp.url + "/settings"
    r = late.submit(late_form, having="code", code=code)
    assert r.status_code == 404 and "Set-up is not available" in r.text
    assert late.get(rp.url + "/setup/sign-in").status_code == 404
    # the admin's own session (which entered the code) has no way back into set-up either
    settings = web.get(rp.url + "/settings")
    r = web.post(rp.url + "/setup", data={"csrf_token": web.csrf(settings), "code": code})
    assert r.status_code == 404
    assert not rp.audit("setup.code_refused")


# ---------------------------------------------------------------------------- the session cookie

def test_session_is_rotated_at_sign_in(admin, idp):
    rp, alice, _ = admin
    b = HttpBrowser()
    b.get(rp.url + "/settings/scim/token")  # → sign-in page at the IdP; our session now holds state and next
    before = b.cookie()
    old = session_of(rp, before)
    assert old and any(k.startswith("_state_") for k in old) and old.get("login_next") == "/settings/scim/token"
    assert "_user_id" not in old
    r = b.idp_login(b.get(rp.url + "/auth/login"), alice)
    assert r.url == rp.url + "/dashboard"
    after = b.cookie()
    assert after and after != before
    new = session_of(rp, after)
    assert new.get("_user_id") and not any(k.startswith("_state_") for k in new) and "login_next" not in new
    stale = HttpBrowser()
    stale.set_cookie(before)
    assert_not_signed_in(stale, rp)


def set_cookie_header(r: requests.Response) -> str:
    headers = [v for k, v in r.raw.headers.items() if k.lower() == "set-cookie" and v.startswith(COOKIE + "=")]
    assert headers, f"no {COOKIE} cookie set by {r.url}"
    return headers[-1]


def test_session_cookie_flags_over_http(idp, rp_factory, web):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    callback = web.code_for(web.authorize_only(rp), idp.user("alice"))
    r = web.get(callback, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard"
    header = set_cookie_header(r)
    flags = [f.strip().lower() for f in header.split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags, "plain http: a Secure cookie would never come back"


def test_session_cookie_is_secure_when_the_external_url_is_https(idp, rp_factory, web):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com", EXTERNAL_URL="https://scim.example.org"))
    r = web.get(rp.url + "/auth/login", allow_redirects=False)
    assert r.status_code == 302
    assert query_of(r.headers["Location"])["redirect_uri"] == "https://scim.example.org/auth/callback"
    flags = [f.strip().lower() for f in set_cookie_header(r).split(";")[1:]]
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags


def test_session_cookie_is_secure_behind_a_trusted_https_proxy(idp, rp_factory):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com", TRUST_PROXY=1))
    r = rp.app.test_client().get("/auth/login", headers={"X-Forwarded-Proto": "https",
                                                          "X-Forwarded-Host": "scim.example.org"})
    assert r.status_code == 302
    assert query_of(r.headers["Location"])["redirect_uri"] == "https://scim.example.org/auth/callback"
    cookie = [c for c in r.headers.get_all("Set-Cookie") if c.startswith(COOKIE + "=")][-1]
    assert "secure" in [f.strip().lower() for f in cookie.split(";")[1:]]


# ---------------------------------------------------------------------------- headers, caching

def check_security_headers(r: requests.Response) -> None:
    assert r.headers["Content-Type"].startswith("text/html"), r.url
    csp = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in r.headers["Content-Security-Policy"].split(";"))
           if d}
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts and "'self'" in scripts, r.url
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts), r.url
    assert csp.get("frame-ancestors") == ["'none'"], r.url
    assert csp.get("object-src") == ["'none'"], r.url
    assert r.headers["X-Content-Type-Options"] == "nosniff", r.url
    assert r.headers["Referrer-Policy"] in ("no-referrer", "same-origin", "strict-origin",
                                            "strict-origin-when-cross-origin"), r.url
    assert r.headers.get("X-Frame-Options") == "DENY", r.url
    # and the pages need nothing the policy forbids: no inline script, handler or style
    html = r.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {r.url}"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), f"inline event handler in {r.url}"
    assert not re.search(r"\sstyle\s*=", html, re.I) and "<style" not in html, f"inline style in {r.url}"


def test_security_headers_on_every_html_page(admin, idp, rp_factory, web):
    rp, _, settings = admin
    token_page, _ = make_token(web, rp)
    from scimapp import tokens
    with rp.ctx():
        token_id = tokens.all_tokens()[0].id
    pages = [settings, token_page]
    for path in ("/", "/settings/scim", "/settings/scim/token", f"/settings/tokens/{token_id}/revoke",
                 "/settings/sign-in", "/setup", "/no-such-page"):
        pages.append(web.get(rp.url + path))
    anonymous = HttpBrowser()
    pages.append(anonymous.get(rp.callback, params={"state": "forged", "code": "x"}))  # sign-in error page
    pages.append(anonymous.post(rp.url + "/auth/logout"))  # CSRF error page
    first_run = rp_factory()
    first_run.setup_code()
    page = anonymous.get(first_run.url + "/setup")
    pages += [page, anonymous.submit(page, having="code", code="WRONG")]
    refused = HttpBrowser()
    pages.append(refused.sign_in(rp, idp.user("bob", email="bob@example.com")))  # not an admin
    assert sorted({p.status_code for p in pages}) == [200, 400, 403, 404]
    for p in pages:
        check_security_headers(p)


def test_token_page_is_no_store_and_shown_once(admin, web):
    rp, _, _ = admin
    form = web.get(rp.url + "/settings/scim/token")
    posted = web.submit(form, having="name", name="Entra ID production", follow=False)
    assert posted.status_code == 302 and posted.headers["Location"] == "/settings/scim/token/created"
    pending = session_of(rp, web.cookie())
    shown = web.get(rp.url + "/settings/scim/token/created")
    secret = re.search(r'value="(scim_[A-Za-z0-9_-]{43})"', shown.text).group(1)
    assert secret not in str(pending), "the secret waits in the session encrypted, not in clear"
    assert "no-store" in shown.headers["Cache-Control"]
    assert f'value="{rp.url}/scim/v2"' in shown.text  # the Tenant URL beside it
    assert "new_token" not in (session_of(rp, web.cookie()) or {}), "removed from the session once shown"
    reload = web.get(rp.url + "/settings/scim/token/created")
    assert reload.url == rp.url + "/settings" and secret not in reload.text
    assert "shown only once" in reload.text
    assert scim_users(rp, secret).status_code == 200
    assert [e["actor"] for e in rp.audit("token.create")] == ["alice@example.com"]


def test_revoke_takes_effect_on_the_next_request(admin, web):
    rp, _, _ = admin
    _, secret = make_token(web, rp)
    assert scim_users(rp, secret).status_code == 200
    settings = web.get(rp.url + "/settings")
    link = re.search(r'href="(/settings/tokens/\d+/revoke)"', settings.text).group(1)
    confirm = web.get(rp.url + link)
    assert "Revoke token “Entra ID production”?" in confirm.text and scim_users(rp, secret).status_code == 200
    done = web.submit(confirm, action=link)
    assert done.url == rp.url + "/settings" and "is revoked" in done.text
    assert "status-revoked" in done.text
    assert scim_users(rp, secret).status_code == 401
    assert [e["actor"] for e in rp.audit("token.revoke")] == ["alice@example.com"]
    assert web.get(rp.url + "/settings/tokens/99999/revoke").status_code == 404


def test_token_form_validation(admin, web):
    rp, _, _ = admin
    form = web.get(rp.url + "/settings/scim/token")
    r = web.submit(form, having="name", name="12345")
    assert r.status_code == 400 and "at least one letter" in r.text and 'aria-invalid="true"' in r.text
    r = web.submit(r, having="name", name="ok", expires_days="0")
    assert r.status_code == 400 and "expires_days-error" in r.text
    make_token(web, rp, "twice")
    r = web.submit(web.get(rp.url + "/settings/scim/token"), having="name", name="twice")
    assert r.status_code == 400 and "already exists" in r.text


# ---------------------------------------------------------------------------- the SCIM API and the admin session

def test_scim_api_never_accepts_the_admin_session_cookie(admin, web):
    rp, _, _ = admin
    r = web.get(rp.url + "/scim/v2/Users")  # the signed-in browser's cookie jar, no bearer token
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.headers["Content-Type"].startswith("application/scim+json")
    r = web.post(rp.url + "/scim/v2/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                    "userName": "planted"})
    assert r.status_code == 401
    _, secret = make_token(web, rp)
    assert scim_users(rp, secret, cookies={COOKIE: web.cookie()}).status_code == 200
    assert scim_users(rp, "scim_" + "x" * 43, cookies={COOKIE: web.cookie()}).status_code == 401


# ---------------------------------------------------------------------------- sign-out

def test_sign_out_clears_the_session(admin, idp, web):
    rp, _, settings = admin
    assert web.get(rp.url + "/auth/logout", allow_redirects=False).status_code == 405, "no sign-out by a link"
    assert web.get(rp.url + "/settings").status_code == 200
    r = web.submit(settings, action="/auth/logout", follow=False)
    assert r.status_code == 302
    end = idp.metadata()["end_session_endpoint"]
    assert r.headers["Location"].startswith(end)
    q = query_of(r.headers["Location"])
    assert q["client_id"] == CLIENT_ID and q["post_logout_redirect_uri"] == rp.url + "/"
    header = set_cookie_header(r)
    assert header.startswith(f"{COOKIE}=;") and ("max-age=0" in header.lower() or "1970" in header)
    assert web.cookie() is None
    assert_not_signed_in(web, rp)
    assert [e["actor"] for e in rp.audit("sign_out")] == ["alice@example.com"]


def test_a_session_cookie_copied_before_sign_out_is_dead_after_it(admin, web):
    rp, _, settings = admin
    copy = web.cookie()
    web.submit(settings, action="/auth/logout", follow=False)
    thief = HttpBrowser()
    thief.set_cookie(copy)
    assert_not_signed_in(thief, rp)


# ---------------------------------------------------------------------------- configuration wins

def test_configuration_wins_over_saved_settings_and_the_pages_say_so(idp, rp, web, monkeypatch):
    """Set-up saves Alice as the admin; the operator then puts another admin in instance/config.py and a group in
    the environment and restarts: those win, the saved IdP settings still apply, and the pages say which is
    which."""
    alice = idp.user("alice", email="alice@example.com")
    bob = idp.user("bob", email="bob@example.com")
    web.finish_setup(rp, rp.setup_code(), idp, admin_emails="alice@example.com")
    assert web.sign_in(rp, alice, setup=True).url == rp.url + "/settings"

    group = str(uuid.uuid4())
    (rp.instance / "config.py").write_text('ADMIN_EMAILS = "bob@example.com"\n')
    monkeypatch.setenv("SCIMAPP_ADMIN_GROUPS", group)
    rp.restart({})

    assert web.get(rp.url + "/settings").status_code == 403, "alice's saved rule no longer counts"
    refused = HttpBrowser().sign_in(rp, alice)
    assert refused.status_code == 403 and "checked your email, groups" in text_of(refused.text)
    b = HttpBrowser()
    page = b.sign_in(rp, bob)
    assert page.url == rp.url + "/dashboard" and page.status_code == 200
    page = b.get(rp.url + "/settings")
    text = text_of(page.text)
    assert "Admin emails bob@example.com (configuration)" in text
    assert f"Admin groups {group} (configuration)" in text
    assert f"Identity provider {idp.metadata_url} (saved)" in text
    assert "Client ID scimapp-test (saved)" in text
    assert "come from instance/config.py or SCIMAPP_* environment variables and win" in text

    rules = b.get(rp.url + "/settings/sign-in")
    assert "Set in the server's configuration (not editable here): ADMIN_EMAILS, ADMIN_GROUPS" in text_of(rules.text)
    saved = b.submit(rules, having="admin_emails", admin_emails="mallory@example.com", admin_domains="example.com")
    assert saved.url == rp.url + "/settings" and "Sign-in settings saved" in saved.text
    text = text_of(saved.text)
    assert "Admin emails bob@example.com (configuration)" in text and "mallory" not in text
    assert "Admin domains example.com (saved)" in text
    assert "mallory" not in str(stored(rp, "sign_in"))
    assert [e["detail"] for e in rp.audit("settings.changed")] == ["ADMIN_DOMAINS"]  # only what changed


def test_setup_page_says_what_the_configuration_fixes(idp, rp_factory, web):
    rp = rp_factory({"ADMIN_DOMAINS": "example.com"})
    code = rp.setup_code()
    page = web.submit(web.get(rp.url + "/setup"), having="code", code=code)
    assert "Set in the server's configuration, which wins over this page: ADMIN_DOMAINS" in text_of(page.text)
    # no rule entered on the page: the configured domain rule is enough, and admits Alice
    test = web.submit(page, having="metadata_url", metadata_url=idp.metadata_url, client_id=CLIENT_ID,
                      client_secret=CLIENT_SECRET, scopes="openid email profile", admin_emails="")
    assert test.url.endswith("/setup/test") and "example.com" in test.text
    assert web.sign_in(rp, idp.user("alice"), setup=True).url == rp.url + "/settings"


def test_configured_fields_are_not_editable(idp, rp_factory, web):
    rp = rp_factory(signin_config(idp, ADMIN_EMAILS="alice@example.com"))
    assert web.sign_in(rp, idp.user("alice")).url.endswith("/dashboard")
    page = web.get(rp.url + "/settings/sign-in")
    field = re.search(r"<textarea[^>]*name=\"admin_emails\"[^>]*>", page.text).group(0)
    assert "readonly" in field or "disabled" in field


# ---------------------------------------------------------------------------- the admin-rules page

@pytest.fixture
def set_up(idp, rp, web):
    """scimapp set up through the web (saved settings, Alice the admin by email), Alice signed in."""
    alice = idp.user("alice", email="alice@example.com")
    web.finish_setup(rp, rp.setup_code(), idp, admin_emails="alice@example.com")
    assert web.sign_in(rp, alice, setup=True).url == rp.url + "/settings"
    return rp, alice


def test_admin_rules_page_saves_changes_and_refuses_a_lock_out(set_up, idp, web):
    rp, alice = set_up
    page = web.get(rp.url + "/settings/sign-in")
    form = find_form(page.text, having="admin_emails")
    assert form.fields["admin_emails"] == "alice@example.com" and form.fields["scopes"] == SCOPES
    r = web.submit(page, having="admin_emails", admin_emails="bob@example.com")
    assert r.url == rp.url + "/settings/sign-in" and "These rules would not admit you" in r.text
    assert stored(rp, "sign_in")["ADMIN_EMAILS"] == "alice@example.com"
    r = web.submit(r, having="admin_emails", admin_emails="alice@example.com", admin_domains="example.org")
    assert r.url == rp.url + "/settings" and "Sign-in settings saved" in r.text
    assert "Admin domains example.org (saved)" in text_of(r.text)
    assert stored(rp, "sign_in")["ADMIN_DOMAINS"] == "example.org"
    changed = rp.audit("settings.changed")
    assert [(e["actor"], e["target"]) for e in changed] == [("alice@example.com", "admin sign-in")]
    carol = idp.user("carol", email="carol@example.org")
    assert HttpBrowser().sign_in(rp, carol).url == rp.url + "/dashboard", "the new domain rule admits"


def test_admin_rules_page_cannot_break_sign_in_through_the_scopes(set_up, idp, web):
    rp, alice = set_up
    page = web.get(rp.url + "/settings/sign-in")
    web.submit(page, having="admin_emails", scopes="email profile")
    r = HttpBrowser().sign_in(rp, alice)
    assert r.url == rp.url + "/dashboard" and r.status_code == 200, (r.status_code, text_of(r.text)[:300])

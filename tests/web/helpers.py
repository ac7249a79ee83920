"""Helpers of the sign-in and admin-page tests: the IdP's test data, our app served over HTTP, and a form-filling
HTTP "browser" (requests, no JavaScript)."""
from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from tests.conftest import ROOT, LiveServer

CLIENT_ID = "scimapp-test"
CLIENT_SECRET = "s3cret-for-tests-only"
SCOPES = "openid email profile groups"
PASSWORD = "correct horse battery staple"
COOKIE = "scimapp_session"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# ---------------------------------------------------------------------------- the OpenID Provider (Canaille)

class Idp:
    """The test's view of Canaille: register clients, users and groups; all removed when the test ends."""

    def __init__(self, server):
        self.server = server
        self.models = server.models
        self.url = server.url.rstrip("/")
        self.metadata_url = server.url + ".well-known/openid-configuration"
        self._made = []

    def metadata(self) -> dict:
        return requests.get(self.metadata_url, timeout=10).json()

    def _save(self, obj):
        self.server.backend.save(obj)
        self._made.append(obj)
        return obj

    def client(self, redirect_uris: list[str], client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET,
               audience: str | None = "self", client_uri: str | None = None):
        """An OIDC client (app registration). ``audience``: "self" (aud = our client id, the normal case), None (an
        empty aud list) or another client's id (the ID token is meant for someone else)."""
        client = self.models.Client(
            client_id=client_id, client_secret=secret, redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=[urljoin(u, "/") for u in redirect_uris],
            grant_types=["authorization_code"], response_types=["code"],
            token_endpoint_auth_method="client_secret_basic", scope=["openid", "profile", "email", "groups"],
            client_uri=client_uri or urljoin(redirect_uris[0], "/"), client_name="scimapp")
        self._save(client)
        if audience == "self":
            client.audience = [client]
        elif audience is not None:
            other = self._find_client(audience) or self._save(self.models.Client(
                client_id=audience, client_secret="other-secret", redirect_uris=["http://127.0.0.1:1/cb"],
                grant_types=["authorization_code"], response_types=["code"],
                token_endpoint_auth_method="client_secret_basic", scope=["openid"], client_name="another app"))
            client.audience = [other]
        self.server.backend.save(client)
        return client

    def _find_client(self, client_id):
        return self.server.backend.get(self.models.Client, client_id=client_id)

    def add_redirect_uri(self, client, uri: str) -> None:
        client.redirect_uris = [*client.redirect_uris, uri]
        client.post_logout_redirect_uris = [*client.post_logout_redirect_uris, urljoin(uri, "/")]
        self.server.backend.save(client)

    def forget_code(self, code: str) -> None:
        """Delete an authorization code the IdP issued but never redeemed. Needed because Canaille's in-memory
        backend ORs the filters of a query: its token endpoint looks a code up by (code, client) and can get
        another outstanding code of the same client, so a leftover code makes the next redemption fail."""
        for stored in self.server.backend.query(self.models.AuthorizationCode, code=code):
            if stored.code == code:
                self.server.backend.delete(stored)

    def group(self, display_name: str | None = None):
        """A group; Entra sends group object ids in the ``groups`` claim, so by default the name is a GUID."""
        return self._save(self.models.Group(display_name=display_name or str(uuid.uuid4())))

    def user(self, name: str = "alice", email: str | None = "alice@example.com", groups=(), full_name=None,
             display_name: str | None = None):
        """A person who can sign in with PASSWORD. ``email=None`` gives an account without an email address."""
        user = self.models.User(user_name=f"{name}-{uuid.uuid4().hex[:8]}",
                                formatted_name=full_name or f"{name.title()} Example",
                                emails=[email] if email else [], password=PASSWORD,
                                display_name=display_name)
        self._save(user)
        for group in groups:
            group.members = [*(group.members or []), user]
            self.server.backend.save(group)
        return user

    def cleanup(self):
        for obj in reversed(self._made):
            try:
                self.server.backend.delete(obj)
            except Exception:  # already gone (e.g. deleted with its owner)
                pass
        self._made.clear()


# ---------------------------------------------------------------------------- our app, served over HTTP

class RP:
    """scimapp on 127.0.0.1 (waitress in a thread), with its own instance folder."""

    def __init__(self, instance: Path, config: dict):
        from waitress.server import create_server
        self.instance = instance
        self.app = None
        self.build(config)
        self.server = create_server(lambda env, start: self.app(env, start), host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.callback = self.url + "/auth/callback"
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        """waitress's loop, a short poll at a time, until stop(); then every socket is closed here, in the loop's own
        thread (closing them from another thread while the loop polls them gives EBADF)."""
        from waitress import wasyncore
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.05, map=self.server._map, count=1)
        wasyncore.close_all(self.server._map)

    def build(self, config: dict) -> None:
        from scimapp import create_app
        old = self.app
        self.app = create_app({"INSTANCE_PATH": self.instance, **config})
        if old is not None:
            self._dispose(old)

    def restart(self, config: dict) -> None:
        """A new app on the same instance folder and port (the operator changed configuration and restarted)."""
        self.build(config)

    @staticmethod
    def _dispose(app):
        from scimapp.extensions import db
        with app.app_context():
            db.engine.dispose()

    def ctx(self):
        return self.app.app_context()

    def setup_code(self) -> str:
        """What ``python app.py`` does at start while sign-in is not configured: issue a one-time set-up code."""
        from scimapp.settings import new_setup_code
        with self.ctx():
            return new_setup_code()

    def audit(self, action: str | None = None) -> list[dict]:
        """The audit_events rows (optionally of one action), oldest first."""
        from scimapp.extensions import db
        from scimapp.models import AuditEvent
        with self.ctx():
            q = db.session.query(AuditEvent).order_by(AuditEvent.id)
            if action:
                q = q.filter(AuditEvent.action == action)
            rows = [dict(action=e.action, actor=e.actor, target=e.target, detail=e.detail, address=e.address)
                    for e in q]
            db.session.remove()
            return rows

    def stop(self):
        self._stopping.set()
        self.thread.join(5)
        assert not self.thread.is_alive(), "the server thread did not stop"
        self.server.task_dispatcher.shutdown()
        self._dispose(self.app)


def signin_config(idp: Idp, **rules) -> dict:
    """Sign-in set in the configuration (as instance/config.py or SCIMAPP_* would), plus the given admin rules."""
    return {"OIDC_METADATA_URL": idp.metadata_url, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_SCOPES": SCOPES, **rules}


# ---------------------------------------------------------------------------- an HTTP "browser" (requests)

@dataclass
class Form:
    action: str | None
    method: str
    fields: dict = field(default_factory=dict)   # name -> value (inputs, textareas, selects)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.cur: Form | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.cur = Form(a.get("action") or None, (a.get("method") or "get").lower())
            self.forms.append(self.cur)
        elif self.cur is not None and tag in ("input", "textarea", "select"):
            name = a.get("name")
            if tag == "input" and a.get("type") in ("submit", "button", "reset"):
                return
            if tag == "input" and name:
                if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                    return
                self.cur.fields[name] = a.get("value", "")
            elif tag == "textarea" and name:
                self.cur.fields[name] = ""
                self.textarea = name
            elif tag == "select" and name:
                self.cur.fields[name] = ""

    def handle_data(self, data):
        if self.cur is not None and self.textarea:
            self.cur.fields[self.textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            if self.cur is not None and self.textarea:
                value = self.cur.fields[self.textarea]  # HTML drops one newline right after <textarea>
                self.cur.fields[self.textarea] = value[2:] if value.startswith("\r\n") else \
                    value[1:] if value.startswith("\n") else value
            self.textarea = None
        elif tag == "form":
            self.cur = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def find_form(html: str, having: str | None = None, action: str | None = None, base: str = "") -> Form:
    """The form that has a field named ``having`` (or posts to the path ``action``; a form without an action posts
    to its page, ``base``), else the last form on the page."""
    found = forms(html)
    for f in found:
        if action and urlsplit(urljoin(base, f.action or base)).path == action:
            return f
        if having and not action and having in f.fields:
            return f
    if having or action:
        raise AssertionError(f"no form with {having or action!r} in the page:\n{html[:3000]}")
    assert found, f"no form in the page:\n{html[:3000]}"
    return found[-1]


class HttpBrowser:
    """A person with a browser, minus JavaScript: one cookie jar for both the IdP and our app."""

    def __init__(self):
        self.s = requests.Session()

    def get(self, url, **kw):
        kw.setdefault("timeout", 20)
        return self.s.get(url, **kw)

    def post(self, url, **kw):
        kw.setdefault("timeout", 20)
        return self.s.post(url, **kw)

    def submit(self, page: requests.Response, having: str | None = None, action: str | None = None,
               drop: tuple = (), follow: bool = True, **values) -> requests.Response:
        """Fill and submit a form of ``page``; ``drop`` removes fields (e.g. the CSRF token) before posting."""
        form = find_form(page.text, having=having, action=action, base=page.url)
        data = {**form.fields, **values}
        for name in drop:
            data.pop(name, None)
        target = urljoin(page.url, form.action or page.url)
        if form.method == "get":
            return self.get(target, params=data, allow_redirects=follow)
        return self.post(target, data=data, allow_redirects=follow)

    def csrf(self, page: requests.Response) -> str:
        """The CSRF token of our page's forms."""
        m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert m, "no CSRF token in the page"
        return m.group(1)

    def cookie(self, name: str = COOKIE, domain: str = "127.0.0.1") -> str | None:
        for c in self.s.cookies:
            if c.name == name and c.domain.lstrip(".") == domain:
                return c.value
        return None

    def set_cookie(self, value: str, name: str = COOKIE, domain: str = "127.0.0.1") -> None:
        for c in list(self.s.cookies):
            if c.name == name and c.domain.lstrip(".") == domain:
                self.s.cookies.clear(c.domain, c.path, c.name)
        self.s.cookies.set(name, value, domain=domain, path="/")

    # --- the IdP (Canaille: a login page, then a password page; no consent for clients on 127.0.0.1)

    def idp_login(self, page: requests.Response, user, password: str = PASSWORD,
                  follow: bool = True) -> requests.Response:
        if "/login" not in page.url and "/auth/password" not in page.url:
            return page  # already signed in at the IdP (it remembers): it sent the browser straight back
        if "/login" in page.url:
            page = self.submit(page, having="login", login=user.user_name)
        return self.submit(page, having="password", password=password, follow=follow)

    def sign_in(self, rp: RP, user, next_path: str | None = None, setup: bool = False,
                follow: bool = True) -> requests.Response:
        """Sign in at our app through the IdP; returns our app's answer after the callback."""
        params = {"next": next_path} if next_path else {}
        if setup:
            params["setup"] = "1"
        page = self.get(rp.url + "/auth/login", params=params)
        if not follow:
            return self.idp_login(page, user, follow=False)
        return self.idp_login(page, user)

    def authorize_only(self, rp: RP, **params) -> str:
        """Start a sign-in at our app and return the IdP authorize URL it redirects to (not followed)."""
        r = self.get(rp.url + "/auth/login", params=params, allow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text[:500])
        return r.headers["Location"]

    def code_for(self, authorize_url: str, user) -> str:
        """Go through the IdP with ``authorize_url`` and return the redirect back to us (code and state), unfollowed."""
        page = self.get(authorize_url)
        r = self.idp_login(page, user, follow=False)
        for _ in range(5):  # the IdP may bounce through /oauth/authorize once more before answering
            location = r.headers.get("Location", "")
            assert r.status_code in (301, 302, 303), (r.status_code, r.text[:800])
            if urlsplit(location).path == "/auth/callback":
                return location
            r = self.get(urljoin(r.url, location), allow_redirects=False)
        raise AssertionError("the IdP never redirected back to us")

    def finish_setup(self, rp: RP, code: str, idp: Idp, **fields) -> requests.Response:
        """Set-up with the code and the IdP settings; returns the "Test sign-in" page."""
        page = self.get(rp.url + "/setup")
        page = self.submit(page, having="code", code=code)
        assert page.url.endswith("/setup/sign-in"), (page.status_code, page.url, page.text[:2000])
        values = dict(metadata_url=idp.metadata_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      scopes=SCOPES, admin_emails="alice@example.com")
        values.update(fields)
        return self.submit(page, having="metadata_url", **values)


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def session_of(rp: RP, cookie_value: str) -> dict | None:
    """Decode our signed session cookie with the app's key (Flask sessions are signed, readable cookies)."""
    with rp.app.test_request_context():
        serializer = rp.app.session_interface.get_signing_serializer(rp.app)
        try:
            return dict(serializer.loads(cookie_value))
        except Exception:
            return None


def setup_code_from_log(server: LiveServer) -> str:
    """The one-time set-up code ``python app.py`` printed."""
    m = re.search(r"one-time set-up code: ([0-9A-F]{6}(?:-[0-9A-F]{6}){3})", server.output())
    assert m, f"no set-up code in the server's output:\n{server.output()}"
    return m.group(1)


def until_reload_shows(page, assertion, seconds: float = 15.0) -> None:
    """A page shows the history written when it was loaded, and the activity writer flushes about once a second:
    reload until ``assertion`` (a Playwright ``expect`` with a short timeout of its own) holds; after ``seconds``,
    fail with its error."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            assertion()
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        page.reload()


def scim(server, token: str, method: str, path: str, body: dict | None = None) -> requests.Response:
    """A SCIM request to a live server with a bearer token."""
    return requests.request(method, server.base + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})


def created(server, token: str, path: str, body: dict) -> dict:
    """POST a resource over SCIM; the created representation."""
    r = scim(server, token, "POST", path, body)
    assert r.status_code == 201, r.text
    return r.json()

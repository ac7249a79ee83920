"""Fixtures for the sign-in and admin-page tests: a real OpenID Provider, our app served over real HTTP, and a
headless Chromium.

- The OpenID Provider is Canaille, run in-process by pytest-iam (``iam_server``, session scoped, on ``localhost``).
  It signs ID tokens with RS256, as Entra does. Each test registers its own OIDC client, users and groups and
  deletes them afterwards.
- Our app (``rp`` / ``rp_factory``) is built with ``create_app`` on a temporary instance folder and served by
  waitress on ``127.0.0.1`` from a thread, so the IdP and our app never share cookies. ``restart`` builds a new app
  on the same instance folder and port, as an operator restarting the server with new configuration would.
- ``HttpBrowser`` walks the pages with ``requests`` (no JavaScript): it fills forms as a person would, keeping every
  hidden field (CSRF tokens) unless told to drop it.
- The browser tests start the real server (``python app.py``, tests/conftest.py's LiveServer) and drive Debian's
  /usr/bin/chromium with Playwright (never ``playwright install``).
"""
from __future__ import annotations

import os

import pytest

from tests.conftest import LiveServer, needs
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, RP, SCREENSHOTS, HttpBrowser, Idp


# ---------------------------------------------------------------------------- the OpenID Provider

@pytest.fixture(scope="session")
def iam_configuration(iam_configuration):
    """Canaille signs ID tokens with RS256, as Entra does (its generated key has no alg: it would use RS512)."""
    iam_configuration["CANAILLE_OIDC"]["ACTIVE_JWKS"][0]["alg"] = "RS256"
    # Canaille logs every token at DEBUG; keep them out of the failure reports.
    iam_configuration["CANAILLE"]["LOGGING"]["loggers"]["canaille"]["level"] = "INFO"
    return iam_configuration


@pytest.fixture
def idp(iam_server):
    """Canaille, with whatever this test registers removed afterwards."""
    helper = Idp(iam_server)
    yield helper
    helper.cleanup()
    iam_server.logout()


# ---------------------------------------------------------------------------- our app, served over HTTP

@pytest.fixture
def rp_factory(tmp_path, idp):
    """Start scimapp apps; each one's callback is registered at the IdP's test client."""
    started: list[RP] = []
    state = {"client": None}

    def make(config: dict | None = None, audience: str | None = "self") -> RP:
        """``audience``: see Idp.client (it applies to the test's one IdP client, made with the first app)."""
        rp = RP(tmp_path / f"instance{len(started)}", dict(config or {}))
        started.append(rp)
        if state["client"] is None:
            state["client"] = idp.client([rp.callback], audience=audience)
        else:
            idp.add_redirect_uri(state["client"], rp.callback)
        return rp

    yield make
    for rp in started:
        rp.stop()


@pytest.fixture
def rp(rp_factory):
    """scimapp with no sign-in configured (first run), its callback registered at the IdP."""
    return rp_factory()


# ---------------------------------------------------------------------------- an HTTP browser and the real browser

@pytest.fixture
def web():
    """A fresh HTTP browser (empty cookie jar)."""
    b = HttpBrowser()
    yield b
    b.s.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright; skipped locally without them, a failure in CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the machine
        sync_playwright = None
    needs(sync_playwright is not None, "playwright (the Python package) is not installed")
    needs(CHROMIUM.exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def new_context(browser):
    """Fresh browser profiles (cookies of both the IdP and our app), clipboard allowed; closed after the test."""
    made = []

    def make(width: int = 1280, height: int = 900):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        ctx.grant_permissions(["clipboard-read", "clipboard-write"])
        ctx.set_default_timeout(15_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def live_factory(tmp_path, idp):
    """``python app.py`` servers (tests/conftest.py's LiveServer), each with its callback registered at the IdP.
    AUTHLIB_INSECURE_TRANSPORT (set by pytest-iam) reaches them through the environment: the IdP is plain http."""
    assert os.environ.get("AUTHLIB_INSECURE_TRANSPORT") == "1"
    servers: list[LiveServer] = []
    state = {"client": None}

    def make(env: dict | None = None) -> LiveServer:
        server = LiveServer(tmp_path / f"live{len(servers)}" / "instance", env=env)
        servers.append(server)
        server.start()
        callback = server.url + "/auth/callback"
        if state["client"] is None:
            state["client"] = idp.client([callback])
        else:
            idp.add_redirect_uri(state["client"], callback)
        return server

    yield make
    for server in servers:
        server.stop()

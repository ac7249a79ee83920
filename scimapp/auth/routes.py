"""Sign-in, callback and sign-out. Every failure becomes a page that says what went wrong, never a 500."""
from __future__ import annotations

from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import OAuthError
from flask import flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from joserfc.errors import JoseError

from .. import audit
from ..extensions import db
from ..models import AdminUser
from ..scim.values import utcnow
from ..settings import activate_pending, setup_open, sign_in
from ..urls import external_base
from . import bp, safe_next
from .client import claims_options, client_for
from .oidc import Rules, decide, email_of


def failure(title: str, detail: str, status: int = 400):
    """The friendly error page for a sign-in that could not complete."""
    return render_template("auth/error.html", title=title, detail=detail), status


def _testing() -> bool:
    """Is this sign-in the test at the end of first-run set-up (using the settings not yet saved for good)?"""
    from .setup import setup_authorised
    return bool(session.get("setup_testing")) and setup_authorised()


@bp.get("/login")
def login():
    """Send the browser to the IdP (authorization code flow with PKCE S256, state and nonce)."""
    if request.args.get("setup") == "1":
        session["setup_testing"] = True
    testing = _testing()
    settings = sign_in(pending=testing)
    if not settings.complete:
        if setup_open():
            return redirect(url_for("setup.start"))
        return failure("Sign-in is not set up", "An administrator must configure OpenID Connect sign-in first "
                       "(see the README, or restart the server to get a set-up code).", 503)
    session["login_next"] = safe_next(request.args.get("next"))
    try:
        return client_for(settings).authorize_redirect(external_base() + url_for("auth.callback"))
    except (requests.RequestException, OAuthError, ValueError, KeyError) as exc:
        return failure("The identity provider cannot be reached",
                       f"Its discovery document at {settings['OIDC_METADATA_URL']} could not be read ({exc.__class__.__name__}).",
                       502)


@bp.get("/callback")
def callback():
    """Check the IdP's answer and the ID token, then admit an admin or explain the refusal."""
    testing = _testing()
    settings = sign_in(pending=testing)
    if not settings.complete:
        return failure("Sign-in is not set up", "There is no sign-in configuration to complete this with.", 503)
    if request.args.get("error"):
        return failure("The identity provider refused the sign-in",
                       f"{request.args.get('error')}: {request.args.get('error_description', '')}".strip(": "))
    client = client_for(settings)
    try:
        token = client.authorize_access_token(claims_options=claims_options(client, settings))
    except OAuthError as exc:  # state mismatch (forged or replayed callback), token endpoint refusals
        return failure("Sign-in could not be completed", f"{exc.error}: {exc.description or 'no details'}")
    except JoseError as exc:  # bad signature, issuer, audience, expiry or nonce in the ID token
        return failure("The sign-in response could not be verified", _explain(exc))
    except requests.RequestException as exc:
        return failure("The identity provider cannot be reached", f"{exc.__class__.__name__}", 502)
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub"):
        return failure("Sign-in could not be completed", "The identity provider sent no ID token.")
    decision = decide(Rules.from_settings(settings), claims)
    who = email_of(claims) or claims.get("name") or claims["sub"]
    if not decision.admitted:
        audit.record("sign_in.refused", who, None,
                     f"checked {', '.join(decision.checked) or 'no rules (none configured)'}")
        db.session.commit()
        return render_template("auth/not_admin.html", decision=decision, claims=claims, setup=testing), 403
    admin = _remember(claims, client.load_server_metadata().get("issuer", ""))
    next_url = session.get("login_next")
    session.clear()  # a fresh session at sign-in: nothing from before survives (session fixation)
    login_user(admin)
    session["admin_generation"] = admin.session_generation
    session.permanent = True
    if testing:
        activate_pending(admin.label)
        audit.record("setup.completed", admin.label, "sign-in settings", "test sign-in succeeded")
        flash("Sign-in works and is now saved. Welcome!", "success")
    audit.record("sign_in", admin.label, None, f"admitted by {decision.matched}")
    db.session.commit()
    # First-run set-up continues on Settings (Setup SCIM is next); later sign-ins land on the dashboard.
    return redirect(next_url or url_for("admin.settings" if testing else "monitor.dashboard"))


def _explain(exc: JoseError) -> str:
    """What a refused ID token means for the person setting this up."""
    text = f"{exc.error}: {exc.description or ''}"
    hints = [("'aud'", "It was issued for another application: check that the client ID here is the sign-in app's."),
             ("'iss'", "It comes from another issuer than the discovery document names: check the discovery URL."),
             ("'exp'", "It has expired: check that this server's clock is right."),
             ("'nonce'", "It does not belong to this sign-in attempt: start signing in again."),
             ("signature", "Its signature does not match the identity provider's published keys.")]
    for marker, hint in hints:
        if marker in text:
            return f"The ID token was refused. {hint} ({text.strip(': ')})"
    return f"The ID token was refused ({exc.__class__.__name__}: {text.strip(': ')})."


def _remember(claims: dict, issuer: str) -> AdminUser:
    admin = db.session.query(AdminUser).filter_by(issuer=issuer, subject=claims["sub"]).one_or_none()
    now = utcnow()
    kept = {k: claims[k] for k in ("sub", "email", "preferred_username", "upn", "name", "groups", "roles")
            if k in claims}
    if admin is None:
        admin = AdminUser(issuer=issuer, subject=claims["sub"], first_login_at=now, claims=kept, last_login_at=now)
        db.session.add(admin)
    admin.email, admin.name, admin.claims, admin.last_login_at = email_of(claims), claims.get("name"), kept, now
    db.session.flush()
    return admin


@bp.post("/logout")
def logout():
    """Sign out here, and at the IdP when it offers an end-session endpoint."""
    from flask_login import current_user
    if current_user.is_authenticated:
        # Every session of this admin ends here, including copies of the cookie made before.
        current_user.session_generation = (current_user.session_generation or 0) + 1
        audit.record("sign_out", current_user.label)
        db.session.commit()
    logout_user()
    session.clear()
    settings = sign_in()
    end = None
    if settings.complete:
        try:
            end = client_for(settings).load_server_metadata().get("end_session_endpoint")
        except (requests.RequestException, OAuthError, ValueError):
            end = None
    if end:
        query = urlencode({"client_id": settings["OIDC_CLIENT_ID"], "post_logout_redirect_uri": external_base() + "/"})
        return redirect(f"{end}{'&' if '?' in end else '?'}{query}")
    flash("You are signed out.", "success")
    return redirect(url_for("main.index"))

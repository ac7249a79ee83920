"""First-run set-up: with the one-time code ``python app.py`` prints, enter the sign-in settings and prove them
with a test sign-in. Usable only with that code and only until sign-in is configured; the code dies with it."""
from __future__ import annotations

from flask import redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import URL, DataRequired, Length, Optional

from .. import audit
from ..extensions import db
from ..models import AppSetting
from ..settings import (SETUP_CODE, configured_keys, is_configured, save_pending, setup_code_matches, sign_in)
from ..urls import external_base
from . import setup_bp
from .oidc import Rules


class CodeForm(FlaskForm):
    """The one-time set-up code."""

    code = StringField("Set-up code", validators=[DataRequired(), Length(max=64)])


class SignInForm(FlaskForm):
    """The sign-in settings (an OpenID Connect app registration at the IdP) and the admin rules."""

    metadata_url = StringField("Discovery (metadata) URL", validators=[DataRequired(), URL(require_tld=False),
                                                                       Length(max=500)],
                               description="Entra: https://login.microsoftonline.com/<Directory (tenant) ID>/v2.0/"
                                           ".well-known/openid-configuration")
    client_id = StringField("Client (application) ID", validators=[DataRequired(), Length(max=255)],
                            description="Entra: the sign-in app registration's Application (client) ID.")
    client_secret = PasswordField("Client secret", validators=[Optional(), Length(max=500)],
                                  description="Entra: the secret's Value (not its Secret ID).")
    scopes = StringField("Scopes", validators=[Optional(), Length(max=500)],
                         description="Space-separated; must include openid. Default: openid email profile.")
    admin_emails = TextAreaField("Admin email addresses", validators=[Optional(), Length(max=5000)])
    admin_domains = TextAreaField("Admin email domains", validators=[Optional(), Length(max=5000)])
    admin_groups = TextAreaField("Admin groups (values of the groups claim)", validators=[Optional(), Length(max=5000)])
    admin_roles = TextAreaField("Admin roles (values of the roles claim)", validators=[Optional(), Length(max=5000)])


FIELDS = {"metadata_url": "OIDC_METADATA_URL", "client_id": "OIDC_CLIENT_ID", "client_secret": "OIDC_CLIENT_SECRET",
          "scopes": "OIDC_SCOPES", "admin_emails": "ADMIN_EMAILS", "admin_domains": "ADMIN_DOMAINS",
          "admin_groups": "ADMIN_GROUPS", "admin_roles": "ADMIN_ROLES"}


def _code_hash() -> str | None:
    row = db.session.get(AppSetting, SETUP_CODE)
    return row.value.get("sha256") if row else None


def setup_authorised() -> bool:
    """Did this browser enter the current set-up code, and is set-up still open?"""
    current = _code_hash()
    return bool(current) and session.get("setup_code") == current and not is_configured()


def closed():
    """Set-up is over (or was never opened by a server start): say so."""
    return render_template("setup/closed.html", configured=is_configured()), 404


@setup_bp.route("", methods=["GET", "POST"], strict_slashes=False)
def start():
    """Ask for the set-up code printed by the server."""
    if is_configured() or not _code_hash():
        return closed()
    if setup_authorised():
        return redirect(url_for("setup.sign_in_settings"))
    form = CodeForm()
    if form.validate_on_submit():
        if setup_code_matches(form.code.data):
            session["setup_code"] = _code_hash()
            return redirect(url_for("setup.sign_in_settings"))
        audit.record("setup.code_refused", "anonymous", None, "wrong set-up code")
        db.session.commit()
        form.code.errors.append("That is not the current set-up code. Copy it from the server's log.")
        return render_template("setup/code.html", form=form), 400
    return render_template("setup/code.html", form=form)


@setup_bp.route("/sign-in", methods=["GET", "POST"])
def sign_in_settings():
    """Enter the IdP and admin rules; they are kept aside until the test sign-in proves them."""
    if not setup_authorised():
        return closed() if is_configured() or not _code_hash() else redirect(url_for("setup.start"))
    pending = sign_in(pending=True)
    form = SignInForm(data={field: pending[key] for field, key in FIELDS.items() if key != "OIDC_CLIENT_SECRET"})
    fixed = configured_keys()
    if form.validate_on_submit():
        values = {key: getattr(form, field).data.strip() for field, key in FIELDS.items()}
        if not values["OIDC_CLIENT_SECRET"]:
            values["OIDC_CLIENT_SECRET"] = pending["OIDC_CLIENT_SECRET"]  # blank keeps the one entered before
        merged = {k: (sign_in(pending=True)[k] if k in fixed else v) for k, v in values.items()}
        if not merged["OIDC_CLIENT_SECRET"]:
            form.client_secret.errors.append("Enter the client secret the identity provider gave you.")
        elif "openid" not in (merged["OIDC_SCOPES"] or "openid").split():
            form.scopes.errors.append("Include the scope openid: without it there is no ID token to sign in with.")
        elif Rules.from_settings(merged).empty:
            form.admin_emails.errors.append("Give at least one admin rule, or nobody could sign in.")
        else:
            save_pending(values, "set-up")
            return redirect(url_for("setup.test"))
    fixed_fields = {field for field, key in FIELDS.items() if key in fixed}
    return render_template("setup/sign_in.html", form=form, fixed=fixed, fixed_fields=fixed_fields, pending=pending,
                           redirect_uri=external_base() + url_for("auth.callback")), 400 if form.errors else 200


@setup_bp.get("/test")
def test():
    """The last step: a real sign-in with the entered settings; it saves them when it admits you."""
    if not setup_authorised():
        return closed() if is_configured() or not _code_hash() else redirect(url_for("setup.start"))
    pending = sign_in(pending=True)
    if not pending.complete:
        return redirect(url_for("setup.sign_in_settings"))
    return render_template("setup/test.html", pending=pending, rules=Rules.from_settings(pending),
                           redirect_uri=external_base() + url_for("auth.callback"))


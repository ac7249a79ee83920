"""Settings, the Setup SCIM flow and token management. Admins only; every form is a CSRF-checked POST."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, session, url_for
from flask_login import current_user

from .. import audit, settings as sign_in_settings, tokens
from ..auth import admin_required
from ..auth.oidc import Rules, decide
from ..extensions import db
from ..models import ScimToken
from ..urls import tenant_url
from . import bp
from .forms import AdminRulesForm, ConfirmForm, TokenForm

RULE_FIELDS = {"scopes": "OIDC_SCOPES", "admin_emails": "ADMIN_EMAILS", "admin_domains": "ADMIN_DOMAINS",
               "admin_groups": "ADMIN_GROUPS", "admin_roles": "ADMIN_ROLES"}


def no_store(response):
    """Never cached, never kept in the back-forward cache: for pages with secrets."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/settings")
@admin_required
def settings():
    """The Tenant URL, the tokens, and where the sign-in settings come from."""
    return render_template("admin/settings.html", tenant_url=tenant_url(), tokens=tokens.all_tokens(),
                           status=tokens.status, sign_in=sign_in_settings.sign_in())


@bp.get("/settings/scim")
@admin_required
def scim_intro():
    """Setup SCIM, step 1: what will happen."""
    return render_template("admin/scim_intro.html", tenant_url=tenant_url())


@bp.route("/settings/scim/token", methods=["GET", "POST"])
@admin_required
def new_token():
    """Setup SCIM, step 2: name the token, then Generate Token."""
    form = TokenForm()
    if form.validate_on_submit():
        try:
            token, secret = tokens.create(form.name.data, current_user.label, form.expires_days.data)
        except tokens.TokenError as exc:
            form.name.errors.append(str(exc))
        else:
            # Shown once, on the next page: kept encrypted in the session until then, and removed when shown.
            session["new_token"] = sign_in_settings.encrypt(secret)
            session["new_token_id"] = token.id
            return redirect(url_for("admin.token_created"))
    return render_template("admin/token_form.html", form=form), 400 if form.errors else 200


@bp.get("/settings/scim/token/created")
@admin_required
def token_created():
    """Setup SCIM, step 3: the Tenant URL and the Secret Token, this once."""
    sealed, token_id = session.pop("new_token", None), session.pop("new_token_id", None)
    secret = sign_in_settings.decrypt(sealed) if sealed else None
    token = db.session.get(ScimToken, token_id) if token_id else None
    if not secret or token is None:
        flash("A secret token is shown only once. If you did not copy it, revoke it and generate another.", "info")
        return redirect(url_for("admin.settings"))
    return no_store(render_template("admin/token_created.html", secret=secret, token=token, tenant_url=tenant_url()))


@bp.route("/settings/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@admin_required
def revoke_token(token_id: int):
    """Revoke a token, after a confirmation step."""
    # An id beyond a 64-bit integer cannot be looked up (SQLite raises OverflowError): no such token.
    token = (db.session.get(ScimToken, token_id) if token_id < 2**62 else None) or abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        if tokens.revoke(token, current_user.label):
            flash(f"Token “{token.name}” is revoked: requests with it now get 401.", "success")
        else:
            flash(f"Token “{token.name}” was already revoked.", "info")
        return redirect(url_for("admin.settings"))
    return render_template("admin/revoke.html", token=token, form=form, status=tokens.status(token))


@bp.route("/settings/sign-in", methods=["GET", "POST"])
@admin_required
def sign_in_rules():
    """Change who is an admin (and the scopes); values set in the configuration are shown but not editable."""
    current = sign_in_settings.sign_in()
    fixed = sign_in_settings.configured_keys()
    form = AdminRulesForm(data={f: current[k] for f, k in RULE_FIELDS.items()})
    if form.validate_on_submit():
        values = {k: getattr(form, f).data.strip() for f, k in RULE_FIELDS.items() if k not in fixed}
        proposed = {**current.values, **values}
        if "openid" not in (proposed["OIDC_SCOPES"] or "openid").split():
            form.scopes.errors.append("Include the scope openid: without it there is no ID token to sign in with.")
        elif not decide(Rules.from_settings(proposed), current_user.claims or {}).admitted:
            flash("These rules would not admit you: keep a rule that matches your own account.", "error")
        else:
            changed = sorted(k for k, v in values.items() if v != (current[k] or ""))
            sign_in_settings.save_active(values, current_user.label)
            audit.record("settings.changed", current_user.label, "admin sign-in", ", ".join(changed) or "nothing")
            db.session.commit()
            flash("Sign-in settings saved." + (" Values set in the server's configuration were left as they are."
                                                if fixed else ""), "success")
            return redirect(url_for("admin.settings"))
    fixed_fields = {f for f, k in RULE_FIELDS.items() if k in fixed}
    return render_template("admin/sign_in.html", form=form, fixed=fixed, fixed_fields=fixed_fields,
                           current=current), 400 if form.errors else 200

"""Dashboard, sync activity, activity settings, audit log and token clean-up. Admins only; every change is a
CSRF-checked POST. The SQL is in ``queries.py`` and ``purge.py``."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from .. import activity, audit, tokens
from ..auth import admin_required
from ..extensions import db
from ..models import AppSetting, ScimToken
from . import bp, chart, queries
from .filters import METHODS, RESOURCE_TYPES, activity_filter, audit_filter, cursor, make_cursor
from .forms import ActivitySettingsForm, PurgeForm
from .purge import PurgeIncomplete, created_by, purge

MAX_ID = 2**62


@bp.after_request
def _private(response):
    """Activity and audit rows name people and hold SCIM error details: never stored by a browser or proxy."""
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response


def resource_url(resource_type: str | None, rid: str | None) -> str | None:
    """The directory page of a user or group, when it still exists and the directory pages are there."""
    endpoint = {"User": ("directory.user", "rid"), "Group": ("directory.group", "gid")}.get(resource_type or "")
    if endpoint is None or not queries.resource_exists(resource_type, rid):
        return None
    try:
        return url_for(endpoint[0], **{endpoint[1]: rid})
    except BuildError:
        return None


def page_url(endpoint: str, args: dict, after) -> str:
    """A list page's link with its filters kept and, for the next page, the cursor."""
    return url_for(endpoint, **args, **({"after": make_cursor(*after)} if after else {}))


@bp.get("/dashboard")
@admin_required
def dashboard():
    """Users and groups, each token's last request, error rates and the 7-day chart."""
    data = queries.dashboard()
    return render_template("monitor/dashboard.html", **data, chart=chart.geometry(data["buckets"]),
                           days=chart.daily(data["buckets"]), status=tokens.status)


@bp.get("/activity")
@admin_required
def activity_list():
    """Every SCIM request, newest first, filtered and paged."""
    f, problems = activity_filter(request.args)
    rows, more = queries.activity_page(f, cursor(request.args.get("after")))
    return render_template("monitor/activity.html", rows=rows, f=f, problems=problems,
                           tokens=queries.token_choices(), methods=METHODS, types=RESOURCE_TYPES,
                           next_url=page_url("monitor.activity_list", f.args, more) if more else None,
                           first_url=url_for("monitor.activity_list", **f.args) if request.args.get("after") else None)


@bp.get("/activity/<int:entry_id>")
@admin_required
def activity_entry(entry_id: int):
    """Everything recorded about one SCIM request."""
    row = queries.activity_entry(entry_id) if entry_id < MAX_ID else None
    if row is None:
        abort(404)
    return render_template("monitor/entry.html", row=row, resource_url=resource_url(row.resource_type,
                                                                                     row.resource_id))


def stored_settings() -> dict:
    """The activity settings as saved (not the recorder's copy, which may be up to 30 seconds old)."""
    row = db.session.get(AppSetting, activity.SETTINGS_KEY)
    return {**activity.DEFAULTS, **(row.value if row else {})}


@bp.route("/activity/settings", methods=["GET", "POST"])
@admin_required
def activity_settings():
    """Body capture for errors on or off, and the retention period."""
    old = stored_settings()
    form = ActivitySettingsForm(data=old)
    if form.validate_on_submit():
        new = {"capture_error_bodies": bool(form.capture_error_bodies.data), "retention_days": form.retention_days.data}
        activity.save_settings(new["capture_error_bodies"], new["retention_days"], current_user.label)
        audit.record("activity.settings", current_user.label, "sync activity", describe_change(old, new))
        db.session.commit()
        activity.recorder().forget_settings()
        flash(f"Activity settings saved: request bodies of failed requests are "
              f"{'kept' if new['capture_error_bodies'] else 'not kept'}; activity is kept "
              f"{new['retention_days']} days.", "success")
        return redirect(url_for("monitor.activity_settings"))
    return render_template("monitor/settings.html", form=form), 400 if form.errors else 200


def describe_change(old: dict, new: dict) -> str:
    """``capture_error_bodies False → True; retention_days 30 → 7`` (or ``no change``)."""
    parts = [f"{k} {old.get(k)} → {new[k]}" for k in new if old.get(k) != new[k]]
    return "; ".join(parts) or "no change"


@bp.get("/audit")
@admin_required
def audit_log():
    """Admin actions and sign-ins, newest first, filtered and paged."""
    f, problems = audit_filter(request.args)
    rows, more = queries.audit_page(f, cursor(request.args.get("after")))
    return render_template("monitor/audit.html", rows=rows, f=f, problems=problems, actions=queries.audit_actions(),
                           next_url=page_url("monitor.audit_log", f.args, more) if more else None,
                           first_url=url_for("monitor.audit_log", **f.args) if request.args.get("after") else None)


@bp.route("/settings/tokens/<int:token_id>/cleanup", methods=["GET", "POST"])
@admin_required
def cleanup(token_id: int):
    """What a token created, then (with its name typed) revoke it and delete all of that."""
    token = (db.session.get(ScimToken, token_id) if token_id < MAX_ID else None) or abort(404)
    form = PurgeForm()
    if form.validate_on_submit():
        if form.confirm.data.strip() != token.name:
            form.confirm.errors.append(f"That is not the token's name. Type {token.name} exactly to confirm.")
        else:
            try:
                done = purge(token, current_user.label)
            except PurgeIncomplete as exc:
                flash(f"The clean-up stopped part-way (the database was busy): {exc.done.describe()} were deleted "
                      f"and the token is revoked. Open Clean up again to delete the rest.", "error")
                return redirect(url_for("monitor.cleanup", token_id=token_id))
            flash(f"Token “{token.name}” is revoked; deleted {done.describe()} it had created.", "success")
            return redirect(url_for("admin.settings"))
    return render_template("monitor/cleanup.html", token=token, form=form, counts=created_by(token.id),
                           status=tokens.status(token)), 400 if form.errors else 200


"""Admin sign-in with OpenID Connect (``/auth``), first-run set-up (``/setup``), and the admin-only guard."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import db, login_manager
from ..models import AdminUser

bp = Blueprint("auth", __name__, url_prefix="/auth")
setup_bp = Blueprint("setup", __name__, url_prefix="/setup")


@login_manager.user_loader
def _load_admin(admin_id: str):
    """The signed-in admin, if this session was made in the admin's current generation (see sign-out)."""
    from flask import session
    admin = db.session.get(AdminUser, int(admin_id)) if admin_id.isdigit() else None
    if admin is None or session.get("admin_generation") != admin.session_generation:
        return None
    return admin


def safe_next(target: str | None) -> str | None:
    """A local path to return to after sign-in, or None (never another site: //evil.example, https://…)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def admin_required(view):
    """Admin pages: anonymous visitors go to sign-in; a signed-in person the admin rules no longer admit gets 403."""
    @wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        from ..settings import sign_in
        from .oidc import Rules, decide
        decision = decide(Rules.from_settings(sign_in()), current_user.claims or {})
        if not decision.admitted:
            return render_template("auth/not_admin.html", decision=decision, claims=current_user.claims,
                                   setup=False), 403
        return view(*args, **kwargs)
    return guarded


from . import routes, setup  # noqa: E402,F401  (register the views)

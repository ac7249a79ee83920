"""The landing page and the health check."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from .extensions import db
from .urls import tenant_url

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """What this service is and its Tenant URL."""
    from .settings import is_configured
    return render_template("main/index.html", tenant_url=tenant_url(), sign_in_ready=is_configured())


@bp.get("/healthz")
def healthz():
    """200 {"status": "ok"} when the database answers, 503 otherwise (for load balancers and monitors)."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.commit()
    except Exception:
        db.session.rollback()
        return jsonify(status="unavailable", detail="the database does not answer"), 503
    return jsonify(status="ok")

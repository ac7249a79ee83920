"""One function to record a security-relevant event. Never pass a token or an Authorization header here."""
from __future__ import annotations

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent
from .scim.values import utcnow


def record(action: str, actor: str, target: str | None = None, detail: str | None = None) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits): who did what to what, from where."""
    address = request.remote_addr if has_request_context() else "cli"
    event = AuditEvent(at=utcnow(), actor=actor[:255], action=action, target=(target or "")[:255] or None,
                       detail=detail, address=(address or "")[:64] or None)
    db.session.add(event)
    return event

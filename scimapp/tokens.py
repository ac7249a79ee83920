"""SCIM bearer tokens: create, verify, revoke.

A token is ``scim_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored, so the secret is shown
once, at creation, and cannot be recovered. Revocation and expiry are timestamps checked on every request, so they
take effect on the next request.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from . import audit
from .database import intending_to_write
from .fastsql import Fast
from .extensions import db
from .models import ScimToken
from .scim.values import utcnow

PREFIX = "scim_"
NAME_MAX = 100


class TokenError(ValueError):
    """A token operation was refused; the message says why."""


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a token secret: what the database stores."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def status(token: ScimToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def new_secret() -> str:
    """A fresh secret: the ``scim_`` prefix and 256 random bits, URL-safe."""
    return PREFIX + secrets.token_urlsafe(32)


def create(name: str, created_by: str, expires_days: int | None = None) -> tuple[ScimToken, str]:
    """Create a token and commit it; returns the row and the secret (the only time the secret exists)."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise TokenError(f"the token name must be 1 to {NAME_MAX} characters")
    if name.isdigit():
        raise TokenError("the token name cannot be only digits (it would read as a token id)")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise TokenError("expiry must be between 1 and 3650 days")
    now = utcnow()
    if any(status(t, now) == "active" for t in db.session.scalars(select(ScimToken).where(ScimToken.name == name))):
        raise TokenError(f"an active token named {name!r} already exists: revoke it first or choose another name")
    secret = new_secret()
    token = ScimToken(name=name, token_hash=hash_secret(secret), hint=secret[:9], created_at=now,
                      created_by=created_by[:255],
                      expires_at=now + timedelta(days=expires_days) if expires_days else None)
    db.session.add(token)
    db.session.flush()
    audit.record("token.create", created_by, f"token {token.id} {name}",
                 f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry")
    db.session.commit()
    return token, secret


_T = ScimToken.__table__.c
# Built once: checking a token is on every SCIM request's path, so it is a plain indexed lookup with no ORM layer,
# run on the DB-API cursor (fastsql.py).
_VERIFY = Fast(select(_T.id, _T.name, _T.expires_at, _T.revoked_at, _T.last_used_at).where(
    _T.token_hash == bindparam("token_hash")))


def verify(secret: str):
    """The active token with this secret (id, name, expires_at, revoked_at, last_used_at), or None (unknown,
    revoked or expired)."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = _VERIFY.first(db.session.connection(), {"token_hash": hash_secret(secret)})
    if token is None or status(token) != "active":
        return None
    return token


def record_use(token, interval_seconds: int) -> None:
    """Write ``last_used_at`` when it is older than ``interval_seconds``, in its own short transaction."""
    now = utcnow()
    if token.last_used_at is not None and (now - token.last_used_at).total_seconds() < interval_seconds:
        return
    db.session.commit()  # end the read transaction that verify() opened before taking the write lock
    try:
        with intending_to_write():
            db.session.execute(update(ScimToken).where(ScimToken.id == token.id).values(last_used_at=now))
            db.session.commit()
    except Exception:  # best effort: a busy database must not fail the request over a timestamp
        db.session.rollback()


def find(name_or_id: str) -> list[ScimToken]:
    """Tokens matching an id (digits) or a name; by name, only the active ones."""
    if name_or_id.isdigit():
        token = db.session.get(ScimToken, int(name_or_id))
        return [token] if token else []
    now = utcnow()
    return [t for t in db.session.scalars(select(ScimToken).where(ScimToken.name == name_or_id))
            if status(t, now) == "active"]


def revoke(token: ScimToken, actor: str) -> bool:
    """Revoke a token (idempotent) and commit; False if it was already revoked."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit.record("token.revoke", actor, f"token {token.id} {token.name}")
    db.session.commit()
    return True


def all_tokens() -> list[ScimToken]:
    """Every token, newest first."""
    return list(db.session.scalars(select(ScimToken).order_by(ScimToken.created_at.desc(), ScimToken.id.desc())))

"""Bearer-token check before every SCIM request (RFC 6750). Session cookies are never consulted here."""
from __future__ import annotations

from flask import current_app, g, request

from .. import tokens
from ..database import end_for_request, read_only, set_for_request, write_intent
from ..extensions import db
from . import bp
from .errors import ScimError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REALM = 'Bearer realm="scimapp"'


def _unauthorized(detail: str, invalid: bool) -> ScimError:
    challenge = REALM + (', error="invalid_token"' if invalid else "")
    return ScimError(401, detail, headers={"WWW-Authenticate": challenge})


def _is_search() -> bool:
    """``POST …/.search`` (RFC 7644 §3.4.3) only reads: it answers from one snapshot like a GET, not under the
    SQLite write lock."""
    return request.method == "POST" and request.path.rstrip("/").rpartition("/")[2].lower() == ".search"


@bp.before_request
def authenticate():
    """Resolve ``Authorization: Bearer <token>`` to an active token, or answer 401."""
    # The token check only reads, and so do SCIM GETs: one snapshot for each (see database.py).
    set_for_request(read_only, True)
    scheme, _, secret = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("send the SCIM token as 'Authorization: Bearer <token>'", invalid=False)
    token = tokens.verify(secret.strip())
    if token is None:
        raise _unauthorized("the token is not valid: it is unknown, revoked or expired", invalid=True)
    g.scim_token_id, g.scim_token_name = token.id, token.name
    current_app.extensions["scim_rate_limit"].check(token.id)
    tokens.record_use(token, current_app.config["TOKEN_LAST_USED_INTERVAL"])
    if request.method in WRITE_METHODS and not _is_search():
        # Only now, with the token known good, do this request's transactions take the SQLite write lock first:
        # unauthenticated writes never compete for it.
        # The write transaction begins with the handler's first statement, not here: the lock is then not held
        # while the body is parsed and checked (on SQLite writers queue for it, see database.py).
        db.session.commit()
        end_for_request(read_only)
        set_for_request(write_intent, True)


@bp.teardown_request
def _end_write_intent(_exc):
    end_for_request(write_intent, read_only)
"""Sign-in settings: what is configured in files or the environment, what was saved through first-run set-up, and
which wins (configuration, always). Also the one-time set-up code and the encryption of stored secrets.

The OpenID Connect client secret is stored encrypted (Fernet: AES-128-CBC with HMAC-SHA256) with a key kept in the
instance folder, next to the database but not in it: a copied database alone does not reveal the secret.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from .extensions import db
from .models import AppSetting
from .scim.values import utcnow

SIGN_IN_KEYS = ("OIDC_METADATA_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_SCOPES",
                "ADMIN_EMAILS", "ADMIN_DOMAINS", "ADMIN_GROUPS", "ADMIN_ROLES")
SECRET_KEYS = {"OIDC_CLIENT_SECRET"}
ACTIVE, PENDING, SETUP_CODE = "sign_in", "sign_in_pending", "setup_code"


@dataclass(frozen=True)
class SignIn:
    """Effective sign-in settings, with where each value came from (``configuration``, ``saved`` or ``default``)."""

    values: dict
    sources: dict

    def __getitem__(self, key: str):
        return self.values.get(key, "")

    @property
    def complete(self) -> bool:
        """Enough to sign in with: the IdP's metadata URL, our client id and secret."""
        return all(self.values.get(k) for k in ("OIDC_METADATA_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"))

    def fingerprint(self) -> str:
        """Changes whenever the IdP or client changes (names the authlib client built for these settings)."""
        text = "\n".join(str(self.values.get(k, "")) for k in SIGN_IN_KEYS[:4])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- encryption

def _fernet() -> Fernet:
    path = Path(current_app.instance_path) / "encryption_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
    return Fernet(path.read_bytes().strip())


def encrypt(text: str) -> str:
    """Encrypt with the instance's key."""
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str | None:
    """Decrypt with the instance's key; None if it was encrypted with another key or altered."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


# ---------------------------------------------------------------------------- stored settings

def _load(key: str) -> dict:
    row = db.session.get(AppSetting, key)
    return dict(row.value) if row else {}


def _store(key: str, value: dict, actor: str | None) -> None:
    row = db.session.get(AppSetting, key)
    if row is None:
        db.session.add(AppSetting(key=key, value=value, updated_at=utcnow(), updated_by=actor))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), actor


def _plain(stored: dict) -> dict:
    out = dict(stored)
    for k in SECRET_KEYS:
        if out.get(k):
            out[k] = decrypt(out[k]) or ""
    return out


def configured_keys() -> set[str]:
    """Sign-in keys set in the instance config file or the environment (these win over saved settings)."""
    return {k for k in SIGN_IN_KEYS if k in current_app.config.get("EXPLICIT_KEYS", ()) and
            current_app.config.get(k) not in (None, "")}


def sign_in(pending: bool = False) -> SignIn:
    """The effective settings; ``pending`` reads what first-run set-up saved but has not yet proven."""
    saved = _plain(_load(PENDING if pending else ACTIVE))
    explicit = configured_keys()
    values, sources = {}, {}
    for k in SIGN_IN_KEYS:
        if k in explicit:
            values[k], sources[k] = current_app.config[k], "configuration"
        elif saved.get(k) not in (None, ""):
            values[k], sources[k] = saved[k], "saved"
        else:
            values[k], sources[k] = current_app.config.get(k, ""), "default"
    return SignIn(values, sources)


def is_configured() -> bool:
    """Can admins sign in? (Configuration, or set-up completed with a successful test sign-in.)"""
    return sign_in().complete


def save_pending(values: dict, actor: str) -> None:
    """Keep what set-up entered until a test sign-in proves it; the client secret is encrypted."""
    stored = {k: v for k, v in values.items() if k in SIGN_IN_KEYS}
    for k in SECRET_KEYS:
        if stored.get(k):
            stored[k] = encrypt(stored[k])
    _store(PENDING, stored, actor)
    db.session.commit()


def activate_pending(actor: str) -> None:
    """The test sign-in worked: the pending settings become the active ones; the set-up code is used up."""
    _store(ACTIVE, _load(PENDING), actor)
    db.session.delete(db.session.get(AppSetting, PENDING))
    code = db.session.get(AppSetting, SETUP_CODE)
    if code is not None:
        db.session.delete(code)
    db.session.commit()


def save_active(values: dict, actor: str) -> None:
    """Change saved settings of a working installation (admin rules, scopes)."""
    stored = _load(ACTIVE)
    stored.update({k: v for k, v in values.items() if k in SIGN_IN_KEYS and k not in SECRET_KEYS})
    _store(ACTIVE, stored, actor)
    db.session.commit()


# ---------------------------------------------------------------------------- the one-time set-up code

def new_setup_code() -> str:
    """A fresh one-time code for /setup (printed by ``python app.py``); only its hash is kept."""
    code = "-".join(secrets.token_hex(3).upper() for _ in range(4))  # 96 bits, easy to read out and type
    _store(SETUP_CODE, {"sha256": hashlib.sha256(code.encode()).hexdigest()}, "server start")
    db.session.commit()
    return code


def setup_code_matches(code: str) -> bool:
    """Is this the current set-up code? (Constant-time comparison of hashes; never true once set-up is done.)"""
    stored = _load(SETUP_CODE).get("sha256")
    if not stored or not code or is_configured():
        return False
    given = hashlib.sha256(code.strip().upper().encode()).hexdigest()
    return hmac.compare_digest(stored, given)


def setup_open() -> bool:
    """Is first-run set-up still possible (no sign-in configured, a code was issued)?"""
    return not is_configured() and bool(_load(SETUP_CODE).get("sha256"))


__all__ = ["SignIn", "sign_in", "is_configured", "save_pending", "activate_pending", "save_active",
           "new_setup_code", "setup_code_matches", "setup_open", "encrypt", "decrypt", "configured_keys"]

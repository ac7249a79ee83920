"""The README is where an operator learns how admins sign in."""
from __future__ import annotations

from tests.conftest import ROOT


def test_readme_documents_admin_sign_in():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    from scimapp.config import DEFAULTS
    for key in [k for k in DEFAULTS if k.startswith(("OIDC_", "ADMIN_"))] + ["SESSION_LIFETIME_MINUTES"]:
        assert f"`{key}`" in readme, key
    for phrase in ("set-up code", "/setup", "/auth/callback", "Setup SCIM", "Generate Token", "Revoke"):
        assert phrase in readme, phrase

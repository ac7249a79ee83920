"""The OpenID Connect client (authlib), built for the current sign-in settings.

PKCE with S256 is always sent (the IdP may not require it of a confidential client, so we insist), and the ID token
is checked for its signature (the IdP's published keys), issuer, audience (our client id must be in ``aud``),
expiry and nonce.
"""
from __future__ import annotations

from authlib.integrations.flask_client import OAuth

from ..settings import SignIn

oauth = OAuth()


def client_for(settings: SignIn):
    """The authlib client for these settings (one per distinct IdP/client, registered on first use)."""
    name = f"oidc_{settings.fingerprint()}"
    client = oauth.create_client(name)
    if client is None:
        oauth.register(
            name,
            server_metadata_url=settings["OIDC_METADATA_URL"],
            client_id=settings["OIDC_CLIENT_ID"],
            client_secret=settings["OIDC_CLIENT_SECRET"],
            client_kwargs={"scope": settings["OIDC_SCOPES"] or "openid email profile",
                           "code_challenge_method": "S256"},
        )
        client = oauth.create_client(name)
    return client


def claims_options(client, settings: SignIn) -> dict:
    """What the ID token must say: our issuer, our client id in the audience."""
    issuer = client.load_server_metadata().get("issuer")
    return {"iss": {"essential": True, "values": [issuer]},
            "aud": {"essential": True, "values": [settings["OIDC_CLIENT_ID"]]}}

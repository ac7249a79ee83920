"""Where this service is reachable: the external base URL and the SCIM Tenant URL built from it."""
from __future__ import annotations

from flask import current_app, request

SCIM_PREFIX = "/scim/v2"


def is_scim_path(path: str) -> bool:
    """Is this request path part of the SCIM API?"""
    return path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/")


def external_base() -> str:
    """``EXTERNAL_URL`` when set, else the current request's scheme, host and prefix (proxy headers count only
    when ``TRUST_PROXY`` is set)."""
    configured = (current_app.config.get("EXTERNAL_URL") or "").strip().rstrip("/")
    if configured:
        return configured
    # Werkzeug builds url_root anew on every request (IRI conversion included); every SCIM response needs it.
    # The inputs are the request's scheme, host and script root after any proxy fix: remembered per such triple,
    # in a table kept small (the Host header is the client's to choose).
    environ = request.environ
    key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"), environ.get("SERVER_NAME"),
           environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME"))
    base = _BASES.get(key)
    if base is None:
        if len(_BASES) >= 256:
            _BASES.clear()
        base = _BASES[key] = request.url_root.rstrip("/")
    return base


_BASES: dict[tuple, str] = {}


def tenant_url() -> str:
    """The SCIM base URL to paste into the IdP's Tenant URL field."""
    return external_base() + SCIM_PREFIX


def tenant_url_offline(config) -> str:
    """The Tenant URL outside a request (server start-up, CLI): ``EXTERNAL_URL`` or the listen address."""
    configured = (config.get("EXTERNAL_URL") or "").strip().rstrip("/")
    if configured:
        return configured + SCIM_PREFIX
    host = config.get("HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "<this-server's-name>"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.get('PORT')}{SCIM_PREFIX}"

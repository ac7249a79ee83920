"""Every setting, with its default and what it does.

Layers, later wins: these defaults -> ``<instance>/config.py`` -> ``SCIMAPP_<KEY>`` environment variables -> the
test config passed to ``create_app``. An environment value is converted to the type of the default (``true``/``1``
for booleans). Secrets have no usable default: the secret key is generated into the instance folder on first start.
"""
from __future__ import annotations

import os

DEFAULTS: dict[str, object] = {
    # Database URL (SQLAlchemy form). Empty: a SQLite file ``scimapp.db`` in the instance folder.
    # PostgreSQL: postgresql+psycopg://user:password@host/dbname
    "DATABASE_URL": "",
    # Public base URL of this service, e.g. https://scim.example.org. The Tenant URL is this + /scim/v2.
    # Empty: taken from each request's Host header.
    "EXTERNAL_URL": "",
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host/-Prefix headers are
    # trusted (IIS, nginx). 0 trusts none: never set it without a proxy, clients could spoof their address.
    "TRUST_PROXY": 0,
    # Where ``python app.py`` listens (also --host/--port).
    "HOST": "127.0.0.1",
    "PORT": 8000,
    # Waitress worker threads: requests served at once.
    "THREADS": 8,
    # Largest request body accepted, in bytes; larger ones get 413 (a SCIM error under /scim/v2).
    "MAX_CONTENT_LENGTH": 1_048_576,
    # Most resources one list response returns (ServiceProviderConfig filter.maxResults); larger counts are capped.
    "SCIM_MAX_RESULTS": 1000,
    # Bulk requests (POST /Bulk): most operations per request and largest body in bytes; more is 413.
    "SCIM_BULK_MAX_OPERATIONS": 1000,
    "SCIM_BULK_MAX_PAYLOAD": 4_194_304,
    # Page size when a client asks for a list without ``count``.
    "SCIM_DEFAULT_COUNT": 100,
    # Custom schema extensions (e.g. Entra's urn:ietf:params:scim:schemas:extension:<Name>:2.0:User): a list of
    # schema definitions in /Schemas form, each with "resourceType": "User" or "Group" — in instance/config.py as
    # a Python list, or in the environment as JSON text or the path of a JSON file. See the README.
    "SCIM_EXTENSIONS": "",
    # How long (milliseconds) a write waits for another to finish (SQLite busy timeout, PostgreSQL lock_timeout)
    # before the request answers 503 with Retry-After.
    "SQLITE_BUSY_TIMEOUT_MS": 10_000,
    # Requests each SCIM token may make (over it: 429 with Retry-After, which Entra honours), e.g.
    # "200 per second; 5000 per minute". Empty: no limit.
    "SCIM_RATE_LIMIT": "200 per second",
    # Where the rate-limit counters live: memory:// for one server; redis://host:6379 to share them between servers.
    "RATE_LIMIT_STORAGE": "memory://",
    # Record every SCIM request for the sync-activity pages (scimapp/activity.py). On by default; turning it off
    # only serves to measure what recording costs (bench/run.py does, see docs/performance.md).
    "ACTIVITY_ENABLED": True,
    # A token's "last used" time is written at most this often (seconds), so reads do not become writes.
    "TOKEN_LAST_USED_INTERVAL": 60,
    # Bring the database schema up to date at start (migrations). Turn off to run `flask --app app db upgrade`
    # yourself, e.g. as a deployment step before starting several servers.
    "AUTO_MIGRATE": True,
    # Log level of the app's own logger: DEBUG, INFO, WARNING, ERROR.
    "LOG_LEVEL": "INFO",
    # "text", or "json" for one JSON object per log line (for log collectors).
    "LOG_FORMAT": "text",
    # Session signing key. Leave empty: a random key is generated into <instance>/secret_key on first start.
    "SECRET_KEY": "",
    # --- Admin sign-in with OpenID Connect (an app registration of its own, separate from SCIM provisioning).
    # Set here or through first-run set-up at /setup; values set here (or in the environment) win.
    # The IdP's discovery document, e.g. https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration
    "OIDC_METADATA_URL": "",
    # Our client id and secret at the IdP.
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    # Scopes asked for at sign-in.
    "OIDC_SCOPES": "openid email profile",
    # Who is an admin (comma-separated; any match admits): email addresses, email domains, values of the
    # "groups" claim (Entra sends group object ids) and of the "roles" claim (Entra app roles).
    "ADMIN_EMAILS": "",
    "ADMIN_DOMAINS": "",
    "ADMIN_GROUPS": "",
    "ADMIN_ROLES": "",
    # How long an admin stays signed in without activity, in minutes.
    "SESSION_LIFETIME_MINUTES": 480,
}

ENV_PREFIX = "SCIMAPP_"
# Read by create_app itself (before config exists), not a config key.
NOT_CONFIG = {"INSTANCE_PATH"}


def _convert(raw: str, default: object, key: str) -> object:
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{ENV_PREFIX}{key} must be true or false, got {raw!r}")
    if isinstance(default, int):
        low = raw.strip().lower()
        if key == "TRUST_PROXY" and low in ("true", "yes", "on"):
            return 1
        if key == "TRUST_PROXY" and low in ("false", "no", "off", ""):
            return 0
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{key} must be a whole number, got {raw!r}") from None
    return raw


def from_environment(environ: os._Environ | dict | None = None) -> dict[str, object]:
    """The ``SCIMAPP_*`` variables as config keys, converted to the type of each key's default."""
    environ = os.environ if environ is None else environ
    out: dict[str, object] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):]
        if not key or key in NOT_CONFIG:
            continue
        out[key] = _convert(raw, DEFAULTS.get(key, ""), key)
    return out

"""The SCIM 2.0 API (RFC 7643, RFC 7644) at /scim/v2, authenticated by bearer tokens only."""
from flask import Blueprint

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")

from . import auth, routes  # noqa: E402,F401  (register the handlers on bp)

"""Pages for signed-in admins: settings, the Setup SCIM flow, tokens."""
from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import routes  # noqa: E402,F401  (register the views)

"""The directory pages for admins: the users and groups identity providers provisioned, each one's attributes,
memberships and change history, and CSV exports (web and ``flask --app app export``)."""
from flask import Blueprint

bp = Blueprint("directory", __name__, url_prefix="/directory")

from . import routes  # noqa: E402,F401  (register the views)

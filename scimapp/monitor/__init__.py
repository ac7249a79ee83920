"""The monitoring pages for admins: the dashboard, sync activity (with its capture and retention settings), the
audit log, and the clean-up of what one token created."""
from flask import Blueprint

bp = Blueprint("monitor", __name__)

from . import routes  # noqa: E402,F401  (register the views)

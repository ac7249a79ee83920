"""Directory pages (admins only, all GET): users, a user, groups, a group, and the CSV exports.

The SQL is in ``queries.py`` and ``export.py``; the raw SCIM JSON on a user's or group's page is built by the SCIM
service itself (``Service.represent``), so it is exactly what ``GET /scim/v2/Users/{id}`` returns.
"""
from __future__ import annotations

import json
import re
import unicodedata

from flask import Response, abort, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from .. import audit
from ..auth import admin_required
from ..database import intending_to_write
from ..extensions import db
from ..scim.attributes import ENTERPRISE_USER
from ..scim.schemas import Projection
from ..scim.service import Service
from ..scim.values import utcnow
from ..urls import tenant_url
from . import bp, export, queries
from .queries import GROUP_SORTS, STATUSES, USER_SORTS, Listing

PAGE_NUMBER = re.compile(r"^\s*([0-9]{1,12})\s*$")
MAX_PAGE = 10**9


@bp.after_request
def _private(response):
    """Personal data: never stored by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response


# ---------------------------------------------------------------------------- helpers

def page_arg(name: str = "page") -> int:
    """A page number from the query string; anything that is not a positive number is page 1."""
    m = PAGE_NUMBER.match(request.args.get(name, ""))
    return min(max(int(m.group(1)), 1), MAX_PAGE) if m else 1


def clean(text: str | None, limit: int) -> str:
    """Query-string text as the database can take it: no control characters (PostgreSQL refuses NUL) or lone
    surrogates, runs of white space as one space, at most ``limit`` characters."""
    text = "".join(ch for ch in (text or "") if unicodedata.category(ch) not in ("Cc", "Cs") or ch.isspace())
    return " ".join(text.split())[:limit]


def key_arg(name: str) -> str | None:
    """A resource id from the query string (ids are at most 36 characters); None when absent or not an id."""
    value = request.args.get(name)
    return value if value and len(value) <= 36 and clean(value, 36) == value else None


def listing_args(sorts: dict, default_sort: str) -> Listing:
    """The list parameters of the request, unknown values replaced by the defaults."""
    q = clean(request.args.get("q"), queries.MAX_SEARCH)
    status = request.args.get("status", "all")
    sort = request.args.get("sort", default_sort)
    return Listing(q=q, status=status if status in STATUSES else "all",
                   sort=sort if sort in sorts else default_sort,
                   order="desc" if request.args.get("order") == "desc" else "asc", page=page_arg())


def list_url(endpoint: str, listing: Listing, default_sort: str, **changes) -> str:
    """The URL of a list page, with only the parameters that differ from the defaults."""
    values = {"q": listing.q, "status": listing.status, "sort": listing.sort, "order": listing.order,
              "page": listing.page, **changes}
    defaults = {"q": "", "status": "all", "sort": default_sort, "order": "asc", "page": 1}
    return url_for(endpoint, **{k: v for k, v in values.items() if v != defaults[k]})


def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Page links to show: the first, the last, and a few around the current one; None marks a gap."""
    wanted = {1, pages, *range(page - around, page + around + 1)}
    out: list[int | None] = []
    for n in sorted(n for n in wanted if 1 <= n <= pages):
        if out and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


def service(endpoint: str) -> Service:
    """The SCIM service of Users or Groups, as the SCIM API builds it (same base URL, same rendering)."""
    rt = current_app.extensions["scim_registry"].by_endpoint(endpoint)
    cfg = current_app.config
    return Service(rt, tenant_url(), cfg["SCIM_MAX_RESULTS"], cfg["SCIM_DEFAULT_COUNT"])


def pretty(body: dict) -> str:
    """JSON as shown on a page: indented, non-ASCII kept."""
    return json.dumps(body, indent=2, ensure_ascii=False)


def history_rows(rid: str) -> list[dict]:
    """The change history, each ``changes`` entry as text."""
    out = []
    for row in queries.history(rid):
        changes = row["changes"]
        if changes is None:
            items = []
        elif isinstance(changes, list):
            items = [c if isinstance(c, str) else json.dumps(c, ensure_ascii=False) for c in changes]
        else:
            items = [changes if isinstance(changes, str) else json.dumps(changes, ensure_ascii=False)]
        out.append({**row, "changes": items})
    return out


# ---------------------------------------------------------------------------- pages

@bp.get("")
@bp.get("/")
@admin_required
def index():
    """The directory starts at its users."""
    return redirect(url_for("directory.users"))


def _list_page(kind: str, sorts: dict, default_sort: str, fetch):
    """A list page (users or groups): read the listing from the query string, fetch its page, render."""
    listing = listing_args(sorts, default_sort)
    page = fetch(listing)
    listing = queries.with_page(listing, page.page)
    db.session.commit()
    return render_template(
        f"directory/{kind}.html", listing=listing, page=page, sorts=list(sorts),
        pages=page_numbers(page.page, page.pages),
        url=lambda **changes: list_url(f"directory.{kind}", listing, default_sort, **changes))


@bp.get("/users")
@admin_required
def users():
    """Users: search, active filter, sort, 50 a page."""
    return _list_page("users", USER_SORTS, "userName", queries.list_users)


# The attributes shown in the "Profile" list of a user page, in this order (name parts are shown separately).
PROFILE = [("userName", "User name"), ("displayName", "Display name"), ("nickName", "Nickname"),
           ("title", "Title"), ("userType", "User type"), ("preferredLanguage", "Preferred language"),
           ("locale", "Locale"), ("timezone", "Time zone"), ("profileUrl", "Profile URL")]
NAME_PARTS = [("formatted", "Full name"), ("honorificPrefix", "Prefix"), ("givenName", "Given name"),
              ("middleName", "Middle name"), ("familyName", "Family name"), ("honorificSuffix", "Suffix")]
ENTERPRISE = [("employeeNumber", "Employee number"), ("department", "Department"), ("division", "Division"),
              ("organization", "Organization"), ("costCenter", "Cost center")]
MULTI = [("emails", "E-mail addresses"), ("phoneNumbers", "Phone numbers"), ("ims", "Instant messaging"),
         ("photos", "Photos"), ("entitlements", "Entitlements"), ("roles", "Roles")]
ADDRESS_PARTS = ("streetAddress", "locality", "region", "postalCode", "country")
SHOWN = {k for k, _ in PROFILE} | {k for k, _ in MULTI} | {"schemas", "id", "externalId", "meta", "name", "active",
                                                           "groups", "addresses", "x509Certificates",
                                                           ENTERPRISE_USER}


@bp.get("/users/<path:rid>")
@admin_required
def user(rid: str):
    """One user: readable attributes, manager, groups, history, and the SCIM representation."""
    row = queries.user_row(rid) if len(rid) <= 36 and clean(rid, 36) == rid else None
    if row is None:
        abort(404, description="No user has this id. It may have been deleted by the identity provider.")
    svc = service("Users")
    body = svc.represent([row], Projection(svc.rt))[0]
    data = row.data or {}
    enterprise = data.get(ENTERPRISE_USER) or {}
    manager_id = queries.manager_id(data)
    manager = queries.user_brief(manager_id) if manager_id else None
    other = {k: v for k, v in body.items() if k not in SHOWN}
    context = dict(
        row=row, body=body, raw=pretty(body), data=data, name=data.get("name") or {}, enterprise=enterprise,
        manager_id=manager_id, manager=manager, manager_sent=(enterprise.get("manager") or {}),
        groups=queries.groups_of_user(rid), history=history_rows(rid), history_limit=queries.HISTORY_LIMIT,
        other=other,
        profile=PROFILE, name_parts=NAME_PARTS, enterprise_fields=ENTERPRISE, multi=MULTI,
        address_parts=ADDRESS_PARTS)
    db.session.commit()
    return render_template("directory/user.html", **context)


@bp.get("/groups")
@admin_required
def groups():
    """Groups: search by name, member counts, 50 a page."""
    return _list_page("groups", GROUP_SORTS, "displayName", queries.list_groups)


@bp.get("/groups/<path:gid>")
@admin_required
def group(gid: str):
    """One group: its members (100 a page, paged by member id), history, and the SCIM representation without
    members."""
    row = queries.group_row(gid) if len(gid) <= 36 and clean(gid, 36) == gid else None
    if row is None:
        abort(404, description="No group has this id. It may have been deleted by the identity provider.")
    svc = service("Groups")
    body = svc.represent([row], Projection(svc.rt, excluded="members"))[0]
    members = queries.group_members(gid, after=key_arg("after"), before=key_arg("before"),
                                    last=request.args.get("last") == "1")
    context = dict(row=row, body=body, raw=pretty(body), members=members, page_size=queries.MEMBERS_PER_PAGE,
                   history=history_rows(gid), history_limit=queries.HISTORY_LIMIT)
    db.session.commit()
    return render_template("directory/group.html", **context)


# ---------------------------------------------------------------------------- exports

def _export(what: str):
    actor = current_user.label
    # Loading the admin opened a read transaction. On SQLite, turning that into a write fails at once ("database is
    # locked", no busy wait) when another connection, such as the activity writer, committed in between; so the
    # read ends here and the audit row is written in a transaction that takes the write lock up front.
    db.session.commit()
    with intending_to_write():
        audit.record("export", actor, what, "CSV download")
        db.session.commit()
    # With a byte order mark: whoever downloads from the page most likely opens the file in Excel, which needs it
    # to read UTF-8 (names such as "Zoë Ångström" are garbled without it).
    response = Response(stream_with_context(export.csv_stream(what, bom=True)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename(what, utcnow())}"'
    return response


@bp.get("/export/users.csv")
@admin_required
def export_users():
    """Every user as CSV, streamed."""
    return _export("users")


@bp.get("/export/groups.csv")
@admin_required
def export_groups():
    """Every group with its member count as CSV, streamed."""
    return _export("groups")


@bp.get("/export/memberships.csv")
@admin_required
def export_memberships():
    """Every membership as CSV, streamed."""
    return _export("memberships")

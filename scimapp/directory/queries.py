"""The SQL of the directory pages. Every list is filtered, sorted, counted and paged in the database through an
index; nothing is loaded into Python to be filtered or sorted.

- A search matches prefixes, case-insensitively, as range conditions on folded keys (``values.fold``, the keys the
  SCIM filter compiler compares): ``key >= fold(q) AND key < fold(q) + U+10FFFF``. That is an index range scan on
  both databases (keys compare by code point: SQLite by default, PostgreSQL through the "C" collation), where
  ``LIKE 'q%'`` would not be on PostgreSQL and ``LIKE '%q%'`` never is.
- The users a search finds are one ``id IN (… UNION ALL …)`` of index range scans: userName and displayName on their
  key columns, externalId exactly on its column, e-mail addresses and given and family names on the filter-index
  table (``scim_user_values``, index ``(attr, sub, key, resource_id)``).
- Sorting uses the column's index with the id as a tiebreak, in the same direction, so paging is stable.
- Paging is bounded: a list can be paged through its first ``MAX_PAGED_ROWS`` rows in any order (so no page costs
  more than that many index steps, however big the directory); the rest is reached by searching, filtering or
  reversing the order, and the page says so.
- Group members are paged by key (keyset paging) on the members table's primary key ``(group_id, member_id)``:
  ``member_id > last one shown``, so every page of a 50,000-member group costs one index range of 100 entries, and
  only the page's rows are joined to users and groups for their names.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import Select, and_, false, func, or_, select, true, union_all

from ..extensions import db
from ..models import ScimActivity, ScimGroup, ScimGroupMember, ScimUser, ScimUserValue
from ..scim.attributes import ENTERPRISE_USER
from ..scim.values import fold

USERS_PER_PAGE = 50
GROUPS_PER_PAGE = 50
MEMBERS_PER_PAGE = 100
HISTORY_LIMIT = 200  # newest change-history rows shown on a user or group page
MAX_SEARCH = 200  # characters of a search kept
MAX_PAGED_ROWS = 10_000  # a list's pages reach this many rows at most (OFFSET stays small; see the module docstring)
TOP = "\U0010ffff"  # the highest code point: every key that starts with k is >= k and < k + TOP

U = ScimUser.__table__
G = ScimGroup.__table__
GM = ScimGroupMember.__table__
UV = ScimUserValue.__table__
ACT = ScimActivity.__table__

USER_SORTS = {"userName": U.c.user_name_key, "displayName": U.c.display_name_key,
              "created": U.c.created_at, "lastModified": U.c.updated_at}
GROUP_SORTS = {"displayName": G.c.display_name_key, "created": G.c.created_at, "lastModified": G.c.updated_at}
STATUSES = ("all", "active", "inactive")
# Filter-index rows a user search looks at, besides the userName/displayName/externalId columns.
SEARCHED_VALUES = (("emails", "value"), ("name", "givenname"), ("name", "familyname"))
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Listing:
    """What a list page asks for: search text, status filter (users), sort key and direction, page number."""

    q: str = ""
    status: str = "all"
    sort: str = "userName"
    order: str = "asc"
    page: int = 1

    @property
    def descending(self) -> bool:
        """Newest, last or Z first."""
        return self.order == "desc"


@dataclass
class Page:
    """One page of a list: its rows, the total that matched, and where it is."""

    rows: list
    total: int
    page: int
    per_page: int
    extra: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """The pages that can be shown (at most the ones within ``MAX_PAGED_ROWS``)."""
        return last_page(self.total, self.per_page)

    @property
    def truncated(self) -> bool:
        """More rows matched than the pages reach."""
        return self.total > self.pages * self.per_page

    @property
    def first(self) -> int:
        """1-based position of the page's first row (0 when there is none)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """1-based position of the page's last row."""
        return (self.page - 1) * self.per_page + len(self.rows)


def last_page(total: int, per_page: int) -> int:
    """The last page that can be shown: the one holding the last row, or the last within ``MAX_PAGED_ROWS``."""
    return max(1, min(-(-total // per_page), MAX_PAGED_ROWS // per_page))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """The page number within 1 … last page."""
    return min(max(page, 1), last_page(total, per_page))


def _run(stmt):
    return db.session.execute(stmt)


def prefix(column, key: str):
    """``column`` starts with ``key``, as an index range condition."""
    return and_(column >= key, column < key + TOP)


# ---------------------------------------------------------------------------- users

def user_search(q: str):
    """WHERE term: the user's userName, displayName, an e-mail address, given or family name starts with ``q``
    (case-insensitively), or its externalId or id is exactly ``q``."""
    key = fold(q)
    parts = [select(U.c.id).where(prefix(U.c.user_name_key, key)),
             select(U.c.id).where(prefix(U.c.display_name_key, key)),
             select(U.c.id).where(U.c.external_id == q),
             select(U.c.id).where(U.c.id == q)]
    parts += [select(UV.c.resource_id).where(UV.c.attr == attr, UV.c.sub == sub, prefix(UV.c.key, key))
              for attr, sub in SEARCHED_VALUES]
    return U.c.id.in_(union_all(*parts))


def user_where(listing: Listing) -> list:
    """WHERE terms of a users list: the search and the status filter."""
    where = []
    if listing.q:
        where.append(user_search(listing.q))
    if listing.status == "active":  # a user whose client never sent ``active`` is not disabled: counted as active
        where.append(or_(U.c.active == true(), U.c.active.is_(None)))
    elif listing.status == "inactive":
        where.append(U.c.active == false())
    return where


def order_by(column, id_column, descending: bool) -> list:
    """The sort column, then the id as a tiebreak in the same direction (so an index serves both ways)."""
    return [column.desc(), id_column.desc()] if descending else [column.asc(), id_column.asc()]


def users_count_statement(listing: Listing) -> Select:
    """How many users the list matches."""
    return select(func.count()).select_from(U).where(*user_where(listing))


def users_page_statement(listing: Listing, page: int) -> Select:
    """The rows of one page of users (the list's columns only; ``data`` is read for the page's rows alone)."""
    column = USER_SORTS.get(listing.sort, U.c.user_name_key)
    return (select(U.c.id, U.c.user_name, U.c.display_name, U.c.external_id, U.c.active, U.c.created_at,
                   U.c.updated_at)
            .where(*user_where(listing)).order_by(*order_by(column, U.c.id, listing.descending))
            .limit(USERS_PER_PAGE).offset((page - 1) * USERS_PER_PAGE))


def list_users(listing: Listing) -> Page:
    """A page of users with their primary e-mail address; the page number is kept within bounds."""
    total = _run(users_count_statement(listing)).scalar_one()
    page = clamp_page(listing.page, total, USERS_PER_PAGE)
    rows = list(_run(users_page_statement(listing, page)).mappings())
    emails = {}
    if rows:
        for rid, data in _run(select(U.c.id, U.c.data).where(U.c.id.in_([r["id"] for r in rows]))):
            emails[rid] = primary_email(data)
    return Page([{**r, "email": emails.get(r["id"])} for r in rows], total, page, USERS_PER_PAGE)


def primary_email(data: dict | None) -> str | None:
    """The primary e-mail address, else the work one, else the first."""
    emails = [e for e in (data or {}).get("emails") or [] if isinstance(e, dict) and e.get("value")]
    for test in (lambda e: e.get("primary") is True, lambda e: str(e.get("type", "")).lower() == "work",
                 lambda e: True):
        for e in emails:
            if test(e):
                return e["value"]
    return None


def user_row(rid: str):
    """The stored user (all columns), or None."""
    return _run(select(U).where(U.c.id == rid)).first()


def user_brief(rid: str):
    """id, userName and displayName of a user, or None."""
    return _run(select(U.c.id, U.c.user_name, U.c.display_name).where(U.c.id == rid)).first()


def manager_id(data: dict) -> str | None:
    """The id of the user's manager (enterprise extension), if one is set."""
    manager = (data.get(ENTERPRISE_USER) or {}).get("manager")
    value = manager.get("value") if isinstance(manager, dict) else None
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------- groups

def group_where(listing: Listing) -> list:
    """WHERE terms: the group's displayName starts with ``q`` (case-insensitively), or its externalId or id is
    exactly ``q``."""
    if not listing.q:
        return []
    return [G.c.id.in_(union_all(select(G.c.id).where(prefix(G.c.display_name_key, fold(listing.q))),
                                 select(G.c.id).where(G.c.external_id == listing.q),
                                 select(G.c.id).where(G.c.id == listing.q)))]


def groups_count_statement(listing: Listing) -> Select:
    """How many groups the list matches."""
    return select(func.count()).select_from(G).where(*group_where(listing))


def groups_page_statement(listing: Listing, page: int) -> Select:
    """The rows of one page of groups (no JSON, no members)."""
    column = GROUP_SORTS.get(listing.sort, G.c.display_name_key)
    return (select(G.c.id, G.c.display_name, G.c.external_id, G.c.created_at, G.c.updated_at)
            .where(*group_where(listing)).order_by(*order_by(column, G.c.id, listing.descending))
            .limit(GROUPS_PER_PAGE).offset((page - 1) * GROUPS_PER_PAGE))


def member_counts_statement(group_ids: list[str]) -> Select:
    """One grouped COUNT for a page of groups (the members table's primary key starts with group_id)."""
    return (select(GM.c.group_id, func.count()).where(GM.c.group_id.in_(group_ids))
            .group_by(GM.c.group_id))


def list_groups(listing: Listing) -> Page:
    """A page of groups with their member counts."""
    total = _run(groups_count_statement(listing)).scalar_one()
    page = clamp_page(listing.page, total, GROUPS_PER_PAGE)
    rows = list(_run(groups_page_statement(listing, page)).mappings())
    counts = dict(_run(member_counts_statement([r["id"] for r in rows])).all()) if rows else {}
    return Page([{**r, "members": counts.get(r["id"], 0)} for r in rows], total, page, GROUPS_PER_PAGE)


def group_row(gid: str):
    """The stored group (all columns), or None."""
    return _run(select(G).where(G.c.id == gid)).first()


def member_count(gid: str) -> int:
    """How many direct members a group has (a range of the members table's primary key)."""
    return _run(select(func.count()).select_from(GM).where(GM.c.group_id == gid)).scalar_one()


@dataclass
class MemberPage:
    """One page of a group's members, cut by key: what comes before and after it is known, not its number."""

    rows: list
    total: int
    has_prev: bool
    has_next: bool

    @property
    def first_key(self) -> str | None:
        """The member id the page starts with."""
        return self.rows[0]["member_id"] if self.rows else None

    @property
    def last_key(self) -> str | None:
        """The member id the page ends with."""
        return self.rows[-1]["member_id"] if self.rows else None


def members_page_statement(gid: str, after: str | None = None, before: str | None = None,
                           limit: int = MEMBERS_PER_PAGE) -> Select:
    """Up to ``limit`` members of a group after (or, going back, before) a member id, joined to users and groups for
    their names. The page is cut from the primary key first (a subquery with a key range and LIMIT), so only its
    rows are joined; rows come in member id order, descending when going back."""
    backwards = before is not None
    where = [GM.c.group_id == gid]
    if after is not None:
        where.append(GM.c.member_id > after)
    if backwards:
        where.append(GM.c.member_id < before)
    order = GM.c.member_id.desc() if backwards else GM.c.member_id.asc()
    cut = (select(GM.c.member_id, GM.c.member_type, GM.c.display).where(*where).order_by(order).limit(limit)
           .subquery("page"))
    member_user = U.alias("member_user")
    member_group = G.alias("member_group")
    return (select(cut.c.member_id, cut.c.member_type, cut.c.display, member_user.c.user_name,
                   member_user.c.display_name.label("user_display_name"),
                   member_group.c.display_name.label("group_display_name"),
                   (member_user.c.id.isnot(None) | member_group.c.id.isnot(None)).label("exists"))
            .select_from(cut)
            .outerjoin(member_user, member_user.c.id == cut.c.member_id)
            .outerjoin(member_group, member_group.c.id == cut.c.member_id)
            .order_by(cut.c.member_id.desc() if backwards else cut.c.member_id))


def group_members(gid: str, after: str | None = None, before: str | None = None, last: bool = False) -> MemberPage:
    """The first page of members, the page after ``after``, the one before ``before``, or the ``last`` one."""
    total = member_count(gid)
    if last:
        before, after = TOP, None
    elif before is not None:
        after = None
    rows = list(_run(members_page_statement(gid, after, before, MEMBERS_PER_PAGE + 1)).mappings())
    more = len(rows) > MEMBERS_PER_PAGE
    rows = rows[:MEMBERS_PER_PAGE]
    if before is not None and not more and not last:
        return group_members(gid)  # back at the start: the first page, full
    if before is not None:
        rows.reverse()
        page = MemberPage(rows, total, has_prev=more, has_next=not last)
    else:
        page = MemberPage(rows, total, has_prev=after is not None, has_next=more)
    if not rows and (after is not None or before is not None) and total:
        return group_members(gid)  # a key past either end (members removed meanwhile, or a made-up key)
    return page


def groups_of_user(uid: str) -> list:
    """The groups a user is a direct member of, by name."""
    return list(_run(select(G.c.id, G.c.display_name)
                     .select_from(GM).join(G, G.c.id == GM.c.group_id)
                     .where(GM.c.member_id == uid).order_by(G.c.display_name_key, G.c.id)).mappings())


# ---------------------------------------------------------------------------- change history

def history_statement(rid: str, limit: int = HISTORY_LIMIT) -> Select:
    """Successful writes to one resource, newest first (index ``(resource_id, at)``)."""
    return (select(ACT.c.id, ACT.c.at, ACT.c.token_id, ACT.c.token_name, ACT.c.method, ACT.c.status,
                   ACT.c.changes)
            .where(ACT.c.resource_id == rid, ACT.c.method.in_(WRITE_METHODS), ACT.c.status >= 200,
                   ACT.c.status < 300)
            .order_by(ACT.c.at.desc(), ACT.c.id.desc()).limit(limit))


def history(rid: str, limit: int = HISTORY_LIMIT) -> list:
    """A resource's change history, newest first (at most ``limit`` rows)."""
    return list(_run(history_statement(rid, limit)).mappings())


def with_page(listing: Listing, page: int) -> Listing:
    """The listing with the page number it was really served at."""
    return replace(listing, page=page)

"""The SQL of the monitoring pages. Every query is bounded: counts come from the database (never by loading rows),
lists are pages of at most ``PER_PAGE`` rows continued by a keyset cursor (no OFFSET that grows with the page), and
the dashboard reads the activity table by its ``hour`` column only.

Why these shapes stay fast with 100,000 users and a million activity rows:

- The chart and both error rates come from one ``GROUP BY hour`` over the last 168 hours, an index-only range scan
  of ``ix_scim_activity_hour_status (hour, status)`` (migration 0006).
- Inactive users are counted on the partial index ``ix_scim_users_inactive`` (only inactive users are in it, so it
  costs active users' writes nothing); all users are counted on the smallest index.
- "Last request per token" is one indexed lookup per token on ``ix_scim_activity_token_at (token_id, at)``.
- List pages walk ``(at, id)`` newest first on ``ix_scim_activity_at`` — or on ``(status, at)`` /
  ``(token_id, at)`` when those filters apply — and stop after one page. A status range is one such walk per
  status code that occurs (see ``activity_page``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, false, func, or_, select

from ..activity import hour_of
from ..extensions import db
from ..models import AuditEvent, ScimActivity, ScimGroup, ScimToken, ScimUser
from ..scim.values import utcnow
from .filters import ActivityFilter, AuditFilter

PER_PAGE = 50
CHART_HOURS = 168  # 7 days
MAX_TOKENS_SHOWN = 100

A = ScimActivity.__table__
E = AuditEvent.__table__
U = ScimUser.__table__
G = ScimGroup.__table__
T = ScimToken.__table__


@dataclass(frozen=True)
class Rate:
    """Requests and errors (status 400 and above) in a period."""

    requests: int
    errors: int

    @property
    def percent(self) -> float | None:
        """Errors as a percentage of requests (None when there were no requests)."""
        return round(100.0 * self.errors / self.requests, 1) if self.requests else None


def _scalar(stmt) -> int:
    return int(db.session.execute(stmt).scalar() or 0)


def directory_counts() -> dict:
    """Users (all, active, inactive) and groups. Users with no ``active`` attribute count as active (RFC 7643
    §4.1.1 gives it no default, and identity providers always send it)."""
    users = _scalar(select(func.count()).select_from(U))
    inactive = _scalar(select(func.count()).select_from(U).where(U.c.active == false()))
    groups = _scalar(select(func.count()).select_from(G))
    return {"users": users, "active": users - inactive, "inactive": inactive, "groups": groups}


def hourly(now: datetime | None = None, hours: int = CHART_HOURS) -> list[dict]:
    """Requests and errors for each of the last ``hours`` hours (oldest first, the current hour last; empty hours
    included), from one GROUP BY on the ``hour`` column."""
    last = hour_of(now or utcnow())
    first = last - hours + 1
    stmt = (select(A.c.hour, func.count(), func.sum(case((A.c.status >= 400, 1), else_=0)))
            .where(A.c.hour >= first, A.c.hour <= last).group_by(A.c.hour))
    found = {int(h): (int(n), int(e or 0)) for h, n, e in db.session.execute(stmt)}
    return [{"hour": h, "requests": found.get(h, (0, 0))[0], "errors": found.get(h, (0, 0))[1]}
            for h in range(first, last + 1)]


def rates(buckets: list[dict]) -> dict[str, Rate]:
    """Error rates of the last 24 hours and the last 7 days (by hour buckets: the current hour and the ones
    before it)."""
    def total(rows):
        return Rate(sum(r["requests"] for r in rows), sum(r["errors"] for r in rows))
    return {"day": total(buckets[-24:]), "week": total(buckets[-CHART_HOURS:])}


def last_requests() -> list:
    """Every token (newest first, at most ``MAX_TOKENS_SHOWN``) with the time and status of its last request."""
    latest = (select(A.c.id).where(A.c.token_id == T.c.id).order_by(A.c.at.desc(), A.c.id.desc()).limit(1)
              .correlate(T).scalar_subquery())
    tokens = (select(T.c.id, T.c.name, T.c.revoked_at, T.c.expires_at, latest.label("activity_id"))
              .order_by(T.c.created_at.desc(), T.c.id.desc()).limit(MAX_TOKENS_SHOWN).subquery())
    stmt = (select(tokens, A.c.at, A.c.status, A.c.method, A.c.path)
            .select_from(tokens.outerjoin(A, A.c.id == tokens.c.activity_id))
            .order_by(tokens.c.id.desc()))
    return db.session.execute(stmt).all()


def dashboard(now: datetime | None = None) -> dict:
    """Everything the dashboard shows."""
    buckets = hourly(now)
    return {"counts": directory_counts(), "buckets": buckets, "rates": rates(buckets), "tokens": last_requests()}


# ---------------------------------------------------------------------------- lists

def _time_range(column, times) -> list:
    where = []
    if times.since is not None:
        where.append(column >= times.since)
    if times.until is not None:
        where.append(column < times.until)
    return where


def _after(at_col, id_col, after: tuple[datetime, int] | None) -> list:
    """Keyset condition: rows older than the last one shown ((at, id) < cursor, newest first)."""
    if after is None:
        return []
    at, row_id = after
    return [or_(at_col < at, and_(at_col == at, id_col < row_id))]


def status_codes(low: int, high: int) -> list[int]:
    """The status codes between ``low`` and ``high`` that occur, found by index seeks (one ``min()`` per code, a
    loose index scan of ``(status, at)``) rather than by reading the rows."""
    codes: list[int] = []
    while len(codes) < 100:
        nxt = db.session.execute(select(func.min(A.c.status)).where(A.c.status > (codes[-1] if codes else low - 1),
                                                                     A.c.status <= high)).scalar()
        if nxt is None:
            break
        codes.append(int(nxt))
    return codes


def activity_page(f: ActivityFilter, after: tuple[datetime, int] | None) -> tuple[list, tuple | None]:
    """One page of activity rows, newest first, and the cursor of the next page (None on the last page).

    A range of statuses (errors only, a class such as 2xx) is read as one walk per status code that occurs, each in
    order on ``(status, at)``, merged here: a range condition cannot use that index for the order, and the database
    would otherwise sort every matching row (seconds for "2xx" over a million rows) to return fifty."""
    where = _time_range(A.c.at, f.times) + _after(A.c.at, A.c.id, after)
    if f.token_id is not None:
        where.append(A.c.token_id == f.token_id)
    if f.method:
        where.append(A.c.method == f.method)
    if f.resource_type:
        where.append(A.c.resource_type == f.resource_type)
    low, high = f.status_low, f.status_high
    if f.errors_only:
        low, high = max(low or 400, 400), high if high is not None else 999
    stmt = (select(A.c.id, A.c.at, A.c.token_id, A.c.token_name, A.c.method, A.c.path, A.c.resource_type,
                   A.c.resource_id, A.c.status, A.c.duration_ms, A.c.scim_type, A.c.detail)
            .where(*where).order_by(A.c.at.desc(), A.c.id.desc()).limit(PER_PAGE + 1))
    if low is None:
        rows = db.session.execute(stmt).all()
    else:
        rows = []
        for code in (status_codes(low, high) if low <= high else []):
            rows += db.session.execute(stmt.where(A.c.status == code)).all()
        rows = sorted(rows, key=lambda r: (r.at, r.id), reverse=True)[:PER_PAGE + 1]
    more = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    return rows, ((rows[-1].at, rows[-1].id) if more else None)


def activity_entry(entry_id: int):
    """One activity row with everything recorded, or None."""
    return db.session.execute(select(A).where(A.c.id == entry_id)).first()


def resource_exists(resource_type: str | None, rid: str | None) -> bool:
    """Does the user or group this request was about still exist?"""
    table = {"User": U, "Group": G}.get(resource_type or "")
    if table is None or not rid:
        return False
    return db.session.execute(select(table.c.id).where(table.c.id == rid)).first() is not None


def token_choices() -> list:
    """(id, name, revoked) of the tokens for the filter's list, newest first."""
    return db.session.execute(select(T.c.id, T.c.name, T.c.revoked_at).order_by(T.c.created_at.desc(), T.c.id.desc())
                              .limit(MAX_TOKENS_SHOWN)).all()


def audit_page(f: AuditFilter, after: tuple[datetime, int] | None) -> tuple[list, tuple | None]:
    """One page of audit events, newest first, and the cursor of the next page."""
    where = _time_range(E.c.at, f.times) + _after(E.c.at, E.c.id, after)
    if f.action:
        where.append(E.c.action == f.action)
    if f.actor:
        # The audit log holds one row per admin action: a case-insensitive substring match over it stays cheap,
        # and the page stops at PER_PAGE + 1 rows.
        where.append(func.lower(E.c.actor).contains(f.actor.lower(), autoescape=True))
    stmt = select(E).where(*where).order_by(E.c.at.desc(), E.c.id.desc()).limit(PER_PAGE + 1)
    rows = db.session.execute(stmt).all()
    more = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    return rows, ((rows[-1].at, rows[-1].id) if more else None)


def audit_actions() -> list[str]:
    """The actions recorded so far (for the filter's list; read from the index on ``action``)."""
    return [a for (a,) in db.session.execute(select(E.c.action).distinct().order_by(E.c.action).limit(200))]

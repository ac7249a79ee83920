"""What the activity and audit lists are asked for, read from query-string arguments. Pure: no Flask, no database.

Anything a person (or a crafted link) can put in the query string is checked here: a value that does not parse is
dropped with a message saying why, so a bad filter shows the page with a note, never a 500.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESOURCE_TYPES = ("User", "Group")
STATUS = re.compile(r"^\s*(?:([1-5])(?:xx|XX)|([1-5][0-9]{2}))\s*$")
TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6})_(\d{1,18})$")
MAX_TEXT = 200


@dataclass(frozen=True)
class TimeRange:
    """``since`` inclusive, ``until`` exclusive (a date alone as "to" means up to the end of that day)."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ActivityFilter:
    """The sync-activity list's filters; ``args`` is what to put back in links (only the values that parsed)."""

    errors_only: bool = False
    token_id: int | None = None
    status_low: int | None = None  # inclusive
    status_high: int | None = None  # inclusive
    method: str | None = None
    resource_type: str | None = None
    times: TimeRange = TimeRange()
    args: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Does any filter apply?"""
        return bool(self.args)


@dataclass(frozen=True)
class AuditFilter:
    """The audit log's filters."""

    action: str | None = None
    actor: str | None = None
    times: TimeRange = TimeRange()
    args: dict = field(default_factory=dict)


def _text(args: Mapping, name: str) -> str:
    return " ".join(str(args.get(name) or "").split())[:MAX_TEXT]


def parse_time(text: str, end: bool = False) -> datetime | None:
    """A UTC time from a form field (``2026-12-04``, ``2026-12-04T09:30``, …); None when it does not parse.

    With ``end``, a date alone means the end of that day (the next midnight, exclusive)."""
    text = text.strip().replace("Z", "")
    for fmt in TIME_FORMATS:
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if value.year < 1971 or value.year > 9998:
            return None
        return value + timedelta(days=1) if end and fmt == "%Y-%m-%d" else value
    return None


def _times(args: Mapping, kept: dict, problems: list[str]) -> TimeRange:
    since = until = None
    for name, end in (("from", False), ("to", True)):
        raw = _text(args, name)
        if not raw:
            continue
        value = parse_time(raw, end)
        if value is None:
            problems.append(f"“{raw}” is not a time: use the form 2026-12-04 or 2026-12-04T09:30 (UTC).")
            continue
        kept[name] = raw
        if end:
            until = value
        else:
            since = value
    if since and until and since >= until:
        problems.append("The “from” time is not before the “to” time, so nothing can match.")
    return TimeRange(since, until)


def activity_filter(args: Mapping) -> tuple[ActivityFilter, list[str]]:
    """The filters in ``args`` (a request's query string) and messages about those that were dropped."""
    kept: dict = {}
    problems: list[str] = []
    errors_only = _text(args, "errors") in ("1", "on", "true", "yes")
    if errors_only:
        kept["errors"] = "1"
    token_id = None
    raw = _text(args, "token")
    if raw:
        if raw.isdigit() and len(raw) <= 12:
            token_id, kept["token"] = int(raw), raw
        else:
            problems.append("Unknown token: choose one from the list.")
    low = high = None
    raw = _text(args, "status")
    if raw:
        m = STATUS.match(raw)
        if m is None:
            problems.append(f"“{raw}” is not a status: give a code such as 404, or a class such as 4xx.")
        else:
            low = int(m.group(1)) * 100 if m.group(1) else int(m.group(2))
            high = low + 99 if m.group(1) else low
            kept["status"] = raw.strip().lower()
    method = _text(args, "method").upper() or None
    if method and method not in METHODS:
        problems.append(f"“{method}” is not a method scimapp records: choose one from the list.")
        method = None
    if method:
        kept["method"] = method
    resource_type = _text(args, "type") or None
    if resource_type and resource_type not in RESOURCE_TYPES:
        problems.append("Unknown resource type: choose User or Group.")
        resource_type = None
    if resource_type:
        kept["type"] = resource_type
    times = _times(args, kept, problems)
    return ActivityFilter(errors_only, token_id, low, high, method, resource_type, times, kept), problems


def audit_filter(args: Mapping) -> tuple[AuditFilter, list[str]]:
    """The audit log's filters in ``args`` and messages about those that were dropped."""
    kept: dict = {}
    problems: list[str] = []
    action = _text(args, "action")[:64] or None
    actor = _text(args, "actor") or None
    if action:
        kept["action"] = action
    if actor:
        kept["actor"] = actor
    times = _times(args, kept, problems)
    return AuditFilter(action, actor, times, kept), problems


def cursor(value: str | None) -> tuple[datetime, int] | None:
    """The (time, id) a "next page" link continues after, or None for the first page (also when it is garbled)."""
    m = CURSOR.match(value or "")
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f"), int(m.group(2))
    except ValueError:
        return None


def make_cursor(at: datetime, row_id: int) -> str:
    """The "next page" argument for a list that ended at this row."""
    return f"{at:%Y-%m-%dT%H:%M:%S.%f}_{row_id}"

"""Scalar values: coercion of what clients send to the RFC 7643 §2.3 data types, and the comparison keys that
make case-insensitive matching identical on SQLite and PostgreSQL.

PURE: no Flask, no database.
"""
from __future__ import annotations

import math
import re
import reprlib
import unicodedata
from datetime import datetime, timedelta, timezone

from .attributes import Attribute

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


class ValueProblem(ValueError):
    """A value does not fit its attribute; the message names the attribute and says why."""


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlevel = 2


def shown(value) -> str:
    """A value as error messages show it: short, whatever its size or depth."""
    return _short.repr(value)


def fold(text: str) -> str:
    """Caseless key of a string (Unicode NFKC + casefold), computed in Python so both databases agree.

    SQLite's NOCASE and lower() fold ASCII only and PostgreSQL's lower() depends on the server locale, so every
    case-insensitive comparison in this service compares keys made here (RFC 7643 §2.2 caseExact=false).
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def parse_datetime(text: str) -> datetime:
    """Parse an xsd:dateTime (RFC 7643 §2.3.5) into an aware UTC datetime; no zone means UTC."""
    m = _DATETIME.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueProblem(f"{shown(text)} is not a valid dateTime (expected e.g. 2024-05-01T12:00:00Z)")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
                      tzinfo=timezone.utc)
    except ValueError as exc:
        raise ValueProblem(f"{shown(text)} is not a valid dateTime ({exc})") from None
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueProblem(f"{shown(text)} has an impossible time-zone offset")
        try:
            dt -= sign * timedelta(hours=hours, minutes=minutes)
        except OverflowError:
            raise ValueProblem(f"{shown(text)} is out of the supported date range") from None
    return dt


def datetime_key(dt: datetime) -> str:
    """Sortable text key of a datetime: UTC, microseconds, fixed width."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_datetime(dt: datetime) -> str:
    """How meta.created/lastModified are shown: UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def utcnow() -> datetime:
    """Naive UTC now, truncated to milliseconds so what is shown equals what is stored and filtered."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_bool(value, where: str) -> bool:
    """A boolean, also from the strings "True"/"false" (any case) that Entra sends (its expressions yield text)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueProblem(f"{where} must be a boolean, got {shown(value)}")


def coerce_scalar(attr: Attribute, value, where: str):
    """Check and coerce one non-complex value for ``attr``; strings are kept exactly as sent."""
    t = attr.type
    if t == "boolean":
        return to_bool(value, where)
    if t in ("string", "reference", "binary"):
        if not isinstance(value, str):
            raise ValueProblem(f"{where} must be a string, got {type(value).__name__}")
        if "\x00" in value:  # PostgreSQL cannot store it, and no identity data contains it
            raise ValueProblem(f"{where} contains a NUL character")
        return value
    if t == "dateTime":
        if not isinstance(value, str):
            raise ValueProblem(f"{where} must be a dateTime string, got {type(value).__name__}")
        try:
            parse_datetime(value)
        except ValueProblem as exc:
            raise ValueProblem(f"{where}: {exc}") from None
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueProblem(f"{where} must be an integer, got {shown(value)}")
        try:
            number = int(value)
        except ValueError:
            raise ValueProblem(f"{where} must be an integer, got {shown(value)}") from None
        return _in_range(number, where)
    if t == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueProblem(f"{where} must be a number, got {shown(value)}")
        try:
            number = float(value) if not isinstance(value, int) else value
        except ValueError:
            raise ValueProblem(f"{where} must be a number, got {shown(value)}") from None
        return _in_range(number, where)
    raise ValueProblem(f"{where} has unsupported type {t}")


def _in_range(number: int | float, where: str) -> int | float:
    """A number the filter index can hold (a finite double) and JSON can carry: the parser reads 1e400 as
    infinity and accepts NaN, which would be answered as the non-JSON ``Infinity``/``NaN``, and an integer of 400
    digits overflowed when indexed (a 500)."""
    try:
        finite = math.isfinite(float(number))
    except OverflowError:
        finite = False
    if not finite:
        raise ValueProblem(f"{where} must be a finite number within ±1.7e308, got {shown(number)}")
    return number


def compare_key(attr: Attribute, value) -> str | float | None:
    """The key a stored value is indexed and compared by (see ``fold``); None when it cannot be indexed."""
    t = attr.type
    if value is None:
        return None
    if t == "boolean":
        return "true" if value else "false"
    if t in ("integer", "decimal"):
        return float(value)
    if t == "dateTime":
        return datetime_key(parse_datetime(value))
    if t == "binary":
        return None  # not indexed: RFC 7644 §3.4.2.2 gives binary no ordering, and values are large
    if not isinstance(value, str) or value == "":
        return None
    return value if attr.case_exact else fold(value)

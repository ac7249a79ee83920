"""Database tables (SQLAlchemy 2.x typed models). Portable constructs only: the same schema runs on SQLite and
PostgreSQL.

Why the directory is shaped like this:

- Each resource row keeps the client's representation in ``data`` (values echoed exactly as sent: Entra re-PATCHes
  anything a server normalises) plus columns for what is looked up often (``user_name_key`` etc.).
- Every other filterable value is also written to a narrow index table (``*_values``: one row per element and
  sub-attribute, holding a comparison key made in Python), so any filter compiles to an indexed ``IN (SELECT …)``
  and never loads rows into Python.
- Group members live in their own table: adding or removing one is one row, whatever the group's size.
- Uniqueness is enforced by unique indexes, not by check-then-insert (which races under waitress's threads).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

# Comparison keys and ids compare and sort by code point on both databases: SQLite does by default, and
# PostgreSQL does with the "C" collation (its default collation follows the server's locale, so "b" > "C" there).
KEY = Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
ID = String(36).with_variant(postgresql.VARCHAR(36, collation="C"), "postgresql")


class ScimToken(db.Model):
    """A bearer token for the SCIM API. Only the SHA-256 of the secret is stored."""

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # first characters, to tell tokens apart in lists
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class ScimUser(db.Model):
    """A provisioned User (RFC 7643 §4.1)."""

    __tablename__ = "scim_users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_name: Mapped[str] = mapped_column(Text)
    user_name_key: Mapped[str] = mapped_column(KEY, unique=True)  # values.fold(userName): RFC 7643 caseExact=false
    external_id: Mapped[str | None] = mapped_column(KEY, index=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    display_name_key: Mapped[str | None] = mapped_column(KEY, index=True)
    active: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict] = mapped_column(JSON)
    # Not indexed: only the rare cleanup by token reads it, and every index costs each create a page write.
    created_by_token_id: Mapped[int | None] = mapped_column(ForeignKey("scim_tokens.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("ix_scim_users_order", "created_at", "id"),
        # Only inactive users are in it (partial), so active users' writes never touch it: the dashboard counts
        # inactive users on it instead of scanning the table.
        Index("ix_scim_users_inactive", "id", sqlite_where=text("active = 0"), postgresql_where=text("active = false")),
    )


class ScimGroup(db.Model):
    """A provisioned Group (RFC 7643 §4.2); its members are rows of ScimGroupMember."""

    __tablename__ = "scim_groups"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    display_name_key: Mapped[str] = mapped_column(KEY, index=True)
    external_id: Mapped[str | None] = mapped_column(KEY, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict] = mapped_column(JSON)
    # Not indexed: only the rare cleanup by token reads it, and every index costs each create a page write.
    created_by_token_id: Mapped[int | None] = mapped_column(ForeignKey("scim_tokens.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_scim_groups_order", "created_at", "id"),)


class ScimGroupMember(db.Model):
    """One membership: ``member_id`` (a user or a group) is in ``group_id``."""

    __tablename__ = "scim_group_members"

    group_id: Mapped[str] = mapped_column(ID, ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    member_type: Mapped[str] = mapped_column(String(5))  # "User" or "Group"
    display: Mapped[str | None] = mapped_column(Text)  # as the client sent it, if it did

    __table_args__ = (Index("ix_scim_group_members_member", "member_id", "group_id"),)


def _values_table(name: str, parent: str):
    """Index rows for one resource type: (resource, attribute, element, sub-attribute) -> comparison key."""
    columns = {
        "__tablename__": name,
        "__doc__": f"Filter index of {parent}: one row per element and sub-attribute value.",
        "resource_id": mapped_column(ID, ForeignKey(f"{parent}.id", ondelete="CASCADE"), primary_key=True),
        "attr": mapped_column(KEY, primary_key=True),  # lower-case; extensions as urn:…:attr
        "idx": mapped_column(Integer, primary_key=True),  # element number (0 when single-valued)
        "sub": mapped_column(KEY, primary_key=True),  # lower-case sub-attribute, "" if none
        "key": mapped_column(KEY, nullable=True),  # values.compare_key for text, booleans and dateTimes
        "num": mapped_column(Float, nullable=True),  # for integer and decimal attributes
        "__table_args__": (
            Index(f"ix_{name}_key", "attr", "sub", "key", "resource_id"),
            # only numeric values (custom extensions) need this one: partial, so other rows cost it nothing
            Index(f"ix_{name}_num", "attr", "sub", "num", "resource_id", sqlite_where=text("num IS NOT NULL"),
                  postgresql_where=text("num IS NOT NULL")),
        ),
    }
    return type("".join(p.title() for p in name.split("_")), (db.Model,), columns)


ScimUserValue = _values_table("scim_user_values", "scim_users")
ScimGroupValue = _values_table("scim_group_values", "scim_groups")


class AuditEvent(db.Model):
    """A security-relevant event (token created or revoked, sign-in, …), written by ``audit.record``."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))


class AdminUser(db.Model):
    """Someone who signed in with OpenID Connect and was admitted as an admin (claims kept from the last sign-in,
    so the admin rules can be checked again on every request)."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    claims: Mapped[dict] = mapped_column(JSON)
    first_login_at: Mapped[datetime] = mapped_column(DateTime)
    last_login_at: Mapped[datetime] = mapped_column(DateTime)
    # Bumped at sign-out: sessions carry the generation they were made in, so a copied cookie dies with it.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_admin_users_identity", "issuer", "subject", unique=True),)

    # Flask-Login's user interface
    is_active = True
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        """Signed in (whether still an admin is decided per request)."""
        return True

    def get_id(self) -> str:
        """Session key of this admin."""
        return str(self.id)

    @property
    def label(self) -> str:
        """How the admin is shown and recorded: email, else name, else subject."""
        return self.email or self.name or self.subject


class AppSetting(db.Model):
    """A setting saved from the web (first-run sign-in set-up); configuration files and environment win."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str | None] = mapped_column(String(255))


class ScimActivity(db.Model):
    """One SCIM request as the sync-activity view shows it (written in batches, see ``activity.py``).

    ``changes`` lists what a successful write changed (attribute names, member counts), which makes the change
    history of a user or group. No request body is kept unless an admin turned on body capture for errors."""

    __tablename__ = "scim_activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    hour: Mapped[int] = mapped_column(Integer)  # hours since 1970-01-01 UTC: the chart's buckets, on any database
    token_id: Mapped[int | None] = mapped_column(Integer)
    token_name: Mapped[str | None] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    resource_type: Mapped[str | None] = mapped_column(String(20))
    resource_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    scim_type: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[list | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)  # only for errors, only when capture is on

    __table_args__ = (
        Index("ix_scim_activity_at", "at"),
        Index("ix_scim_activity_status_at", "status", "at"),
        Index("ix_scim_activity_token_at", "token_id", "at"),
        Index("ix_scim_activity_resource", "resource_id", "at"),
        # (hour, status): the dashboard's chart and error rates are an index-only scan of the last 168 hours.
        Index("ix_scim_activity_hour_status", "hour", "status"),
    )

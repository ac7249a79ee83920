"""Bring the database schema to the newest migration (Alembic through Flask-Migrate), at start-up or on demand.

Several servers may start at once against one PostgreSQL database, and a server may start while another process
has the SQLite file open: the upgrade runs under a lock (a PostgreSQL advisory lock, SQLite's write lock), and
whoever gets it second finds the work done. When the database is already current this costs one small query.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text

from .database import intending_to_write
from .extensions import db

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_ID = 0x5C1A4B  # PostgreSQL advisory lock key for schema upgrades


@lru_cache(maxsize=1)
def head_revisions() -> frozenset:
    """The newest revision(s) of the bundled migrations."""
    return frozenset(ScriptDirectory.from_config(Config(str(MIGRATIONS / "alembic.ini"))).get_heads())


def current_revisions() -> frozenset:
    """The revision(s) the database is at (empty for a new database)."""
    with db.engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def _state(conn) -> tuple[frozenset, bool]:
    """The database's revision(s), and whether scimapp's tables exist, read on one connection."""
    from sqlalchemy import inspect
    return (frozenset(MigrationContext.configure(conn).get_current_heads()),
            "scim_users" in inspect(conn).get_table_names())


def _upgrade_locked(conn) -> bool:
    """With the upgrade lock held (so no other process is half-way through): upgrade when still behind."""
    current, has_tables = _state(conn)
    if current == head_revisions():
        return False  # another process did it while we waited for the lock
    if not current and has_tables:
        raise RuntimeError("the database has scimapp's tables but no migration history (it was made by a "
                           "pre-release build); back it up and start from a new database")
    return True


def upgrade_to_head() -> bool:
    """Upgrade when the database is behind; True when this process did the upgrade."""
    if current_revisions() == head_revisions():
        return False
    from flask_migrate import upgrade
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_ID})
            try:
                behind = _upgrade_locked(conn)
                conn.rollback()  # end the read's transaction; the lock is held by the session, not by it
                if behind:
                    upgrade(directory=str(MIGRATIONS))
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_ID})
                conn.commit()
    else:
        # SQLite: every transaction in this block starts with BEGIN IMMEDIATE, so two starting servers take
        # turns. The check holds the write lock while it reads; if another process upgrades between the check
        # and the upgrade, Alembic (reading the version under the lock again) finds nothing to do.
        with intending_to_write():
            with db.engine.connect() as conn:
                behind = _upgrade_locked(conn)
                conn.rollback()
            if behind:
                upgrade(directory=str(MIGRATIONS))
    if behind:
        current_app.logger.info("database schema upgraded to %s", ", ".join(sorted(head_revisions())))
    return behind

"""Backups of a SQLite database while the server runs, and putting one back (SQLite's online backup API).

The backup API copies a consistent snapshot: the server may keep writing meanwhile (WAL mode lets it). A restore
also goes through the backup API, into the live file: SQLite locks the database for the copy, so a running server
waits a moment and then sees the restored data — nothing is half-copied and the server need not stop. PostgreSQL
databases are backed up with PostgreSQL's own tools (pg_dump / pg_restore); see the README.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from .database import create_private_file


class BackupError(RuntimeError):
    """A backup or restore cannot be done; the message says why and what to do instead."""


def sqlite_file(database_uri: str) -> Path:
    """The file of a SQLite database URL; BackupError for other databases."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        raise BackupError(f"this command backs up SQLite databases; for {url.get_backend_name()} use its own tools, "
                          "e.g. pg_dump --format=custom --file=scimapp.dump DBNAME (restore with pg_restore)")
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(url.database)


def integrity(path: Path) -> str:
    """SQLite's own check of a database file: "ok", or what is wrong."""
    con = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True)
    try:
        return "; ".join(row[0] for row in con.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        con.close()


def backup(database_uri: str, target: Path, busy_timeout_ms: int = 10_000) -> str:
    """Copy the live database to ``target`` (a new file) and check the copy; returns the check's result."""
    source = sqlite_file(database_uri)
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # "backups/scimapp-2026-12-03.db" in a fresh folder
    except OSError as exc:
        raise BackupError(f"cannot create the folder {target.parent}: {exc.strerror or exc}") from None
    if os.name == "posix":
        create_private_file(str(target))  # the copy holds what the database holds: 0600, as the database itself
    src = sqlite3.connect(source, timeout=busy_timeout_ms / 1000)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # one step: a consistent snapshot, even while the server writes
        # The copy inherits WAL mode, and opening it would leave -wal and -shm files beside it: make it one
        # self-contained file (a restore into the live database keeps the live database in WAL mode).
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    result = integrity(target)
    if result != "ok":
        target.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check ({result}); nothing was kept")
    return result


def restore(database_uri: str, backup_file: Path, busy_timeout_ms: int = 10_000) -> None:
    """Replace the live database's contents with a backup's, safely even while the server runs."""
    target = sqlite_file(database_uri)
    backup_file = Path(backup_file)
    if not backup_file.exists():
        raise BackupError(f"there is no backup at {backup_file}")
    result = integrity(backup_file)
    if result != "ok":
        raise BackupError(f"{backup_file} is not a sound SQLite database ({result}); nothing was changed")
    con = sqlite3.connect(f"file:{backup_file.as_posix()}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    if "scim_users" not in tables or "alembic_version" not in tables:
        raise BackupError(f"{backup_file} is not a scimapp database; nothing was changed")
    src = sqlite3.connect(f"file:{backup_file.as_posix()}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=busy_timeout_ms / 1000)
    try:
        src.backup(dst)  # holds the live database's lock for the copy: readers and writers wait, then see it whole
    except sqlite3.OperationalError as exc:
        raise BackupError(f"the database stayed busy ({exc}); try again") from None
    finally:
        dst.close()
        src.close()

"""Sync activity: every SCIM request recorded for the admin pages, without slowing the SCIM API.

A request only appends a small dict to an in-process buffer (no database work on the request's path, so reads stay
reads). A background thread writes the buffer in one batch about once a second, in a short transaction of its
own, and prunes rows older than the retention period about once an hour. If the database is busy, the batch is
kept and written next time (at most ``MAX_BUFFER`` rows wait; beyond that the oldest are dropped and the log says
so). Request bodies are never stored unless an admin turned on body capture for errors.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, insert, select

from .database import intending_to_write, is_transient, write_intent
from .extensions import db
from .fastsql import Fast
from .models import AppSetting, ScimActivity
from .scim.values import utcnow

log = logging.getLogger("scimapp.activity")
SETTINGS_KEY = "activity"
DEFAULTS = {"capture_error_bodies": False, "retention_days": 30}
MAX_BUFFER = 50_000
MAX_BODY = 20_000  # characters of a captured body
# Requests without a valid token (401) recorded per minute and process: enough to diagnose a mistyped token, not
# a way for anyone who can reach the Tenant URL to fill the database.
UNAUTHENTICATED_PER_MINUTE = 60
# Rows deleted per transaction when pruning: one DELETE of 400,000 rows held SQLite's write lock 2.5 s (SCIM writes
# wait, then 503), as after shortening the retention period or a flood of requests.
PRUNE_BATCH = 5_000
_INSERTS: dict[tuple, Fast] = {}  # the batch INSERT, by the fields the records give


def hour_of(at: datetime) -> int:
    """Hours since 1970-01-01 (UTC, naive datetimes): the chart's buckets, grouped the same on any database."""
    return int((at - datetime(1970, 1, 1)).total_seconds() // 3600)


_recorders: "weakref.WeakSet[Recorder]" = weakref.WeakSet()
_writer: threading.Thread | None = None
_writer_lock = threading.Lock()
INTERVAL = 1.0  # seconds between batches


def _write_all() -> None:
    """The one writer thread of the process: flushes every app's recorder about once a second."""
    while True:
        time.sleep(INTERVAL)
        for rec in list(_recorders):
            rec.tick()


def _ensure_writer() -> None:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = threading.Thread(target=_write_all, name="scimapp-activity", daemon=True)
            _writer.start()
            atexit.register(lambda: [rec.stop() for rec in list(_recorders)])


class Recorder:
    """An app's buffer of activity records (one writer thread per process serves every app)."""

    def __init__(self, app: Flask):
        self.app_ref = weakref.ref(app)
        self.buffer: deque = deque()
        self.lock = threading.Lock()
        # Held for a whole flush, so a flush returns only when everything queued before it is in the database (the
        # writer thread and an explicit flush must not each write half a buffer and return early).
        self.flush_lock = threading.Lock()
        self.registered = False
        self.last_prune = 0.0
        self._settings = (0.0, dict(DEFAULTS))
        self._anonymous = [0.0, 0, 0]  # window start, recorded in it, dropped in it

    # ------------------------------------------------------------------ the request side
    def record(self, entry: dict) -> None:
        """Queue one request's record (cheap: called on every SCIM request)."""
        for key, value in entry.items():
            if isinstance(value, str) and "\x00" in value:  # /Users/a%00b: PostgreSQL refuses NUL in text
                entry[key] = value.replace("\x00", "\ufffd")
        self.buffer.append(entry)
        if len(self.buffer) > MAX_BUFFER:
            dropped = 0
            while len(self.buffer) > MAX_BUFFER:
                self.buffer.popleft()
                dropped += 1
            log.warning("activity buffer full: dropped %d oldest records", dropped)
        if not self.registered:
            self.registered = True
            _recorders.add(self)
            _ensure_writer()

    def allow_unauthenticated(self) -> bool:
        """May one more request without a valid token be recorded this minute? Says in the log how many were not."""
        now = time.monotonic()
        with self.lock:
            start, kept, dropped = self._anonymous
            if now - start >= 60:
                if dropped:
                    log.warning("%d requests without a valid token were not recorded in the last minute", dropped)
                start, kept, dropped = now, 0, 0
            allowed = kept < UNAUTHENTICATED_PER_MINUTE
            self._anonymous = [start, kept + allowed, dropped + (not allowed)]
        return allowed

    def settings(self) -> dict:
        """Capture and retention settings, re-read from the database at most every 30 seconds.

        Read on a connection of its own in a plain read transaction, so that a request holding (or waiting for) the
        write lock does not take it again here; if the read fails, the last known settings stay in force."""
        read_at, value = self._settings
        if time.monotonic() - read_at > 30:
            token = write_intent.set(False)
            try:
                with self._context(), db.engine.connect() as conn:
                    row = conn.execute(select(AppSetting.value).where(AppSetting.key == SETTINGS_KEY)).first()
                value = {**DEFAULTS, **(row[0] if row else {})}
            except Exception as exc:  # a busy or unreachable database: keep the last settings, retry next time
                log.warning("could not read the activity settings (%s); keeping the last ones", type(exc).__name__)
            finally:
                write_intent.reset(token)
            self._settings = (time.monotonic(), value)
        return value

    def _context(self):
        """An application context for this recorder's app (works from the writer thread, a request or a test)."""
        app = self.app_ref()
        if app is None:
            raise RuntimeError("the app of this activity recorder is gone")
        return app.app_context()

    def forget_settings(self) -> None:
        """Read the settings again on next use (after an admin changed them)."""
        self._settings = (0.0, self._settings[1])

    # ------------------------------------------------------------------ the writer
    def tick(self) -> None:
        """One round of the writer thread: write the buffer, prune about once an hour."""
        app = self.app_ref()
        if app is None or not self.buffer and time.monotonic() - self.last_prune < 3600:
            return
        try:
            with app.app_context():
                self.flush()
                if time.monotonic() - self.last_prune > 3600:
                    self.prune()
        except Exception as exc:  # never let the writer thread die; the records wait for the next round
            # One line, no traceback: on Python 3.11 formatting a traceback runs ast.parse, whose state is not
            # thread-safe, and doing it here while a request thread compiles a URL rule can make that request fail.
            log.warning("writing sync activity failed (%s: %s); will retry", type(exc).__name__, str(exc)[:300])

    def stop(self) -> None:
        """Write what is left (at exit)."""
        app = self.app_ref()
        if app is None or not self.buffer:
            return
        try:
            with app.app_context():
                self.flush()
        except Exception as exc:
            log.warning("could not write the last sync activity records (%s: %s)", type(exc).__name__, str(exc)[:300])

    def flush(self) -> int:
        """Write the buffered records in one transaction; returns how many were written."""
        with self.flush_lock:
            with self.lock:
                rows = []
                while self.buffer:
                    rows.append(self.buffer.popleft())
            if not rows:
                return 0
            try:
                self._insert(rows)
            except Exception as exc:
                if is_transient(exc):
                    with self.lock:  # put them back for the next round, oldest first
                        self.buffer.extendleft(reversed(rows))
                    raise
                # The database refused the batch itself (a value it cannot store): write the rows one by one and
                # drop those it refuses, or that one row would be put back and fail every batch from now on.
                return self._insert_each(rows)
            return len(rows)

    def _insert(self, rows: list[dict]) -> None:
        # On the DB-API cursor (fastsql.py): Core's executemany cost about as much per record as the request that
        # made it. Rows are grouped by the fields they give (every record gives the same ones today).
        shapes: dict[tuple, list[dict]] = {}
        for row in rows:
            shapes.setdefault(tuple(row), []).append(row)
        with self._context(), intending_to_write(), db.engine.begin() as conn:
            for keys, group in shapes.items():
                statement = _INSERTS.get(keys)
                if statement is None:
                    statement = _INSERTS[keys] = Fast(insert(ScimActivity.__table__), list(keys))
                statement.execute_many(conn, group)

    def _insert_each(self, rows: list[dict]) -> int:
        written = 0
        for i, row in enumerate(rows):
            try:
                self._insert([row])
            except Exception as exc:
                if is_transient(exc):
                    with self.lock:
                        self.buffer.extendleft(reversed(rows[i:]))
                    raise
                log.warning("dropped an activity record of %s %s the database refused (%s)", row.get("method"),
                            str(row.get("path"))[:100], type(exc).__name__)
                continue
            written += 1
        return written

    def discard(self) -> None:
        """Forget what is queued and leave the writer thread (an app being thrown away, as tests do)."""
        with self.flush_lock, self.lock:
            self.buffer.clear()
        _recorders.discard(self)

    def prune(self) -> int:
        """Delete records older than the retention period."""
        with self._context():
            days = int(self.settings().get("retention_days") or DEFAULTS["retention_days"])
        cutoff = utcnow() - timedelta(days=days)
        table, removed = ScimActivity.__table__, 0
        while True:  # in batches, each its own short write transaction (SQLite's lock is never held for long)
            oldest = select(table.c.id).where(table.c.at < cutoff).order_by(table.c.at).limit(PRUNE_BATCH)
            with self._context(), intending_to_write(), db.engine.begin() as conn:
                done = conn.execute(delete(table).where(table.c.id.in_(oldest))).rowcount or 0
            removed += done
            if done < PRUNE_BATCH:
                break
        self.last_prune = time.monotonic()
        if removed:
            log.info("pruned %d sync activity records older than %d days", removed, days)
        return removed or 0


def save_settings(capture_error_bodies: bool, retention_days: int, actor: str) -> None:
    """Store the capture and retention settings (the caller audits and commits)."""
    row = db.session.get(AppSetting, SETTINGS_KEY)
    value = {"capture_error_bodies": bool(capture_error_bodies), "retention_days": int(retention_days)}
    if row is None:
        db.session.add(AppSetting(key=SETTINGS_KEY, value=value, updated_at=utcnow(), updated_by=actor))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), actor


def recorder() -> Recorder:
    """This app's recorder."""
    from flask import current_app
    return current_app.extensions["scim_activity"]

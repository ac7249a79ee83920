"""Engine set-up and transaction rules for SQLite and PostgreSQL.

SQLite: WAL journal (readers never block the writer), foreign keys on, a busy timeout, and write requests open
their transaction with ``BEGIN IMMEDIATE``. Without that, a transaction that reads and then writes can fail at
once with "database is locked" when another writer committed in between (no busy wait applies to that case).
PostgreSQL needs none of this; read-modify-write paths lock their row with ``SELECT … FOR UPDATE`` instead.

A SCIM read answers from one snapshot of the database: a list's page and its ``totalResults``, a group and its
members, a resource and its ``meta.version`` must agree even while writes go on. On SQLite a read transaction
(plain ``BEGIN``) holds its snapshot from its first SELECT; on PostgreSQL, where each statement of a READ
COMMITTED transaction sees the latest commits, SCIM reads run at REPEATABLE READ (which never fails a transaction
that only reads). Writes keep READ COMMITTED and their row locks.
"""
from __future__ import annotations

import contextvars
import os
import sqlite3
import threading
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

# True while the current request intends to write: SQLite then begins with BEGIN IMMEDIATE.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("scimapp_write_intent", default=False)
# True while the current request only reads (SCIM GET): PostgreSQL then reads from one snapshot (REPEATABLE READ).
read_only: contextvars.ContextVar[bool] = contextvars.ContextVar("scimapp_read_only", default=False)


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    """Install the per-connection settings for the engine's dialect."""
    if engine.dialect.name == "postgresql":
        from psycopg import IsolationLevel
        from psycopg.pq import TransactionStatus

        @event.listens_for(engine, "begin")
        def _pg_begin(conn):
            # psycopg sends BEGIN with this level before the transaction's first statement.
            dbapi_conn = conn.connection.dbapi_connection
            wanted = IsolationLevel.REPEATABLE_READ if read_only.get() and not write_intent.get() else None
            if dbapi_conn.isolation_level != wanted:
                if dbapi_conn.info.transaction_status != TransactionStatus.IDLE:
                    dbapi_conn.rollback()  # the pool's pre-ping (SELECT 1) began a transaction at the old level
                dbapi_conn.isolation_level = wanted

        @event.listens_for(engine, "connect")
        def _pg_connect(dbapi_conn, _record):
            # A write waiting for a lock gives up after the same time as on SQLite, and the request answers 503
            # with Retry-After, instead of holding a server thread for as long as another transaction lasts.
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            dbapi_conn.commit()
        return
    if engine.dialect.name != "sqlite":
        return

    database = engine.url.database
    private = os.name == "posix" and database and database != ":memory:" and not database.startswith("file:")
    turns = _WRITE_TURNS.setdefault(database, threading.Lock()) if database and database != ":memory:" else None

    @event.listens_for(engine, "do_connect")
    def _sqlite_do_connect(_dialect, _record, _cargs, cparams):
        if private:
            create_private_file(database)
        if turns is not None:
            cparams["factory"] = _TurnTakingConnection

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # the driver must not open transactions itself: we do, below
        if isinstance(dbapi_conn, _TurnTakingConnection):
            dbapi_conn.turns, dbapi_conn.turn_timeout = turns, busy_timeout_ms / 1000
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        # Writing requests take the write lock up front; everything else reads from one snapshot (WAL: it blocks
        # no writer). Straight on the DB-API connection: through SQLAlchemy this BEGIN cost a read request ~30 us.
        if write_intent.get():
            begin_immediate(conn)
        else:
            conn.connection.dbapi_connection.execute("BEGIN")


# One lock per SQLite database file, shared by every engine on it in this process (see _TurnTakingConnection).
_WRITE_TURNS: dict[str, threading.Lock] = {}


class _TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions wait for their turn on a lock in this process first.

    SQLite lets one writer in at a time; the others retry in its busy handler, which sleeps between attempts for
    longer and longer (up to 100 ms), so under a burst of writes most of the time went to sleeping while the lock
    was free, and to threads waking up to find it taken. Writers of this process now queue on a Python lock
    instead and go in as soon as the previous one commits. Other processes on the same file still meet SQLite's
    own lock and busy timeout; waiting here longer than that timeout fails the same way ("database is locked")."""

    turns: threading.Lock | None = None
    turn_timeout: float = 5.0
    _holding = False

    def take_write_turn(self) -> None:
        if self.turns is None or self._holding:
            return
        if not self.turns.acquire(timeout=self.turn_timeout):
            raise sqlite3.OperationalError("database is locked (waited for this server's other writers)")
        self._holding = True

    def give_back_write_turn(self) -> None:
        if self._holding and not self.in_transaction:
            self._holding = False
            self.turns.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_back_write_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_back_write_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding:
                self._holding = False
                self.turns.release()


def begin_immediate(conn) -> None:
    """Start a write transaction on this SQLite connection (``BEGIN IMMEDIATE``), after this process's other
    writers are done."""
    dbapi_conn = conn.connection.dbapi_connection
    take = getattr(dbapi_conn, "take_write_turn", None)
    if take is not None:
        try:
            take()
        except sqlite3.OperationalError as exc:  # waited as long as SQLite would have: the same "busy" error
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from None
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if take is not None:
            dbapi_conn.give_back_write_turn()
        raise


def create_private_file(path: str) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is an empty SQLite database).

    SQLite itself would create the database with 0644 less the umask: readable by every local account, though it
    holds the directory's personal data and the token hashes. Its -wal, -shm and -journal files copy the database
    file's mode, so they stay private too. Runs before each new connection (cheap: one failed exclusive create);
    any other error is left to SQLite to report as it always does. POSIX only: Windows has no such modes."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # FileExistsError above all; a missing folder or no permission is SQLite's error to give
        return
    os.close(fd)


@contextmanager
def intending_to_write():
    """Within this block, new transactions take the SQLite write lock up front."""
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


# Web (non-SCIM) endpoints that write although they are GETs: the sign-in callback (admin row, audit). The CSV
# downloads take the lock only for their audit row (directory/routes.py), not for the streamed read.
WRITING_GETS = frozenset({"auth.callback"})


def install_web_write_intent(app) -> None:
    """Admin-page requests that will write take the SQLite write lock with their first query.

    A form POST typically reads first (the signed-in admin, the row it changes) and writes afterwards. In a plain
    SQLite transaction that upgrade from reader to writer fails at once with "database is locked" when anything
    else (the activity writer, a SCIM request) committed in between, and the page would answer 503; BEGIN IMMEDIATE
    waits for the lock instead. SCIM requests decide this in ``scim/auth.py``."""
    from flask import request

    @app.before_request
    def _web_write_intent():
        if request.blueprint == "scim":
            return
        if request.method not in ("GET", "HEAD", "OPTIONS") or request.endpoint in WRITING_GETS:
            set_for_request(write_intent, True)

    @app.teardown_request
    def _end_web_write_intent(_exc):
        end_for_request(write_intent)


def set_for_request(var: contextvars.ContextVar, value) -> None:
    """Set a context variable until the end of this request (``end_for_request`` in a teardown puts it back)."""
    from flask import g
    g.setdefault("_context_resets", {}).setdefault(var.name, []).append(var.set(value))


def end_for_request(*variables: contextvars.ContextVar) -> None:
    """Put back what ``set_for_request`` changed for these variables, latest first."""
    from flask import g
    resets = g.get("_context_resets", {})
    for var in variables:
        for token in reversed(resets.pop(var.name, [])):
            var.reset(token)


TRANSIENT_STATES = {"40001", "40P01", "55P03", "57P01", "57P03", "08000", "08003", "08006"}


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_transient(exc: BaseException) -> bool:
    """Is this database error "busy, try again" (SQLite locked, PostgreSQL serialization/lock/connection)?"""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).lower()
    code = _sqlstate(exc)
    if isinstance(exc, OperationalError):
        if type(orig).__module__.startswith("psycopg"):
            # No SQLSTATE: the server cannot be reached, went away, or refused a connection. With one, the server
            # says what it refused: a connection problem, lack of resources or a shutdown is worth a retry, but
            # psycopg files other errors here too, such as 54000 (a value too long to index), which no retry fixes.
            return code is None or code in TRANSIENT_STATES or code[:2] in ("08", "53", "57")
        if any(w in text for w in ("locked", "busy", "unable to open", "disk i/o")):
            return True
    return code in TRANSIENT_STATES


def is_too_long(exc: BaseException) -> bool:
    """Did the database refuse a value as too long for it (PostgreSQL 54000: "index row size … exceeds maximum",
    for a text of some 2,700 bytes in an indexed column)? The client's value, not a busy server."""
    return isinstance(exc, DBAPIError) and _sqlstate(exc) == "54000"

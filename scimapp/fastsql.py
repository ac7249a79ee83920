"""Statements on the SCIM API's hottest paths, run straight on the DB-API cursor.

The token check, the single-equality lookup IdPs send before every write, GET by id, the groups of one user and
the inserts of a create each cost about 50 µs through SQLAlchemy's Core execution (cache key, parameter and
result set-up) against a few µs for the statement itself. A ``Fast`` statement is written with Core like any
other, compiled once per database dialect, then run on the DB-API cursor of the connection the request already
uses (so it takes part in the same transaction). Bound values go through the bind processors SQLAlchemy would
apply and rows through its result processors (dates and booleans on SQLite, JSON, …); errors are raised as the
same SQLAlchemy exceptions, and ``before_cursor_execute`` listeners still see the statement. Expanding ``IN``
lists are not supported.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


class _Compiled:
    __slots__ = ("sql", "positional", "names", "defaults", "binds", "processors", "row")

    def __init__(self, stmt: ClauseElement, dialect, column_keys: list[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
        self.binds = dict(compiled._bind_processors)  # e.g. booleans and dates on SQLite, JSON everywhere
        self.sql = str(compiled)
        self.positional = tuple(compiled.positiontup) if compiled.positiontup else None
        self.names = {name: bind.key for bind, name in compiled.bind_names.items()}
        self.defaults = {name: bind.value for bind, name in compiled.bind_names.items()}  # e.g. SQLite's OFFSET 0
        columns = list(getattr(stmt, "selected_columns", ()))
        self.processors = [(i, p) for i, p in enumerate(
            col.type.dialect_impl(dialect).result_processor(dialect, None) for col in columns) if p]
        self.row = namedtuple("FastRow", [col.key for col in columns], rename=True) if columns else None

    def args(self, params: dict[str, Any]):
        values = {n: params[key] if key in params else self.defaults[n] for n, key in self.names.items()}
        for n, process in self.binds.items():  # None too, as Core does: JSON turns it into 'null'
            values[n] = process(values[n])
        return tuple(values[n] for n in self.positional) if self.positional is not None else values


class Fast:
    """A Core statement with bound parameters, run on the DB-API cursor. For an INSERT, ``column_keys`` names
    the columns every row gives."""

    def __init__(self, stmt: ClauseElement, column_keys: list[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = column_keys
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"
        c = self._by_dialect.get(key)
        if c is None:
            c = self._by_dialect[key] = _Compiled(self.stmt, dialect, self.column_keys)
        return c

    def _run(self, conn: Connection, c: _Compiled, args, many: bool):
        dbapi_conn = conn.connection.dbapi_connection
        cursor = dbapi_conn.cursor()
        try:
            for listener in conn.dispatch.before_cursor_execute:  # tests that record SQL see these too
                listener(conn, cursor, c.sql, args, None, many)
            if many:
                cursor.executemany(c.sql, args)
                return None
            cursor.execute(c.sql, args)
            return cursor.fetchall() if c.row is not None else None
        except conn.dialect.loaded_dbapi.Error as exc:
            # The same exception Core would raise (callers tell "busy" and "duplicate" apart by it), and a
            # connection the server dropped leaves the pool as it would through Core.
            if conn.dialect.is_disconnect(exc, dbapi_conn, cursor):
                conn.invalidate(exc)
            # hide_parameters as the engine has it: the values are personal data and must not reach the log.
            raise DBAPIError.instance(c.sql, args, exc, conn.dialect.loaded_dbapi.Error,
                                      hide_parameters=conn.engine.hide_parameters, dialect=conn.dialect,
                                      ismulti=many) from exc
        finally:
            cursor.close()

    def rows(self, conn: Connection, params: dict[str, Any]) -> list:
        """All rows of a SELECT, as named tuples (``row.id``, ``row.data``, …) holding what Core would return."""
        c = self._compiled(conn.dialect)
        raw = self._run(conn, c, c.args(params), False)
        if not c.processors:
            return [c.row._make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for i, process in c.processors:
                values[i] = process(values[i])
            out.append(c.row._make(values))
        return out

    def first(self, conn: Connection, params: dict[str, Any]):
        """The first row of a SELECT, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def execute_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Run a statement that returns nothing once per parameter set (one ``executemany``)."""
        if rows:
            c = self._compiled(conn.dialect)
            self._run(conn, c, [c.args(r) for r in rows], True)

"""Statements run on the DB-API cursor (scimapp/fastsql.py) give what SQLAlchemy Core gives, on either database."""
from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from scimapp.extensions import db
from scimapp.fastsql import Fast
from scimapp.models import ScimActivity, ScimUser
from scimapp.scim.service import INDEX_COLUMNS, prepared_insert

from .conftest import recorded_sql

T = ScimUser.__table__
WHEN = datetime(2026, 5, 6, 7, 8, 9, 123456)


def _user(name: str, active=True) -> dict:
    return {"id": str(uuid.uuid4()), "user_name": name, "user_name_key": name.lower(), "external_id": None,
            "display_name": "Zoë 漢", "display_name_key": "zoë 漢", "active": active, "created_at": WHEN,
            "updated_at": WHEN, "version": 3, "data": {"userName": name, "nested": {"n": [1, 2.5, None, True]}},
            "created_by_token_id": None}


def test_inserted_rows_read_back_as_core_reads_them(app):
    rows = [_user("Ann@x"), _user("bob@x", active=None), _user("cy@x", active=False)]
    with app.app_context():
        conn = db.session.connection()
        prepared_insert(T, tuple(rows[0])).execute_many(conn, rows)
        stmt = select(T).where(T.c.active == bindparam("a")).order_by(T.c.user_name_key)
        fast = Fast(stmt)
        for active in (True, False):
            core = [tuple(r) for r in conn.execute(stmt, {"a": active})]
            got = fast.rows(conn, {"a": active})
            assert [tuple(r) for r in got] == core and len(core) == 1
        ann = Fast(select(T).where(T.c.user_name_key == bindparam("k"))).first(conn, {"k": "ann@x"})
        assert ann.created_at == WHEN and ann.data == rows[0]["data"] and ann.active is True
        assert Fast(select(T).where(T.c.id == bindparam("k"))).first(conn, {"k": "nobody"}) is None
        db.session.commit()


def test_a_duplicate_is_the_integrity_error_core_raises(app):
    with app.app_context():
        conn = db.session.connection()
        insert = prepared_insert(T, tuple(_user("a")))
        insert.execute_many(conn, [_user("dup@x")])
        with pytest.raises(IntegrityError) as raised:
            insert.execute_many(conn, [_user("dup@x")])
        # As Core says it with the app's hide_parameters: the bound values (personal data) stay out of the log.
        # (PostgreSQL's own message names the duplicate key; Core shows that too.)
        assert "[parameters:" not in str(raised.value) and "parameters hidden" in str(raised.value)
        db.session.rollback()


def test_statement_recorders_see_fast_statements(app):
    with recorded_sql(app) as statements, app.app_context():
        conn = db.session.connection()
        prepared_insert(T, tuple(_user("a"))).execute_many(conn, [_user("seen@x")])
        prepared_insert(ScimUser.__table__.metadata.tables["scim_user_values"], INDEX_COLUMNS).execute_many(conn, [])
        db.session.rollback()
    inserts = [s for s in statements if s.startswith("INSERT")]  # (SQLite also shows its BEGIN)
    assert len(inserts) == 1 and inserts[0].startswith("INSERT INTO scim_users")


def test_none_is_stored_as_core_stores_it(app):
    """A JSON column given None holds JSON 'null' through Core; a nullable text column holds SQL NULL."""
    table = ScimActivity.__table__
    keys = ["at", "hour", "method", "path", "status", "duration_ms", "changes", "detail"]
    row = {"at": WHEN, "hour": 1, "method": "GET", "path": "/x", "status": 200, "duration_ms": 1.0, "changes": None,
           "detail": None}
    with app.app_context():
        conn = db.session.connection()
        conn.execute(insert(table), [dict(row, path="/core")])
        Fast(insert(table), keys).execute_many(conn, [dict(row, path="/fast")])
        stored = {r[0]: (bool(r[1]), bool(r[2])) for r in conn.execute(
            text("SELECT path, changes IS NULL, detail IS NULL FROM scim_activity"))}
        assert stored == {"/core": (False, True), "/fast": (False, True)}
        db.session.rollback()

"""The sync-activity recorder (scimapp/activity.py): one record per SCIM request, kept in memory by the request and
written in batches by a background thread; error bodies only when an admin asked for them; pruning by age."""
from __future__ import annotations

import logging
import sqlite3
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from scimapp import activity
from scimapp.extensions import db
from scimapp.models import ScimActivity
from scimapp.scim.values import utcnow

from .conftest import TEST_PG, database_url


@pytest.fixture
def recorder(app):
    """The app's recorder, detached from the background writer so that a test decides when batches are written."""
    rec = app.extensions["scim_activity"]
    rec.registered = True  # record() will not hand it to the writer thread
    activity._recorders.discard(rec)
    return rec


def rows(app) -> list[ScimActivity]:
    with app.app_context():
        return list(db.session.scalars(select(ScimActivity).order_by(ScimActivity.id)))


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ScimActivity))


def test_each_scim_request_is_recorded_with_what_the_admin_needs(app, scim, recorder):
    user = scim.create_user("ada@example.com", displayName="Ada")
    scim.get(f"/Users/{user['id']}")
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "displayName", "value": "Ada L."}])
    scim.get("/Users?filter=" + 'userName eq "nobody"')
    assert count(app) == 0, "requests must not write to the database themselves"
    assert recorder.flush() == 4
    created, read, patched, listed = rows(app)
    assert (created.method, created.status, created.resource_type, created.resource_id) == \
        ("POST", 201, "User", user["id"])
    assert created.token_name == "pytest" and created.token_id is not None
    assert created.path == "/scim/v2/Users" and created.request_id and created.duration_ms > 0
    assert created.hour == activity.hour_of(created.at)
    assert (read.method, read.status, read.resource_id, read.changes) == ("GET", 200, user["id"], None)
    assert patched.changes == ["displayName"]
    assert (listed.method, listed.resource_type, listed.resource_id) == ("GET", "User", None)
    assert all(r.body is None and r.scim_type is None for r in (created, read, patched, listed))


def test_errors_are_recorded_with_scim_type_and_detail_but_no_body_by_default(app, scim, recorder):
    scim.create_user("dup@example.com")
    resp = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": "DUP@example.com", "title": "secret-title"})
    assert resp.status_code == 409
    scim.get("/Users?filter=userName%20zz%20%22x%22")
    recorder.flush()
    _, conflict, bad_filter = rows(app)
    assert (conflict.status, conflict.scim_type) == (409, "uniqueness")
    assert "userName" in conflict.detail
    assert conflict.body is None, "bodies hold personal data: not kept unless an admin turned capture on"
    assert conflict.changes is None
    assert (bad_filter.status, bad_filter.scim_type) == (400, "invalidFilter")


def test_body_capture_keeps_error_bodies_only_and_cuts_them(app, scim, recorder, monkeypatch):
    with app.app_context():
        activity.save_settings(capture_error_bodies=True, retention_days=7, actor="admin@example.com")
        db.session.commit()
    recorder.forget_settings()
    monkeypatch.setattr(activity, "MAX_BODY", 100)
    scim.create_user("kept@example.com")
    long_title = "x" * 500
    resp = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": "KEPT@example.com", "title": long_title})
    assert resp.status_code == 409
    recorder.flush()
    ok, failed = rows(app)
    assert ok.body is None, "successful requests are never captured"
    assert failed.body.startswith('{"schemas"') and len(failed.body) == 100


def test_the_secret_token_never_reaches_the_activity_table(app, scim, recorder):
    scim.create_user("t@example.com")
    scim.client.get("/scim/v2/Users", headers={"Authorization": "Bearer scim_wrong"})
    recorder.flush()
    recorded = [r for r in rows(app)]
    assert [r.status for r in recorded] == [201, 401]
    assert recorded[1].token_id is None and recorded[1].token_name is None
    for r in recorded:
        assert scim.token not in repr(vars(r)) and "scim_wrong" not in repr(vars(r))


@pytest.mark.sqlite_only
def test_reads_answer_while_another_writer_holds_the_database(app, scim, recorder):
    """Recording does not make a GET a writer: with the SQLite write lock held elsewhere, reads still answer."""
    user = scim.create_user("reader@example.com")
    recorder.flush()
    path = database_url(app.instance_path)[len("sqlite:///"):]
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(3):
            assert scim.get(f"/Users/{user['id']}").status_code == 200
        assert scim.get("/Users?filter=userName%20eq%20%22reader@example.com%22").status_code == 200
        with pytest.raises(Exception):
            recorder.flush()  # the batch cannot be written now...
        assert len(recorder.buffer) == 4, "...so its records wait, oldest first, for the next round"
    finally:
        other.rollback()
        other.close()
    assert recorder.flush() == 4
    assert [r.method for r in rows(app)] == ["POST", "GET", "GET", "GET", "GET"]


def test_the_background_writer_flushes_within_seconds(app, scim):
    scim.create_user("bg@example.com")
    deadline = time.monotonic() + 10
    while count(app) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert count(app) == 1


def test_a_nul_in_the_path_is_recorded_and_does_not_stop_the_writer(app, scim, recorder):
    """GET /Users/a%00b (even without a token) put a NUL into the path column: PostgreSQL refused the batch, the
    writer put it back and failed on it every second from then on, and no activity was recorded any more."""
    scim.client.get("/scim/v2/Users/a%00b")
    scim.get("/Users/x%00y")
    scim.create_user("after@example.com")
    recorder.flush()
    paths = [r.path for r in rows(app)]
    assert paths[:2] == ["/scim/v2/Users/a\ufffdb", "/scim/v2/Users/x\ufffdy"] and len(paths) == 3


def test_a_record_the_database_refuses_is_dropped_not_retried_forever(app, scim, recorder, caplog):
    scim.create_user("before@example.com")
    recorder.record({**recorder.buffer[0], "method": None})  # NOT NULL: refused on any database
    scim.create_user("after@example.com")
    with caplog.at_level(logging.WARNING, logger="scimapp.activity"):
        assert recorder.flush() == 2
    assert "dropped an activity record" in caplog.text and not recorder.buffer
    assert [r.path for r in rows(app)] == ["/scim/v2/Users", "/scim/v2/Users"]
    scim.get("/Users")
    assert recorder.flush() == 1


def test_a_full_buffer_drops_the_oldest_records_and_says_so(app, recorder, monkeypatch, caplog):
    monkeypatch.setattr(activity, "MAX_BUFFER", 3)
    with caplog.at_level(logging.WARNING, logger="scimapp.activity"):
        for i in range(5):
            recorder.record({"n": i})
    assert [e["n"] for e in recorder.buffer] == [2, 3, 4]
    assert "dropped" in caplog.text


def test_prune_deletes_only_what_is_older_than_the_retention_period(app, scim, recorder):
    scim.create_user("old@example.com")
    scim.create_user("new@example.com")
    recorder.flush()
    with app.app_context():
        first = db.session.scalars(select(ScimActivity).order_by(ScimActivity.id)).first()
        first.at = utcnow() - timedelta(days=31)
        db.session.commit()
    assert recorder.prune() == 1
    assert [r.status for r in rows(app)] == [201]
    with app.app_context():
        activity.save_settings(capture_error_bodies=False, retention_days=1, actor="admin")
        db.session.commit()
        remaining = db.session.scalars(select(ScimActivity)).one()
        remaining.at = utcnow() - timedelta(days=2)
        db.session.commit()
    recorder.forget_settings()
    assert recorder.prune() == 1
    assert count(app) == 0


def test_prune_deletes_in_batches_of_its_own(app, scim, recorder, monkeypatch):
    monkeypatch.setattr(activity, "PRUNE_BATCH", 2)
    for i in range(5):
        scim.create_user(f"old{i}@example.com")
    scim.create_user("new@example.com")
    recorder.flush()
    with app.app_context():
        for row in db.session.scalars(select(ScimActivity).order_by(ScimActivity.id).limit(5)):
            row.at = utcnow() - timedelta(days=31)
        db.session.commit()
    assert recorder.prune() == 5
    assert count(app) == 1


def test_settings_default_to_no_capture_and_thirty_days(app, recorder):
    with app.app_context():
        assert recorder.settings() == {"capture_error_bodies": False, "retention_days": 30}


@pytest.mark.skipif(bool(TEST_PG), reason="uses the SQLite file to make the settings read fail")
def test_unreadable_settings_keep_the_last_known_ones(app, recorder, monkeypatch):
    with app.app_context():
        assert recorder.settings()["retention_days"] == 30

        def broken(*a, **k):
            raise sqlite3.OperationalError("database is locked")
        monkeypatch.setattr(db.engine, "connect", broken)
        recorder.forget_settings()
        assert recorder.settings()["retention_days"] == 30


def test_each_bulk_operation_gets_a_record_of_its_own(app, scim, recorder):
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "u1",
         "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bulk@example.com"}},
        {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]}},
        {"method": "DELETE", "path": "/Users/00000000-0000-4000-8000-000000000000"}]}
    resp = scim.post("/Bulk", bulk)
    assert resp.status_code == 200
    user_id = resp.get_json()["Operations"][0]["location"].rsplit("/", 1)[-1]
    recorder.flush()
    request_row, created, patched, missing = rows(app)
    assert (request_row.method, request_row.path, request_row.status) == ("POST", "/scim/v2/Bulk", 200)
    assert (created.method, created.path, created.resource_id, created.status) == \
        ("POST", "/scim/v2/Users", user_id, 201)
    assert (patched.method, patched.resource_id, patched.status, patched.changes) == \
        ("PATCH", user_id, 200, ["title"])
    assert (missing.method, missing.status, missing.scim_type) == ("DELETE", 404, None)
    assert missing.resource_id == "00000000-0000-4000-8000-000000000000" and missing.detail
    assert {r.request_id for r in rows(app)} == {request_row.request_id}


def test_recording_can_be_switched_off_for_the_benchmark(app, scim, recorder):
    """ACTIVITY_ENABLED=false (used only by bench/run.py to measure what recording costs) queues nothing."""
    app.config["ACTIVITY_ENABLED"] = False
    scim.create_user("grace@example.com")
    scim.get("/Users?filter=" + 'userName eq "grace@example.com"')
    assert not recorder.buffer and recorder.flush() == 0
    app.config["ACTIVITY_ENABLED"] = True
    scim.get("/Users?filter=" + 'userName eq "grace@example.com"')
    assert recorder.flush() == 1


def test_requests_without_a_valid_token_are_recorded_up_to_a_cap(app, client, scim, recorder, monkeypatch, caplog):
    """Anyone who can reach the Tenant URL can send 401s: they must not be able to fill the database."""
    monkeypatch.setattr(activity, "UNAUTHENTICATED_PER_MINUTE", 3)
    for _ in range(10):
        assert client.get("/scim/v2/Users", headers={"Authorization": "Bearer scim_bogus"}).status_code == 401
    scim.create_user("still@example.com")  # a real token is always recorded
    assert recorder.flush() == 4
    assert [r.status for r in rows(app)] == [401, 401, 401, 201]
    recorder._anonymous[0] -= 61  # the next minute: the log says how many were left out
    with caplog.at_level(logging.WARNING, logger="scimapp.activity"):
        client.get("/scim/v2/Users")
    assert "7 requests without a valid token were not recorded" in caplog.text
    assert recorder.flush() == 1

"""A SCIM read answers from one snapshot: what another request commits in the middle of it is not half seen
(scimapp/database.py). Each test commits a write from another thread between two statements of one GET."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from scimapp.extensions import db


@pytest.fixture
def commit_between_statements(app):
    """Run ``write`` (on another thread, to completion) just before the ``nth`` statement naming ``table``."""
    hooks = []

    def install(table: str, nth: int, write):
        seen = []

        def before(_conn, _cursor, statement, *_args):
            if table in statement and threading.current_thread() is main and not seen_write:
                seen.append(statement)
                if len(seen) == nth:
                    seen_write.append(True)
                    worker = threading.Thread(target=write)
                    worker.start()
                    worker.join(30)

        main = threading.current_thread()
        seen_write: list = []
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        hooks.append((engine, before))
        return seen_write

    yield install
    for engine, before in hooks:
        event.remove(engine, "before_cursor_execute", before)


def test_a_list_page_and_its_total_agree(scim, commit_between_statements):
    for name in ("snap-a", "snap-b", "snap-c"):
        scim.create_user(name)
    happened = commit_between_statements("scim_users", 2, lambda: scim.create_user("snap-d"))
    # A full page: its rows and the COUNT behind totalResults are two statements.
    resp = scim.get("/Users", query_string={"filter": 'userName sw "snap"', "count": 2})
    body = resp.get_json()
    assert happened, "the write did not run between the statements"
    assert resp.status_code == 200
    assert (body["totalResults"], body["itemsPerPage"], len(body["Resources"])) == (3, 2, 2)
    assert scim.get("/Users", query_string={"filter": 'userName sw "snap"'}).get_json()["totalResults"] == 4


def test_a_group_its_members_and_its_version_agree(scim, commit_between_statements):
    users = [scim.create_user(f"member-{i}")["id"] for i in range(3)]
    group = scim.create_group("snapshot", members=[{"value": u} for u in users])
    emptied = lambda: scim.put(f"/Groups/{group['id']}", {  # noqa: E731
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "snapshot", "members": []})
    happened = commit_between_statements("scim_group_members", 1, emptied)
    body = scim.get(f"/Groups/{group['id']}").get_json()
    assert happened, "the write did not run between the statements"
    assert (body["meta"]["version"], len(body["members"])) == (group["meta"]["version"], 3)
    after = scim.get(f"/Groups/{group['id']}").get_json()
    assert after["meta"]["version"] != group["meta"]["version"] and not after.get("members")

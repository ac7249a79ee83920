"""A SCIM read answers from one snapshot: what another request commits in the middle of it is not half seen
(scimapp/database.py). Each test commits a write from another thread between two statements of one GET."""
from __future__ import annotations

import pytest

from ..conftest import write_between_statements


SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.mark.parametrize("how", ["GET /Users", "POST /Users/.search", "POST /.search"])
def test_a_list_page_and_its_total_agree(app, scim, how):
    for name in ("snap-a", "snap-b", "snap-c"):
        scim.create_user(name)
    # A full page: its rows and the COUNT behind totalResults are two statements.
    flt = 'userName sw "snap"'
    method, path = how.split()
    with write_between_statements(app, "scim_users", 2, lambda: scim.create_user("snap-d")) as happened:
        if method == "GET":
            resp = scim.get(path, query_string={"filter": flt, "count": 2})
        else:  # a SearchRequest only reads, whatever its method (RFC 7644 §3.4.3)
            resp = scim.post(path, {"schemas": [SEARCH], "filter": flt, "count": 2})
    body = resp.get_json()
    assert happened, "the write did not run between the statements"
    assert resp.status_code == 200
    assert (body["totalResults"], body["itemsPerPage"], len(body["Resources"])) == (3, 2, 2)
    assert scim.get("/Users", query_string={"filter": 'userName sw "snap"'}).get_json()["totalResults"] == 4


def test_a_group_its_members_and_its_version_agree(app, scim):
    users = [scim.create_user(f"member-{i}")["id"] for i in range(3)]
    group = scim.create_group("snapshot", members=[{"value": u} for u in users])
    emptied = lambda: scim.put(f"/Groups/{group['id']}", {  # noqa: E731
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "snapshot", "members": []})
    with write_between_statements(app, "scim_group_members", 1, emptied) as happened:
        body = scim.get(f"/Groups/{group['id']}").get_json()
    assert happened, "the write did not run between the statements"
    assert (body["meta"]["version"], len(body["members"])) == (group["meta"]["version"], 3)
    after = scim.get(f"/Groups/{group['id']}").get_json()
    assert after["meta"]["version"] != group["meta"]["version"] and not after.get("members")

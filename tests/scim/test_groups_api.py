"""The /Groups endpoint and group membership (RFC 7643 §4.2, RFC 7644 §3.5.2): members as rows, nested groups,
cycles, User.groups, PATCH answers, and the cost of a membership change on a large group."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import insert

from ..conftest import query_rows, recorded_sql

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_MEDIA = "application/scim+json"
BASE = "http://localhost/scim/v2"


# ---------------------------------------------------------------------------- helpers

def assert_error(resp, status: int, scim_type: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    body = resp.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body.get("detail")
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_MEDIA
    return resp.get_json()


def no_content(resp):
    assert resp.status_code == 204, resp.get_data(as_text=True)
    assert resp.get_data() == b""
    return resp


def get_group(scim, gid: str, **params) -> dict:
    return ok(scim.get(f"/Groups/{gid}", query_string=params))


def member_ids(scim, gid: str) -> set[str]:
    return {m["value"] for m in get_group(scim, gid).get("members", [])}


def version(scim, path: str) -> str:
    return scim.get(path).headers["ETag"]


def add_members(*ids):
    return [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}]




@pytest.fixture
def people(scim):
    return [scim.create_user(n) for n in ("ann", "ben", "cat", "dan")]


# ---------------------------------------------------------------------------- create, get, list

def test_create_empty_group(scim):
    resp = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Empty", "externalId": "ext-1"})
    body = ok(resp, 201)
    assert body["displayName"] == "Empty" and body["externalId"] == "ext-1"
    assert body.get("members", []) == []
    assert body["schemas"] == [GROUP]
    assert body["meta"]["resourceType"] == "Group"
    assert body["meta"]["location"] == f"{BASE}/Groups/{body['id']}" == resp.headers["Location"]
    assert body["meta"]["version"] == 'W/"1"' == resp.headers["ETag"]
    assert get_group(scim, body["id"]) == body


def test_create_requires_display_name(scim):
    assert_error(scim.post("/Groups", {"schemas": [GROUP]}), 400)
    assert ok(scim.get("/Groups"))["totalResults"] == 0


def test_create_with_user_and_group_members(scim, people):
    inner = scim.create_group("Inner")
    body = ok(scim.post("/Groups", {"schemas": [GROUP], "displayName": "Outer", "members": [
        {"value": people[0]["id"], "display": "Ann!"}, {"value": people[1]["id"]}, {"value": inner["id"]}]}), 201)
    members = {m["value"]: m for m in body["members"]}
    assert set(members) == {people[0]["id"], people[1]["id"], inner["id"]}
    assert members[people[0]["id"]] == {"value": people[0]["id"], "type": "User", "display": "Ann!",
                                        "$ref": f"{BASE}/Users/{people[0]['id']}"}
    assert members[inner["id"]]["type"] == "Group"
    assert members[inner["id"]]["$ref"] == f"{BASE}/Groups/{inner['id']}"
    assert get_group(scim, body["id"]) == body


def test_create_skips_unknown_member_ids_and_logs_them(scim, people, caplog):
    """An unknown member id is skipped, not refused (one stale id must not block a whole batch), and logged."""
    unknown = str(uuid.uuid4())
    resp = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Partly known",
                                 "members": [{"value": people[0]["id"]}, {"value": unknown}]})
    assert resp.status_code == 201
    assert [m["value"] for m in resp.get_json()["members"]] == [people[0]["id"]]
    assert any(unknown in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)


def test_get_with_and_without_members(scim, people):
    g = scim.create_group("G", members=[{"value": p["id"]} for p in people])
    full = get_group(scim, g["id"])
    assert {m["value"] for m in full["members"]} == {p["id"] for p in people}
    slim = get_group(scim, g["id"], excludedAttributes="members")
    assert "members" not in slim
    assert slim["displayName"] == "G" and slim["id"] == g["id"] and "meta" in slim
    only_name = get_group(scim, g["id"], attributes="displayName")
    assert set(only_name) == {"schemas", "id", "displayName"}
    values_only = get_group(scim, g["id"], attributes="members.value")
    assert set(values_only) == {"schemas", "id", "members"}
    assert sorted(values_only["members"], key=lambda m: m["value"]) == sorted(
        ({"value": p["id"]} for p in people), key=lambda m: m["value"])


def test_list_groups(scim, people):
    a = scim.create_group("Alpha", members=[{"value": people[0]["id"]}])
    b = scim.create_group("Beta")
    body = ok(scim.get("/Groups"))
    assert body["schemas"] == [LIST] and body["totalResults"] == 2
    assert {r["id"]: r for r in body["Resources"]} == {a["id"]: a, b["id"]: b}
    slim = ok(scim.get("/Groups", query_string={"excludedAttributes": "members"}))
    assert all("members" not in r for r in slim["Resources"])
    named = ok(scim.get("/Groups", query_string={"filter": 'displayName eq "alpha"'}))
    assert [r["id"] for r in named["Resources"]] == [a["id"]]


def test_filter_groups_by_member(scim, people):
    a = scim.create_group("A", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    b = scim.create_group("B", members=[{"value": people[1]["id"]}])
    c = scim.create_group("C", members=[{"value": a["id"]}])

    def found(f):
        return {r["id"] for r in ok(scim.get("/Groups", query_string={"filter": f, "count": 100}))["Resources"]}

    assert found(f'members[value eq "{people[0]["id"]}"]') == {a["id"]}
    assert found(f'members[value eq "{people[1]["id"]}"]') == {a["id"], b["id"]}
    assert found(f'members.value eq "{people[1]["id"]}"') == {a["id"], b["id"]}
    assert found(f'members eq "{people[0]["id"]}"') == {a["id"]}
    assert found('members[type eq "Group"]') == {c["id"]}
    assert found("members pr") == {a["id"], b["id"], c["id"]}
    assert found(f'members[value eq "{people[3]["id"]}"]') == set()


def test_group_get_unknown_is_404(scim):
    assert_error(scim.get("/Groups/nope"), 404)
    assert_error(scim.patch("/Groups/nope", add_members("x")), 404)
    assert_error(scim.delete("/Groups/nope"), 404)


# ---------------------------------------------------------------------------- PATCH members

def test_patch_adds_several_members_at_once_and_answers_204(scim, people):
    g = scim.create_group("G")
    resp = no_content(scim.patch(f"/Groups/{g['id']}", add_members(*(p["id"] for p in people[:3]))))
    assert resp.headers["ETag"] == 'W/"2"'
    assert member_ids(scim, g["id"]) == {p["id"] for p in people[:3]}


def test_re_adding_a_member_is_a_no_op(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    before = get_group(scim, g["id"])
    no_content(scim.patch(f"/Groups/{g['id']}", add_members(people[0]["id"])))
    no_content(scim.patch(f"/Groups/{g['id']}", add_members(people[0]["id"], people[0]["id"])))
    assert get_group(scim, g["id"]) == before  # same members, same version
    # Mixed: one new, one existing.
    no_content(scim.patch(f"/Groups/{g['id']}", add_members(people[0]["id"], people[1]["id"])))
    after = get_group(scim, g["id"])
    assert {m["value"] for m in after["members"]} == {people[0]["id"], people[1]["id"]}
    assert len(after["members"]) == 2
    assert after["meta"]["version"] == 'W/"2"'


def test_remove_members_by_value_list(scim, people):
    g = scim.create_group("G", members=[{"value": p["id"]} for p in people])
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": "members",
                                                  "value": [{"value": people[0]["id"]}, {"value": people[2]["id"]}]}]))
    assert member_ids(scim, g["id"]) == {people[1]["id"], people[3]["id"]}
    # Removing someone who is not a member is harmless.
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": "members",
                                                  "value": [{"value": people[0]["id"]}]}]))
    assert member_ids(scim, g["id"]) == {people[1]["id"], people[3]["id"]}


def test_remove_member_by_value_filter(scim, people):
    g = scim.create_group("G", members=[{"value": p["id"]} for p in people])
    no_content(scim.patch(f"/Groups/{g['id']}", [
        {"op": "remove", "path": f'members[value eq "{people[1]["id"]}"]'}]))
    assert member_ids(scim, g["id"]) == {people[0]["id"], people[2]["id"], people[3]["id"]}
    no_content(scim.patch(f"/Groups/{g['id']}", [
        {"op": "Remove", "path": f'members[value eq "{people[0]["id"]}" or value eq "{people[3]["id"]}"]'}]))
    assert member_ids(scim, g["id"]) == {people[2]["id"]}


def test_remove_member_filter_only_touches_this_group(scim, people):
    a = scim.create_group("A", members=[{"value": people[0]["id"]}])
    b = scim.create_group("B", members=[{"value": people[0]["id"]}])
    no_content(scim.patch(f"/Groups/{a['id']}", [{"op": "remove", "path": f'members[value eq "{people[0]["id"]}"]'}]))
    assert member_ids(scim, a["id"]) == set()
    assert member_ids(scim, b["id"]) == {people[0]["id"]}


def test_remove_members_by_type_filter(scim, people):
    inner = scim.create_group("Inner")
    g = scim.create_group("G", members=[{"value": people[0]["id"]}, {"value": inner["id"]}])
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": 'members[type eq "Group"]'}]))
    assert member_ids(scim, g["id"]) == {people[0]["id"]}


def test_member_filter_on_unsupported_sub_attribute_is_refused(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"], "display": "Ann"}])
    before = get_group(scim, g["id"])
    assert_error(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": 'members[display eq "Ann"]'}]), 400)
    assert_error(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": 'members[nope eq "x"]'}]), 400)
    assert get_group(scim, g["id"]) == before


def test_operations_apply_in_order(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": "members"},
                                                 *add_members(people[1]["id"])]))
    assert member_ids(scim, g["id"]) == {people[1]["id"]}
    no_content(scim.patch(f"/Groups/{g['id']}", [*add_members(people[2]["id"]), {"op": "remove", "path": "members"}]))
    assert member_ids(scim, g["id"]) == set()
    no_content(scim.patch(f"/Groups/{g['id']}", [
        *add_members(people[0]["id"], people[1]["id"]),
        {"op": "remove", "path": f'members[value eq "{people[0]["id"]}"]'},
        {"op": "replace", "path": "displayName", "value": "G2"}]))
    assert member_ids(scim, g["id"]) == {people[1]["id"]}
    assert get_group(scim, g["id"])["displayName"] == "G2"


def test_duplicate_members_in_one_request_are_stored_once(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}, {"value": people[0]["id"]}])
    assert [m["value"] for m in g["members"]] == [people[0]["id"]]


def test_remove_all_members(scim, people):
    g = scim.create_group("G", members=[{"value": p["id"]} for p in people])
    other = scim.create_group("Other", members=[{"value": people[0]["id"]}])
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": "members"}]))
    assert member_ids(scim, g["id"]) == set()
    assert member_ids(scim, other["id"]) == {people[0]["id"]}
    assert get_group(scim, g["id"])["meta"]["version"] == 'W/"2"'


def test_replace_members(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "replace", "path": "members",
                                                  "value": [{"value": people[1]["id"]}, {"value": people[2]["id"]}]}]))
    assert member_ids(scim, g["id"]) == {people[1]["id"], people[2]["id"]}
    assert get_group(scim, g["id"])["meta"]["version"] == 'W/"2"'
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "replace", "path": "members", "value": []}]))
    assert member_ids(scim, g["id"]) == set()


def test_rename_group(scim, people):
    g = scim.create_group("Old", members=[{"value": people[0]["id"]}])
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "replace", "path": "displayName", "value": "New"}]))
    body = get_group(scim, g["id"])
    assert body["displayName"] == "New" and body["meta"]["version"] == 'W/"2"'
    assert member_ids(scim, g["id"]) == {people[0]["id"]}
    # Okta renames path-less and includes the (read-only) id.
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "replace", "value": {"id": g["id"], "displayName": "Newer"}}]))
    assert get_group(scim, g["id"])["displayName"] == "Newer"
    assert ok(scim.get("/Groups", query_string={"filter": 'displayName eq "newer"'}))["totalResults"] == 1
    assert ok(scim.get("/Groups", query_string={"filter": 'displayName eq "old"'}))["totalResults"] == 0
    user = ok(scim.get(f"/Users/{people[0]['id']}"))
    assert [x["display"] for x in user["groups"]] == ["Newer"]


def test_patch_with_attributes_answers_200_with_body(scim, people):
    g = scim.create_group("G")
    resp = scim.patch(f"/Groups/{g['id']}?attributes=displayName,members", add_members(people[0]["id"]))
    body = ok(resp)
    assert body["displayName"] == "G"
    assert [m["value"] for m in body["members"]] == [people[0]["id"]]
    assert "meta" not in body
    assert resp.headers["ETag"] == 'W/"2"'
    resp = scim.patch(f"/Groups/{g['id']}?excludedAttributes=members", add_members(people[1]["id"]))
    body = ok(resp)
    assert "members" not in body and body["displayName"] == "G"
    assert body["meta"]["version"] == 'W/"3"'


def test_unknown_member_ids_are_skipped_and_the_rest_applies(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    unknown = str(uuid.uuid4())
    resp = scim.patch(f"/Groups/{g['id']}", [
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": people[2]["id"]}]},
        {"op": "remove", "path": "members", "value": [{"value": people[0]["id"]}]},
        {"op": "add", "path": "members", "value": [{"value": unknown}, {"value": people[1]["id"]}]}])
    assert resp.status_code == 204
    after = get_group(scim, g["id"])
    assert after["displayName"] == "Renamed"
    assert {m["value"] for m in after["members"]} == {people[1]["id"], people[2]["id"]}


def test_a_failing_operation_still_changes_nothing(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    before = get_group(scim, g["id"])
    assert_error(scim.patch(f"/Groups/{g['id']}", [
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": people[2]["id"]}]},
        {"op": "add", "path": "members", "value": [{"value": g["id"]}]}]), 400)  # itself: refused
    assert get_group(scim, g["id"]) == before
    assert "groups" not in ok(scim.get(f"/Users/{people[2]['id']}"))


def test_member_without_value_is_400(scim):
    g = scim.create_group("G")
    assert_error(scim.patch(f"/Groups/{g['id']}", [{"op": "add", "path": "members", "value": [{"display": "x"}]}]),
                 400)
    assert_error(scim.patch(f"/Groups/{g['id']}", [{"op": "add", "path": "members", "value": [{"value": ""}]}]), 400)


def test_member_sub_attribute_paths_are_refused(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    before = get_group(scim, g["id"])
    assert_error(scim.patch(f"/Groups/{g['id']}", [
        {"op": "replace", "path": f'members[value eq "{people[0]["id"]}"].display', "value": "x"}]), 400)
    assert_error(scim.patch(f"/Groups/{g['id']}", [
        {"op": "add", "path": f'members[value eq "{people[1]["id"]}"]', "value": {"value": people[1]["id"]}}]), 400)
    assert get_group(scim, g["id"]) == before


# ---------------------------------------------------------------------------- nesting and cycles

def test_group_cannot_contain_itself(scim):
    g = scim.create_group("G")
    assert_error(scim.patch(f"/Groups/{g['id']}", add_members(g["id"])), 400)
    assert_error(scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP], "displayName": "G",
                                                 "members": [{"value": g["id"]}]}), 400)
    assert get_group(scim, g["id"]) == g


def test_membership_cycles_are_refused(scim, people):
    a = scim.create_group("A")
    b = scim.create_group("B", members=[{"value": a["id"]}])  # B ⊃ A
    c = scim.create_group("C", members=[{"value": b["id"]}])  # C ⊃ B ⊃ A
    assert_error(scim.patch(f"/Groups/{a['id']}", add_members(b["id"])), 400)  # A ⊃ B: 2-cycle
    assert_error(scim.patch(f"/Groups/{a['id']}", add_members(people[0]["id"], c["id"])), 400)  # 3-cycle
    assert_error(scim.put(f"/Groups/{a['id']}", {"schemas": [GROUP], "displayName": "A",
                                                 "members": [{"value": c["id"]}]}), 400)
    assert member_ids(scim, a["id"]) == set()
    assert get_group(scim, a["id"])["meta"]["version"] == 'W/"1"'
    # A diamond is not a cycle: D ⊃ A and D ⊃ B (which ⊃ A) is fine.
    d = scim.create_group("D", members=[{"value": a["id"]}, {"value": b["id"]}])
    assert member_ids(scim, d["id"]) == {a["id"], b["id"]}
    no_content(scim.patch(f"/Groups/{c['id']}", add_members(a["id"])))


# ---------------------------------------------------------------------------- deletion

def test_deleting_a_user_removes_it_from_groups_and_bumps_their_version(scim, people):
    a = scim.create_group("A", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    b = scim.create_group("B", members=[{"value": people[0]["id"]}])
    untouched = scim.create_group("C", members=[{"value": people[1]["id"]}])
    assert scim.delete(f"/Users/{people[0]['id']}").status_code == 204
    after_a, after_b = get_group(scim, a["id"]), get_group(scim, b["id"])
    assert {m["value"] for m in after_a["members"]} == {people[1]["id"]}
    assert after_b.get("members", []) == []
    assert after_a["meta"]["version"] == 'W/"2"' and after_b["meta"]["version"] == 'W/"2"'
    assert scim.get(f"/Groups/{a['id']}").headers["ETag"] == 'W/"2"'
    assert after_a["meta"]["lastModified"] >= a["meta"]["lastModified"]
    assert get_group(scim, untouched["id"]) == untouched
    # A client holding the old ETag is told the group changed.
    assert_error(scim.patch(f"/Groups/{a['id']}", add_members(people[2]["id"]), headers={"If-Match": 'W/"1"'}), 412)
    listing = ok(scim.get("/Groups", query_string={"filter": f'members[value eq "{people[0]["id"]}"]'}))
    assert listing["totalResults"] == 0


def test_deleting_a_group_removes_it_from_parent_groups(app, scim, people):
    inner = scim.create_group("Inner", members=[{"value": people[0]["id"]}])
    outer = scim.create_group("Outer", members=[{"value": inner["id"]}, {"value": people[1]["id"]}])
    assert scim.delete(f"/Groups/{inner['id']}").status_code == 204
    # no orphan membership rows, in either direction
    assert query_rows(app.config["SQLALCHEMY_DATABASE_URI"],
                      "SELECT count(*) FROM scim_group_members WHERE group_id = :g OR member_id = :g",
                      g=inner["id"]) == [(0,)]
    assert_error(scim.get(f"/Groups/{inner['id']}"), 404)
    after = get_group(scim, outer["id"])
    assert {m["value"] for m in after["members"]} == {people[1]["id"]}
    assert after["meta"]["version"] == 'W/"2"'
    assert "groups" not in ok(scim.get(f"/Users/{people[0]['id']}"))


# ---------------------------------------------------------------------------- User.groups

def test_users_show_their_direct_groups(scim, people):
    inner = scim.create_group("Inner", members=[{"value": people[0]["id"]}])
    outer = scim.create_group("Outer", members=[{"value": people[0]["id"]}, {"value": inner["id"]}])
    user = ok(scim.get(f"/Users/{people[0]['id']}"))
    groups = sorted(user["groups"], key=lambda x: x["display"])
    assert groups == [
        {"value": inner["id"], "display": "Inner", "type": "direct", "$ref": f"{BASE}/Groups/{inner['id']}"},
        {"value": outer["id"], "display": "Outer", "type": "direct", "$ref": f"{BASE}/Groups/{outer['id']}"},
    ]
    assert "groups" not in ok(scim.get(f"/Users/{people[1]['id']}"))
    assert "groups" not in ok(scim.get(f"/Users/{people[0]['id']}", query_string={"excludedAttributes": "groups"}))
    listed = ok(scim.get("/Users", query_string={"filter": f'id eq "{people[0]["id"]}"'}))["Resources"][0]
    assert sorted(listed["groups"], key=lambda x: x["display"]) == groups


def test_filter_users_by_group(scim, people):
    g = scim.create_group("Engineering", members=[{"value": people[0]["id"]}, {"value": people[2]["id"]}])
    scim.create_group("Other", members=[{"value": people[1]["id"]}])

    def found(f):
        body = ok(scim.get("/Users", query_string={"filter": f, "count": 100}))
        return {r["userName"] for r in body["Resources"]}

    assert found(f'groups.value eq "{g["id"]}"') == {"ann", "cat"}
    assert found(f'groups[value eq "{g["id"]}"]') == {"ann", "cat"}
    assert found('groups.display eq "engineering"') == {"ann", "cat"}
    assert found("groups pr") == {"ann", "ben", "cat"}
    assert found("not (groups pr)") == {"dan"}
    no_content(scim.patch(f"/Groups/{g['id']}", [{"op": "remove", "path": f'members[value eq "{people[0]["id"]}"]'}]))
    assert found(f'groups.value eq "{g["id"]}"') == {"cat"}


# ---------------------------------------------------------------------------- PUT

def test_put_replaces_members_and_name(scim, people):
    g = scim.create_group("G", externalId="e1", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    resp = scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP], "displayName": "G2",
                                           "members": [{"value": people[1]["id"]}, {"value": people[3]["id"]}]})
    body = ok(resp)
    assert body["displayName"] == "G2" and "externalId" not in body
    assert {m["value"] for m in body["members"]} == {people[1]["id"], people[3]["id"]}
    assert body["meta"]["version"] == 'W/"2"' == resp.headers["ETag"]
    assert get_group(scim, g["id"]) == body


def test_put_without_members_removes_them(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    body = ok(scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP], "displayName": "G"}))
    assert body.get("members", []) == []
    assert member_ids(scim, g["id"]) == set()
    assert "groups" not in ok(scim.get(f"/Users/{people[0]['id']}"))


def test_put_with_an_unknown_member_keeps_the_known_ones(scim, people):
    g = scim.create_group("G", members=[{"value": people[0]["id"]}])
    resp = scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP], "displayName": "Renamed",
                                           "members": [{"value": str(uuid.uuid4())}, {"value": people[1]["id"]}]})
    assert resp.status_code == 200
    assert [m["value"] for m in get_group(scim, g["id"])["members"]] == [people[1]["id"]]


# ---------------------------------------------------------------------------- cost of membership changes

def _bulk_users(app, n: int, prefix: str) -> list[str]:
    """Insert ``n`` users straight into the database (fast set-up for size tests)."""
    from scimapp.extensions import db
    from scimapp.models import ScimUser
    from scimapp.scim.values import utcnow
    ids = [str(uuid.uuid4()) for _ in range(n)]
    now = utcnow()
    with app.app_context():
        db.session.execute(insert(ScimUser), [
            {"id": i, "user_name": f"{prefix}{k}", "user_name_key": f"{prefix}{k}", "created_at": now,
             "updated_at": now, "version": 1, "data": {"userName": f"{prefix}{k}"}} for k, i in enumerate(ids)])
        db.session.commit()
    return ids


def _count(app, call) -> list[str]:
    with recorded_sql(app) as statements:
        resp = call()
    assert resp.status_code in (200, 204), resp.get_data(as_text=True)
    return statements


@pytest.fixture
def small_and_large(app, scim):
    small_ids = _bulk_users(app, 10, "small")
    large_ids = _bulk_users(app, 2000, "large")
    extra = _bulk_users(app, 2, "extra")
    small = scim.create_group("Small", members=[{"value": i} for i in small_ids])
    large = scim.create_group("Large", members=[{"value": i} for i in large_ids])
    assert len(member_ids(scim, large["id"])) == 2000
    scim.get("/ServiceProviderConfig")  # token last-use write happens here, not during the measurements
    return small, large, extra


@pytest.mark.parametrize("change", ["add", "remove by value", "remove by filter"])
def test_member_change_cost_does_not_depend_on_group_size(app, scim, small_and_large, change):
    small, large, extra = small_and_large

    def ops(member):
        if change == "add":
            return add_members(member)
        if change == "remove by value":
            return [{"op": "remove", "path": "members", "value": [{"value": member}]}]
        return [{"op": "remove", "path": f'members[value eq "{member}"]'}]

    if change != "add":  # make the member present in both groups first
        no_content(scim.patch(f"/Groups/{small['id']}", add_members(extra[0])))
        no_content(scim.patch(f"/Groups/{large['id']}", add_members(extra[0])))
    on_small = _count(app, lambda: scim.patch(f"/Groups/{small['id']}", ops(extra[0])))
    on_large = _count(app, lambda: scim.patch(f"/Groups/{large['id']}", ops(extra[0])))
    assert len(on_small) == len(on_large), (on_small, on_large)
    # The membership change itself is one row statement, and nothing reads the whole member list.
    for statements in (on_small, on_large):
        member_reads = [s for s in statements if re.search(r"FROM scim_group_members\b", s)
                        and not re.search(r"member_id (=|IN)", s)]
        assert member_reads == [], member_reads
    assert (extra[0] in member_ids(scim, large["id"])) == (change == "add")
    assert len(member_ids(scim, large["id"])) == 2000 + (change == "add")


def test_get_without_members_never_reads_the_member_table(app, scim, small_and_large):
    _, large, _ = small_and_large
    for params in ({"excludedAttributes": "members"}, {"attributes": "displayName"},
                   {"excludedAttributes": "members,meta"}):
        statements = _count(app, lambda: scim.get(f"/Groups/{large['id']}", query_string=params))
        assert not [s for s in statements if "scim_group_members" in s], (params, statements)
    statements = _count(app, lambda: scim.get("/Groups", query_string={"excludedAttributes": "members"}))
    assert not [s for s in statements if "scim_group_members" in s]
    # …while the default representation does read it (so the check above can fail).
    statements = _count(app, lambda: scim.get(f"/Groups/{large['id']}"))
    assert [s for s in statements if "scim_group_members" in s]


def test_group_patch_without_attributes_does_not_serialise_members(app, scim, small_and_large):
    _, large, extra = small_and_large
    statements = _count(app, lambda: scim.patch(f"/Groups/{large['id']}", [
        {"op": "replace", "path": "displayName", "value": "Large renamed"}]))
    assert not [s for s in statements if "scim_group_members" in s], statements

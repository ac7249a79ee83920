"""Two app processes on one database (as behind a load balancer) stay correct under concurrent writes.

On PostgreSQL runs both servers share the test's database; on SQLite they share one instance folder's file.
"""
from __future__ import annotations

import threading
import uuid

import requests

from .conftest import LiveServer

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _fire(calls: list) -> list:
    """Run (method, url, token, body) calls at the same moment, one thread each; returns the responses."""
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, method, url, token, body):
        barrier.wait()
        out[i] = requests.request(method, url, json=body, timeout=60, headers={"Authorization": f"Bearer {token}"})
    threads = [threading.Thread(target=run, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_servers_share_one_database_correctly(tmp_path):
    instance = tmp_path / "instance"
    first = LiveServer(instance).start()
    second = LiveServer(instance).start()
    try:
        token = first.token("shared")  # one token, made once, valid on both servers
        servers = [first, second]

        # The same userName created through both servers at once: exactly one wins.
        same = _fire([("POST", servers[i % 2].base + "/Users", token, {"userName": f"Same.Person@Example.org"})
                      for i in range(20)])
        assert sorted(r.status_code for r in same) == [201] + [409] * 19
        assert all(r.json()["scimType"] == "uniqueness" for r in same if r.status_code == 409)

        # Distinct users created through both at once: all of them, once each.
        names = [f"user{i}-{uuid.uuid4().hex[:6]}@example.org" for i in range(20)]
        created = _fire([("POST", servers[i % 2].base + "/Users", token, {"userName": n}) for i, n in enumerate(names)])
        assert [r.status_code for r in created] == [201] * 20
        ids = [r.json()["id"] for r in created]

        # Member adds to one group through both servers at once, with overlaps: no duplicates, nothing lost.
        group = requests.post(first.base + "/Groups", json={"displayName": "Shared"}, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}).json()
        adds = _fire([("PATCH", f"{servers[i % 2].base}/Groups/{group['id']}", token,
                       {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members",
                                                             "value": [{"value": ids[i]}, {"value": ids[(i + 1) % 20]}]}]})
                      for i in range(20)])
        assert [r.status_code for r in adds] == [204] * 20
        for server in servers:
            got = requests.get(f"{server.base}/Groups/{group['id']}", timeout=30,
                               headers={"Authorization": f"Bearer {token}"}).json()
            members = [m["value"] for m in got["members"]]
            assert sorted(members) == sorted(ids) and len(members) == len(set(members))
            listed = requests.get(server.base + "/Users", params={"count": 100}, timeout=30,
                                  headers={"Authorization": f"Bearer {token}"}).json()
            assert listed["totalResults"] == 21

        # A revocation through one server is seen by the other on its next request.
        from .conftest import cli
        assert cli(instance, "token", "revoke", "shared", env=first.env).returncode == 0
        assert requests.get(second.base + "/Users", timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        first.stop()
        second.stop()

"""``flask --app app backup`` / ``restore``: consistent copies of a SQLite database while the server writes."""
from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time

import pytest
import requests

from scimapp import backup

from .conftest import LiveServer, cli, database_url, query_rows

pytestmark = pytest.mark.sqlite_only


def _users(server, token) -> set[str]:
    names: set[str] = set()
    start = 1
    while True:  # every page: how many users the writers managed depends on the machine
        body = requests.get(server.base + "/Users", params={"count": 1000, "startIndex": start,
                                                            "attributes": "userName"}, timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).json()
        names |= {u["userName"] for u in body["Resources"]}
        start += 1000
        if start > body["totalResults"]:
            return names


def test_backup_while_the_server_writes_is_consistent_and_restore_puts_it_back(tmp_path):
    instance = tmp_path / "instance"
    server = LiveServer(instance).start()
    try:
        token = server.token("backup")
        stop = threading.Event()
        written: list[str] = []

        def writer(k: int):
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            i = 0
            while not stop.is_set():
                name = f"w{k}-{i}@example.org"
                r = s.post(server.base + "/Users", json={"userName": name, "emails": [{"value": name}]}, timeout=30)
                assert r.status_code == 201, r.text
                written.append(name)
                i += 1
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        copy = tmp_path / "copy.db"
        result = cli(instance, "backup", str(copy), env=server.env)  # while the four writers keep going
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert result.returncode == 0, result.stderr
        assert "integrity check: ok" in result.stdout
        assert backup.integrity(copy) == "ok"
        if os.name == "posix":  # the copy is as private as the database
            assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        # One self-contained file, not a WAL database that grows -wal and -shm files when opened.
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == ["copy.db"]
        con = sqlite3.connect(copy)
        try:
            saved = {r[0] for r in con.execute("SELECT user_name FROM scim_users")}
            # every user in the copy is whole: its filter-index rows came with it (a consistent snapshot)
            assert con.execute("SELECT count(*) FROM scim_users u WHERE NOT EXISTS (SELECT 1 FROM scim_user_values v "
                               "WHERE v.resource_id = u.id AND v.attr = 'emails')").fetchone() == (0,)
        finally:
            con.close()
        assert 0 < len(saved) < len(written) and saved <= set(written)

        # Restore into the running database: the users written after the backup are gone, the server keeps going.
        restored = cli(instance, "restore", str(copy), "--yes", env=server.env)
        assert restored.returncode == 0, restored.stderr
        assert _users(server, token) == saved
        assert query_rows(database_url(instance), "PRAGMA journal_mode") == [("wal",)]  # the live one stays WAL
        later = requests.post(server.base + "/Users", json={"userName": "after-restore@example.org"}, timeout=30,
                              headers={"Authorization": f"Bearer {token}"})
        assert later.status_code == 201
    finally:
        server.stop()


def test_refusals(tmp_path):
    instance = tmp_path / "instance"
    assert cli(instance, "token", "create", "t").returncode == 0
    copy = tmp_path / "copy.db"
    assert cli(instance, "backup", str(copy)).returncode == 0
    again = cli(instance, "backup", str(copy))
    assert again.returncode == 1 and "exists already" in again.stderr
    nested = tmp_path / "backups" / "2026" / "scimapp.db"  # the README's example, in a folder not made yet
    made = cli(instance, "backup", str(nested))
    assert made.returncode == 0 and "integrity check: ok" in made.stdout, made.stderr
    blocked = cli(instance, "backup", str(copy / "under-a-file.db"))
    assert blocked.returncode == 1 and "cannot create the folder" in blocked.stderr and "Traceback" not in blocked.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    bad = cli(instance, "restore", str(garbage), "--yes")
    assert bad.returncode == 1 and "nothing was changed" in bad.stderr
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.commit()
    wrong = cli(instance, "restore", str(other), "--yes")
    assert wrong.returncode == 1 and "not a scimapp database" in wrong.stderr
    assert cli(instance, "token", "list").stdout.count(" t ") == 1  # still there


def test_postgresql_databases_are_pointed_to_pg_dump():
    with pytest.raises(backup.BackupError, match="pg_dump"):
        backup.sqlite_file("postgresql+psycopg://u@h/db")

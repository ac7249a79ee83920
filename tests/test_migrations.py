"""Schema migrations: a database made at the first migration, filled, then upgraded, keeps everything."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from scimapp import create_app, tokens
from scimapp.schema_upgrade import MIGRATIONS, current_revisions, head_revisions

from .conftest import ROOT, ScimClient, cli

NOW = datetime(2026, 1, 2, 3, 4, 5)


def _fill_at_first_revision(engine, secret: str) -> dict:
    """Rows as revision 0001 wrote them (no element marker rows yet)."""
    uid, gid = str(uuid.uuid4()), str(uuid.uuid4())
    user = {"userName": "mira@example.org", "emails": [{"value": "mira@example.org", "type": "work"},
                                                         {"display": ""}],
            "x509Certificates": [{"value": "TUlJQw=="}], "title": "Engineer"}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO scim_tokens (name, token_hash, hint, created_at, created_by) "
                          "VALUES ('old', :h, :hint, :t, 'cli')"),
                     {"h": tokens.hash_secret(secret), "hint": secret[:9], "t": NOW})
        conn.execute(text("INSERT INTO scim_users (id, user_name, user_name_key, active, created_at, updated_at, "
                          "version, data) VALUES (:id, 'mira@example.org', 'mira@example.org', :yes, :t, :t, 3, :d)"),
                     {"id": uid, "t": NOW, "d": json.dumps(user), "yes": True})
        conn.execute(text("INSERT INTO scim_user_values (resource_id, attr, idx, sub, key) VALUES "
                          "(:id, 'emails', 0, 'value', 'mira@example.org'), (:id, 'emails', 0, 'type', 'work'), "
                          "(:id, 'title', 0, '', 'engineer')"), {"id": uid})
        conn.execute(text("INSERT INTO scim_groups (id, display_name, display_name_key, created_at, updated_at, "
                          "version, data) VALUES (:id, 'Ops', 'ops', :t, :t, 2, :d)"),
                     {"id": gid, "t": NOW, "d": json.dumps({"displayName": "Ops"})})
        conn.execute(text("INSERT INTO scim_group_members (group_id, member_id, member_type) VALUES (:g, :u, 'User')"),
                     {"g": gid, "u": uid})
        conn.execute(text("INSERT INTO audit_events (at, actor, action) VALUES (:t, 'cli', 'token.create')"),
                     {"t": NOW})
    return {"uid": uid, "gid": gid, "user": user}


@pytest.mark.empty_database
def test_a_database_from_the_first_migration_upgrades_without_losing_anything(tmp_path):
    instance = tmp_path / "instance"
    app = create_app({"INSTANCE_PATH": instance, "AUTO_MIGRATE": False})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0001")
        assert current_revisions() == {"0001"}
        assert "admin_users" not in inspect(app.extensions["sqlalchemy"].engine).get_table_names()
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    secret = tokens.new_secret()
    made = _fill_at_first_revision(engine, secret)
    with engine.connect() as conn:
        before = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()  # noqa: S608 - fixed names
                  for t in ("scim_tokens", "scim_users", "scim_groups", "scim_group_members", "audit_events")}
    engine.dispose()

    upgraded = create_app({"INSTANCE_PATH": instance})  # AUTO_MIGRATE: upgrades on start
    with upgraded.app_context():
        assert current_revisions() == head_revisions() != {"0001"}
        db_engine = upgraded.extensions["sqlalchemy"].engine
        assert {"admin_users", "app_settings"} <= set(inspect(db_engine).get_table_names())
        with db_engine.connect() as conn:
            after = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in before}  # noqa: S608
            markers = conn.execute(text("SELECT attr, idx, sub FROM scim_user_values WHERE key IS NULL "
                                        "ORDER BY attr, idx, sub")).all()
    assert after == before
    assert [tuple(m) for m in markers] == [("emails", 0, ""), ("emails", 1, ""), ("x509certificates", 0, ""),
                                           ("x509certificates", 0, "value")]
    scim = ScimClient(upgraded.test_client(), secret)  # the old token still works
    got = scim.get(f"/Users/{made['uid']}").get_json()
    assert {k: got[k] for k in made["user"]} == made["user"] and got["meta"]["version"] == 'W/"3"'
    found = scim.get("/Users", query_string={"filter": "emails[not (value pr)] and x509Certificates pr"}).get_json()
    assert [r["id"] for r in found["Resources"]] == [made["uid"]]
    group = scim.get(f"/Groups/{made['gid']}").get_json()
    assert [m["value"] for m in group["members"]] == [made["uid"]]


def test_downgrade_removes_what_the_upgrade_added(tmp_path):
    app = create_app({"INSTANCE_PATH": tmp_path / "instance"})
    with app.app_context():
        secret = tokens.create("t", "pytest")[1]
    ScimClient(app.test_client(), secret).create_user("a@example.org", emails=[{"value": "a@example.org"}])
    with app.app_context():
        from flask_migrate import downgrade
        downgrade(directory=str(MIGRATIONS), revision="0001")
        engine = app.extensions["sqlalchemy"].engine
        assert "admin_users" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM scim_user_values WHERE key IS NULL")).scalar() == 0
        upgrade(directory=str(MIGRATIONS))
        assert current_revisions() == head_revisions()


def test_the_models_match_the_migrations(tmp_path):
    """A model change without a migration would make fresh and upgraded databases differ."""
    result = cli(tmp_path, "db", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


@pytest.mark.empty_database
def test_upgrade_by_command_when_automatic_upgrades_are_off(tmp_path):
    env = {"SCIMAPP_AUTO_MIGRATE": "false"}
    app = create_app({"INSTANCE_PATH": tmp_path, "AUTO_MIGRATE": False})
    assert app.test_client().get("/healthz").status_code == 200  # SELECT 1 needs no tables
    with app.app_context():
        assert current_revisions() == frozenset()
    result = cli(tmp_path, "db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    with app.app_context():
        assert current_revisions() == head_revisions()


@pytest.mark.empty_database
def test_two_servers_starting_at_once_on_one_database_both_come_up(tmp_path):
    """The upgrade runs under a lock: the second process finds the work done instead of failing."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from scimapp import create_app; create_app(); "
            "print('up')")
    env = {**__import__("os").environ, "SCIMAPP_INSTANCE_PATH": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ROOT)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all(out.strip() == "up" for out, _ in outputs)


def test_an_upgrade_another_server_finished_meanwhile_is_not_mistaken_for_a_pre_release_database(tmp_path,
                                                                                                   monkeypatch):
    """The race CI once hit on PostgreSQL: a starting server reads "no revision" just before another server
    commits the whole schema, then sees the tables. Under the lock it must find the work done, not refuse."""
    from scimapp import schema_upgrade
    app = create_app({"INSTANCE_PATH": tmp_path})
    monkeypatch.setattr(schema_upgrade, "current_revisions", lambda: frozenset())  # the stale first read
    with app.app_context():
        assert schema_upgrade.upgrade_to_head() is False

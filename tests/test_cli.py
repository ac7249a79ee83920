"""``flask --app app token create|list|revoke`` run as real commands, and their effect on the SCIM API."""
from __future__ import annotations

import hashlib
import re

import requests
from sqlalchemy.engine import make_url

from .conftest import cli, database_url, query_rows, stored_bytes, write_between_statements


def test_create_prints_the_secret_alone_on_the_last_line(tmp_path):
    result = cli(tmp_path, "token", "create", "entra-prod")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    secret = lines[-1]
    assert re.fullmatch(r"scim_[A-Za-z0-9_-]{43}", secret)  # 32 random bytes = 256 bits
    assert "entra-prod" in result.stdout and "Tenant URL: http://127.0.0.1:8000/scim/v2" in result.stdout
    # Which database it went to (a terminal without the server's settings writes elsewhere), password hidden.
    url = database_url(tmp_path)
    assert f"Database: {make_url(url).render_as_string()}" in lines
    # Only the hash is stored.
    assert query_rows(url, "SELECT token_hash FROM scim_tokens") == [(hashlib.sha256(secret.encode()).hexdigest(),)]
    assert secret.encode() not in stored_bytes(url)


def test_each_token_is_different(tmp_path):
    a = cli(tmp_path, "token", "create", "a").stdout.strip().splitlines()[-1]
    b = cli(tmp_path, "token", "create", "b").stdout.strip().splitlines()[-1]
    assert a != b


def test_expiry_and_list(tmp_path):
    assert cli(tmp_path, "token", "create", "short", "--expires-days", "30").returncode == 0
    assert cli(tmp_path, "token", "create", "forever").returncode == 0
    out = cli(tmp_path, "token", "list").stdout
    when = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"
    # columns: id, name, status, created, last used, expires, created by
    assert re.search(rf"short\s+active\s+{when}\s+-\s+{when}\s+cli", out), out
    assert re.search(rf"forever\s+active\s+{when}\s+-\s+-\s+cli", out), out
    assert "scim_" not in out  # secrets are never listed


def test_bad_arguments_are_refused_clearly(tmp_path):
    bad = cli(tmp_path, "token", "create", "x", "--expires-days", "0")
    assert bad.returncode != 0 and "expires-days" in bad.stderr
    assert cli(tmp_path, "token", "create", "dup").returncode == 0
    dup = cli(tmp_path, "token", "create", "dup")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    digits = cli(tmp_path, "token", "create", "3")
    assert digits.returncode == 1 and "only digits" in digits.stderr  # it would read as an id when revoking
    missing = cli(tmp_path, "token", "revoke", "nobody")
    assert missing.returncode == 1 and "no active token named 'nobody'" in missing.stderr


def test_revoke_by_name_takes_effect_on_the_next_request(live_server):
    secret = live_server.token("to-revoke")
    headers = {"Authorization": f"Bearer {secret}"}
    assert requests.get(live_server.base + "/Users", headers=headers, timeout=10).status_code == 200
    result = cli(live_server.instance, "token", "revoke", "to-revoke", env=live_server.env)
    assert result.returncode == 0 and "Revoked token 'to-revoke'" in result.stdout
    r = requests.get(live_server.base + "/Users", headers=headers, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    listed = cli(live_server.instance, "token", "list", env=live_server.env).stdout
    assert re.search(r"to-revoke\s+revoked", listed)


def test_revoke_by_id_and_twice(tmp_path):
    assert cli(tmp_path, "token", "create", "one").returncode == 0
    first = cli(tmp_path, "token", "revoke", "1")
    assert first.returncode == 0 and "Revoked" in first.stdout
    again = cli(tmp_path, "token", "revoke", "1")
    assert again.returncode == 0 and "already revoked" in again.stdout
    # The name is free again once its token is revoked.
    assert cli(tmp_path, "token", "create", "one").returncode == 0


def test_token_commands_wait_for_a_scim_write_instead_of_failing(app, scim):
    """On SQLite a command that read and then wrote in a plain transaction failed at once ("database is locked")
    when a SCIM write committed in between; the token commands take the write lock first, and the SCIM write
    waits its turn instead."""
    from scimapp import tokens
    from scimapp.extensions import db

    runner = app.test_cli_runner()
    for args in (["token", "create", "busy-day"], ["token", "revoke", "busy-day"]):
        name = "meanwhile-" + args[1]
        # between the command's read (statement 1) and its write (statement 2)
        with write_between_statements(app, "scim_tokens", 2, lambda: scim.create_user(name), wait=1) as started:
            result = runner.invoke(args=args)
        assert started and result.exit_code == 0, result.output + repr(result.exception)
        assert scim.get("/Users", query_string={"filter": f'userName eq "{name}"'}).get_json()["totalResults"] == 1
    with app.app_context():
        assert [tokens.status(t) for t in tokens.all_tokens() if t.name == "busy-day"] == ["revoked"]
        db.session.rollback()

"""Bearer-token authentication of the SCIM API (RFC 6750): what is refused, how it is refused, revocation and
expiry on the next request, last-use bookkeeping without write storms, and what is stored."""
from __future__ import annotations

import hashlib
import logging
import secrets as pysecrets
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from scimapp import tokens
from scimapp.extensions import db
from scimapp.models import ScimToken, ScimUser
from scimapp.scim.values import utcnow

from ..conftest import recorded_sql, stored_bytes

SCIM = "/scim/v2"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def assert_401(resp, invalid_token: bool | None = None) -> dict:
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.mimetype == "application/scim+json"
    body = resp.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "401"
    assert body.get("detail")
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    if invalid_token is True:
        assert 'error="invalid_token"' in challenge
    elif invalid_token is False:
        assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no credentials were sent
    return body


def token_row(app, secret: str) -> ScimToken:
    with app.app_context():
        row = db.session.scalar(select(ScimToken).where(ScimToken.token_hash == hashlib.sha256(secret.encode()).hexdigest()))
        db.session.expunge(row)
        return row


def set_token(app, secret: str, **values) -> None:
    with app.app_context():
        db.session.execute(update(ScimToken).where(
            ScimToken.token_hash == hashlib.sha256(secret.encode()).hexdigest()).values(**values))
        db.session.commit()


def user_count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(ScimUser.id)).all())




ENDPOINTS = [("GET", "/Users"), ("GET", "/Groups"), ("GET", "/Users/some-id"), ("GET", "/ServiceProviderConfig"),
             ("GET", "/Schemas"), ("GET", "/ResourceTypes"), ("POST", "/Users"), ("DELETE", "/Users/some-id")]


# ---------------------------------------------------------------------------- refused credentials

@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_missing_header_is_401_everywhere(client, method, path):
    body = '{"schemas":["%s"],"userName":"x"}' % USER if method == "POST" else None
    resp = client.open(SCIM + path, method=method, data=body, content_type="application/scim+json")
    assert_401(resp, invalid_token=False)


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "",
    "Token {token}",
    "Basic {token}",
    "{token}",
    "Bearer: {token}",
])
def test_malformed_authorization_is_401(client, token, header):
    resp = client.get(f"{SCIM}/Users", headers={"Authorization": header.format(token=token)})
    assert_401(resp)


@pytest.mark.parametrize("make", [
    lambda t: tokens.new_secret(),  # well-formed but unknown
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character off
    lambda t: t[len("scim_"):],  # the real secret without its prefix
    lambda t: t.upper(),
    lambda t: t + "x",
    lambda t: "scim_" + "a" * 300,  # absurdly long
    lambda t: hashlib.sha256(t.encode()).hexdigest(),  # the stored hash is not a credential
], ids=["unknown", "one-off", "no-prefix", "upper", "suffix", "long", "hash"])
def test_wrong_token_is_401_invalid_token(client, token, make):
    resp = client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {make(token)}"})
    assert_401(resp, invalid_token=True)


def test_secret_without_prefix_is_refused_even_if_its_hash_is_stored(app, client):
    plain = pysecrets.token_urlsafe(32)  # no scim_ prefix
    with app.app_context():
        db.session.add(ScimToken(name="legacy", token_hash=hashlib.sha256(plain.encode()).hexdigest(), hint=plain[:9],
                                 created_at=utcnow(), created_by="test"))
        db.session.commit()
    assert_401(client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {plain}"}), invalid_token=True)


def test_valid_token_is_accepted_with_any_scheme_case(client, token):
    for scheme in ("Bearer", "bearer", "BEARER"):
        resp = client.get(f"{SCIM}/Users", headers={"Authorization": f"{scheme} {token}"})
        assert resp.status_code == 200, scheme


def test_refused_write_writes_nothing(app, client):
    resp = client.post(f"{SCIM}/Users", data='{"userName": "intruder"}', content_type="application/scim+json",
                       headers={"Authorization": "Bearer " + tokens.new_secret()})
    assert_401(resp)
    assert user_count(app) == 0


# ---------------------------------------------------------------------------- revocation and expiry

def test_revocation_takes_effect_on_the_next_request(app, client, token):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{SCIM}/Users", headers=headers).status_code == 200
    with app.app_context():
        row = db.session.scalar(select(ScimToken).where(ScimToken.token_hash == tokens.hash_secret(token)))
        assert tokens.revoke(row, "tester")
    assert_401(client.get(f"{SCIM}/Users", headers=headers), invalid_token=True)
    resp = client.post(f"{SCIM}/Users", data='{"userName": "after-revoke"}', content_type="application/scim+json",
                       headers=headers)
    assert_401(resp)
    assert user_count(app) == 0


def test_revoking_one_token_leaves_others_working(app, client, token):
    with app.app_context():
        other = tokens.create("second", "pytest")[1]
        row = db.session.scalar(select(ScimToken).where(ScimToken.token_hash == tokens.hash_secret(token)))
        tokens.revoke(row, "tester")
    assert_401(client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {token}"}))
    assert client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_expired_token_is_refused(app, client, token):
    headers = {"Authorization": f"Bearer {token}"}
    set_token(app, token, expires_at=utcnow() + timedelta(days=1))
    assert client.get(f"{SCIM}/Users", headers=headers).status_code == 200
    set_token(app, token, expires_at=utcnow() - timedelta(seconds=1))
    assert_401(client.get(f"{SCIM}/Users", headers=headers), invalid_token=True)


def test_token_created_with_expiry_works_until_then(app, client):
    with app.app_context():
        row, secret = tokens.create("expiring", "pytest", expires_days=1)
        assert row.expires_at > utcnow()
    assert client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


# ---------------------------------------------------------------------------- sessions never authenticate

def test_session_cookie_alone_never_authenticates(client, token):
    with client.session_transaction() as sess:
        sess["_user_id"] = "1"
        sess["_fresh"] = True
        sess["_id"] = "whatever"
    assert_401(client.get(f"{SCIM}/Users"), invalid_token=False)
    assert_401(client.post(f"{SCIM}/Users", data='{"userName": "x"}', content_type="application/scim+json"))
    # …nor does it rescue a bad bearer token.
    assert_401(client.get(f"{SCIM}/Users", headers={"Authorization": "Bearer scim_nope"}), invalid_token=True)


def test_bearer_token_in_query_or_cookie_is_not_accepted(client, token):
    assert_401(client.get(f"{SCIM}/Users", query_string={"access_token": token}))
    client.set_cookie("access_token", token)
    client.set_cookie("Authorization", f"Bearer {token}")
    assert_401(client.get(f"{SCIM}/Users"))


# ---------------------------------------------------------------------------- last use

def _token_updates(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("UPDATE SCIM_TOKENS")]


def test_last_used_is_recorded_at_most_once_per_interval(app, client, token):
    assert app.config["TOKEN_LAST_USED_INTERVAL"] == 60
    headers = {"Authorization": f"Bearer {token}"}
    assert token_row(app, token).last_used_at is None
    with recorded_sql(app) as statements:
        for _ in range(5):
            assert client.get(f"{SCIM}/Users", headers=headers).status_code == 200
        assert client.post(f"{SCIM}/Users", data='{"userName": "u1"}', content_type="application/scim+json",
                           headers=headers).status_code == 201
    assert len(_token_updates(statements)) == 1, statements
    first = token_row(app, token).last_used_at
    assert first is not None
    assert abs((utcnow() - first).total_seconds()) < 30
    for _ in range(3):
        client.get(f"{SCIM}/Groups", headers=headers)
    assert token_row(app, token).last_used_at == first


def test_last_used_is_refreshed_after_the_interval(app, client, token):
    headers = {"Authorization": f"Bearer {token}"}
    client.get(f"{SCIM}/Users", headers=headers)
    old = utcnow() - timedelta(seconds=61)
    set_token(app, token, last_used_at=old)
    with recorded_sql(app) as statements:
        assert client.get(f"{SCIM}/Users", headers=headers).status_code == 200
    assert len(_token_updates(statements)) == 1
    assert token_row(app, token).last_used_at > old + timedelta(seconds=30)


def test_refused_requests_do_not_record_use(app, client, token):
    set_token(app, token, revoked_at=utcnow())
    client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {token}"})
    assert token_row(app, token).last_used_at is None


# ---------------------------------------------------------------------------- storage

def test_only_the_sha256_is_stored(app, client, token):
    assert token.startswith("scim_") and len(token) >= len("scim_") + 43  # 256 random bits, URL-safe
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{SCIM}/Users", headers=headers).status_code == 200
    assert client.post(f"{SCIM}/Users", data='{"userName": "u1"}', content_type="application/scim+json",
                       headers=headers).status_code == 201
    row = token_row(app, token)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.hint == token[:9]
    data = stored_bytes(app.config["SQLALCHEMY_DATABASE_URI"])
    assert data
    assert token.encode() not in data
    assert token[9:].encode() not in data  # not even the part after the hint


def test_tokens_are_never_logged(client, token, caplog):
    caplog.set_level(logging.DEBUG)
    client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {token}"})
    client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {token}x"})
    client.get(f"{SCIM}/Users", headers={"Authorization": f"Basic {token}"})
    assert caplog.records  # the requests were logged…
    assert not [r for r in caplog.records if token in r.getMessage()]  # …without the secret

"""API keys and roles."""

from __future__ import annotations

import pytest

from kpi_api.auth import ApiKey, Role, authenticate, create_key, hash_key, revoke_key

WRITES = [
    ("post", "/v1/kpis", {}),
    ("post", "/v1/kpis/IMP-FIN-01/versions", {}),
    ("patch", "/v1/kpis/IMP-FIN-01/versions/1", {}),
    ("delete", "/v1/kpis/IMP-FIN-01/versions/1", None),
    ("post", "/v1/kpis/IMP-FIN-01/deprecation", {}),
    ("post", "/v1/releases", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writes_need_a_key(client, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "missing_api_key"


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("role", ["vendor", "analyst"])
def test_writes_need_the_publisher_role(client, request, role, method, path, body):
    headers = request.getfixturevalue(role)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(path, headers=headers, **kwargs)
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"


def test_unknown_or_malformed_keys_are_401(client):
    for value in ("Bearer kpi_doesnotexist_at_all_000000", "Bearer x", "Basic abc"):
        response = client.get("/v1/kpis", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.json()["code"] in {"invalid_api_key", "invalid_authorization_scheme"}


def test_keys_are_stored_hashed_and_revocation_is_immediate(client, db):
    key, raw = create_key(db, name="swn", role=Role.publisher)
    db.commit()
    stored = db.get(ApiKey, key.id)
    assert raw not in (stored.key_hash, stored.lookup, stored.name)
    assert stored.key_hash == hash_key(raw)
    assert authenticate(db, raw).role is Role.publisher
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.post("/v1/releases", json={}, headers=headers).status_code == 422
    revoke_key(db, key_id=key.id)
    db.flush()
    assert authenticate(db, raw) is None
    response = client.post("/v1/releases", json={}, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


def test_a_tampered_key_with_a_valid_lookup_is_refused(db):
    _, raw = create_key(db, name="swn", role=Role.publisher)
    db.flush()
    assert authenticate(db, raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


def test_vendor_keys_belong_to_a_vendor(db):
    with pytest.raises(ValueError, match="vendor"):
        create_key(db, name="v", role=Role.vendor)
    with pytest.raises(ValueError, match="vendor"):
        create_key(db, name="p", role=Role.publisher, vendor_id="x")

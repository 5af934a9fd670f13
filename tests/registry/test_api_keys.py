"""GET /v1/api-keys: the publisher finds the key to revoke; no secret, no hash, ever; each key's
last use, written at most once a minute."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from kpi_api import migrate
from kpi_api.auth import LAST_USED_RESOLUTION, ApiKey, Role, authenticate, create_key
from kpi_api.db import make_engine, utcnow
from kpi_api.web.pagination import encode_cursor
from tests.registry.test_registry import assert_problem, bearer, make_vendor

FIELDS = {
    "id",
    "name",
    "role",
    "vendor_id",
    "organisation",
    "municipalities",
    "created_at",
    "revoked_at",
    "last_used_at",
}


def all_pages(client, headers, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/api-keys", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next"}
        items += body["items"]
        cursor, pages = body["next"], pages + 1
        if cursor is None:
            return items
        assert pages < 100


def stored_keys(db) -> list[ApiKey]:
    db.expire_all()
    return list(db.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def test_the_publisher_lists_every_key_without_its_secret(client, db, publisher):
    vendor_id, vendor = make_vendor(db)
    issued = client.post(
        "/v1/api-keys",
        json={"name": "Acme production", "role": "vendor", "vendor_id": vendor_id},
        headers=publisher,
    ).json()
    revoked = client.post(
        "/v1/api-keys", json={"name": "old analyst", "role": "analyst"}, headers=publisher
    ).json()
    assert client.delete(f"/v1/api-keys/{revoked['id']}", headers=publisher).status_code == 200

    response = client.get("/v1/api-keys", params={"limit": 500}, headers=publisher)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert all(set(item) == FIELDS for item in items)
    assert [i["id"] for i in items] == [k.id for k in stored_keys(db)]  # oldest first
    by_id = {i["id"]: i for i in items}
    assert by_id[issued["id"]] == {k: issued[k] for k in FIELDS - {"last_used_at"}} | {
        "last_used_at": None
    }
    assert by_id[issued["id"]]["vendor_id"] == vendor_id
    assert by_id[issued["id"]]["revoked_at"] is None
    assert by_id[revoked["id"]]["revoked_at"] is not None
    # Neither a secret nor a hash nor the lookup prefix is in the answer.
    for key in stored_keys(db):
        assert key.key_hash not in response.text and key.lookup not in response.text
    for raw in (issued["key"], revoked["key"], publisher["Authorization"], vendor["Authorization"]):
        assert raw.removeprefix("Bearer ") not in response.text


def test_the_list_is_paginated_like_other_lists(client, db, publisher):
    for i in range(5):
        create_key(db, name=f"k{i}", role=Role.analyst)
    db.commit()
    first = client.get("/v1/api-keys", params={"limit": 2}, headers=publisher).json()
    assert len(first["items"]) == 2 and first["next"]
    paged = all_pages(client, publisher, limit=2)
    assert paged[:2] == first["items"]
    assert [i["id"] for i in paged] == [k.id for k in stored_keys(db)]
    assert len({i["id"] for i in paged}) == len(paged) >= 6
    whole = client.get("/v1/api-keys", params={"limit": 500}, headers=publisher).json()
    assert whole["next"] is None and [i["id"] for i in whole["items"]] == [i["id"] for i in paged]


def test_keys_created_at_the_same_moment_are_all_listed_once(client, db, publisher):
    keys = [create_key(db, name=f"same {i}", role=Role.analyst)[0] for i in range(3)]
    moment = keys[0].created_at
    db.execute(update(ApiKey).where(ApiKey.id.in_([k.id for k in keys])).values(created_at=moment))
    db.commit()
    paged = all_pages(client, publisher, limit=1)
    assert [i["id"] for i in paged] == [k.id for k in stored_keys(db)]
    assert {k.id for k in keys} <= {i["id"] for i in paged}


def test_the_list_filters_by_role_and_vendor(client, db, publisher):
    vendor_id, _ = make_vendor(db)
    other_id, _ = make_vendor(db)
    create_key(db, name="second of the vendor", role=Role.vendor, vendor_id=vendor_id)
    db.commit()
    mine = all_pages(client, publisher, vendor_id=vendor_id)
    assert len(mine) == 2 and {i["vendor_id"] for i in mine} == {vendor_id}
    vendors = all_pages(client, publisher, role="vendor")
    assert {i["role"] for i in vendors} == {"vendor"}
    assert {vendor_id, other_id} <= {i["vendor_id"] for i in vendors}
    publishers = all_pages(client, publisher, role="publisher")
    assert publishers and all(i["vendor_id"] is None for i in publishers)
    assert all_pages(client, publisher, vendor_id="00000000-0000-4000-8000-000000000000") == []
    bad = client.get("/v1/api-keys", params={"role": "admin"}, headers=publisher)
    assert_problem(bad, 422, "validation_failed")


@pytest.mark.parametrize("role", ["vendor", "analyst"])
def test_only_the_publisher_lists_keys(client, request, role):
    headers = request.getfixturevalue(role)
    assert_problem(client.get("/v1/api-keys", headers=headers), 403, "role_not_allowed")
    assert_problem(client.get("/v1/api-keys"), 401, "missing_api_key")


def test_a_cursor_of_another_list_or_made_up_is_400(client, publisher):
    for cursor in ("%%", encode_cursor("organisations", "ORG-A"), encode_cursor("api-keys", "x")):
        response = client.get("/v1/api-keys", params={"cursor": cursor}, headers=publisher)
        assert_problem(response, 400, "invalid_cursor")


# --- last use ------------------------------------------------------------------------------


def listed(client, publisher, key_id: str) -> dict:
    items = all_pages(client, publisher)
    return next(i for i in items if i["id"] == key_id)


def test_a_key_shows_when_it_was_last_used(client, db, publisher):
    vendor_id, headers = make_vendor(db)
    key = db.scalar(select(ApiKey).where(ApiKey.vendor_id == vendor_id))
    assert listed(client, publisher, key.id)["last_used_at"] is None  # issued, never used

    before = utcnow()
    assert client.get(f"/v1/vendors/{vendor_id}", headers=headers).status_code == 200  # a read
    used = listed(client, publisher, key.id)["last_used_at"]
    assert used is not None
    db.expire_all()
    first = db.get(ApiKey, key.id).last_used_at
    assert before <= first <= utcnow()

    # Within the minute another request writes nothing.
    assert client.get(f"/v1/vendors/{vendor_id}", headers=headers).status_code == 200
    assert listed(client, publisher, key.id)["last_used_at"] == used

    # A minute later it does, on a write as on a read.
    earlier = utcnow() - LAST_USED_RESOLUTION - timedelta(seconds=1)
    db.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=earlier))
    db.commit()
    db.expire_all()
    assert client.get("/v1/organisations", headers=headers).status_code == 200
    db.expire_all()
    assert db.get(ApiKey, key.id).last_used_at > earlier + LAST_USED_RESOLUTION


def test_the_publisher_listing_keys_sees_its_own_use(client, db, publisher):
    own = next(k for k in stored_keys(db) if k.name == "SWN test")  # the fixture's key
    assert listed(client, publisher, own.id)["last_used_at"] is not None


def test_a_revoked_key_keeps_its_last_use(client, db, publisher):
    _, raw = create_key(db, name="soon revoked", role=Role.analyst)
    db.commit()
    assert client.get("/v1/organisations", headers=bearer(raw)).status_code == 200
    key = next(k for k in stored_keys(db) if k.name == "soon revoked")
    used = listed(client, publisher, key.id)["last_used_at"]
    revoked = client.delete(f"/v1/api-keys/{key.id}", headers=publisher).json()
    assert revoked["last_used_at"] == used and revoked["revoked_at"] is not None
    assert_problem(client.get("/v1/organisations", headers=bearer(raw)), 401, "invalid_api_key")
    assert listed(client, publisher, key.id)["last_used_at"] == used


@pytest.fixture(scope="module")
def committed(scratch):
    """An engine on its own migrated database, where keys are committed as in production."""
    url = scratch.create()
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_recording_a_use_never_waits_for_another_transaction(committed):
    """A transaction holding the key's row (PostgreSQL) or the write lock (SQLite) does not
    hold a request up: its use is recorded by a later request instead."""
    with Session(committed) as session, session.begin():
        key, raw = create_key(session, name="busy", role=Role.analyst)
        key_id = key.id
    with committed.connect() as holder:
        holder.begin()
        holder.execute(update(ApiKey).where(ApiKey.id == key_id).values(name="busy, held"))
        with Session(committed) as session:
            if committed.dialect.name == "postgresql":
                session.execute(text("SET LOCAL lock_timeout = '5s'"))
            started = time.monotonic()
            principal = authenticate(session, raw)
            assert principal is not None and principal.key_id == key_id
            assert time.monotonic() - started < 5
            session.commit()
        holder.rollback()
    with Session(committed) as session, session.begin():
        assert session.get(ApiKey, key_id).last_used_at is None
        assert authenticate(session, raw) is not None
    with Session(committed) as session:
        assert session.get(ApiKey, key_id).last_used_at is not None

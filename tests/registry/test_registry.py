"""The registry over HTTP: vendors, API keys, organisations and who may see which."""

from __future__ import annotations

import base64
import re
import uuid
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from kpi_api import migrate
from kpi_api.auth import ApiKey, Role, authenticate, create_key, hash_key
from kpi_api.config import Settings
from kpi_api.db import make_engine
from kpi_api.main import create_app
from kpi_api.reference.loader import load as load_reference
from kpi_api.registry.models import Organisation, Vendor, VendorOrganisation
from kpi_api.web.pagination import encode_cursor

PROBLEM = "application/problem+json"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


# --- helpers -------------------------------------------------------------------------------


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with this status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:kpi-api:problem:{code}"
    assert body["title"]
    return body


def pointers(body: dict) -> set[tuple[str, str]]:
    return {(e["location"], e["pointer"]) for e in body.get("errors", [])}


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def make_vendor(db, name: str | None = None) -> tuple[str, dict[str, str]]:
    """A vendor row and a key for it, committed so a failing request cannot roll them back."""
    row = Vendor(name=name or f"vendor {uuid.uuid4().hex[:8]}")
    db.add(row)
    db.flush()
    _, raw = create_key(db, name=f"key of {row.name}", role=Role.vendor, vendor_id=row.id)
    db.commit()
    return row.id, bearer(raw)


def vendor_id_of(db, headers: dict[str, str]) -> str:
    principal = authenticate(db, headers["Authorization"].removeprefix("Bearer "))
    assert principal is not None and principal.vendor_id is not None
    return principal.vendor_id


def create_org(client, publisher, code: str, municipalities=("GM0363",), name=None) -> dict:
    body = {"code": code, "name": name or f"Organisation {code}", "municipalities": municipalities}
    response = client.post("/v1/organisations", json=body, headers=publisher)
    assert response.status_code == 201, response.text
    return response.json()


def grant(client, publisher, vendor_id: str, code: str) -> dict:
    response = client.put(f"/v1/vendors/{vendor_id}/organisations/{code}", headers=publisher)
    assert response.status_code == 200, response.text
    return response.json()


def walk(client, headers, limit: int = 1) -> list[str]:
    """Every organisation code of GET /v1/organisations, following ``next`` page by page."""
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/organisations", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen += [o["code"] for o in body["items"]]
        cursor = body["next"]
        if cursor is None:
            return seen
        assert body["items"], "a page with a next cursor must not be empty"
    raise AssertionError("pagination did not end")


# --- vendors -------------------------------------------------------------------------------


def test_publisher_creates_a_vendor(client, db, publisher):
    response = client.post("/v1/vendors", json={"name": "  Acme Zorgsoftware  "}, headers=publisher)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "created_at", "organisations"}
    assert body["name"] == "Acme Zorgsoftware"  # surrounding whitespace is stripped
    assert body["organisations"] == []
    assert str(uuid.UUID(body["id"])) == body["id"]
    stored = db.get(Vendor, body["id"])
    assert stored is not None and stored.name == "Acme Zorgsoftware"


def test_a_duplicate_vendor_name_is_409(client, db, publisher):
    first = client.post("/v1/vendors", json={"name": "Acme"}, headers=publisher)
    assert first.status_code == 201, first.text
    for name in ("Acme", " Acme "):
        again = client.post("/v1/vendors", json={"name": name}, headers=publisher)
        body = assert_problem(again, 409, "vendor_exists")
        assert "Acme" in body["detail"]
        assert body["instance"] == "/v1/vendors"
    count = db.scalar(select(func.count()).select_from(Vendor).where(Vendor.name == "Acme"))
    assert count == 1


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/name"),
        ({"name": ""}, "/name"),
        ({"name": "   "}, "/name"),
        ({"name": "x" * 201}, "/name"),
        ({"name": 12}, "/name"),
        ({"name": "Acme", "website": "https://acme.example"}, "/website"),
    ],
)
def test_vendor_bodies_are_validated(client, publisher, body, pointer):
    response = client.post("/v1/vendors", json=body, headers=publisher)
    problem = assert_problem(response, 422, "validation_failed")
    assert ("body", pointer) in pointers(problem)


@pytest.mark.parametrize("role", ["vendor", "analyst"])
def test_only_the_publisher_creates_vendors(client, request, role):
    headers = request.getfixturevalue(role)
    response = client.post("/v1/vendors", json={"name": "Acme"}, headers=headers)
    assert_problem(response, 403, "role_not_allowed")


def test_creating_a_vendor_needs_a_valid_key(client):
    missing = client.post("/v1/vendors", json={"name": "Acme"})
    assert_problem(missing, 401, "missing_api_key")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = client.post("/v1/vendors", json={"name": "Acme"}, headers=bearer("kpi_" + "x" * 43))
    assert_problem(unknown, 401, "invalid_api_key")
    basic = client.post("/v1/vendors", json={"name": "Acme"}, headers={"Authorization": "Basic a"})
    assert_problem(basic, 401, "invalid_authorization_scheme")


def test_publisher_lists_vendors_with_their_organisations(client, db, publisher):
    beta, _ = make_vendor(db, "Beta Software")
    alpha, _ = make_vendor(db, "Alpha Software")
    create_org(client, publisher, "ORG-2")
    create_org(client, publisher, "ORG-1")
    grant(client, publisher, beta, "ORG-2")
    grant(client, publisher, beta, "ORG-1")

    response = client.get("/v1/vendors", headers=publisher)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    names = [v["name"] for v in items]
    assert names == sorted(names)
    by_id = {v["id"]: v for v in items}
    assert by_id[alpha]["organisations"] == []
    assert by_id[beta]["organisations"] == ["ORG-1", "ORG-2"]  # sorted by code


@pytest.mark.parametrize("role", ["vendor", "analyst"])
def test_only_the_publisher_lists_vendors(client, request, role):
    assert_problem(
        client.get("/v1/vendors", headers=request.getfixturevalue(role)), 403, "role_not_allowed"
    )
    assert_problem(client.get("/v1/vendors"), 401, "missing_api_key")


def test_publisher_reads_a_vendor(client, db, publisher):
    vendor_id, _ = make_vendor(db, "Gamma Software")
    create_org(client, publisher, "ORG-G")
    grant(client, publisher, vendor_id, "ORG-G")
    response = client.get(f"/v1/vendors/{vendor_id}", headers=publisher)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == vendor_id
    assert body["name"] == "Gamma Software"
    assert body["organisations"] == ["ORG-G"]


def test_reading_an_unknown_vendor_is_404(client, publisher):
    body = assert_problem(
        client.get(f"/v1/vendors/{UNKNOWN_ID}", headers=publisher), 404, "vendor_not_found"
    )
    assert body["instance"] == f"/v1/vendors/{UNKNOWN_ID}"
    too_long = client.get(f"/v1/vendors/{'a' * 37}", headers=publisher)
    assert ("path", "/vendor_id") in pointers(assert_problem(too_long, 422, "validation_failed"))


def test_a_vendor_reads_itself_but_not_another_vendor(client, db, vendor):
    own_id = vendor_id_of(db, vendor)
    other_id, _ = make_vendor(db)

    own = client.get(f"/v1/vendors/{own_id}", headers=vendor)
    assert own.status_code == 200, own.text
    assert own.json()["id"] == own_id

    other = client.get(f"/v1/vendors/{other_id}", headers=vendor)
    missing = client.get(f"/v1/vendors/{UNKNOWN_ID}", headers=vendor)
    other_body = assert_problem(other, 404, "vendor_not_found")
    missing_body = assert_problem(missing, 404, "vendor_not_found")
    # Another vendor's id answers exactly like an id that does not exist.
    assert {k: str(v).replace(other_id, "ID") for k, v in other_body.items()} == {
        k: str(v).replace(UNKNOWN_ID, "ID") for k, v in missing_body.items()
    }


def test_an_analyst_cannot_read_a_vendor(client, db, publisher, analyst):
    vendor_id, _ = make_vendor(db)
    create_org(client, publisher, "ORG-A")
    grant(client, publisher, vendor_id, "ORG-A")
    response = client.get(f"/v1/vendors/{vendor_id}", headers=analyst)
    assert response.status_code in (403, 404), response.text
    assert response.headers["content-type"] == PROBLEM


# --- API keys ------------------------------------------------------------------------------


def test_publisher_issues_a_vendor_key_shown_once(client, db, publisher):
    vendor_id, _ = make_vendor(db)
    response = client.post(
        "/v1/api-keys",
        json={"name": "Acme production", "role": "vendor", "vendor_id": vendor_id},
        headers=publisher,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "role",
        "vendor_id",
        "organisation",
        "municipalities",
        "created_at",
        "revoked_at",
        "key",
    }
    assert body["organisation"] is None and body["municipalities"] == []
    assert body["role"] == "vendor" and body["vendor_id"] == vendor_id
    assert body["name"] == "Acme production" and body["revoked_at"] is None
    raw = body["key"]
    assert raw.startswith("kpi_") and len(raw) > 40

    # The stored row holds the hash and a lookup prefix, never the raw key.
    stored = db.get(ApiKey, body["id"])
    assert stored is not None
    assert stored.key_hash == hash_key(raw)
    assert raw.startswith("kpi_" + stored.lookup)
    columns = [getattr(stored, c.key) for c in ApiKey.__table__.columns]
    assert all(raw not in str(value) for value in columns)

    # The key works as a Bearer key, for the vendor it belongs to.
    own = client.get(f"/v1/vendors/{vendor_id}", headers=bearer(raw))
    assert own.status_code == 200, own.text
    assert own.json()["id"] == vendor_id
    assert client.get("/v1/organisations", headers=bearer(raw)).json() == {
        "items": [],
        "next": None,
    }
    # ... with the vendor role and nothing more.
    denied = client.post("/v1/vendors", json={"name": "Evil"}, headers=bearer(raw))
    assert_problem(denied, 403, "role_not_allowed")


@pytest.mark.parametrize("role", ["publisher", "analyst"])
def test_publisher_issues_keys_without_a_vendor(client, db, publisher, role):
    response = client.post("/v1/api-keys", json={"name": "k", "role": role}, headers=publisher)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == role and body["vendor_id"] is None
    principal = authenticate(db, body["key"])
    assert principal is not None and principal.role is Role(role)
    assert client.get("/v1/organisations", headers=bearer(body["key"])).status_code == 200


@pytest.mark.parametrize(
    ("role", "with_vendor"),
    [("vendor", False), ("analyst", True), ("publisher", True)],
)
def test_vendor_id_goes_with_the_vendor_role_only(client, db, publisher, role, with_vendor):
    vendor_id, _ = make_vendor(db)
    before = db.scalar(select(func.count()).select_from(ApiKey))
    body = {"name": "k", "role": role} | ({"vendor_id": vendor_id} if with_vendor else {})
    response = client.post("/v1/api-keys", json=body, headers=publisher)
    problem = assert_problem(response, 422, "vendor_key_mismatch")
    assert problem["errors"] == [
        {
            "location": "body",
            "pointer": "/vendor_id",
            "code": "vendor_key_mismatch",
            "message": problem["errors"][0]["message"],
        }
    ]
    assert db.scalar(select(func.count()).select_from(ApiKey)) == before


def test_a_key_for_an_unknown_vendor_is_refused(client, db, publisher):
    before = db.scalar(select(func.count()).select_from(ApiKey))
    response = client.post(
        "/v1/api-keys",
        json={"name": "k", "role": "vendor", "vendor_id": UNKNOWN_ID},
        headers=publisher,
    )
    assert_problem(response, 404, "vendor_not_found")
    assert db.scalar(select(func.count()).select_from(ApiKey)) == before


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"role": "analyst"}, "/name"),
        ({"name": "", "role": "analyst"}, "/name"),
        ({"name": "k"}, "/role"),
        ({"name": "k", "role": "admin"}, "/role"),
        ({"name": "k", "role": "vendor", "vendor_id": "x" * 37}, "/vendor_id"),
        ({"name": "k", "role": "analyst", "scopes": ["all"]}, "/scopes"),
    ],
)
def test_api_key_bodies_are_validated(client, publisher, body, pointer):
    response = client.post("/v1/api-keys", json=body, headers=publisher)
    problem = assert_problem(response, 422, "validation_failed")
    assert ("body", pointer) in pointers(problem)


@pytest.mark.parametrize("role", ["vendor", "analyst"])
def test_only_the_publisher_issues_and_revokes_keys(client, db, request, role):
    headers = request.getfixturevalue(role)
    key, _ = create_key(db, name="victim", role=Role.analyst)
    db.commit()
    issue = client.post("/v1/api-keys", json={"name": "k", "role": "publisher"}, headers=headers)
    assert_problem(issue, 403, "role_not_allowed")
    revoke = client.delete(f"/v1/api-keys/{key.id}", headers=headers)
    assert_problem(revoke, 403, "role_not_allowed")
    assert db.get(ApiKey, key.id).revoked_at is None
    assert_problem(client.post("/v1/api-keys", json={}), 401, "missing_api_key")
    assert_problem(client.delete(f"/v1/api-keys/{key.id}"), 401, "missing_api_key")


def test_revoking_a_key_stops_it_at_once(client, db, publisher):
    vendor_id, _ = make_vendor(db)
    issued = client.post(
        "/v1/api-keys",
        json={"name": "k", "role": "vendor", "vendor_id": vendor_id},
        headers=publisher,
    ).json()
    headers = bearer(issued["key"])
    assert client.get(f"/v1/vendors/{vendor_id}", headers=headers).status_code == 200

    revoked = client.delete(f"/v1/api-keys/{issued['id']}", headers=publisher)
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert "key" not in body
    assert body["id"] == issued["id"] and body["revoked_at"] is not None

    after = client.get(f"/v1/vendors/{vendor_id}", headers=headers)
    assert_problem(after, 401, "invalid_api_key")
    assert after.headers["WWW-Authenticate"] == "Bearer"
    assert authenticate(db, issued["key"]) is None

    # Revoking again changes nothing: the first revocation time stays.
    again = client.delete(f"/v1/api-keys/{issued['id']}", headers=publisher)
    assert again.status_code == 200, again.text
    assert again.json()["revoked_at"] == body["revoked_at"]


def test_revoking_an_unknown_key_is_404(client, publisher):
    response = client.delete(f"/v1/api-keys/{UNKNOWN_ID}", headers=publisher)
    assert_problem(response, 404, "api_key_not_found")


# --- organisations -------------------------------------------------------------------------


def test_publisher_creates_an_organisation(client, publisher):
    response = client.post(
        "/v1/organisations",
        json={
            "code": "41150990",
            "name": "Buurtwerk Noord",
            "municipalities": ["GM0363", "GM0014", "GM0363"],
        },
        headers=publisher,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/v1/organisations/41150990"
    body = response.json()
    assert set(body) == {"code", "name", "municipalities", "created_at"}
    assert body["code"] == "41150990" and body["name"] == "Buurtwerk Noord"
    assert body["municipalities"] == ["GM0014", "GM0363"]  # de-duplicated and sorted

    read = client.get(response.headers["Location"], headers=publisher)
    assert read.status_code == 200, read.text
    assert read.json() == body


def test_an_unknown_municipality_is_422_and_stores_nothing(client, db, publisher):
    response = client.post(
        "/v1/organisations",
        json={"code": "ORG-X", "name": "X", "municipalities": ["GM0363", "GM9999", "GM0000"]},
        headers=publisher,
    )
    body = assert_problem(response, 422, "municipality_unknown")
    assert [e["pointer"] for e in body["errors"]] == ["/municipalities/1", "/municipalities/2"]
    for error in body["errors"]:
        assert error["location"] == "body"
        assert error["code"] == "municipality_unknown"
    messages = " ".join(e["message"] for e in body["errors"])
    assert "GM9999" in messages and "GM0000" in messages and "GM0363" not in messages
    malformed = client.post(
        "/v1/organisations",
        json={"code": "ORG-X", "name": "X", "municipalities": ["GM0363", "Amsterdam"]},
        headers=publisher,
    )
    body = assert_problem(malformed, 422, "validation_failed")
    assert body["errors"][0]["pointer"] == "/municipalities/1"
    assert db.scalar(select(Organisation).where(Organisation.code == "ORG-X")) is None
    assert_problem(
        client.get("/v1/organisations/ORG-X", headers=publisher), 404, "organisation_not_found"
    )


def test_a_duplicate_organisation_code_is_409(client, publisher):
    create_org(client, publisher, "41150990", name="First")
    again = client.post(
        "/v1/organisations",
        json={"code": "41150990", "name": "Second", "municipalities": ["GM0014"]},
        headers=publisher,
    )
    assert_problem(again, 409, "organisation_exists")
    read = client.get("/v1/organisations/41150990", headers=publisher).json()
    assert read["name"] == "First" and read["municipalities"] == ["GM0363"]


@pytest.mark.parametrize(
    "code", ["", "-abc", ".abc", "a b", "ab/c", "ab%c", "ä123", "x" * 41, 41150990]
)
def test_an_invalid_organisation_code_is_422(client, publisher, code):
    response = client.post(
        "/v1/organisations",
        json={"code": code, "name": "X", "municipalities": ["GM0363"]},
        headers=publisher,
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert ("body", "/code") in pointers(problem)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"code": "ORG", "name": "X"}, "/municipalities"),
        ({"code": "ORG", "name": "X", "municipalities": []}, "/municipalities"),
        ({"code": "ORG", "name": "X", "municipalities": [5]}, "/municipalities/0"),
        ({"code": "ORG", "municipalities": ["GM0363"]}, "/name"),
        ({"code": "ORG", "name": " ", "municipalities": ["GM0363"]}, "/name"),
        ({"code": "ORG", "name": "X", "municipalities": ["GM0363"], "kvk": "1"}, "/kvk"),
    ],
)
def test_organisation_bodies_are_validated(client, publisher, body, pointer):
    response = client.post("/v1/organisations", json=body, headers=publisher)
    problem = assert_problem(response, 422, "validation_failed")
    assert ("body", pointer) in pointers(problem)


def test_an_invalid_code_in_the_path_is_422(client, publisher):
    response = client.get("/v1/organisations/-bad", headers=publisher)
    problem = assert_problem(response, 422, "validation_failed")
    assert ("path", "/code") in pointers(problem)


@pytest.mark.parametrize("role", ["vendor", "analyst"])
def test_only_the_publisher_creates_organisations(client, request, role):
    body = {"code": "ORG", "name": "X", "municipalities": ["GM0363"]}
    headers = request.getfixturevalue(role)
    assert_problem(
        client.post("/v1/organisations", json=body, headers=headers), 403, "role_not_allowed"
    )
    assert_problem(client.post("/v1/organisations", json=body), 401, "missing_api_key")


def test_publisher_renames_an_organisation_and_changes_its_municipalities(client, publisher):
    created = create_org(client, publisher, "ORG-P", municipalities=["GM0363", "GM0014"])

    renamed = client.patch(
        "/v1/organisations/ORG-P", json={"name": "Nieuwe naam"}, headers=publisher
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Nieuwe naam"
    assert renamed.json()["municipalities"] == ["GM0014", "GM0363"]
    assert renamed.json()["created_at"] == created["created_at"]

    # A set overlapping the old one: GM0363 stays, GM0014 goes, GM0344 comes.
    moved = client.patch(
        "/v1/organisations/ORG-P",
        json={"municipalities": ["GM0344", "GM0363", "GM0344"]},
        headers=publisher,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["name"] == "Nieuwe naam"
    assert moved.json()["municipalities"] == ["GM0344", "GM0363"]

    both = client.patch(
        "/v1/organisations/ORG-P",
        json={"name": "Derde naam", "municipalities": ["GM0599"]},
        headers=publisher,
    )
    assert both.status_code == 200, both.text
    assert both.json()["municipalities"] == ["GM0599"]

    nothing = client.patch("/v1/organisations/ORG-P", json={}, headers=publisher)
    assert nothing.status_code == 200, nothing.text
    assert nothing.json() == both.json()

    read = client.get("/v1/organisations/ORG-P", headers=publisher).json()
    assert read == both.json()
    assert read["name"] == "Derde naam"


def test_a_failed_patch_changes_nothing(client, publisher):
    create_org(client, publisher, "ORG-F", name="Oud")
    response = client.patch(
        "/v1/organisations/ORG-F",
        json={"name": "Nieuw", "municipalities": ["GM0014", "GM9999"]},
        headers=publisher,
    )
    body = assert_problem(response, 422, "municipality_unknown")
    assert len(body["errors"]) == 1 and "GM9999" in body["errors"][0]["message"]
    read = client.get("/v1/organisations/ORG-F", headers=publisher).json()
    assert read["name"] == "Oud" and read["municipalities"] == ["GM0363"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": ""}, "/name"),
        ({"municipalities": []}, "/municipalities"),
        ({"code": "OTHER"}, "/code"),
    ],
)
def test_patch_bodies_are_validated(client, publisher, body, pointer):
    create_org(client, publisher, "ORG-V")
    response = client.patch("/v1/organisations/ORG-V", json=body, headers=publisher)
    problem = assert_problem(response, 422, "validation_failed")
    assert ("body", pointer) in pointers(problem)


def test_patching_an_unknown_organisation_is_404(client, publisher):
    response = client.patch("/v1/organisations/NOPE", json={"name": "X"}, headers=publisher)
    assert_problem(response, 404, "organisation_not_found")


def test_an_analyst_cannot_patch_organisations(client, publisher, analyst):
    create_org(client, publisher, "ORG-N", name="Oud")
    response = client.patch("/v1/organisations/ORG-N", json={"name": "X"}, headers=analyst)
    assert_problem(response, 403, "role_not_allowed")
    assert_problem(
        client.patch("/v1/organisations/ORG-N", json={"name": "X"}), 401, "missing_api_key"
    )
    assert client.get("/v1/organisations/ORG-N", headers=publisher).json()["name"] == "Oud"


# --- authorisations ------------------------------------------------------------------------


def test_authorise_and_unauthorise_are_idempotent(client, db, publisher):
    vendor_id, headers = make_vendor(db)
    org = create_org(client, publisher, "ORG-I")
    path = f"/v1/vendors/{vendor_id}/organisations/ORG-I"

    for _ in range(2):
        response = client.put(path, headers=publisher)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == vendor_id
        assert response.json()["organisations"] == ["ORG-I"]
    links = db.scalars(select(VendorOrganisation).where(VendorOrganisation.vendor_id == vendor_id))
    assert [link.organisation_id for link in links] == [
        db.scalar(select(Organisation.id).where(Organisation.code == org["code"]))
    ]
    assert client.get("/v1/organisations/ORG-I", headers=headers).status_code == 200

    for _ in range(2):
        response = client.delete(path, headers=publisher)
        assert response.status_code == 200, response.text
        assert response.json()["organisations"] == []
    count = db.scalar(
        select(func.count())
        .select_from(VendorOrganisation)
        .where(VendorOrganisation.vendor_id == vendor_id)
    )
    assert count == 0
    # Unauthorised: the vendor loses sight of the organisation at once.
    assert_problem(
        client.get("/v1/organisations/ORG-I", headers=headers), 404, "organisation_not_found"
    )
    assert client.get("/v1/organisations", headers=headers).json()["items"] == []
    # The organisation itself is untouched.
    assert client.get("/v1/organisations/ORG-I", headers=publisher).status_code == 200


@pytest.mark.parametrize("method", ["put", "delete"])
def test_authorising_unknown_things_is_404(client, db, publisher, method):
    vendor_id, _ = make_vendor(db)
    create_org(client, publisher, "ORG-U")
    unknown_vendor = getattr(client, method)(
        f"/v1/vendors/{UNKNOWN_ID}/organisations/ORG-U", headers=publisher
    )
    assert_problem(unknown_vendor, 404, "vendor_not_found")
    unknown_org = getattr(client, method)(
        f"/v1/vendors/{vendor_id}/organisations/NOPE", headers=publisher
    )
    assert_problem(unknown_org, 404, "organisation_not_found")
    bad_code = getattr(client, method)(
        f"/v1/vendors/{vendor_id}/organisations/-bad", headers=publisher
    )
    assert ("path", "/code") in pointers(assert_problem(bad_code, 422, "validation_failed"))


@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_vendor_cannot_authorise_itself(client, db, publisher, vendor, analyst, method):
    vendor_id = vendor_id_of(db, vendor)
    create_org(client, publisher, "ORG-S")
    path = f"/v1/vendors/{vendor_id}/organisations/ORG-S"
    assert_problem(getattr(client, method)(path, headers=vendor), 403, "role_not_allowed")
    assert_problem(getattr(client, method)(path, headers=analyst), 403, "role_not_allowed")
    assert_problem(getattr(client, method)(path), 401, "missing_api_key")
    assert_problem(
        client.get("/v1/organisations/ORG-S", headers=vendor), 404, "organisation_not_found"
    )


# --- broken object-level authorisation -----------------------------------------------------


@pytest.fixture
def two_vendors(client, db, publisher):
    """Vendor A may submit for ORG-1, ORG-3 and ORG-5; vendor B for ORG-2 and ORG-3."""
    a_id, a = make_vendor(db, "Vendor A")
    b_id, b = make_vendor(db, "Vendor B")
    for n, municipalities in enumerate(
        (["GM0363"], ["GM0014"], ["GM0363", "GM0014"], ["GM0344"], ["GM0599"]), start=1
    ):
        create_org(client, publisher, f"ORG-{n}", municipalities=municipalities)
    for code in ("ORG-5", "ORG-1", "ORG-3"):
        grant(client, publisher, a_id, code)
    for code in ("ORG-3", "ORG-2"):
        grant(client, publisher, b_id, code)
    return {"a_id": a_id, "a": a, "b_id": b_id, "b": b}


def test_a_vendor_lists_only_its_own_organisations(client, publisher, analyst, two_vendors):
    a_codes = walk(client, two_vendors["a"], limit=1)
    assert a_codes == ["ORG-1", "ORG-3", "ORG-5"]
    assert walk(client, two_vendors["b"], limit=1) == ["ORG-2", "ORG-3"]
    assert walk(client, two_vendors["a"], limit=2) == a_codes
    one_page = client.get("/v1/organisations", headers=two_vendors["a"]).json()
    assert [o["code"] for o in one_page["items"]] == a_codes and one_page["next"] is None
    assert one_page["items"][1]["municipalities"] == ["GM0014", "GM0363"]

    everything = ["ORG-1", "ORG-2", "ORG-3", "ORG-4", "ORG-5"]
    assert walk(client, publisher, limit=1) == everything
    assert walk(client, analyst, limit=2) == everything


def test_pagination_walks_mixed_codes_once_each(client, db, publisher):
    vendor_id, headers = make_vendor(db)
    codes = ["a-1", "A1", "a.2", "B", "b", "0", "9z", "Z_9", "z"]
    for code in codes:
        create_org(client, publisher, code)
    for code in codes[::2]:
        grant(client, publisher, vendor_id, code)
    full = [o["code"] for o in client.get("/v1/organisations", headers=publisher).json()["items"]]
    assert sorted(full) == sorted(codes)
    assert walk(client, publisher, limit=1) == full
    walked = walk(client, headers, limit=1)
    assert len(walked) == len(set(walked))
    assert walked == [c for c in full if c in set(codes[::2])]


def test_another_vendors_organisation_answers_like_a_missing_one(client, two_vendors):
    hidden = client.get("/v1/organisations/ORG-2", headers=two_vendors["a"])
    missing = client.get("/v1/organisations/ORG-9", headers=two_vendors["a"])
    hidden_body = assert_problem(hidden, 404, "organisation_not_found")
    missing_body = assert_problem(missing, 404, "organisation_not_found")
    assert {k: str(v).replace("ORG-2", "CODE") for k, v in hidden_body.items()} == {
        k: str(v).replace("ORG-9", "CODE") for k, v in missing_body.items()
    }
    assert set(hidden.headers) == set(missing.headers)
    # An organisation no vendor is authorised for is just as invisible.
    assert_problem(
        client.get("/v1/organisations/ORG-4", headers=two_vendors["a"]),
        404,
        "organisation_not_found",
    )
    # Shared and own organisations are visible.
    shared = client.get("/v1/organisations/ORG-3", headers=two_vendors["a"])
    assert shared.status_code == 200, shared.text
    assert shared.json()["municipalities"] == ["GM0014", "GM0363"]
    assert client.get("/v1/organisations/ORG-2", headers=two_vendors["b"]).status_code == 200


def test_a_vendor_cannot_patch_organisations(client, publisher, two_vendors):
    for code in ("ORG-1", "ORG-2", "ORG-9"):  # own, another vendor's, nonexistent
        response = client.patch(
            f"/v1/organisations/{code}", json={"name": "Overgenomen"}, headers=two_vendors["a"]
        )
        assert_problem(response, 403, "role_not_allowed")
    assert client.get("/v1/organisations/ORG-1", headers=publisher).json()["name"] == (
        "Organisation ORG-1"
    )


def test_a_vendor_sees_its_organisations_on_its_vendor_record(client, two_vendors):
    own = client.get(f"/v1/vendors/{two_vendors['a_id']}", headers=two_vendors["a"])
    assert own.json()["organisations"] == ["ORG-1", "ORG-3", "ORG-5"]
    other = client.get(f"/v1/vendors/{two_vendors['b_id']}", headers=two_vendors["a"])
    assert_problem(other, 404, "vendor_not_found")


def test_list_parameters_are_validated(client, publisher):
    for limit in (0, 501, "many"):
        response = client.get("/v1/organisations", params={"limit": limit}, headers=publisher)
        problem = assert_problem(response, 422, "validation_failed")
        assert ("query", "/limit") in pointers(problem)
    garbage = client.get("/v1/organisations", params={"cursor": "not-a-cursor!"}, headers=publisher)
    assert_problem(garbage, 400, "invalid_cursor")
    assert_problem(client.get("/v1/organisations"), 401, "missing_api_key")


def test_a_cursor_of_another_list_is_refused(client, publisher):
    create_org(client, publisher, "ORG-1")
    create_org(client, publisher, "ORG-2")
    forged = base64.urlsafe_b64encode(b'["organisations", 7]').decode()
    for cursor in (encode_cursor("releases", 7), encode_cursor("kpis", "ORG-1"), forged):
        response = client.get("/v1/organisations", params={"cursor": cursor}, headers=publisher)
        assert response.status_code in (400, 422), (cursor, response.text)
        assert response.json()["code"] == "invalid_cursor"


# --- every error is a problem --------------------------------------------------------------


def test_every_registry_error_is_problem_json(client, db, publisher, vendor, analyst):
    create_org(client, publisher, "ORG-E")
    cases = [
        (client.post("/v1/vendors", json={"name": "x"}), 401),
        (client.post("/v1/vendors", json={"name": "x"}, headers=analyst), 403),
        (client.post("/v1/vendors", json={}, headers=publisher), 422),
        (client.get(f"/v1/vendors/{UNKNOWN_ID}", headers=publisher), 404),
        (client.post("/v1/api-keys", json={"name": "k", "role": "vendor"}, headers=publisher), 422),
        (client.delete(f"/v1/api-keys/{UNKNOWN_ID}", headers=publisher), 404),
        (
            client.post(
                "/v1/organisations",
                json={"code": "ORG-E", "name": "x", "municipalities": ["GM0363"]},
                headers=publisher,
            ),
            409,
        ),
        (client.get("/v1/organisations/ORG-E", headers=vendor), 404),
        (client.patch("/v1/organisations/ORG-E", json={}, headers=vendor), 403),
        (client.put(f"/v1/vendors/{UNKNOWN_ID}/organisations/ORG-E", headers=publisher), 404),
        (client.get("/v1/organisations", params={"cursor": "%%"}, headers=publisher), 400),
        (client.patch("/v1/vendors", json={}, headers=publisher), 405),
        (client.get("/v1/organisations", headers=bearer("kpi_" + "y" * 43)), 401),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.headers["content-type"] == PROBLEM, response.request.url
        body = response.json()
        assert body["status"] == status and body["code"] and body["type"].startswith("urn:")


# --- concurrent writes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def committing(scratch):
    """A real app on its own migrated database, committing every request like production."""
    if scratch.backend == "sqlite":
        pytest.skip("SQLite writers queue on BEGIN IMMEDIATE, so these races cannot happen there")
    url = scratch.create()
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_reference(session)
        _, raw = create_key(session, name="race publisher", role=Role.publisher)
    app = create_app(Settings(database_url=url), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, engine, bearer(raw)
    engine.dispose()


@contextmanager
def committed_meanwhile(engine, table: str, make_statement):
    """Right after the request first reads ``table``, another connection commits a row there."""
    pattern = re.compile(rf"^\s*SELECT\b.*\bFROM {table}\b", re.IGNORECASE | re.DOTALL)
    fired: list[bool] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not fired and pattern.search(statement):
            fired.append(True)
            with engine.begin() as other:
                other.execute(make_statement())

    event.listen(engine, "after_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(engine, "after_cursor_execute", hook)


def test_a_concurrent_duplicate_vendor_is_409(committing):
    client, engine, publisher = committing
    name = f"race {uuid.uuid4().hex[:8]}"
    with committed_meanwhile(
        engine, "vendor", lambda: insert(Vendor.__table__).values(name=name)
    ) as fired:
        response = client.post("/v1/vendors", json={"name": name}, headers=publisher)
    assert fired
    assert_problem(response, 409, "vendor_exists")


def test_a_concurrent_duplicate_organisation_is_409(committing):
    client, engine, publisher = committing
    code = f"RACE-{uuid.uuid4().hex[:8]}"
    with committed_meanwhile(
        engine, "organisation", lambda: insert(Organisation.__table__).values(code=code, name="x")
    ) as fired:
        response = client.post(
            "/v1/organisations",
            json={"code": code, "name": "Buurtwerk", "municipalities": ["GM0363"]},
            headers=publisher,
        )
    assert fired
    assert_problem(response, 409, "organisation_exists")


def test_concurrent_identical_authorisations_both_succeed(committing):
    client, engine, publisher = committing
    vendor = client.post(
        "/v1/vendors", json={"name": f"race {uuid.uuid4().hex[:8]}"}, headers=publisher
    ).json()
    code = f"RACE-{uuid.uuid4().hex[:8]}"
    org = client.post(
        "/v1/organisations",
        json={"code": code, "name": "Buurtwerk", "municipalities": ["GM0363"]},
        headers=publisher,
    )
    assert org.status_code == 201, org.text
    with Session(engine) as session:
        org_id = session.scalar(select(Organisation.id).where(Organisation.code == code))

    with committed_meanwhile(
        engine,
        "vendor_organisation",
        lambda: insert(VendorOrganisation.__table__).values(
            vendor_id=vendor["id"], organisation_id=org_id
        ),
    ) as fired:
        response = client.put(f"/v1/vendors/{vendor['id']}/organisations/{code}", headers=publisher)
    assert fired
    assert response.status_code == 200, response.text
    assert response.json()["organisations"] == [code]

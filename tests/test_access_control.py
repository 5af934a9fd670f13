"""OWASP API Security Top 10 style checks over HTTP, on SQLite and PostgreSQL.

API1 broken object-level authorisation first: two vendors, each with its own organisation and
data, must not see or touch each other's organisations, submissions, measurements or
aggregates, and a guessed identifier must answer exactly like a missing one. Then API5 broken
function-level authorisation (analysts write nothing, vendors publish nothing, anonymous
callers reach only the public reads; every operation of the committed OpenAPI document is
tried) and API2 broken authentication (revocation is immediate, keys are compared in constant
time and never logged or echoed).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_api import auth
from kpi_api.auth import ApiKey, Role, create_key, hash_key
from kpi_api.db import Base
from kpi_api.web.pagination import encode_cursor
from tests.catalogue.test_publishing import new_kpi
from tests.submissions import conftest as registry_fixtures
from tests.submissions.conftest import row, submit

world = registry_fixtures.world  # vendor A with ORG-A, vendor B with ORG-B, and a publisher

SPEC = json.loads((Path(__file__).parents[1] / "openapi" / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()
]
WRITES = [(m, p, op) for m, p, op in OPERATIONS if m in {"POST", "PUT", "PATCH", "DELETE"}]
PUBLIC = {
    ("GET", path)
    for path in (
        "/health",
        "/ready",
        "/v1/kpis",
        "/v1/kpis/{code}",
        "/v1/kpis/{code}/versions",
        "/v1/kpis/{code}/versions/{version}",
        "/v1/releases",
        "/v1/releases/current",
        "/v1/releases/{release_id}",
        "/v1/releases/{release_id}/diff",
        "/v1/life-domains",
        "/v1/work-fields",
        "/v1/kpi-sets",
        "/v1/code-lists",
        "/v1/code-lists/{code}",
        "/v1/provinces",
        "/v1/municipalities",
        "/v1/validation-rules",
    )
}

AGREEMENT = {
    "title": "Afspraak",
    "work_field": "ouderenwerk",
    "organisations": ["ORG-A"],
    "municipalities": ["GM0363"],
    "term": {"start": "2025-01-01", "end": "2025-12-31"},
    "kpis": [{"kpi": "ACT-01"}],
}
# A plausible, valid body for every write: a refusal must come from the role, not the body.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/kpis"): new_kpi(),
    ("POST", "/v1/kpis/{code}/deprecation"): {"effective_from": "2026-01-01", "reason": "old"},
    ("POST", "/v1/kpis/{code}/versions"): {"unit": "persons (new)"},
    ("PATCH", "/v1/kpis/{code}/versions/{version}"): {"unit": "persons (edited)"},
    ("POST", "/v1/releases"): {"id": "2099.01", "title_nl": "Test", "title_en": "Test"},
    ("POST", "/v1/vendors"): {"name": "Rogue vendor"},
    ("POST", "/v1/api-keys"): {"name": "rogue", "role": "publisher"},
    ("POST", "/v1/organisations"): {
        "code": "ORG-ROGUE",
        "name": "Rogue",
        "municipalities": ["GM0363"],
    },
    ("PATCH", "/v1/organisations/{code}"): {"name": "Renamed", "municipalities": ["GM0014"]},
    ("POST", "/v1/submissions"): {"measurements": [row()]},
    ("POST", "/v1/period-locks"): {"period": "2024-Q4", "reason": "closed"},
    ("POST", "/v1/figure-releases"): {"period": "2025", "kpis": ["ACT-01"]},
    ("POST", "/v1/agreements"): AGREEMENT,
    ("PUT", "/v1/agreements/{agreement_id}"): AGREEMENT,
    ("POST", "/v1/agreements/{agreement_id}/status"): {"status": "active"},
    ("POST", "/v1/agreements/{agreement_id}/explanations"): {
        "kpi": "ACT-01",
        "period": "2025-Q1",
        "text": "Toelichting",
    },
}
#: Agreements are written by the organisation side (vendors among them) and the publisher.
AGREEMENT_WRITES = "/v1/agreements"


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def fill(path: str, **values: Any) -> str:
    """A concrete URL for an operation's path template, from plausible values."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "code":
            if "/organisations" in path:
                name = "organisation"
            elif path.startswith("/v1/code-lists"):
                return "age_band"
            else:
                name = "kpi"
        return str(values[name])

    return re.sub(r"\{(\w+)\}", value, path)


def call(client, method: str, path: str, op: dict, headers: dict[str, str], **values: Any):
    defaults = {
        "kpi": "ACT-01",
        "version": 1,
        "release_id": "2026.11",
        "organisation": "ORG-A",
        "vendor_id": str(uuid.uuid4()),
        "key_id": str(uuid.uuid4()),
        "period": "2024-Q4",
        "submission_id": str(uuid.uuid4()),
        "measurement_id": 1,
        "agreement_id": str(uuid.uuid4()),
    }
    url = fill(path, **(defaults | values))
    kwargs: dict[str, Any] = {"headers": headers}
    if "requestBody" in op:
        kwargs["json"] = BODIES.get((method, path), {})
    params = {"period": "2025-03"} if path.startswith("/v1/aggregates") else {}
    return client.request(method, url, params=params, **kwargs)


def snapshot(db: Session) -> dict[str, list[str]]:
    """Every row of every table: proof that a refused request changed nothing."""
    db.expire_all()
    return {
        table.name: sorted(repr(tuple(r)) for r in db.execute(select(table)))
        for table in Base.metadata.sorted_tables
    }


def normalised(response, *identifiers: str) -> tuple[int, str, dict[str, Any]]:
    """Status, media type and body with the identifier asked for blanked out."""
    text = response.text
    for identifier in identifiers:
        text = re.sub(rf"(?<![\w-]){re.escape(identifier)}(?![\w-])", "<id>", text)
    return response.status_code, response.headers["content-type"], json.loads(text)


def test_the_operation_tables_match_the_committed_spec():
    operations = {(m, p) for m, p, _ in OPERATIONS}
    assert operations >= PUBLIC, PUBLIC - operations
    assert operations >= set(BODIES), set(BODIES) - operations
    assert len(WRITES) >= 16  # the iteration below is not vacuous
    # Every write that takes a body has a plausible one here.
    assert {(m, p) for m, p, op in WRITES if "requestBody" in op} <= set(BODIES)


# --- API1: broken object-level authorisation --------------------------------------------------


@dataclass
class Data:
    a_submission: str
    b_submission: str
    a_series: list[int]
    b_series: list[int]
    b_body: dict[str, Any]


@pytest.fixture
def data(client, world) -> Data:
    """A and B each store measurements in Amsterdam; B's carry a note and a record id."""
    a = submit(
        client,
        world.a,
        [
            row(value=40, note="A's own note"),
            row(period="2025-02", value=41, record_id="a-2"),
        ],
    )
    b_rows = [
        row(organisation="ORG-B", value=30, note="B-secret-note", record_id="b-secret-record")
    ]
    b = submit(client, world.b, b_rows, headers={"Idempotency-Key": "shared-key"})
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    listed = client.get("/v1/measurements", params={"limit": 500}, headers=world.publisher)
    series: dict[str, list[int]] = {"ORG-A": [], "ORG-B": []}
    for item in listed.json()["items"]:
        series[item["organisation"]].append(item["id"])
    return Data(
        a.json()["id"], b.json()["id"], series["ORG-A"], series["ORG-B"], {"measurements": b_rows}
    )


def test_a_vendor_sees_only_its_own_organisations_and_vendor(client, world, data):
    listed = client.get("/v1/organisations", headers=world.a.headers)
    assert [o["code"] for o in listed.json()["items"]] == ["ORG-A"]
    other = client.get("/v1/organisations/ORG-B", headers=world.a.headers)
    missing = client.get("/v1/organisations/ORG-NOPE", headers=world.a.headers)
    assert other.status_code == 404 and other.json()["code"] == "organisation_not_found"
    assert normalised(other, "ORG-B") == normalised(missing, "ORG-NOPE")
    assert client.get("/v1/organisations/ORG-B", headers=world.publisher).status_code == 200

    mine = client.get(f"/v1/vendors/{world.a.vendor_id}", headers=world.a.headers)
    assert mine.status_code == 200 and mine.json()["organisations"] == ["ORG-A"]
    theirs = client.get(f"/v1/vendors/{world.b.vendor_id}", headers=world.a.headers)
    nobody = str(uuid.uuid4())
    ghost = client.get(f"/v1/vendors/{nobody}", headers=world.a.headers)
    assert theirs.status_code == 404
    assert normalised(theirs, world.b.vendor_id) == normalised(ghost, nobody)
    assert client.get("/v1/vendors", headers=world.a.headers).status_code == 403


def test_a_vendor_cannot_write_another_vendors_organisation(client, db, world, data):
    before = snapshot(db)
    attempts = {
        "submit": [row(organisation="ORG-B", value=999)],
        "withdraw": [row(organisation="ORG-B", value=None, withdraw=True)],
        "mixed": [row(value=1, period="2025-01"), row(organisation="ORG-B", value=999)],
    }
    for name, rows in attempts.items():
        for params in ({}, {"mode": "partial"}, {"dry_run": "true"}):
            response = submit(client, world.a, rows, params=params)
            assert response.status_code == 403, (name, params, response.text)
            assert response.json()["code"] == "organisation_not_authorised"
    # Another vendor's organisation is refused exactly like one that does not exist.
    theirs = submit(client, world.a, [row(organisation="ORG-B")])
    ghost = submit(client, world.a, [row(organisation="ORG-NOPE")])
    assert normalised(theirs, "ORG-B") == normalised(ghost, "ORG-NOPE")
    # Registry writes on it are the publisher's.
    patch = client.patch("/v1/organisations/ORG-B", json={"name": "X"}, headers=world.a.headers)
    grant = client.put(
        f"/v1/vendors/{world.a.vendor_id}/organisations/ORG-B", headers=world.a.headers
    )
    assert (patch.status_code, grant.status_code) == (403, 403)
    # Replaying B's request with B's Idempotency-Key gives A neither B's report nor B's data.
    replay = client.post(
        "/v1/submissions",
        json=data.b_body,
        headers=world.a.headers | {"Idempotency-Key": "shared-key"},
    )
    assert replay.status_code == 403 and "Idempotent-Replayed" not in replay.headers
    assert data.b_submission not in replay.text and "B-secret" not in replay.text
    # Submissions that were refused are not even stored.
    assert snapshot(db) == before
    # The same key for A's own batch is A's own: a new submission, not B's replay.
    own = submit(
        client, world.a, [row(period="2025-01")], headers={"Idempotency-Key": "shared-key"}
    )
    assert own.status_code == 201 and own.json()["id"] != data.b_submission
    assert "Idempotent-Replayed" not in own.headers


def test_a_vendor_cannot_read_another_vendors_submissions(client, world, analyst, data):
    for suffix in ("", "/raw"):
        own = client.get(f"/v1/submissions/{data.a_submission}{suffix}", headers=world.a.headers)
        assert own.status_code == 200
        assert "B-secret" not in own.text
        theirs = client.get(f"/v1/submissions/{data.b_submission}{suffix}", headers=world.a.headers)
        assert theirs.status_code == 404, theirs.text
        assert theirs.json()["code"] == "submission_not_found"
        assert "B-secret" not in theirs.text
        for _ in range(3):
            guess = str(uuid.uuid4())
            ghost = client.get(f"/v1/submissions/{guess}{suffix}", headers=world.a.headers)
            assert normalised(theirs, data.b_submission) == normalised(ghost, guess)
        # Its owner and the publisher can; an analyst reads no submissions at all.
        assert (
            client.get(
                f"/v1/submissions/{data.b_submission}{suffix}", headers=world.b.headers
            ).status_code
            == 200
        )
        assert (
            client.get(
                f"/v1/submissions/{data.b_submission}{suffix}", headers=world.publisher
            ).status_code
            == 200
        )
        assert (
            client.get(f"/v1/submissions/{data.b_submission}{suffix}", headers=analyst).status_code
            == 403
        )


def test_a_vendor_lists_only_its_own_measurements(client, world, data):
    def items(**params):
        response = client.get(
            "/v1/measurements", params={"limit": 500} | params, headers=world.a.headers
        )
        assert response.status_code == 200, response.text
        assert "B-secret" not in response.text
        return response.json()["items"]

    assert items(organisation="ORG-B") == [] == items(organisation="ORG-NOPE")
    assert sorted(i["id"] for i in items()) == sorted(data.a_series)
    assert {i["organisation"] for i in items(municipality="GM0363")} == {"ORG-A"}
    assert {i["organisation"] for i in items(period="2025-03")} == {"ORG-A"}
    # A forged cursor resumes a list; it cannot widen it.
    assert {i["organisation"] for i in items(cursor=encode_cursor("measurements", 0))} == {"ORG-A"}


def test_the_history_of_another_vendors_series_is_404(client, world, data):
    (theirs,) = data.b_series
    response = client.get(f"/v1/measurements/{theirs}/history", headers=world.a.headers)
    ghost_id = 2**62
    ghost = client.get(f"/v1/measurements/{ghost_id}/history", headers=world.a.headers)
    assert response.status_code == 404 and response.json()["code"] == "measurement_not_found"
    assert normalised(response, str(theirs)) == normalised(ghost, str(ghost_id))
    assert "B-secret" not in response.text
    own = client.get(f"/v1/measurements/{data.a_series[0]}/history", headers=world.a.headers)
    assert own.status_code == 200
    assert client.get(f"/v1/measurements/{theirs}/history", headers=world.b.headers).is_success


def test_sequential_measurement_ids_reveal_nothing(client, world, data):
    """Walking the id space finds exactly the vendor's own series; every other id answers
    like an id that never existed."""
    ids = data.a_series + data.b_series
    ghost_id = 2**62
    baseline = normalised(
        client.get(f"/v1/measurements/{ghost_id}/history", headers=world.a.headers),
        str(ghost_id),
    )
    found = []
    for guess in range(max(1, min(ids) - 3), max(ids) + 4):
        response = client.get(f"/v1/measurements/{guess}/history", headers=world.a.headers)
        if response.status_code == 200:
            found.append(guess)
        else:
            assert normalised(response, str(guess)) == baseline
    assert sorted(found) == sorted(data.a_series)


def test_vendor_aggregates_include_only_its_own_organisations(client, app, world, publisher, data):
    app.state.settings = app.state.settings.model_copy(
        update={
            "aggregate_min_organisations": 1,
            "aggregate_min_people": 0,
            "aggregate_dominance": 1.0,
        }
    )

    def aggregate(headers, **params):
        response = client.get(
            "/v1/aggregates/ACT-01", params={"period": "2025-03"} | params, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    everyone = aggregate(publisher)["cells"]
    assert [(c["value"], c["organisations"]) for c in everyone] == [(70, 2)]
    for party, value, foreign in ((world.a, 40, "B-secret"), (world.b, 30, "A's own")):
        for params in (
            {},
            {"level": "municipality", "area": "GM0363"},
            {"level": "province"},
            {"notes": "true"},
            {"format": "csv"},
        ):
            response = client.get(
                "/v1/aggregates/ACT-01",
                params={"period": "2025-03"} | params,
                headers=party.headers,
            )
            assert response.status_code == 200 and foreign not in response.text
        body = aggregate(party.headers, notes="true")
        assert [(c["value"], c["organisations"]) for c in body["cells"]] == [(value, 1)]
        # Even the moment of the latest change is the vendor's own.
        own = client.get("/v1/measurements", headers=party.headers).json()["items"]
        assert body["latest_change"] == max(i["submitted_at"] for i in own)
    assert aggregate(world.a.headers, notes="true")["cells"][0]["notes"] == ["A's own note"]


# --- API5: broken function-level authorisation -------------------------------------------------


def test_analysts_cannot_write_anything(client, db, world, analyst, data):
    victim, victim_raw = create_key(db, name="victim", role=Role.publisher)
    db.commit()
    before = snapshot(db)
    tried = []
    for method, path, op in WRITES:
        response = call(
            client,
            method,
            path,
            op,
            analyst,
            vendor_id=world.a.vendor_id,
            key_id=victim.id,
            submission_id=data.a_submission,
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "role_not_allowed"
        tried.append((method, path))
    assert len(tried) == len(WRITES)
    assert snapshot(db) == before
    assert client.get("/v1/period-locks", headers=bearer(victim_raw)).status_code == 200


def test_vendors_cannot_publish(client, db, world, data):
    """Catalogue writes, releases, period locks and every registry write: 403 for a vendor,
    even aimed at itself (granting itself ORG-B, minting itself a key)."""
    victim, victim_raw = create_key(db, name="victim", role=Role.publisher)
    db.commit()
    before = snapshot(db)
    for method, path, op in WRITES:
        if (method, path) == ("POST", "/v1/submissions") or path.startswith(AGREEMENT_WRITES):
            continue  # a vendor's own writes: its batches, its organisations' agreements
        response = call(
            client,
            method,
            path,
            op,
            world.a.headers,
            vendor_id=world.a.vendor_id,
            organisation="ORG-B",
            key_id=victim.id,
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "role_not_allowed"
    assert snapshot(db) == before
    assert client.get("/v1/period-locks", headers=bearer(victim_raw)).status_code == 200
    assert client.get("/v1/organisations/ORG-B", headers=world.a.headers).status_code == 404


def test_anonymous_callers_reach_only_the_public_reads(client, db, world, data):
    before = snapshot(db)
    for method, path, op in OPERATIONS:
        response = call(
            client,
            method,
            path,
            op,
            {},
            vendor_id=world.a.vendor_id,
            submission_id=data.a_submission,
            measurement_id=data.a_series[0],
        )
        if (method, path) in PUBLIC:
            assert response.status_code == 200, (method, path, response.text)
        else:
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "missing_api_key"
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "B-secret" not in response.text and "A's own" not in response.text
    assert snapshot(db) == before


# --- API2: broken authentication ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["publisher", "vendor", "analyst"])
def test_a_revoked_key_stops_working_at_the_very_next_request(client, world, role):
    body = {"name": f"short-lived {role}", "role": role}
    if role == "vendor":
        body["vendor_id"] = world.a.vendor_id
    created = client.post("/v1/api-keys", json=body, headers=world.publisher)
    assert created.status_code == 201, created.text
    key_id, headers = created.json()["id"], bearer(created.json()["key"])
    assert client.get("/v1/period-locks", headers=headers).status_code == 200
    revoked = client.delete(f"/v1/api-keys/{key_id}", headers=world.publisher)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    for path in ("/v1/period-locks", "/v1/kpis"):  # a revoked key is not anonymous either
        refused = client.get(path, headers=headers)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["code"] == "invalid_api_key"
    again = client.delete(f"/v1/api-keys/{key_id}", headers=world.publisher)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_a_publisher_key_that_revokes_itself_is_refused_next(client, db):
    key, raw = create_key(db, name="self", role=Role.publisher)
    db.commit()
    assert client.delete(f"/v1/api-keys/{key.id}", headers=bearer(raw)).status_code == 200
    response = client.get("/v1/vendors", headers=bearer(raw))
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


def test_api_keys_are_compared_with_hmac_compare_digest(client, db, monkeypatch):
    key, raw = create_key(db, name="spied", role=Role.analyst)
    db.commit()
    real = hmac.compare_digest
    calls: list[tuple[Any, Any]] = []
    answer: list[bool | None] = [None]

    def spy(a, b):
        calls.append((a, b))
        return real(a, b) if answer[0] is None else answer[0]

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert client.get("/v1/period-locks", headers=bearer(raw)).status_code == 200
    assert calls == [(key.key_hash, hash_key(raw))]

    calls.clear()  # a tampered secret behind a valid lookup: compared, refused
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert client.get("/v1/period-locks", headers=bearer(tampered)).status_code == 401
    assert calls == [(key.key_hash, hash_key(tampered))]

    calls.clear()  # an unknown lookup is still compared (with a dummy), so timing tells nothing
    unknown = "kpi_" + "z" * 43
    assert client.get("/v1/period-locks", headers=bearer(unknown)).status_code == 401
    assert len(calls) == 1 and calls[0][1] == hash_key(unknown)

    calls.clear()  # and the comparison decides: when it says no, the right key is refused
    answer[0] = False
    assert client.get("/v1/period-locks", headers=bearer(raw)).status_code == 401
    assert len(calls) == 1


@pytest.fixture
def verbose_logs(caplog):
    """kpi_api and SQLAlchemy at DEBUG (SQL, parameters and rows), set before the test's
    database connection is opened: request this fixture before `client` and `db`."""
    for name in ("kpi_api", "sqlalchemy"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _logged(record: logging.LogRecord) -> str:
    parts = [str(record.msg), repr(record.args), record.getMessage()]
    parts += [repr(getattr(record, "fields", None)), record.exc_text or ""]
    return "\n".join(parts)


def test_keys_never_appear_in_logs(verbose_logs, client, world):
    created = client.post(
        "/v1/api-keys", json={"name": "logged?", "role": "publisher"}, headers=world.publisher
    )
    raw = created.json()["key"]
    vendor = client.post(
        "/v1/api-keys",
        json={"name": "logged vendor?", "role": "vendor", "vendor_id": world.a.vendor_id},
        headers=world.publisher,
    ).json()
    headers, vendor_headers = bearer(raw), bearer(vendor["key"])
    assert client.get("/v1/vendors", headers=headers).status_code == 200
    assert (
        client.post("/v1/period-locks", json={"period": "2023-Q1"}, headers=headers).status_code
        == 201
    )
    stored = client.post("/v1/submissions", json={"measurements": [row()]}, headers=vendor_headers)
    assert stored.status_code == 201, stored.text
    assert (
        client.post(
            "/v1/submissions",
            json={"measurements": [row(organisation="ORG-B")]},
            headers=vendor_headers,
        ).status_code
        == 403
    )
    assert client.get("/v1/kpis", headers=bearer(raw[:-2] + "xx")).status_code == 401
    assert client.get("/v1/kpis", headers={"Authorization": f"Basic {raw}"}).status_code == 401
    assert client.delete(f"/v1/api-keys/{vendor['id']}", headers=headers).status_code == 200
    assert client.get("/v1/organisations", headers=vendor_headers).status_code == 401

    records = verbose_logs.records
    assert any(r.name.startswith("sqlalchemy.engine") for r in records)  # SQL was logged
    assert any(r.name == "kpi_api.access" for r in records)
    secrets = [raw, vendor["key"]]
    secrets += [
        h["Authorization"].removeprefix("Bearer ") for h in (world.a.headers, world.publisher)
    ]
    for secret in secrets:
        # Neither the key nor the part of it that is not the (indexed) lookup.
        for fragment in (secret, secret[len(auth.KEY_PREFIX) + 12 :]):
            leaks = [r.name for r in records if fragment in _logged(r)]
            assert leaks == [], leaks


def test_keys_appear_only_in_the_response_that_creates_them(client, world, data):
    created = client.post(
        "/v1/api-keys", json={"name": "echo?", "role": "publisher"}, headers=world.publisher
    )
    assert created.status_code == 201
    raw = created.json()["key"]
    assert created.text.count(raw) == 1
    secret = raw[len(auth.KEY_PREFIX) :]
    headers = bearer(raw)
    responses = []
    for method, path, op in OPERATIONS:
        if method == "GET":
            responses.append(
                call(
                    client,
                    method,
                    path,
                    op,
                    headers,
                    vendor_id=world.a.vendor_id,
                    submission_id=data.a_submission,
                    measurement_id=data.a_series[0],
                )
            )
    responses += [
        client.get("/v1/kpis", headers=bearer(raw + "x")),  # 401
        client.get("/v1/kpis", headers={"Authorization": f"Token {raw}"}),  # 401
        client.post("/v1/period-locks", json={"period": "2099-13"}, headers=headers),  # 422
        client.post("/v1/vendors", json={"name": "Vendor A"}, headers=headers),  # 409
        client.get("/v1/measurements/0/history", headers=headers),  # 422
        client.delete(f"/v1/api-keys/{created.json()['id']}", headers=headers),  # 200
        client.get("/v1/kpis", headers=headers),  # 401, revoked
    ]
    assert responses[-2].status_code == 200 and responses[-1].status_code == 401
    for response in responses:
        assert secret not in response.text, response.request.url
        assert all(secret not in v for v in response.headers.values()), response.request.url
    # Nor is the stored hash of the key readable back.
    for response in responses:
        assert hash_key(raw) not in response.text
    # A vendor's key, created for it by the publisher, is likewise shown once only.
    vendor = client.post(
        "/v1/api-keys",
        json={"name": "v", "role": "vendor", "vendor_id": world.a.vendor_id},
        headers=world.publisher,
    )
    vendor_secret = vendor.json()["key"][len(auth.KEY_PREFIX) :]
    for response in (
        client.get(f"/v1/vendors/{world.a.vendor_id}", headers=world.publisher),
        client.get("/v1/vendors", headers=world.publisher),
        client.get("/v1/organisations", headers=bearer(vendor.json()["key"])),
    ):
        assert response.status_code == 200 and vendor_secret not in response.text


def test_stored_keys_are_hashes_not_secrets(client, db, world):
    created = client.post(
        "/v1/api-keys", json={"name": "stored", "role": "analyst"}, headers=world.publisher
    ).json()
    stored = db.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
    columns = [str(getattr(stored, c.key)) for c in ApiKey.__table__.columns]
    assert all(created["key"] not in value for value in columns)
    assert stored.key_hash == hash_key(created["key"])


# --- API3/API6: mass assignment; API4: unbounded requests --------------------------------------


def test_callers_cannot_assign_fields_the_server_owns(client, db, world):
    before = snapshot(db)
    chosen = "kpi_" + "c" * 43
    attempts = [
        ("/v1/api-keys", {"name": "mine", "role": "analyst", "key": chosen}),
        ("/v1/api-keys", {"name": "mine", "role": "analyst", "id": str(uuid.uuid4())}),
        ("/v1/api-keys", {"name": "mine", "role": "analyst", "revoked_at": None}),
        ("/v1/organisations", {**BODIES[("POST", "/v1/organisations")], "vendor_id": "x"}),
        ("/v1/vendors", {"name": "V", "organisations": ["ORG-B"]}),
    ]
    for path, body in attempts:
        response = client.post(path, json=body, headers=world.publisher)
        assert response.status_code == 422, (path, body, response.text)
    patch = client.patch("/v1/organisations/ORG-A", json={"code": "ORG-B"}, headers=world.publisher)
    assert patch.status_code == 422
    assert client.get("/v1/kpis", headers=bearer(chosen)).status_code == 401
    assert snapshot(db) == before
    # A vendor cannot name the vendor, submission or version a row is stored under (the
    # rejected submission itself is kept, with its report, by design).
    for extra in ({"vendor_id": world.b.vendor_id}, {"submission": "x"}, {"version": 7}):
        response = submit(client, world.a, [row() | extra])
        assert response.status_code == 422, response.text
        codes = {e["code"] for e in response.json()["submission"]["errors"]}
        assert codes == {"field_unknown"}
    after = snapshot(db)
    assert after["measurement_series"] == before["measurement_series"] == []
    assert after["measurement_version"] == before["measurement_version"] == []


def test_page_sizes_and_ranges_are_bounded(client, world, analyst):
    for path in ("/v1/measurements", "/v1/organisations"):
        response = client.get(path, params={"limit": 501}, headers=world.publisher)
        assert response.status_code == 422, (path, response.text)
    too_long = client.get(
        "/v1/aggregates/ACT-01", params={"from": "1990-01", "to": "2025-12"}, headers=analyst
    )
    assert too_long.status_code == 422 and too_long.json()["code"] == "period_range_too_long"

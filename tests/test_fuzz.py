"""Schema fuzzing: every operation of the committed OpenAPI document against the live app.

Schemathesis generates requests from ``openapi/openapi.json`` (the committed file, not the app's
own rendering) and sends each one in-process to the app of the test fixtures as every role:
``publisher``, ``vendor`` (with an authorised organisation), ``analyst`` and ``none`` (no key),
on every database backend. Every response must be no 5xx, with a documented status code and
content type, and a body that matches the documented schema (problem+json included).

The suite's run is small and reproducible: 10 examples per operation, derandomized, no example
database. ``make fuzz`` is the longer run: ``KPI_API_FUZZ_EXAMPLES`` sets the examples per
operation, and from 50 on the coverage phase (boundary and just-invalid values of every
parameter) runs as well; ``KPI_API_FUZZ_COVERAGE=1`` or ``=0`` forces it on or off.
``test_known_requests_conform`` adds written requests, checked the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kpi_api.auth import Role, create_key
from kpi_api.web.ratelimit import RateLimiter
from tests.submissions.conftest import row, submit, world  # noqa: F401 - the registry fixture

OPENAPI = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
EXAMPLES = int(os.environ.get("KPI_API_FUZZ_EXAMPLES", "10"))
COVERAGE = os.environ.get("KPI_API_FUZZ_COVERAGE", "1" if EXAMPLES >= 50 else "0") == "1"
ROLES = ("publisher", "vendor", "analyst", "none")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(with_security_parameters=False)  # keys come per role
schema.config.phases.update(
    phases=["examples", "coverage", "fuzzing"] if COVERAGE else ["examples", "fuzzing"]
)


class Known:
    """Keys per role, and values that exist in the test's database.

    Generated identifiers almost never exist, so the fuzzer would meet nothing but 404s; half of
    the path and query parameters it generates are swapped for these (see ``_existing``).
    """

    current: Known | None = None

    def __init__(self, client, db, world, analyst) -> None:  # noqa: F811
        self.client, self.world = client, world
        self.headers = {
            "publisher": world.publisher,
            "vendor": world.a.headers,
            "analyst": analyst,
            "none": {},
        }
        self._seeded: dict[str, list[Any]] | None = None
        lock = client.post("/v1/period-locks", json={"period": "2023-Q4"}, headers=world.publisher)
        draft = client.post(
            "/v1/kpis/ACT-01/versions", json={"core": False}, headers=world.publisher
        )
        assert lock.status_code == 201 and draft.status_code == 201, (lock.text, draft.text)
        spare, _ = create_key(db, name="spare", role=Role.analyst)  # the one to revoke
        db.commit()
        self.values: dict[str, list[Any]] = {
            "code": ["ACT-01", "ACT-02", "IMP-FIN-01"],
            "kpi": ["ACT-01", "ACT-02", "IMP-FIN-01"],
            "version": [1, draft.json()["version"]],
            "release_id": ["2026.11"],
            "release": ["2026.11"],
            "base": ["2026.11"],
            "vendor_id": [world.a.vendor_id, world.b.vendor_id],
            "key_id": [spare.id],
            "period": ["2023-Q4", "2025-01", "2025-Q1", "2025"],
            "from": ["2025-01", "2025-Q1"],
            "to": ["2025-03", "2025-Q2"],
            "organisation": ["ORG-A", "ORG-B"],
            "municipality": ["GM0363"],
            "area": ["NL01", "PV27", "GM0363"],
            "dimension": ["age_band"],
            "work_field": ["jongerenwerk"],
            # `code` names an organisation or a code list on these paths, a KPI elsewhere.
            "/v1/organisations/{code} code": ["ORG-A", "ORG-B"],
            "/v1/vendors/{vendor_id}/organisations/{code} code": ["ORG-A", "ORG-B"],
            "/v1/code-lists/{code} code": ["age_band", "gender"],
        }

    def seeded(self) -> dict[str, list[Any]]:
        """A submission and its measurements, made the first time an operation needs them."""
        if self._seeded is None:
            rows = [
                row(period="2025-01", value=40, record_id="r-1"),
                row(period="2025-02", value=50, record_id="r-2"),
                row(period="2025-Q1", kpi="ACT-02", value=1250.5, record_id="r-3"),
            ]
            submitted = submit(self.client, self.world.a, rows)
            assert submitted.status_code == 201, submitted.text
            page = self.client.get("/v1/measurements", headers=self.world.publisher)
            self._seeded = {
                "submission_id": [submitted.json()["id"]],
                "measurement_id": [m["id"] for m in page.json()["items"]],
            }
        return self._seeded

    def pick(self, path: str, name: str, index: int) -> Any:
        options = self.values.get(f"{path} {name}") or self.values.get(name)
        if options is None and name in ("submission_id", "measurement_id"):
            options = self.seeded()[name]
        return options[index % len(options)] if options else None


def _existing(context, values: dict[str, Any] | None, *, by_path: bool):
    """Half the time, swap generated values for existing ones."""
    if not values or Known.current is None:
        return st.just(values)
    known, path = Known.current, context.operation.path if by_path else ""

    def swap(index: int) -> dict[str, Any]:
        swapped = dict(values)
        for name in values:
            value = known.pick(path, name, index)
            if value is not None:
                swapped[name] = value
        return swapped

    return st.one_of(st.just(values), st.integers(0, 7).map(swap))


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _existing(context, path_parameters, by_path=True)


@schema.hook
def flatmap_query(context, query):
    return _existing(context, query, by_path=False)


@pytest.fixture
def known(app, client, db, world, analyst):  # noqa: F811
    # Every example of an operation is sent with the same keys: in a long run the rate limit
    # (documented as 429) would answer all the rest.
    app.state.rate_limiter = RateLimiter(0, 1)
    Known.current = Known(client, db, world, analyst)
    yield Known.current
    Known.current = None


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run, in CI too
    database=None,
    deadline=None,
    # One app and one transaction serve every example of an operation, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzz(case, app, known):
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    for role in ROLES:
        try:
            case.call_and_validate(app=app, headers=known.headers[role], checks=CHECKS)
        except BaseException as exc:
            exc.add_note(f"(sent as role {role!r})")
            raise


# Requests sent as written, checked like the generated ones and for their status: those the
# fuzzer seldom gets right (valid batches, consistent aggregate queries, whole KPI definitions),
# so that success answers meet the document too, and the findings of the fuzzer, kept.
# (method, path template, role, request, expected status)
KNOWN: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("POST", "/v1/submissions", "vendor", {"json": {"measurements": [row(record_id="k-1")]}}, 201),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {
            "json": {"measurements": [row(record_id="k-1"), row(record_id="k-2", value=-1)]},
            "query": {"dry_run": True, "mode": "partial"},
        },
        200,
    ),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {
            "json": {"measurements": [row(record_id="k-1"), row(record_id="k-2", value=-1)]},
            "query": {"mode": "partial"},
        },
        201,
    ),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {"json": {"measurements": [row(record_id="k-1"), row(record_id="k-2", value=-1)]}},
        422,
    ),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {"csv": "kpi,organisation,municipality,period,value\nACT-01,ORG-A,GM0363,2025-04,7\n"},
        201,
    ),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {"json": {"measurements": [row(value=-1)]}, "query": {"dry_run": True}},
        422,
    ),
    ("POST", "/v1/submissions", "vendor", {"json": {"measurements": []}}, 422),
    ("GET", "/v1/aggregates/{kpi}", "analyst", {"query": {"period": "2025-Q1"}}, 200),
    (
        "GET",
        "/v1/aggregates/{kpi}",
        "vendor",
        {"query": {"from": "2025-01", "to": "2025-03", "level": "municipality", "notes": True}},
        200,
    ),
    (
        "GET",
        "/v1/aggregates/{kpi}",
        "publisher",
        {"query": {"period": "2025", "level": "province", "format": "csv"}},
        200,
    ),
    (
        "GET",
        "/v1/aggregates/{kpi}",
        "analyst",
        {"query": {"period": "2025-02", "dimension": "age_band", "boundaries": "current"}},
        200,
    ),
    ("GET", "/v1/kpis", "none", {"headers": {"If-None-Match": "*"}}, 304),
    ("GET", "/v1/municipalities", "none", {"headers": {"If-None-Match": "*"}}, 304),
    (
        "POST",
        "/v1/kpis",
        "publisher",
        {
            "json": {
                "code": "ACT-FUZZ",
                "layer": "activity",
                "name_nl": "Aantal contacten",
                "name_en": "Number of contacts",
                "definition_nl": "Aantal contacten in de periode.",
                "definition_en": "Number of contacts in the period.",
                "counts": "Every contact with a resident.",
                "excludes": "Contacts with professionals.",
                "unit": "contacts",
                "value_type": "count",
                "aggregation": "sum",
                "time_aggregation": "sum",
                "period_types": ["month", "quarter", "year"],
                "range": {"min": 0},
                "work_fields": ["jongerenwerk"],
            }
        },
        201,
    ),
    (
        "POST",
        "/v1/releases",
        "publisher",
        {"json": {"id": "2099.01", "title_nl": "Test", "title_en": "Test"}},
        201,
    ),
    (
        "POST",
        "/v1/organisations",
        "publisher",
        {"json": {"code": "ORG-C", "name": "C welzijn", "municipalities": ["GM0363"]}},
        201,
    ),
    ("GET", "/v1/organisations", "vendor", {}, 200),
    # Findings: each answered 500 or an undocumented status once.
    # Text that cannot be stored is refused at the boundary: 400 invalid_text.
    ("GET", "/v1/kpis", "none", {"query": {"q": "a\x00"}}, 400),
    ("GET", "/v1/kpi-sets", "none", {"query": {"work_field": "\x00"}}, 400),
    ("GET", "/v1/releases", "none", {"query": {"cursor": "garbage"}}, 400),
    ("GET", "/v1/measurements", "vendor", {"query": {"cursor": ""}}, 400),
    ("POST", "/v1/period-locks", "publisher", {"json": {"period": "0000"}}, 422),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {"json": {"measurements": [row(organisation="ORG\x00A")]}},
        400,
    ),
    ("POST", "/v1/submissions", "vendor", {"json": {"measurements": [row(kpi="ACT\x00")]}}, 400),
    (
        "POST",
        "/v1/submissions",
        "vendor",
        {"json": {"measurements": [row(release="2024.12\x00")]}},
        400,
    ),
]


def test_known_requests_conform(app, known, subtests):
    known.seeded()  # measurements to aggregate
    for method, path, role, request_, expected in KNOWN:
        with subtests.test(f"{method} {path} as {role}: {expected}"):
            body, media_type = NOT_SET, None
            if "json" in request_:
                body, media_type = request_["json"], "application/json"
            elif "csv" in request_:
                body, media_type = request_["csv"], "text/csv"
            case = schema[path][method].Case(
                path_parameters={"kpi": "ACT-01"} if "{kpi}" in path else {},
                query=request_.get("query"),
                headers=request_.get("headers"),
                body=body,
                media_type=media_type,
            )
            response = case.call_and_validate(app=app, headers=known.headers[role], checks=CHECKS)
            assert response.status_code == expected, response.text

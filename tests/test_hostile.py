"""A corpus of hostile values against every parameter and body field of every operation.

Each value is one public bug reports show clients really send: NUL, lone surrogates, 2^63, −1,
huge and tiny floats, NaN, naive and out-of-range datetimes, very long and empty strings,
Unicode digits, duplicate JSON members. Every operation of the committed OpenAPI document gets
each of them in each of its path, query and header parameters and each field of its JSON body,
as every role; the answer is never a 5xx, and every error is problem+json with a code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from kpi_api.web.ratelimit import RateLimiter
from tests.submissions.conftest import row, world  # noqa: F401 - the registry fixture

OPENAPI = json.loads((Path(__file__).resolve().parents[1] / "openapi" / "openapi.json").read_text())

#: Text as it arrives in a URL or header (a lone surrogate as its would-be UTF-8 bytes).
TEXT = [
    "\x00",
    "ACT-\ud800",
    "",
    " ",
    "x" * 5000,
    "١٢٣",  # Arabic-Indic digits
    "２０２４",  # fullwidth digits
    str(2**63),
    "-1",
    "1e308",
    "1e-400",
    "NaN",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
    "'; DROP TABLE kpi;--",
    "%",
]
#: JSON values for body fields (NaN as the bare token JSON does not allow).
JSON_VALUES: list[Any] = [
    "\x00",
    "ACT-\ud800",
    "",
    "x" * 5000,
    "١٢٣",
    2**63,
    -(2**63) - 1,
    -1,
    1e308,
    1e-400,
    "NaN",
    True,
    None,
    [],
    {},
    "9999-12-31T23:59:59-23:59",
    "2026-01-01T00:00:00",
]

#: What exists in the test's database, for parameters not under attack.
PATH_DEFAULTS = {
    "code": "ACT-01",
    "version": "1",
    "release_id": "2026.11",
    "key_id": "00000000-0000-0000-0000-000000000000",
    "submission_id": "00000000-0000-0000-0000-000000000000",
    "measurement_id": "1",
    "period": "2023-Q4",
    "kpi": "ACT-01",
}
#: A body each writing operation takes (or nearly), so the field under attack is reached.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/kpis/{code}/deprecation"): {"effective_from": "2030-01-01", "reason": "x"},
    ("post", "/v1/kpis/{code}/versions"): {"unit": "x"},
    ("patch", "/v1/kpis/{code}/versions/{version}"): {"unit": "x"},
    ("post", "/v1/releases"): {"id": "2099.01", "title_nl": "a", "title_en": "b"},
    ("post", "/v1/vendors"): {"name": "v"},
    ("post", "/v1/api-keys"): {"name": "k", "role": "analyst"},
    ("post", "/v1/organisations"): {"code": "H-1", "name": "h", "municipalities": ["GM0363"]},
    ("patch", "/v1/organisations/{code}"): {"name": "x"},
    ("post", "/v1/period-locks"): {"period": "2020", "reason": "r"},
    ("post", "/v1/figure-releases"): {"period": "2024"},
}


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in OPENAPI["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _url(path: str, op: dict[str, Any], values: dict[str, str]) -> str:
    defaults = PATH_DEFAULTS | {"vendor_id": values.pop("__vendor__", "x")}
    for p in op.get("parameters", []):
        if p["in"] == "path":
            raw = values.get(p["name"], defaults.get(p["name"], "x"))
            path = path.replace("{" + p["name"] + "}", quote(_bytes(raw), safe=""))
    query = "&".join(
        f"{quote(name)}={quote(_bytes(value), safe='')}"
        for name, value in values.items()
        if any(p["name"] == name and p["in"] == "query" for p in op.get("parameters", []))
    )
    return path + ("?" + query if query else "")


class Failures(list):
    def check(self, label: str, response) -> None:
        if response.status_code >= 500:
            self.append(f"{label}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            kind = response.headers.get("content-type", "")
            if not kind.startswith("application/problem+json") or "code" not in response.json():
                self.append(f"{label}: {response.status_code} not problem+json: {kind}")


@pytest.fixture
def roles(app, world, analyst):  # noqa: F811
    app.state.rate_limiter = RateLimiter(0, 1)  # thousands of requests from one key
    return {
        "publisher": world.publisher,
        "vendor": world.a.headers,
        "analyst": analyst,
        "none": {},
    }


def test_no_hostile_parameter_reaches_a_500(client, roles, world):  # noqa: F811
    failures = Failures()
    for method, path, op in _operations():
        params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query", "header")]
        for role, headers in roles.items():
            for p in params:
                for value in TEXT:
                    values = {"__vendor__": world.a.vendor_id}
                    sent = dict(headers)
                    if p["in"] == "header":
                        sent[p["name"]] = _bytes(value).decode("latin-1")
                    else:
                        values[p["name"]] = value
                    try:
                        response = client.request(
                            method.upper(), _url(path, op, values), headers=sent
                        )
                    except Exception as exc:
                        if p["in"] == "header":
                            continue
                        raise AssertionError(f"{method} {path} {p['name']}={value!r}") from exc
                    failures.check(
                        f"{role} {method.upper()} {path} {p['name']}={value!r:.40}", response
                    )
    assert not failures, "\n".join(failures[:30])


def _body_cases(method: str, path: str) -> list[tuple[str, bytes]]:
    """(label, JSON text) per field and hostile value, plus duplicate members."""
    if path == "/v1/submissions":
        base: dict[str, Any] = row()
        fields = [*base, "kpi_version", "release", "disaggregation", "numerator", "mean", "n"]
        wrap = lambda r: {"measurements": [r]}  # noqa: E731
        dupe = b'{"measurements": [{"kpi": "ACT-01", "value": 40, "value": 4000}]}'
    else:
        base = BODIES.get((method, path), {})
        fields = list(base) or ["name"]
        wrap = lambda r: r  # noqa: E731
        dupe = b'{"a": 1, "a": 2}'
    out = [("duplicate members", dupe), ("NaN", b'{"x": NaN}')]
    for name in fields:
        for value in JSON_VALUES:
            body = wrap(base | {name: value})
            out.append((f"{name}={value!r:.40}", json.dumps(body).encode()))
    return out


def test_no_hostile_body_field_reaches_a_500(client, roles, world):  # noqa: F811
    failures = Failures()
    for method, path, op in _operations():
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        for role in ("publisher", "vendor"):
            headers = roles[role] | {"Content-Type": "application/json"}
            for label, body in _body_cases(method, path):
                url = _url(path, op, {"__vendor__": world.a.vendor_id})
                response = client.request(method.upper(), url, headers=headers, content=body)
                failures.check(f"{role} {method.upper()} {path} {label}", response)
    assert not failures, "\n".join(failures[:30])

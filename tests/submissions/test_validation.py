"""The submission rules as plain functions: no HTTP, no database (one test reads code lists).

A ``Context`` is built by hand with a fixed ``today``; ``validate_row`` must answer the exact
(field, code) pairs of the rules a row breaks, and ``parse_csv``/``parse_json`` must turn bodies
into raw rows or refuse them with a request-level code.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import date
from typing import Any

import pytest

from kpi_api.catalogue.service import CodeListSpec, KpiSpec
from kpi_api.errors import KpiApiError
from kpi_api.periods import parse_period
from kpi_api.reference.service import MunicipalityInfo
from kpi_api.registry.service import OrganisationInfo
from kpi_api.submissions.parsing import parse_body, parse_csv, parse_json
from kpi_api.submissions.rules import RULES
from kpi_api.submissions.validation import (
    Context,
    ValidRow,
    disaggregation_key,
    mark_duplicates,
    validate_row,
)

TODAY = date(2025, 6, 15)
ORG_ID = "11111111-1111-1111-1111-111111111111"


def _spec(code: str, **kw: Any) -> KpiSpec:
    base: dict[str, Any] = {
        "code": code,
        "version": 1,
        "published": True,
        "value_type": "count",
        "aggregation": "sum",
        "time_aggregation": "sum",
        "period_types": frozenset({"month", "quarter", "year"}),
        "dimensions": (),
        "range_min": 0.0,
        "range_max": None,
        "deprecated_from": None,
        "successor": None,
    }
    base.update(kw)
    return KpiSpec(**base)


SPECS: dict[str, dict[int, KpiSpec]] = {
    # A count (sum), with a published version 1 and a draft version 2.
    "ACT-01": {
        1: _spec("ACT-01", dimensions=("age_band", "gender", "district", "neighbourhood")),
        2: _spec(
            "ACT-01",
            version=2,
            published=False,
            dimensions=("age_band", "gender", "district", "neighbourhood"),
        ),
    },
    # A percentage from numerator/denominator, quarters and years only.
    "IMP-FIN-01": {
        1: _spec(
            "IMP-FIN-01",
            value_type="percentage",
            aggregation="ratio_of_sums",
            period_types=frozenset({"quarter", "year"}),
            dimensions=("age_band", "gender", "district"),
            range_max=100.0,
        )
    },
    # A score on a 1..5 scale.
    "IMP-ZEL-02": {
        1: _spec(
            "IMP-ZEL-02",
            value_type="score",
            aggregation="weighted_mean",
            period_types=frozenset({"quarter", "year"}),
            dimensions=("zrm_domain", "age_band", "gender"),
            range_min=1.0,
            range_max=5.0,
        )
    },
    # A mean duration in days.
    "ACT-05": {
        1: _spec(
            "ACT-05",
            value_type="duration_days",
            aggregation="weighted_mean",
            dimensions=("age_band", "district"),
            range_max=3650.0,
        )
    },
    # An amount: a sum that need not be whole; published before amounts needed a range.max.
    "ACT-EUR": {1: _spec("ACT-EUR", value_type="amount_eur")},
    # An amount with its range.max, and a mean amount.
    "EUR-MAX": {1: _spec("EUR-MAX", value_type="amount_eur", range_max=1_000_000.0, decimals=2)},
    "EUR-MEAN": {
        1: _spec("EUR-MEAN", value_type="amount_eur", aggregation="weighted_mean", range_max=5000.0)
    },
    # Counts bounded by a smaller count_max than the default, or by a range.max below it.
    "CNT-CAP": {1: _spec("CNT-CAP", count_max=50, range_max=1000.0)},
    "CNT-RANGE": {1: _spec("CNT-RANGE", count_max=1000, range_max=50.0)},
    # A percentage and a score whose counts are bounded by count_max 200.
    "PCT-CAP": {
        1: _spec(
            "PCT-CAP",
            value_type="percentage",
            aggregation="ratio_of_sums",
            range_max=100.0,
            count_max=200,
        )
    },
    "SCORE-CAP": {
        1: _spec(
            "SCORE-CAP",
            value_type="score",
            aggregation="weighted_mean",
            range_min=1.0,
            range_max=5.0,
            count_max=200,
        )
    },
    # Deprecated for periods from 2025-01-01 on, in favour of ACT-10.
    "OLD-01": {1: _spec("OLD-01", deprecated_from=date(2025, 1, 1), successor="ACT-10")},
    "OLD-02": {1: _spec("OLD-02", deprecated_from=date(2025, 1, 1))},
    # Published, but in no release.
    "NEW-01": {1: _spec("NEW-01")},
    # A series break on 2025-01-01: version 2 (major) replaced version 1; version 3 is a minor
    # change of version 2 (same definition), the current release's.
    "BRK-01": {
        1: _spec("BRK-01", definition_end=date(2025, 1, 1), replaced_by=2),
        2: _spec("BRK-01", version=2, definition_start=date(2025, 1, 1)),
        3: _spec("BRK-01", version=3, definition_start=date(2025, 1, 1)),
    },
}
MEMBERS = {"ACT-01": 1, "IMP-FIN-01": 1, "IMP-ZEL-02": 1, "ACT-05": 1, "ACT-EUR": 1}
MEMBERS |= {"OLD-01": 1, "OLD-02": 1, "BRK-01": 3}
MEMBERS |= {c: 1 for c in ("EUR-MAX", "EUR-MEAN", "CNT-CAP", "CNT-RANGE", "PCT-CAP", "SCORE-CAP")}

CODE_LISTS = {
    "age_band": CodeListSpec(
        "age_band",
        frozenset({"0-11", "12-17", "18-26", "27-64", "65-74", "75+", "unknown"}),
        None,
    ),
    "gender": CodeListSpec("gender", frozenset({"M", "V", "X", "O"}), None),
    "zrm_domain": CodeListSpec("zrm_domain", frozenset({"financien", "huisvesting"}), None),
    # The patterns of the canonical code_lists.yaml.
    "district": CodeListSpec("district", frozenset(), re.compile(r"^WK\d{6}$")),
    "neighbourhood": CodeListSpec("neighbourhood", frozenset(), re.compile(r"^BU\d{8}$")),
}

MUNICIPALITIES = {
    "GM0363": MunicipalityInfo("GM0363", "Amsterdam", "PV27", date(2019, 1, 1), None),
    "GM0014": MunicipalityInfo("GM0014", "Groningen", "PV20", date(2019, 1, 1), None),
    "GM0599": MunicipalityInfo("GM0599", "Rotterdam", "PV28", date(2019, 1, 1), None),
    # Merged into Amsterdam on 24 March 2022.
    "GM0457": MunicipalityInfo("GM0457", "Weesp", "PV27", date(2019, 1, 1), date(2022, 3, 23)),
    # Created on 1 January 2022.
    "GM1980": MunicipalityInfo("GM1980", "Dijk en Waard", "PV27", date(2022, 1, 1), None),
}

ORGANISATIONS = {
    "ORG-A": OrganisationInfo(ORG_ID, "ORG-A", frozenset({"GM0363", "GM0014", "GM0457", "GM1980"})),
}


def make_ctx(**overrides: Any) -> Context:
    base: dict[str, Any] = {
        "lang": "en",
        "today": TODAY,
        "specs": SPECS,
        "current_release": ("2024.12", dict(MEMBERS)),
        "releases": {"2024.12": dict(MEMBERS), "1999.01": None},
        "code_lists": CODE_LISTS,
        "municipalities": MUNICIPALITIES,
        "organisations": ORGANISATIONS,
        "locks": [],
    }
    base.update(overrides)
    return Context(**base)


CTX = make_ctx()


def raw(**overrides: Any) -> dict[str, Any]:
    """A valid ACT-01 count unless overridden; a None override drops the field."""
    base: dict[str, Any] = {
        "kpi": "ACT-01",
        "organisation": "ORG-A",
        "municipality": "GM0363",
        "period": "2025-03",
        "value": 120,
        "record_id": "r-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def pct(**overrides: Any) -> dict[str, Any]:
    """A valid IMP-FIN-01 percentage (30 of 120) unless overridden."""
    base = {"kpi": "IMP-FIN-01", "period": "2025-Q1", "value": None}
    return raw(**base | {"numerator": 30, "denominator": 120} | overrides)


def score(**overrides: Any) -> dict[str, Any]:
    """A valid IMP-ZEL-02 score (mean 3.4 over 25) unless overridden."""
    base = {"kpi": "IMP-ZEL-02", "period": "2025-Q1", "value": None}
    return raw(**base | {"mean": 3.4, "n": 25} | overrides)


def check(measurement: Any, ctx: Context = CTX, index: int = 0) -> list[tuple[str | None, str]]:
    """The (field, code) pairs of a row; asserts a row is returned exactly when none."""
    valid, errors = validate_row(index, measurement, ctx)
    assert (valid is None) == bool(errors), (valid, errors)
    assert all(e.row == index + 1 for e in errors)
    return [(e.field, e.code) for e in errors]


def accepted(measurement: Any, ctx: Context = CTX, index: int = 0) -> ValidRow:
    valid, errors = validate_row(index, measurement, ctx)
    assert errors == [], errors
    assert valid is not None
    return valid


# --- every row rule, one at a time ------------------------------------------------------------

LOCKED = make_ctx(locks=[parse_period("2024-Q4")])

CASES: list[tuple[str, Any, list[tuple[str | None, str]], Context]] = [
    # shape
    ("field_missing", raw(period=None), [("period", "field_missing")], CTX),
    ("field_missing", raw(kpi=None), [("kpi", "field_missing")], CTX),
    ("field_unknown", raw(colour="red"), [("colour", "field_unknown")], CTX),
    ("field_invalid", raw(value="lots"), [("value", "field_invalid")], CTX),
    ("field_invalid", raw(kpi_version="first"), [("kpi_version", "field_invalid")], CTX),
    ("field_invalid", raw(kpi_version=0), [("kpi_version", "field_invalid")], CTX),
    ("field_invalid", raw(value=math.inf), [("value", "field_invalid")], CTX),
    ("field_invalid", raw(value=math.nan), [("value", "field_invalid")], CTX),
    ("field_invalid", raw(withdraw="maybe"), [("withdraw", "field_invalid")], CTX),
    ("field_invalid", raw(disaggregation=["age_band"]), [("disaggregation", "field_invalid")], CTX),
    ("field_invalid", raw(disaggregation="age_band"), [("disaggregation", "field_invalid")], CTX),
    ("field_invalid", ["not", "an", "object"], [("", "field_invalid")], CTX),
    ("field_invalid", None, [("", "field_invalid")], CTX),
    ("field_too_long", raw(note="x" * 2001), [("note", "field_too_long")], CTX),
    ("field_too_long", raw(kpi="K" * 41), [("kpi", "field_too_long")], CTX),
    (
        "field_too_long",
        raw(disaggregation={f"d{i}": "x" for i in range(11)}),
        [("disaggregation", "field_too_long")],
        CTX,
    ),
    # the KPI
    ("kpi_unknown", raw(kpi="NOPE-01"), [("kpi", "kpi_unknown")], CTX),
    ("kpi_version_unknown", raw(kpi_version=9), [("kpi_version", "kpi_version_unknown")], CTX),
    ("kpi_not_published", raw(kpi_version=2), [("kpi_version", "kpi_not_published")], CTX),
    ("release_unknown", raw(release="1999.01"), [("release", "release_unknown")], CTX),
    ("kpi_not_in_release", raw(kpi="NEW-01"), [("kpi", "kpi_not_in_release")], CTX),
    (
        "kpi_not_in_release",
        raw(kpi="NEW-01", release="2024.12"),
        [("kpi", "kpi_not_in_release")],
        CTX,
    ),
    (
        "kpi_not_in_release",
        raw(),
        [("kpi", "kpi_not_in_release")],
        make_ctx(current_release=None),
    ),
    ("kpi_deprecated", raw(kpi="OLD-01", period="2025-01"), [("period", "kpi_deprecated")], CTX),
    (
        "kpi_version_replaced",
        raw(kpi="BRK-01", kpi_version=1, period="2025-01"),
        [("kpi_version", "kpi_version_replaced")],
        CTX,
    ),
    (
        "kpi_version_not_in_force",
        raw(kpi="BRK-01", kpi_version=3, period="2024-12"),
        [("kpi_version", "kpi_version_not_in_force")],
        CTX,
    ),
    # the period
    ("period_invalid", raw(period="2025-13"), [("period", "period_invalid")], CTX),
    ("period_invalid", raw(period="Q1-2025"), [("period", "period_invalid")], CTX),
    (
        "period_type_not_allowed",
        pct(period="2025-03"),
        [("period", "period_type_not_allowed")],
        CTX,
    ),
    ("period_in_future", raw(period="2025-06"), [("period", "period_in_future")], CTX),
    ("period_in_future", raw(period="2999"), [("period", "period_in_future")], CTX),
    ("period_locked", raw(period="2024-11"), [("period", "period_locked")], LOCKED),
    ("period_locked", raw(period="2024"), [("period", "period_locked")], LOCKED),
    # where
    (
        "municipality_unknown",
        raw(municipality="GM9999"),
        [("municipality", "municipality_unknown")],
        CTX,
    ),
    (
        "municipality_not_valid",
        raw(municipality="GM0457", period="2023-01"),
        [("municipality", "municipality_not_valid")],
        CTX,
    ),
    (
        "organisation_not_in_municipality",
        raw(municipality="GM0599"),
        [("municipality", "organisation_not_in_municipality")],
        CTX,
    ),
    # the disaggregation
    (
        "dimension_not_allowed",
        raw(disaggregation={"zrm_domain": "financien"}),
        [("disaggregation", "dimension_not_allowed")],
        CTX,
    ),
    (
        "dimension_code_missing",
        raw(disaggregation={"age_band": ""}),
        [("disaggregation", "dimension_code_missing")],
        CTX,
    ),
    (
        "dimension_code_missing",
        raw(disaggregation={"age_band": "   "}),
        [("disaggregation", "dimension_code_missing")],
        CTX,
    ),
    (
        "dimension_code_unknown",
        raw(disaggregation={"age_band": "10-20"}),
        [("disaggregation", "dimension_code_unknown")],
        CTX,
    ),
    (
        "dimension_code_unknown",
        raw(disaggregation={"neighbourhood": "BU123"}),
        [("disaggregation", "dimension_code_unknown")],
        CTX,
    ),
    (
        "area_outside_municipality",
        raw(disaggregation={"neighbourhood": "BU00140000"}),
        [("disaggregation", "area_outside_municipality")],
        CTX,
    ),
    # the value
    ("value_form", raw(value=None), [("value", "value_form")], CTX),
    ("value_form", raw(numerator=1, denominator=2), [("value", "value_form")], CTX),
    ("value_form", raw(value=None, numerator=1, denominator=2), [("value", "value_form")], CTX),
    ("value_form", pct(value=25), [("value", "value_form")], CTX),
    ("value_form", pct(denominator=None), [("value", "value_form")], CTX),
    ("value_form", score(n=None), [("value", "value_form")], CTX),
    ("value_form", raw(withdraw=True), [("value", "value_form")], CTX),
    ("value_not_integer", raw(value=1.5), [("value", "value_not_integer")], CTX),
    ("value_not_integer", pct(numerator=1.5), [("numerator", "value_not_integer")], CTX),
    ("value_not_integer", pct(denominator=120.5), [("denominator", "value_not_integer")], CTX),
    ("value_out_of_range", raw(value=-1), [("value", "value_out_of_range")], CTX),
    ("value_out_of_range", score(mean=5.5), [("mean", "value_out_of_range")], CTX),
    ("value_out_of_range", score(mean=0.99), [("mean", "value_out_of_range")], CTX),
    (
        "value_out_of_range",
        raw(kpi="ACT-05", value=None, mean=3650.5, n=2),
        [("mean", "value_out_of_range")],
        CTX,
    ),
    (
        "numerator_exceeds_denominator",
        pct(numerator=5, denominator=4),
        [("numerator", "numerator_exceeds_denominator")],
        CTX,
    ),
    (
        "denominator_not_positive",
        pct(numerator=0, denominator=0),
        [("denominator", "denominator_not_positive")],
        CTX,
    ),
    ("negative_count", pct(numerator=-1, denominator=4), [("numerator", "negative_count")], CTX),
    ("negative_count", pct(numerator=1, denominator=-4), [("denominator", "negative_count")], CTX),
    ("n_not_positive", score(n=0), [("n", "n_not_positive")], CTX),
    ("n_not_positive", score(n=-3), [("n", "n_not_positive")], CTX),
    ("n_not_positive", score(n=2.5), [("n", "n_not_positive")], CTX),
    ("n_too_large", score(n=1e10), [("n", "n_too_large")], CTX),
    ("n_too_large", score(kpi="SCORE-CAP", n=201), [("n", "n_too_large")], CTX),
    # every count is bounded: by count_max (default 10,000,000), then by range.max
    ("value_too_large", raw(value=10_000_001), [("value", "value_too_large")], CTX),
    ("value_too_large", raw(value=1e308), [("value", "value_too_large")], CTX),
    ("value_too_large", raw(kpi="CNT-CAP", value=51), [("value", "value_too_large")], CTX),
    ("value_out_of_range", raw(kpi="CNT-RANGE", value=51), [("value", "value_out_of_range")], CTX),
    (
        "value_too_large",
        pct(numerator=1e308, denominator=1e308),
        [("numerator", "value_too_large"), ("denominator", "value_too_large")],
        CTX,
    ),
    (
        "value_too_large",
        pct(kpi="PCT-CAP", numerator=30, denominator=201),
        [("denominator", "value_too_large")],
        CTX,
    ),
    # amounts: bounded by range.max (a legacy version without one by the count limit), exact
    # to the cent
    ("value_out_of_range", raw(kpi="ACT-EUR", value=1e308), [("value", "value_out_of_range")], CTX),
    (
        "value_out_of_range",
        raw(kpi="EUR-MAX", value=1_000_000.01),
        [("value", "value_out_of_range")],
        CTX,
    ),
    ("value_too_precise", raw(kpi="EUR-MAX", value=0.125), [("value", "value_too_precise")], CTX),
    (
        "value_too_precise",
        raw(kpi="EUR-MAX", value=0.1 + 0.2),
        [("value", "value_too_precise")],
        CTX,
    ),
    ("value_too_precise", raw(kpi="ACT-EUR", value=1e-3), [("value", "value_too_precise")], CTX),
    (
        "value_too_precise",
        raw(kpi="EUR-MEAN", value=None, mean=12.345, n=3),
        [("mean", "value_too_precise")],
        CTX,
    ),
]


@pytest.mark.parametrize(
    ("code", "measurement", "expected", "ctx"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_each_row_rule_reports_its_field_and_code(code, measurement, expected, ctx):
    assert check(measurement, ctx) == expected
    assert expected[0][1] == code


def test_every_row_rule_is_covered():
    row_rules = {c for c, r in RULES.items() if r.level == "row"}
    covered = {case[0] for case in CASES}
    assert covered == row_rules - {"duplicate_in_batch", "nothing_to_withdraw"}


def test_the_row_number_is_one_based():
    valid, errors = validate_row(41, raw(kpi="NOPE"), CTX)
    assert valid is None and [e.row for e in errors] == [42]
    assert accepted(raw(), index=6).row == 7


# --- several errors at once --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measurement", "expected"),
    [
        (
            raw(municipality="GM9999", value=-1),
            [("municipality", "municipality_unknown"), ("value", "value_out_of_range")],
        ),
        (
            # An unknown KPI stops the KPI-dependent checks but still checks the place.
            raw(kpi="NOPE", municipality="GM9999"),
            [("kpi", "kpi_unknown"), ("municipality", "municipality_unknown")],
        ),
        (
            raw(kpi="NOPE", municipality="GM0599"),
            [("kpi", "kpi_unknown"), ("municipality", "organisation_not_in_municipality")],
        ),
        (
            raw(
                period="2025-06",
                municipality="GM0599",
                disaggregation={"age_band": "10-20"},
                value=1.5,
            ),
            [
                ("period", "period_in_future"),
                ("municipality", "organisation_not_in_municipality"),
                ("disaggregation", "dimension_code_unknown"),
                ("value", "value_not_integer"),
            ],
        ),
        (
            # A period that cannot be parsed still lets the other parts be checked.
            raw(period="2025-13", municipality="GM9999", value=-5),
            [
                ("period", "period_invalid"),
                ("municipality", "municipality_unknown"),
                ("value", "value_out_of_range"),
            ],
        ),
        (
            raw(period="2023-01", municipality="GM0457", value=None),
            [("municipality", "municipality_not_valid"), ("value", "value_form")],
        ),
        (
            raw(disaggregation={"zrm_domain": "financien", "age_band": "", "gender": "Q"}),
            [
                ("disaggregation", "dimension_not_allowed"),
                ("disaggregation", "dimension_code_missing"),
                ("disaggregation", "dimension_code_unknown"),
            ],
        ),
        (
            pct(numerator=-1, denominator=2.5),
            [("numerator", "negative_count"), ("denominator", "value_not_integer")],
        ),
        (
            raw(period=None, colour="red", value="lots"),
            [("period", "field_missing"), ("value", "field_invalid"), ("colour", "field_unknown")],
        ),
    ],
)
def test_several_errors_of_one_row_are_reported_together(measurement, expected):
    assert check(measurement) == expected


def test_every_period_rule_is_reported_at_once():
    ctx = make_ctx(locks=[parse_period("2025-Q2")], today=date(2025, 4, 15))
    measurement = raw(kpi="OLD-01", period="2025-Q2")
    assert check(measurement, ctx) == [
        ("period", "period_in_future"),
        ("period", "kpi_deprecated"),
        ("period", "period_locked"),
    ]
    assert check(pct(period="2025-04"), ctx) == [
        ("period", "period_type_not_allowed"),
        ("period", "period_in_future"),
        ("period", "period_locked"),
    ]


def test_only_the_first_overlapping_lock_is_reported():
    ctx = make_ctx(locks=[parse_period("2024-Q1"), parse_period("2024-03")])
    valid, errors = validate_row(0, raw(period="2024"), ctx)
    assert valid is None and [e.code for e in errors] == ["period_locked"]
    assert errors[0].message == "Period 2024 falls in the closed period 2024-Q1."
    assert check(raw(period="2023-12"), ctx) == []
    assert check(raw(period="2024-04"), ctx) == []


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measurement", "en", "nl"),
    [
        (raw(kpi="NOPE"), "KPI 'NOPE' does not exist.", "KPI 'NOPE' bestaat niet."),
        (
            raw(municipality="GM0457", period="2022-Q2"),
            "Municipality GM0457 did not exist during 2022-Q2.",
            "Gemeente GM0457 bestond niet in 2022-Q2.",
        ),
        (
            pct(numerator=5, denominator=4),
            "The numerator (5) exceeds the denominator (4).",
            "De teller (5) is groter dan de noemer (4).",
        ),
        (
            raw(period="2025-06"),
            "Period 2025-06 has not ended yet (it ends 2025-06-30).",
            "Periode 2025-06 is nog niet afgelopen (eindigt 2025-06-30).",
        ),
        (raw(period=None), "period is required.", "period is verplicht."),
        (
            raw(value=-1),
            "-1 lies outside the valid range 0 .. 10000000.",
            "-1 ligt buiten het geldige bereik 0 .. 10000000.",
        ),
        (
            score(mean=5.25),
            "5.25 lies outside the valid range 1 .. 5.",
            "5.25 ligt buiten het geldige bereik 1 .. 5.",
        ),
        (
            raw(value=10_000_001),
            "value cannot exceed 10000000, the largest count KPI 'ACT-01' allows per measurement.",
            "value kan niet groter zijn dan 10000000, het grootste aantal dat KPI 'ACT-01' per "
            "meting toestaat.",
        ),
        (
            score(kpi="SCORE-CAP", n=201),
            "n cannot exceed 200, the largest count KPI 'SCORE-CAP' allows per measurement.",
            "n kan niet groter zijn dan 200, het grootste aantal dat KPI 'SCORE-CAP' per meting "
            "toestaat.",
        ),
        (
            raw(kpi="EUR-MAX", value=10.005),
            "value has more than 2 decimals; send an amount exact to the cent.",
            "value heeft meer dan 2 decimalen; stuur een bedrag exact op de cent.",
        ),
        (
            raw(disaggregation={"neighbourhood": "BU00140000"}),
            "BU00140000 does not lie in municipality GM0363.",
            "BU00140000 ligt niet in gemeente GM0363.",
        ),
        (
            raw(kpi="OLD-02", period="2025-01"),
            "KPI 'OLD-02' is deprecated for periods from 2025-01-01 on.",
            "KPI 'OLD-02' vervalt voor perioden vanaf 2025-01-01.",
        ),
    ],
)
def test_messages_in_english_and_dutch(measurement, en, nl):
    for lang, expected in (("en", en), ("nl", nl)):
        _, errors = validate_row(0, measurement, make_ctx(lang=lang))
        assert [e.message for e in errors] == [expected]


def test_the_deprecation_message_names_the_successor():
    _, errors = validate_row(0, raw(kpi="OLD-01", period="2025-01"), CTX)
    assert errors[0].message == (
        "KPI 'OLD-01' is deprecated for periods from 2025-01-01 on; use ACT-10."
    )


def test_the_dutch_deprecation_message_is_dutch():
    _, errors = validate_row(0, raw(kpi="OLD-01", period="2025-01"), make_ctx(lang="nl"))
    message = errors[0].message
    assert "ACT-10" in message
    assert "use" not in message.split()


@pytest.mark.parametrize(
    "measurement",
    [raw(kpi="NOPE"), raw(value=1.5), score(n=0), pct(numerator=0, denominator=0), raw(colour="x")],
)
def test_dutch_and_english_report_the_same_rules_in_their_own_words(measurement):
    _, en = validate_row(0, measurement, make_ctx(lang="en"))
    _, nl = validate_row(0, measurement, make_ctx(lang="nl"))
    assert [(e.field, e.code) for e in en] == [(e.field, e.code) for e in nl] != []
    assert all(a.message != b.message for a, b in zip(en, nl, strict=True))


# --- accepted rows ----------------------------------------------------------------------------


def test_a_sum_row_keeps_its_value():
    valid = accepted(raw(note="incl. outreach", disaggregation={"age_band": "12-17"}))
    assert valid == ValidRow(
        row=1,
        organisation_id=ORG_ID,
        kpi="ACT-01",
        kpi_version=1,
        period=parse_period("2025-03"),
        municipality="GM0363",
        disaggregation={"age_band": "12-17"},
        withdraw=False,
        value=120.0,
        numerator=None,
        denominator=None,
        n=None,
        note="incl. outreach",
        record_id="r-1",
    )
    assert valid.natural_key == (ORG_ID, "ACT-01", "2025-03", "GM0363", "age_band=12-17")
    assert valid.payload() == (1, False, 120.0, None, None, None, "incl. outreach")


def test_an_amount_need_not_be_whole():
    assert accepted(raw(kpi="ACT-EUR", value=1234.56)).value == 1234.56


@pytest.mark.parametrize("value", [0, 0.1, 0.2, 0.01, 0.3, 100.5, 123456.78, 999_999.99, 1e6])
def test_an_amount_exact_to_the_cent_is_kept_as_sent(value):
    assert accepted(raw(kpi="EUR-MAX", value=value)).value == value


def test_a_mean_amount_is_exact_to_the_cent_too():
    assert accepted(raw(kpi="EUR-MEAN", value=None, mean=12.34, n=3)).value == 12.34


@pytest.mark.parametrize(
    "measurement",
    [
        raw(value=10_000_000),  # the default count_max
        raw(kpi="CNT-CAP", value=50),
        raw(kpi="CNT-RANGE", value=50),
        pct(kpi="PCT-CAP", numerator=200, denominator=200),
        score(kpi="SCORE-CAP", n=200),
        score(n=10_000_000),
    ],
)
def test_counts_up_to_their_limit_are_accepted(measurement):
    assert accepted(measurement)


def test_n_is_bounded_by_count_max_and_by_max_n():
    assert check(score(n=10_000_001)) == [("n", "n_too_large")]  # the default count_max
    lifted = dataclasses.replace(SPECS["IMP-ZEL-02"][1], count_max=1_000_000_000)
    ctx = make_ctx(specs=SPECS | {"IMP-ZEL-02": {1: lifted}})
    assert accepted(score(n=1_000_000_000), ctx).n == 1_000_000_000
    assert check(score(n=1_000_000_001), ctx) == [("n", "n_too_large")]


_HUGE = "1" + "0" * 400


@pytest.mark.parametrize(
    "number", ["inf", "-inf", "Infinity", "nan", "NaN", "1e400", "-1e400", "1e309", _HUGE]
)
def test_no_infinite_or_nan_number_passes_from_csv(number):
    body = f"kpi,organisation,municipality,period,value\nACT-EUR,ORG-A,GM0363,2025-03,{number}\n"
    (row,) = parse_csv(body.encode(), "en")
    assert check(row) == [("value", "field_invalid")]


@pytest.mark.parametrize("number", ["1e400", "-1e999", "1e309", _HUGE])
@pytest.mark.parametrize("field", ["value", "numerator", "denominator", "mean", "n"])
def test_no_infinite_number_passes_from_json(number, field):
    body = f'{{"measurements": [{{"{field}": {number}}}]}}'.encode()
    if "e" in number:  # beyond a float: the body is refused, naming where (jsontext)
        error = _raises("invalid_number", parse_json, body, "en")
        assert error.errors[0].pointer == f"/measurements/0/{field}"
        return
    (parsed,) = parse_json(body, "en")  # a huge integer is exact: the row refuses it
    assert check(raw(kpi="ACT-EUR", value=None) | parsed) == [(field, "field_invalid")]


def test_a_ratio_of_sums_row_is_100_times_numerator_over_denominator():
    valid = accepted(pct(numerator=30, denominator=120))
    assert valid.value == pytest.approx(25.0)
    assert (valid.numerator, valid.denominator, valid.n) == (30, 120, None)
    assert accepted(pct(numerator=1, denominator=3)).value == pytest.approx(100 / 3)
    assert accepted(pct(numerator=0, denominator=7)).value == 0.0
    assert accepted(pct(numerator=7, denominator=7)).value == 100.0


def test_a_weighted_mean_row_keeps_mean_as_value_and_n_as_int():
    valid = accepted(score(mean=3.4, n=25.0))
    assert valid.value == 3.4
    assert valid.n == 25 and type(valid.n) is int
    assert (valid.numerator, valid.denominator) == (None, None)
    assert accepted(raw(kpi="ACT-05", value=None, mean=12.5, n=8)).value == 12.5
    # The scale ends are inside the range.
    assert accepted(score(mean=1, n=1)).value == 1
    assert accepted(score(mean=5, n=1)).value == 5


def test_a_withdrawal_has_no_value():
    valid = accepted(raw(value=None, withdraw=True))
    assert valid.withdraw is True
    assert (valid.value, valid.numerator, valid.denominator, valid.n) == (None,) * 4
    assert accepted(score(mean=None, n=None, withdraw=True)).value is None


def test_a_withdrawal_of_a_percentage_has_no_value():
    valid = accepted(pct(numerator=None, denominator=None, withdraw=True))
    assert valid.withdraw is True and valid.value is None


def test_strings_are_stripped():
    valid = accepted(raw(kpi=" ACT-01 ", municipality=" GM0363", disaggregation={"gender": " V "}))
    assert (valid.kpi, valid.municipality, valid.disaggregation) == (
        "ACT-01",
        "GM0363",
        {"gender": "V"},
    )


def test_the_kpi_version_comes_from_the_release_or_is_given():
    specs = SPECS | {"ACT-01": SPECS["ACT-01"] | {3: _spec("ACT-01", version=3)}}
    ctx = make_ctx(
        specs=specs,
        current_release=("2025.06", {"ACT-01": 3}),
        releases={"2024.12": dict(MEMBERS)},
    )
    assert accepted(raw(), ctx).kpi_version == 3
    assert accepted(raw(release="2024.12"), ctx).kpi_version == 1
    assert accepted(raw(kpi_version=1), ctx).kpi_version == 1
    assert check(raw(kpi_version=2), ctx) == [("kpi_version", "kpi_not_published")]


def test_a_row_without_a_version_follows_the_definition_of_its_period():
    """Across a series break the current release's version governs only periods from the
    break; a row for an earlier period is read under the definition that governs it."""
    assert accepted(raw(kpi="BRK-01", period="2025-01")).kpi_version == 3
    assert accepted(raw(kpi="BRK-01", period="2024-12")).kpi_version == 1
    assert accepted(raw(kpi="BRK-01", period="2024")).kpi_version == 1
    assert accepted(raw(kpi="BRK-01", kpi_version=2, period="2025-02")).kpi_version == 2
    # A release named is taken at its word, and checked like a version named.
    ctx = make_ctx(releases={"2025.01": {"BRK-01": 3}})
    assert check(raw(kpi="BRK-01", release="2025.01", period="2024-12"), ctx) == [
        ("release", "kpi_version_not_in_force")
    ]


def test_the_break_is_named_in_both_languages():
    row = raw(kpi="BRK-01", kpi_version=1, period="2025-01")
    _, [error] = validate_row(0, row, CTX)
    assert error.message == (
        "Version 1 of KPI 'BRK-01' does not apply to 2025-01: a series break on 2025-01-01 "
        "replaced its definition; send 2025-01 under version 3."
    )
    _, [fout] = validate_row(0, row, make_ctx(lang="nl"))
    assert "trendbreuk" in fout.message and "lever 2025-01 aan onder versie 3" in fout.message
    _, [early] = validate_row(0, raw(kpi="BRK-01", kpi_version=2, period="2024-12"), CTX)
    assert "send 2024-12 under version 1" in early.message


def test_two_breaks_name_the_version_of_the_period_itself():
    specs = SPECS | {
        "BRK-02": {
            1: _spec("BRK-02", definition_end=date(2024, 1, 1), replaced_by=2),
            2: _spec(
                "BRK-02",
                version=2,
                definition_start=date(2024, 1, 1),
                definition_end=date(2025, 1, 1),
                replaced_by=3,
            ),
            3: _spec("BRK-02", version=3, definition_start=date(2025, 1, 1)),
        }
    }
    ctx = make_ctx(specs=specs, current_release=("2025.01", {"BRK-02": 3}))
    _, [replaced] = validate_row(0, raw(kpi="BRK-02", kpi_version=1, period="2025-02"), ctx)
    assert "on 2024-01-01" in replaced.message and "under version 3" in replaced.message
    _, [early] = validate_row(0, raw(kpi="BRK-02", kpi_version=3, period="2023-05"), ctx)
    assert "under version 1" in early.message
    assert accepted(raw(kpi="BRK-02", period="2024-06"), ctx).kpi_version == 2


def test_a_period_must_have_ended_before_today():
    ctx = make_ctx(today=date(2025, 4, 1))
    assert check(raw(period="2025-03"), ctx) == []
    assert check(raw(period="2025-Q1"), ctx) == []
    ctx = make_ctx(today=date(2025, 3, 31))
    assert check(raw(period="2025-03"), ctx) == [("period", "period_in_future")]


# --- deprecated KPIs, municipalities over time, areas -----------------------------------------


@pytest.mark.parametrize(
    ("period", "ok"),
    [
        ("2024-12", True),
        ("2024-Q4", True),
        ("2024", True),
        ("2025-01", False),
        ("2025-Q1", False),
        ("2025", False),
        ("2025-05", False),
    ],
)
def test_a_deprecated_kpi_refuses_periods_from_its_date_on(period, ok):
    expected = [] if ok else [("period", "kpi_deprecated")]
    later = make_ctx(today=date(2026, 3, 1))  # every period here has ended
    assert check(raw(kpi="OLD-01", period=period), later) == expected


@pytest.mark.parametrize(
    ("municipality", "period", "ok"),
    [
        ("GM0457", "2022-Q1", True),  # Weesp existed until 23 March 2022
        ("GM0457", "2022-03", True),
        ("GM0457", "2022", True),
        ("GM0457", "2021-12", True),
        ("GM0457", "2022-Q2", False),
        ("GM0457", "2022-04", False),
        ("GM0457", "2023", False),
        ("GM0457", "2018-12", False),  # before the CBS list begins
        ("GM1980", "2021-12", False),  # Dijk en Waard exists from 2022
        ("GM1980", "2021", False),
        ("GM1980", "2022-01", True),
    ],
)
def test_a_municipality_must_exist_during_the_period(municipality, period, ok):
    expected = [] if ok else [("municipality", "municipality_not_valid")]
    assert check(raw(municipality=municipality, period=period)) == expected


@pytest.mark.parametrize(
    ("municipality", "dimension", "code", "expected"),
    [
        ("GM0363", "neighbourhood", "BU03630000", []),
        ("GM0363", "neighbourhood", "BU03631234", []),
        ("GM0363", "district", "WK036300", []),
        ("GM0014", "neighbourhood", "BU00140101", []),
        ("GM0014", "district", "WK001401", []),
        (
            "GM0363",
            "neighbourhood",
            "BU00140000",
            [("disaggregation", "area_outside_municipality")],
        ),
        ("GM0363", "district", "WK001400", [("disaggregation", "area_outside_municipality")]),
        ("GM0014", "district", "WK036300", [("disaggregation", "area_outside_municipality")]),
        ("GM0363", "neighbourhood", "BU0363000", [("disaggregation", "dimension_code_unknown")]),
        ("GM0363", "neighbourhood", "WK036300", [("disaggregation", "dimension_code_unknown")]),
        ("GM0363", "district", "BU03630000", [("disaggregation", "dimension_code_unknown")]),
        ("GM0363", "district", "wk036300", [("disaggregation", "dimension_code_unknown")]),
        ("GM0363", "district", "WK0363000", [("disaggregation", "dimension_code_unknown")]),
    ],
)
def test_areas_must_lie_in_the_rows_municipality(municipality, dimension, code, expected):
    assert check(raw(municipality=municipality, disaggregation={dimension: code})) == expected


def test_area_and_municipality_errors_are_both_reported():
    assert check(raw(municipality="GM0599", disaggregation={"district": "WK036300"})) == [
        ("municipality", "organisation_not_in_municipality"),
        ("disaggregation", "area_outside_municipality"),
    ]


def test_area_codes_take_ascii_digits_only_in_the_canonical_code_lists(db):
    from kpi_api.catalogue.service import code_list_specs

    ctx = make_ctx(code_lists=code_list_specs(db))
    measurement = raw(disaggregation={"neighbourhood": "BU0363٠٠٠٠"})
    assert check(measurement, ctx) == [("disaggregation", "dimension_code_unknown")]


# --- disaggregation keys and duplicates -------------------------------------------------------


def test_disaggregation_key_is_canonical():
    assert disaggregation_key({}) == ""
    assert disaggregation_key({"gender": "V"}) == "gender=V"
    assert (
        disaggregation_key({"gender": "V", "age_band": "12-17"})
        == disaggregation_key({"age_band": "12-17", "gender": "V"})
        == "age_band=12-17;gender=V"
    )
    three = {"neighbourhood": "BU03630000", "age_band": "75+", "gender": "X"}
    assert disaggregation_key(three) == "age_band=75+;gender=X;neighbourhood=BU03630000"


def test_the_natural_key_ignores_the_order_of_dimensions():
    one = accepted(raw(disaggregation={"age_band": "12-17", "gender": "V"}))
    two = accepted(raw(disaggregation={"gender": "V", "age_band": "12-17"}))
    assert one.natural_key == two.natural_key
    assert one.natural_key[4] == "age_band=12-17;gender=V"


def _valid(rows: list[dict[str, Any]]) -> list[ValidRow]:
    return [accepted(r, index=i) for i, r in enumerate(rows)]


def test_mark_duplicates_keeps_the_first_of_each_natural_key():
    rows = _valid(
        [
            raw(),
            raw(value=5, record_id="again"),  # same key, different value
            raw(disaggregation={"age_band": "12-17"}),
            raw(municipality="GM0014"),
            raw(period="2025-02"),
            raw(disaggregation={"age_band": "12-17"}, value=1),  # duplicate of row 3
            raw(value=None, withdraw=True),  # a withdrawal of row 1's key is a duplicate too
            pct(),
        ]
    )
    kept, errors = mark_duplicates(rows, CTX)
    assert [r.row for r in kept] == [1, 3, 4, 5, 8]
    assert [(e.row, e.field, e.code) for e in errors] == [
        (2, None, "duplicate_in_batch"),
        (6, None, "duplicate_in_batch"),
        (7, None, "duplicate_in_batch"),
    ]
    assert errors[0].message == (
        "Row 1 already holds this organisation, KPI, period, municipality and disaggregation."
    )
    assert errors[1].message.startswith("Row 3 ")


def test_mark_duplicates_sees_the_same_disaggregation_in_another_order():
    rows = _valid(
        [
            raw(disaggregation={"age_band": "12-17", "gender": "V"}),
            raw(disaggregation={"gender": "V", "age_band": "12-17"}, record_id="b"),
        ]
    )
    kept, errors = mark_duplicates(rows, make_ctx(lang="nl"))
    assert [r.row for r in kept] == [1]
    assert [(e.row, e.code) for e in errors] == [(2, "duplicate_in_batch")]
    assert errors[0].message == (
        "Rij 1 bevat al deze organisatie, KPI, periode, gemeente en uitsplitsing."
    )


def test_mark_duplicates_of_distinct_rows_keeps_all():
    rows = _valid([raw(), raw(period="2025-Q1"), raw(period="2024"), raw(kpi="ACT-EUR")])
    kept, errors = mark_duplicates(rows, CTX)
    assert kept == rows and errors == []
    assert mark_duplicates([], CTX) == ([], [])


def test_a_period_with_non_ascii_digits_is_refused():
    assert check(raw(period="２０２５-03")) == [("period", "period_invalid")]


def test_an_n_too_large_to_store_is_refused():
    assert check(score(n=1e19)) != []
    assert check(score(n=3e9)) != []


# --- parsing ----------------------------------------------------------------------------------

HEADER = "kpi,organisation,municipality,period,disaggregation,value,note\n"


def _raises(code: str, fn: Any, *args: Any) -> KpiApiError:
    with pytest.raises(KpiApiError) as info:
        fn(*args)
    assert info.value.code == code, info.value.detail
    return info.value


def test_parse_csv_reads_rows():
    body = (HEADER + "ACT-01,ORG-A,GM0363,2025-03,age_band=12-17;gender=V,120,hi\n").encode()
    assert parse_csv(body, "en") == [
        {
            "kpi": "ACT-01",
            "organisation": "ORG-A",
            "municipality": "GM0363",
            "period": "2025-03",
            "disaggregation": {"age_band": "12-17", "gender": "V"},
            "value": "120",
            "note": "hi",
        }
    ]


def test_parse_csv_accepts_a_bom_and_crlf():
    body = (
        b"\xef\xbb\xbf"
        + (HEADER + "ACT-01,ORG-A,GM0363,2025-03,,1,\n").replace("\n", "\r\n").encode()
    )
    rows = parse_csv(body, "en")
    assert rows == [
        {"kpi": "ACT-01", "organisation": "ORG-A", "municipality": "GM0363", "period": "2025-03"}
        | {"value": "1"}
    ]


def test_parse_csv_skips_blank_lines_and_omits_empty_cells():
    body = (
        HEADER
        + "\n"
        + "ACT-01,ORG-A,GM0363,2025-03,,120,\n"
        + ",,,,,,\n"
        + "  ,  , , , , ,\n"
        + "ACT-01,ORG-A,GM0014,2025-03,  ,  ,note\n"
        + "\n"
    ).encode()
    assert parse_csv(body, "en") == [
        {"kpi": "ACT-01", "organisation": "ORG-A", "municipality": "GM0363", "period": "2025-03"}
        | {"value": "120"},
        {"kpi": "ACT-01", "organisation": "ORG-A", "municipality": "GM0014", "period": "2025-03"}
        | {"note": "note"},
    ]


def test_parse_csv_header_only_is_no_rows():
    assert parse_csv(HEADER.encode(), "en") == []


def test_parse_csv_columns_in_any_order():
    body = b"period,municipality,organisation,kpi\n2025-03,GM0363,ORG-A,ACT-01\n"
    assert parse_csv(body, "en") == [
        {"period": "2025-03", "municipality": "GM0363", "organisation": "ORG-A", "kpi": "ACT-01"}
    ]


@pytest.mark.parametrize(
    ("cell", "parsed"),
    [
        ("age_band=12-17", {"age_band": "12-17"}),
        (" age_band = 12-17 ; gender = V ", {"age_band": "12-17", "gender": "V"}),
        ("age_band=12-17;;gender=V;", {"age_band": "12-17", "gender": "V"}),
        ("age_band=", {"age_band": ""}),  # validation reports dimension_code_missing
        ("age_band", "age_band"),  # no '='
        ("=12-17", "=12-17"),  # no dimension
        ("age_band=12-17;age_band=18-26", "age_band=12-17;age_band=18-26"),  # twice
        ("age_band=12-17;gender", "age_band=12-17;gender"),
    ],
)
def test_parse_csv_disaggregation_cells(cell, parsed):
    body = f'kpi,organisation,municipality,period,disaggregation\nA,O,GM0363,2025,"{cell}"\n'
    assert parse_csv(body.encode(), "en")[0]["disaggregation"] == parsed


def test_a_malformed_disaggregation_cell_becomes_a_row_error():
    body = b"kpi,organisation,municipality,period,value,disaggregation\n"
    body += b"ACT-01,ORG-A,GM0363,2025-03,1,age_band\n"
    (measurement,) = parse_csv(body, "en")
    assert check(measurement) == [("disaggregation", "field_invalid")]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"kpi,organisation,municipality\nA,O,GM0363\n",  # period column missing
        b"kpi,organisation,municipality,period,colour\nA,O,GM0363,2025,red\n",  # unknown column
        b"kpi,organisation,municipality,period,kpi\nA,O,GM0363,2025,B\n",  # a column twice
        b"kpi,organisation,municipality,period\nA,O,GM0363\n",  # too few cells
        b"kpi,organisation,municipality,period\nA,O,GM0363,2025,x\n",  # too many cells
        b"kpi,organisation,municipality,period\nA,O,GM0363,2025\x00\n",  # NUL byte
        b'kpi,organisation,municipality,period\nA,O,"GM0363,2025\n',  # unterminated quote
    ],
)
def test_parse_csv_refuses_malformed_bodies(body):
    error = _raises("malformed_csv", parse_csv, body, "en")
    assert error.status == 400


def test_parse_csv_refuses_bad_utf8_and_speaks_dutch():
    error = _raises("invalid_encoding", parse_csv, b"kpi\xff,organisation\n", "nl")
    assert error.status == 400 and error.detail == "De body is geen geldige UTF-8."
    error = _raises("malformed_csv", parse_csv, b"", "nl")
    assert error.detail.startswith("De body is geen geldige CSV: ")


def test_parse_json_reads_rows_with_or_without_a_bom():
    body = json.dumps({"measurements": [{"kpi": "ACT-01", "value": 1.5}, "odd"]}).encode()
    assert parse_json(body, "en") == [{"kpi": "ACT-01", "value": 1.5}, "odd"]
    assert parse_json(b"\xef\xbb\xbf" + body, "en") == parse_json(body, "en")
    assert parse_json(b'{"measurements": []}', "en") == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"measurements": [], "extra": 1}',  # unknown top-level field
        b'{"measurements": [], "Measurements": []}',
        b'{"measurements": {}}',
        b'{"rows": []}',
        b"[]",
        b'"measurements"',
        b"{",
        b"",
        b'{"measurements": [}',
        b"[" * 100_000,  # nesting too deep
    ],
)
def test_parse_json_refuses_malformed_bodies(body):
    error = _raises("malformed_json", parse_json, body, "en")
    assert error.status == 400


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_parse_json_refuses_numbers_json_does_not_have(number):
    body = f'{{"measurements": [{{"value": {number}}}]}}'.encode()
    error = _raises("invalid_number", parse_json, body, "en")
    assert error.status == 400 and error.errors[0].pointer == "/measurements/0/value"


def test_parse_json_names_the_unknown_top_level_fields():
    error = _raises("malformed_json", parse_json, b'{"measurements": [], "b": 1, "a": 2}', "en")
    assert "unknown top-level field(s) ['a', 'b']" in error.detail


def test_parse_json_refuses_nan_in_dutch():
    error = _raises("invalid_number", parse_json, b'{"measurements": [{"value": NaN}]}', "nl")
    assert error.detail.startswith("Het getal op /measurements/0/value kan niet worden genomen")


def test_parse_json_refuses_bad_utf8():
    _raises("invalid_encoding", parse_json, b'{"measurements": ["\xff"]}', "en")


def test_an_overflowing_json_number_refuses_the_body():
    _raises("invalid_number", parse_json, b'{"measurements": [{"value": 1e999}]}', "en")


@pytest.mark.parametrize(
    ("content_type", "parsed"),
    [
        ("application/json", [{"kpi": "A"}]),
        ("Application/JSON; charset=utf-8", [{"kpi": "A"}]),
        ("text/csv", [{"kpi": "A", "organisation": "O", "municipality": "M", "period": "P"}]),
        (
            "application/csv",
            [{"kpi": "A", "organisation": "O", "municipality": "M", "period": "P"}],
        ),
    ],
)
def test_parse_body_by_media_type(content_type, parsed):
    body = (
        b'{"measurements": [{"kpi": "A"}]}'
        if "json" in content_type.lower()
        else b"kpi,organisation,municipality,period\nA,O,M,P\n"
    )
    assert parse_body(body, content_type, "en") == parsed


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml"])
def test_parse_body_refuses_other_media_types(content_type):
    error = _raises("unsupported_media_type", parse_body, b"{}", content_type, "en")
    assert error.status == 415


def test_a_context_is_a_plain_dataclass():
    # Guards the hand-built Context above against silent drift of its fields.
    assert {f.name for f in dataclasses.fields(Context)} == {
        "lang",
        "today",
        "specs",
        "current_release",
        "releases",
        "code_lists",
        "municipalities",
        "organisations",
        "locks",
    }

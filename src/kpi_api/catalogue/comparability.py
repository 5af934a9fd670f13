"""Whether a new version of a KPI keeps its series (minor) or breaks it (major).

A figure adds up measurements; that only means something while they were made under the same
definition. So every version after the first states its *comparability* with the version
before it, as national statistics do with a series break (CBS: *trendbreuk*; SDMX: a break
flag on the observation that starts the new series):

- **minor**: the series goes on. Wording and translation (names, definition text), the core
  flag, work fields, publication precision (``decimals``), the desired direction (how an
  agreement's progress judges a figure, not what it counts), an added period type, an added
  breakdown, the valid range or count limit (a validation bound, not what counts: a value
  inside it means what it meant; the publisher states major when the bound redefines it).
- **major**: the series breaks. What counts (``counts``, ``excludes``, ``numerator``,
  ``denominator``), the unit, value type, aggregation, time aggregation, instrument or scale; a
  period type or a breakdown (a code list, with its codes) removed.

``derive`` gives the least comparability the field-level diff allows. The publisher may call
a change major when the diff calls it minor (a reworded definition can change what people
record), never the other way round (see ``catalogue.service.publish_release``). A major
version takes effect on the first day of a calendar year (``effective_from``), so every
period, the year included, lies wholly on one side of the break.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kpi_api.catalogue.schemas import DEFAULT_COUNT_MAX, Comparability

#: Fields whose every change breaks the series, with why (as the release diff shows it).
BREAKING: dict[str, str] = {
    "counts": "what counts changed",
    "excludes": "what does not count changed",
    "numerator": "the numerator changed",
    "denominator": "the denominator changed",
    "unit": "the unit changed",
    "value_type": "the value type changed",
    "aggregation": "how values combine across organisations changed",
    "time_aggregation": "how values combine over periods changed",
    "instrument": "the instrument changed",
    "scale": "the scale changed",
}
#: Fields whose change never breaks the series.
KEEPING: dict[str, str] = {
    "core": "core flag",
    "name_nl": "wording",
    "name_en": "wording",
    "definition_nl": "wording",
    "definition_en": "wording",
    "work_fields": "work fields",
    "decimals": "publication precision",
    "direction": "desired direction: how progress is judged, not what counts",
}


@dataclass(frozen=True)
class FieldVerdict:
    """One changed field: its comparability and why."""

    field: str
    comparability: Comparability
    why: str


def _lo(x: Any) -> float:
    return float("-inf") if x is None else float(x)


def _hi(x: Any) -> float:
    return float("inf") if x is None else float(x)


def _set_change(old: list[str], new: list[str], what: str) -> FieldVerdict:
    removed = sorted(set(old) - set(new))
    if removed:
        return FieldVerdict(what, Comparability.major, f"removed: {', '.join(removed)}")
    return FieldVerdict(
        what, Comparability.minor, f"added: {', '.join(sorted(set(new) - set(old)))}"
    )


def field_verdict(name: str, old: Any, new: Any) -> FieldVerdict:
    """The comparability of one field's change (``old != new``, as JSON values)."""
    if name in BREAKING:
        return FieldVerdict(name, Comparability.major, BREAKING[name])
    if name in KEEPING:
        return FieldVerdict(name, Comparability.minor, KEEPING[name])
    if name == "period_types":
        return _set_change(old, new, name)
    if name == "dimensions":
        return _set_change(old, new, name)
    if name == "range":
        # A validation bound, not what counts: values inside it mean what they meant.
        old, new = old or {}, new or {}
        narrowed = _lo(new.get("min")) > _lo(old.get("min")) or _hi(new.get("max")) < _hi(
            old.get("max")
        )
        why = "valid range narrowed (values outside are refused)" if narrowed else "range widened"
        return FieldVerdict(name, Comparability.minor, why)
    if name == "count_max":
        lower = (new or DEFAULT_COUNT_MAX) < (old or DEFAULT_COUNT_MAX)
        why = "count limit lowered (larger counts are refused)" if lower else "count limit raised"
        return FieldVerdict(name, Comparability.minor, why)
    # A field this module does not know yet: the safe side.
    return FieldVerdict(name, Comparability.major, "a field without a comparability rule")


def derive(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldVerdict]:
    """Each changed field of two definitions (``KpiDefinition.model_dump(mode="json")``)."""
    return [field_verdict(f, old[f], new[f]) for f in old if f in new and old[f] != new[f]]


def least(verdicts: list[FieldVerdict]) -> Comparability:
    """The least comparability a change with these field verdicts can be published as."""
    if any(v.comparability is Comparability.major for v in verdicts):
        return Comparability.major
    return Comparability.minor

"""Lookups other domains use: which municipality is valid when, where it lies, what it became."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kpi_api.reference.models import Municipality, MunicipalitySuccession, Province
from kpi_api.reference.schemas import MunicipalityRead, ProvinceRead


@dataclass(frozen=True)
class MunicipalityInfo:
    """A CBS municipality, its province and the days it is valid (``valid_to`` None: still)."""

    code: str
    name: str
    province: str
    valid_from: date
    valid_to: date | None

    def overlaps(self, start: date, end: date) -> bool:
        """Valid on at least one day of [start, end]."""
        return self.valid_from <= end and (self.valid_to is None or self.valid_to >= start)


def municipalities(session: Session) -> dict[str, MunicipalityInfo]:
    """Every CBS municipality of any year, by code."""
    return {
        m.code: MunicipalityInfo(m.code, m.name, m.province_code, m.valid_from, m.valid_to)
        for m in session.scalars(select(Municipality))
    }


def existing(session: Session, codes: Collection[str]) -> set[str]:
    """Those of ``codes`` that are CBS municipality codes (of any year), as a set."""
    return set(session.scalars(select(Municipality.code).where(Municipality.code.in_(codes))))


def successions(session: Session) -> dict[str, list[str]]:
    """The codes a merged or split municipality's area went to directly, by old code (from CBS's
    yearly municipal boundaries)."""
    out: dict[str, list[str]] = {}
    for s in session.scalars(
        select(MunicipalitySuccession).order_by(MunicipalitySuccession.new_code)
    ):
        out.setdefault(s.old_code, []).append(s.new_code)
    return out


def current_codes(session: Session) -> dict[str, list[str]]:
    """Map every code to the code(s) that cover its area today (itself while still valid)."""
    succ = successions(session)

    def follow(code: str, seen: frozenset[str] = frozenset()) -> list[str]:
        if code not in succ or code in seen:
            return [code]
        return sorted({c for nxt in succ[code] for c in follow(nxt, seen | {code})})

    return {code: follow(code) for code in municipalities(session)}


def list_provinces(session: Session) -> list[ProvinceRead]:
    """The provinces (CBS ``PV`` codes), by code."""
    rows = session.scalars(select(Province).order_by(Province.code))
    return [ProvinceRead(code=p.code, name=p.name) for p in rows]


def list_municipalities(
    session: Session, *, valid_on: date | None = None, province: str | None = None
) -> list[MunicipalityRead]:
    """CBS municipalities by code, of ``province`` and valid on ``valid_on`` where given, each with
    its direct successors."""
    succ = successions(session)
    stmt = select(Municipality).order_by(Municipality.code)
    if province is not None:
        stmt = stmt.where(Municipality.province_code == province)
    if valid_on is not None:
        stmt = stmt.where(
            Municipality.valid_from <= valid_on,
            (Municipality.valid_to.is_(None)) | (Municipality.valid_to >= valid_on),
        )
    return [
        MunicipalityRead(
            code=m.code,
            name=m.name,
            province=m.province_code,
            valid_from=m.valid_from,
            valid_to=m.valid_to,
            former_name=m.former_name,
            successors=succ.get(m.code, []),
        )
        for m in session.scalars(stmt)
    ]


@dataclass(frozen=True)
class Geography:
    """Provinces and municipalities as plain values, for code on hot paths."""

    province_names: dict[str, str]
    municipalities: tuple[MunicipalityRow, ...]


@dataclass(frozen=True)
class MunicipalityRow:
    """A municipality as ``Geography`` holds it; ``current_code`` is today's code for its area
    (itself while valid, None after a split)."""

    code: str
    name: str
    province_code: str
    valid_from: date
    valid_to: date | None
    current_code: str | None


_CACHE: dict[str, tuple[float, Geography]] = {}
CACHE_SECONDS = 300.0


def geography(session: Session) -> Geography:
    """The reference geography, cached per database for ``CACHE_SECONDS`` (5 minutes; it changes
    yearly); an empty one is never cached."""
    bind = session.get_bind()
    engine: Engine = bind.engine  # the Engine of a Connection is itself; of an Engine, itself
    key = engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    m = Municipality
    rows = session.execute(
        select(m.code, m.name, m.province_code, m.valid_from, m.valid_to, m.current_code)
    ).all()
    names = dict(session.execute(select(Province.code, Province.name)).all())
    geo = Geography(names, tuple(MunicipalityRow(*r) for r in rows))
    if rows:  # never cache an empty (not yet loaded) reference
        _CACHE[key] = (now, geo)
    return geo

"""Loading the canonical catalogue files."""

from __future__ import annotations

from datetime import date

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_api.catalogue import models, service
from kpi_api.catalogue import repository as repo
from kpi_api.catalogue.loader import (
    DATA_DIR,
    CatalogueFiles,
    KpiChangeEntry,
    KpiEntry,
    LoaderError,
    load,
    read_files,
)
from kpi_api.catalogue.schemas import ALLOWED_AGGREGATIONS, Direction, Layer, ValueType
from tests.conftest import migrated

FILES = read_files()
TABLES = [
    models.LifeDomain,
    models.WorkField,
    models.CodeList,
    models.CodeListItem,
    models.Kpi,
    models.KpiVersion,
    models.KpiVersionWorkField,
    models.Release,
    models.ReleaseKpi,
    models.KpiSet,
    models.KpiSetMember,
]


def snapshot(session: Session) -> dict[str, int]:
    return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in TABLES}


#: KPIs that release 2027.01 gave a direction (a new version each).
WITH_DIRECTION = {k.code for k in FILES.kpis if k.direction is not Direction.none}
#: What every KPI of release 2026.11 is published with, by value type.
DECIMALS = {"count": 0, "percentage": 1, "score": 2, "duration_days": 1, "amount_eur": 2}


def test_the_files_are_releases_2026_11_to_2027_01_with_60_kpis():
    assert [r.id for r in FILES.releases] == ["2026.11", "2026.12", "2027.01"]
    assert FILES.release.id == "2027.01"
    assert len(FILES.kpis) == 60
    first = FILES.releases[0]
    for title in (first.title_nl, first.description_nl):
        assert "precisie" in title and "grenzen" in title
    for title in (first.title_en, first.description_en):
        assert "precision" in title and "limits" in title
    changed = {
        k.code: [(c.release, c.comparability.value) for c in k.changes]
        for k in FILES.kpis
        if k.changes
    }
    assert changed.pop("ACT-09") == [("2026.12", "major")]
    assert changed.pop("ACT-10") == [("2026.12", "minor")]
    # 2027.01 states each KPI's direction: a minor change to every KPI that has one.
    assert changed == {code: [("2027.01", "minor")] for code in WITH_DIRECTION}


def test_every_kpi_states_its_direction_in_the_files():
    """The API defaults a left-out direction to none; the canonical files state each one, and
    2027.01 is the release that stated them (the versions before had none)."""
    raw = yaml.safe_load((DATA_DIR / "kpis.yaml").read_text(encoding="utf-8"))["kpis"]
    assert all("direction" in k for k in raw)
    directions = {k.code: k.direction for k in FILES.kpis}
    assert directions["IMP-ZEL-01"] is Direction.higher_is_better  # ZRM score improved
    assert directions["IMP-SOC-01"] is Direction.lower_is_better  # loneliness
    assert directions["ACT-05"] is Direction.lower_is_better  # waiting time
    assert directions["ACT-04"] is directions["ACT-09"] is Direction.none  # referrals, contacts
    assert len(WITH_DIRECTION) == 52
    position = FILES.position
    for k in FILES.kpis:
        assert k.definition_at(position, "2026.12").direction is Direction.none, k.code
        change = next((c for c in k.changes if c.release == "2027.01"), None)
        if k.code in WITH_DIRECTION:
            assert change is not None and change.before == {"direction": "none"}, k.code
            assert change.change_note_nl.startswith("VOORSTEL") and change.change_note_en
        else:
            assert change is None, k.code


def test_every_kpi_declares_its_precision_and_a_finite_bound():
    for k in FILES.kpis:
        assert k.decimals == DECIMALS[k.value_type.value], k.code
        assert k.count_max is None or 1 <= k.count_max <= 1_000_000_000, k.code
        if k.value_type in (ValueType.amount_eur, ValueType.duration_days, ValueType.percentage):
            assert k.range.max is not None and k.range.max < 10**10, k.code
        if k.value_type is ValueType.score:
            assert k.scale is not None and k.range.max == k.scale.max, k.code
    amounts = {k.code: k.range.max for k in FILES.kpis if k.value_type is ValueType.amount_eur}
    assert amounts == {"IMP-FIN-04": 100_000_000, "ACT-02": 1_000_000_000}


def test_canonical_content_covers_the_model():
    assert len(FILES.kpis) >= 40
    layers = {layer: [k for k in FILES.kpis if k.layer is layer] for layer in Layer}
    assert all(layers.values())
    domains = {d.code for d in FILES.life_domains}
    assert len(domains) == 7
    assert {k.life_domain for k in layers[Layer.impact]} == domains
    assert any(k.core for k in FILES.kpis) and not all(k.core for k in FILES.kpis)
    for k in FILES.kpis:
        assert k.name_nl and k.name_en and k.counts and k.excludes and k.unit
        assert k.aggregation in ALLOWED_AGGREGATIONS[k.value_type]
    code_lists = {c.code for c in FILES.code_lists}
    assert {d for k in FILES.kpis for d in k.dimensions} <= code_lists
    kpi_codes = {k.code for k in FILES.kpis}
    fields = {w.code for w in FILES.work_fields}
    for s in FILES.kpi_sets:
        assert s.work_field in fields and set(s.kpis) <= kpi_codes


def test_loading_twice_changes_nothing(db):
    before = snapshot(db)
    assert before["kpi"] == len(FILES.kpis)
    report = load(db, FILES)
    db.flush()
    assert not report.changed, report
    assert snapshot(db) == before


def test_loading_into_an_empty_database_is_idempotent(scratch):
    engine = migrated(scratch.create())
    try:
        with Session(engine) as session, session.begin():
            first = load(session, FILES)
        # Release 2026.11 with every KPI, then 2026.12 with ACT-09 and ACT-10 version 2, then
        # 2027.01 with a new version of every KPI that has a direction.
        published = len(FILES.kpis) + 2 + len(WITH_DIRECTION)
        assert first.published and first.changes["kpi_versions_published"] == published
        with Session(engine) as session, session.begin():
            after_first = snapshot(session)
            second = load(session, FILES)
        assert not second.changed
        with Session(engine) as session:
            assert snapshot(session) == after_first
    finally:
        engine.dispose()


def test_a_changed_definition_becomes_a_new_version_in_a_new_release(db):
    files = FILES.model_copy(deep=True)
    files.releases.append(files.release.model_copy(update={"id": "2099.01"}))
    files.kpis[0].changes.append(
        KpiChangeEntry(
            release="2099.01",
            comparability="major",
            effective_from=date(2030, 1, 1),
            change_note_nl="Andere eenheid.",
            change_note_en="Another unit.",
            before={"unit": files.kpis[0].unit},
        )
    )
    files.kpis[0].unit = "changed unit"
    files.code_lists[0].items[0].name_en = "Renamed item"
    report = load(db, files)
    assert report.published
    assert report.changes["kpi_versions_published"] == 1
    assert report.changes["code_list_items_replaced"] == 1
    versions = db.scalars(
        select(models.KpiVersion).where(models.KpiVersion.kpi_code == files.kpis[0].code)
    ).all()
    assert [(v.version, v.status, v.unit, v.comparability) for v in versions] == [
        (1, "published", FILES.kpis[0].unit, None),
        (2, "published", FILES.kpis[0].unit, "minor"),  # 2027.01: its direction
        (3, "published", "changed unit", "major"),
    ]
    assert versions[2].effective_from == date(2030, 1, 1)
    assert not load(db, files).changed


def test_a_changed_definition_without_its_change_entry_is_refused(db):
    """Editing a KPI without recording the change would rewrite what 2026.11 published."""
    files = FILES.model_copy(deep=True)
    files.releases.append(files.release.model_copy(update={"id": "2099.01"}))
    files.kpis[0].unit = "changed unit"
    with pytest.raises(LoaderError, match=r"release 2026\.11 is published with other content"):
        load(db, files)


def test_a_major_change_recorded_as_minor_is_refused(db):
    files = FILES.model_copy(deep=True)
    files.releases.append(files.release.model_copy(update={"id": "2099.01"}))
    files.kpis[0].changes.append(
        KpiChangeEntry(
            release="2099.01", comparability="minor", before={"unit": files.kpis[0].unit}
        )
    )
    files.kpis[0].unit = "changed unit"
    with pytest.raises(LoaderError, match="cannot be minor: unit"):
        load(db, files)


def test_changed_files_under_a_published_release_id_are_refused(db):
    files = FILES.model_copy(deep=True)
    files.kpis[0].unit = "changed unit"
    with pytest.raises(LoaderError, match="new release id"):
        load(db, files)


def _as_published_in_2024_12() -> CatalogueFiles:
    """The files as release 2024.12 had them: no precision, no count limit."""
    files = FILES.model_copy(deep=True)
    position = files.position
    for i, k in enumerate(files.kpis):
        definition = k.definition_at(position, "2026.11").model_dump()
        files.kpis[i] = KpiEntry(
            code=k.code, layer=k.layer, life_domain=k.life_domain, **definition
        )
        files.kpis[i].decimals = files.kpis[i].count_max = None
    files.releases = [files.releases[0].model_copy(update={"id": "2024.12"})]
    return files


def test_release_2026_11_adds_precision_and_limits_leaving_2024_12_as_it_was(scratch):
    engine = migrated(scratch.create())
    try:
        with Session(engine) as session, session.begin():
            assert load(session, _as_published_in_2024_12()).published
            # Amounts had no range.max in 2024.12; the rules require one now, so the files above
            # cannot say so: put the stored versions back as 2024.12 published them.
            amounts = session.scalars(
                select(models.KpiVersion).where(models.KpiVersion.value_type == "amount_eur")
            ).all()
            assert len(amounts) == 2
            for v in amounts:
                v.range_max = None
        with Session(engine) as session, session.begin():
            report = load(session, FILES)
        assert report.published and report.release == "2027.01"
        published = len(FILES.kpis) + 2 + len(WITH_DIRECTION)  # 2026.11, 2026.12, 2027.01
        assert report.changes == {"kpi_versions_published": published, "kpis_removed": 0}
        with Session(engine) as session:
            assert repo.current_release(session).id == "2027.01"
            old = repo.release_versions(session, "2024.12")
            new = repo.release_versions(session, "2026.11")
            assert sorted(old) == sorted(new) == sorted(k.code for k in FILES.kpis)
            for code, v in old.items():
                assert (v.version, v.decimals, v.count_max) == (1, None, None)
                assert new[code].version == 2
                assert new[code].decimals == DECIMALS[new[code].value_type]
                # The precision published stays what the defaults gave before.
                assert service.published_decimals(v) == service.published_decimals(new[code])
                assert service.effective_count_max(v) == service.effective_count_max(new[code])
            diff = service.diff_releases(session, release_id="2026.11")
            assert (diff.old, diff.added, diff.removed, diff.unchanged) == ("2024.12", [], [], 0)
            assert len(diff.changed) == 60
            for change in diff.changed:
                fields = {c.field: (c.old, c.new) for c in change.changes}
                decimals = DECIMALS[new[change.code].value_type]
                if change.code in ("IMP-FIN-04", "ACT-02"):
                    high = new[change.code].range_max
                    assert fields == {
                        "decimals": (None, decimals),
                        "range": ({"min": 0.0, "max": None}, {"min": 0.0, "max": high}),
                    }
                else:
                    assert fields == {"decimals": (None, decimals)}, change.code
        with Session(engine) as session, session.begin():
            assert not load(session, FILES).changed
    finally:
        engine.dispose()


def test_a_code_removed_from_a_list_in_use_is_refused(db):
    """A removed code breaks the series of every KPI split by the list: the loader refuses it;
    an added code or a new name is fine."""
    files = FILES.model_copy(deep=True)
    contact = next(c for c in files.code_lists if c.code == "contact_type")
    contact.items = contact.items[:-1]
    with pytest.raises(LoaderError, match="codes online removed"):
        load(db, files)
    files = FILES.model_copy(deep=True)
    contact = next(c for c in files.code_lists if c.code == "contact_type")
    contact.items.append(contact.items[0].model_copy(update={"code": "letter"}))
    assert load(db, files).changes["code_list_items_replaced"] == 1

"""Loading the canonical catalogue files."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_api.catalogue import models
from kpi_api.catalogue.loader import LoaderError, load, read_files
from kpi_api.catalogue.schemas import ALLOWED_AGGREGATIONS, Layer
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
        assert first.published and first.changes["kpi_versions_published"] == len(FILES.kpis)
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
    files.release.id = "2099.01"
    files.kpis[0].unit = "changed unit"
    files.code_lists[0].items[0].name_en = "Renamed item"
    report = load(db, files)
    assert report.published
    assert report.changes["kpi_versions_published"] == 1
    assert report.changes["code_list_items_replaced"] == 1
    versions = db.scalars(
        select(models.KpiVersion).where(models.KpiVersion.kpi_code == files.kpis[0].code)
    ).all()
    assert [(v.version, v.status, v.unit) for v in versions] == [
        (1, "published", FILES.kpis[0].unit),
        (2, "published", "changed unit"),
    ]
    assert not load(db, files).changed


def test_changed_files_under_a_published_release_id_are_refused(db):
    files = FILES.model_copy(deep=True)
    files.kpis[0].unit = "changed unit"
    with pytest.raises(LoaderError, match="new release id"):
        load(db, files)

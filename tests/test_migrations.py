"""The migrations create exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kpi_api import migrate
from kpi_api.db import Base


def test_migrations_match_the_models(database):
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_the_latest_migrations_go_down_and_up_again(scratch):
    """0005-0008 (fact tables without foreign keys, aggregate revisions, byte-order keys, KPI
    precision and limits) can be undone and redone; the schema then equals the models again."""
    from alembic import command
    from sqlalchemy import inspect

    from kpi_api.db import make_engine

    url = scratch.create()
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "0004")
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        assert "aggregate_revision" not in inspector.get_table_names()
        keys = {fk["name"] for fk in inspector.get_foreign_keys("measurement_version")}
        assert "fk_measurement_version_series_id_measurement_series" in keys
        assert migrate.current_revision(engine) == "0004"
        migrate.upgrade(url)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_0008_adds_and_drops_precision_and_limits_keeping_the_catalogue(scratch):
    """0008 adds kpi_version.decimals and count_max; down and up again, on a loaded catalogue,
    no version and none of its work fields is lost, and older versions read as NULL."""
    from alembic import command
    from sqlalchemy import func, inspect, select, text
    from sqlalchemy.orm import Session

    from kpi_api.catalogue.loader import load
    from kpi_api.catalogue.models import KpiVersion, KpiVersionWorkField
    from kpi_api.db import make_engine

    url = scratch.create()
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            load(session)

        def counts() -> tuple[int | None, int | None]:
            with Session(engine) as session:
                return (
                    session.scalar(select(func.count()).select_from(KpiVersion)),
                    session.scalar(select(func.count()).select_from(KpiVersionWorkField)),
                )

        loaded = counts()
        # 2026.11's 60, 2026.12's two, 2027.01's 52 (every KPI with a direction)
        assert loaded[0] == 114 and loaded[1] and loaded[1] > 114
        command.downgrade(migrate.alembic_config(url), "0007")
        engine.dispose()
        columns = {c["name"] for c in inspect(engine).get_columns("kpi_version")}
        assert not {"decimals", "count_max"} & columns and "range_max" in columns
        assert counts() == loaded
        migrate.upgrade(url, "0008")
        engine.dispose()
        assert counts() == loaded
        with engine.connect() as conn:
            nulls = conn.execute(
                text(
                    "SELECT count(*) FROM kpi_version WHERE decimals IS NULL AND count_max IS NULL"
                )
            ).scalar_one()
        assert nulls == 114
    finally:
        engine.dispose()


def test_0010_adds_and_drops_comparability_keeping_versions_and_releases(scratch):
    """0010 adds each version's comparability and released cells' other-definition counts;
    down and up again on a loaded catalogue keeps every version and release member (what
    a downgrade drops, the comparability statements, comes back as NULL: read as minor)."""
    from alembic import command
    from sqlalchemy import inspect, text

    from kpi_api.catalogue.loader import load
    from kpi_api.db import make_engine

    url = scratch.create()
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        from sqlalchemy.orm import Session

        with Session(engine) as session, session.begin():
            load(session)

        def counts() -> tuple[int, int, int]:
            with engine.connect() as conn:
                return tuple(
                    conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("kpi_version", "release_kpi", "release")
                )

        loaded = counts()
        with engine.connect() as conn:
            majors = conn.execute(
                text(
                    "SELECT kpi_code, version, effective_from FROM kpi_version "
                    "WHERE comparability = 'major'"
                )
            ).all()
        assert [(k, v) for k, v, _ in majors] == [("ACT-09", 2)]
        command.downgrade(migrate.alembic_config(url), "0009")
        engine.dispose()
        columns = {c["name"] for c in inspect(engine).get_columns("kpi_version")}
        assert not {"comparability", "effective_from", "change_note_nl"} & columns
        released = {c["name"] for c in inspect(engine).get_columns("released_figure")}
        assert "organisations_other_definition" not in released
        assert counts() == loaded
        migrate.upgrade(url)
        engine.dispose()
        assert counts() == loaded
    finally:
        engine.dispose()


def test_0013_adds_and_drops_direction_keeping_versions_and_releases(scratch):
    """0013 adds each version's direction, 'none' for the versions there are (the server
    default); down and up again on a loaded catalogue keeps every version and release member
    (what a downgrade drops, the directions stated, comes back as 'none')."""
    from alembic import command
    from sqlalchemy import inspect, text
    from sqlalchemy.orm import Session

    from kpi_api.catalogue.loader import load
    from kpi_api.db import make_engine

    url = scratch.create()
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            load(session)

        def counts() -> tuple[int, ...]:
            with engine.connect() as conn:
                return tuple(
                    conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("kpi_version", "release_kpi", "release")
                )

        def directions() -> dict[str, int]:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT direction, count(*) FROM kpi_version GROUP BY direction")
                ).all()
            return {direction: n for direction, n in rows}

        loaded = counts()
        assert directions() == {"none": 62, "higher_is_better": 47, "lower_is_better": 5}
        command.downgrade(migrate.alembic_config(url), "0012")
        engine.dispose()
        assert "direction" not in {c["name"] for c in inspect(engine).get_columns("kpi_version")}
        assert counts() == loaded
        migrate.upgrade(url)
        engine.dispose()
        assert counts() == loaded
        assert directions() == {"none": 114}
    finally:
        engine.dispose()

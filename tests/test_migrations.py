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
    """0005-0007 (fact tables without foreign keys, aggregate revisions, byte-order keys) can be
    undone and redone; the schema then equals the models again."""
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

"""Run and inspect the alembic migrations, from a checkout or an installed package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def migrations_dir() -> Path:
    """The alembic scripts: packaged with the wheel, else the checkout's ``migrations/``."""
    packaged = Path(__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An alembic configuration for the database at ``url`` that leaves logging alone."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (the latest by default)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The latest migration's revision id (None without migrations)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before its first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

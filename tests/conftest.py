"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

One migrated database per backend per run (the canonical catalogue loaded once), and a
rolled-back transaction per test so tests never see each other's writes.

Backends come from KPI_API_TEST_BACKENDS (default ``sqlite,postgresql``); PostgreSQL is
reached through KPI_API_TEST_POSTGRES_URL (default the local server, user postgres).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from kpi_api import migrate
from kpi_api.auth import Role, create_key
from kpi_api.catalogue.loader import load
from kpi_api.config import Settings
from kpi_api.db import get_session, make_engine
from kpi_api.main import create_app
from kpi_api.reference.loader import load as load_reference
from kpi_api.registry.models import Vendor

BACKENDS = [
    b.strip()
    for b in os.environ.get("KPI_API_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if b.strip()
]
POSTGRES_URL = os.environ.get(
    "KPI_API_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine


class _Scratch:
    """Creates and drops throw-away databases of one backend."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.created: list[str] = []

    def create(self) -> str:
        name = f"kpi_api_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.db')}"
        admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc.orig}); start it, point "
                "KPI_API_TEST_POSTGRES_URL at one, or set KPI_API_TEST_BACKENDS=sqlite",
                pytrace=False,
            )
        finally:
            admin.dispose()
        self.created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.created:
            return
        admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        with admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


@pytest.fixture(scope="session", params=BACKENDS)
def scratch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Scratch]:
    """A factory of fresh, empty databases for one backend; dropped at the end of the run."""
    factory = _Scratch(request.param, tmp_path_factory.mktemp(request.param))
    yield factory
    factory.drop_all()


def migrated(url: str) -> Engine:
    migrate.upgrade(url)
    return make_engine(url)


@pytest.fixture(scope="session")
def database(scratch: _Scratch) -> Iterator[Database]:
    """The run's shared database for one backend: migrated, canonical catalogue loaded."""
    url = scratch.create()
    engine = migrated(url)
    with Session(engine) as session, session.begin():
        load_reference(session)
        load(session)
    yield Database(backend=scratch.backend, url=url, engine=engine)
    engine.dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = database.engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def app(database: Database, db: Session):
    application = create_app(Settings(database_url=database.url), engine=database.engine)

    def _session() -> Iterator[Session]:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    application.dependency_overrides[get_session] = _session
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _key(db: Session, role: Role, name: str, vendor_id: str | None = None) -> str:
    _, raw = create_key(db, name=name, role=role, vendor_id=vendor_id)
    db.commit()  # releases the savepoint: a rolled-back request cannot take the key with it
    return raw


@pytest.fixture
def publisher(db: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {_key(db, Role.publisher, 'SWN test')}"}


@pytest.fixture
def analyst(db: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {_key(db, Role.analyst, 'analyst test')}"}


@pytest.fixture
def vendor(db: Session) -> dict[str, str]:
    vendor = Vendor(name=f"vendor {uuid.uuid4().hex[:8]}")
    db.add(vendor)
    db.flush()
    raw = _key(db, Role.vendor, "vendor test", vendor_id=vendor.id)
    return {"Authorization": f"Bearer {raw}"}


from tests.submissions.conftest import world  # noqa: E402, F401 - the registry fixture, for every test

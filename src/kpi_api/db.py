"""Engine, ORM base and the per-request session (the only place that commits)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from kpi_api.config import Settings
from kpi_api.errors import KpiApiError
from kpi_api.messages import Message

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """The moment in UTC (without offset on SQLite). Raises ``ValueError`` for a naive
        datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """The stored moment as an aware datetime in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, as an aware datetime in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The base of every table; constraints are named by ``NAMING_CONVENTION``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; take control of both.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Readers start deferred (WAL lets them run beside a writer); writers take the write
        # lock up front, so two writers queue on busy_timeout instead of failing mid-way.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


#: Connections beyond one per admitted request: probes (``/ready``) and work outside the line.
POOL_SPARE = 4


def make_engine(url: str, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; with ``settings``, sized for the requests a worker serves at once.

    The pool then holds a connection for each request ``limits.ConcurrencyLimit`` admits, and
    a few spare, so an admitted request never waits for one (waiting for a connection while
    holding a thread the holders need was how a burst froze the service); whatever wait is left
    (a connection all the same, SQLite's write lock) ends after ``database_timeout_seconds`` (30 s
    without ``settings``).
    """
    wait = settings.database_timeout_seconds if settings is not None else 30.0
    in_memory = make_url(url).database in (None, "", ":memory:")
    if settings is not None and "poolclass" not in kwargs and not in_memory:
        kwargs.setdefault("pool_size", settings.max_concurrent_requests)
        kwargs.setdefault("max_overflow", POOL_SPARE)
        kwargs.setdefault("pool_timeout", wait)
    if url.startswith("sqlite"):
        # The pool hands a connection to one thread at a time; FastAPI's threadpool moves it.
        connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms=round(wait * 1000))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def insert_once(session: Session, obj: Base) -> bool:
    """Insert ``obj`` in a savepoint; False when a unique key says it exists already."""
    try:
        with session.begin_nested():
            session.add(obj)
    except IntegrityError:
        return False
    return True


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine`` that do not autoflush and keep their objects loaded after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_OPTIONS = {"sqlite_begin": "IMMEDIATE"}


DATABASE_BUSY = Message(
    "database_busy",
    "The database is busy; retry after the time in Retry-After.",
    "De database is bezet; probeer het opnieuw na de tijd in Retry-After.",
)


class DatabaseBusy(KpiApiError):
    """The database did not serve the request in time; the client retries later."""

    status = 503
    code = "database_busy"

    def __init__(self) -> None:
        super().__init__(DATABASE_BUSY, headers={"Retry-After": "1"})


def _is_sqlite_busy(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session for one request; commit on success, roll back on any error.

    The connection (and for a write on SQLite the write lock) is taken here, before the route
    runs, so running out of time waiting for it raises DatabaseBusy (503 ``database_busy``,
    Retry-After: 1), not a 500.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        write = request.method not in SAFE_METHODS
        try:
            session.connection(execution_options=WRITE_OPTIONS if write else None)
        except PoolTimeout as exc:  # no pooled connection came free in time
            raise DatabaseBusy() from exc
        except OperationalError as exc:
            if _is_sqlite_busy(exc):  # another writer kept the write lock past busy_timeout
                raise DatabaseBusy() from exc
            raise
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": commit before the response is sent, so a 2xx always means "stored".
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

"""The benchmark's database and the service it measures: a fresh database, the canonical
data and keys, and the service in its own process, as deployed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.dataset import Setting, organisations
from kpi_api.auth import Role, create_key
from kpi_api.catalogue.loader import load as load_catalogue
from kpi_api.db import make_engine
from kpi_api.reference.loader import load as load_reference
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate

ADMIN_URL = os.environ.get(
    "KPI_API_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def log(message: str) -> None:
    """Print a timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_database(backend: str, setting: str, workdir: Path) -> str:
    """The URL of an empty database for the run: a SQLite file in ``workdir``, or PostgreSQL's
    ``kpi_bench_<setting>``, dropped and created again."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'bench-{setting}.db'}"
    name = f"kpi_bench_{setting}"
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(backend: str, setting: str) -> None:
    """Drop the PostgreSQL database of a run (a SQLite file is left in its temporary folder)."""
    if backend != "postgresql":
        return
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "kpi_bench_{setting}" WITH (FORCE)'))
    admin.dispose()


def prepare(engine: Engine, setting: Setting) -> dict[str, Any]:
    """Schema, canonical data, one vendor for every organisation, and keys."""
    with Session(engine) as session, session.begin():
        load_reference(session)
        load_catalogue(session)
        vendor = registry.create_vendor(session, data=VendorCreate(name="Bench vendor"))
        org_ids = {}
        for org in organisations(setting):
            created = registry.create_organisation(
                session,
                data=OrganisationCreate(
                    code=org.code, name=org.code, municipalities=list(org.municipalities)
                ),
            )
            registry.authorise(session, vendor_id=vendor.id, code=created.code, grant=True)
        _, vendor_key = create_key(session, name="bench", role=Role.vendor, vendor_id=vendor.id)
        _, analyst_key = create_key(session, name="bench analyst", role=Role.analyst)
        _, publisher_key = create_key(session, name="bench publisher", role=Role.publisher)
        rows_ = session.execute(text("SELECT code, id FROM organisation")).all()
        org_ids = {code: oid for code, oid in rows_}
    return {
        "vendor_id": vendor.id,
        "vendor_key": vendor_key,
        "analyst_key": analyst_key,
        "publisher_key": publisher_key,
        "org_ids": org_ids,
    }


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux only)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def free_port() -> int:
    """A local TCP port free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real service: uvicorn in its own process, as deployed."""

    def __init__(self, url: str, workers: int = 1) -> None:
        self.port = free_port()
        env = os.environ | {
            "KPI_API_DATABASE_URL": url,
            "KPI_API_HOST": "127.0.0.1",
            "KPI_API_PORT": str(self.port),
            "KPI_API_RATE_LIMIT_PER_MINUTE": "0",
            "KPI_API_LOG_LEVEL": os.environ.get("KPI_API_BENCH_LOG_LEVEL", "warning"),
        }
        # As deployed: `kpi-api serve` (the database is migrated and loaded already).
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kpi_api.cli",
                "serve",
                "--no-migrate",
                "--no-load",
                "--workers",
                str(workers),
            ],
            env=env,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the service did not become ready")

    def peak_memory_mb(self) -> float:
        """Peak resident memory of the service: its process and, with workers, theirs summed."""
        pids = [self.process.pid, *_children(self.process.pid)]
        total = 0.0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()

"""A server killed mid-stream loses no acknowledged batch and keeps no half-stored one.

The real server runs as a ``uvicorn`` subprocess on a fresh PostgreSQL database. Two sender
threads post batches of 420 measurements each (every batch its own Idempotency-Key and its own
natural keys) while a third thread SIGKILLs the server after a random short delay, so a
request is usually in flight, sometimes mid-commit. After a restart on the same database:

* every batch answered 2xx is stored whole, with the values sent and under the answered id;
* no batch is stored in part (series, versions and submission row: all or none);
* retrying every batch ever sent with its own key stores nothing twice: stored batches are
  replayed (``Idempotent-Replayed: true``, the original body), lost ones are stored now, once.

Three kill/restart cycles; the kill delays come from a seed printed with -s (set
KPI_API_TEST_CRASH_SEED to reuse one). PostgreSQL only: SQLite has no server to survive.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from kpi_api import migrate
from kpi_api.auth import Role, create_key
from kpi_api.catalogue.loader import load as load_catalogue
from kpi_api.db import make_engine
from kpi_api.reference.loader import load as load_reference
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for a (re)started server to answer /ready with 200

MONTHS = [f"{y}-{m:02d}" for y in range(2020, 2025) for m in range(1, 13)]  # all long ended
AGE_BANDS = ["0-11", "12-17", "18-26", "27-64", "65-74", "75+", "unknown"]
GENDERS = ["M", "V", "X", "O"]


# --- a fresh database and a real server (also used by tests/test_concurrency.py) ---------------


@dataclass
class Tenant:
    """A fresh, migrated and loaded database with one vendor, its organisation and its key."""

    url: str
    engine: Engine
    vendor_id: str
    organisation: str
    organisation_id: str
    municipalities: list[str]
    headers: dict[str, str]


def fresh_database(scratch: Any, *, organisation: str, municipalities: int) -> Tenant:
    """A new PostgreSQL database of its own: real commits, nothing shared with other tests."""
    if scratch.backend != "postgresql":
        pytest.skip("needs PostgreSQL: a real server process and real concurrent transactions")
    url = scratch.create()
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_reference(session)
        load_catalogue(session)
        # Municipalities valid through every month sent (2020-2024) and still valid today.
        codes = list(
            session.scalars(
                text(
                    "SELECT code FROM municipality WHERE valid_from <= '2020-01-01' "
                    "AND valid_to IS NULL ORDER BY code LIMIT :n"
                ),
                {"n": municipalities},
            )
        )
        assert len(codes) == municipalities
        vendor = registry.create_vendor(session, data=VendorCreate(name=f"{organisation} vendor"))
        registry.create_organisation(
            session,
            data=OrganisationCreate(
                code=organisation, name=f"{organisation} welzijn", municipalities=codes
            ),
        )
        registry.authorise(session, vendor_id=vendor.id, code=organisation, grant=True)
        _, raw = create_key(
            session, name=f"{organisation} key", role=Role.vendor, vendor_id=vendor.id
        )
        organisation_id = session.scalar(
            text("SELECT id FROM organisation WHERE code = :c"), {"c": organisation}
        )
    return Tenant(
        url=url,
        engine=engine,
        vendor_id=vendor.id,
        organisation=organisation,
        organisation_id=organisation_id,
        municipalities=codes,
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn kpi_api.main:create_app`` in a subprocess, on loopback, on a given database."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.database_url = database_url
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        port = _free_port()
        self.base_url = f"http://{LOOPBACK}:{port}"
        env = os.environ | {
            "KPI_API_DATABASE_URL": self.database_url,
            "KPI_API_RATE_LIMIT_PER_MINUTE": "0",
        }
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts} on port {port} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "kpi_api.main:create_app",
                    "--factory",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env=env,
                cwd=self.log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"server not ready within {READY_TIMEOUT}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lifespan, no flushing; the kernel closes its sockets."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


# --- the batches -------------------------------------------------------------------------------

Key = tuple[str, str, str, str]  # municipality, period, age band, gender


@dataclass
class Batch:
    index: int
    idempotency_key: str
    rows: dict[Key, float]
    body: bytes
    outcome: str = "unsent"  # "201", another status, or the transport error's name
    response: dict[str, Any] | None = None
    attempts: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.outcome.startswith("2")


def make_batch(tenant: Tenant, index: int, run: str) -> Batch:
    """Batch ``index``: one municipality and gender, 60 months x 7 age bands = 420 rows."""
    municipality = tenant.municipalities[index // len(GENDERS)]
    gender = GENDERS[index % len(GENDERS)]
    rows: dict[Key, float] = {}
    measurements = []
    for i, (period, age) in enumerate((p, a) for p in MONTHS for a in AGE_BANDS):
        value = float(index * 1000 + i)
        rows[(municipality, period, age, gender)] = value
        measurements.append(
            {
                "kpi": "ACT-01",
                "organisation": tenant.organisation,
                "municipality": municipality,
                "period": period,
                "value": value,
                "disaggregation": {"age_band": age, "gender": gender},
                "record_id": f"b{index}-{i}",
            }
        )
    body = json.dumps({"measurements": measurements}).encode()
    return Batch(index=index, idempotency_key=f"crash-{run}-{index}", rows=rows, body=body)


def post(client: httpx.Client, server: Server, tenant: Tenant, batch: Batch) -> httpx.Response:
    return client.post(
        f"{server.base_url}/v1/submissions",
        content=batch.body,
        headers=tenant.headers | {"Idempotency-Key": batch.idempotency_key},
    )


# --- one cycle: stream batches, kill the server part-way ---------------------------------------

SENDERS = 2
MAX_BATCHES_PER_CYCLE = 30
CYCLE_DEADLINE = 8.0  # seconds


def stream_and_kill(
    server: Server, tenant: Tenant, batches: list[Batch], rng: random.Random, run: str
) -> float:
    """Post new batches from SENDERS threads until SIGKILL ends the server; return the delay."""
    delay = rng.uniform(0.05, 1.5)
    lock = threading.Lock()
    first_sent = threading.Event()
    killed = threading.Event()
    start = len(batches)
    deadline = time.monotonic() + CYCLE_DEADLINE
    errors: list[BaseException] = []

    def next_batch() -> Batch | None:
        with lock:
            if killed.is_set() or len(batches) - start >= MAX_BATCHES_PER_CYCLE:
                return None
            if time.monotonic() > deadline:
                return None
            batch = make_batch(tenant, len(batches), run)
            batch.outcome = "in_flight"
            batches.append(batch)
            return batch

    def sender() -> None:
        try:
            with httpx.Client(timeout=10.0) as client:
                while (batch := next_batch()) is not None:
                    first_sent.set()
                    try:
                        response = post(client, server, tenant, batch)
                    except httpx.TransportError as exc:
                        batch.outcome = type(exc).__name__
                        return  # the server is gone: stop this sender
                    batch.outcome = str(response.status_code)
                    if response.is_success:
                        batch.response = response.json()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    def killer() -> None:
        try:
            first_sent.wait(timeout=5)
            time.sleep(delay)
            server.kill()
        except BaseException as exc:
            errors.append(exc)
        finally:
            killed.set()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    threads.append(threading.Thread(target=killer, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=CYCLE_DEADLINE + 15)
    assert not any(t.is_alive() for t in threads), "a sender or the killer hung"
    if errors:
        raise errors[0]
    assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
    return delay


# --- what the database holds -------------------------------------------------------------------


def stored(tenant: Tenant) -> dict[Key, list[tuple[Any, ...]]]:
    """Every series of the organisation with all its versions, read in one snapshot."""
    with tenant.engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT s.municipality_code, s.period, s.disaggregation ->> 'age_band',
                       s.disaggregation ->> 'gender',
                       v.version, v.value, v.is_current, v.withdrawn, v.submission_id
                FROM measurement_series s
                LEFT JOIN measurement_version v ON v.series_id = s.id
                WHERE s.organisation_id = :org
                """
            ),
            {"org": tenant.organisation_id},
        ).all()
    out: dict[Key, list[tuple[Any, ...]]] = {}
    for r in rows:
        versions = out.setdefault(tuple(r[:4]), [])  # type: ignore[arg-type]
        if r[4] is not None:
            versions.append(tuple(r[4:]))
    return out


def submissions(tenant: Tenant) -> dict[str, tuple[str, str, int, int]]:
    """Idempotency key -> (submission id, status, accepted rows, answered status)."""
    with tenant.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT idempotency_key, id, status, rows_accepted, response_status "
                "FROM submission WHERE vendor_id = :v"
            ),
            {"v": tenant.vendor_id},
        ).all()
    keys = Counter(r[0] for r in rows)
    assert all(n == 1 for n in keys.values()), f"a key stored twice: {keys.most_common(3)}"
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def check_whole_or_absent(tenant: Tenant, batches: list[Batch], context: str) -> set[int]:
    """Assert every batch is stored whole (once) or not at all; return the stored ones."""
    db = stored(tenant)
    subs = submissions(tenant)
    present: set[int] = set()
    expected_keys: set[Key] = set()
    for b in batches:
        expected_keys |= b.rows.keys()
        found = [k for k in b.rows if k in db]
        what = f"{context}; batch {b.index} ({b.outcome}, attempts {b.attempts})"
        assert len(found) in (0, len(b.rows)), f"{what}: {len(found)}/{len(b.rows)} rows stored"
        if b.acknowledged:
            assert found, f"{what}: answered 2xx but nothing is stored"
        sub = subs.get(b.idempotency_key)
        if not found:
            assert sub is None, f"{what}: no rows, yet a submission row {sub}"
            continue
        present.add(b.index)
        assert sub is not None, f"{what}: rows stored without their submission row"
        sub_id, status, accepted, answered = sub
        assert (status, accepted, answered) == ("accepted", len(b.rows), 201), what
        if b.acknowledged:
            assert b.response is not None and b.response["id"] == sub_id, what
        for k, value in b.rows.items():
            versions = db[k]
            assert versions == [(1, value, True, False, sub_id)], f"{what}: {k} -> {versions}"
    stray = db.keys() - expected_keys
    assert not stray, f"{context}: series no batch sent: {sorted(stray)[:3]}"
    stray_subs = subs.keys() - {batches[i].idempotency_key for i in present}
    assert not stray_subs, f"{context}: submissions without rows: {sorted(stray_subs)[:3]}"
    return present


def retry_all(server: Server, tenant: Tenant, batches: list[Batch], present: set[int], ctx: str):
    """Retry every batch with its own key: replay what is stored, store what was lost."""
    with httpx.Client(timeout=10.0) as client:
        for b in batches:
            response = post(client, server, tenant, b)
            what = f"{ctx}; retry of batch {b.index} ({b.outcome})"
            assert response.status_code == 201, f"{what}: {response.status_code} {response.text}"
            body = response.json()
            if b.index in present:
                assert response.headers.get("Idempotent-Replayed") == "true", what
                b.attempts.append("replayed")
                if b.response is not None:
                    assert body == b.response, f"{what}: the replay differs from the original"
            else:
                assert "Idempotent-Replayed" not in response.headers, what
                assert (body["created"], body["corrected"], body["unchanged"]) == (
                    len(b.rows),
                    0,
                    0,
                ), f"{what}: {body}"
                b.attempts.append(f"stored on retry after {b.outcome}")
                b.response = body
                b.outcome = "201"
                present.add(b.index)


def count_versions(tenant: Tenant) -> int:
    with tenant.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM measurement_version WHERE organisation_id = :o"),
            {"o": tenant.organisation_id},
        ).scalar_one()


CYCLES = 3
TIME_BUDGET = 35.0  # seconds; no third cycle starts later than this


def test_a_killed_server_loses_no_acknowledged_batch_and_stores_none_in_part(scratch, tmp_path):
    tenant = fresh_database(
        scratch,
        organisation="ORG-CRASH",
        municipalities=-(-CYCLES * MAX_BATCHES_PER_CYCLE // len(GENDERS)),
    )
    seed = int(os.environ.get("KPI_API_TEST_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    run = f"{seed:08x}"
    server = Server(tenant.url, tmp_path / "server.log")
    batches: list[Batch] = []
    summary = []
    began = time.monotonic()
    try:
        server.start()
        for cycle in range(1, CYCLES + 1):
            if cycle > 2 and time.monotonic() - began > TIME_BUDGET:
                break  # a loaded machine: two cycles proved it, stay within the budget
            first_new = len(batches)
            delay = stream_and_kill(server, tenant, batches, rng, run)
            new = batches[first_new:]
            ctx = f"seed {seed}, cycle {cycle}, kill after {delay:.3f}s"
            assert new, f"{ctx}: no batch was sent"
            unexpected = [b.outcome for b in new if b.outcome[0].isdigit() and not b.acknowledged]
            assert not unexpected, f"{ctx}: the live server answered {unexpected}"

            server.start()  # the same database, after a crash
            present = check_whole_or_absent(tenant, batches, ctx)
            acked = {b.index for b in new if b.acknowledged}
            lost = {b.index for b in new} - present
            landed_anyway = {b.index for b in new if not b.acknowledged} & present
            summary.append((cycle, len(new), len(acked), len(landed_anyway)))

            versions_before = count_versions(tenant)
            retry_all(server, tenant, batches, present, ctx)
            rows_lost = sum(len(batches[i].rows) for i in lost)
            assert count_versions(tenant) == versions_before + rows_lost, ctx
            assert check_whole_or_absent(tenant, batches, f"{ctx}, after retries") == {
                b.index for b in batches
            }
            assert count_versions(tenant) == sum(len(b.rows) for b in batches), ctx

        # Every batch once more, after the last restart: all replayed, nothing stored.
        versions = count_versions(tenant)
        retry_all(server, tenant, batches, {b.index for b in batches}, "final replay")
        assert count_versions(tenant) == versions
        assert all(b.attempts[-1] == "replayed" for b in batches)
    finally:
        server.stop()
        tenant.engine.dispose()
    print(f"seed {seed}: (cycle, sent, answered 2xx, stored though unanswered) {summary}")

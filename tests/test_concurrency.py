"""Concurrent writers and readers against the real server on a fresh PostgreSQL database.

Every request goes over a real socket to a ``uvicorn`` subprocess, from its own thread and its
own connection, and every transaction really commits (no rolled-back test session):

* parallel writes of one natural key keep one current version and a gap-free history, and
  every loser is a clean, retryable 409 ``concurrent_update`` (never a 500);
* parallel retries with one Idempotency-Key store the batch once; every answer is the original
  201, its replay, or a clean 409;
* readers polling while a 5,040-row batch commits see all of it or none of it;
* two batches racing to create the same new measurements in opposite row order store whole or
  not at all, and never answer 500 (new series are inserted in natural-key order, and a lost
  race on the database answers 409 ``concurrent_update``).

PostgreSQL only (SQLite serialises writers; there is nothing to race).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.test_crash_safety import AGE_BANDS, GENDERS, MONTHS, Server, Tenant, fresh_database

PROBLEM = "application/problem+json"
PARALLEL = 12
RACE_TRIALS = 2  # opposite-order races in the whole-or-nothing test
DEADLOCK_TRIALS = 3  # races in opposite row order; unsorted inserts deadlocked in ~2 of 3
RACE_WIDTH = 2  # municipalities per race: 2 x 1,680 = 3,360 new natural keys
MUNICIPALITIES = 6 + RACE_WIDTH * (RACE_TRIALS + DEADLOCK_TRIALS)


@dataclass
class Live:
    tenant: Tenant
    server: Server

    def url(self, path: str) -> str:
        return f"{self.server.base_url}{path}"

    def municipalities(self, first: int, n: int = 1) -> list[str]:
        """Each test writes under municipalities of its own, so the tests share no key."""
        codes = self.tenant.municipalities[first : first + n]
        assert len(codes) == n
        return codes


@pytest.fixture(scope="module")
def live(scratch, tmp_path_factory) -> Iterator[Live]:
    tenant = fresh_database(scratch, organisation="ORG-CONC", municipalities=MUNICIPALITIES)
    server = Server(tenant.url, tmp_path_factory.mktemp("concurrency") / "server.log")
    try:
        server.start()
        yield Live(tenant, server)
    finally:
        server.stop()
        tenant.engine.dispose()


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: Any
    text: str


def _answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, response.headers, body, response.text)


def in_parallel(n: int, request: Callable[[int, httpx.Client], httpx.Response]) -> list[Answer]:
    """Run ``request(i, client)`` from n threads, each with its own connection, all at once."""
    barrier = threading.Barrier(n, timeout=15)
    answers: list[Answer | None] = [None] * n
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with httpx.Client(timeout=30.0) as client:
                barrier.wait()
                answers[i] = _answer(request(i, client))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=45)
    assert not any(t.is_alive() for t in threads), "a request hung"
    if errors:
        raise errors[0]
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


def assert_clean_conflict(answer: Answer, code: str = "concurrent_update") -> None:
    assert answer.status == 409, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.body["code"] == code and answer.body["status"] == 409, answer.body
    assert answer.body["type"] == f"urn:kpi-api:problem:{code}"
    assert "Traceback" not in answer.text
    if code == "concurrent_update":
        assert answer.headers["Retry-After"] == "1"


def measurement(live: Live, municipality: str, period: str, age: str, gender: str, value: float):
    return {
        "kpi": "ACT-01",
        "organisation": live.tenant.organisation,
        "municipality": municipality,
        "period": period,
        "value": value,
        "disaggregation": {"age_band": age, "gender": gender},
    }


def submissions_count(live: Live) -> int:
    with live.tenant.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM submission")).scalar_one()


# --- (a) one natural key, many writers ---------------------------------------------------------


def history(live: Live, municipality: str) -> list[tuple[Any, ...]]:
    with live.tenant.engine.connect() as conn:
        series = conn.execute(
            text("SELECT id FROM measurement_series WHERE municipality_code = :m"),
            {"m": municipality},
        ).all()
        assert len(series) == 1, f"one natural key, {len(series)} series"
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT version, value, is_current, superseded_at IS NOT NULL, submission_id "
                    "FROM measurement_version WHERE series_id = :s ORDER BY version"
                ),
                {"s": series[0][0]},
            )
        ]


def test_parallel_writes_of_one_measurement_keep_one_current_version_and_no_gaps(live):
    (m,) = live.municipalities(0)
    sent: dict[str, float] = {}  # submission id of each 201 -> the value it sent
    submissions_before = submissions_count(live)
    outcomes = []
    # Round 0 races to create the series; round 1 races to correct its current version.
    for round_ in range(2):

        def post(i: int, client: httpx.Client, round_: int = round_) -> httpx.Response:
            value = round_ * 100 + i + 1
            return client.post(
                live.url("/v1/submissions"),
                json={"measurements": [measurement(live, m, "2023-06", "27-64", "V", value)]},
                headers=live.tenant.headers,
            )

        answers = in_parallel(PARALLEL, post)
        statuses = Counter(a.status for a in answers)
        outcomes.append(dict(statuses))
        assert set(statuses) <= {201, 409}, [a.text for a in answers if a.status not in (201, 409)]
        assert statuses[201] >= 1
        retried = []
        for i, a in enumerate(answers):
            if a.status == 409:
                assert_clean_conflict(a)
                # Retryable: alone, the same request goes through.
                with httpx.Client(timeout=30.0) as client:
                    retry = _answer(post(i, client))
                assert retry.status == 201, retry.text
                retried.append(retry)
                a = retry
            report = a.body
            assert report["status"] == "accepted" and report["rows"] == 1
            assert report["created"] + report["corrected"] == 1, report
            assert "Idempotent-Replayed" not in a.headers
            assert report["id"] not in sent
            sent[report["id"]] = float(round_ * 100 + i + 1)

        versions = history(live, m)
        k = len(sent)
        assert k == PARALLEL * (round_ + 1)
        assert [v[0] for v in versions] == list(range(1, k + 1)), "versions 1..k without gaps"
        current = [v for v in versions if v[2]]
        assert len(current) == 1 and current[0][0] == k, versions
        assert all(v[3] for v in versions[:-1]) and not versions[-1][3], "superseded markers"
        # Each 201 is exactly one stored version, holding the value it sent.
        by_submission = Counter(v[4] for v in versions)
        assert set(by_submission) == set(sent) and set(by_submission.values()) == {1}
        assert {v[4]: v[1] for v in versions} == sent
    # Each 409 left nothing behind, not even its submission row.
    assert submissions_count(live) - submissions_before == len(sent)

    # The API agrees: one current measurement, its history the same k versions.
    with httpx.Client(timeout=10.0) as client:
        page = client.get(
            live.url("/v1/measurements"), params={"municipality": m}, headers=live.tenant.headers
        ).json()
        assert len(page["items"]) == 1 and page["items"][0]["version"] == len(sent)
        series_id = page["items"][0]["id"]
        listed = client.get(
            live.url(f"/v1/measurements/{series_id}/history"), headers=live.tenant.headers
        ).json()["versions"]
    assert [(v["version"], v["current"]) for v in listed] == [
        (n, n == len(sent)) for n in range(1, len(sent) + 1)
    ]
    print(f"parallel writes of one key: {outcomes}")


# --- (b) one Idempotency-Key, many retries -----------------------------------------------------


def test_parallel_retries_with_one_idempotency_key_store_the_batch_once(live):
    (m,) = live.municipalities(1)
    rows = [
        measurement(live, m, period, age, "M", float(i))
        for i, (period, age) in enumerate((p, a) for p in MONTHS for a in AGE_BANDS)
    ]
    body = json.dumps({"measurements": rows}).encode()
    key = f"parallel-{uuid.uuid4()}"
    headers = live.tenant.headers | {"Idempotency-Key": key}

    def post(i: int, client: httpx.Client) -> httpx.Response:
        return client.post(live.url("/v1/submissions"), content=body, headers=headers)

    answers = in_parallel(PARALLEL, post)
    assert {a.status for a in answers} <= {201, 409}, [a.text for a in answers]
    for a in answers:
        if a.status == 409:
            assert_clean_conflict(a)
    stored = [a for a in answers if a.status == 201]
    originals = [a for a in stored if "Idempotent-Replayed" not in a.headers]
    replays = [a for a in stored if "Idempotent-Replayed" in a.headers]
    assert len(originals) == 1, [(a.status, dict(a.headers)) for a in answers]
    original = originals[0].body
    assert original["created"] == len(rows)
    for r in replays:
        assert r.headers["Idempotent-Replayed"] == "true"
        assert r.body == original
        assert r.headers["Location"] == f"/v1/submissions/{original['id']}"

    with live.tenant.engine.connect() as conn:
        subs = conn.execute(
            text("SELECT id, status FROM submission WHERE idempotency_key = :k"), {"k": key}
        ).all()
        versions = conn.execute(
            text(
                "SELECT version, is_current, submission_id FROM measurement_version "
                "WHERE municipality_code = :m"
            ),
            {"m": m},
        ).all()
    assert [tuple(s) for s in subs] == [(original["id"], "accepted")]
    assert len(versions) == len(rows)
    assert {tuple(v) for v in versions} == {(1, True, original["id"])}

    # Once more, alone: the same replay.
    with httpx.Client(timeout=10.0) as client:
        again = post(0, client)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == original
    print(f"parallel retries of one key: {len(replays)} replays, {len(answers) - len(stored)} 409")


def test_parallel_different_bodies_under_one_idempotency_key_store_exactly_one(live):
    (m,) = live.municipalities(2)
    key = f"reused-{uuid.uuid4()}"
    headers = live.tenant.headers | {"Idempotency-Key": key}

    def post(i: int, client: httpx.Client) -> httpx.Response:
        row = measurement(live, m, "2021-01", AGE_BANDS[i % len(AGE_BANDS)], "X", 1000 + i)
        return client.post(
            live.url("/v1/submissions"), json={"measurements": [row]}, headers=headers
        )

    answers = in_parallel(PARALLEL, post)
    assert {a.status for a in answers} <= {201, 409}, [a.text for a in answers]
    winners = [a for a in answers if a.status == 201]
    assert len(winners) == 1 and "Idempotent-Replayed" not in winners[0].headers
    for a in answers:
        if a.status == 409:
            assert_clean_conflict(a, code="idempotency_key_reused")
    with live.tenant.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT count(*) FROM measurement_version v JOIN submission s "
                "ON s.id = v.submission_id WHERE s.idempotency_key = :k"
            ),
            {"k": key},
        ).scalar_one()
    assert stored == 1


# --- (c) readers while a large batch commits ---------------------------------------------------


def test_readers_never_see_a_half_committed_batch(live):
    municipalities = live.municipalities(3, 3)
    rows = [
        measurement(live, mu, period, age, gender, float(i))
        for i, (mu, period, age, gender) in enumerate(
            (mu, p, a, g)
            for mu in municipalities
            for g in GENDERS
            for p in MONTHS
            for a in AGE_BANDS
        )
    ]
    total = len(rows)
    assert total == 5040
    slice_size = len(AGE_BANDS) * len(GENDERS)  # one municipality and month, via the API
    key = f"large-{uuid.uuid4()}"
    params = {"m": municipalities, "k": key}
    # One statement, one snapshot: series, current versions and the submission row together.
    snapshot_sql = text(
        """
        SELECT (SELECT count(*) FROM measurement_series WHERE municipality_code = ANY(:m)),
               (SELECT count(*) FROM measurement_version
                 WHERE municipality_code = ANY(:m) AND is_current),
               (SELECT count(*) FROM submission WHERE idempotency_key = :k)
        """
    )

    posting = threading.Event()
    done = threading.Event()
    seen: list[tuple[str, bool, tuple[int, ...]]] = []  # reader, during the POST, observation
    errors: list[BaseException] = []
    deadline = time.monotonic() + 30

    def sql_reader(name: str) -> None:
        try:
            while not done.is_set() and time.monotonic() < deadline:
                during = posting.is_set()
                with live.tenant.engine.connect() as conn:
                    got = tuple(conn.execute(snapshot_sql, params).one())
                seen.append((name, during, got))
                time.sleep(0.002)  # leave the server some CPU
        except BaseException as exc:
            errors.append(exc)

    def api_reader() -> None:
        try:
            with httpx.Client(timeout=10.0) as client:
                while not done.is_set() and time.monotonic() < deadline:
                    during = posting.is_set()
                    response = client.get(
                        live.url("/v1/measurements"),
                        params={"municipality": municipalities[1], "period": "2022-07"},
                        headers=live.tenant.headers,
                    )
                    assert response.status_code == 200, response.text
                    page = response.json()
                    assert page["next"] is None
                    seen.append(("api", during, (len(page["items"]),)))
        except BaseException as exc:
            errors.append(exc)

    readers = [
        threading.Thread(target=sql_reader, args=(f"sql{i}",), daemon=True) for i in range(3)
    ]
    readers.append(threading.Thread(target=api_reader, daemon=True))
    for t in readers:
        t.start()
    try:
        time.sleep(0.1)  # the readers see the empty state first
        with httpx.Client(timeout=30.0) as client:
            posting.set()
            response = client.post(
                live.url("/v1/submissions"),
                json={"measurements": rows},
                headers=live.tenant.headers | {"Idempotency-Key": key},
            )
            posting.clear()
        time.sleep(0.1)  # and the whole batch after it
    finally:
        done.set()
        for t in readers:
            t.join(timeout=15)
    assert not any(t.is_alive() for t in readers)
    if errors:
        raise errors[0]
    assert response.status_code == 201, response.text
    assert response.json()["created"] == total

    allowed = {
        "api": {(0,), (slice_size,)},
        "sql": {(0, 0, 0), (total, total, 1)},
    }
    for name, during, got in seen:
        assert got in allowed[name.rstrip("0123456789")], f"{name} saw {got} (during={during})"
    during = Counter((name.rstrip("0123456789"), got) for name, d, got in seen if d)
    # The readers really read while the batch was being stored, not only before and after.
    assert sum(n for (name, _), n in during.items() if name == "sql") >= 3, during
    assert ("sql", (0, 0, 0)) in {(n.rstrip("0123456789"), g) for n, _, g in seen}
    assert ("sql", (total, total, 1)) in {(n.rstrip("0123456789"), g) for n, _, g in seen}
    print(f"readers during the commit: {dict(during)}; {len(seen)} reads in all")


# --- (d) two batches racing to create the same new measurements, in opposite row order --------


def race_in_opposite_orders(live: Live, municipalities: list[str]) -> tuple[list[Answer], int]:
    """Two vendors' syncs post the same 3,360 new natural keys, one in reverse row order."""
    keys = [
        (mu, p, a, g) for mu in municipalities for g in GENDERS for p in MONTHS for a in AGE_BANDS
    ]
    bodies = [
        json.dumps(
            {"measurements": [measurement(live, *k, value=float(w + 1)) for k in order]}
        ).encode()
        for w, order in enumerate([keys, keys[::-1]])
    ]

    def post(i: int, client: httpx.Client) -> httpx.Response:
        return client.post(
            live.url("/v1/submissions"), content=bodies[i], headers=live.tenant.headers
        )

    return in_parallel(2, post), len(keys)


def test_batches_racing_on_new_keys_in_opposite_orders_store_whole_or_nothing(live):
    for trial in range(RACE_TRIALS):
        municipalities = live.municipalities(6 + trial * RACE_WIDTH, RACE_WIDTH)
        before = submissions_count(live)
        answers, n = race_in_opposite_orders(live, municipalities)
        statuses = [a.status for a in answers]
        assert set(statuses) <= {201, 409, 500}, [a.text for a in answers]
        stored_ids = set()
        for a in answers:
            if a.status == 201:
                assert a.body["created"] + a.body["corrected"] == n, a.body
                stored_ids.add(a.body["id"])
            elif a.status == 409:
                assert_clean_conflict(a)
            else:  # a lost race: a clean, retryable problem
                assert a.headers["content-type"] == PROBLEM
                assert a.body["code"] == "internal_error" and "Traceback" not in a.text
        assert stored_ids, statuses
        with live.tenant.engine.connect() as conn:
            versions = conn.execute(
                text(
                    "SELECT series_id, version, is_current, submission_id FROM measurement_version "
                    "WHERE municipality_code = ANY(:m) ORDER BY series_id, version"
                ),
                {"m": municipalities},
            ).all()
            series = conn.execute(
                text("SELECT count(*) FROM measurement_series WHERE municipality_code = ANY(:m)"),
                {"m": municipalities},
            ).scalar_one()
        assert series == n
        by_series: dict[int, list[tuple[Any, ...]]] = {}
        for v in versions:
            by_series.setdefault(v[0], []).append(tuple(v[1:]))
        assert len(by_series) == n
        k = len(stored_ids)
        current = set()
        for history_ in by_series.values():
            assert [v[0] for v in history_] == list(range(1, k + 1)), history_
            assert [v[1] for v in history_] == [False] * (k - 1) + [True], history_
            assert {v[2] for v in history_} == stored_ids, "each 201 wrote every key once"
            current.add(history_[-1][2])
        # One batch is current everywhere: the later commit corrected all of the earlier one.
        assert len(current) == 1, current
        # What was not answered 201 left nothing, not even its submission row.
        assert submissions_count(live) - before == k


def test_batches_racing_on_new_keys_in_opposite_orders_never_answer_500(live):
    first = 6 + RACE_TRIALS * RACE_WIDTH
    for trial in range(DEADLOCK_TRIALS):
        municipalities = live.municipalities(first + trial * RACE_WIDTH, RACE_WIDTH)
        answers, _ = race_in_opposite_orders(live, municipalities)
        for a in answers:
            assert a.status in (201, 409), f"trial {trial}: {a.status} {a.text}"
            if a.status == 409:
                assert_clean_conflict(a)

"""Process tuning: the garbage collector for 10,000-row batches, the thread pool for the line.

A batch allocates a few hundred thousand short-lived objects (parsed JSON, models, rows). With
CPython's default collector thresholds that triggers hundreds of generation-0 collections and
several full ones per batch, each scanning every live object; the profile of the ingest
benchmark put a quarter of the service's time there. The service keeps no reference cycles of
its own on that path, so fewer, larger collections lose nothing.
"""

from __future__ import annotations

import gc

import anyio.to_thread

#: Allocations (minus deallocations) between two generation-0 collections; CPython's is 700.
GEN0_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Move what start-up created out of the collector's way and collect less often."""
    gc.collect()
    gc.freeze()  # modules, the app and its caches: never garbage, never scanned again
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


#: Threads beyond one per admitted request: liveness probes and other work outside the line.
THREAD_SPARE = 8


def size_thread_pool(admitted: int) -> None:
    """Give this event loop's thread pool a thread for each admitted request, and a few spare.

    Routes and dependencies that block run in anyio's default thread pool (40 threads). It must
    hold at least as many threads as ``limits.ConcurrencyLimit`` admits requests: a request
    holding a database connection then always finds a thread for its next step. Call it inside
    the running loop (each loop has its own pool).
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = admitted + THREAD_SPARE

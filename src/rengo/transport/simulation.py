"""Simulation executors: every client of a federation on this machine.

* :class:`SerialPool` runs clients one after another in this process (default, deterministic).
* :class:`ProcessPool` runs them in forked worker processes over all cores.

Both speak only bytes with the round loop, exactly as the gRPC transport does, and keep each
client's persisted state on its behalf. Replies come back in request order, so aggregation
order - and therefore the final model - is identical on either executor for the same seed.
Memory stays O(workers x model): at most ``2 x workers`` replies are in flight.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import AsyncResult
from typing import Any

from rengo.transport.pool import Handler, Reply, Request


def run_handler(
    handler: Handler, request: Request, state: bytes | None
) -> tuple[bytes | None, bytes | None, str | None, float]:
    """Call ``handler`` on one request: ``(reply, new_state, error, seconds)``; a client's
    exception becomes ``error`` and leaves its state unchanged."""
    start = time.perf_counter()
    try:
        reply, new_state = handler(request.client_id, request.key, request.payload, state)
    except Exception as exc:  # a client's crash must never stop the federation
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return None, state, f"raised {tb}", time.perf_counter() - start
    return reply, new_state, None, time.perf_counter() - start


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run client code with ``threads`` intra-op threads when PyTorch is in use.

    Small clients run fastest single-threaded, and every executor using the same count makes
    their floating-point results identical. The caller's setting is restored afterwards.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class SerialPool:
    """Clients run one at a time in this process, each with ``threads_per_client`` threads.

    A client that overruns ``timeout`` cannot be interrupted here (Python threads cannot be
    killed); its reply is discarded and reported as a timeout once it returns.
    """

    def __init__(
        self, handler: Handler, client_ids: Sequence[str], threads_per_client: int = 1
    ) -> None:
        self._handler = handler
        self._ids = list(client_ids)
        self._threads = threads_per_client
        self._state: dict[str, bytes | None] = {}

    def client_ids(self) -> list[str]:
        return list(self._ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        for req in requests:
            with _torch_threads(self._threads):
                reply, state, error, duration = run_handler(
                    self._handler, req, self._state.get(req.client_id)
                )
            if error is None and timeout is not None and duration > timeout:
                reply, error = None, f"timed out after {duration:.1f}s (limit {timeout:g}s)"
            else:
                self._state[req.client_id] = state
            yield Reply.to(req, reply, error, duration)

    def close(self) -> None:
        self._state.clear()


_WORKER_HANDLER: Handler | None = None


def _worker_init(threads: int) -> None:
    # Never import torch here: that costs ~1 s per worker and counts against round_timeout.
    # A later import in the worker reads OMP_NUM_THREADS; an inherited one is set directly.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _worker_batch(
    items: list[tuple[str, str, bytes, bytes | None]],
) -> list[tuple[bytes | None, bytes | None, str | None, float]]:
    assert _WORKER_HANDLER is not None, "worker started without a handler"
    return [
        run_handler(_WORKER_HANDLER, Request(cid, key, payload), state)
        for cid, key, payload, state in items
    ]


def batch_size(num_requests: int, workers: int) -> int:
    """Requests per worker task: about four tasks per worker, at most eight requests each."""
    return max(1, min(8, -(-num_requests // (4 * workers))))


class ProcessPool:
    """Clients run in ``workers`` forked processes (default: every core).

    The handler reaches the workers by ``fork`` inheritance, never by pickling; requests and
    replies cross the process boundary as codec bytes only. A worker that hangs past
    ``timeout`` is reported as a timeout and the pool is replaced.
    """

    def __init__(
        self,
        handler: Handler,
        client_ids: Sequence[str],
        workers: int | None = None,
        threads_per_client: int = 1,
    ) -> None:
        if "fork" not in mp.get_all_start_methods():
            raise RuntimeError("ProcessPool needs the 'fork' start method (Linux, macOS)")
        self._handler = handler
        self._ids = list(client_ids)
        self._workers = max(1, workers or os.cpu_count() or 1)
        self._threads = threads_per_client
        self._state: dict[str, bytes | None] = {}
        self._pool: Any = None

    def _ensure_pool(self) -> Any:
        global _WORKER_HANDLER
        if self._pool is None:
            _WORKER_HANDLER = self._handler
            if "torch" in sys.modules:
                # torch loads torch._dynamo lazily on the first optimiser; loading it once
                # here, before the fork, spares every worker the same second of start-up.
                importlib.import_module("torch._dynamo")
            ctx = mp.get_context("fork")
            self._pool = ctx.Pool(
                self._workers, initializer=_worker_init, initargs=(self._threads,)
            )
        return self._pool

    def client_ids(self) -> list[str]:
        return list(self._ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        pool = self._ensure_pool()
        # Small clients cost less than a hand-off to a worker, so without a timeout several
        # go in one task; with one, each client is its own task so a hang costs only itself.
        size = 1 if timeout is not None else batch_size(len(requests), self._workers)
        batches = deque(list(requests[i : i + size]) for i in range(0, len(requests), size))
        window = 2 * self._workers
        pending: deque[tuple[list[Request], AsyncResult]] = deque()
        while batches or pending:
            while batches and len(pending) < window:
                batch = batches.popleft()
                items = [
                    (r.client_id, r.key, r.payload, self._state.get(r.client_id)) for r in batch
                ]
                pending.append((batch, pool.apply_async(_worker_batch, (items,))))
            batch, job = pending.popleft()
            try:
                # Replies are taken in order, so when we start waiting for this batch every
                # earlier one is done: the limit counts from then, not from submission.
                results = job.get(None if timeout is None else timeout * len(batch))
            except mp.TimeoutError:
                assert timeout is not None
                results = [(None, None, f"timed out (limit {timeout:g}s)", 0.0)] * len(batch)
                self._restart_pool()
                pool = self._ensure_pool()
                batches.extendleft(reversed([p[0] for p in pending]))
                pending.clear()
                for req, (reply, _state, error, duration) in zip(batch, results, strict=True):
                    yield Reply.to(req, reply, error, duration)
                continue
            for req, (reply, state, error, duration) in zip(batch, results, strict=True):
                self._state[req.client_id] = state
                yield Reply.to(req, reply, error, duration)

    def _restart_pool(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def close(self) -> None:
        self._restart_pool()
        self._state.clear()

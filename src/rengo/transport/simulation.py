"""Simulation executors: every client of a federation on this machine.

* :class:`SerialPool` runs clients one after another in this process (default, deterministic).
* :class:`ProcessPool` runs them in forked worker processes over all cores.

Both speak only bytes with the round loop, exactly as the gRPC transport does, and keep each
client's persisted state on its behalf. Replies come back in request order, so aggregation
order - and therefore the final model - is identical on either executor for the same seed.
Memory stays O(workers x model): at most ``2 x workers`` replies are in flight.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import connection as mp_connection
from typing import Any, NamedTuple

from threadpoolctl import ThreadpoolController

from rengo.core.errors import ConfigError
from rengo.core.install_hint import install_hint
from rengo.transport.parent_watch import end_with_parent
from rengo.transport.pool import Handler, HeldClientStates, Reply, Request, Sent


class HandlerOutcome(NamedTuple):
    """One handled request: the reply and new state, or the error (a one-line reason) and
    the traceback of where the client raised; plain values, so it crosses a worker pipe."""

    reply: bytes | None
    state: bytes | None
    error: str | None
    seconds: float
    traceback: str | None = None

    def reply_to(self, request: Request | Sent) -> Reply:
        """The pool's :class:`Reply` to ``request``."""
        return Reply.to(request, self.reply, self.error, self.seconds, self.traceback)


def run_handler(handler: Handler, request: Request, state: bytes | None) -> HandlerOutcome:
    """Call ``handler`` on one request; a client's exception becomes ``error`` (its last
    line) and ``traceback`` (all of it), and leaves its state unchanged."""
    start = time.perf_counter()
    try:
        reply, new_state = handler(request.client_id, request.key, request.payload, state)
    except Exception as exc:  # a client's crash must never stop the federation
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        where = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return HandlerOutcome(None, state, f"raised {line}", time.perf_counter() - start, where)
    return HandlerOutcome(reply, new_state, None, time.perf_counter() - start)


@functools.cache
def _blas_pools() -> ThreadpoolController:
    """The BLAS/OpenMP thread pools loaded in this process (scanned once: 0.6 ms a scan)."""
    return ThreadpoolController()


@contextmanager
def client_threads(threads: int) -> Iterator[None]:
    """Run client code with ``threads`` BLAS/OpenMP and PyTorch threads.

    Small clients run fastest single-threaded, several processes of multi-threaded BLAS on
    the same cores thrash, and every executor using the same count
    keeps their floating-point results identical. The caller's settings are restored.
    """
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with _blas_pools().limit(limits=threads):
            yield
    finally:
        if torch is not None and previous is not None:
            torch.set_num_threads(previous)


class SerialPool(HeldClientStates):
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
        """The clients this pool serves."""
        return list(self._ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        """Serve ``requests`` on threads, yielding each reply as it arrives."""
        with client_threads(self._threads):
            yield from self._serve(requests, timeout)

    def _serve(self, requests: Sequence[Request], timeout: float | None) -> Iterator[Reply]:
        for req in requests:
            outcome = run_handler(self._handler, req, self._state.get(req.client_id))
            if outcome.error is None and timeout is not None and outcome.seconds > timeout:
                late = f"timed out after {outcome.seconds:.1f}s (limit {timeout:g}s)"
                outcome = HandlerOutcome(None, outcome.state, late, outcome.seconds)
            else:
                self._state[req.client_id] = outcome.state
            yield outcome.reply_to(req)

    def close(self) -> None:
        """Drop the clients' state."""
        self._state.clear()


_WORKER_HANDLER: Handler | None = None


def _worker_init(threads: int, gpu: int | None = None) -> None:
    # Never import torch here: that costs ~1 s per worker and counts against round_timeout.
    # A later import in the worker reads OMP_NUM_THREADS; an inherited one is set directly,
    # and so are the BLAS pools the parent already loaded (numpy's OpenBLAS).
    if gpu is not None:  # before CUDA starts in this worker: its clients see one GPU, cuda:0
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    _blas_pools().limit(limits=threads)
    # A client may start processes of its own (a PyTorch DataLoader's num_workers), which
    # multiprocessing refuses to a daemonic process. The worker stays daemonic to its parent
    # (started so, killed with the pool); only its own children see it as an ordinary one
    # (DataLoader workers watch their parent and end with it).
    mp.current_process().daemon = False


def _worker_batch(items: list[tuple[str, str, bytes, bytes | None]]) -> list[HandlerOutcome]:
    assert _WORKER_HANDLER is not None, "worker started without a handler"
    return [
        run_handler(_WORKER_HANDLER, Request(cid, key, payload), state)
        for cid, key, payload, state in items
    ]


def batch_size(num_requests: int, workers: int) -> int:
    """Requests per worker task: about four tasks per worker, at most eight requests each."""
    return max(1, min(8, -(-num_requests // (4 * workers))))


class _Worker:
    """One forked worker process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, threads: int, gpu: int | None = None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_loop, args=(child, threads, gpu), daemon=True)
        self.process.start()
        child.close()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def _worker_loop(conn: Any, threads: int, gpu: int | None = None) -> None:
    end_with_parent()
    try:
        _worker_init(threads, gpu)
        while True:
            try:
                items = conn.recv()
            except (EOFError, OSError):
                return
            if items is None:
                return
            conn.send(_worker_batch(items))
    except KeyboardInterrupt:
        # Ctrl-C reaches the terminal's whole process group: the parent reports the
        # interruption (and the run's status); a worker just ends, without a traceback of
        # its own (one per worker filled the terminal)
        return


@dataclass
class _Round:
    """Book-keeping of one :meth:`ProcessPool.request` call. Batches are index ranges into
    the requests, taken (and so encoded) only when sent; a sent batch is remembered as
    :class:`Sent` records, without its payloads."""

    requests: Sequence[Request]
    size: int
    sent: dict[int, list[Sent]] = field(default_factory=dict)
    results: dict[int, list[Any]] = field(default_factory=dict)
    busy: dict[int, tuple[int, float]] = field(default_factory=dict)  # worker -> (batch, start)
    taken_by: dict[int, Any] = field(default_factory=dict)  # worker slot -> the _Worker busy
    lost: set[int] = field(default_factory=set)  # batches whose worker was lost
    died: set[int] = field(default_factory=set)  # ... because it died (not timed out)
    next_batch: int = 0

    @property
    def num_batches(self) -> int:
        return -(-len(self.requests) // self.size)

    def take(self, index: int) -> list[Request]:
        batch = list(self.requests[index * self.size : (index + 1) * self.size])
        self.sent[index] = [Sent.of(r) for r in batch]
        return batch

    def fail(self, index: int, reason: str) -> None:
        self.results[index] = [HandlerOutcome(None, None, reason, 0.0)] * len(self.sent[index])
        self.lost.add(index)


def worker_gpus(device: str | None) -> list[int]:
    """The GPUs forked workers are spread over for ``device``: every visible CUDA GPU for
    ``"cuda"`` (and ``"auto"`` where there is one), one for ``"cuda:N"``, none otherwise.

    Worker k gets GPU ``k mod count`` as its only visible device (``CUDA_VISIBLE_DEVICES``,
    set before CUDA starts in it), so a client asking for ``"cuda"`` uses that worker's GPU.
    Counting GPUs does not start CUDA in this process (forked workers could not use it then).

    Raises
    ------
    ConfigError
        For ``"cuda"`` on a machine whose PyTorch sees no GPU, or an unknown device.
    """
    if device is None:
        return []
    name = str(device).strip().lower()
    if name in ("cpu", "mps"):
        return []
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            if name == "auto":
                return []
            raise ConfigError(f"device {device!r} needs PyTorch: {install_hint('torch')}") from None
    count = int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    if name == "auto":
        return list(range(count))
    kind, _, index = name.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto")
    if count == 0:
        raise ConfigError(f"device {device!r}: this PyTorch sees no CUDA GPU; use cpu or auto")
    if index:
        if int(index) >= count:
            raise ConfigError(f"device {device!r}: this machine has {count} CUDA GPU(s)")
        return [int(index)]
    return list(range(count))


class ProcessPool(HeldClientStates):
    """Clients run in ``workers`` forked processes (default: every core).

    With ``device`` ``"cuda"`` (or ``"auto"`` on a GPU machine) the workers are spread over
    the GPUs, one visible GPU per worker (see :func:`worker_gpus`).

    The handler reaches the workers by ``fork`` inheritance, never by pickling; requests and
    replies cross the process boundary as codec bytes only, over one pipe per worker. Each
    batch of requests goes to whichever worker is free; replies are handed back in request
    order. A worker that overruns ``timeout`` or dies (a client calling ``os._exit``, the
    OOM killer) is replaced; with a timeout each client is its own batch, so only that
    client fails; a batch of several whose worker died runs again one client per task, so
    only the client that kills its worker fails.
    """

    def __init__(
        self,
        handler: Handler,
        client_ids: Sequence[str],
        workers: int | None = None,
        threads_per_client: int = 1,
        device: str | None = None,
    ) -> None:
        if "fork" not in mp.get_all_start_methods():
            raise ConfigError(
                "executor 'process' hands each worker its clients by fork, which this system "
                f"({sys.platform}) lacks: use executor 'serial'"
            )
        self._handler = handler
        self._ids = list(client_ids)
        self._size = max(1, workers or os.cpu_count() or 1)
        self._threads = threads_per_client
        self._gpus = worker_gpus(device)
        self._state: dict[str, bytes | None] = {}
        self._workers: list[_Worker] = []

    def _spawn(self, slot: int) -> _Worker:
        global _WORKER_HANDLER
        _WORKER_HANDLER = self._handler
        gpu = self._gpus[slot % len(self._gpus)] if self._gpus else None
        torch = sys.modules.get("torch")
        if torch is not None:
            if gpu is not None and torch.cuda.is_initialized():
                raise ConfigError(
                    "CUDA is already in use in this process, and forked workers cannot use "
                    "it then: create CUDA tensors only inside clients, or use the serial "
                    "executor"
                )
            # torch loads torch._dynamo lazily on the first optimiser; loading it once
            # here, before the fork, spares every worker the same second of start-up.
            importlib.import_module("torch._dynamo")
        return _Worker(mp.get_context("fork"), self._threads, gpu)

    def _ensure_workers(self) -> list[_Worker]:
        while len(self._workers) < self._size:
            self._workers.append(self._spawn(len(self._workers)))
        return self._workers

    def client_ids(self) -> list[str]:
        """The clients this pool serves."""
        return list(self._ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        """Serve ``requests`` on the worker processes, yielding each reply as it arrives.

        A caller may stop reading early: the batches still in flight are dropped with
        their workers, so the next call's replies are its own."""
        # Small clients cost less than a hand-off to a worker, so without a timeout several
        # go in one batch; with one, each client is its own batch so a hang costs only itself.
        size = 1 if timeout is not None else batch_size(len(requests), self._size)
        round_ = _Round(requests, size)
        try:
            for index in range(round_.num_batches):
                while index not in round_.results:
                    self._feed(round_, ahead_of=index)
                    self._collect(round_, timeout)
                outcome = round_.results.pop(index)
                sent = round_.sent.pop(index)
                lost = [index in round_.lost] * len(sent)
                if index in round_.died and len(sent) > 1:
                    outcome, lost = self._each_alone(round_, index, timeout)
                for one, handled, gone in zip(sent, outcome, lost, strict=True):
                    if not gone:
                        self._state[one.client_id] = handled.state
                    yield handled.reply_to(one)
        finally:
            self._drop_unread(round_)

    def _drop_unread(self, round_: _Round) -> None:
        """Replace the workers still busy with ``round_``'s batches: a caller that stopped
        reading its replies early (a ``break``, an exception, Ctrl-C) left them running,
        and the next call would have read their late replies as its own (another round's
        reply, and state, filed under another client). Their clients' state stays as it
        was, as for a lost batch. A worker the pool no longer has (closed, or replaced
        since) is left alone: it is no longer this round's."""
        for w in list(round_.busy):
            del round_.busy[w]
            if w < len(self._workers) and self._workers[w] is round_.taken_by.get(w):
                self._replace(w)

    def _each_alone(
        self, round_: _Round, index: int, timeout: float | None
    ) -> tuple[list[HandlerOutcome], list[bool]]:
        """Run a batch whose worker died again, one client per task, so that only a client
        that kills its worker (a crash, the OOM killer) is dropped, not the clients that
        shared its batch. The batches in flight finish first: the workers are shared."""
        while round_.busy:
            self._collect(round_, timeout)
        alone = _Round(round_.requests[index * round_.size : (index + 1) * round_.size], 1)
        outcomes: list[HandlerOutcome] = []
        lost: list[bool] = []
        try:
            for k in range(alone.num_batches):
                while k not in alone.results:
                    self._feed(alone, ahead_of=k)
                    self._collect(alone, timeout)
                outcomes.extend(alone.results.pop(k))
                lost.append(k in alone.lost)
        finally:
            self._drop_unread(alone)
        return outcomes, lost

    def _feed(self, round_: _Round, ahead_of: int) -> None:
        """Give idle workers the next batches, at most two per worker past the one awaited,
        so finished-but-unread results stay O(workers x model)."""
        workers = self._ensure_workers()
        limit = min(round_.num_batches, ahead_of + 2 * len(workers))
        for w, worker in enumerate(workers):
            if w in round_.busy or round_.next_batch >= limit:
                continue
            batch = round_.take(round_.next_batch)
            worker.conn.send(
                [(r.client_id, r.key, r.payload, self._state.get(r.client_id)) for r in batch]
            )
            round_.busy[w] = (round_.next_batch, time.monotonic())
            round_.taken_by[w] = worker
            round_.next_batch += 1

    def _collect(self, round_: _Round, timeout: float | None) -> None:
        """Wait for a worker to finish (or the oldest batch's deadline) and file the results;
        a worker that died or overran is replaced and its batch reported as failed."""
        deadlines = {
            w: started + timeout * len(round_.sent[b])
            for w, (b, started) in round_.busy.items()
            if timeout is not None
        }
        wait = max(0.0, min(deadlines.values()) - time.monotonic()) if deadlines else None
        ready = mp_connection.wait([self._workers[w].conn for w in round_.busy], timeout=wait)
        for w in list(round_.busy):
            index, _started = round_.busy[w]
            if self._workers[w].conn in ready:
                try:
                    round_.results[index] = self._workers[w].conn.recv()
                except (EOFError, OSError):
                    self._workers[w].process.join(timeout=5.0)  # reaped: its exit code is set
                    code = self._workers[w].process.exitcode
                    round_.fail(index, f"worker process died (exit code {code})")
                    round_.died.add(index)
                    self._replace(w)
            elif w in deadlines and time.monotonic() >= deadlines[w]:
                round_.fail(index, f"timed out (limit {timeout:g}s)")
                self._replace(w)
            else:
                continue
            del round_.busy[w]

    def _replace(self, index: int) -> None:
        self._workers[index].stop()
        self._workers[index] = self._spawn(index)

    def close(self) -> None:
        """Stop the worker processes."""
        for worker in self._workers:
            with contextlib.suppress(OSError, BrokenPipeError):
                worker.conn.send(None)
            worker.process.join(timeout=1.0)
            worker.stop()
        self._workers = []
        self._state.clear()

"""Scale-out simulation on Ray: clients run in Ray tasks, anywhere on a Ray cluster.

The handler (local simulation code) reaches the Ray workers once through Ray's object store
(cloudpickled - acceptable because it is the user's own code on the user's own cluster) and
is unpickled once per worker process, which keeps it for the pool's later tasks: a handler
whose ``client_fn`` holds the federation's data (PyTorch tensors are copied when unpickled)
was unpickled by every task, each round. Everything per call - requests, replies and client
state - crosses as codec bytes, as on every other executor. Replies come back in request
order and client state is kept on the driver between rounds, so the final model equals
:class:`~rengo.transport.simulation.SerialPool`'s.
"""

from __future__ import annotations

import logging
import math
import os
import reprlib
import signal
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rengo.core.errors import ConfigError, MissingExtraError, UnrunnableClientTask
from rengo.core.install_hint import install_hint
from rengo.transport.pool import Handler, HeldClientStates, Reply, Request, Sent
from rengo.transport.ray_resources import ClientTaskResources
from rengo.transport.simulation import HandlerOutcome, batch_size, client_threads, run_handler

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(f"RayPool needs Ray: {install_hint('ray')}") from exc

log = logging.getLogger("rengo.transport")


READ_ONLY_HINT = (
    " (on Ray the arrays client_fn holds are mapped read-only from Ray's object store, shared "
    "by every task: copy what a client changes in place, e.g. X = X.copy())"
)
"""What a client's "read-only" error gains on Ray, where it alone raises it."""


def _call_batch(
    handler: Handler, items: list[tuple[str, str, bytes, bytes | None]]
) -> list[HandlerOutcome]:
    outcomes = [
        run_handler(handler, Request(cid, key, payload), state)
        for cid, key, payload, state in items
    ]
    return [
        outcome._replace(error=outcome.error + READ_ONLY_HINT)
        if outcome.error is not None and "read-only" in outcome.error
        else outcome
        for outcome in outcomes
    ]


_WORKER_HANDLER: dict[str, Handler] = {}
"""In a Ray worker: the handler of the pool it serves, by its object id (one at a time, so a
finished pool's handler goes once the worker serves the next; Ray's shutdown ends it)."""


def _serve_batch(
    handler_box: list[Any], items: list[tuple[str, str, bytes, bytes | None]], threads: int
) -> list[HandlerOutcome]:
    """A Ray task: ``items`` served by the handler in ``handler_box`` (its object ref, boxed
    so Ray hands the task the ref, not a fresh unpickled copy), unpickled once per worker,
    with ``threads`` BLAS/OpenMP and PyTorch threads (as the other executors' clients: a
    worker otherwise took the count its environment set, ``OMP_NUM_THREADS`` exported in
    the user's shell among them)."""
    (ref,) = handler_box
    key = ref.hex()
    handler = _WORKER_HANDLER.get(key)
    if handler is None:
        _WORKER_HANDLER.clear()
        handler = _WORKER_HANDLER[key] = ray.get(ref)
    with client_threads(threads):
        return _call_batch(handler, items)


_remote_batch = ray.remote(max_retries=0)(_serve_batch)


@contextmanager
def _sigterm_handler_kept() -> Iterator[None]:
    """Keep the SIGTERM handler this process set itself across the body (``ray.init``, which
    replaces it with one that exits with status 15): ``rengo run`` ends a SIGTERM as it
    ends Ctrl-C, recording the run ``interrupted`` and exiting 143, where Ray's handler
    recorded it ``failed`` and not resumable. A process that set none gets Ray's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    own = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if callable(own):
            signal.signal(signal.SIGTERM, own)


CONNECT_TIMEOUT_S = 10.0
"""How long the pool waits for a named cluster's head to accept a connection before refusing
the address (Ray itself retried 20 times 36 s: about 12 minutes, with no word to the caller)."""


LOCAL_ONLY_INIT_OPTIONS = (
    "num_cpus",
    "num_gpus",
    "resources",
    "labels",
    "object_store_memory",
    "_system_config",
    "_enable_object_reconstruction",
    "_node_name",
)
"""``ray.init`` settings of a local instance, which Ray refuses when it joins a cluster
("When connecting to an existing cluster, num_cpus and num_gpus must not be provided")."""


def _head_address(address: str) -> tuple[str, int] | None:
    """The head's host and port Ray would connect to for ``address`` ("host:port",
    "ray://host:port", or "auto": the cluster ``ray start`` recorded), or None where Ray
    finds none itself (it then refuses at once) or the address is not host:port."""
    if address.startswith("ray://"):
        address = address[len("ray://") :]
    elif address in ("auto", "local") or ":" in address:
        try:  # Ray's own reading: "auto" from RAY_ADDRESS or its file, 127.0.0.1 as the node IP
            from ray._private.services import canonicalize_bootstrap_address

            found = canonicalize_bootstrap_address(address)
        except Exception:  # Ray's private API moved, or it refuses the address: Ray says why
            found = None if address in ("auto", "local") else address
        if found is None:
            return None
        address = str(found)
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _recorded_cluster(temp_dir: str | None) -> str | None:
    """The cluster ``ray start`` recorded on this machine (``ray_current_cluster`` in Ray's
    temporary folder), which ``ray.init()`` without an address joins, or None."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        found = canonicalize_bootstrap_address(None, temp_dir)  # type: ignore[arg-type]
    except Exception:  # Ray's private API moved, or the record is unreadable: Ray decides
        return None
    return None if found is None else str(found)


def _unreachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why the head of the Ray cluster at ``address`` does not accept a connection within
    ``timeout`` seconds, or None when it does (or Ray itself will say why it cannot join)."""
    head = _head_address(address)
    if head is None:
        return None
    try:
        with socket.create_connection(head, timeout=timeout):
            return None
    except TimeoutError:
        return f"{head[0]}:{head[1]}: no answer in {timeout:g} s"
    except OSError as exc:
        return f"{head[0]}:{head[1]}: {exc.strerror or exc}"


UNMET_CHECK_S = 30.0
"""How often, at most, a wait for a client task checks that some live node of the cluster
can run it (more often for a short ``unrunnable_wait_s``: a tenth of it)."""

UNMET_CHECK_FLOOR_S = 0.5
"""The shortest interval between two such checks (each asks the cluster for its nodes)."""

UNMET_WAIT_MIN_S = 1.0
"""The smallest ``unrunnable_wait_s`` taken: a shorter one would poll the cluster without
rest and fail a task on a node's moment of absence."""

UNMET_WAIT_S = 600.0
"""How long a round waits by default (``unrunnable_wait_s``), on a joined cluster, for a node
that can run its client tasks (an autoscaler's new node, a replaced one) before it fails
naming what the tasks ask for; counted from when the driver first saw that no live node
could run the task it waits on."""


def _seconds_at_least(value: object, least: float) -> bool:
    """Whether ``value`` is a finite number (not a bool) of at least ``least``; an int too
    large for a float (``10**400``) is not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and value >= least
    except OverflowError:
        return False


class RayPool(HeldClientStates):
    """Clients run as Ray tasks, at most ``workers`` at a time (default: what the cluster's
    CPUs allow at ``num_cpus_per_client`` each).

    ``address`` joins an existing cluster ("auto", "ray://host:10001"); without it a local
    Ray instance is started on first use and shut down by :meth:`close`. ``memory_per_client``
    (bytes) is reserved per task so Ray schedules big clients without overcommitting;
    ``num_gpus_per_client`` GPUs likewise (Ray then makes them the task's visible devices).
    A client runs with as many BLAS/OpenMP and PyTorch threads as whole CPUs it reserves (one
    by default, as on the serial and process executors). ``device`` is where the clients
    train: ``"auto"`` reserves no GPU, and the pool warns when the cluster has some.
    ``init_options`` go to ``ray.init`` for a local instance; joining a cluster, those only a
    local instance takes (:data:`LOCAL_ONLY_INIT_OPTIONS`) are dropped with a warning.
    A client task no live node can run is refused at once where the cluster cannot grow (a
    local instance, or the one-machine cluster ``ray start`` recorded); on a cluster named by
    ``address`` or ``RAY_ADDRESS`` (which an autoscaler may grow) a round waits
    ``unrunnable_wait_s`` seconds (at least 1) from when the driver first saw that no live
    node could run the task it waits on, then fails naming it.
    """

    def __init__(
        self,
        handler: Handler,
        client_ids: Sequence[str],
        workers: int | None = None,
        address: str | None = None,
        num_cpus_per_client: float = 1,
        memory_per_client: int | None = None,
        init_options: dict[str, Any] | None = None,
        num_gpus_per_client: float = 0.0,
        device: str | None = None,
        unrunnable_wait_s: float = UNMET_WAIT_S,
    ) -> None:
        if not _seconds_at_least(unrunnable_wait_s, UNMET_WAIT_MIN_S):
            raise ConfigError(
                f"unrunnable_wait_s must be a finite number of seconds >= {UNMET_WAIT_MIN_S:g} "
                "(a shorter wait would poll the cluster's nodes without rest), got "
                f"{reprlib.repr(unrunnable_wait_s)}"
            )
        self._unrunnable_wait_s = float(unrunnable_wait_s)
        self._resources = ClientTaskResources(
            num_cpus_per_client, num_gpus_per_client, memory_per_client
        )
        self._handler = handler
        self._ids = list(client_ids)
        self._workers = workers
        self._address = address
        self._init_options = dict(init_options or {})
        self._task_options = self._resources.task_options()
        self._threads = max(1, int(num_cpus_per_client))  # a client's share of its CPUs
        self._device = device
        self._state: dict[str, bytes | None] = {}
        self._handler_ref: Any = None
        self._started_ray = False
        self._started_local = False  # ... as a local instance, not joining a cluster
        self._can_grow = True  # the Ray used may gain a node (not this pool's own instance)

    def start(self) -> None:
        """Start a local Ray (or join the cluster) and put the handler in its object store
        now, rather than in the first round (a local start takes about 20 s on a small
        machine); calling it again does nothing.

        Raises
        ------
        ConfigError
            When no node of a Ray this pool started can run a client task, or the head of
            the cluster it is to join (``address``, ``RAY_ADDRESS``) does not accept a
            connection within :data:`CONNECT_TIMEOUT_S` seconds.
        """
        self._ensure_ray()

    def _ensure_ray(self) -> Any:
        if self._handler_ref is None:
            began = time.perf_counter()
            if not ray.is_initialized():
                address, cluster, can_grow = self._where_to_start()
                log.info("starting Ray: %s", cluster or "a local Ray instance")
                options: dict[str, Any] = {
                    "include_dashboard": False,
                    "log_to_driver": False,
                    "logging_level": logging.WARNING,  # not "Started a local Ray instance."
                }
                options.update(self._init_options)
                dropped = [k for k in LOCAL_ONLY_INIT_OPTIONS if cluster and k in options]
                if dropped:
                    log.warning(
                        "joining the Ray cluster at %s, so %s not applied (a local instance's "
                        "settings: Ray refuses them when it joins a cluster; address='local' "
                        "starts a local instance that takes them)",
                        cluster,
                        ", ".join(f"init_options[{k!r}]" for k in dropped),
                    )
                    for k in dropped:
                        del options[k]
                if cluster is None and self._workers is not None:
                    cpus = self._workers * self._task_options["num_cpus"]
                    options.setdefault("num_cpus", max(1, int(cpus + 0.999)))
                with warnings.catch_warnings():
                    # Ray's tip about a future default for GPU-less tasks (it keeps today's
                    # behaviour, which this pool relies on: a CPU client sees no GPU)
                    warnings.filterwarnings(
                        "ignore", message="Tip: In future versions of Ray", category=FutureWarning
                    )
                    with _sigterm_handler_kept():
                        ray.init(address=address, **options)
                self._started_ray = True
                self._started_local = cluster is None
                self._can_grow = can_grow
                if cluster is not None and not can_grow:  # the one `ray start` recorded
                    log.warning(
                        "joined the Ray cluster at %s (recorded by `ray start` on this machine) "
                        "instead of starting a local instance: %sa client task none of its "
                        "nodes can run is refused (address='auto' waits for an autoscaler to "
                        "add a node; address='local' starts a local instance)",
                        cluster,
                        "workers= does not size it, and " if self._workers is not None else "",
                    )
            elif self._address is not None or self._init_options:
                log.warning(
                    "Ray is already running in this process, so the pool uses it as it is: "
                    "%s not applied (ray.shutdown() first to have them applied)",
                    ", ".join(
                        ([f"address={self._address!r}"] if self._address is not None else [])
                        + [f"init_options[{k!r}]" for k in sorted(self._init_options)]
                    ),
                )
            self._check_resources()
            self._warn_gpus_unused()
            self._handler_ref = ray.put(self._handler)
            cpus = ray.cluster_resources().get("CPU", 0.0)  # type: ignore[no-untyped-call]
            log.info("Ray ready in %.1f s (%g CPUs)", time.perf_counter() - began, cpus)
        return self._handler_ref

    def _where_to_start(self) -> tuple[str | None, str | None, bool]:
        """The ``address`` for ``ray.init``, the cluster it joins (None: it starts a local
        instance, whose settings - ``num_cpus`` from ``workers`` - may then be given), and
        whether that cluster may grow (False for a local instance and for the cluster ``ray
        start`` recorded on this machine, which has no autoscaler to add a node unless it
        is named as ``address="auto"``).

        Ray joins the cluster at RAY_ADDRESS when no address is given (a script run by `ray
        job submit` has it set), else the one ``ray start`` recorded on this machine (its
        ``ray_current_cluster`` file): a local instance's settings would fail there (Ray's
        "When connecting to an existing cluster, num_cpus and num_gpus must not be
        provided"), and a record a head killed without ``ray stop`` left behind held
        ``ray.init`` retrying for minutes. Such a stale record is passed over, with a
        warning, for a local instance.

        Raises
        ------
        ConfigError
            When no head answers at the ``address`` or RAY_ADDRESS given.
        """
        if self._address == "local":  # Ray's word for "start a local instance", not a cluster
            return "local", None, False
        named = "address" if self._address else "RAY_ADDRESS"
        cluster = self._address or os.environ.get("RAY_ADDRESS") or None
        if cluster is not None:
            why = _unreachable(cluster)
            if why is not None:
                raise ConfigError(
                    f"no Ray cluster answers at {named}={cluster!r} ({why}): start its "
                    "head (`ray start --head`) or give the head's address (host:6379, or "
                    "ray://host:10001 for Ray Client)"
                )
            return self._address, cluster, True
        recorded = _recorded_cluster(self._init_options.get("_temp_dir"))
        if recorded is None:
            return None, None, False
        why = _unreachable(recorded)
        if why is None:  # warned about once ray.init has joined it
            return recorded, recorded, False
        log.warning(
            "Ray's record of a cluster started on this machine (`ray start`) names %s, where "
            "nothing answers (%s): starting a local Ray instance instead (`ray stop` removes "
            "the stale record)",
            recorded,
            why,
        )
        return "local", None, False

    def _check_resources(self) -> None:
        """Refuse (a local Ray this pool started) or warn about (a cluster, which an
        autoscaler may grow) a client task no live node can run: Ray would queue every
        task, and the run would wait at round 1 without end or a word."""
        unmet = self._resources.unmet_on(ray.nodes())  # type: ignore[no-untyped-call]
        if unmet is None:
            return
        gpu = (
            "; device='cuda' reserves a GPU per client task (num_gpus_per_client=1)"
            if "GPU" in unmet
            else ""
        )
        if not self._can_grow:
            which = (
                "the local Ray instance"
                if self._started_local
                else "the Ray cluster `ray start` recorded on this machine"
            )
            if self._started_ray:
                ray.shutdown()
            self._started_ray = self._started_local = False
            self._can_grow = True
            raise ConfigError(
                f"no node of {which} can run a client task, so every task would wait "
                f"forever: it asks for {unmet}{gpu}; ask for less, or join a cluster that "
                "has it (address=...; address='auto' waits for an autoscaler to add one)"
            )
        log.warning(
            "no live node of the Ray cluster can run a client task (it asks for %s%s): the "
            "tasks wait until a node that has it joins, for at most %g s",
            unmet,
            gpu,
            self._unrunnable_wait_s,
        )

    def _warn_gpus_unused(self) -> None:
        """Warn when ``device="auto"`` will train on the CPU beside GPUs: a task that reserves
        no GPU sees none (Ray hides them), where the process executor gives its workers the
        machine's GPUs for "auto"."""
        if self._device != "auto" or "num_gpus" in self._task_options:
            return
        gpus = ray.cluster_resources().get("GPU", 0.0)  # type: ignore[no-untyped-call]
        if gpus:
            log.warning(
                "device='auto' on Ray reserves no GPU, so the clients see none and train on "
                "the CPU beside the cluster's %g GPUs; device='cuda' (or num_gpus_per_client) "
                "reserves GPUs for them",
                gpus,
            )

    def _window(self) -> int:
        if self._workers is not None:
            return max(1, 2 * self._workers)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
        return max(1, 2 * int(cpus // self._task_options["num_cpus"]))

    def client_ids(self) -> list[str]:
        """The clients this pool serves."""
        return list(self._ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        """Serve ``requests`` on Ray tasks, yielding each reply as it arrives."""
        self._ensure_ray()
        task = _remote_batch.options(**self._task_options)
        window = self._window()
        # As in ProcessPool: several small clients per task unless a timeout must be per client.
        # Batches are taken (and so encoded) only when submitted.
        size = 1 if timeout is not None else batch_size(len(requests), max(1, window // 2))
        starts = deque(range(0, len(requests), size))
        pending: deque[tuple[int, list[Sent], Any]] = deque()
        alone: list[Any] = []
        try:
            while starts or pending:
                while starts and len(pending) < window:
                    start = starts.popleft()
                    batch = list(requests[start : start + size])
                    ref = self._submit(task, batch)
                    pending.append((start, [Sent.of(r) for r in batch], ref))
                start, sent, ref = pending.popleft()
                results, failed = self._outcomes(ref, len(sent), timeout)
                lost = [failed is not None] * len(sent)
                if failed == "died" and len(sent) > 1:
                    # a task of several clients failed (a worker died): each runs again alone, so
                    # only the client that kills its worker is dropped, not its batch-mates
                    alone = [self._submit(task, [r]) for r in requests[start : start + len(sent)]]
                    again = [self._outcomes(each, 1, timeout) for each in alone]
                    alone = []
                    results = [outcome for outcomes, _ in again for outcome in outcomes]
                    lost = [why is not None for _, why in again]
                for record, handled, gone in zip(sent, results, lost, strict=True):
                    if not gone:
                        self._state[record.client_id] = handled.state
                    yield handled.reply_to(record)
        finally:
            # a caller that stopped reading early (a break, an exception) left tasks queued
            # or running: they would hold the cluster's CPUs, and the next call's clients
            # would wait behind them (past a round timeout)
            # (and a batch's clients resubmitted alone, when one of them ended the round)
            if ray.is_initialized():  # not after close() shut Ray down: nothing runs then
                for ref in [ref for *_, ref in pending] + alone:
                    ray.cancel(ref, force=True)

    def _submit(self, task: Any, batch: list[Request]) -> Any:
        """A Ray task serving ``batch`` (each client with its state)."""
        items = [(r.client_id, r.key, r.payload, self._state.get(r.client_id)) for r in batch]
        return task.remote([self._ensure_ray()], items, self._threads)

    def _outcomes(
        self, ref: Any, count: int, timeout: float | None
    ) -> tuple[list[HandlerOutcome], str | None]:
        """A task's ``count`` outcomes, and how it was lost: ``"timed out"``, ``"died"``
        (its worker, or the node) or None (it ran).

        Raises
        ------
        UnrunnableClientTask
            When no live node could run a client task for ``unrunnable_wait_s`` seconds
            while the driver waited on this one (see :meth:`_get_while_runnable`): the run
            is left ``interrupted``, to resume once the cluster has such a node.
        """
        try:
            # In order: when this wait starts every earlier reply is in, so the limit
            # counts from then, as in ProcessPool.
            if timeout is None:
                results = self._get_while_runnable(ref)
            else:
                results = ray.get(ref, timeout=timeout * count)
        except GetTimeoutError:
            ray.cancel(ref, force=True)
            failed, reason = "timed out", f"timed out (limit {timeout:g}s)"
        except RayError as exc:  # worker died, task cancelled, node lost
            failed, reason = "died", f"ray task failed: {exc}"
        else:
            return list(results), None
        return [HandlerOutcome(None, None, reason, 0.0)] * count, failed

    def _get_while_runnable(self, ref: Any) -> Any:
        """``ray.get(ref)``, checking every :data:`UNMET_CHECK_S` seconds (a tenth of
        ``unrunnable_wait_s`` when that is shorter, never under :data:`UNMET_CHECK_FLOOR_S`)
        that some live node can run a client task: on a joined cluster that has none (only
        warned about at the start, since an autoscaler may add one; or its last such node
        died) Ray queues the task without end, and the run waited at its round without a
        word. The clock starts at the first check that finds no such node, and a check that
        finds one again stops it; once it has run ``unrunnable_wait_s`` seconds the wait ends
        with an error naming how long, measured, no node could run the task."""
        limit = self._unrunnable_wait_s
        poll = max(UNMET_CHECK_FLOOR_S, min(UNMET_CHECK_S, limit / 10))
        unmet_since: float | None = None  # when a check first found no node that can run it
        while True:
            try:
                return ray.get(ref, timeout=poll)
            except GetTimeoutError:
                unmet = self._resources.unmet_on(ray.nodes())  # type: ignore[no-untyped-call]
                now = time.monotonic()
                if unmet is None:
                    unmet_since = None
                    continue
                if unmet_since is None:
                    unmet_since = now
                if now - unmet_since >= limit:
                    ray.cancel(ref, force=True)  # the caller cancels only those still queued
                    raise UnrunnableClientTask(
                        f"no live node of the Ray cluster could run a client task for "
                        f"{now - unmet_since:g} s (it asks for {unmet}; unrunnable_wait_s="
                        f"{limit:g}), so the round would wait forever: ask for less "
                        "(num_cpus_per_client, num_gpus_per_client, memory_per_client), add a "
                        "node that has it first, or give an autoscaler longer "
                        "(unrunnable_wait_s)"
                    ) from None

    def close(self) -> None:
        """Drop the clients' state and shut Ray down if this pool started it."""
        self._state.clear()
        self._handler_ref = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = self._started_local = False
        self._can_grow = True

"""Run a whole federation on this machine: ``simulate(client_fn, num_clients, strategy, ...)``.

The executor only decides where client code runs; the coordinator, strategy and clients are
the same objects a deployment uses. Same seed, same final model on every executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rengo.core.errors import ConfigError, RoundFailure
from rengo.core.parameters import Parameters
from rengo.hfl.client import ClientFn, client_handler
from rengo.hfl.coordinator import Coordinator, History, ProgressFn, RoundObserver, RunRecorder
from rengo.hfl.strategy.base import Strategy
from rengo.transport.pool import ClientPool
from rengo.transport.simulation import ProcessPool, SerialPool

EXECUTORS = ("serial", "process", "ray")


def make_pool(
    client_fn: ClientFn,
    client_ids: Sequence[str],
    executor: str = "serial",
    workers: int | None = None,
    **options: Any,
) -> ClientPool:
    """A simulation :class:`ClientPool` for ``executor`` ("serial", "process" or "ray")."""
    handler = client_handler(client_fn)
    if executor == "serial":
        return SerialPool(handler, client_ids)
    if executor == "process":
        return ProcessPool(handler, client_ids, workers=workers)
    if executor == "ray":
        try:
            from rengo.transport.ray_pool import RayPool
        except ImportError as exc:
            raise ConfigError("executor 'ray' needs Ray: pip install 'rengo[ray]'") from exc
        return RayPool(handler, client_ids, workers=workers, **options)
    raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")


def simulate(
    client_fn: ClientFn,
    num_clients: int | Sequence[str],
    strategy: Strategy,
    initial_parameters: Parameters,
    rounds: int,
    *,
    seed: int = 0,
    executor: str = "serial",
    workers: int | None = None,
    round_timeout: float | None = None,
    store: Any = None,
    run_name: str | None = None,
    run_config: dict[str, Any] | None = None,
    observers: Sequence[RoundObserver] = (),
    progress: bool | ProgressFn = False,
) -> History:
    """Simulate ``rounds`` rounds of horizontal FL and return the :class:`History`.

    ``num_clients`` is a count (ids "0".."n-1") or the list of client ids. ``store`` is a
    :class:`rengo.tracking.RunStore` (or anything with its recording methods) to record the
    run in; ``progress=True`` shows a rich progress bar over rounds.
    """
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    ids = (
        [str(i) for i in range(num_clients)]
        if isinstance(num_clients, int)
        else [str(c) for c in num_clients]
    )
    pool = make_pool(client_fn, ids, executor, workers)
    recorder: RunRecorder | None = store
    run_id = None
    if store is not None:
        config = {
            "strategy": strategy.name,
            "num_clients": len(ids),
            "rounds": rounds,
            "executor": executor,
            "seed": seed,
            **(run_config or {}),
        }
        run_id = store.start_run("hfl", config, name=run_name, seed=seed)
    coordinator = Coordinator(
        strategy,
        pool,
        initial_parameters,
        seed=seed,
        round_timeout=round_timeout,
        store=recorder,
        run_id=run_id,
        observers=observers,
    )
    status = "failed"
    start = time.perf_counter()
    try:
        with _ProgressBar(progress, rounds, run_name or strategy.name) as report:
            history = coordinator.run(rounds, progress=report)
        status = "completed"
        return history
    except RoundFailure:
        raise
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        pool.close()
        if store is not None and run_id is not None:
            summary = {"wall_time_s": time.perf_counter() - start}
            store.finish_run(run_id, status, summary)


class _ProgressBar:
    """A rich progress bar over rounds (or a user callback, or nothing)."""

    def __init__(self, progress: bool | ProgressFn, rounds: int, label: str) -> None:
        self._user: Callable[..., None] | None = progress if callable(progress) else None
        self._enabled = progress is True
        self._rounds = rounds
        self._label = label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressFn | None:
        if self._user is not None:
            return self._user
        if not self._enabled:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self._label, total=self._rounds, status="")

        def report(record: Any) -> None:
            shown = {
                k: v
                for k, v in record.metrics.items()
                if k in ("central_accuracy", "central_loss", "eval_accuracy", "train_loss")
            }
            text = "  ".join(f"{k}={v:.4f}" for k, v in shown.items())
            if record.failures:
                text += f"  [yellow]{len(record.failures)} dropped"
            self._bar.update(self._task, advance=1, status=text)

        return report

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

"""The simulation executors by name: where client code runs when a federation is simulated.

``serial`` and ``process`` are built in; ``ray`` loads Ray only when used. A new executor
registers itself once, here or in its own module, with :func:`register_executor`; job files,
the CLI and :func:`rengo.hfl.simulate` read the names from this registry.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.install_hint import install_hint
from rengo.transport.pool import ClientPool, Handler
from rengo.transport.simulation import ProcessPool, SerialPool

PoolFactory = Callable[..., ClientPool]
"""``factory(handler, client_ids, workers=None, **options) -> ClientPool``; the built-in
ones also take ``device`` (where clients train: the process pool spreads its workers over
the GPUs, Ray reserves one per client task for ``cuda``)."""


@dataclass(frozen=True)
class Executor:
    """A registered executor: its name, what it is, and how to make its pool."""

    name: str
    description: str
    factory: PoolFactory


_EXECUTORS: dict[str, Executor] = {}


def register_executor(name: str, factory: PoolFactory, description: str = "") -> None:
    """Make ``factory`` available as executor ``name``.

    Raises
    ------
    ValueError
        If ``name`` is empty or already registered.
    """
    if not name or name in _EXECUTORS:
        raise ValueError(f"executor name {name!r} is empty or already registered")
    _EXECUTORS[name] = Executor(name, description, factory)


def executor_names() -> tuple[str, ...]:
    """Registered executor names, in registration order."""
    return tuple(_EXECUTORS)


def executors() -> dict[str, Executor]:
    """Registered executors by name."""
    return dict(_EXECUTORS)


def make_executor(
    name: str,
    handler: Handler,
    client_ids: Sequence[str],
    workers: int | None = None,
    **options: Any,
) -> ClientPool:
    """The :class:`ClientPool` of executor ``name`` over ``client_ids``.

    Raises
    ------
    ConfigError
        For an unknown name (naming the closest one), ``workers`` that is not a whole
        number >= 1 (None: the executor's default), or an executor that cannot start here
        (a missing optional dependency).
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1
    ):  # the process pool took 0 for every core and -3 for one, without a word
        raise ConfigError(
            f"workers must be a whole number >= 1 (None: the executor's default), got {workers!r}"
        )
    executor = _EXECUTORS.get(name)
    if executor is None:
        close = difflib.get_close_matches(name, list(_EXECUTORS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown executor {name!r}; {hint}choose one of {', '.join(_EXECUTORS)}")
    return executor.factory(handler, client_ids, workers=workers, **options)


def _check_pool_options(executor: str, pool: Callable[..., Any], options: dict[str, Any]) -> None:
    """Refuse an option ``pool`` (a pool class) does not take, naming the closest one and
    those it takes (a misspelt ``num_cpus_per_client`` was a bare ``TypeError``, and a pool
    that took ``**kwargs`` would have dropped it).

    Raises
    ------
    ConfigError
        For each option ``pool``'s constructor has no parameter for.
    """
    taken = [
        name
        for name, parameter in inspect.signature(pool).parameters.items()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        and name not in ("handler", "client_ids", "workers")
    ]
    for name in options:
        if name not in taken:
            close = difflib.get_close_matches(name, taken, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"executor {executor!r} takes no option {name!r}; {hint}it takes "
                f"{', '.join(taken) or 'none'}"
            )


def _serial(
    handler: Handler,
    client_ids: Sequence[str],
    workers: int | None = None,
    device: str | None = None,
    **options: Any,
) -> ClientPool:
    # one process: each client puts its model on its own device
    _check_pool_options("serial", SerialPool, options)
    return SerialPool(handler, client_ids, **options)


def _process(
    handler: Handler,
    client_ids: Sequence[str],
    workers: int | None = None,
    device: str | None = None,
    **options: Any,
) -> ClientPool:
    _check_pool_options("process", ProcessPool, options)
    return ProcessPool(handler, client_ids, workers=workers, device=device, **options)


def _ray(
    handler: Handler,
    client_ids: Sequence[str],
    workers: int | None = None,
    device: str | None = None,
    **options: Any,
) -> ClientPool:
    try:
        from rengo.transport.ray_pool import RayPool
    except ImportError as exc:
        raise ConfigError(f"executor 'ray' needs Ray: {install_hint('ray')}") from exc
    _check_pool_options("ray", RayPool, options)
    if device is not None and str(device).startswith("cuda"):
        options.setdefault("num_gpus_per_client", 1.0)
    return RayPool(handler, client_ids, workers=workers, device=device, **options)


register_executor("serial", _serial, "one client after another in this process")
register_executor("process", _process, "forked worker processes on this machine")
register_executor("ray", _ray, "Ray tasks, locally or on a Ray cluster")

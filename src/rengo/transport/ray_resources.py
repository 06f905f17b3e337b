"""What one client task asks of a Ray cluster, checked before any task is submitted.

Ray queues a task whose request no node can meet and waits for such a node, without end and
without a word to the driver: ``device="cuda"`` on a cluster without GPUs, or
``num_cpus_per_client=4`` on 2-CPU nodes, held a simulation at round 1 forever. The request
is checked against the cluster's live nodes (a task runs on one node, so the largest node
counts, not the cluster's total).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ConfigError


@dataclass(frozen=True)
class ClientTaskResources:
    """The Ray resources each client task reserves (the :class:`~rengo.transport.ray_pool.RayPool`
    options of the same names).

    Raises
    ------
    ConfigError
        For a count that is not a finite number, ``num_cpus_per_client`` <= 0,
        ``num_gpus_per_client`` < 0 or ``memory_per_client`` (bytes) not a whole number >= 1.
    """

    num_cpus_per_client: float = 1.0
    num_gpus_per_client: float = 0.0
    memory_per_client: int | None = None

    def __post_init__(self) -> None:
        cpus = _finite("num_cpus_per_client", self.num_cpus_per_client)
        if cpus <= 0:
            raise ConfigError(f"num_cpus_per_client must be > 0, got {cpus!r}")
        gpus = _finite("num_gpus_per_client", self.num_gpus_per_client)
        if gpus < 0:
            raise ConfigError(f"num_gpus_per_client must be >= 0, got {gpus!r}")
        memory = self.memory_per_client
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, numbers.Integral) or memory < 1
        ):
            raise ConfigError(
                f"memory_per_client must be a whole number of bytes >= 1 (None: no "
                f"reservation), got {memory!r}"
            )

    def task_options(self) -> dict[str, Any]:
        """The request as Ray's task options (``num_cpus``, and ``num_gpus`` and ``memory``
        where asked for)."""
        options: dict[str, Any] = {"num_cpus": float(self.num_cpus_per_client)}
        if self.num_gpus_per_client:
            options["num_gpus"] = float(self.num_gpus_per_client)
        if self.memory_per_client is not None:
            options["memory"] = int(self.memory_per_client)
        return options

    def unmet_on(self, nodes: Sequence[Mapping[str, Any]]) -> str | None:
        """Why no live node among ``nodes`` (``ray.nodes()``) can run a client task, or None
        when one can: each resource the task asks for, beside the most any live node has."""
        wanted = {
            "CPU": ("num_cpus_per_client", float(self.num_cpus_per_client)),
            "GPU": ("num_gpus_per_client", float(self.num_gpus_per_client)),
            "memory": ("memory_per_client", float(self.memory_per_client or 0)),
        }
        alive = [dict(node.get("Resources") or {}) for node in nodes if node.get("Alive", True)]
        if any(all(node.get(k, 0.0) >= need for k, (_, need) in wanted.items()) for node in alive):
            return None
        most = {k: max((n.get(k, 0.0) for n in alive), default=0.0) for k in wanted}
        short = [
            f"{option}={need:g} (the largest node has {most[k]:g} {k})"
            for k, (option, need) in wanted.items()
            if need > most[k]
        ]
        if not short:  # each resource exists somewhere, but never all on one node
            short = [f"{option}={need:g}" for option, need in wanted.values() if need > 0]
            return f"no single node has {', '.join(short)} together ({len(alive)} live nodes)"
        return ", ".join(short)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return float(value)

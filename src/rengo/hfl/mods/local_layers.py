"""Personal layers as a mod: parameters that never leave the client.

FedPer (Arivazhagan et al. 2019, "Federated Learning with Personalization Layers") keeps the
model's head on each client; FedBN (Li et al. 2021, "FedBN: Federated Learning on Non-IID
Features via Local Batch Normalization") keeps the batch-norm layers. Both are this mod with
different indices, and they work under any strategy:

* before training or evaluating, the client's own values of those arrays replace the global
  ones it received (from its second round on; the first round starts from the global model,
  or from ``initial`` - e.g. a head sized for this client's own label set);
* after training, the trained values are kept in the client's state, and the reply carries
  the global values it received for those arrays - so the coordinator learns nothing about
  them, and averaging leaves them where they were.

Indices count from the end when negative (``-2, -1``: the last layer's weight and bias).
Installed by a client's owner, the mod holds its indices; requested by a strategy
(:class:`~rengo.hfl.FedPer`, :class:`~rengo.hfl.FedBN`), it reads them from the round
config's ``personal_arrays`` (``"-2,-1"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import Config, EvaluateIns, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.mods.chain import EVALUATE, FIT, CallNext, ClientCall, register_mod

STATE_KEY = "local_layers"
PERSONAL_KEY = "personal_arrays"
"""Round-config key of the personal arrays' indices (comma-separated, negative from the end)."""

InitialArrays = Callable[[str], Sequence[np.ndarray]]
"""``client_id -> arrays``: a client's own starting values of its personal arrays."""


def parse_indices(spec: str | Sequence[int], where: str = PERSONAL_KEY) -> tuple[int, ...]:
    """Distinct array indices from ``"-2,-1"`` or a sequence of ints.

    Raises
    ------
    ValueError
        Naming ``where`` for an empty, repeated or non-integer spec.
    """
    if isinstance(spec, str):
        try:
            chosen = tuple(int(p) for p in spec.split(",") if p.strip())
        except ValueError:
            raise ValueError(f"{where} must be comma-separated integers, got {spec!r}") from None
    else:
        chosen = tuple(int(i) for i in spec)
    if not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"{where} must name distinct array indices, got {spec!r}")
    return chosen


def resolve_indices(indices: Sequence[int], count: int) -> tuple[int, ...]:
    """``indices`` as positions in a model of ``count`` arrays (negatives from the end),
    sorted.

    Raises
    ------
    ValueError
        If an index is out of range or two name the same array.
    """
    resolved = [i + count if i < 0 else i for i in indices]
    if any(not 0 <= i < count for i in resolved):
        raise ValueError(
            f"personal array indices {list(indices)} are out of range for a model of {count} arrays"
        )
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"personal array indices {list(indices)} name one array twice")
    return tuple(sorted(resolved))


def config_indices(config: Config, owner: str) -> tuple[int, ...]:
    """The personal arrays' indices a strategy sent in the round config.

    Raises
    ------
    ProtocolError
        If the config lacks them or they are malformed.
    """
    spec = config.get(PERSONAL_KEY)
    if not isinstance(spec, str):
        raise ProtocolError(
            f"the {owner} client mod needs the round config's {PERSONAL_KEY!r} (e.g. '-2,-1'); "
            "use a personalising strategy (FedPer, FedRep, FedBN) or install the mod with "
            "its indices"
        )
    try:
        return parse_indices(spec)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc


def with_parameters(message: FitIns | EvaluateIns, parameters: Parameters) -> FitIns | EvaluateIns:
    """The same message carrying other parameters (config shared)."""
    if isinstance(message, FitIns):
        return FitIns(list(parameters), message.config)
    return EvaluateIns(list(parameters), message.config)


def personal_start(
    call: ClientCall, positions: Sequence[int], initial: InitialArrays | None
) -> list[np.ndarray] | None:
    """The client's personal arrays: kept from earlier rounds, else ``initial``'s, else None
    (start from the global ones)."""
    kept = call.state.get(STATE_KEY)
    if kept is not None:
        arrays = [np.asarray(a) for a in kept]
    elif initial is not None:
        arrays = [np.asarray(a) for a in initial(call.client_id)]
    else:
        return None
    if len(arrays) != len(positions):
        raise ValueError(
            f"{len(arrays)} personal arrays kept for {len(positions)} personal positions"
        )
    return arrays


@register_mod
@dataclass(frozen=True)
class LocalLayersMod:
    """Keeps the parameter arrays at ``indices`` on the client (FedPer heads, FedBN norms).

    Parameters
    ----------
    indices
        Positions in the model's parameter list (``state_dict`` order for torch models;
        negative from the end). ``None``: the round config's ``personal_arrays``.
    initial
        ``client_id -> arrays``: the client's own starting values (e.g. a head sized for
        its own label set); by default the first round starts from the global arrays.

    Raises
    ------
    ValueError
        If ``indices`` is empty or repeated.
    """

    indices: Sequence[int] | None = None
    initial: InitialArrays | None = field(default=None, repr=False)
    name: ClassVar[str] = "local_layers"
    stages: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        if self.indices is not None:
            object.__setattr__(self, "indices", parse_indices(self.indices, "indices"))

    def positions(self, call: ClientCall) -> tuple[int, ...]:
        """The personal arrays' positions in this call's model."""
        chosen = (
            self.indices if self.indices is not None else config_indices(call.config, self.name)
        )
        return resolve_indices(chosen, len(call.parameters))

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Swap in the personal arrays, run the client, keep them and send the global ones."""
        if call.key not in (FIT, EVALUATE):
            return call_next(call)
        received = call.parameters
        positions = self.positions(call)
        personal = personal_start(call, positions, self.initial)
        if personal is not None:
            local = list(received)
            for i, value in zip(positions, personal, strict=True):
                local[i] = value
            call = call.forward(call.key, with_parameters(call.message, local))
        reply = call_next(call)
        if call.key != FIT or not isinstance(reply, FitResult):
            return reply
        call.state[STATE_KEY] = [np.array(reply.parameters[i]) for i in positions]
        shared = list(reply.parameters)
        for i in positions:
            shared[i] = received[i]
        return FitResult(shared, reply.num_examples, reply.metrics)

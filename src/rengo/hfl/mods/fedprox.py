"""FedProx's client half as a mod: Li et al. 2020, "Federated Optimization in Heterogeneous
Networks".

Each client minimises ``F_k(w) + (mu / 2) ||w - w_global||^2``; the mod installs that
proximal term as a gradient correction for the call, so every local step adds
``mu (w - w_global)``. ``mu`` is the round config's ``proximal_mu`` (sent by
:class:`~rengo.hfl.FedProx`); with ``mu = 0`` or no key, the mod does nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.hfl.local_training import TRAIN_THROUGH_THE_SEAM, ProximalTerm
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, register_mod

MU_KEY = "proximal_mu"
NOT_APPLIED = (
    "FedProx: the client took no local step through rengo.hfl.LocalTraining, so the "
    "proximal term reached its training only if its own fit reads config['proximal_mu'] "
    "(as a Flower client does): else this is FedAvg. For the mod to apply it, the client's "
    f"own loop must {TRAIN_THROUGH_THE_SEAM}"
)
"""Warned when a fit under ``proximal_mu > 0`` reported no local steps."""
ONE_STEP = (
    "FedProx: the client took one local step, and it started at the global model itself, "
    "where the proximal term's gradient mu (w - w_global) is 0: its update equals FedAvg's. "
    "FedProx differs from FedAvg only over several local steps (more local_epochs, or a "
    "smaller batch_size)"
)
"""Warned (once per process, as Python shows a repeated warning) when a fit under
``proximal_mu > 0`` reported exactly one local step and every array that step trained was
at the global model, compared in the client's dtype (so the term was 0, up to the rounding of
a float64 global model to a float32 client's). Not warned where the step started elsewhere (a
:class:`~rengo.hfl.mods.LocalLayersMod` inside this mod starts the personal arrays from the
client's own): there the term acted."""


@dataclass(frozen=True)
class _WatchedTerm(ProximalTerm):
    """FedProx's :class:`ProximalTerm` (a ProximalTerm to code that reads the installed
    corrections), noting whether it ever met a parameter away from the global model (where
    its gradient is not 0). The parameter is compared in its own dtype: a float32 client holds
    a float64 global model rounded, and that is still the global model."""

    away: list[bool] = field(default_factory=lambda: [False], repr=False, compare=False)

    @property
    def acted(self) -> bool:
        """Whether a parameter the term corrected differed from the global model."""
        return self.away[0]

    def __call__(self, index: int, parameter: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        if not self.away[0]:
            anchor = np.asarray(self.anchor[index])
            parameter = np.asarray(parameter)
            if anchor.dtype != parameter.dtype and np.issubdtype(parameter.dtype, np.inexact):
                anchor = anchor.astype(parameter.dtype)
            self.away[0] = not np.array_equal(parameter, anchor)
        return super().__call__(index, parameter, gradient)


@register_mod
class FedProxMod(ClientMod):
    """Adds FedProx's proximal term to local training (Li et al. 2020).

    A client that does not train through :class:`~rengo.hfl.local_training.LocalTraining`
    (it reports no steps) still receives ``proximal_mu`` in its config and may apply the term
    itself, as clients did before mods existed (and Flower's do); the mod warns
    (:data:`NOT_APPLIED`), since it cannot tell such a client from one that trains without the
    term. A client that took one step starting at the global model gets FedAvg's update
    exactly (the term is 0 there): the mod says so too (:data:`ONE_STEP`), and only then (a
    step that started at other values, such as personal arrays a
    :class:`~rengo.hfl.mods.LocalLayersMod` restored, felt the term).
    """

    name: ClassVar[str] = "fedprox"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Install ``mu (w - w_global)`` for a fit call, then run the client; warn when the
        client took no step through the seam, so the term may never have been applied, or one
        step only, which started at the global model, where the term is 0."""
        if call.key != FIT:
            return call_next(call)
        mu = proximal_mu(call)
        term = None
        if mu > 0:
            anchor = [np.array(p, dtype=np.float64) for p in call.parameters]
            term = _WatchedTerm(mu, anchor)
            call.local_training.corrections.append(term)
        reply = call_next(call)
        if term is not None and call.local_training.steps == 0:
            warnings.warn(NOT_APPLIED, UserWarning, stacklevel=2)
        elif term is not None and call.local_training.steps == 1 and not term.acted:
            warnings.warn(ONE_STEP, UserWarning, stacklevel=2)
        return reply


def proximal_mu(call: ClientCall) -> float:
    """The call's ``proximal_mu`` (0 when absent); a clear error when it is not a number."""
    value = call.config.get(MU_KEY, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"config[{MU_KEY!r}] must be a number, got {value!r}")
    if value < 0:
        raise ProtocolError(f"config[{MU_KEY!r}] must be >= 0, got {value}")
    return float(value)

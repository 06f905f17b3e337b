"""q-FedAvg's client half as a mod: Li, Sanjabi, Beirami and Smith 2020, "Fair Resource
Allocation in Federated Learning" (ICLR; Algorithm 2, q-FedAvg).

q-FFL minimises ``sum_k p_k F_k^(q+1)(w) / (q + 1)``: the larger ``q``, the more a client with
a high loss counts, so the accuracy spreads less across clients (``q = 0`` is FedAvg's
objective). In a round, client ``k`` receives ``w``, measures its local loss ``F_k(w)``
before training, trains to ``w_k`` as usual, and sends, instead of its model,

    delta_k = F_k(w)^q * L * (w - w_k)
    h_k     = q * F_k(w)^(q-1) * L^2 * ||w - w_k||^2 + L * F_k(w)^q

where ``L`` is the paper's Lipschitz estimate, one over the local learning rate. The
coordinator steps ``w - sum_k delta_k / sum_k h_k`` (:class:`~rengo.hfl.QFedAvg`), folding
both sums as results arrive (memory O(model)). As in the paper's code (and Flower's),
``F_k + 1e-10`` stands for ``F_k``, so a zero loss gives finite terms.

The client measures ``F_k(w)`` through :class:`~rengo.hfl.local_training.LocalTraining`: the
mod sets ``measure_initial_loss`` and the adapter (``LogisticRegressionClient``,
``TorchClient``, or a user's own) stores its loss on its training data at the parameters it
received in ``initial_loss``.

What each party learns: the coordinator sees ``delta_k`` (the client's update, scaled) and
``h_k``, from which, with the update's norm, ``F_k(w)`` follows: q-FFL's weights are the
clients' losses. The paper assumes honest clients; one that overstates its loss pulls the
round's step towards its own model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import Config, FitResult
from rengo.core.parameters import Parameters, sum_of_squares
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, register_mod

Q_KEY = "qffl_q"
LIPSCHITZ_KEY = "qffl_lipschitz"
LOSS_OFFSET = 1e-10
"""Added to every loss before it is raised to a power (as the paper's code does)."""

MEASURE_THROUGH_THE_SEAM = (
    "set self.local_training.initial_loss to the client's loss on its training data at the "
    "parameters it received (before any step) when self.local_training.measure_initial_loss "
    "is true, as TorchClient and LogisticRegressionClient do"
)
"""How a client's own ``fit`` takes part in q-FedAvg (for messages)."""


def qffl_terms(
    received: Sequence[np.ndarray],
    trained: Sequence[np.ndarray],
    loss: float,
    q: float,
    lipschitz: float,
) -> tuple[Parameters, float]:
    """One client's ``delta_k`` and ``h_k`` (Li et al. 2020, Algorithm 2).

    Parameters
    ----------
    received
        The global model ``w`` the round sent.
    trained
        The client's model ``w_k`` after local training.
    loss
        ``F_k(w)``: the client's local loss at ``w``, >= 0.
    q
        The fairness parameter, >= 0.
    lipschitz
        ``L``, one over the local learning rate.

    Returns
    -------
    tuple
        ``delta_k`` (an array per parameter: floating arrays keep their dtype, integer ones
        become float64) and ``h_k``.

    Raises
    ------
    ValueError
        A loss that is negative or not finite.
    """
    if not (math.isfinite(loss) and loss >= 0):
        raise ValueError(f"q-FedAvg needs a finite local loss >= 0, got {loss}")
    f = loss + LOSS_OFFSET
    gradient = [
        lipschitz * (np.asarray(w, np.float64) - np.asarray(wk, np.float64))
        for w, wk in zip(received, trained, strict=True)
    ]
    scale = f**q
    delta = [
        np.asarray(scale * g, dtype=w.dtype if w.dtype.kind == "f" else np.float64)
        for g, w in zip(gradient, received, strict=True)
    ]
    h = q * f ** (q - 1.0) * sum_of_squares(gradient) + lipschitz * scale
    return delta, h


def qffl_settings(config: Config) -> tuple[float, float] | None:
    """The round config's ``(q, L)``; None when it carries neither (not a q-FedAvg round).

    Raises
    ------
    ProtocolError
        One without the other, ``q`` below 0 or ``L`` not above 0, or either not a number.
    """
    q, lipschitz = config.get(Q_KEY), config.get(LIPSCHITZ_KEY)
    if q is None and lipschitz is None:
        return None
    for key, value in ((Q_KEY, q), (LIPSCHITZ_KEY, lipschitz)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(f"config[{key!r}] must be a number, got {value!r}")
    assert isinstance(q, (int, float)) and isinstance(lipschitz, (int, float))
    if not (math.isfinite(q) and q >= 0):
        raise ProtocolError(f"config[{Q_KEY!r}] must be a finite number >= 0, got {q!r}")
    if not (math.isfinite(lipschitz) and lipschitz > 0):
        raise ProtocolError(
            f"config[{LIPSCHITZ_KEY!r}] must be a finite number > 0, got {lipschitz!r}"
        )
    return float(q), float(lipschitz)


@register_mod
class QFFLMod(ClientMod):
    """q-FedAvg's client half (Li et al. 2020): has the client measure its loss at the model
    it received, trains as usual, and replies ``delta_k`` followed by ``h_k`` (a 0-d array)
    in place of its model.

    Acts only on fit calls whose config carries ``qffl_q`` and ``qffl_lipschitz`` (sent by
    :class:`~rengo.hfl.QFedAvg`). A client that does not report its initial loss is an error
    saying how to.
    """

    name: ClassVar[str] = "qffl"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Measure ``F_k(w)``, train, and reply ``[*delta_k, h_k]``."""
        if call.key != FIT:
            return call_next(call)
        settings = qffl_settings(call.config)
        if settings is None:
            return call_next(call)
        q, lipschitz = settings
        received = [np.asarray(p) for p in call.parameters]
        training = call.local_training
        training.measure_initial_loss = True
        result = call_next(call)
        if not isinstance(result, FitResult):
            return result
        if training.initial_loss is None:
            raise ProtocolError(
                f"q-FedAvg needs the client's loss at the model it received: "
                f"{MEASURE_THROUGH_THE_SEAM}"
            )
        delta, h = qffl_terms(received, result.parameters, training.initial_loss, q, lipschitz)
        metrics = {**result.metrics, "initial_loss": float(training.initial_loss)}
        return FitResult([*delta, np.asarray(h, dtype=np.float64)], result.num_examples, metrics)

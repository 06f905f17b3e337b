"""When the gradient a party decrypts gives away its peer's per-row terms.

In Liu et al.'s protocol (:mod:`rengo.ftl.roles`) each party learns its own gradient, a sum
over the batch's ``n`` shared rows of its own per-row Jacobians (which it knows) times the
peer's per-row terms (``n x dim`` unknowns: the source's ``c``, which carries its labels and
representations, or the target's representations ``U_B``). An encoder with at least
``n * dim`` parameters gives at least as many equations as unknowns, so its party can solve
the gradient for the peer's per-row terms by least squares. For the target these are the
per-row gradients at its representations, ``c_j + alpha/n M u_B,j`` (``n x dim`` unknowns
exactly; ``c_j`` carries the source's label of row j, as a SplitNN cut-layer gradient does);
the source's solve for ``U_B`` has ``W`` and ``R`` as unknowns too, so there the check errs
on the side of warning. Each party checks the peer's encoder size against its own smallest
batch at set-up and warns when the peer's encoder is that large.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rengo.ftl.config import TransferConfig
from rengo.vfl.common import smallest_batch


class GradientExposureWarning(UserWarning):
    """The peer's encoder is large enough to solve its gradient for this party's per-row
    terms of a batch (see :func:`gradient_exposure`)."""


def mlp_parameter_count(in_features: int, hidden: Sequence[int], dim: int) -> int:
    """Weights and biases of the MLP ``in_features -> hidden... -> dim``."""
    widths = [in_features, *hidden, dim]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def gradient_exposure(
    party: str, peer: str, peer_parameters: int, rows: int, config: TransferConfig
) -> str | None:
    """Why ``peer`` could solve its gradient for ``party``'s per-row terms, or ``None``.

    Parameters
    ----------
    party
        The party whose terms are at stake (the one checking).
    peer
        The other party, whose encoder has ``peer_parameters`` trainable scalars.
    peer_parameters
        The size of the peer's encoder, from its set-up message.
    rows
        The shared rows (every epoch cuts them into batches of ``config.batch_size``).
    config
        The run's settings (``batch_size``, ``dim``).

    Returns
    -------
    str or None
        A message naming both parties, the sizes and the fix, when ``peer_parameters`` is at
        least the smallest batch's ``rows x dim`` per-row terms.
    """
    n = smallest_batch(rows, config.batch_size)
    unknowns = n * config.dim
    if n == 0 or peer_parameters < unknowns:
        return None
    return (
        f"{peer}'s encoder has {peer_parameters} parameters, at least the {n} x {config.dim} "
        f"= {unknowns} per-row terms of {party} in its smallest batch of shared rows: from "
        f"the gradient it decrypts, {peer} could solve for {party}'s terms of every shared "
        f"row (the protocol hides them only in a sum over the batch). Raise batch_size so "
        f"that every batch, the last one too, holds more than {peer_parameters // config.dim} "
        "rows, or give the encoders fewer parameters (source_hidden, target_hidden, dim)"
    )

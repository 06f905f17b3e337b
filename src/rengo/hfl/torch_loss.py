"""A batch's summed loss, whatever reduction the user's loss function applies.

The clients report mean losses over examples (``loss``, the rounds' ``train_loss`` and
evaluation loss): they add up each batch's loss over its rows and divide by the rows seen.
A loss that already sums (``CrossEntropyLoss(reduction="sum")``, a common choice with
uneven batches) or returns one value per row (``reduction="none"``, for an evaluation loss)
must not be multiplied by the batch's size again.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional


def batch_loss_sum(loss: torch.Tensor, rows: int, loss_fn: Any) -> float:
    """The loss summed over a batch's ``rows`` examples.

    Parameters
    ----------
    loss
        What ``loss_fn`` returned for the batch.
    rows
        The batch's examples.
    loss_fn
        The loss function; its ``reduction`` attribute (``"mean"`` when it has none, as for
        a plain function) says whether ``loss`` is a mean or a sum.

    Returns
    -------
    float
        The batch's summed loss.
    """
    value = loss.detach()
    if value.numel() != 1:  # one loss per row (reduction="none")
        return float(value.sum())
    if getattr(loss_fn, "reduction", "mean") == "sum":
        return float(value)
    return float(value) * rows


class ClassWeightedCrossEntropy(nn.Module):
    """Cross-entropy with a weight per class, averaged over the batch's rows:
    ``(1/n) sum_i w[y_i] CE_i``, as scikit-learn's ``class_weight`` and rengo's numpy
    clients weigh rows (:mod:`rengo.data.class_weights`).

    torch's ``CrossEntropyLoss(weight=w)`` divides by the batch's summed weights instead, so
    each row's gradient depends on the other rows' labels: under DP-SGD one row then moves
    every other row's clipped gradient (the per-example bound the accountant assumes fails),
    and ``"balanced"`` weights stop balancing with minibatches (a batch without positives
    weighs as if unweighted).

    Parameters
    ----------
    weight
        One weight per class, by class code.
    """

    reduction = "mean"  # a mean over rows: batch_loss_sum and Opacus read this

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The batch's mean of each row's class-weighted cross-entropy."""
        per_row = functional.cross_entropy(logits, target, reduction="none")
        weight: torch.Tensor = self.weight  # type: ignore[assignment]
        return (per_row * weight.to(per_row.device)[target]).mean()

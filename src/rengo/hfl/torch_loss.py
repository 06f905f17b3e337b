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

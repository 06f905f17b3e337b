"""PyTorch regression: a module with one output trained on the mean squared error.

:class:`TorchRegressionClient` is a :class:`~rengo.hfl.TorchClient` whose loss is
``MSELoss`` on a standardised target (:class:`~rengo.data.TargetScaling`) and whose
evaluation reports ``rmse``, ``mae`` and ``r2`` in the target's own units
(:func:`evaluate_regression`) instead of an accuracy. Training, mods, DP-SGD and devices are
the parent's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.errors import MissingExtraError
from rengo.core.install_hint import install_hint

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        f"rengo.hfl.torch_regression needs PyTorch: {install_hint('torch')}"
    ) from exc

from rengo.core.messages import Config, EvaluateResult, Metrics
from rengo.core.parameters import Parameters
from rengo.data.target_scaling import IDENTITY_SCALING, TargetScaling
from rengo.hfl.regression_scoring import regression_metrics
from rengo.hfl.torch_client import TorchClient, set_parameters
from rengo.hfl.torch_loader import batch_device, inputs_and_labels, on_device
from rengo.hfl.torch_loss import batch_loss_sum


@torch.no_grad()
def evaluate_regression(
    model: nn.Module,
    loader: torch.utils.data.DataLoader[Any],
    scaling: TargetScaling = IDENTITY_SCALING,
    device: torch.device | None = None,
) -> tuple[float, int, Metrics]:
    """Mean squared error (standardised), example count and regression metrics of a model.

    Parameters
    ----------
    model
        A module with one output per row.
    loader
        ``(inputs, targets)`` batches; targets standardised, shaped like the output.
    scaling
        The target's z-score, undone before RMSE and MAE are measured.
    device
        Where the model is; batches are moved there (None: leave them as they come).

    Returns
    -------
    tuple of (float, int, dict)
        The mean loss, the rows scored and ``{"rmse", "mae", "r2"}``.

    Raises
    ------
    DataError
        For an empty loader or non-finite predictions (a diverged model).
    """
    loss_fn = nn.MSELoss()
    model.eval()
    total, n = 0.0, 0
    truths: list[np.ndarray] = []
    predictions: list[np.ndarray] = []
    for batch in loader:
        xb, yb = on_device(*inputs_and_labels(batch), device)
        out = model(xb)
        total += batch_loss_sum(loss_fn(out, yb), len(yb), loss_fn)
        n += len(yb)
        truths.append(yb.detach().cpu().numpy().ravel())
        predictions.append(out.detach().cpu().numpy().ravel())
    metrics = regression_metrics(
        np.concatenate(truths) if truths else np.zeros(0),
        np.concatenate(predictions) if predictions else np.zeros(0),
        scaling,
    )
    return total / max(n, 1), n, metrics


class TorchRegressionClient(TorchClient):
    """A :class:`~rengo.hfl.TorchClient` regressor: ``MSELoss`` on a standardised target,
    evaluated by RMSE, MAE and R^2 in the target's units.

    Parameters
    ----------
    model, train_loader, test_loader
        As :class:`~rengo.hfl.TorchClient`'s; targets are float tensors shaped like the
        model's output (``(rows, 1)`` for one output).
    target_scaling
        The target's z-score (identity: the targets are as they are).
    **options
        :class:`~rengo.hfl.TorchClient`'s keyword options (``lr``, ``dp``, ``device``...);
        ``loss_fn`` is ``MSELoss``.
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: torch.utils.data.DataLoader[Any],
        test_loader: torch.utils.data.DataLoader[Any] | None = None,
        *,
        target_scaling: TargetScaling = IDENTITY_SCALING,
        **options: Any,
    ) -> None:
        super().__init__(model, train_loader, test_loader, loss_fn=nn.MSELoss(), **options)
        self.target_scaling = target_scaling

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """MSE (standardised) and ``rmse``, ``mae``, ``r2`` on ``test_loader``
        (``train_loader`` when there is none)."""
        loader = self.test_loader or self.train_loader
        set_parameters(self.model, parameters)
        device = batch_device(self.model, self.device)
        self._seed(config, device, loader)
        loss, n, metrics = evaluate_regression(self.model, loader, self.target_scaling, device)
        return EvaluateResult(loss, n, metrics)

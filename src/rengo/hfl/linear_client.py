"""A numpy-only regression client: least squares (linear regression) by minibatch SGD.

The regression counterpart of :class:`~rengo.hfl.LogisticRegressionClient`, on the same
training loop (:class:`~rengo.hfl.numpy_client.MinibatchSgdClient`), so every strategy and
every mod that acts inside local training (FedProx, SCAFFOLD, frozen layers) runs on it.
Parameters are ``[w (features x 1), b (1,)]``; the loss is the mean squared error (as
PyTorch's ``MSELoss``, which the MLP regressor trains on, so both report the same loss),
``(1 / n) ||X w + b - y||^2 + (l2 / 2) ||w||^2``, whose gradient is
``(2 X^T r / n + l2 w, 2 mean(r))`` with ``r = X w + b - y``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rengo.core.messages import Config, EvaluateResult, Metrics
from rengo.core.parameters import Parameters
from rengo.data.target_scaling import IDENTITY_SCALING, TargetScaling
from rengo.hfl.numpy_client import MinibatchSgdClient
from rengo.hfl.regression_scoring import regression_metrics


def linear_init(num_features: int) -> Parameters:
    """Zero-initialised least-squares parameters (a convex problem: the start is moot).

    Parameters
    ----------
    num_features
        The model's input columns.

    Returns
    -------
    list of numpy.ndarray
        ``[w, b]``: float64 zeros of shapes ``(num_features, 1)`` and ``(1,)``.
    """
    return [np.zeros((num_features, 1), dtype=np.float64), np.zeros(1, dtype=np.float64)]


def linear_predict(params: Parameters, X: np.ndarray) -> np.ndarray:
    """The model's (standardised) predictions.

    Parameters
    ----------
    params
        ``[w, b]`` as :func:`linear_init` makes them.
    X
        Rows to predict, ``(rows, features)``.

    Returns
    -------
    numpy.ndarray
        ``X w + b``, one prediction per row (1-D).
    """
    w, b = params
    return np.asarray((X @ w + b)[:, 0])


def linear_scores(
    params: Parameters, X: np.ndarray, y: np.ndarray, l2: float, scaling: TargetScaling
) -> tuple[float, Metrics]:
    """The loss of :func:`squared_loss_grad` (the same figure, without its gradient) and
    ``rmse``, ``mae``, ``r2`` in the target's units, from one prediction of ``X``: what a
    client's and the coordinator's evaluations report each round (and a valuation, for
    every coalition)."""
    w, _ = params
    predicted = linear_predict(params, X)
    residual = predicted - np.asarray(y, dtype=np.float64)
    loss = float(np.mean(residual**2) + 0.5 * l2 * np.sum(w * w))
    return loss, regression_metrics(y, predicted, scaling)


def squared_loss_grad(
    params: Parameters, X: np.ndarray, y: np.ndarray, l2: float
) -> tuple[float, Parameters]:
    """The mean squared error + (l2 / 2) ||w||^2, and its gradient.

    Parameters
    ----------
    params
        ``[w, b]`` as :func:`linear_init` makes them.
    X, y
        Rows and their (standardised) targets.
    l2
        Weight of the ridge penalty.

    Returns
    -------
    tuple of (float, list of numpy.ndarray)
        The loss and ``[dw, db]``.
    """
    w, _ = params
    residual = linear_predict(params, X) - np.asarray(y, dtype=np.float64)
    n = max(X.shape[0], 1)
    loss = float(np.mean(residual**2) + 0.5 * l2 * np.sum(w * w))
    grad_w = 2.0 * (X.T @ residual)[:, None] / n + l2 * w
    return loss, [grad_w, np.array([2.0 * residual.sum() / n])]


@dataclass
class LinearRegressionClient(MinibatchSgdClient):
    """Least squares on local ``(X, y)`` by minibatch SGD; ``y`` is the standardised target.

    Parameters
    ----------
    target_scaling
        The target's z-score (:class:`~rengo.data.TargetScaling`): :meth:`evaluate`
        reports RMSE and MAE in the target's own units through it (identity: ``y`` is
        the target as it is).

    The other parameters are :class:`~rengo.hfl.numpy_client.MinibatchSgdClient`'s.
    """

    target_scaling: TargetScaling = field(default=IDENTITY_SCALING)

    def loss_grad(
        self,
        params: Parameters,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, Parameters]:
        """The mean squared error + (l2 / 2) ||w||^2 and its gradient (a regression has no
        classes to weigh: ``sample_weight`` is never passed)."""
        return squared_loss_grad(params, X, y, self.l2)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Loss (the MSE on the standardised target), ``rmse``, ``mae`` (target units)
        and ``r2`` on the test split (the training data when there is none)."""
        X, y = self.evaluation_rows()
        loss, metrics = linear_scores(list(parameters), X, y, self.l2, self.target_scaling)
        return EvaluateResult(loss, len(y), metrics)

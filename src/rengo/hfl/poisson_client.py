"""A numpy-only count model: Poisson regression (a GLM with log link) by minibatch SGD,
with an optional exposure per row.

The count counterpart of :class:`~rengo.hfl.LinearRegressionClient`, on the same training
loop (:class:`~rengo.hfl.numpy_client.MinibatchSgdClient`), so every strategy and every mod
that acts inside local training runs on it. Parameters are ``[w (features x 1), b (1,)]``;
a row's predicted **rate** is ``exp(x w + b)`` and, observed over exposure ``e`` (years
insured), its expected count ``m = e exp(x w + b)`` (the offset ``log e``). The loss is the
mean over rows of half the Poisson deviance of the counts,

    ``(1 / n) sum_i (m_i - y_i + y_i log(y_i / m_i)) + (l2 / 2) ||w||^2``

(``y log y = 0`` at ``y = 0``; the negative log-likelihood up to a constant), whose
gradient is ``(X^T (m - y) / n + l2 w, mean(m - y))``. It is scikit-learn's
``PoissonRegressor(alpha=l2 / mean(e))`` fitted on the frequencies ``y / e`` with
``sample_weight=e``: that objective is ``sum_i e_i d(y_i / e_i, r_i) / (2 sum e) + alpha/2
||w||^2``, and ``e d(y / e, r) = d(y, e r)``, so the two differ by the factor ``mean(e)``.
Without an exposure ``e = 1`` and ``alpha = l2``.

The linear predictor ``x w + b`` is clipped to ``[-MAX_LINEAR_PREDICTOR,
MAX_LINEAR_PREDICTOR]`` (40: rates within ``exp(+-40)``, about ``4e-18`` to ``2.4e17`` per
unit of exposure, far outside any claim frequency) before ``exp``, so a model that strays
beyond it (an attacker's scaled update averaged in, a step too long) still predicts finite,
positive rates. The gradient uses the clipped mean, so such a model is pulled back towards
the data rather than stuck where the clip's own derivative is 0. A client whose own local
steps take its rows beyond the bound from a model within it (the step size is too long for
counts this large: the loss's curvature grows with the mean count) stops with an error
naming ``train.lr`` rather than sending an update.

A client's weight in FedAvg is its **row count**, as for every other model: the loss above
is a mean over rows, so the row-weighted mean of the clients' full-batch gradients is the
gradient of the pooled rows' loss, and one round of full-batch FedAvg with one local step
is one step of gradient descent on the pooled table. The exposure itself never leaves the
client (only through its model update).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.messages import Config, EvaluateResult, FitResult, Metrics
from rengo.core.parameters import Parameters
from rengo.data.exposure import check_exposure
from rengo.hfl.numpy_client import MinibatchSgdClient
from rengo.metrics import frequency_metrics

MAX_LINEAR_PREDICTOR = 40.0
"""The bound on a row's linear predictor ``|x w + b|`` before ``exp`` (rates within
``exp(+-40)`` per unit of exposure): beyond it predictions are clipped, and a client's own
steps that cross it stop training (see :class:`PoissonRegressionClient`)."""


def _linear_predictor(params: Parameters, X: np.ndarray) -> np.ndarray:
    """Each row's linear predictor ``x w + b``, unclipped (``inf`` or NaN where a model's
    values overflow: no warning is printed, the callers check).

    Parameters
    ----------
    params
        ``[w, b]``.
    X
        Rows, ``(rows, features)``.

    Returns
    -------
    numpy.ndarray
        One value per row (1-D).
    """
    w, b = params
    with np.errstate(over="ignore", invalid="ignore"):
        eta: np.ndarray = (X @ w + b)[:, 0]
    return eta


def poisson_predict(
    params: Parameters, X: np.ndarray, exposure: np.ndarray | None = None
) -> np.ndarray:
    """The model's predicted rates ``exp(X w + b)``, or expected counts ``exposure * rate``.

    The linear predictor is clipped to ``+-MAX_LINEAR_PREDICTOR`` (40) first, so that every
    rate of a finite model is finite and positive.

    Parameters
    ----------
    params
        ``[w, b]`` as :func:`~rengo.hfl.linear_init` makes them.
    X
        Rows to predict, ``(rows, features)``.
    exposure
        Each row's exposure (None: the rate, the expected count per unit of exposure).

    Returns
    -------
    numpy.ndarray
        One positive value per row (1-D).
    """
    eta = np.clip(_linear_predictor(params, X), -MAX_LINEAR_PREDICTOR, MAX_LINEAR_PREDICTOR)
    rate = np.exp(eta)
    return np.asarray(rate if exposure is None else exposure * rate)


def check_counts(y: np.ndarray, who: str) -> np.ndarray:
    """Counts as float64: finite and non-negative (whole numbers or not: a count model may
    be fitted to fractional targets, as scikit-learn's ``PoissonRegressor`` is).

    Parameters
    ----------
    y
        One target per row.
    who
        The client or table (named in errors).

    Returns
    -------
    numpy.ndarray
        ``y`` as float64.

    Raises
    ------
    DataError
        For a negative, NaN or infinite target, naming ``who`` and the first such row.
    """
    counts = np.asarray(y, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(counts) & (counts >= 0)))
    if len(bad):
        first = int(bad[0])
        raise DataError(
            f"{who}: a Poisson model's target is a count (non-negative), but row {first} "
            f"(counting from 0) is {float(counts[first])!r} ({len(bad)} such rows)"
        )
    return counts


def poisson_loss_grad(
    params: Parameters,
    X: np.ndarray,
    y: np.ndarray,
    l2: float,
    exposure: np.ndarray | None = None,
) -> tuple[float, Parameters]:
    """The mean half Poisson deviance of the counts + (l2 / 2) ||w||^2, and its gradient.

    Both are taken at the clipped predictions of :func:`poisson_predict`: beyond the
    bound, the gradient is the unclipped formula's, which pulls the model back.

    Parameters
    ----------
    params
        ``[w, b]``.
    X, y
        Rows and their counts.
    l2
        Weight of the ridge penalty (not on the intercept).
    exposure
        Each row's exposure (None: 1).

    Returns
    -------
    tuple of (float, list of numpy.ndarray)
        The loss and ``[dw, db]``.
    """
    w, _ = params
    counts = np.asarray(y, dtype=np.float64)
    expected = poisson_predict(params, X, exposure)
    n = max(X.shape[0], 1)
    residual = expected - counts
    grad_w = (X.T @ residual)[:, None] / n + l2 * w
    return _poisson_loss(w, counts, expected, n, l2), [grad_w, np.array([residual.sum() / n])]


def _poisson_loss(
    w: np.ndarray, counts: np.ndarray, expected: np.ndarray, n: int, l2: float
) -> float:
    """The mean half Poisson deviance of ``counts`` at ``expected`` over ``n`` rows, plus
    the ridge term."""
    loss = float(np.sum((expected - counts) + _count_log_ratio(counts, expected)) / n)
    return loss + 0.5 * l2 * float(np.sum(w * w))


def _count_log_ratio(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``y log(y / m)`` per row, 0 where ``y = 0``."""
    safe = np.where(counts > 0, counts, 1.0)
    with np.errstate(divide="ignore"):
        ratio: np.ndarray = np.where(counts > 0, counts * np.log(safe / expected), 0.0)
    return ratio


def poisson_scores(
    params: Parameters,
    X: np.ndarray,
    y: np.ndarray,
    l2: float,
    exposure: np.ndarray | None = None,
) -> tuple[float, Metrics]:
    """The loss of :func:`poisson_loss_grad` and what an actuary reads of the rows
    (:func:`rengo.metrics.frequency_metrics`: the mean Poisson deviance and D^2 of the
    frequencies and the Gini of the ranking by predicted rate, all weighted by exposure,
    RMSE and MAE of the counts): what a client's and the coordinator's evaluations report.

    Parameters
    ----------
    params
        ``[w, b]``.
    X, y
        Rows and their counts.
    l2
        Weight of the ridge penalty in the loss.
    exposure
        Each row's exposure (None: 1).

    Returns
    -------
    tuple of (float, dict)
        The loss and ``poisson_deviance``, ``d2_poisson``, ``gini`` (none where every
        count is 0), ``rmse``, ``mae``.

    Raises
    ------
    DataError
        For non-finite predictions (a diverged model: lower the learning rate).
    """
    rates = poisson_predict(params, X)
    if not np.all(np.isfinite(rates) & (rates > 0)):
        raise DataError(
            "the Poisson model's predicted rates overflow or vanish (exp of the linear "
            "predictor): training diverged; lower train.lr"
        )
    expected = rates if exposure is None else np.asarray(exposure * rates)  # as poisson_predict
    counts = np.asarray(y, dtype=np.float64)
    loss = _poisson_loss(params[0], counts, expected, max(X.shape[0], 1), l2)
    metrics: Metrics = dict(frequency_metrics(y, rates, exposure))
    return loss, metrics


@dataclass
class PoissonRegressionClient(MinibatchSgdClient):
    """Poisson regression on local counts ``y`` observed over ``exposure``, by minibatch SGD.

    Parameters
    ----------
    X, y, X_test, y_test, lr, local_epochs, batch_size, l2
        As :class:`~rengo.hfl.numpy_client.MinibatchSgdClient`; ``y`` and ``y_test`` are
        counts (non-negative, whole numbers or not).
    exposure, exposure_test
        Each training and test row's exposure (positive; None: one unit each). It stays
        on the client.
    name
        The client, as errors name it.

    Raises
    ------
    DataError
        For a negative, NaN or infinite count, or an exposure that is not one positive
        finite value per row, naming the client and the row.
    """

    exposure: np.ndarray | None = None
    exposure_test: np.ndarray | None = None
    name: str = "client"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.crossed_bound = False
        """Whether a batch of the current :meth:`fit` had a row's linear predictor beyond
        ``MAX_LINEAR_PREDICTOR``."""
        self.y = check_counts(self.y, f"{self.name} (training rows)")
        if self.y_test is not None:
            self.y_test = check_counts(self.y_test, f"{self.name} (test rows)")
        if self.exposure is not None:
            self.exposure = check_exposure(self.exposure, len(self.y), self.name)
        if self.exposure_test is not None:
            rows = 0 if self.y_test is None else len(self.y_test)
            self.exposure_test = check_exposure(
                self.exposure_test, rows, f"{self.name} (test rows)"
            )

    def loss_grad(
        self,
        params: Parameters,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, Parameters]:
        """The mean half Poisson deviance + (l2 / 2) ||w||^2 and its gradient, each row
        observed over one unit of exposure (training uses :meth:`rows_loss_grad`, which
        passes the rows' own exposure)."""
        return poisson_loss_grad(params, X, y, self.l2)

    def rows_loss_grad(
        self,
        params: Parameters,
        rows: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, Parameters]:
        """:func:`poisson_loss_grad` of training rows ``rows`` over their own exposure.

        Raises
        ------
        DataError
            If a client mod changed the batch's row count (its exposure would no longer
            line up).
        """
        exposure = None if self.exposure is None else self.exposure[rows]
        if exposure is not None and len(exposure) != len(y):
            raise DataError(
                f"{self.name}: a batch transform changed a batch of {len(exposure)} rows to "
                f"{len(y)}: their exposure no longer lines up"
            )
        if not self.crossed_bound:
            eta = _linear_predictor(params, X)
            self.crossed_bound = not bool(np.all(np.abs(eta) <= MAX_LINEAR_PREDICTOR))
        return poisson_loss_grad(params, X, y, self.l2, exposure)

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """:meth:`MinibatchSgdClient.fit <rengo.hfl.numpy_client.MinibatchSgdClient.fit>`,
        refusing an update from diverged training.

        A model received beyond the bound (another client's huge update averaged in) is
        trained from with clipped predictions: its update is finite.

        Raises
        ------
        ConfigError
            Naming ``train.lr`` and the client, when its own steps took a row's linear
            predictor beyond ``MAX_LINEAR_PREDICTOR`` from a model that kept every training
            row within it, or the loss or the update stopped being finite.
        """
        lr = float(config.get("lr", self.lr))  # type: ignore[arg-type]
        eta = _linear_predictor(list(parameters), self.X)
        received_within = bool(np.all(np.abs(eta) <= MAX_LINEAR_PREDICTOR))
        self.crossed_bound = False
        result = super().fit(parameters, config)
        loss = float(result.metrics["loss"])
        finite = math.isfinite(loss) and all(np.isfinite(p).all() for p in result.parameters)
        if not finite or (received_within and self.crossed_bound):
            what = (
                "the loss or the update stopped being finite"
                if not finite
                else f"a step took a row's linear predictor beyond +-{MAX_LINEAR_PREDICTOR:g} "
                f"(a rate of exp({MAX_LINEAR_PREDICTOR:g}) per unit of exposure) from a model "
                "within it"
            )
            raise ConfigError(
                f"{self.name}: Poisson training diverged: {what}; train.lr = {lr:g} is too "
                "high for these counts (the loss's curvature grows with the mean count): "
                "lower train.lr"
            )
        return result

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Loss, ``poisson_deviance``, ``d2_poisson``, ``gini``, ``rmse`` and ``mae`` on the
        test split (the training data when there is none), over the rows' exposure."""
        X, y = self.evaluation_rows()
        test = self.X_test is not None and self.y_test is not None
        exposure = self.exposure_test if test else self.exposure
        loss, metrics = poisson_scores(list(parameters), X, y, self.l2, exposure)
        return EvaluateResult(loss, len(y), metrics)


__all__ = [
    "MAX_LINEAR_PREDICTOR",
    "PoissonRegressionClient",
    "check_counts",
    "poisson_loss_grad",
    "poisson_predict",
    "poisson_scores",
]

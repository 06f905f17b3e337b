"""What a regression model is scored by: RMSE, MAE and R^2, in the target's own units.

Every horizontal regression model (the numpy linear client, the PyTorch MLP, the
coordinator's held-out evaluation) trains on a standardised target
(:class:`~rengo.data.TargetScaling`) and reports through :func:`regression_metrics`, so
``rmse`` and ``mae`` read in days, kilowatts or dollars, never in standard deviations. R^2
is unit-free; it is the one to compare with a centralised ``LinearRegression``.
"""

from __future__ import annotations

import numpy as np

from rengo.core.messages import Metrics
from rengo.data.target_scaling import TargetScaling
from rengo.metrics import mae, r2_score, rmse

REGRESSION_METRICS = ("rmse", "mae", "r2")
"""The metrics a regression evaluation records (each round: ``central_rmse``, ``eval_r2``...)."""


def regression_metrics(
    scaled_targets: np.ndarray, scaled_predictions: np.ndarray, scaling: TargetScaling
) -> Metrics:
    """RMSE, MAE and R^2 of standardised predictions, measured in the target's units.

    Parameters
    ----------
    scaled_targets, scaled_predictions
        Targets and predictions as the model sees them (``(y - mean) / scale``), one per row.
    scaling
        The target's z-score, undone on both before measuring.

    Returns
    -------
    dict
        ``{"rmse": ..., "mae": ..., "r2": ...}``.

    Raises
    ------
    DataError
        For empty, mismatched or non-finite arrays (a diverged model's predictions).
    """
    truth = scaling.restore(np.ravel(scaled_targets))
    predicted = scaling.restore(np.ravel(scaled_predictions))
    return {
        "rmse": rmse(truth, predicted),
        "mae": mae(truth, predicted),
        "r2": r2_score(truth, predicted),
    }

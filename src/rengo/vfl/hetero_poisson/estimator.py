"""A scikit-learn-like front end that simulates coordinated hetero Poisson regression.

The same role functions a deployment runs, through the vertical runner on an in-process
recording bus. Keyword arguments are
:class:`~rengo.vfl.hetero_poisson.config.HeteroPoissonConfig`'s fields, same defaults.

>>> model = HeteroPoissonRegression(key_bits=1024, epochs=20)  # doctest: +SKIP
>>> model.fit({"insurer": (ids_i, X_i), "telco": (ids_t, X_t)}, "insurer", y=claims)
>>> model.predict({"insurer": (new_i, Xn_i), "telco": (new_t, Xn_t)})  # expected counts
"""

from __future__ import annotations

import numpy as np

from rengo.metrics import neg_poisson_deviance
from rengo.vfl.hetero_lr.estimator import CoordinatedLinearModel
from rengo.vfl.hetero_poisson.algorithm import HETERO_POISSON
from rengo.vfl.hetero_poisson.roles import POISSON, poisson_forward


class HeteroPoissonRegression(CoordinatedLinearModel):
    """Coordinated vertical Poisson regression (log link) over Paillier, in one process.

    The label party holds the counts and the intercept, every party its own weights; the
    coordinator holds the key pair and decrypts only masked gradients. ``exp(u)`` is
    computed without approximation by an encrypted multiplicative chain through the hosts
    (see :mod:`rengo.vfl.hetero_poisson.roles`); only fixed-point encoding rounds. ``score``
    is the negative mean Poisson deviance (higher is better). Every option of
    :class:`~rengo.vfl.hetero_poisson.config.HeteroPoissonConfig` is a keyword argument.

    Training stops once the loss stops improving by ``tol``, after ``epochs`` at most, with
    gradient descent on the loss divided by the mean count from the intercept
    ``log(mean y)`` (``optimizer="auto"``), so the default rate suits counts of any size;
    Newton-CG needs a quadratic loss and is refused here.
    ``missing="zero"|"mean"`` fills each party's own empty cells locally, the same at
    scoring; the default refuses them.
    """

    spec = HETERO_POISSON
    local_objective = POISSON

    def inverse_link(self, u: np.ndarray) -> np.ndarray:
        """The prediction from the federated linear predictor ``u``.

        Parameters
        ----------
        u
            The linear predictor of each row (the parties' partial scores summed).

        Returns
        -------
        numpy.ndarray
            The prediction of each row (the expected count: ``exp(u)``).
        """
        return poisson_forward(u)

    def _score_metric(self, truth: np.ndarray, predictions: np.ndarray) -> float:
        return neg_poisson_deviance(truth, predictions)

"""A scikit-learn-like front end that simulates coordinated hetero linear regression.

The same role functions a deployment runs (hetero LR's protocol with the squared loss),
through the vertical runner on an in-process recording bus. Keyword arguments are
:class:`~rengo.vfl.hetero_linear.config.HeteroLinearConfig`'s fields, with the same
defaults.

>>> model = HeteroLinearRegression(key_bits=1024, epochs=20)  # doctest: +SKIP
>>> model.fit({"shop": (ids_s, X_s), "bank": (ids_b, X_b)}, label_party="shop", y=spend)
>>> model.predict({"shop": (new_s, Xn_s), "bank": (new_b, Xn_b)})
"""

from __future__ import annotations

import numpy as np

from rengo.metrics import r2_score
from rengo.vfl.hetero_linear.algorithm import HETERO_LINEAR, identity
from rengo.vfl.hetero_lr.estimator import CoordinatedLinearModel
from rengo.vfl.hetero_lr.objective import SQUARED


class HeteroLinearRegression(CoordinatedLinearModel):
    """Coordinated vertical linear regression (squared loss) over Paillier, in one process.

    The label party holds the targets and the intercept, every party its own weights; the
    coordinator holds the key pair and decrypts only masked gradients. The encrypted
    residual ``u - y`` is exact, so the weights equal plaintext mini-batch training of the
    same model (same batches, learning rate and optimizer) up to fixed-point rounding.
    ``l2`` is the weight of ``l2/2 * ||w||^2`` on the mean loss ``mean((u - y)^2)/2``.
    ``seed`` fixes the batch order and PSI's row order; ``key_seed`` makes the key pair
    reproducible with an insecure generator (tests only). Every option of
    :class:`~rengo.vfl.hetero_linear.config.HeteroLinearConfig` is a keyword argument.

    Training stops once the loss stops improving by ``tol``, after ``epochs`` at most;
    ``optimizer="auto"`` (default) solves the table with full-batch Newton-CG whatever its
    size (the squared loss is quadratic, so it reaches least squares in a few epochs,
    whatever the target's scale; Adam's steps of ``learning_rate`` do not follow that
    scale); ``optimizer="adam"`` or ``"sgd"`` trains in mini-batches.
    ``missing="zero"|"mean"`` fills each party's own empty cells locally, the same at
    scoring; the default refuses them.
    """

    spec = HETERO_LINEAR
    local_objective = SQUARED

    def inverse_link(self, u: np.ndarray) -> np.ndarray:
        """The prediction from the federated linear predictor ``u``.

        Parameters
        ----------
        u
            The linear predictor of each row (the parties' partial scores summed).

        Returns
        -------
        numpy.ndarray
            The prediction of each row (``u`` itself: the link is the identity).
        """
        return identity(u)

    def _score_metric(self, truth: np.ndarray, predictions: np.ndarray) -> float:
        return r2_score(truth, predictions)

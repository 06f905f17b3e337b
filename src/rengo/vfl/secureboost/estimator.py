"""A scikit-learn-like front end that simulates SecureBoost in one process.

``fit`` aligns the parties' rows by private set intersection and runs the very role
functions a deployment runs, through the vertical runner, on an in-process bus that records
every message. Its keyword arguments are :class:`~rengo.vfl.secureboost.config.SecureBoostConfig`'s
fields, with the same defaults.

>>> model = HeteroSecureBoost(key_bits=1024, n_trees=5, max_depth=3)  # doctest: +SKIP
>>> model.fit({"bank": (ids_b, X_b), "card": (ids_c, X_c)}, label_party="card", y=y_c)
>>> ids, p = model.predict_proba({"bank": (new_b, Xn_b), "card": (new_c, Xn_c)})
"""

from __future__ import annotations

import numpy as np

from rengo.core.roles import COORDINATOR
from rengo.vfl.estimator import VerticalEstimator
from rengo.vfl.secureboost.algorithm import SECUREBOOST
from rengo.vfl.secureboost.model import (
    FeatureImportance,
    SecureBoostGuestModel,
    SecureBoostHostModel,
    SecureBoostReport,
)


class HeteroSecureBoost(VerticalEstimator):
    """SecureBoost (vertical gradient-boosted trees over Paillier), simulated in one process.

    The protocol is :mod:`rengo.vfl.secureboost.protocol`: the label party holds the labels
    and (by default) the key pair, feature parties hold columns and their own splits.
    ``objective`` picks binary (``predict_proba`` gives P(y = 1) in column 1), multiclass
    (class codes 0..K-1) or regression (``predict`` gives values); every ``predict*``
    returns the scored IDs with the predictions (:class:`~rengo.vfl.VerticalPredictions`).
    Empty cells (NaN) are allowed: each split learns where missing values go. ``key_bits``
    below 2048 are for tests and benchmarks only; ``seed`` fixes PSI's row order, the
    held-out and subsampled rows; ``key_seed`` makes the key pair reproducible with an
    insecure generator (tests only). Every option of
    :class:`~rengo.vfl.secureboost.config.SecureBoostConfig` is a
    keyword argument.
    """

    spec = SECUREBOOST

    @property
    def guest_model_(self) -> SecureBoostGuestModel:
        """The label party's model: trees, starting score, losses."""
        model = self.models_[self.label_party_]
        assert isinstance(model, SecureBoostGuestModel)
        return model

    @property
    def host_models_(self) -> dict[str, SecureBoostHostModel]:
        """Each feature party's splits (only a simulation can gather them)."""
        return {name: self.models_[name] for name in self.hosts_}

    @property
    def coordinator_report_(self) -> SecureBoostReport:
        """Trees grown and values the coordinator decrypted (masked, if it holds the key)."""
        report = self.models_[COORDINATOR]
        assert isinstance(report, SecureBoostReport)
        return report

    @property
    def classes_(self) -> np.ndarray:
        """The class codes, in the order of :meth:`predict_proba`'s columns: ``[0, 1]`` for
        ``objective="binary"``, ``0..K-1`` for ``"multiclass"``.

        Raises
        ------
        AttributeError
            For ``objective="regression"`` (a regressor has no classes, as in
            scikit-learn).
        """
        model = self.guest_model_
        if model.objective == "regression":
            raise AttributeError(
                "HeteroSecureBoost(objective='regression') predicts values and has no classes_"
            )
        return np.arange(max(2, model.outputs), dtype=np.int64)

    @property
    def n_trees_(self) -> int:
        """Trees grown (fewer than ``n_trees`` after early stopping)."""
        return self.guest_model_.n_trees

    @property
    def train_losses_(self) -> list[float]:
        """The training loss after each round."""
        return list(self.guest_model_.train_losses)

    @property
    def validation_losses_(self) -> list[float]:
        """The held-out loss after each round (empty without ``validation_fraction``)."""
        return list(self.guest_model_.validation_losses)

    @property
    def best_round_(self) -> int:
        """The round (1-based) with the lowest held-out loss, or the lowest training loss
        without ``validation_fraction`` (XGBoost's ``best_iteration + 1``). Early stopping
        keeps the ``n_iter_no_change`` trees grown after it, as scikit-learn's
        HistGradientBoosting does."""
        return self.guest_model_.best_round

    @property
    def feature_importances_(self) -> list[FeatureImportance]:
        """Split count and total gain per column, as the label party sees them (a feature
        party's columns by party and anonymous id)."""
        return self.guest_model_.feature_importances()

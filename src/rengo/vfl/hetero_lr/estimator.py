"""A scikit-learn-like front end that simulates coordinated hetero LR in one process.

``fit`` aligns the parties' rows with private set intersection, then runs the role functions
a deployment runs (:func:`~rengo.vfl.hetero_lr.roles.hetero_lr_coordinator`,
``hetero_lr_guest``, ``hetero_lr_host``, through the vertical runner) on an in-process
:class:`~rengo.transport.channel.LocalBus` that records every message, so privacy tests can
inspect exactly what each role sent. Its keyword arguments are
:class:`~rengo.vfl.hetero_lr.config.HeteroLRConfig`'s fields, with the same defaults.

>>> model = HeteroLogisticRegression(key_bits=1024, epochs=10, l2=0.01)  # doctest: +SKIP
>>> model.fit({"bank": (ids_b, X_b), "card": (ids_c, X_c)}, label_party="card", y=y_c)
>>> ids, p = model.predict_proba({"bank": (new_b, Xn_b), "card": (new_c, Xn_c)})
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rengo.core.roles import COORDINATOR
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.vfl.common import PartyInput, VerticalDataset
from rengo.vfl.divergence import loss_rose
from rengo.vfl.estimator import VerticalEstimator
from rengo.vfl.hetero_lr.algorithm import HETERO_LR
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.math import sigmoid
from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR, LocalObjective
from rengo.vfl.hetero_lr.one_vs_rest import class_matrix
from rengo.vfl.hetero_lr.roles import CoordinatorReport, GuestModel, HostModel
from rengo.vfl.predictions import VerticalPredictions
from rengo.vfl.registry import Output
from rengo.vfl.selection_settings import SelectionSettings


def convergence_problem(model: GuestModel, config: LinearModelConfig) -> str | None:
    """Why training ended before the loss converged, or ``None`` when it converged (or
    cannot tell: no loss computed, or ``tol = 0``, which trains every epoch on purpose).

    Parameters
    ----------
    model
        The label party's trained model: its epoch losses and whether it converged.
    config
        The run's settings (``tol``, ``epochs``, ``learning_rate``, ``compute_loss``).
    """
    losses = model.losses
    if not losses or not config.compute_loss:
        return None
    rose = loss_rose(losses, config.learning_rate)
    if rose is not None:
        return rose
    if config.tol > 0 and not model.converged and model.epochs_run >= config.epochs:
        return (
            f"the loss had not converged after epochs={config.epochs} (it still improved by "
            f"tol={config.tol:g} or more within n_iter_no_change={config.n_iter_no_change} "
            "epochs); raise epochs, or learning_rate"
        )
    return None


class CoordinatedLinearModel(VerticalEstimator):
    """What every coordinated hetero linear model's estimator shows after ``fit``: each
    party's weights, the guest's losses, the coordinator's report, and ``score``.

    Subclasses name their algorithm (``spec``), the loss in
    plaintext (``local_objective``: the label party trains its own columns alone with it,
    e.g. the empty coalition of vertical party contribution) and the inverse link.
    """

    local_objective: ClassVar[LocalObjective]

    def inverse_link(self, u: np.ndarray) -> np.ndarray:
        """The prediction from the federated linear predictor ``u`` (``sigmoid`` for LR).

        Parameters
        ----------
        u
            The linear predictor of each row (the parties' partial scores summed).

        Returns
        -------
        numpy.ndarray
            The prediction of each row (the model's inverse link of ``u``).
        """
        raise NotImplementedError

    def fit(
        self,
        data: VerticalDataset | PartyInput,
        label_party: str | None = None,
        y: Any = None,
        *,
        labels: Mapping[str, Any] | None = None,
        selection: SelectionSettings | None = None,
    ) -> CoordinatedLinearModel:
        """Train as :meth:`VerticalEstimator.fit` does, then warn, as scikit-learn's solvers
        do, when the loss had not converged by the last epoch.

        Parameters
        ----------
        data
            A :class:`~rengo.vfl.common.VerticalDataset`, or ``{name: (ids, X)}``: each
            party's row IDs and its own columns.
        label_party
            The party holding the labels (needed with a mapping).
        y
            Labels, one per row of the label party, in its rows' order (needed with a
            mapping).
        labels
            Labels of other parties: refused, these models train on the label party's.
        selection
            Select columns by IV before training (see :meth:`VerticalEstimator.fit`).

        Returns
        -------
        CoordinatedLinearModel
            ``self``, fitted.

        Raises
        ------
        DataError
            Without labels, when the parties share no IDs, or for an empty cell under
            ``missing="refuse"`` (naming the party and column).
        ConfigError
            For other parties' ``labels``, a feature party with at least as many columns as
            the smallest batch has rows, ``resume`` without ``checkpoints``, a run id that
            is not there, or a checkpointed run of other settings.

        Warns
        -----
        ConvergenceWarning
            When ``epochs`` ran out before the loss stopped improving by ``tol``, or the
            loss ended higher than it began (too high a ``learning_rate`` diverges).
        """
        super().fit(data, label_party, y, labels=labels, selection=selection)
        problem = convergence_problem(self.guest_model_, self.config)
        if problem is not None:
            # imported here: scikit-learn costs ~2 s to import (see not_fitted_error)
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"{type(self).__name__}: {problem}", ConvergenceWarning, stacklevel=2)
        return self

    @property
    def guest_model_(self) -> GuestModel:
        """The label party's model (weights, intercept, losses)."""
        model = self.models_[self.label_party_]
        assert isinstance(model, GuestModel)
        return model

    @property
    def host_models_(self) -> dict[str, HostModel]:
        """Each feature party's weights (only a simulation can gather them)."""
        return {name: self.models_[name] for name in self.hosts_}

    @property
    def coordinator_report_(self) -> CoordinatorReport:
        """How many masked values the coordinator decrypted, over how many epochs."""
        report = self.models_[COORDINATOR]
        assert isinstance(report, CoordinatorReport)
        return report

    @property
    def losses_(self) -> list[float]:
        """The loss of every epoch run (the Taylor loss for LR)."""
        return list(self.guest_model_.losses)

    @property
    def n_epochs_(self) -> int:
        """Epochs run (fewer than ``epochs`` after early stopping)."""
        return self.guest_model_.epochs_run

    @property
    def _keypair(self) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
        self._require_fitted()
        keys: tuple[PaillierPublicKey, PaillierPrivateKey] = self._keys[COORDINATOR]
        return keys

    def coefficients(self) -> dict[str, np.ndarray]:
        """Every party's weights (only a simulation can gather them in one place).

        Returns
        -------
        dict[str, numpy.ndarray]
            Party name -> its weights, one per column it holds (the label party first);
            one-vs-rest, a matrix of one row per column and one column per class.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        classes = self.guest_model_.classes
        weights = {
            self.label_party_: self.guest_model_.weights,
            **{name: m.weights for name, m in self.host_models_.items()},
        }
        if classes == 1:
            return weights
        return {name: class_matrix(w, classes) for name, w in weights.items()}

    def intercepts(self) -> float | np.ndarray:
        """The label party's intercept, or one-vs-rest one per class.

        Returns
        -------
        float or numpy.ndarray
            The intercept (a binary model), or the K class models' intercepts.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        model = self.guest_model_
        return model.intercept if model.intercepts is None else model.intercepts.copy()


class HeteroLogisticRegression(CoordinatedLinearModel):
    """Coordinated vertical logistic regression over Paillier, simulated in one process.

    The protocol is :mod:`rengo.vfl.hetero_lr.roles`.
    ``l2`` is the weight of ``l2/2 * ||w||^2`` on the mean loss, i.e. scikit-learn's
    ``C = 1 / (n_rows * l2)``. ``key_bits`` below 2048 are for tests and benchmarks only.
    ``seed`` fixes the batch order and PSI's row order (not keys, not masks);
    ``key_seed`` makes the key pair reproducible with an insecure generator (tests only).
    ``obfuscator_source="coordinator"`` lets the key holder deal encryption randomness
    (faster; see :mod:`rengo.crypto.dealing` for the trust it needs). Every option of
    :class:`~rengo.vfl.hetero_lr.config.HeteroLRConfig` is a keyword argument.

    Training runs until the Taylor loss stops improving by ``tol`` (for
    ``n_iter_no_change`` epochs), after ``epochs`` (default 100) at most; ``n_epochs_``
    says how many ran. ``optimizer="auto"`` (default) trains a table that fits in one batch
    with full-batch Newton-CG (:mod:`rengo.vfl.hetero_lr.newton`: Hessian-vector products
    under encryption, each party preconditioning with its own Hessian block), larger ones
    with mini-batch Adam; ``optimizer="newton"`` forces Newton-CG. ``missing="zero"`` or
    ``"mean"`` fills each party's own empty cells locally (the fill values stay in its
    model and fill its scoring rows); the default refuses them, naming the party and column.

    Labels of K > 2 classes (codes ``0..K-1``) train K one-vs-rest models in the same
    protocol passes (``multi_class="auto"``, default; ``"ovr"`` also for two classes; see
    :mod:`rengo.vfl.hetero_lr.one_vs_rest`): ``predict_proba`` then gives K columns,
    normalised across classes as scikit-learn's ``OneVsRestClassifier``, ``predict`` the
    most probable class, and ``losses_`` the mean of the K binary Taylor losses.
    """

    spec = HETERO_LR
    local_objective = LOGISTIC_TAYLOR
    codes_labels = True

    def inverse_link(self, u: np.ndarray) -> np.ndarray:
        """The prediction from the federated linear predictor ``u``.

        Parameters
        ----------
        u
            The linear predictor of each row (the parties' partial scores summed).

        Returns
        -------
        numpy.ndarray
            The prediction of each row (P(y = 1): ``sigmoid(u)``).
        """
        return sigmoid(u)

    @property
    def classes_(self) -> np.ndarray:
        """The classes, in the order of :meth:`predict_proba`'s columns: the sorted labels
        ``fit`` was given (text, or codes with gaps, as scikit-learn's), else ``[0, 1]``
        for a binary model and the class codes ``0..K-1`` for one trained one-vs-rest."""
        self._require_fitted()
        return self._label_classes_or(np.arange(max(2, self.guest_model_.classes), dtype=np.int64))

    def prediction_output(self) -> Output:
        """``"probabilities"`` (a row of class probabilities) once fitted one-vs-rest on
        labels of K classes (or with ``multi_class="ovr"``), else ``"probability"``
        (``P(y = 1)``).

        Returns
        -------
        Output
            What :meth:`predict_raw` gives per row.
        """
        if self._models is not None and self.guest_model_.classes > 1:
            return "probabilities"
        return super().prediction_output()

    def predict_scores(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> VerticalPredictions:
        """``(ids, P(y=1))`` for the rows every party holds, in the label party's row order
        (one-vs-rest: a row of K class probabilities per ID).

        Parameters
        ----------
        data
            The rows to score, per party (the same parties as in training).
        label_party
            The label party (default: training's).

        Returns
        -------
        VerticalPredictions
            The scored IDs and their probabilities.
        """
        return self.predict_raw(data, label_party)

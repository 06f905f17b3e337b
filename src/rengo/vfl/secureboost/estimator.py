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

from collections.abc import Iterable
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.core.roles import COORDINATOR
from rengo.data.labels import class_list
from rengo.vfl.estimator import VerticalEstimator
from rengo.vfl.party_model_file import training_runs_differ
from rengo.vfl.secureboost.algorithm import SECUREBOOST
from rengo.vfl.secureboost.model import (
    FeatureImportance,
    SecureBoostGuestModel,
    SecureBoostHostModel,
    SecureBoostReport,
)
from rengo.vfl.secureboost.model_file import StoredPartyModel


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
    codes_labels = True

    @classmethod
    def from_party_models(
        cls, models: Iterable[StoredPartyModel], **params: Any
    ) -> HeteroSecureBoost:
        """A fitted estimator from every party's stored model (as
        :func:`~rengo.vfl.secureboost.read_party_model` or
        :func:`~rengo.tracking.load_secureboost` give them), which scores new rows with
        ``predict`` / ``predict_proba`` exactly as the estimator that trained them did:
        both parties are needed, as in training, and each routes rows through its own
        splits only.

        Parameters
        ----------
        models
            One stored model per party: the label party's trees and each feature party's
            splits, all of the same run.
        **params
            Run settings (``use_psi``, ``seed``, ``progress``...).

        Returns
        -------
        HeteroSecureBoost
            Fitted with those models (no keys: scoring needs none).

        Raises
        ------
        DataError
            If no or two models hold trees, the models name different label parties,
            training runs (the token a deployed run's files name) or tree counts, a party
            is given twice, or a tree has a node of a party whose splits do not hold it.
        """
        by_party: dict[str, StoredPartyModel] = {}
        for stored in models:
            if stored.party in by_party:
                raise DataError(f"the model of party {stored.party!r} is given twice")
            by_party[stored.party] = stored
        guests = [m for m in by_party.values() if isinstance(m.model, SecureBoostGuestModel)]
        if len(guests) != 1:
            raise DataError(
                f"scoring needs the label party's trees exactly once, got {len(guests)} "
                f"among the models of {sorted(by_party)}"
            )
        guest = guests[0]
        assert isinstance(guest.model, SecureBoostGuestModel)
        others = {m.label_party for m in by_party.values()} - {guest.party}
        if others:
            raise DataError(
                f"these models come from different runs: the label party holds the trees "
                f"of {guest.party!r}, other files name the label party {sorted(others)}"
            )
        runs = training_runs_differ({name: m.training_run for name, m in by_party.items()})
        if runs is not None:  # trees of the same shape would route rows through others' splits
            raise DataError(f"these models come from different training runs ({runs})")
        hosts = {name: m.model for name, m in by_party.items() if name != guest.party}
        _check_hosts_own_their_nodes(guest.party, guest.model, hosts)
        model = guest.model
        estimator = cls(
            objective=model.objective,
            learning_rate=model.learning_rate,
            max_depth=model.max_depth,
            n_trees=max(1, model.n_trees),
            **params,
        )
        estimator.label_party_, estimator.hosts_ = guest.party, sorted(hosts)
        estimator._models = {guest.party: model, **hosts}
        estimator._label_classes = None if model.classes is None else np.asarray(model.classes)
        return estimator

    def _check_label_classes(self, label_party: str, classes: np.ndarray) -> None:
        """Also refuse more than two labels for ``objective="binary"``, naming them (their
        codes would say nothing to the user)."""
        if self.config.objective == "binary" and len(classes) > 2:
            raise DataError(
                f"{label_party}: objective 'binary' needs two classes, found {len(classes)} "
                f"distinct labels ({class_list(classes.tolist(), 6)}); use "
                "objective='multiclass' for more classes"
            )
        super()._check_label_classes(label_party, classes)

    def _keep_label_classes(self) -> None:
        """The label party's model keeps the labels of its codes, so that its file (the
        label party's own; a feature party's gets none) predicts them once read back."""
        classes = getattr(self, "_label_classes", None)
        if classes is not None:
            guest = self.guest_model_.with_classes(classes.tolist())
            self._models = {**self.models_, self.label_party_: guest}

    def first_trees(self, n_trees: int) -> HeteroSecureBoost:
        """A fitted copy that predicts with the first ``n_trees`` trees only (XGBoost's
        ``iteration_range=(0, n_trees)``): ``model.first_trees(model.best_round_)`` scores
        with the best round's ensemble after early stopping, which keeps the
        ``n_iter_no_change`` trees grown after it. ``self`` is left as it is.

        Parameters
        ----------
        n_trees
            How many of the first trees the copy keeps, at most every tree fitted.

        Returns
        -------
        HeteroSecureBoost
            The copy (its ``n_trees_`` is ``n_trees``).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ConfigError
            Unless ``1 <= n_trees <= n_trees_``.
        """
        self._require_fitted()
        models: dict[str, Any] = {self.label_party_: self.guest_model_.first_trees(n_trees)}
        models.update({name: m.first_trees(n_trees) for name, m in self.host_models_.items()})
        copy = type(self)(**self.get_params())
        copy.label_party_, copy.hosts_ = self.label_party_, list(self.hosts_)
        copy._models = models
        copy._keys = dict(self._keys)
        copy._label_classes = getattr(self, "_label_classes", None)
        return copy

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
        report = self.models_.get(COORDINATOR)
        if report is None:  # built from stored party models: no coordinator took part
            raise AttributeError("coordinator_report_ is set by fit, not by from_party_models")
        assert isinstance(report, SecureBoostReport)
        return report

    @property
    def classes_(self) -> np.ndarray:
        """The classes, in the order of :meth:`predict_proba`'s columns: the sorted labels
        ``fit`` was given (text, or codes with gaps, as scikit-learn's), else the class
        codes ``[0, 1]`` for ``objective="binary"`` and ``0..K-1`` for ``"multiclass"``.

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
        return self._label_classes_or(np.arange(max(2, model.outputs), dtype=np.int64))

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
        HistGradientBoosting does, and ``predict`` uses every tree kept;
        ``first_trees(best_round_)`` is the best round's ensemble."""
        return self.guest_model_.best_round

    @property
    def feature_importances_(self) -> list[FeatureImportance]:
        """Split count and total gain per column, as the label party sees them (a feature
        party's columns by party and anonymous id)."""
        return self.guest_model_.feature_importances()


def _check_hosts_own_their_nodes(
    label_party: str, guest: SecureBoostGuestModel, hosts: dict[str, Any]
) -> None:
    """Every feature party's node of the trees is in that party's splits, and the parties
    grew as many trees (models of other runs would route rows by wrong columns).

    Raises
    ------
    DataError
        Naming the party, tree and node at fault.
    """
    for name, host in hosts.items():
        if not isinstance(host, SecureBoostHostModel):
            raise DataError(f"{name}: a feature party's model holds splits, not trees")
        if host.n_trees != guest.n_trees:
            raise DataError(
                f"{name}'s splits are of {host.n_trees} trees, the label party's model has "
                f"{guest.n_trees}: these models come from different runs"
            )
    lookups = {name: host.lookup() for name, host in hosts.items()}
    for t, tree in enumerate(guest.trees):
        for node in tree:
            if node.is_leaf or node.owner == label_party:
                continue
            if node.owner not in lookups:
                raise DataError(
                    f"tree {t} has a node of party {node.owner!r}, whose model was not given"
                )
            if (t, node.node) not in lookups[node.owner]:
                raise DataError(
                    f"tree {t}, node {node.node} is {node.owner!r}'s, but its splits do not "
                    "hold it: these models come from different runs"
                )

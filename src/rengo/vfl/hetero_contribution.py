"""Coalition values for vertical-FL party contribution: the validation score of a
coordinated hetero linear model (LR, linear or Poisson regression) retrained on the label
party's columns plus those of a coalition of feature parties.

This is the value function of the party Shapley values of Wang 2019 ("Interpret Federated
Learning with Shapley Values", arXiv:1905.04519), with the retraining variant: each
coalition's model is trained again through the protocol instead of masking the absent
parties' features in one trained model. What each value needs is what the roles already
produce: the federated scores of the validation customers arrive at the label party, which
holds the labels and computes the metric. No raw column or label moves; each coalition's
run sends exactly what an ordinary training and scoring run of that coalition sends, so the
parties learn what 2^k such runs reveal (e.g. the label party sees the scores of a model on
its own and one host's columns, not only those of the full model).

Every coalition is trained and scored on the same customers, those every party holds (the
grand coalition's private set intersection, which the label party learns anyway), so score
differences measure columns and not populations. The label party alone (the empty
coalition) cannot run the protocol, which needs a host; it trains the same model locally on
its own columns and labels with the protocol's plaintext math (same Taylor loss, batch
order, optimizer and stopping rule), which moves no data at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.metrics import BINARY_SCORERS, REGRESSION_SCORERS, BinaryScorer
from rengo.vfl.common import PartyTable, VerticalDataset, align_rows, batch_order
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.estimator import CoordinatedLinearModel
from rengo.vfl.hetero_lr.math import init_optimizer, sigmoid
from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR, LocalObjective, check_labels
from rengo.vfl.hetero_lr.roles import (
    GuestModel,
    gradient_step,
    guest_model,
    loss_converged,
    penalty_mask,
)

ModelFactory = Callable[[], CoordinatedLinearModel]
"""Makes a fresh, unfitted model (fresh key pair) for one coalition's retraining."""

Scorer = BinaryScorer
"""A validation score from 0/1 labels and P(y = 1); higher is better."""

SCORERS = BINARY_SCORERS
"""Metrics the label party can compute from its labels and the federated scores."""


@dataclass(frozen=True)
class CoalitionScore:
    """One evaluated coalition: its feature parties, validation score and cost.

    ``federated`` is False for the label party alone, trained locally (see module doc)."""

    hosts: tuple[str, ...]
    score: float
    train_rows: int
    scored_rows: int
    federated: bool
    seconds: float


def train_guest_alone(
    features: np.ndarray,
    labels: np.ndarray,
    config: LinearModelConfig,
    seed: int,
    objective: LocalObjective = LOGISTIC_TAYLOR,
) -> GuestModel:
    """The label party's model on its own columns: the plaintext twin of ``hetero_lr_guest``
    (or the linear / Poisson guest, by ``objective``) with zero hosts (same residual, batch
    order, L2, optimizer and early stopping).

    Parameters
    ----------
    features, labels
        The label party's rows and labels.
    config
        The model's settings.
    seed
        The batch order's seed.
    objective
        The loss (default hetero LR's Taylor loss).

    Returns
    -------
    GuestModel
        Its coefficients, intercept and per-epoch losses.

    Raises
    ------
    DataError
        For features that are not 2-D or labels the objective does not take.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if objective.labels == "binary":
        if x.ndim != 2 or y.shape != (len(x),) or not np.isin(y, (0.0, 1.0)).all():
            raise DataError("need 2-D features and a 0/1 label per row")
    elif x.ndim != 2:
        raise DataError(f"need 2-D features, got shape {x.shape}")
    else:
        y = check_labels(y, objective.labels, len(x), "label party")
    if config.fit_intercept:
        x = np.hstack([x, np.ones((len(x), 1))])
    weights = np.zeros(x.shape[1])
    penalised = penalty_mask(x.shape[1], config.fit_intercept)
    state = init_optimizer(x.shape[1])
    losses: list[float] = []
    converged = False
    epochs_run = 0
    for epoch in range(config.epochs):
        loss_sum = 0.0
        for rows in batch_order(seed, epoch, len(x), config.batch_size):
            xb, yb = x[rows], y[rows]
            u = xb @ weights
            loss_sum += objective.batch_loss(u, yb)
            weights, state = gradient_step(
                weights, objective.residual(u, yb) @ xb, len(rows), state, config, epoch, penalised
            )
        epochs_run = epoch + 1
        if config.compute_loss:
            losses.append(objective.constant + loss_sum / len(x))
            if loss_converged(losses, config.tol):
                converged = True
                break
    return guest_model(weights, config, losses, epochs_run, converged)


def guest_alone_scores(
    model: GuestModel,
    features: np.ndarray,
    inverse_link: Callable[[np.ndarray], np.ndarray] = sigmoid,
) -> np.ndarray:
    """``P(y = 1)`` of the label party's own model on its rows (or, with another
    ``inverse_link``, that model's prediction)."""
    return inverse_link(np.asarray(features, dtype=np.float64) @ model.weights + model.intercept)


def _restrict_label_party(dataset: VerticalDataset, rows: np.ndarray) -> VerticalDataset:
    """The dataset with the label party's table (and labels) cut to ``rows``, in that order."""
    guest = dataset.label_party
    table = dataset.parties[guest]
    kept = PartyTable(np.asarray(table.ids)[rows], table.features[rows])
    labels = None if dataset.labels is None else np.asarray(dataset.labels)[rows]
    return VerticalDataset({**dataset.parties, guest: kept}, guest, labels)


def _labels(dataset: VerticalDataset, what: str, binary: bool) -> np.ndarray:
    if dataset.labels is None:
        raise DataError(f"{what} needs labels at the label party {dataset.label_party!r}")
    labels = np.asarray(dataset.labels, dtype=np.float64)
    if binary and not np.isin(labels, (0.0, 1.0)).all():
        raise DataError(f"{what} labels must be 0/1")
    return labels


@dataclass
class CoalitionValue:
    """``value(S)`` for a set ``S`` of host indices (into :attr:`hosts`): the ``metric`` on
    ``validation`` of a model retrained on the label party plus ``S``'s columns.

    Each coalition is retrained once (memoised) with a fresh model from ``make_model``;
    :attr:`scores` keeps every evaluation in the order made. ``seed`` fixes the private set
    intersections and, when the model has no seed of its own, the local model's batch order.
    """

    train: VerticalDataset
    validation: VerticalDataset
    make_model: ModelFactory
    metric: str = "auc"
    seed: int = 0
    scores: list[CoalitionScore] = field(default_factory=list, init=False)
    _cache: dict[frozenset[int], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        probe = self.make_model()
        if not isinstance(probe, CoordinatedLinearModel):
            raise ConfigError(
                "make_model must return a coordinated hetero linear model (hetero LR, linear "
                "or Poisson regression)"
            )
        self._binary = probe.spec.output_of(probe.config) == "probability"
        self._scorers = SCORERS if self._binary else REGRESSION_SCORERS
        if self.metric not in self._scorers:
            raise ConfigError(
                f"unknown metric {self.metric!r} for {probe.spec.name}; choose one of "
                f"{sorted(self._scorers)}"
            )
        self._objective, self._inverse_link = probe.local_objective, probe.inverse_link
        if self.train.label_party != self.validation.label_party:
            raise ConfigError("training and validation data name different label parties")
        if set(self.train.parties) != set(self.validation.parties):
            raise ConfigError(
                f"training parties {sorted(self.train.parties)} differ from validation "
                f"parties {sorted(self.validation.parties)}"
            )
        _labels(self.train, "training", self._binary)
        _labels(self.validation, "validation", self._binary)
        self._config, self._use_psi = probe.config, probe.use_psi
        self._batch_seed = probe.seed if probe.seed is not None else self.seed
        self._train = self._common(self.train, "training")
        self._validation = self._common(self.validation, "validation")
        self._labels_by_id = dict(
            zip(
                np.asarray(self._validation.parties[self.label_party].ids).tolist(),
                np.asarray(self._validation.labels).tolist(),
                strict=True,
            )
        )

    @property
    def label_party(self) -> str:
        """The party holding the labels (always in every coalition)."""
        return self.train.label_party

    @property
    def hosts(self) -> list[str]:
        """The feature parties, the players of the game, in a fixed order."""
        return self.train.hosts

    def _common(self, dataset: VerticalDataset, what: str) -> VerticalDataset:
        """Cut the label party to the customers every party holds (the PSI it leads)."""
        rows, _ = align_rows(dataset, use_psi=self._use_psi, seed=self.seed)
        guest_rows = np.sort(rows[dataset.label_party])
        labels = np.asarray(dataset.labels)[guest_rows]
        if self._binary and len(np.unique(labels)) < 2:
            raise DataError(f"the {what} customers every party holds have only one class")
        return _restrict_label_party(dataset, guest_rows)

    def __call__(self, coalition: frozenset[int]) -> float:
        cached = self._cache.get(coalition)
        if cached is not None:
            return cached
        if any(not 0 <= i < len(self.hosts) for i in coalition):
            raise ConfigError(f"coalition {sorted(coalition)} names no host of {self.hosts}")
        names = tuple(self.hosts[i] for i in sorted(coalition))
        started = time.perf_counter()
        if names:
            score, scored = self._federated_score(names)
        else:
            score, scored = self._guest_alone_score()
        self.scores.append(
            CoalitionScore(
                names,
                score,
                len(self._train.parties[self.label_party].ids),
                scored,
                bool(names),
                time.perf_counter() - started,
            )
        )
        self._cache[coalition] = score
        return score

    def _subset(self, dataset: VerticalDataset, names: Sequence[str]) -> VerticalDataset:
        guest = self.label_party
        kept = {guest: dataset.parties[guest], **{n: dataset.parties[n] for n in names}}
        return VerticalDataset(kept, guest, dataset.labels)

    def _federated_score(self, names: Sequence[str]) -> tuple[float, int]:
        """Retrain through the protocol; the label party scores the federated predictions."""
        model = self.make_model().fit(self._subset(self._train, names))
        ids, predictions = model.predict_raw(self._subset(self._validation, names))
        truth = np.array([self._labels_by_id[i] for i in np.asarray(ids).tolist()])
        return self._scorers[self.metric](truth, predictions), len(truth)

    def _guest_alone_score(self) -> tuple[float, int]:
        """The label party alone: local training and scoring on its own columns."""
        guest = self.label_party
        model = train_guest_alone(
            self._train.parties[guest].features,
            np.asarray(self._train.labels),
            self._config,
            self._batch_seed,
            self._objective,
        )
        truth = np.asarray(self._validation.labels, dtype=np.float64)
        predictions = guest_alone_scores(
            model, self._validation.parties[guest].features, self._inverse_link
        )
        return self._scorers[self.metric](truth, predictions), len(truth)


def scores_as_dict(scores: Sequence[CoalitionScore]) -> list[dict[str, Any]]:
    """Plain types only, for JSON reports."""
    return [
        {
            "hosts": list(s.hosts),
            "score": s.score,
            "train_rows": s.train_rows,
            "scored_rows": s.scored_rows,
            "federated": s.federated,
            "seconds": s.seconds,
        }
        for s in scores
    ]

"""Coalition values for vertical-FL party contribution, for every registered algorithm: the
validation score of a model retrained on the label party's columns plus those of a
coalition of feature parties.

This is the value function of the party Shapley values of Wang 2019 ("Interpret Federated
Learning with Shapley Values", arXiv:1905.04519), with the retraining variant: each
coalition's model is trained again through the protocol instead of masking the absent
parties' features in one trained model. What each value needs is what the roles already
produce: the federated predictions of the validation customers arrive at the label party,
which holds the labels and computes the metric. No raw column or label moves; each
coalition's run sends exactly what an ordinary training and scoring run of that coalition
sends, so the parties learn what 2^k such runs reveal (e.g. the label party sees the
predictions of a model on its own and one host's columns, not only those of the full model).

Any registered vertical algorithm works (hetero LR, SecureBoost, ...): the model comes from
``make_model`` (a :class:`~rengo.vfl.estimator.VerticalEstimator`), the metric fits what it
predicts (AUC, KS, log loss, accuracy for P(y = 1); accuracy and log loss for class
probabilities; R^2, negative RMSE and negative Poisson deviance for values).

Every coalition is trained and scored on the same customers, those every party holds (the
grand coalition's private set intersection, which the label party learns anyway), so score
differences measure columns and not populations. The label party alone (the empty
coalition) cannot run a protocol, which needs a host; it trains the algorithm's plaintext
twin on its own columns and labels (the registry's ``alone`` hook: same math, no message),
or, for an algorithm without one, predicts a constant (the training labels' base rate,
class shares or mean), which is what a model with no column can do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.metrics import (
    BINARY_SCORERS,
    REGRESSION_SCORERS,
    BinaryScorer,
    accuracy,
    poisson_deviance,
    r2_score,
    rmse,
)
from rengo.vfl.common import PartyTable, VerticalDataset, align_rows
from rengo.vfl.estimator import VerticalEstimator
from rengo.vfl.hetero_lr.local import guest_alone_scores, train_guest_alone
from rengo.vfl.registry import Output

ModelFactory = Callable[[], VerticalEstimator]
"""Makes a fresh, unfitted model (fresh key material) for one coalition's retraining."""

Scorer = Callable[[np.ndarray, np.ndarray], float]
"""A validation score from true labels and predictions; higher is better."""


def _class_accuracy(truth: np.ndarray, probabilities: np.ndarray) -> float:
    return accuracy(truth.astype(np.int64), np.argmax(probabilities, axis=1))


def _class_neg_log_loss(truth: np.ndarray, probabilities: np.ndarray) -> float:
    rows = np.arange(len(truth))
    picked = np.clip(probabilities[rows, truth.astype(np.int64)], 1e-15, 1.0)
    return float(np.mean(np.log(picked)))


SCORERS_BY_OUTPUT: Mapping[str, Mapping[str, Scorer]] = MappingProxyType(
    {
        "probability": BINARY_SCORERS,
        "probabilities": MappingProxyType(
            {"accuracy": _class_accuracy, "neg_log_loss": _class_neg_log_loss}
        ),
        "classes": MappingProxyType({"accuracy": accuracy}),
        "values": REGRESSION_SCORERS,
    }
)
"""The metrics the label party can compute, by what the algorithm predicts (first: default)."""

ExposedScorer = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
"""A validation score from observed counts, predicted rates and exposures; higher is better."""


def _exposed_r2(counts: np.ndarray, rates: np.ndarray, exposure: np.ndarray) -> float:
    return r2_score(counts, exposure * rates)


def _exposed_neg_rmse(counts: np.ndarray, rates: np.ndarray, exposure: np.ndarray) -> float:
    return -rmse(counts, exposure * rates)


def _exposed_neg_poisson_deviance(
    counts: np.ndarray, rates: np.ndarray, exposure: np.ndarray
) -> float:
    return -poisson_deviance(counts / exposure, rates, sample_weight=exposure)


EXPOSED_SCORERS: Mapping[str, ExposedScorer] = MappingProxyType(
    {
        "r2": _exposed_r2,
        "neg_rmse": _exposed_neg_rmse,
        "neg_poisson_deviance": _exposed_neg_poisson_deviance,
    }
)
""":data:`REGRESSION_SCORERS` of a count model whose label party brought an exposure: R^2
and RMSE of the counts against the expected counts ``exposure * rate`` (a job run's
``rmse``), the Poisson deviance of the frequencies weighted by exposure (its
``poisson_deviance``, ``sum(deviance of the counts) / sum(exposure)``)."""

SCORERS: Mapping[str, BinaryScorer] = BINARY_SCORERS
"""Metrics for models that predict P(y = 1) (kept for existing callers)."""


def default_metric(output: Output) -> str:
    """The metric used when none is named: AUC, accuracy or R^2."""
    return next(iter(SCORERS_BY_OUTPUT[output]))


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


def _restrict_label_party(dataset: VerticalDataset, rows: np.ndarray) -> VerticalDataset:
    """The dataset with the label party's table (and labels and exposure) cut to ``rows``,
    in that order."""
    guest = dataset.label_party
    table = dataset.parties[guest]
    kept = PartyTable(np.asarray(table.ids)[rows], table.features[rows])
    labels = None if dataset.labels is None else np.asarray(dataset.labels)[rows]
    exposure = None if dataset.exposure is None else np.asarray(dataset.exposure)[rows]
    return VerticalDataset({**dataset.parties, guest: kept}, guest, labels, exposure=exposure)


def _checked_labels(dataset: VerticalDataset, what: str, output: Output) -> np.ndarray:
    if dataset.labels is None:
        raise DataError(f"{what} needs labels at the label party {dataset.label_party!r}")
    labels = np.asarray(dataset.labels, dtype=np.float64)
    if output == "probability" and not np.isin(labels, (0.0, 1.0)).all():
        raise DataError(f"{what} labels must be 0/1")
    if not np.isfinite(labels).all():
        raise DataError(f"{what} labels must be finite numbers")
    return labels


@dataclass
class CoalitionValue:
    """``value(S)`` for a set ``S`` of host indices (into :attr:`hosts`): the ``metric`` on
    ``validation`` of a model retrained on the label party plus ``S``'s columns.

    Each coalition is retrained once (memoised) with a fresh model from ``make_model``, any
    registered vertical algorithm's estimator; :attr:`scores` keeps every evaluation in the
    order made. ``metric`` defaults to the one that fits the model's predictions (see
    :data:`SCORERS_BY_OUTPUT`). ``seed`` fixes the private set intersections and, when the
    model has no seed of its own, the local twin's randomness.

    Where the label party brought an exposure (``train.exposure`` and
    ``validation.exposure``, a count model such as hetero Poisson regression), every
    coalition trains with it (the offset ``log(exposure)``), the label party alone too, and
    the predicted rates are scored against the counts with :data:`EXPOSED_SCORERS`.
    """

    train: VerticalDataset
    validation: VerticalDataset
    make_model: ModelFactory
    metric: str | None = None
    seed: int = 0
    scores: list[CoalitionScore] = field(default_factory=list, init=False)
    _cache: dict[frozenset[int], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        probe = self.make_model()
        if not isinstance(probe, VerticalEstimator):
            raise ConfigError(
                "make_model must return a vertical estimator (e.g. HeteroLogisticRegression "
                "or HeteroSecureBoost)"
            )
        spec = type(probe).spec
        self._spec, self._config, self._use_psi = spec, probe.config, probe.use_psi
        self._output: Output = spec.output_of(probe.config)
        known = SCORERS_BY_OUTPUT[self._output]
        if self.metric is None:
            self.metric = default_metric(self._output)
        if self.metric not in known:
            raise ConfigError(
                f"unknown metric {self.metric!r} for {spec.name}, which predicts "
                f"{self._output}; choose one of {sorted(known)}"
            )
        self._scorer = known[self.metric]
        if self.train.label_party != self.validation.label_party:
            raise ConfigError("training and validation data name different label parties")
        if set(self.train.parties) != set(self.validation.parties):
            raise ConfigError(
                f"training parties {sorted(self.train.parties)} differ from validation "
                f"parties {sorted(self.validation.parties)}"
            )
        _checked_labels(self.train, "training", self._output)
        _checked_labels(self.validation, "validation", self._output)
        self._exposed_scorer = self._check_exposure(spec.name)
        self._local_seed = probe.seed if probe.seed is not None else self.seed
        self._train = self._common(self.train, "training")
        self._validation = self._common(self.validation, "validation")
        validation_ids = np.asarray(self._validation.parties[self.label_party].ids).tolist()
        self._labels_by_id = dict(
            zip(validation_ids, np.asarray(self._validation.labels).tolist(), strict=True)
        )
        exposure = self._validation.exposure
        self._exposure_by_id = (
            {} if exposure is None else dict(zip(validation_ids, exposure.tolist(), strict=True))
        )

    def _check_exposure(self, algorithm: str) -> ExposedScorer | None:
        """The scorer of rates against counts over exposures, or None without an exposure.

        Raises
        ------
        ConfigError
            For an exposure in one of the two datasets only, or with an algorithm that
            takes none.
        """
        given = {
            what: data.exposure is not None
            for what, data in (("training", self.train), ("validation", self.validation))
        }
        if not any(given.values()):
            return None
        if not all(given.values()):
            missing = next(what for what, has in given.items() if not has)
            raise ConfigError(
                f"the label party {self.label_party!r} brought an exposure to one dataset "
                f"but not to the {missing} data: give both, or neither"
            )
        if self._spec.alone_exposed is None:
            raise ConfigError(
                f"{self.label_party}: {algorithm} takes no exposure (train hetero_poisson, "
                "or give no exposure)"
            )
        assert self.metric is not None
        return EXPOSED_SCORERS[self.metric]

    @property
    def label_party(self) -> str:
        """The party holding the labels (always in every coalition)."""
        return self.train.label_party

    @property
    def hosts(self) -> list[str]:
        """The feature parties, the players of the game, in name order (not the tables'
        order: sampled permutations are drawn over it, so the same seed gives the same
        estimate however the tables list the parties)."""
        return sorted(self.train.hosts)

    def _common(self, dataset: VerticalDataset, what: str) -> VerticalDataset:
        """Cut the label party to the customers every party holds (the PSI it leads)."""
        rows, _ = align_rows(dataset, use_psi=self._use_psi, seed=self.seed)
        guest_rows = np.sort(rows[dataset.label_party])
        labels = np.asarray(dataset.labels)[guest_rows]
        if self._output != "values" and len(np.unique(labels)) < 2:
            raise DataError(f"the {what} customers every party holds have only one class")
        return _restrict_label_party(dataset, guest_rows)

    def __call__(self, coalition: frozenset[int]) -> float:
        """The coalition's validation score, retrained once and then remembered."""
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
        return VerticalDataset(kept, guest, dataset.labels, exposure=dataset.exposure)

    def _federated_score(self, names: Sequence[str]) -> tuple[float, int]:
        """Retrain through the protocol; the label party scores the federated predictions."""
        model = self.make_model().fit(self._subset(self._train, names))
        ids, predictions = model.predict_raw(self._subset(self._validation, names))
        scored = np.asarray(ids).tolist()
        truth = np.array([self._labels_by_id[i] for i in scored])
        if self._exposed_scorer is not None:  # predictions are rates
            exposure = np.array([self._exposure_by_id[i] for i in scored])
            return self._exposed_scorer(truth, np.asarray(predictions), exposure), len(truth)
        return self._scorer(truth, predictions), len(truth)

    def _guest_alone_score(self) -> tuple[float, int]:
        """The label party alone: its algorithm's local twin, or a constant prediction."""
        guest = self.label_party
        features = self._train.parties[guest].features
        labels = np.asarray(self._train.labels, dtype=np.float64)
        rows = self._validation.parties[guest].features
        truth = np.asarray(self._validation.labels, dtype=np.float64)
        if self._exposed_scorer is not None:
            assert self._spec.alone_exposed is not None
            assert self._train.exposure is not None and self._validation.exposure is not None
            rates = self._spec.alone_exposed(
                self._config, features, labels, self._train.exposure, self._local_seed
            )(rows)
            return self._exposed_scorer(truth, rates, self._validation.exposure), len(truth)
        if self._spec.alone is not None:
            predictions = self._spec.alone(self._config, features, labels, self._local_seed)(rows)
        else:
            predictions = _constant_prediction(self._output, labels, len(rows))
        return self._scorer(truth, predictions), len(truth)


def _constant_prediction(output: Output, labels: np.ndarray, rows: int) -> np.ndarray:
    """What a model with no column predicts: base rate, class shares, mean or majority."""
    if output == "probability":
        return np.full(rows, labels.mean())
    if output == "values":
        return np.full(rows, labels.mean())
    shares = np.bincount(labels.astype(np.int64)) / len(labels)
    if output == "probabilities":
        return np.tile(shares, (rows, 1))
    return np.full(rows, int(np.argmax(shares)))


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


__all__ = [
    "EXPOSED_SCORERS",
    "SCORERS",
    "SCORERS_BY_OUTPUT",
    "CoalitionScore",
    "CoalitionValue",
    "ExposedScorer",
    "ModelFactory",
    "Scorer",
    "default_metric",
    "guest_alone_scores",
    "scores_as_dict",
    "train_guest_alone",
]

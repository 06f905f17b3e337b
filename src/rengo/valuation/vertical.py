"""Vertical-FL party contribution end to end: Shapley values of the feature parties of any
registered vertical model (hetero LR, SecureBoost, ...), by retraining each coalition
(Wang 2019, "Interpret Federated Learning with Shapley Values", arXiv:1905.04519).

The game's players are the feature (host) parties; the label party is in every coalition,
since without labels there is no model. ``v(S)`` is the validation score (AUC by default
for P(y = 1) models, accuracy for classes, R^2 for values) of the model retrained on the
label party plus ``S``'s columns, computed by the label party from the federated
predictions it receives anyway (see :mod:`rengo.vfl.hetero_contribution` for the value
function and the label-party-alone baseline). Up to ``exact_max_parties``
hosts every one of the 2^k coalitions is retrained and the values are exact; above that,
truncated Monte Carlo permutation sampling (Ghorbani & Zou 2019) retrains only the
coalitions the sampled permutations reach, and the values are estimates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.valuation.party_shapley import party_shapley
from rengo.valuation.stopping import StoppingCriterion, default_stopping
from rengo.valuation.tracker import ContributionReport
from rengo.vfl.common import VerticalDataset
from rengo.vfl.hetero_contribution import (
    CoalitionScore,
    CoalitionValue,
    ModelFactory,
    scores_as_dict,
)

EXACT_MAX_HOSTS = 6
"""Exact Shapley retrains 2^k coalitions: 64 trainings at 6 feature parties."""

DEFAULT_TMC_RULE = default_stopping(rtol=0.05, max_permutations=100)
"""When sampling stops above :data:`EXACT_MAX_HOSTS`: standard errors below 5 % of the
largest |value|, or 100 permutations (each can cost k retrainings, so the cap is lower than
for cheap value functions)."""


@dataclass(frozen=True)
class VerticalContribution:
    """Each feature party's Shapley value on a validation metric, with how it was computed.

    ``baseline`` is the label party alone, ``full`` every party together; for the exact
    method the values sum to ``full - baseline`` (efficiency). ``coalitions`` lists every
    retrained coalition with its score and time; ``seconds`` is the whole computation.
    """

    label_party: str
    metric: str
    values: dict[str, float]
    method: str
    approximation: str
    evaluations: int
    permutations: int
    baseline: float
    full: float
    coalitions: tuple[CoalitionScore, ...]
    seconds: float
    stderr: dict[str, float] = field(default_factory=dict)
    dof: dict[str, float] = field(default_factory=dict)
    truncation_settings: dict[str, float] = field(default_factory=dict)
    """The truncation the sampled (``vfl_tmc``) values were computed with (empty when every
    coalition was retrained): recorded as the report's ``approximation``."""

    def ranking(self) -> list[tuple[str, float]]:
        """Feature parties from most to least valuable (ties by name)."""
        return sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0]))

    def report(self) -> ContributionReport:
        """The values as a whole-run :class:`ContributionReport` (no rounds), the form
        :func:`rengo.tracking.record_contributions` stores."""
        return ContributionReport(
            self.method,
            dict(sorted(self.values.items())),
            (),
            self.evaluations,
            self.permutations,
            score_name=f"validation {self.metric}",
            stderr=dict(sorted(self.stderr.items())),
            dof=dict(sorted(self.dof.items())),
            approximation=dict(self.truncation_settings),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain types only, for JSON reports."""
        return {
            "label_party": self.label_party,
            "metric": self.metric,
            "values": dict(self.values),
            "method": self.method,
            "approximation": self.approximation,
            "evaluations": self.evaluations,
            "permutations": self.permutations,
            "baseline": self.baseline,
            "full": self.full,
            "coalitions": scores_as_dict(self.coalitions),
            "seconds": self.seconds,
            "stderr": dict(self.stderr),
        }


def vertical_party_contribution(
    dataset: VerticalDataset,
    validation: VerticalDataset,
    *,
    make_model: ModelFactory,
    metric: str | None = None,
    seed: int = 0,
    exact_max_parties: int = EXACT_MAX_HOSTS,
    truncation: float = 0.01,
    rule: StoppingCriterion | None = None,
    exact_when_cheaper: bool = True,
) -> VerticalContribution:
    """Shapley value of each feature party of ``dataset`` on ``validation``'s ``metric``.

    Parameters
    ----------
    dataset:
        The training consortium: the label party's table with labels and each feature
        party's table.
    validation:
        The same parties' tables of the validation customers, labelled at the label party.
    make_model:
        Makes the fresh, unfitted model each coalition retrains (a new key pair each): any
        vertical estimator (``HeteroLogisticRegression``, ``HeteroSecureBoost``,
        ``HeteroLinearRegression``, ``HeteroPoissonRegression``, ...).
    metric:
        A name in :data:`rengo.vfl.hetero_contribution.SCORERS_BY_OUTPUT` for what the model
        predicts (``auc``, ``ks``, ``neg_log_loss``, ``accuracy`` for P(y = 1); ``r2``,
        ``neg_rmse``, ``neg_poisson_deviance`` for values; default: the first), computed by
        the label party.
    seed:
        Fixes the private set intersections, the label party's local batch order when the
        model has no seed, and the permutations sampled above ``exact_max_parties`` hosts.
    exact_max_parties:
        Up to this many feature parties every coalition is retrained (exact values).
    truncation, rule, exact_when_cheaper:
        Truncated Monte Carlo settings above ``exact_max_parties``; ``rule`` defaults to
        :data:`DEFAULT_TMC_RULE`; sampling turns exact once that retrains fewer coalitions
        unless ``exact_when_cheaper`` is False.

    Returns
    -------
    VerticalContribution
        The values, how they were computed, and every retrained coalition's score.

    Raises
    ------
    ConfigError
        Unknown metric, or training and validation name different parties.
    DataError
        Missing labels (or not 0/1 for a P(y = 1) model), or one class only among the
        common customers.
    """
    started = time.perf_counter()
    value = CoalitionValue(dataset, validation, make_model, metric, seed)
    hosts = value.hosts
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5F1]))
    result = party_shapley(
        value,
        hosts,
        rng,
        exact_max_parties=exact_max_parties,
        truncation=truncation,
        rule=rule or DEFAULT_TMC_RULE,
        exact_when_cheaper=exact_when_cheaper,
    )
    everyone = value(frozenset(range(len(hosts))))
    alone = value(frozenset())
    coalitions = 2 ** len(hosts)
    if result.permutations == 0:
        approximation = f"exact: all {coalitions} coalitions of {len(hosts)} parties retrained"
    elif result.is_exact:
        approximation = f"{result.stopped_by} ({len(hosts)} parties)"
    else:
        approximation = (
            f"truncated Monte Carlo estimate (Ghorbani & Zou 2019): {result.permutations} "
            f"sampled permutations, {result.evaluations} of {coalitions} coalitions "
            f"retrained, truncation {truncation:g} of the total gain; largest standard "
            f"error {float(result.stderr.max()):.3g}, stopped on {result.stopped_by}"
        )
    assert value.metric is not None
    return VerticalContribution(
        value.label_party,
        value.metric,
        {p: float(v) for p, v in zip(result.players, result.values, strict=True)},
        result.method,
        approximation,
        result.evaluations,
        result.permutations,
        alone,
        everyone,
        tuple(value.scores),
        time.perf_counter() - started,
        {p: float(v) for p, v in zip(result.players, result.stderr, strict=True)},
        {p: float(v) for p, v in zip(result.players, result.dof, strict=True)},
        # sampling that turned exact (it had evaluated every coalition) truncated nothing
        {"truncation": float(truncation)} if result.permutations and not result.is_exact else {},
    )

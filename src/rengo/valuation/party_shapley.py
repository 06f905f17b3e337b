"""Contribution of vertical-FL feature parties: Shapley over parties, where the value of a
coalition is the score of a model retrained on that coalition's columns only.

Retraining is expensive, so exact enumeration (2^n retrainings) is used for few parties;
above ``exact_max_parties`` the estimate comes from truncated Monte Carlo permutation
sampling (Ghorbani & Zou 2019), which needs O(permutations * n) retrainings at most.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from rengo.core.errors import ConfigError
from rengo.valuation.shapley import ShapleyResult, exact_shapley, tmc_shapley
from rengo.valuation.stopping import StoppingCriterion

RetrainScore = Callable[[frozenset[int]], float]
"""Score of a model retrained on the columns of the given parties (empty: the no-feature
baseline, e.g. the score of predicting the majority class)."""


def party_shapley(
    retrain_score: RetrainScore,
    parties: Sequence[str],
    rng: np.random.Generator | None = None,
    *,
    exact_max_parties: int = 10,
    truncation: float = 0.01,
    rule: StoppingCriterion | None = None,
    exact_when_cheaper: bool = True,
) -> ShapleyResult:
    """Shapley value of each VFL party: exact up to ``exact_max_parties`` parties, else TMC
    sampling (then ``rng`` is required, so the estimate is reproducible).

    Parameters
    ----------
    retrain_score:
        Score of a model retrained on the columns of a coalition of party indices.
    parties:
        Distinct party names, in the order ``retrain_score`` indexes them.
    rng:
        Draws the permutations above ``exact_max_parties``; required there.
    exact_max_parties:
        Up to this many parties every coalition is evaluated.
    truncation, rule, exact_when_cheaper:
        Truncated Monte Carlo settings (see :func:`~rengo.valuation.tmc_shapley`).

    Returns
    -------
    ShapleyResult
        One value per party with its standard error, ``method`` "vfl_exact" or
        "vfl_tmc" (whose ``stopped_by`` says when sampling turned exact).

    Raises
    ------
    ConfigError
        No parties, repeated names, or no ``rng`` where sampling is needed.
    """
    n = len(parties)
    if n == 0:
        raise ConfigError("party_shapley needs at least one party")
    if len(set(parties)) != n:
        raise ConfigError(f"duplicate party names in {list(parties)}")
    if n <= exact_max_parties:
        result = exact_shapley(retrain_score, n)
    else:
        if rng is None:
            raise ConfigError(
                f"{n} parties exceeds exact_max_parties={exact_max_parties}: pass an rng "
                "for the sampled estimate"
            )
        result = tmc_shapley(
            retrain_score,
            n,
            rng,
            truncation=truncation,
            rule=rule,
            exact_when_cheaper=exact_when_cheaper,
        )
    return replace(result, players=tuple(parties), method=f"vfl_{result.method}")

"""A contribution tracker is refused where its values would leak outside central DP's
guarantee, and warns where it values FedAvg's coalition models under another strategy."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import (
    DifferentialPrivacy,
    FedAdam,
    FedAvg,
    FedMedian,
    FedProx,
    Krum,
    LogisticRegressionClient,
    SecAggPlus,
    ValuedAsFedAvgWarning,
    simulate,
    softmax_init,
)
from rengo.hfl.observer_fit import averages_like_fedavg, check_observers_fit
from rengo.privacy import CentralDP
from rengo.tracking import RunStore
from rengo.valuation import ContributionTracker


def _score(parameters: list[np.ndarray]) -> float:
    return -float(np.sum(np.abs(parameters[0])))


def _dp() -> DifferentialPrivacy:
    return DifferentialPrivacy(FedAvg(), CentralDP(noise_multiplier=1.0, clip_norm=0.1))


def test_central_dp_with_per_client_values_is_refused_before_a_run_is_recorded(
    tmp_path: Path,
) -> None:
    """The audit's run printed dp_epsilon=6.57 next to payouts computed from raw updates of
    norm ~0.55 under a clip norm of 0.1: values nobody's epsilon bounds."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)

    def client_fn(cid: str) -> LogisticRegressionClient:
        return LogisticRegressionClient(x, y, lr=0.1)

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(ConfigError, match="DP guarantee does not cover"):
            simulate(
                client_fn,
                3,
                _dp(),
                softmax_init(3, 2),
                1,
                store=store,
                observers=[ContributionTracker(_score, "mr")],
            )
        assert store.list_runs() == []


def test_dp_values_run_when_accepted_and_under_secure_aggregation() -> None:
    with pytest.warns(ValuedAsFedAvgWarning, match="DP-FedAvg aggregates otherwise"):
        check_observers_fit(_dp(), None, [ContributionTracker(_score, outside_dp=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # secure aggregation: the tracker sees only sums and values released models
        check_observers_fit(_dp(), SecAggPlus(), [ContributionTracker(_score)])
        # an observer that values no update is none of this check's business
        check_observers_fit(_dp(), None, [object()])


@pytest.mark.parametrize("strategy", [FedAdam(), FedMedian(), Krum(num_byzantine=1)])
def test_a_strategy_that_does_not_average_warns_that_values_rebuild_fedavg(strategy) -> None:  # type: ignore[no-untyped-def]
    """A Krum job paid all five clients though Krum takes one update a round; FedAdam's
    values summed to 0.74 where the round's score rose by 1.28, without a word. The
    per-round methods now rebuild through the strategy
    (tests/valuation/test_strategy_coalitions.py); the whole-run method "or" still
    rebuilds FedAvg and says so."""
    assert not averages_like_fedavg(strategy)
    with pytest.warns(ValuedAsFedAvgWarning, match=f"{strategy.name} aggregates otherwise"):
        check_observers_fit(strategy, None, [ContributionTracker(_score, "or")])


@pytest.mark.parametrize("strategy", [FedAvg(), FedProx()])
def test_averaging_strategies_are_valued_without_a_warning(strategy) -> None:  # type: ignore[no-untyped-def]
    assert averages_like_fedavg(strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_observers_fit(strategy, None, [ContributionTracker(_score)])

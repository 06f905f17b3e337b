"""Method "mr" values at most 12 players a round exactly. With entities (clients grouped as
one legal entity), the start counts the entities among the run's clients; each round counts
its own players, so a round holding more (parties changed mid-run) is refused, naming it."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.core.messages import FitResult
from rengo.valuation import ContributionTracker

START = np.zeros(3)


def _score(parameters: list[np.ndarray]) -> float:
    return -float(np.sum((parameters[0] - 1.0) ** 2))


def test_a_round_of_more_entities_than_mr_values_is_refused_though_the_start_counted_fewer() -> (
    None
):
    """24 sites of 12 hospitals pass the start; a round of 13 hospitals (a new party
    admitted mid-run in place of a site) was valued exactly, 8,192 coalitions, since the
    round's check counted the start's entities."""
    sites = [f"site-{i}" for i in range(26)]
    entity_of = {site: f"hospital-{i // 2}" for i, site in enumerate(sites)}
    tracker = ContributionTracker(_score, "mr", seed=0, entity_of=entity_of, run_clients=sites[:24])
    tracker.check_round_clients(24)  # the start: 12 participants
    rng = np.random.default_rng(0)
    for site in sites[:-1]:  # 25 sites of 13 hospitals
        update = rng.normal(size=3)
        tracker.on_fit_result(1, [START], site, FitResult([update], 10, {}))
    with pytest.raises(ConfigError, match=r"round 1: .*at most 12 participants .* has 13"):
        tracker.on_round_end(1, [START], [START], {})

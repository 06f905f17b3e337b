"""A simulated prediction tournament with participants of known skill, to show (and test)
that CORR/MMC scoring and staking pay skill and originality, not copying or noise.

The hidden target of each era is a noisy linear function of 20 features whose weights drift
from era to era (so no model is perfect), binned into Numerai's five levels
{0, 0.25, 0.5, 0.75, 1}. Participants only ever see published rows and features; the
coordinator alone keeps the targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError
from rengo.rewards import Budget
from rengo.tournament.rounds import PayoutRule, RoundResult, Tournament
from rengo.tournament.scoring import stake_weighted_meta_model, tie_kept_rank

NUM_FEATURES = 20
BEHAVIOURS = ("model", "copy_meta", "noise")


@dataclass(frozen=True)
class SimulatedParticipant:
    """A participant: ``behaviour`` "model" trains ridge regression on ``train_rows`` rows
    of its own history using only the first ``features`` columns; "copy_meta" submits the
    stake-weighted meta model of everyone else (so, staked itself, it submits exactly the
    meta model and earns no MMC); "noise" submits uniform random numbers."""

    name: str
    behaviour: str
    stake_minor: int
    features: int = NUM_FEATURES
    train_rows: int = 0

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ConfigError(f"behaviour must be one of {BEHAVIOURS}, got {self.behaviour!r}")
        if not 1 <= self.features <= NUM_FEATURES:
            raise ConfigError(f"features must be in 1..{NUM_FEATURES}, got {self.features}")


@dataclass(frozen=True, repr=False)
class SimulatedTournament:
    """The tournament after all rounds, and each round's result."""

    tournament: Tournament
    results: tuple[RoundResult, ...]
    participants: tuple[SimulatedParticipant, ...]

    def __repr__(self) -> str:
        """A few lines a notebook can show: each participant's behaviour, stake and mean
        score over the rounds; not every era of every round (``results`` holds them)."""
        lines = [f"SimulatedTournament({len(self.results)} rounds)"]
        for p in self.participants:
            scores = [r.scores[p.name].score for r in self.results if p.name in r.scores]
            mean = f"mean score {sum(scores) / len(scores):.4g}" if scores else "no scores"
            lines.append(f"  {p.name}: {p.behaviour}, stake {p.stake_minor}, {mean}")
        return "\n".join(lines)


class _World:
    """The hidden data-generating process: base weights plus an era-specific drift."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.weights = rng.normal(size=NUM_FEATURES) / np.sqrt(np.arange(1, NUM_FEATURES + 1))

    def era(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Features in [0, 1] (Numerai publishes binned features) and a 5-level target."""
        x = self.rng.random((rows, NUM_FEATURES))
        drift = self.rng.normal(scale=0.4 * np.abs(self.weights))
        latent = (x - 0.5) @ (self.weights + drift)
        latent += self.rng.normal(scale=10.0 * float(np.std(latent)), size=rows)
        bins = np.quantile(latent, [0.2, 0.4, 0.6, 0.8])
        return x, np.digitize(latent, bins) / 4.0


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    design = np.column_stack([x, np.ones(len(x))])
    gram = design.T @ design + alpha * np.eye(design.shape[1])
    return np.linalg.solve(gram, design.T @ y)


def simulate_tournament(
    participants: Sequence[SimulatedParticipant],
    *,
    rounds: int = 6,
    eras_per_round: int = 4,
    rows_per_era: int = 400,
    seed: int = 0,
    rule: PayoutRule | None = None,
    budget_minor: int | None = None,
) -> SimulatedTournament:
    """Run ``rounds`` tournament rounds: publish rows, collect every participant's
    predictions and stake, resolve against the hidden targets. Runs in well under a second.

    Parameters
    ----------
    participants:
        Who takes part (``rengo.showcase.FIVE_PARTICIPANTS`` is the demo's cast).
    rounds, eras_per_round, rows_per_era:
        How many rounds, eras per round and rows per era are published.
    seed:
        Fixes the hidden world, the participants' training rows and the noise submissions.
    rule, budget_minor:
        The payout rule (default :class:`PayoutRule`) and an optional total budget.

    Returns
    -------
    SimulatedTournament
        The tournament after the last round and every round's result.

    Raises
    ------
    ConfigError
        Too few rounds, eras or rows, or participant names that are empty or repeated.
    """
    if rounds < 1 or eras_per_round < 1 or rows_per_era < 5:
        raise ConfigError("need rounds >= 1, eras_per_round >= 1 and rows_per_era >= 5")
    names = [p.name for p in participants]
    if len(set(names)) != len(names) or not names:
        raise ConfigError(f"participant names must be distinct and non-empty: {names}")
    rng = np.random.default_rng(seed)
    world = _World(rng)
    models: dict[str, np.ndarray] = {}
    for p in participants:
        if p.behaviour == "model":
            history = [world.era(rows_per_era) for _ in range(max(1, p.train_rows // rows_per_era))]
            x = np.concatenate([e[0] for e in history])[: max(p.train_rows, 2 * p.features)]
            y = np.concatenate([e[1] for e in history])[: len(x)]
            models[p.name] = _ridge(x[:, : p.features], y)
    tournament = Tournament(rule, None if budget_minor is None else Budget(budget_minor))
    results: list[RoundResult] = []
    for t in range(rounds):
        blocks = [world.era(rows_per_era) for _ in range(eras_per_round)]
        features = np.concatenate([b[0] for b in blocks])
        target = np.concatenate([b[1] for b in blocks])
        row_ids = [f"r{t + 1}-{i}" for i in range(len(target))]
        era_names = [f"era{t * eras_per_round + e + 1}" for e in range(eras_per_round)]
        eras = np.repeat(era_names, rows_per_era).tolist()
        number = tournament.open_round(row_ids, eras, features)
        published = tournament.published(number)
        assert published.features is not None
        submitted: dict[str, np.ndarray] = {}
        for p in participants:
            if p.behaviour == "model":
                x = published.features[:, : p.features]
                raw = np.column_stack([x, np.ones(len(x))]) @ models[p.name]
                submitted[p.name] = tie_kept_rank(raw)
            elif p.behaviour == "noise":
                submitted[p.name] = rng.random(len(row_ids))
        for p in participants:
            if p.behaviour == "copy_meta":
                others = [q for q in participants if q.name in submitted]
                submitted[p.name] = _meta_by_era(
                    [submitted[q.name] for q in others],
                    [q.stake_minor for q in others],
                    np.asarray(eras),
                )
        for p in participants:
            tournament.submit(p.name, submitted[p.name], p.stake_minor, number)
        results.append(tournament.resolve(target, number))
    return SimulatedTournament(tournament, tuple(results), tuple(participants))


def _meta_by_era(
    predictions: Sequence[np.ndarray], stakes: Sequence[int], eras: np.ndarray
) -> np.ndarray:
    """What a copier submits: the stake-weighted meta model of the others, era by era (their
    plain mean when none of them is staked)."""
    weights = list(stakes) if any(s > 0 for s in stakes) else [1] * len(stakes)
    out = np.empty(len(eras))
    for era in np.unique(eras):
        rows = np.flatnonzero(eras == era)
        out[rows] = stake_weighted_meta_model([p[rows] for p in predictions], weights)
    return out

"""Shapley convergence benchmark: how close the default TMC, permutation and GTG estimators
land to exact Shapley values, and at what cost in coalition evaluations, on generic
cooperative games (no FL training): random games (every coalition's value uniform in
[0, 100)) and smooth learning-curve games (concave in the coalition's weight plus small
pairwise interactions), for several player counts and seeds.

    .venv/bin/python benchmarks/shapley_convergence.py [--seeds 5] [--players 8 10 12]

The anchor is exact Shapley by enumeration of all 2^n coalitions (brute force), which is
also the cost to beat. Columns: Pearson r and max |error| against exact (medians over
seeds; min r), coalitions evaluated as a fraction of 2^n (median), and how often the run
ended exact. Uses only names that every rengo release has, so the same script measures an
older checkout (``PYTHONPATH=/path/to/old/src``) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import numpy as np

from rengo.valuation import (
    ShapleyResult,
    exact_shapley,
    gtg_round_shapley,
    permutation_shapley,
    tmc_shapley,
)

Game = Callable[[frozenset[int]], float]


def random_game(n: int, seed: int) -> Game:
    table = np.random.default_rng(seed).uniform(0, 100, size=1 << n)
    return lambda s: float(table[sum(1 << i for i in s)])


def smooth_game(n: int, seed: int) -> Game:
    rng = np.random.default_rng(seed)
    weights, pairs = rng.uniform(1, 10, n), rng.normal(0, 0.5, (n, n))
    table = np.empty(1 << n)
    for mask in range(1 << n):
        members = [i for i in range(n) if mask >> i & 1]
        table[mask] = 20 * np.log1p(weights[members].sum() / 10) + sum(
            pairs[i, j] for i, j in itertools.combinations(members, 2)
        )
    return lambda s: float(table[sum(1 << i for i in s)])


ESTIMATORS: dict[str, Callable[[Game, int, np.random.Generator], ShapleyResult]] = {
    "tmc": lambda v, n, rng: tmc_shapley(v, n, rng),
    "permutation": lambda v, n, rng: permutation_shapley(v, n, rng),
    "gtg": lambda v, n, rng: gtg_round_shapley(v, n, rng),
}


def main(seeds: int, players: list[int]) -> None:
    header = (
        f"{'game':>7} {'n':>3} {'method':>12} {'r median':>9} {'r min':>7} "
        f"{'max err':>8} {'evals/2^n':>9} {'exact':>6}"
    )
    print(header)
    for kind, make in (("random", random_game), ("smooth", smooth_game)):
        for n in players:
            games = [make(n, 100 * n + s) for s in range(seeds)]
            truth = [exact_shapley(g, n).values for g in games]
            for method, estimate in ESTIMATORS.items():
                r, err, cost, exact = [], [], [], 0
                for s, (game, values) in enumerate(zip(games, truth, strict=True)):
                    result = estimate(game, n, np.random.default_rng(s))
                    r.append(float(np.corrcoef(result.values, values)[0, 1]))
                    err.append(float(np.abs(result.values - values).max()))
                    cost.append(result.evaluations / 2**n)
                    exact += int(np.allclose(result.values, values, atol=1e-9))
                print(
                    f"{kind:>7} {n:>3} {method:>12} {np.median(r):>9.3f} {min(r):>7.3f} "
                    f"{np.median(err):>8.3f} {np.median(cost):>9.2f} {exact:>3}/{seeds}"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--players", type=int, nargs="+", default=[8, 10, 12])
    args = parser.parse_args()
    main(args.seeds, args.players)

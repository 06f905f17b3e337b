"""Contribution benchmark: model evaluations and wall time of exact per-round Shapley (MR),
truncated Monte Carlo (TMC) and GTG-Shapley on 8, 12 and 50 FL clients, and how well the
estimators agree with exact Shapley where exact is feasible (Pearson r of per-client values).

    .venv/bin/python benchmarks/contribution.py [--rounds 3] [--seed 0]

The anchor is exact Shapley itself (2^n evaluations per round): the ground truth every
estimator approximates; no extra install is needed. The run is a numpy FedAvg of softmax
regression on synthetic data: clients of 20..320 rows, half of them with 30 % of labels
flipped; a coalition's value is minus the log loss, on 4,000 held-out rows, of the FedAvg
of its round updates (Song et al. 2019; Liu et al. 2022).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from rengo.core.parameters import Parameters
from rengo.hfl.numpy_client import softmax_loss_grad
from rengo.valuation import (
    RoundUpdates,
    ShapleyResult,
    default_stopping,
    gtg_shapley,
    mr_shapley,
    tmc_shapley,
)

DIM, CLASSES = 20, 4


def make_run(
    clients: int, rounds: int, seed: int
) -> tuple[list[RoundUpdates], Callable[[Parameters], float]]:
    rng = np.random.default_rng(seed)
    true_w = rng.normal(size=(DIM, CLASSES))

    def data(n: int, flip: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, DIM))
        y = np.argmax(x @ true_w + rng.gumbel(size=(n, CLASSES)), axis=1)
        flipped = rng.random(n) < flip
        y[flipped] = rng.integers(0, CLASSES, flipped.sum())
        return x, y

    sizes = [20 * 2 ** (k % 5) for k in range(clients)]
    local = {f"c{k:02d}": data(n, 0.3 if k % 2 else 0.0) for k, n in enumerate(sizes)}
    x_val, y_val = data(4000, 0.0)
    params: Parameters = [np.zeros((DIM, CLASSES)), np.zeros(CLASSES)]
    stored: list[RoundUpdates] = []
    for t in range(rounds):
        updates = []
        for x, y in local.values():
            p = [a.copy() for a in params]
            for _ in range(5):
                _, grads = softmax_loss_grad(p, x, y, 0.0)
                p = [a - 0.5 * g for a, g in zip(p, grads, strict=True)]
            updates.append(p)
        weights = tuple(float(n) for n in sizes)
        stored.append(RoundUpdates(t, params, tuple(local), tuple(updates), weights))
        total = sum(weights)
        params = [
            sum(w / total * u[k] for u, w in zip(updates, weights, strict=True)) for k in range(2)
        ]

    def evaluate(p: Parameters) -> float:
        return -softmax_loss_grad(p, x_val, y_val, 0.0)[0]

    return stored, evaluate


def timed(fn: Callable[[], ShapleyResult]) -> tuple[ShapleyResult, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(rounds: int, seed: int) -> None:
    print(f"{'clients':>7} {'method':>6} {'evaluations':>11} {'wall s':>8} {'r vs exact':>10}")
    for clients in (8, 12, 50):
        stored, evaluate = make_run(clients, rounds, seed)
        rng = np.random.default_rng(seed)
        rule = default_stopping()
        methods: dict[str, Callable[[], ShapleyResult]] = {
            "tmc": partial(
                mr_shapley, stored, evaluate, estimator=partial(tmc_shapley, rng=rng, rule=rule)
            ),
            "gtg": partial(gtg_shapley, stored, evaluate, rng),
        }
        if clients <= 12:
            methods = {"exact": partial(mr_shapley, stored, evaluate), **methods}
        exact: np.ndarray | None = None
        for name, fn in methods.items():
            result, wall = timed(fn)
            if name == "exact":
                exact = result.values
            r = "" if exact is None else f"{np.corrcoef(exact, result.values)[0, 1]:.4f}"
            print(f"{clients:>7} {name:>6} {result.evaluations:>11} {wall:>8.2f} {r:>10}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.rounds, args.seed)

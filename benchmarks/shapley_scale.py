"""Sampled Shapley at 50 to 200 players: coalition evaluations, wall time and peak memory of
the default TMC, GTG and permutation estimators on a cheap game (no FL training), so what is
measured is the estimator itself: its sampling, its cache of evaluated coalitions and its
bookkeeping.

    .venv/bin/python benchmarks/shapley_scale.py
    .venv/bin/python benchmarks/shapley_scale.py --src /tmp/old/src src --players 50 100 200

The game is a learning curve, v(S) = log(1 + sum of S's weights / n) with weights uniform
in [1, 10). Each run is its own process (``child_timing.child_json``), so its peak resident
memory (``ru_maxrss``) is its own; ``--src`` compares source trees (e.g. an older checkout
unpacked with ``git archive``), every repeat running each tree in turn. Medians [min - max]
over the repeats; the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from child_timing import child_json
from fate_bench import spread

HERE = Path(__file__).resolve().parent


def run_one(method: str, n: int) -> None:
    """Child process: one default estimate; prints its figures as JSON."""
    from rengo.valuation import gtg_round_shapley, permutation_shapley, tmc_shapley

    weights = np.random.default_rng(n).uniform(1, 10, n)

    def value(s: frozenset[int]) -> float:
        return float(np.log1p(sum(weights[i] for i in s) / n))

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    estimators = {"tmc": tmc_shapley, "gtg": gtg_round_shapley, "permutation": permutation_shapley}
    result = estimators[method](value, n, rng)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"evaluations": result.evaluations, "wall": wall, "peak_mib": peak_mib}
    print(json.dumps(figures), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_one(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--players", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--methods", nargs="+", default=["tmc", "gtg", "permutation"])
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    trees = [str(Path(s).resolve()) for s in args.src]
    print(f"load average at start {os.getloadavg()}; {args.repeats} repeats")
    runs: dict[tuple[int, str, str], list[dict[str, float]]] = {}
    for _ in range(args.repeats):
        for n in args.players:
            for method in args.methods:
                for tree in trees:
                    got = child_json(__file__, [method, str(n)], tree)
                    runs.setdefault((n, method, tree), []).append(got)
    print(f"load average at end {os.getloadavg()}")
    print("| players | method | source | evaluations | wall s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for n in args.players:
        for method in args.methods:
            for tree in trees:
                got = runs[(n, method, tree)]
                print(
                    f"| {n} | {method} | {tree} | {int(got[0]['evaluations']):,} | "
                    f"{spread([r['wall'] for r in got], '{:.2f}')} | "
                    f"{spread([r['peak_mib'] for r in got], '{:.0f}')} |"
                )


if __name__ == "__main__":
    main()

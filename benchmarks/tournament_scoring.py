"""Scoring one tournament round (``rengo.tournament.score_round``: CORR and MMC per era for
every submission, then the payouts) with source trees side by side, interleaved, each
repeat in its own process; every tree must produce the same scores bit for bit.

Compare this tree with an older one unpacked with ``git archive`` (scipy's import is left
out of the time: each child imports it first):

    git archive main src | tar -x -C /tmp/old
    .venv/bin/python benchmarks/tournament_scoring.py --src /tmp/old/src src
    .venv/bin/python benchmarks/tournament_scoring.py --rows 100000 --participants 500
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from child_timing import child_json
from fate_bench import spread

HERE = Path(__file__).resolve().parent
FMT = "{:.2f}"


def score_one(rows: int, participants: int, eras: int) -> None:
    """Child process: score one seeded round; prints wall and CPU seconds and a digest of
    every era score and payout as JSON."""
    import scipy.stats  # noqa: F401  (imported before the clock starts)

    from rengo.tournament import score_round

    rng = np.random.default_rng(0)
    ids = [f"id{i:07d}" for i in range(rows)]
    era_of = {r: f"era{i * eras // rows}" for i, r in enumerate(ids)}
    submissions = {
        f"p{k:04d}": dict(zip(ids, rng.random(rows).tolist(), strict=True))
        for k in range(participants)
    }
    stakes = {p: int(rng.integers(0, 100_000)) for p in submissions}
    target = dict(zip(ids, (rng.integers(0, 5, rows) / 4).tolist(), strict=True))
    wall, cpu = time.perf_counter(), time.process_time()
    result = score_round(submissions, stakes, era_of, target)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = [
        [p, e.era, e.corr.hex(), e.mmc.hex()] for p, s in result.scores.items() for e in s.eras
    ]
    payouts = [[p.participant, p.amount_minor] for p in result.payouts]
    digest = hashlib.sha256(json.dumps([scores, payouts]).encode()).hexdigest()[:16]
    print(json.dumps({"wall": wall, "cpu": cpu, "digest": digest}), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        score_one(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--eras", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    trees = [str(Path(s).resolve()) for s in args.src]
    size = [str(args.rows), str(args.participants), str(args.eras)]
    print(
        f"load average at start {os.getloadavg()}; {args.rows:,} rows in {args.eras} eras, "
        f"{args.participants} participants, {args.repeats} repeats"
    )
    runs: dict[str, list[dict[str, float | str]]] = {tree: [] for tree in trees}
    for _ in range(args.repeats):
        for tree in trees:
            runs[tree].append(child_json(__file__, size, tree))
    print(f"load average at end {os.getloadavg()}")
    digests = {str(r["digest"]) for got in runs.values() for r in got}
    print(f"scores and payouts: {'equal in every tree' if len(digests) == 1 else 'DIFFER'}")
    first = statistics.median(float(r["wall"]) for r in runs[trees[0]])
    print(f"| tree | wall s | CPU s | vs {trees[0]} (wall) |")
    print("|---|---|---|---|")
    for tree, got in runs.items():
        walls = [float(r["wall"]) for r in got]
        print(
            f"| {tree} | {spread(walls, FMT)} | {spread([float(r['cpu']) for r in got], FMT)} "
            f"| {statistics.median(walls) / first:.2f}x |"
        )


if __name__ == "__main__":
    main()

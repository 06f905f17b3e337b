"""Measurement: the largest message of each vertical algorithm, to size a deployed run's
message limit (``rengo vfl coordinator --max-message-mb``, :data:`rengo.deploy.
VERTICAL_MAX_MESSAGE_BYTES`).

Each algorithm runs in simulation (its default options, one epoch or tree, ``--bits``-bit
keys) on synthetic tables shaped like FATE's default_credit (a label party with 13 features,
one feature party with 10) at two row counts. For every kind of message (sender, receiver,
key with its numbers blanked) it takes the largest envelope, fits a line through the two row
counts and prints the five largest extrapolated to ``--at`` rows. A message that grows with
batches only (capped at the batch size) is exact once both row counts exceed the batch size;
below, the line over-estimates it.

Run (from the repository root)::

    .venv/bin/python benchmarks/vertical_message_sizes.py              # every algorithm
    .venv/bin/python benchmarks/vertical_message_sizes.py --algorithms secureboost \\
        --rows 1500 3000 --bits 2048 --at 30000
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from vertical_split import split_columns

from rengo.vfl.common import PartyData
from rengo.vfl.registry import algorithms, get_algorithm
from rengo.vfl.runner import VerticalPlan, simulate_vertical

Kind = tuple[str, str, str]


def tables(rows: int) -> dict[str, PartyData]:
    """A label party ("guest", 13 features) and a feature party ("host", 10)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 23))
    y = (x[:, 0] + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    return split_columns(x, y, rng, ("guest", "host"))


def largest_messages(algorithm: str, rows: int, bits: int) -> dict[Kind, int]:
    """The largest envelope, in bytes, of each kind of message of one short run."""
    config = get_algorithm(algorithm).default_config()
    short = {"epochs": 1, "n_trees": 1, "key_bits": bits}
    config = dataclasses.replace(config, **{k: v for k, v in short.items() if hasattr(config, k)})
    plan = VerticalPlan("guest", ("host",), config, seed=1, algorithm=algorithm)
    run = simulate_vertical(plan, tables(rows), psi_workers=1)
    sizes: dict[Kind, int] = {}
    for entry in run.transcript:
        kind = (entry.sender, entry.receiver, re.sub(r"\d+", "#", entry.key))
        sizes[kind] = max(sizes.get(kind, 0), len(entry.payload))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=sorted(algorithms()))
    parser.add_argument("--rows", nargs=2, type=int, default=[1500, 3000])
    parser.add_argument("--bits", type=int, default=2048)
    parser.add_argument("--at", type=int, default=30_000)
    args = parser.parse_args()
    low, high = args.rows
    for algorithm in args.algorithms:
        started = time.perf_counter()
        small = largest_messages(algorithm, low, args.bits)
        large = largest_messages(algorithm, high, args.bits)
        spent = time.perf_counter() - started
        print(f"== {algorithm}, {args.bits}-bit keys ({spent:.0f} s)")
        estimates = []
        for kind in small.keys() | large.keys():
            a, b = small.get(kind, 0), large.get(kind, 0)
            at = b + (b - a) / (high - low) * (args.at - high)
            estimates.append((at, kind, a, b))
        for at, (sender, receiver, key), a, b in sorted(estimates, reverse=True)[:5]:
            print(
                f"  {sender} -> {receiver} {key}: {a:,} B at {low:,} rows, {b:,} B at "
                f"{high:,} -> {at / 1e6:.1f} MB at {args.at:,}"
            )


if __name__ == "__main__":
    main()

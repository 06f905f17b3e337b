"""Peak memory of one-vs-rest hetero LR training (K classes) on a synthetic table: the
plaintext twin (``train_guest_alone``) and the encrypted protocol (label party, one host
and the coordinator on an in-process bus), each in its own process, for each source tree
given: Python's traced peak (``tracemalloc``, numpy's arrays included) and the process's
maximum resident set. The protocol's figures include its Paillier key and obfuscator pools.

Before the per-batch expansion every party held its whole table's block-diagonal class rows
``kron(X, I_K)`` (K^2 times the table); compare trees with an older checkout unpacked by
``git archive``:

    .venv/bin/python benchmarks/one_vs_rest_memory.py
    .venv/bin/python benchmarks/one_vs_rest_memory.py --src /tmp/old/src src --protocol
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def table(rows: int, columns: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal columns and a label of ``classes`` classes from a random linear map."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, columns))
    return x, (x @ rng.normal(size=(columns, classes))).argmax(axis=1)


def child(mode: str, rows: int, columns: int, classes: int, batch: int) -> dict[str, float]:
    """Train one epoch in ``mode`` (twin or protocol) and measure it."""
    from rengo.vfl.hetero_lr.config import HeteroLRConfig

    x, y = table(rows, columns, classes)
    config = HeteroLRConfig(
        key_bits=512,
        epochs=1,
        batch_size=batch,
        tol=0.0,
        multi_class="ovr",
        compute_loss=False,
        obfuscator_source="coordinator",
    )
    tracemalloc.start()
    start = time.perf_counter()
    if mode == "twin":
        from rengo.vfl.hetero_lr.local import train_guest_alone

        train_guest_alone(x, y, config, seed=1)
    else:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from hetero_lr_run import run_hetero_lr

        from rengo.crypto import generate_paillier_keypair

        keypair = generate_paillier_keypair(512, seed=1)
        half = columns // 2
        run_hetero_lr([x[:, :half], x[:, half:]], y, config, keypair, seed=1)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"traced_peak_mb": peak / 2**20, "max_rss_mb": rss, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="twin", choices=["twin", "protocol"])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--src", nargs="+", default=["src"], help="source trees to compare")
    parser.add_argument("--protocol", action="store_true", help="also the encrypted protocol")
    args = parser.parse_args()
    shape = [str(args.rows), str(args.columns), str(args.classes), str(args.batch_size)]
    if args.child:
        figures = child(args.mode, *map(int, shape))
        print(json.dumps(figures))
        return
    from child_timing import child_json

    modes = ["twin", "protocol"] if args.protocol else ["twin"]
    print(
        f"{args.rows} rows x {args.columns} columns, K = {args.classes}, one epoch in "
        f"batches of {args.batch_size}"
    )
    print(f"{'tree':<28} {'mode':<9} {'traced peak MB':>15} {'max RSS MB':>11} {'seconds':>8}")
    for mode in modes:
        for src in args.src:
            figures = child_json(
                str(Path(__file__).resolve()),
                ["--mode", mode, "--rows", shape[0], "--columns", shape[1],
                 "--classes", shape[2], "--batch-size", shape[3]],
                str(Path(src).resolve()),
            )  # fmt: skip
            print(
                f"{src:<28} {mode:<9} {figures['traced_peak_mb']:>15.1f} "
                f"{figures['max_rss_mb']:>11.1f} {figures['seconds']:>8.1f}"
            )


if __name__ == "__main__":
    main()

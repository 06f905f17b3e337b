"""What shipping the federation to Ray's workers costs a round: trivial clients over a large
dataset held by ``client_fn``, on the Ray executor, source trees compared in one invocation.

The Ray pool puts the handler (``client_fn`` and the data it holds) in Ray's object store
once per simulation; a worker that unpickles it for every task copies the whole
federation's PyTorch tensors (numpy arrays are mapped, not copied) once per task, every
round. Clients here do nothing but return the model, so a round's time is the shipping.
Each run is its own process with its own local Ray (2 CPUs, 2 workers); the first round
(Ray's workers starting, importing PyTorch) is reported apart from the later ones.

``--src`` compares source trees (e.g. an older checkout unpacked with ``git archive``): each
tree runs in turn, every repeat, in the order given.

    .venv/bin/python benchmarks/ray_handler_shipping.py --src /tmp/old/src src --repeats 3
    .venv/bin/python benchmarks/ray_handler_shipping.py --data numpy --mib 400
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from child_timing import child_json
from fate_bench import spread

HERE = Path(__file__).resolve().parent


def run_one(data: str, mib: int, clients: int, rounds: int) -> None:
    """Child process: one Ray simulation; prints its round times as JSON."""
    import numpy as np
    import ray

    from rengo.core.messages import EvaluateResult, FitResult
    from rengo.hfl import Client, FedAvg, simulate

    rows = mib * 2**20 // 8 // 100 // clients
    if data == "torch":
        import torch

        held: dict[str, Any] = {
            str(i): torch.ones((rows, 100), dtype=torch.float64) for i in range(clients)
        }
    else:
        held = {str(i): np.ones((rows, 100)) for i in range(clients)}

    class Trivial(Client):
        def __init__(self, cid: str) -> None:
            super().__init__()
            self.rows = len(held[cid])

        def fit(self, parameters: Any, config: Any) -> FitResult:
            return FitResult([parameters[0] + 1.0], self.rows, {})

        def evaluate(self, parameters: Any, config: Any) -> EvaluateResult:
            return EvaluateResult(0.0, self.rows, {})

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ends: list[float] = []
    start = time.perf_counter()
    history = simulate(
        Trivial, clients, FedAvg(min_fit_clients=clients, fraction_fit=1.0), [np.zeros(1)],
        rounds, executor="ray", workers=2, progress=lambda record: ends.append(time.perf_counter()),
    )  # fmt: skip
    ray.shutdown()
    assert float(history.parameters[0][0]) == rounds  # every client took part every round
    later = [b - a for a, b in itertools.pairwise(ends)]
    print(json.dumps({"first": ends[0] - start, "later": statistics.median(later)}), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("torch", "numpy"), default="torch")
    parser.add_argument("--mib", type=int, default=400, help="the federation's data, MiB")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    srcs = [str(Path(s).resolve()) for s in args.src]
    print(
        f"{args.clients} trivial clients x {args.rounds} rounds on Ray (2 CPUs, 2 workers), "
        f"{args.mib} MiB of {args.data} data held by client_fn; {args.repeats} repeats; "
        f"load average at start {os.getloadavg()}"
    )
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.repeats):
        for src in srcs:
            child = [args.data, str(args.mib), str(args.clients), str(args.rounds)]
            runs.setdefault(src, []).append(child_json(__file__, child, src))
    print(f"load average at end {os.getloadavg()}")
    print("| sources | first round s | later rounds s (median of each run's median) |")
    print("|---|---|---|")
    for src in srcs:
        first = spread([r["first"] for r in runs[src]], "{:.2f}")
        later = spread([r["later"] for r in runs[src]], "{:.3f}")
        print(f"| {src} | {first} | {later} |")


if __name__ == "__main__":
    main()

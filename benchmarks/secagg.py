"""Secure aggregation's cost: rengo SecAgg+ against plain FedAvg, round time and bytes.

Task: ``--clients`` clients (50) and a model of ``--params`` float64 parameters (100k, one
array). Each client's "training" is a fixed, seeded perturbation of the global model (about a
millisecond), so the round time is the protocol's: FedAvg's one exchange against SecAgg+'s
four stages (keys, sealed Shamir shares, masked inputs, unmasking). Both run through the same
``Coordinator`` on the serial executor, every client every round; ``--neighbours`` sets the
SecAgg+ graph degree (0: complete graph, i.e. SecAgg), ``--dropouts`` clients drop in the
masked-input stage (their masks are rebuilt from shares). Bytes are everything the
coordinator sent and received (codec payloads, both directions). The systems are interleaved
for ``--repeats`` repeats (>= 3); medians with ranges are printed, with CPU seconds of this
process (it runs every client) and the load average. The unmasked mean is checked against
FedAvg's to the quantisation error on every repeat.

Run:  .venv/bin/python benchmarks/secagg.py
      .venv/bin/python benchmarks/secagg.py --clients 20 --params 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg, SecAggMod, SecAggPlus, make_pool
from rengo.hfl.mods.chain import ClientCall
from rengo.transport.pool import ClientPool, Reply, Request


class PerturbClient(Client):
    """Returns the global model plus a small seeded perturbation (stands in for training)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        rng = np.random.default_rng(self.index)
        new = [p + rng.normal(scale=0.01, size=p.shape) for p in parameters]
        return FitResult(new, 10 + self.index, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


class DropInMaskedInput(SecAggMod):
    """The secagg mod, installed in its place, with the first ``k`` clients disconnecting in
    the masked-input stage."""

    def __init__(self, dropped: set[str]) -> None:
        self.dropped = dropped

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if call.key == "secagg.masked_input" and call.client_id in self.dropped:
            raise ConnectionError("dropped")
        return super().__call__(call, call_next)


class CountingPool:
    """Wraps a pool and counts the bytes both ways."""

    def __init__(self, inner: ClientPool) -> None:
        self.inner = inner
        self.bytes = 0

    def client_ids(self) -> list[str]:
        return self.inner.client_ids()

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        for reply in self.inner.request(requests, timeout):
            self.bytes += reply.bytes_sent + reply.bytes_received
            yield reply

    def close(self) -> None:
        self.inner.close()


def one_round(system: str, args: argparse.Namespace) -> tuple[float, float, int, np.ndarray]:
    """(wall s, CPU s, bytes, new model) of one round of ``system``."""
    ids = [f"c{i:03d}" for i in range(args.clients)]
    dropped = set(ids[: args.dropouts]) if system == "secagg" else set()
    mods = [DropInMaskedInput(dropped)] if system == "secagg" else []
    pool = CountingPool(make_pool(lambda cid: PerturbClient(int(cid[1:])), ids, mods=mods))
    workflow = (
        SecAggPlus(neighbours=args.neighbours, max_examples=1024) if system == "secagg" else None
    )
    init = [np.zeros(args.params)]
    strategy = FedAvg(min_fit_clients=args.clients - args.dropouts, fraction_evaluate=0.0)
    coordinator = Coordinator(strategy, pool, init, seed=1, workflow=workflow)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    coordinator.run_round(1)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    pool.close()
    return wall, cpu, pool.bytes, coordinator.parameters[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--neighbours", type=int, default=0)
    parser.add_argument("--dropouts", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be >= 3 (medians with ranges)")
    load = os.getloadavg()
    runs: dict[str, list[tuple[float, float, int]]] = {"fedavg": [], "secagg": []}
    for _ in range(args.repeats):
        models = {}
        for system in ("fedavg", "secagg"):  # interleaved
            wall, cpu, sent, model = one_round(system, args)
            runs[system].append((wall, cpu, sent))
            models[system] = model
        if args.dropouts == 0:
            gap = float(np.max(np.abs(models["secagg"] - models["fedavg"])))
            assert gap < 1e-4, f"SecAgg+ mean differs from FedAvg's by {gap}"
    print(
        f"{args.clients} clients, {args.params} float64 parameters, neighbours "
        f"{args.neighbours or 'all'}, dropouts {args.dropouts}, {args.repeats} repeats; "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        "| system | round s (median, range) | CPU s | MB moved | time vs FedAvg | bytes vs FedAvg |"
    )
    print("|---|---|---|---|---|---|")
    base_wall = statistics.median(r[0] for r in runs["fedavg"])
    base_bytes = statistics.median(r[2] for r in runs["fedavg"])
    for system, rows in runs.items():
        walls = [r[0] for r in rows]
        wall = statistics.median(walls)
        cpu = statistics.median(r[1] for r in rows)
        moved = statistics.median(r[2] for r in rows)
        print(
            f"| {system} | {wall:.3f} ({min(walls):.3f}-{max(walls):.3f}) | {cpu:.3f} | "
            f"{moved / 1e6:.2f} | {wall / base_wall:.2f}x | {moved / base_bytes:.2f}x |"
        )


if __name__ == "__main__":
    main()

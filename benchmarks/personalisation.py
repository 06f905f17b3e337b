"""Personalised FL benchmark: mean and worst-decile client test accuracy of FedAvg,
FedAvg + fine-tuning, FedRep and Ditto (FedPer too, with --all), each client evaluated on its
own test rows.

Federations:

* ``digits-dirichlet``: scikit-learn digits among ``--clients`` clients by Dirichlet(0.1)
  label skew, each client's rows split 3:1 into its own train and test sets;
* ``digits-quantity``: the same rows dealt by quantity skew (client sizes ~ Dir(0.5));
* ``femnist``: FEMNIST by writer (LEAF, ``../shared/data/femnist_leaf``; skipped when absent),
  each writer's own LEAF test rows.

Model: an MLP (64-32-10 on digits, 784-128-62 on FEMNIST), SGD lr 0.05, batch 16, one local
epoch; FedRep 1 head + 1 body epoch, Ditto lambda 0.1 with 1 personal epoch, fine-tuning 1
epoch. Published reference for scale (not run here): FedAvg vs FedAvg + fine-tuning on
EMNIST-62 (FedJAX, 3,400 writers, CNN): 84.6 % -> 87.9 %.

Each method runs ``--repeats`` times (seeds 0, 1, ...), interleaved; the table shows medians
and ranges of the mean and worst-decile (mean of the worst 10 % of clients) accuracy of the
last round, wall and CPU seconds. One torch thread.

    .venv/bin/python benchmarks/personalisation.py                 # full settings
    .venv/bin/python benchmarks/personalisation.py --quick         # seconds: to validate
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from rengo.core.errors import DataError
from rengo.data import dirichlet_partition, load_digits, load_femnist, quantity_skew_partition
from rengo.hfl import Client, Ditto, FedAvg, FedAvgFineTune, FedPer, FedRep, Strategy, simulate
from rengo.hfl.torch_client import TorchClient, get_parameters, make_mlp, seed_torch
from rengo.tracking import RunStore

Federation = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def _split_rows(X: np.ndarray, y: np.ndarray, parts: list[np.ndarray], seed: int) -> Federation:
    rng = np.random.default_rng(seed)
    out: Federation = {}
    for k, idx in enumerate(parts):
        idx = rng.permutation(idx)
        cut = max(1, len(idx) // 4)
        out[str(k)] = (X[idx[cut:]], y[idx[cut:]], X[idx[:cut]], y[idx[:cut]])
    return out


def digits(scheme: str, clients: int, seed: int) -> Federation:
    data = load_digits()
    X, y = (data.X / 16.0).astype(np.float32), data.labels()
    if scheme == "dirichlet":
        parts = dirichlet_partition(y, clients, alpha=0.1, seed=seed, min_size=20)
    else:
        parts = quantity_skew_partition(len(y), clients, seed=seed, alpha=0.5, min_size=20)
    return _split_rows(X, y, parts, seed)


def femnist(writers: int) -> Federation:
    fed = load_femnist(max_writers=writers)
    assert fed.client_tests is not None
    out: Federation = {}
    for name, train in fed.clients.items():
        test = fed.client_tests.get(name)
        if test is None or len(test) == 0:
            continue
        x = (1.0 - train.X).astype(np.float32)  # ink = 1 on a dark background
        xt = (1.0 - test.X).astype(np.float32)
        out[name] = (x, train.labels(), xt, test.labels())
    return out


def client_fn(data: Federation, hidden: int, classes: int) -> Callable[[str], Client]:
    features = next(iter(data.values()))[0].shape[1]

    def build(cid: str) -> Client:
        X, y, Xt, yt = data[cid]
        seed_torch(0)
        loader = lambda a, b, s: DataLoader(  # noqa: E731
            TensorDataset(torch.from_numpy(a), torch.from_numpy(b)), batch_size=16, shuffle=s
        )
        model = make_mlp(features, classes, (hidden,))
        return TorchClient(model, loader(X, y, True), loader(Xt, yt, False), lr=0.05)

    return build


def methods(fraction: float, clients: int, everything: bool) -> dict[str, Callable[[], Strategy]]:
    sampled = max(1, math.ceil(fraction * clients))
    common: dict[str, Any] = {"fraction_fit": fraction, "min_fit_clients": sampled}
    out: dict[str, Callable[[], Strategy]] = {
        "FedAvg": lambda: FedAvg(fraction_evaluate=1.0, min_evaluate_clients=1, **common),
        "FedAvg + fine-tune": lambda: FedAvgFineTune(finetune_epochs=1, **common),
        "FedRep": lambda: FedRep(head_epochs=1, body_epochs=1, **common),
        "Ditto": lambda: Ditto(ditto_lambda=0.1, personal_epochs=1, **common),
    }
    if everything:
        out["FedPer"] = lambda: FedPer(**common)
    return out


def worst_decile(values: list[float]) -> float:
    ordered = sorted(values)
    k = max(1, math.ceil(0.1 * len(ordered)))
    return float(np.mean(ordered[:k]))


def run_once(
    data: Federation, strategy: Strategy, rounds: int, seed: int, hidden: int, classes: int
) -> dict[str, float]:
    seed_torch(seed)
    features = next(iter(data.values()))[0].shape[1]
    init = get_parameters(make_mlp(features, classes, (hidden,)))
    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "runs.db") as store:
        wall, cpu = time.perf_counter(), time.process_time()
        history = simulate(
            client_fn(data, hidden, classes), list(data), strategy, init, rounds, seed=seed,
            store=store,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        accuracies = [
            float(r.metrics["accuracy"])
            for r in store.client_records(history.run_id or "")
            if r.phase == "evaluate" and r.round == rounds and r.status == "ok" and r.metrics
        ]
    if not accuracies:
        raise DataError("no client reported an accuracy in the last round")
    return {
        "mean": float(np.mean(accuracies)),
        "worst": worst_decile(accuracies),
        "wall": wall,
        "cpu": cpu,
        "clients": float(len(accuracies)),
    }


def _cell(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    v = np.asarray(values) * scale
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{np.median(v):.{digits}f} ({v.min():.{digits}f}-{v.max():.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--federations", default="digits-dirichlet,digits-quantity,femnist")
    parser.add_argument("--clients", type=int, default=20, help="digits clients")
    parser.add_argument("--writers", type=int, default=105, help="FEMNIST writers")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--fraction", type=float, default=1.0, help="clients per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all", action="store_true", help="FedPer as well")
    parser.add_argument("--quick", action="store_true", help="tiny settings, to validate")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.writers, args.rounds, args.repeats = 8, 10, 3, 1
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f}; rounds {args.rounds}; repeats {args.repeats}")
    for federation in [f.strip() for f in args.federations.split(",") if f.strip()]:
        if federation == "femnist":
            try:
                make = lambda seed: femnist(args.writers)  # noqa: E731
                make(0)
            except DataError as exc:
                print(f"\n{federation}: skipped ({exc})")
                continue
            hidden, classes = 128, 62
        else:
            scheme = federation.split("-", 1)[1]
            make = lambda seed, scheme=scheme: digits(scheme, args.clients, seed)  # noqa: E731
            hidden, classes = 32, 10
        results: dict[str, list[dict[str, float]]] = {}
        warm_up = FedAvg(min_fit_clients=1, fraction_evaluate=1.0, min_evaluate_clients=1)
        run_once(make(0), warm_up, 1, 0, hidden, classes)  # untimed
        plan = methods(
            args.fraction, args.clients if federation != "femnist" else args.writers, args.all
        )
        for repeat in range(args.repeats):  # interleaved: every method once per repeat
            data = make(repeat)
            for name, strategy in plan.items():
                results.setdefault(name, []).append(
                    run_once(data, strategy(), args.rounds, repeat, hidden, classes)
                )
        clients = int(next(iter(results.values()))[0]["clients"])
        print(f"\n{federation}: {clients} clients, last-round client test accuracy (%)")
        print("| method | mean | worst decile | wall s | CPU s |")
        print("|---|---|---|---|---|")
        for name, runs in results.items():
            print(
                f"| {name} | {_cell([r['mean'] for r in runs], 100)} | "
                f"{_cell([r['worst'] for r in runs], 100)} | {_cell([r['wall'] for r in runs])} | "
                f"{_cell([r['cpu'] for r in runs])} |"
            )


if __name__ == "__main__":
    main()

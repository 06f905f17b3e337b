"""Do rengo's strategies compute what Flower's do, for the same settings? One run, both sides.

Not a timing: the same seeded client models go through Flower 1.42's strategies (its bench
venv, ``flwr.server.strategy``) and rengo's for three rounds, and the script prints the
largest difference between the two final models per strategy. Where they differ it also
replays the formula Flower's code uses (bias-corrected ``eta``, moments from zero,
example-weighted Multi-Krum) in numpy on rengo's side, to show that formula is the whole
difference. ``docs/coming-from-flower.md`` quotes this table.

Updates: a model of a (4, 3) and a (3,) array drawn from N(0, 1) (seed 0); each round, six
clients return the round's global model plus N(0, (0.1 (c + 1))^2) noise (a spread of update
sizes), with 5-49 examples each; every strategy gets the same three rounds of them.
QFedAvg (q 0.2, qffl_learning_rate 0.1) runs twice: with one loss for every client (what
Flower's legacy ``flwr.server.strategy.QFedAvg`` takes, from its ``evaluate_fn``) and with
each client's own loss (through ``flwr.serverapp.strategy``'s ``compute_delta_and_h``, summed
as its ``aggregate_train`` does); rengo's side folds the replies its ``qffl`` mod would send.

Setup (once): the Flower venv of ``hfl_vs_flower.py`` (``.bench-venv-flower``):
    .venv/bin/python benchmarks/flower_strategy_parity.py --setup
Run:
    .venv/bin/python benchmarks/flower_strategy_parity.py [--flower-python PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rengo.core.messages import FitResult
from rengo.hfl import (
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    QFedAvg,
    Strategy,
)
from rengo.hfl.mods.qffl import qffl_terms
from rengo.hfl.strategy.base import as_aggregate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hfl_vs_flower import FLOWER_VENV, setup_flower_venv

ROUNDS, CLIENTS, SEED = 3, 6, 0
ETA, BETA_1, BETA_2, TAU = 0.1, 0.9, 0.99, 1e-3

FLOWER_SIDE = """
import logging, sys
import numpy as np
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.strategy import (FedAdagrad, FedAdam, FedAvg, FedAvgM, FedMedian,
    FedTrimmedAvg, FedYogi, Krum)
logging.disable(logging.WARNING)
data = np.load(sys.argv[1])
rounds, clients = int(data["rounds"]), int(data["clients"])
x0 = [data["x0_0"], data["x0_1"]]
counts = [int(n) for n in data["counts"]]
eta, b1, b2, tau = (float(v) for v in data["settings"])
init = ndarrays_to_parameters(x0)

def run(strategy):
    x = [a.copy() for a in x0]
    for r in range(1, rounds + 1):
        results = []
        for c in range(clients):
            model = [a + data[f"off_{r}_{c}_{i}"] for i, a in enumerate(x)]
            res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(model), counts[c], {})
            results.append((None, res))
        x = parameters_to_ndarrays(strategy.aggregate_fit(r, results, [])[0])
    return x

strategies = {
    "FedAvg": FedAvg(),
    "FedAdam": FedAdam(initial_parameters=init, eta=eta, beta_1=b1, beta_2=b2, tau=tau),
    "FedYogi": FedYogi(initial_parameters=init, eta=eta, beta_1=b1, beta_2=b2, tau=tau),
    "FedAdagrad": FedAdagrad(initial_parameters=init, eta=eta, tau=tau),
    "FedAvgM": FedAvgM(initial_parameters=init, server_learning_rate=1.0, server_momentum=0.9),
    "FedMedian": FedMedian(),
    "FedTrimmedAvg": FedTrimmedAvg(beta=0.2),
    "Krum": Krum(num_malicious_clients=1, num_clients_to_keep=0),
    "Multi-Krum": Krum(num_malicious_clients=1, num_clients_to_keep=3),
}
out = {f"{k}/{i}": a for k, s in strategies.items() for i, a in enumerate(run(s))}

# QFedAvg, legacy: one loss for every client, the strategy's evaluate_fn (here the round's
# central_loss); pre_weights is what configure_fit would have stored.
from flwr.server.strategy import QFedAvg
losses = data["losses"]
qffl = QFedAvg(q_param=0.2, qffl_learning_rate=0.1,
               evaluate_fn=lambda r, p, c: (float(data["central_loss"][r - 1]), {}))
x = [a.copy() for a in x0]
for r in range(1, rounds + 1):
    qffl.pre_weights = [a.copy() for a in x]
    results = [(None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(
        [a + data[f"off_{r}_{c}_{i}"] for i, a in enumerate(x)]), counts[c], {}))
        for c in range(clients)]
    x = parameters_to_ndarrays(qffl.aggregate_fit(r, results, [])[0])
out.update({f"QFedAvg-one-loss/{i}": a for i, a in enumerate(x)})

# QFedAvg, Message API: each client's own loss through its compute_delta_and_h, summed and
# stepped as its aggregate_train does.
from flwr.serverapp.strategy.qfedavg import compute_delta_and_h
x = [a.copy() for a in x0]
for r in range(1, rounds + 1):
    sum_delta, sum_h = None, 0.0
    for c in range(clients):
        model = [a + data[f"off_{r}_{c}_{i}"] for i, a in enumerate(x)]
        delta, h = compute_delta_and_h([a.copy() for a in x], model, 0.2, 10.0,
                                       float(losses[r - 1, c]))
        sum_delta = delta if sum_delta is None else [a + b for a, b in zip(sum_delta, delta)]
        sum_h += h
    x = [np.asarray(g - d / sum_h) for g, d in zip(x, sum_delta)]
out.update({f"QFedAvg-own-losses/{i}": a for i, a in enumerate(x)})
np.savez(sys.argv[2], **out)
"""


def seeded_updates() -> dict[str, np.ndarray]:
    """The initial model, every round's client offsets and the example counts."""
    rng = np.random.default_rng(SEED)
    x0 = [rng.normal(size=(4, 3)), rng.normal(size=(3,))]
    data = {"x0_0": x0[0], "x0_1": x0[1], "rounds": np.array(ROUNDS)}
    data["clients"] = np.array(CLIENTS)
    data["settings"] = np.array([ETA, BETA_1, BETA_2, TAU])
    for r in range(1, ROUNDS + 1):
        for c in range(CLIENTS):
            for i, a in enumerate(x0):
                data[f"off_{r}_{c}_{i}"] = rng.normal(scale=0.1 * (c + 1), size=a.shape)
    data["counts"] = rng.integers(5, 50, size=CLIENTS)
    data["losses"] = rng.uniform(0.2, 2.0, size=(ROUNDS, CLIENTS))
    data["central_loss"] = rng.uniform(0.2, 2.0, size=ROUNDS)
    return data


def client_models(data: dict[str, np.ndarray], r: int, x: list[np.ndarray]) -> list:
    return [[a + data[f"off_{r}_{c}_{i}"] for i, a in enumerate(x)] for c in range(CLIENTS)]


def run_rengo(strategy: Strategy, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    x = [data["x0_0"], data["x0_1"]]
    strategy.initialize(x)
    for r in range(1, ROUNDS + 1):
        acc = strategy.accumulator(r, x)
        for model, n in zip(client_models(data, r, x), data["counts"], strict=True):
            acc.add(model, float(n), {})
        x = as_aggregate(strategy.aggregate_fit(r, x, acc, np.random.default_rng(0))).parameters
    return x


def run_rengo_qffl(data: dict[str, np.ndarray], losses: np.ndarray) -> list[np.ndarray]:
    """rengo's QFedAvg (q 0.2, qffl_learning_rate 0.1) where client c of round r measured
    ``losses[r - 1, c]``: the replies its ``qffl`` mod would send, folded by the strategy."""
    strategy = QFedAvg(q_param=0.2, qffl_learning_rate=0.1)
    x = [data["x0_0"], data["x0_1"]]
    strategy.initialize(x)
    for r in range(1, ROUNDS + 1):
        acc = strategy.accumulator(r, x)
        for c, model in enumerate(client_models(data, r, x)):
            delta, h = qffl_terms(x, model, float(losses[r - 1, c]), 0.2, 10.0)
            reply = FitResult([*delta, np.asarray(h)], int(data["counts"][c]))
            strategy.add_result(acc, str(c), reply)
        x = as_aggregate(strategy.aggregate_fit(r, x, acc, np.random.default_rng(0))).parameters
    return x


def flower_adaptive(data: dict[str, np.ndarray], kind: str) -> list[np.ndarray]:
    """Flower's FedOpt family in numpy: moments start at 0 (not tau^2), FedAdagrad has no
    first moment (beta_1 = 0), and FedAdam scales eta by sqrt(1 - b2^(t+1)) / (1 - b1^(t+1))."""
    x = [data["x0_0"], data["x0_1"]]
    b1 = 0.0 if kind == "FedAdagrad" else BETA_1
    m = [np.zeros_like(a) for a in x]
    v = [np.zeros_like(a) for a in x]
    counts = data["counts"].astype(float)
    for t in range(1, ROUNDS + 1):
        models = client_models(data, t, x)
        mean = [
            sum(n * mod[i] for mod, n in zip(models, counts, strict=True)) / counts.sum()
            for i in (0, 1)
        ]
        d = [mean[i] - x[i] for i in (0, 1)]
        m = [b1 * m[i] + (1 - b1) * d[i] for i in (0, 1)]
        if kind == "FedAdam":
            v = [BETA_2 * v[i] + (1 - BETA_2) * d[i] ** 2 for i in (0, 1)]
            eta = ETA * np.sqrt(1 - BETA_2 ** (t + 1)) / (1 - BETA_1 ** (t + 1))
        elif kind == "FedYogi":
            v = [v[i] - (1 - BETA_2) * d[i] ** 2 * np.sign(v[i] - d[i] ** 2) for i in (0, 1)]
            eta = ETA
        else:
            v = [v[i] + d[i] ** 2 for i in (0, 1)]
            eta = ETA
        x = [x[i] + eta * m[i] / (np.sqrt(v[i]) + TAU) for i in (0, 1)]
    return x


def flower_multikrum(data: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Multi-Krum keeping the 3 best-scored models, averaged weighted by examples (Flower)."""
    from rengo.core.parameters import flatten, unflatten
    from rengo.hfl.strategy.robust import krum_scores

    x = [data["x0_0"], data["x0_1"]]
    counts = data["counts"].astype(float)
    for t in range(1, ROUNDS + 1):
        rows = np.stack([flatten(m) for m in client_models(data, t, x)])
        kept = np.argsort(krum_scores(rows, 1), kind="stable")[:3]
        mean = (counts[kept, None] * rows[kept]).sum(axis=0) / counts[kept].sum()
        x = [np.asarray(a) for a in unflatten(mean, x)]
    return x


RENGO: dict[str, Callable[[], Strategy]] = {
    "FedAvg": FedAvg,
    "FedAdam": lambda: FedAdam(eta=ETA, beta_1=BETA_1, beta_2=BETA_2, tau=TAU),
    "FedYogi": lambda: FedYogi(eta=ETA, beta_1=BETA_1, beta_2=BETA_2, tau=TAU),
    "FedAdagrad": lambda: FedAdagrad(eta=ETA, beta_1=0.0, tau=TAU),
    "FedAvgM": lambda: FedAvgM(server_learning_rate=1.0, server_momentum=0.9),
    "FedMedian": FedMedian,
    "FedTrimmedAvg": lambda: FedTrimmedAvg(beta=0.2),
    "Krum": lambda: Krum(num_byzantine=1, num_selected=1),
    "Multi-Krum": lambda: Krum(num_byzantine=1, num_selected=3),
}
FLOWER_FORMULA: dict[str, Callable[[dict[str, np.ndarray]], list[np.ndarray]]] = {
    "FedAdam": lambda d: flower_adaptive(d, "FedAdam"),
    "FedYogi": lambda d: flower_adaptive(d, "FedYogi"),
    "FedAdagrad": lambda d: flower_adaptive(d, "FedAdagrad"),
    "Multi-Krum": flower_multikrum,
}


def largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="build the Flower venv first")
    parser.add_argument("--flower-python", type=Path, default=FLOWER_VENV / "bin" / "python")
    args = parser.parse_args()
    if args.setup:
        setup_flower_venv()
    data = seeded_updates()
    with tempfile.TemporaryDirectory() as tmp:
        updates, out = Path(tmp) / "updates.npz", Path(tmp) / "flower.npz"
        np.savez(updates, **data)
        env = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
        subprocess.run(
            [str(args.flower_python), "-c", FLOWER_SIDE, str(updates), str(out)],
            check=True,
            env=env,
        )
        flower = dict(np.load(out))
    print(
        f"{ROUNDS} rounds, {CLIENTS} clients; eta={ETA} beta_1={BETA_1} beta_2={BETA_2} tau={TAU}"
    )
    print(
        "| strategy | max abs(Flower - start): how far it moved | max abs(rengo - Flower) | "
        "Flower's formula replayed: max abs(it - Flower) |"
    )
    print("|---|---|---|---|")
    start = [data["x0_0"], data["x0_1"]]
    one_loss = np.repeat(data["central_loss"][:, None], CLIENTS, axis=1)
    ours_by_name = {name: run_rengo(build(), data) for name, build in RENGO.items()}
    ours_by_name["QFedAvg-one-loss"] = run_rengo_qffl(data, one_loss)
    ours_by_name["QFedAvg-own-losses"] = run_rengo_qffl(data, data["losses"])
    for name, ours in ours_by_name.items():
        theirs = [flower[f"{name}/{i}"] for i in (0, 1)]
        replay = FLOWER_FORMULA.get(name)
        replayed = f"{largest_difference(replay(data), theirs):.2g}" if replay else "-"
        moved = largest_difference(theirs, start)
        print(f"| {name} | {moved:.3g} | {largest_difference(ours, theirs):.3g} | {replayed} |")


if __name__ == "__main__":
    main()

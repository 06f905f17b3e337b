"""What q-FedAvg buys: the worst client's loss and the spread of the clients' losses, q = 0
(the unweighted mean of the clients' models), 1 and 5.

Six logistic-regression clients of 60 rows (4 features, 3 Gaussian classes); five alike, and
one whose labels are rotated (class c labelled c + 1), so no one model fits all six. 30
rounds of q-FedAvg (qffl_learning_rate 0.1, clients' lr 0.1, one local epoch, batch 20), for
each data seed; the losses are each client's on its own training rows with the final model.
Not a timing. ``tests/hfl/test_qfedavg.py`` checks the same ordering on one seed.

Run:
    .venv/bin/python benchmarks/qfedavg_fairness.py [--seeds 6]
"""

from __future__ import annotations

import argparse

import numpy as np

from rengo.hfl import (
    LogisticRegressionClient,
    QFedAvg,
    simulate,
    softmax_init,
    softmax_loss_grad,
)

CENTRES = np.arange(12, dtype=np.float64).reshape(3, 4) % 3.0 - 1.0


def blobs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows around three class centres (the tests' ``gaussian_blobs``)."""
    y = rng.integers(0, 3, size=n)
    return CENTRES[y] + rng.normal(scale=0.8, size=(n, 4)), y


def federation(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    data = {str(i): blobs(rng, 60) for i in range(5)}
    X, y = blobs(rng, 60)
    data["odd"] = (X, (y + 1) % 3)
    return data


def losses_after(data: dict[str, tuple[np.ndarray, np.ndarray]], q: float) -> list[float]:
    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = data[cid]
        return LogisticRegressionClient(X, y, lr=0.1, local_epochs=1, batch_size=20)

    strategy = QFedAvg(q_param=q, qffl_learning_rate=0.1, min_fit_clients=len(data))
    history = simulate(client_fn, list(data), strategy, softmax_init(4, 3), 30, seed=4)
    return [softmax_loss_grad(list(history.parameters), X, y, 0.0)[0] for X, y in data.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    print("| q | worst client's loss | std of the losses | mean loss |")
    print("|---|---|---|---|")
    for q in (0.0, 1.0, 5.0):
        runs = [losses_after(federation(seed), q) for seed in range(args.seeds)]
        cells = []
        for stat in (np.max, np.std, np.mean):
            values = [float(stat(r)) for r in runs]
            cells.append(f"{np.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]")
        print(f"| {q:g} | " + " | ".join(cells) + " |")
    print(f"median [min-max] over {args.seeds} data seeds")


if __name__ == "__main__":
    main()

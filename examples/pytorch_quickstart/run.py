"""Bring your own PyTorch model: a small CNN trained by federated averaging over clients
that each hold a label-skewed slice of MNIST.

    .venv/bin/python examples/pytorch_quickstart/run.py
    .venv/bin/python examples/pytorch_quickstart/run.py --device auto --executor process

Uses MNIST's official 10,000-image test split from the shared data folder
(``../shared/data/mnist_test``, read by ``rengo.data.load_mnist_test``) and scikit-learn's
bundled 8x8 digits when it is absent, so it always runs. Everything rengo-specific is the
``client_fn`` and one ``simulate`` call; the run is recorded in
the run store (``rengo runs show RUN``, ``rengo runs plot RUN --clients``).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rengo.core import DataError
from rengo.data import Dataset, federate, load_digits, load_mnist_test
from rengo.hfl import FedAvg, TorchClient, evaluate_model, get_parameters, set_parameters, simulate
from rengo.tracking import RunStore


class SmallCNN(nn.Module):
    """Two convolutions and a linear head; works for 28x28 MNIST and 8x8 digits alike."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Linear(16 * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def load_images(samples: int | None, seed: int) -> tuple[Dataset, int]:
    """MNIST's test split (or the bundled digits) as images in [0, 1], and their side."""
    try:
        data = load_mnist_test()
        side = 28
    except DataError as missing:
        print(f"MNIST not found ({missing}); using scikit-learn's bundled 8x8 digits")
        digits = load_digits()
        data = Dataset(digits.X / 16.0, digits.y, digits.feature_names, digits.classes, "digits")
        side = 8
    if samples is not None and samples < len(data.y):
        keep = np.sort(np.random.default_rng(seed).choice(len(data.y), samples, replace=False))
        data = Dataset(data.X[keep], data.y[keep], data.feature_names, data.classes, data.name)
    return data, side


def sgd_momentum(params: Any, lr: float) -> torch.optim.Optimizer:
    """The clients' optimiser (made afresh each round: no momentum crosses rounds)."""
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def tensors(data: Dataset, side: int) -> TensorDataset:
    images = torch.from_numpy(data.X.astype(np.float32).reshape(-1, 1, side, side))
    return TensorDataset(images, torch.from_numpy(data.labels().astype(np.int64)))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet label skew")
    parser.add_argument("--samples", type=int, default=None, help="use this many images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    parser.add_argument("--executor", default="serial", help="serial, process or ray")
    parser.add_argument("--store", default=None, help="run store (default: ./rengo-runs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data, side = load_images(args.samples, args.seed)
    fed = federate(data, "dirichlet", args.clients, seed=args.seed, test_size=0.2, alpha=args.alpha)
    print(f"{data.name}: {len(data.y)} images over {args.clients} clients (Dirichlet {args.alpha})")

    # --- the only rengo-specific part: a client per id, and a simulation ----------------
    def client_fn(cid: str) -> TorchClient:
        loader = DataLoader(tensors(fed.client(cid), side), batch_size=32, shuffle=True)
        return TorchClient(
            SmallCNN(), loader, lr=0.05, local_epochs=1, optimizer=sgd_momentum, device=args.device
        )

    assert fed.test is not None
    test_loader = DataLoader(tensors(fed.test, side), batch_size=512)
    judge = SmallCNN()

    def evaluate(server_round: int, parameters: list[np.ndarray]) -> tuple[float, dict[str, float]]:
        set_parameters(judge, parameters)
        loss, accuracy, _ = evaluate_model(judge, test_loader)
        return loss, {"accuracy": accuracy}

    torch.manual_seed(args.seed)
    with RunStore(args.store) as store:
        history = simulate(
            client_fn,
            fed.client_ids,
            FedAvg(fraction_evaluate=0.0, evaluate_fn=evaluate),
            get_parameters(SmallCNN()),
            args.rounds,
            seed=args.seed,
            executor=args.executor,
            device=None if args.device == "cpu" else args.device,
            store=store,
            run_name="pytorch-quickstart",
            run_config={"dataset": data.name, "model": "SmallCNN"},
            progress=True,
        )
    accuracy = history.last("central_accuracy")
    print(f"test accuracy after {args.rounds} rounds: {accuracy:.3f}")
    print(f"run {history.run_id}: `rengo runs show {history.run_id}`")
    return {"run_id": history.run_id, "accuracy": accuracy, "dataset": data.name}


if __name__ == "__main__":
    main()

"""The benchmark task shared by every side of ``hfl_vs_flower.py``, and the framework-free floor.

One ``.npz`` file (written by the orchestrator) holds the standardised digits split, the
Dirichlet partition (index arrays), the initial MLP weights and the per-(round, client) seeds
from ``rengo.hfl.client_seed``. This module needs only numpy and torch, so the Flower venv
imports it too: the floor and Flower's ClientApp run the same :func:`local_train` on the same
data with the same seeds, which is what rengo's ``TorchClient.fit`` computes.

Run the floor: ``python benchmarks/hfl_task.py TASK.npz OUT.json``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

THREADS_PER_PROCESS = 1


@dataclass
class Task:
    """Everything one benchmark size needs, as loaded from the task file."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    parts: list[np.ndarray]
    initial: list[np.ndarray]
    seeds: np.ndarray  # [rounds, num_clients] uint32, row r-1 is round r
    lr: float
    batch_size: int
    local_epochs: int

    @property
    def num_clients(self) -> int:
        return len(self.parts)

    @property
    def rounds(self) -> int:
        return int(self.seeds.shape[0])

    def seed(self, server_round: int, client: int) -> int:
        """The seed ``rengo.hfl.client_seed(run_seed, server_round, str(client))`` gave."""
        return int(self.seeds[server_round - 1, client])

    def client_loader(self, client: int) -> DataLoader:
        """The client's shuffled mini-batch loader over its own rows."""
        rows = torch.from_numpy(self.parts[client])
        data = TensorDataset(self.x_train[rows], self.y_train[rows])
        return DataLoader(data, batch_size=self.batch_size, shuffle=True)


def load_task(path: str | Path) -> Task:
    """Read a task file written by ``hfl_vs_flower.write_task``."""
    with np.load(path) as z:
        offsets = z["part_offsets"]
        flat = z["part_rows"]
        parts = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        n_init = int(z["num_initial"])
        return Task(
            x_train=torch.from_numpy(z["x_train"]),
            y_train=torch.from_numpy(z["y_train"]),
            x_test=torch.from_numpy(z["x_test"]),
            y_test=torch.from_numpy(z["y_test"]),
            parts=parts,
            initial=[z[f"init_{i}"] for i in range(n_init)],
            seeds=z["seeds"],
            lr=float(z["lr"]),
            batch_size=int(z["batch_size"]),
            local_epochs=int(z["local_epochs"]),
        )


def pin_threads() -> None:
    """Same intra-op thread count in every process of every system."""
    torch.set_num_threads(THREADS_PER_PROCESS)


def make_model(num_features: int = 64, num_classes: int = 10) -> nn.Module:
    """MLP 64-64-10; same layers (and state_dict keys) as ``rengo.hfl.torch_client.make_mlp``."""
    return nn.Sequential(
        nn.Linear(num_features, 64),
        nn.ReLU(),
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def load_arrays(model: nn.Module, arrays: list[np.ndarray]) -> None:
    """Load numpy arrays into ``model`` in ``state_dict`` order."""
    keys = list(model.state_dict().keys())
    model.load_state_dict(
        {k: torch.from_numpy(np.asarray(a)) for k, a in zip(keys, arrays, strict=True)}
    )


def model_arrays(model: nn.Module) -> list[np.ndarray]:
    """The model's state as numpy arrays (copies), in ``state_dict`` order."""
    return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]


def local_train(
    model: nn.Module, loader: DataLoader, seed: int, lr: float, epochs: int
) -> tuple[int, float]:
    """SGD over ``loader`` seeded like ``TorchClient.fit``; returns (examples, mean loss)."""
    torch.manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    total, seen = 0.0, 0
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yb)
            seen += len(yb)
    return len(loader.dataset), total / max(seen, 1)  # type: ignore[arg-type]


@torch.no_grad()
def central_evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Loss and accuracy of ``model`` on the held-out test set (one batch)."""
    model.eval()
    out = model(x)
    return float(nn.functional.cross_entropy(out, y)), float(
        (out.argmax(dim=1) == y).float().mean()
    )


def fingerprint(arrays: list[np.ndarray]) -> str:
    """A short hash of the final model, to show two systems computed the same bits."""
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def run_floor(task: Task) -> dict[str, object]:
    """FedAvg as a plain loop: no framework, no serialisation, one process, one model object.

    Clients train in rengo's order (client ids sorted as strings) and the average is an
    example-weighted float64 sum cast back to float32, as rengo's FedAvg does.
    """
    model = make_model()
    global_arrays = [a.copy() for a in task.initial]
    loaders = [task.client_loader(c) for c in range(task.num_clients)]
    order = sorted(range(task.num_clients), key=str)
    accuracies: list[float] = []
    start = time.perf_counter()
    for server_round in range(1, task.rounds + 1):
        sums = [np.zeros(a.shape, dtype=np.float64) for a in global_arrays]
        total = 0.0
        for c in order:
            load_arrays(model, global_arrays)
            n, _ = local_train(
                model, loaders[c], task.seed(server_round, c), task.lr, task.local_epochs
            )
            for s, a in zip(sums, model_arrays(model), strict=True):
                s += float(n) * a.astype(np.float64)
            total += n
        global_arrays = [
            (s / total).astype(g.dtype, copy=False)
            for s, g in zip(sums, global_arrays, strict=True)
        ]
        load_arrays(model, global_arrays)
        accuracies.append(central_evaluate(model, task.x_test, task.y_test)[1])
    rounds_s = time.perf_counter() - start
    return {
        "accuracies": accuracies,
        "final_accuracy": accuracies[-1],
        "rounds_s": rounds_s,
        "model_sha": fingerprint(global_arrays),
    }


def main(argv: list[str]) -> None:
    task_path, out_path = argv
    pin_threads()
    task = load_task(task_path)
    result = run_floor(task)
    Path(out_path).write_text(json.dumps({"system": "floor", **result}))


if __name__ == "__main__":
    main(sys.argv[1:])

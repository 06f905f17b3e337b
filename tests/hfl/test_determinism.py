"""Same seed, same final model - bit for bit - on the serial and the process executor, for
the numpy client and for a torch MLP fed by a shuffling DataLoader; another seed differs."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.hfl import FedAvg, simulate


def _run_numpy(logistic_client_fn, executor: str, seed: int) -> list[np.ndarray]:
    strategy = FedAvg(fraction_fit=0.5, min_fit_clients=3)
    init = [np.zeros((4, 3)), np.zeros(3)]
    return simulate(
        logistic_client_fn, 6, strategy, init, 3, seed=seed, executor=executor, workers=2
    ).parameters


def test_numpy_runs_are_bit_identical_across_executors(logistic_client_fn) -> None:
    serial = _run_numpy(logistic_client_fn, "serial", seed=5)
    process = _run_numpy(logistic_client_fn, "process", seed=5)
    again = _run_numpy(logistic_client_fn, "serial", seed=5)
    other = _run_numpy(logistic_client_fn, "serial", seed=6)
    for a, b, c in zip(serial, process, again, strict=True):
        assert a.tobytes() == b.tobytes() == c.tobytes()
    assert any(a.tobytes() != d.tobytes() for a, d in zip(serial, other, strict=True))


@pytest.mark.parametrize("loader_kind", ["made-per-call", "own-generator-made-ahead"])
def test_torch_mlp_runs_are_bit_identical_across_executors(client_data, loader_kind) -> None:
    """Also for loaders made before the rounds with a generator of their own (PyTorch's
    reproducibility guide's advice): each process worker advanced its own copy, and the
    same seed gave another model on every run."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_client import TorchClient, get_parameters, make_mlp

    tensors = {
        cid: TensorDataset(torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y))
        for cid, (X, y) in client_data.items()
    }
    ahead = {
        cid: DataLoader(t, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
        for cid, t in tensors.items()
    }

    def client_fn(cid: str) -> TorchClient:
        loader = (
            ahead[cid]
            if loader_kind == "own-generator-made-ahead"
            else DataLoader(tensors[cid], batch_size=8, shuffle=True)
        )
        return TorchClient(make_mlp(4, 3, hidden=(8,)), loader, lr=0.1, local_epochs=1)

    torch.manual_seed(0)
    init = get_parameters(make_mlp(4, 3, hidden=(8,)))

    def run(executor: str, seed: int) -> list[np.ndarray]:
        strategy = FedAvg(fraction_fit=0.5, min_fit_clients=3)
        return simulate(
            client_fn, 6, strategy, init, 2, seed=seed, executor=executor, workers=2
        ).parameters

    serial, process, other = run("serial", 3), run("process", 3), run("serial", 4)
    again = run("process", 3)
    for a, b, c in zip(serial, process, again, strict=True):
        assert a.dtype == np.float32
        assert a.tobytes() == b.tobytes() == c.tobytes()
    assert any(a.tobytes() != c.tobytes() for a, c in zip(serial, other, strict=True))
    assert any(a.tobytes() != i.tobytes() for a, i in zip(serial, init, strict=True))

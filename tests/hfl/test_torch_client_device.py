"""Bring your own PyTorch model: TorchClient is public (loaded only when used), takes a
device (cpu, cuda, cuda:N, mps, auto) that is checked against the machine, and the process
executor spreads its workers over the GPUs. CUDA and MPS paths are checked with the
availability functions patched where the machine has no such device."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.core.errors import ConfigError  # noqa: E402
from rengo.core.install_hint import install_hint  # noqa: E402
from rengo.hfl import (  # noqa: E402
    FedAvg,
    TorchClient,
    get_parameters,
    make_mlp,
    resolve_device,
    simulate,
)
from rengo.transport.pool import Request  # noqa: E402
from rengo.transport.simulation import ProcessPool, worker_gpus  # noqa: E402


def test_torch_names_load_on_first_use_and_say_what_is_missing() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import rengo.hfl\n"
        "try:\n"
        "    rengo.hfl.TorchClient\n"
        "except ImportError as exc:\n"
        "    print('missing:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert install_hint("torch") in out.stdout


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine pretends to have two CUDA GPUs (nothing is ever run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(None) is None


def test_a_missing_device_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"sees no CUDA GPU.*'auto'"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="Metal backend is not available"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match="has 2 CUDA GPU"):
        resolve_device("cuda:2")
    with pytest.raises(ConfigError, match="has 2 CUDA GPU"):
        worker_gpus("cuda:5")


def _data(seed: int) -> DataLoader:
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(rng.normal(size=(64, 5)).astype(np.float32))
    y = torch.from_numpy((rng.random(64) > 0.5).astype(np.int64))
    return DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)


def test_an_explicit_cpu_device_trains_exactly_like_leaving_the_model_alone() -> None:
    def run(device: str | None) -> list[np.ndarray]:
        torch.manual_seed(0)
        init = get_parameters(make_mlp(5, 2, (8,)))

        def client_fn(cid: str) -> TorchClient:
            return TorchClient(make_mlp(5, 2, (8,)), _data(int(cid)), lr=0.1, device=device)

        return simulate(client_fn, 2, FedAvg(), init, 2, seed=3).parameters

    for a, b in zip(run(None), run("cpu"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_model_moved_beforehand_takes_its_batches_to_its_own_device() -> None:
    """With device=None the batches stayed on the CPU: a model the user had moved to a GPU
    failed on its first batch. (The meta device stands in for a GPU here.)"""
    from rengo.hfl.torch_loader import batch_device

    moved = make_mlp(5, 2, (8,)).to("meta")
    assert batch_device(moved, None) == torch.device("meta")
    assert batch_device(moved, torch.device("cpu")) == torch.device("cpu")  # named: it wins
    assert batch_device(torch.nn.ReLU(), None) is None  # no parameters: batches as they come


def test_dp_sgd_moves_every_batch_to_the_clients_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """DP-SGD's loop never moved its batches: on a GPU its first step failed."""
    pytest.importorskip("opacus")
    import rengo.hfl.torch_dp as torch_dp
    from rengo.privacy import LocalDP

    seen: list[object] = []
    real = torch_dp.on_device

    def recording(xb: object, yb: object, device: object) -> tuple[object, object]:
        seen.append(device)
        return real(xb, yb, device)  # type: ignore[arg-type]

    monkeypatch.setattr(torch_dp, "on_device", recording)
    dp = LocalDP(noise_multiplier=1.0, max_grad_norm=1.0, seeded_noise=True)
    client = TorchClient(make_mlp(5, 2, (8,)), _data(0), dp=dp, device="cpu")
    client.fit(get_parameters(client.model), {"seed": 0})
    assert seen and set(seen) == {torch.device("cpu")}


def test_worker_gpus_spread_workers_over_every_visible_gpu(gpus: None) -> None:
    assert worker_gpus("cuda") == [0, 1]
    assert worker_gpus("cuda:1") == [1]
    assert worker_gpus("auto") == [0, 1]
    assert worker_gpus("cpu") == [] and worker_gpus(None) == []


def _visible(client_id: str, key: str, payload: bytes, state: bytes | None):  # type: ignore[no-untyped-def]
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset").encode(), state


def test_process_workers_each_see_one_gpu(gpus: None) -> None:
    pool = ProcessPool(_visible, ["a", "b", "c", "d"], workers=2, device="cuda")
    try:
        replies = list(pool.request([Request(c, "fit", b"") for c in "abcd"]))
    finally:
        pool.close()
    seen = {r.payload for r in replies}
    assert seen <= {b"0", b"1"} and len(seen) >= 1
    assert all(r.ok for r in replies)
    plain = ProcessPool(_visible, ["a"], workers=1)
    try:
        reply = next(iter(plain.request([Request("a", "fit", b"")])))
    finally:
        plain.close()
    assert reply.payload == os.environ.get("CUDA_VISIBLE_DEVICES", "unset").encode()


def test_workers_refuse_to_fork_once_cuda_started_here(
    gpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    pool = ProcessPool(_visible, ["a"], workers=1, device="cuda")
    try:
        with pytest.raises(ConfigError, match="CUDA is already in use"):
            list(pool.request([Request("a", "fit", b"")]))
    finally:
        pool.close()

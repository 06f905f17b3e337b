"""A federated evaluation repeats on every executor: a TorchClient evaluated on a shuffled
loader (its train loader, when it has no test loader) sums its batches' float32 losses in
the order the shuffle draws, so that order must come from the run seed, not from whatever
torch's generator was left at by the code that ran before it in the same process."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.hfl import FedAvg, TorchClient, get_parameters, make_mlp, simulate  # noqa: E402

IDS = ["a", "b", "c"]


def _client(cid: str) -> TorchClient:
    generator = torch.Generator().manual_seed(IDS.index(cid))
    x = torch.randn(60, 5, generator=generator)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True)
    return TorchClient(make_mlp(5, 2, hidden=(8,)), loader, lr=0.1)  # evaluated on `loader`


def _evaluations(executor: str) -> list[dict[str, float]]:
    torch.manual_seed(0)
    initial = get_parameters(make_mlp(5, 2, hidden=(8,)))
    strategy = FedAvg(fraction_evaluate=1.0, min_evaluate_clients=3)
    history = simulate(_client, IDS, strategy, initial, 2, seed=4, executor=executor, workers=2)
    return [r.metrics for r in history.rounds]


def test_a_shuffled_evaluation_loader_gives_the_same_metrics_on_every_executor() -> None:
    """Before, only a fit's config carried the round's seed: an evaluation shuffled its
    loader from the generator the client's last fit left (serial: another client's; a
    worker process: its own), and the losses moved in their last digits between executors
    (a wine MLP job's client-0 in round 1: 1.1130045002157039 serial, 1.1130043918436223
    with executor = "process")."""
    serial = _evaluations("serial")
    torch.rand(3)  # the generator's state between runs must not matter either
    again = _evaluations("serial")
    processes = _evaluations("process")
    assert serial == again
    assert [r["eval_loss"] for r in processes] == [r["eval_loss"] for r in serial]
    assert processes == serial

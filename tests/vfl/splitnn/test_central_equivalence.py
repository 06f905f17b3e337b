"""Split training is the centralised training of the same network: one PyTorch model whose
bottom is every party's bottom model side by side (each over its own columns), with the same
initial weights, batch order, loss and optimizer, trained on the joined rows in one place,
has the same loss curve and the same weights - the protocol adds nothing and loses nothing
(no defence noise).

Both sides run with one PyTorch (and so MKL) thread: a multi-threaded kernel may split a
sum differently from one call to the next (MKL picks its thread count at run time, fewer when
the machine is busy or several party threads call it at once), and Adam, which divides each
step by the gradient's own size, grows a last-bit difference in a near-zero gradient into a
step of the learning rate: the Adam case failed once under load."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from rengo.vfl import SplitNNClassifier
from rengo.vfl.common import batch_order
from rengo.vfl.splitnn.network import (
    bottom_sizes,
    build_mlp,
    init_mlp,
    make_optimizer,
    mlp_weights,
    party_rng,
    top_sizes,
)

SEED = 3


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Every kernel of both trainings single-threaded, so sums are added in one order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


COLUMNS = {"card": slice(0, 10), "bank": slice(10, 20), "telecom": slice(20, 30)}


def _central(
    model: SplitNNClassifier, x: np.ndarray, y: np.ndarray, optimizer: str
) -> tuple[list[float], list[np.ndarray], dict[str, list[np.ndarray]]]:
    """The same network trained in one process on the joined rows, in the split run's row
    order: the loss per epoch, the top model's and each bottom model's weights."""
    config = model.config
    order = ["card", *model.hosts_]
    rows = model.fit_run_.parties["card"].train_rows
    assert rows is not None
    columns = {k: torch.from_numpy(x[rows][:, COLUMNS[k]].astype(np.float32)) for k in order}
    labels = torch.from_numpy(y[rows].astype(np.float32))
    hidden, width = config.bottom_hidden, config.embedding_dim
    init = party_rng(SEED, "card", "init")  # the label party draws its bottom, then its top
    bottoms = {"card": build_mlp(init_mlp(bottom_sizes(10, hidden, width), init), final_relu=True)}
    top = build_mlp(
        init_mlp(top_sizes(width * len(order), config.top_hidden, 1), init), final_relu=False
    )
    for host in model.hosts_:
        start = init_mlp(bottom_sizes(10, hidden, width), party_rng(SEED, host, "init"))
        bottoms[host] = build_mlp(start, final_relu=True)
    parameters = [*top.parameters(), *(p for b in bottoms.values() for p in b.parameters())]
    step = make_optimizer(parameters, optimizer, config.learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for epoch in range(config.epochs):
        total = 0.0
        for batch in batch_order(
            model.label_model_.batch_seed, epoch, len(rows), config.batch_size
        ):
            index = torch.from_numpy(batch)
            joined = torch.cat([bottoms[k](columns[k][index]) for k in order], dim=1)
            loss = loss_fn(top(joined)[:, 0], labels[index])
            step.zero_grad()
            loss.backward()
            step.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(rows))
    return losses, mlp_weights(top), {k: mlp_weights(b) for k, b in bottoms.items()}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_split_training_equals_the_same_network_trained_centrally(
    cancer: dict[str, Any], optimizer: str
) -> None:
    x, y = cancer["x"], cancer["y"]
    ids = cancer["ids"]
    model = SplitNNClassifier(
        epochs=4, batch_size=32, learning_rate=0.01, optimizer=optimizer, seed=SEED
    )
    model.fit({k: (ids, x[:, c]) for k, c in COLUMNS.items()}, "card", y)
    losses, top, bottoms = _central(model, x, y, optimizer)
    np.testing.assert_allclose(model.losses_, losses, rtol=1e-6)
    for split, central in zip(model.label_model_.top, top, strict=True):
        np.testing.assert_allclose(split, central, atol=1e-6)
    assert model.label_model_.bottom is not None
    split_bottoms = {"card": model.label_model_.bottom} | {
        k: m.bottom for k, m in model.feature_models_.items()
    }
    for name, weights in bottoms.items():
        for split, central in zip(split_bottoms[name], weights, strict=True):
            np.testing.assert_allclose(split, central, atol=1e-6)

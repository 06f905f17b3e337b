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
from rengo.vfl.splitnn.network import (
    bottom_sizes,
    build_mlp,
    init_mlp,
    make_optimizer,
    mlp_weights,
    party_rng,
    top_sizes,
)
from rengo.vfl.splitnn.roles import held_out_rows, training_batches

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
    seed = model.label_model_.batch_seed
    trained = np.setdiff1d(np.arange(len(rows)), held_out_rows(seed, len(rows), config))
    weights = torch.ones(len(rows))
    if config.class_weight == "balanced":  # n / (2 n_k) over the trained rows, by hand
        counts = np.bincount(y[rows][trained].astype(int), minlength=2)
        per_class = torch.tensor(len(trained) / (2.0 * counts), dtype=torch.float32)
        weights = per_class[torch.from_numpy(y[rows].astype(np.int64))]
    unweighted = torch.nn.BCEWithLogitsLoss()
    each_row = torch.nn.BCEWithLogitsLoss(reduction="none")
    losses = []
    for epoch in range(config.epochs):
        total = 0.0
        for batch in training_batches(seed, epoch, len(rows), config):
            index = torch.from_numpy(batch)
            joined = torch.cat([bottoms[k](columns[k][index]) for k in order], dim=1)
            if config.class_weight == "none":
                loss = unweighted(top(joined)[:, 0], labels[index])
            else:
                loss = (each_row(top(joined)[:, 0], labels[index]) * weights[index]).mean()
            step.zero_grad()
            loss.backward()
            step.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(trained))
    return losses, mlp_weights(top), {k: mlp_weights(b) for k, b in bottoms.items()}


WEIGHTED_WITH_HELD_OUT_ROWS = {
    "class_weight": "balanced",
    "validation_fraction": 0.25,
    "n_iter_no_change": 100,  # never stops within 4 epochs: every epoch is compared
}


@pytest.mark.parametrize(
    ("optimizer", "options"),
    [("adam", {}), ("sgd", {}), ("adam", WEIGHTED_WITH_HELD_OUT_ROWS)],
    ids=["adam", "sgd", "adam-balanced-class-weights-validation-share"],
)
def test_split_training_equals_the_same_network_trained_centrally(
    cancer: dict[str, Any], optimizer: str, options: dict[str, Any]
) -> None:
    x, y = cancer["x"], cancer["y"]
    ids = cancer["ids"]
    model = SplitNNClassifier(
        epochs=4, batch_size=32, learning_rate=0.01, optimizer=optimizer, seed=SEED, **options
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

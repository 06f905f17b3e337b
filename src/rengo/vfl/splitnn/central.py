"""The centralised anchor: the SplitNN network trained on the joined columns in one place.

What split learning is measured against: one bottom model over every column, as wide as
the parties' bottom models together (``parties`` times ``bottom_hidden`` and
``embedding_dim``), the same top model, loss, optimizer, batch order and seed. It is what
a single data holder with every column would train, so the gap between the two is the
price of splitting the columns between parties (each bottom model sees only its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.vfl.common import batch_order
from rengo.vfl.splitnn.config import SplitNNConfig
from rengo.vfl.splitnn.network import (
    Weights,
    bottom_sizes,
    build_mlp,
    init_mlp,
    make_optimizer,
    mlp_weights,
    party_rng,
    require_torch,
    top_sizes,
)
from rengo.vfl.splitnn.roles import as_features, encode_labels


@dataclass(frozen=True)
class CentralSplitNN:
    """The centrally trained network: bottom and top weights, classes, per-epoch losses."""

    bottom: Weights
    top: Weights
    classes: np.ndarray
    task: str
    losses: list[float]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``(rows, classes)`` probabilities of ``features`` (every column, joined)."""
        torch = require_torch()
        x = torch.from_numpy(as_features(features, "central"))
        with torch.no_grad():
            embedding = build_mlp(self.bottom, final_relu=True)(x)
            logits = build_mlp(self.top, final_relu=False)(embedding).double()
            if self.task == "binary":
                positive = torch.sigmoid(logits[:, 0]).numpy()
                return np.column_stack([1.0 - positive, positive])
            out: np.ndarray = torch.softmax(logits, dim=1).numpy()
            return out

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The most probable class of every row."""
        predicted: np.ndarray = self.classes[np.argmax(self.predict_proba(features), axis=1)]
        return predicted

    def score(self, features: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy on ``(features, labels)``."""
        return float(np.mean(self.predict(features) == np.asarray(labels)))


def fit_central(
    features: np.ndarray,
    labels: np.ndarray,
    config: SplitNNConfig,
    *,
    parties: int = 2,
    seed: int | None = None,
) -> CentralSplitNN:
    """Train the SplitNN network on joined columns in one place (the anchor).

    Parameters
    ----------
    features, labels
        Every column of every row, and the labels.
    config
        The split run's settings (its defence does not apply: nothing is sent).
    parties
        How many parties' bottom models the central one is as wide as.
    seed
        Batch order and initial weights (else drawn fresh).

    Returns
    -------
    CentralSplitNN
        The trained network.

    Raises
    ------
    DataError
        For non-finite features or unusable labels.
    """
    torch = require_torch()
    x = as_features(features, "central")
    classes, index = encode_labels(labels, config.task, "central")
    init = party_rng(seed, "central", "init")
    width = config.embedding_dim * parties
    bottom = build_mlp(
        init_mlp(bottom_sizes(x.shape[1], config.bottom_hidden * parties, width), init),
        final_relu=True,
    )
    outputs = 1 if config.task == "binary" else len(classes)
    top = build_mlp(init_mlp(top_sizes(width, config.top_hidden, outputs), init), final_relu=False)
    optimizer = make_optimizer(
        [*top.parameters(), *bottom.parameters()], config.optimizer, config.learning_rate
    )
    xt = torch.from_numpy(x)
    if config.task == "binary":
        yt = torch.from_numpy(index.astype(np.float32))
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        yt = torch.from_numpy(index)
        loss_fn = torch.nn.CrossEntropyLoss()
    batch_seed = int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
    losses: list[float] = []
    for epoch in range(config.epochs):
        total = 0.0
        for rows in batch_order(batch_seed, epoch, len(x), config.batch_size):
            index_t = torch.from_numpy(rows)
            logits = top(bottom(xt[index_t]))
            if config.task == "binary":
                logits = logits[:, 0]
            loss = loss_fn(logits, yt[index_t])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        losses.append(total / len(x))
    return CentralSplitNN(mlp_weights(bottom), mlp_weights(top), classes, config.task, losses)

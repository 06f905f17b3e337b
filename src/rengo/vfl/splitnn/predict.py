"""Scoring with a trained SplitNN: feature parties send embeddings, the label party the rest.

Every feature party sends the embeddings of its aligned rows to score; the label party
concatenates them with its own and runs its top model. The label party learns the feature
parties' embeddings of the scored rows (as in training); feature parties learn nothing but
the number of rows. Messages sit in the ``"splitnn-predict"`` scope.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.transport.channel import Channel
from rengo.vfl.common import require_trained_columns
from rengo.vfl.splitnn.network import build_mlp, require_torch
from rengo.vfl.splitnn.roles import (
    SplitNNFeatureModel,
    SplitNNLabelModel,
    as_features,
    received_array,
)

SCOPE = "splitnn-predict"
PREDICT_SETUP = "setup"  # label party -> feature parties: rows to score
EMBEDDING = "embedding"  # feature party -> label party: e_k of every row


def splitnn_predict_label_party(
    channel: Channel,
    features: np.ndarray,
    model: SplitNNLabelModel,
    hosts: Sequence[str],
) -> np.ndarray:
    """Gather every feature party's embeddings and return the top model's prediction.

    Parameters
    ----------
    channel
        The label party's channel.
    features
        Its aligned rows to score.
    model
        Its trained model.
    hosts
        The feature parties (the same as in training).

    Returns
    -------
    numpy.ndarray
        ``P(y = classes[1])`` per row (binary), or ``(rows, classes)`` probabilities.

    Raises
    ------
    ConfigError
        If the feature parties differ from training's.
    DataError
        If its columns differ from training's.
    ProtocolError
        If a feature party sends a malformed embedding.
    """
    torch = require_torch()
    if tuple(hosts) != model.hosts:
        raise ConfigError(
            f"the model was trained with feature parties {list(model.hosts)}, "
            f"scoring names {list(hosts)}"
        )
    x = as_features(features, channel.name, allow_empty=True)
    expected = 0 if model.bottom is None else model.bottom[0].shape[1]
    require_trained_columns(x, expected, channel.name)
    scope = channel.scope(SCOPE)
    for host in hosts:
        scope.send(host, PREDICT_SETUP, {"rows": len(x)})
    width = model.top[0].shape[1] // max(1, len(hosts) + (model.bottom is not None))
    received = [
        received_array(scope.recv(h, EMBEDDING), h, len(x), width, "embedding") for h in hosts
    ]
    top = build_mlp(model.top, final_relu=False)
    with torch.no_grad():
        parts = [torch.from_numpy(e.copy()) for e in received]
        if model.bottom is not None:
            parts.insert(0, build_mlp(model.bottom, final_relu=True)(torch.from_numpy(x)))
        logits = top(torch.cat(parts, dim=1)).double()
        if model.task == "binary":
            out: np.ndarray = torch.sigmoid(logits[:, 0]).numpy()
        else:
            out = torch.softmax(logits, dim=1).numpy()
    return out


def splitnn_predict_feature_party(
    channel: Channel, features: np.ndarray, model: SplitNNFeatureModel, label_party: str
) -> None:
    """Send this party's embeddings of its aligned rows to score.

    Raises
    ------
    DataError
        If its columns differ from training's or its row count from the label party's.
    ProtocolError
        If the label party sends a malformed set-up.
    """
    torch = require_torch()
    x = require_trained_columns(
        as_features(features, channel.name), model.bottom[0].shape[1], channel.name
    )
    scope = channel.scope(SCOPE)
    setup = scope.recv(label_party, PREDICT_SETUP)
    if not isinstance(setup, dict) or set(setup) != {"rows"}:
        raise ProtocolError(f"{label_party} sent a malformed scoring set-up")
    if int(setup["rows"]) != len(x):
        raise DataError(
            f"{channel.name} holds {len(x)} rows to score, {label_party} {setup['rows']}"
        )
    with torch.no_grad():
        embedding = build_mlp(model.bottom, final_relu=True)(torch.from_numpy(x))
    scope.send(label_party, EMBEDDING, embedding.numpy().astype(np.float32))

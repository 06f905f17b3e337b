"""Scoring with a trained SplitNN: feature parties send embeddings, the label party the rest.

Every feature party sends the embeddings of its aligned rows to score; the label party
concatenates them with its own and runs its top model. The label party learns the feature
parties' embeddings of the scored rows (as in training); feature parties learn nothing but
the number of rows. Messages sit in the ``"splitnn-predict"`` scope.

Given each aligned row's index in its own table (``rows``), a party runs its networks over
its rows in its table's order, the sigmoid or softmax too, and then puts them back in the
agreed order: PSI's order is a fresh shuffle every run, and a vectorised sigmoid rounds a
row differently at another position in the array (one score in 60 moved in its last digit
between two runs), so without it the same rows scored twice with one model could differ in
their last bits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.data import Standardization
from rengo.transport.channel import Channel
from rengo.vfl.common import require_trained_columns, standardised
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


def _in_table_order(network: Callable[[Any], Any], x: Any, rows: np.ndarray | None) -> Any:
    """``network(x)``, run over the rows sorted by their index in the party's table
    (``rows``; ``None``: as given), returned in the given order."""
    if rows is None:
        return network(x)
    order = np.argsort(rows, kind="stable")
    return network(x[order])[np.argsort(order, kind="stable")]


def _scoring_features(
    features: np.ndarray,
    party: str,
    columns: int,
    inputs: Standardization | None,
    *,
    allow_empty: bool = False,
) -> np.ndarray:
    """The rows to score as the party's bottom model reads them: checked, the columns it
    trained on, z-scored with its training rows' scaling (``inputs``; ``None``: as given),
    as float32 (the same rows as in training give the same values, bit for bit)."""
    checked = as_features(features, party, allow_empty=allow_empty)
    require_trained_columns(checked, columns, party)
    if inputs is None:
        return checked
    out: np.ndarray = standardised(np.asarray(features, dtype=np.float64), inputs)
    return out.astype(np.float32)


def splitnn_predict_label_party(
    channel: Channel,
    features: np.ndarray,
    model: SplitNNLabelModel,
    hosts: Sequence[str],
    *,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Gather every feature party's embeddings and return the top model's prediction.

    Parameters
    ----------
    channel
        The label party's channel.
    features
        Its aligned rows to score, raw columns (its bottom model reads them z-scored with
        its training rows' scaling, ``model.inputs``).
    model
        Its trained model.
    hosts
        The feature parties: the same as in training, in any order (the embeddings are
        stacked in the order the top model was trained with).
    rows
        Each feature row's index in its table (``None``: the networks run over the rows as
        given): the networks run in table order, so a row's score does not depend on the
        order PSI agreed.

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
    if sorted(hosts) != sorted(model.hosts):
        raise ConfigError(
            f"the model was trained with feature parties {sorted(model.hosts)}, "
            f"scoring names {sorted(hosts)}"
        )
    # The top model's input columns follow training's order, whatever order scoring lists.
    hosts = model.hosts
    expected = 0 if model.bottom is None else model.bottom[0].shape[1]
    x = _scoring_features(features, channel.name, expected, model.inputs, allow_empty=True)
    scope = channel.scope(SCOPE)
    for host in hosts:
        scope.send(host, PREDICT_SETUP, {"rows": len(x)})
    width = model.top[0].shape[1] // max(1, len(hosts) + (model.bottom is not None))
    received = [
        received_array(scope.recv(h, EMBEDDING), h, len(x), width, "embedding") for h in hosts
    ]
    top = build_mlp(model.top, final_relu=False)

    def probabilities(stacked: Any) -> Any:
        logits = top(stacked).double()
        if model.task == "binary":
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=1)

    with torch.no_grad():
        parts = [torch.from_numpy(e.copy()) for e in received]
        if model.bottom is not None:
            bottom = build_mlp(model.bottom, final_relu=True)
            parts.insert(0, _in_table_order(bottom, torch.from_numpy(x), rows))
        out: np.ndarray = _in_table_order(probabilities, torch.cat(parts, dim=1), rows).numpy()
    return out


def splitnn_predict_feature_party(
    channel: Channel,
    features: np.ndarray,
    model: SplitNNFeatureModel,
    label_party: str,
    *,
    rows: np.ndarray | None = None,
) -> None:
    """Send this party's embeddings of its aligned rows to score (``rows``: each row's
    index in its table, the order its bottom model runs in; ``None``: as given).

    Raises
    ------
    DataError
        If its columns differ from training's or its row count from the label party's.
    ProtocolError
        If the label party sends a malformed set-up.
    """
    torch = require_torch()
    x = _scoring_features(features, channel.name, model.bottom[0].shape[1], model.inputs)
    scope = channel.scope(SCOPE)
    setup = scope.recv(label_party, PREDICT_SETUP)
    if not isinstance(setup, dict) or set(setup) != {"rows"}:
        raise ProtocolError(f"{label_party} sent a malformed scoring set-up")
    if int(setup["rows"]) != len(x):
        raise DataError(
            f"{channel.name} holds {len(x)} rows to score, {label_party} {setup['rows']}"
        )
    with torch.no_grad():
        bottom = build_mlp(model.bottom, final_relu=True)
        embedding = _in_table_order(bottom, torch.from_numpy(x), rows)
    scope.send(label_party, EMBEDDING, embedding.numpy().astype(np.float32))

"""Federated SecureBoost prediction: every party routes rows through its own nodes only.

The label party walks every row down every tree through its own splits as far as it can;
where a row reaches a feature party's node, it asks that party (one request per party and
pass, for every tree at once) which of the rows at which of its nodes go left, and the
party answers from its own column and threshold. A row needs at most ``max_depth`` passes.
The leaf values stay with the label party, which sums them into the prediction.

What each party learns: a feature party, which rows reach each of its nodes (as in
training, where every node's rows are known); the label party, which way those rows go at
that node, never a feature party's value or threshold. Nothing is encrypted: only row
indices (in the order private set intersection agreed) and packed bits travel.

Messages sit in the ``"sbt-predict"`` scope, per pass: ``sbt-predict/pass=1/route``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, ProtocolError
from rengo.transport.channel import Channel
from rengo.vfl.secureboost.boosting import leaf_table
from rengo.vfl.secureboost.model import (
    SecureBoostGuestModel,
    SecureBoostHostModel,
    goes_left,
    scoring_matrix,
)
from rengo.vfl.secureboost.objectives import link

SCOPE = "sbt-predict"
ROUTE = "route"  # guest -> host: per (tree, node) of the host, the rows at it; or done
DIRECTIONS = "directions"  # host -> guest: per (tree, node), the rows going left (bits)


def raw_scores(
    channel: Channel,
    features: np.ndarray,
    model: SecureBoostGuestModel,
    hosts: Sequence[str],
) -> np.ndarray:
    """The label party's raw scores (rows x outputs) of its aligned rows, routing through
    the hosts' nodes with them."""
    x = scoring_matrix(features, model.n_features, channel.name)
    rows, trees = len(x), model.n_trees
    position = np.zeros((rows, trees), dtype=np.int64)
    scope = channel.scope(SCOPE)
    for step_index in range(model.max_depth + 1):
        requests: dict[str, dict[str, np.ndarray]] = {host: {} for host in hosts}
        waiting = _advance_own(x, model, position, requests, channel.name)
        step = scope.scope(step=step_index)
        done = not waiting
        for host in hosts:
            step.send(host, ROUTE, {"done": done, "rows": requests[host]})
        if done:
            break
        for host in hosts:
            answer = step.recv(host, DIRECTIONS)
            _apply_answer(answer, requests[host], model, position, host)
    else:
        raise ProtocolError("a row did not reach a leaf within the trees' depth")
    return leaf_sum(model, position)


def leaf_sum(model: SecureBoostGuestModel, position: np.ndarray) -> np.ndarray:
    """Raw scores (rows x outputs) of rows whose leaf in tree t is ``position[:, t]``."""
    raw = np.tile(model.initial_score, (len(position), 1)).astype(np.float64)
    for t, tree in enumerate(model.trees):
        raw += model.learning_rate * leaf_table(tree, model.outputs)[position[:, t]]
    return raw


def predict_local(model: SecureBoostGuestModel, features: np.ndarray, name: str) -> np.ndarray:
    """Predictions of a model whose every split is ``name``'s own (no other party needed).

    Raises
    ------
    ConfigError
        If a tree has another party's split.
    DataError
        If the table's columns differ from training's.
    """
    x = scoring_matrix(features, model.n_features, name)
    position = np.zeros((len(x), model.n_trees), dtype=np.int64)
    if _advance_own(x, model, position, {}, name):
        raise ConfigError("this model has other parties' splits: predict with them")
    return link(model.objective, leaf_sum(model, position))


def _advance_own(
    x: np.ndarray,
    model: SecureBoostGuestModel,
    position: np.ndarray,
    requests: dict[str, dict[str, np.ndarray]],
    name: str,
) -> bool:
    """Move rows through the label party's own nodes until each sits at a leaf or at a
    feature party's node; collect the requests for the latter. True if any are waiting."""
    waiting = False
    for t, tree in enumerate(model.trees):
        while True:
            moved = False
            for node in tree:
                if node.is_leaf or node.owner != name:
                    continue
                at = np.flatnonzero(position[:, t] == node.node)
                if not len(at):
                    continue
                left = goes_left(x[at, node.feature], node.threshold, node.missing_left)
                position[at, t] = np.where(left, node.left, node.right)
                moved = True
            if not moved:
                break
        for node in tree:
            if node.is_leaf or node.owner == name:
                continue
            at = np.flatnonzero(position[:, t] == node.node)
            if len(at):
                waiting = True
                if node.owner not in requests:
                    if not requests:
                        continue
                    raise ProtocolError(f"tree {t} has a node of unknown party {node.owner!r}")
                requests[node.owner][f"{t}/{node.node}"] = at.astype(np.int64)
    return waiting


def _apply_answer(
    answer: Any,
    asked: dict[str, np.ndarray],
    model: SecureBoostGuestModel,
    position: np.ndarray,
    host: str,
) -> None:
    if not isinstance(answer, dict) or set(answer) != set(asked):
        raise ProtocolError(f"{host} answered for other nodes than were asked")
    for key, rows in asked.items():
        bits = answer[key]
        if not isinstance(bits, np.ndarray) or bits.dtype != np.uint8:
            raise ProtocolError(f"{host} sent directions that are not packed bits")
        if len(bits) != -(-len(rows) // 8):
            raise ProtocolError(f"{host} sent directions for the wrong number of rows")
        left = np.unpackbits(bits, count=len(rows)).astype(bool)
        t, node_id = (int(part) for part in key.split("/"))
        node = model.trees[t][node_id]
        position[rows, t] = np.where(left, node.left, node.right)


def secureboost_predict_guest(
    channel: Channel,
    features: np.ndarray,
    model: SecureBoostGuestModel,
    hosts: Sequence[str],
) -> np.ndarray:
    """The label party's predictions of its aligned rows: P(y = 1), class probabilities
    (rows x classes) or values, by the model's objective.

    Parameters
    ----------
    channel
        The label party's channel (scoring phase).
    features
        Its aligned rows to score (empty cells allowed).
    model
        Its trained model.
    hosts
        The feature parties.

    Returns
    -------
    numpy.ndarray
        One prediction per row (a row of class probabilities for multiclass).

    Raises
    ------
    DataError
        If its table's columns differ from training's.
    ProtocolError
        If a feature party's answer is malformed.
    """
    return link(model.objective, raw_scores(channel, features, model, hosts))


def secureboost_predict_host(
    channel: Channel, features: np.ndarray, model: SecureBoostHostModel, guest: str
) -> int:
    """A feature party: answers which rows at its nodes go left, from its own splits.

    Parameters
    ----------
    channel
        The host's channel (scoring phase).
    features
        Its aligned rows to score.
    model
        Its trained splits.
    guest
        The label party.

    Returns
    -------
    int
        How many (row, node) decisions it answered.

    Raises
    ------
    DataError
        If its table's columns differ from training's.
    ProtocolError
        If the label party asks about rows or nodes it does not have.
    """
    x = scoring_matrix(features, len(model.feature_ids), channel.name)
    splits = model.lookup()
    scope = channel.scope(SCOPE)
    answered = 0
    step_index = 0
    while True:
        step = scope.scope(step=step_index)
        request = step.recv(guest, ROUTE)
        if (
            not isinstance(request, dict)
            or set(request) != {"done", "rows"}
            or not isinstance(request["rows"], dict)
        ):
            raise ProtocolError(f"{guest} sent a malformed routing request")
        if request["done"]:
            return answered
        answer: dict[str, np.ndarray] = {}
        for key, rows in request["rows"].items():
            split = splits.get(_node_key(key, guest))
            if split is None:
                raise ProtocolError(f"{guest} asked about a node {key!r} this party does not own")
            if (
                not isinstance(rows, np.ndarray)
                or rows.dtype.kind not in "iu"
                or (len(rows) and (rows.min() < 0 or rows.max() >= len(x)))
            ):
                raise ProtocolError(f"{guest} asked about rows this party does not have")
            left = goes_left(x[rows, split.feature], split.threshold, split.missing_left)
            answer[key] = np.packbits(left)
            answered += len(rows)
        step.send(guest, DIRECTIONS, answer)
        step_index += 1


def _node_key(key: str, guest: str) -> tuple[int, int]:
    parts = key.split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ProtocolError(f"{guest} sent a malformed node key {key!r}")
    return int(parts[0]), int(parts[1])

"""What SecureBoost's roles checkpoint after each completed tree, and how they continue.

A tree is SecureBoost's epoch (:mod:`rengo.vfl.checkpoints`): after every completed tree,
once every feature party knows whether another follows,

* the label party keeps every tree so far (its own splits, the owners and anonymous column
  ids of the others', every leaf value), every aligned row's raw scores, the losses, the
  run's seed (the held-out rows and each tree's subsample follow from it) and how many
  values it had decrypted;
* a feature party keeps its split lookup table (column, threshold and direction of missing
  values of each node it owns, by tree and node), the anonymous ids it gave its columns
  and the seed, to check that the label party continues the same run;
* the coordinator keeps how many trees were grown and how many values it decrypted (the
  label party tells it after each tree, in a resumable run only).

Restored, the label party's next gradients follow exactly from the saved raw scores and
every sum is an exact fixed-point integer, so the remaining trees, and so the final model,
equal an uninterrupted run's. No key material needs keeping at a party: every tree
encrypts its gradients afresh, so a restarted label party may use a new key pair (a
coordinator that holds the keys keeps them sealed, see :mod:`rengo.vfl.runner`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.checkpoints import EpochCheckpoints, EpochState, resume_state
from rengo.vfl.secureboost.boosting import BoostProgress
from rengo.vfl.secureboost.model import HostSplit, TreeNode

_NODE_FIELDS = (
    "node",
    "owner",
    "left",
    "right",
    "feature",
    "threshold",
    "missing_left",
    "feature_label",
    "gain",
    "value",
)


def _exact(value: float) -> Any:
    """A float as JSON keeps it exactly (``repr`` round-trips; non-finite as a string)."""
    return value if math.isfinite(value) else repr(value)


def tree_to_wire(tree: tuple[TreeNode, ...]) -> list[dict[str, Any]]:
    """A tree as JSON values (every float exact)."""
    return [
        {
            "node": node.node,
            "owner": node.owner,
            "left": node.left,
            "right": node.right,
            "feature": node.feature,
            "threshold": _exact(node.threshold),
            "missing_left": node.missing_left,
            "feature_label": node.feature_label,
            "gain": _exact(node.gain),
            "value": [_exact(v) for v in node.value],
        }
        for node in tree
    ]


def tree_from_wire(nodes: Any) -> tuple[TreeNode, ...]:
    """The tree :func:`tree_to_wire` wrote.

    Raises
    ------
    ValueError
        If ``nodes`` is not such a tree.
    """
    if not isinstance(nodes, list):
        raise ValueError("a tree is a list of nodes")
    out = []
    for k, item in enumerate(nodes):
        if not isinstance(item, dict) or set(item) != set(_NODE_FIELDS):
            raise ValueError(f"node {k} is malformed")
        if int(item["node"]) != k:
            raise ValueError(f"node {k} holds id {item['node']}")
        out.append(
            TreeNode(
                k,
                owner=str(item["owner"]),
                left=int(item["left"]),
                right=int(item["right"]),
                feature=int(item["feature"]),
                threshold=float(item["threshold"]),
                missing_left=bool(item["missing_left"]),
                feature_label=str(item["feature_label"]),
                gain=float(item["gain"]),
                value=tuple(float(v) for v in item["value"]),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class GuestResume:
    """The label party's state to continue from: boosting's, the seed, values decrypted."""

    boosting: BoostProgress
    seed: int
    decrypted: int


def start_guest(checkpoints: EpochCheckpoints | None, who: str) -> GuestResume | None:
    """The label party's state after the agreed tree, or ``None`` (from the first tree).

    Raises
    ------
    DataError
        If the checkpoint is incomplete or holds another number of trees than its epoch.
    """
    start = resume_state(checkpoints)
    if start is None:
        return None
    values = start.values
    try:
        trees = tuple(tree_from_wire(tree) for tree in values["trees"])
        boosting = BoostProgress(
            trees,
            np.asarray(start.arrays["raw"], dtype=np.float64),
            [float(v) for v in values["train_losses"]],
            [float(v) for v in values["validation_losses"]],
            bool(values["stopped"]),
        )
        resumed = GuestResume(boosting, int(values["seed"]), int(values["decrypted"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{who}'s checkpoint of tree {start.epoch} is incomplete: {exc}") from exc
    if len(trees) != start.epoch or boosting.raw.ndim != 2:
        raise DataError(f"{who}'s checkpoint of tree {start.epoch} is inconsistent")
    return resumed


def save_guest(
    checkpoints: EpochCheckpoints | None, boosting: BoostProgress, seed: int, decrypted: int
) -> None:
    """Checkpoint the label party after ``len(boosting.trees)`` trees (nothing without
    checkpoints)."""
    if checkpoints is None:
        return
    values: dict[str, Any] = {
        "trees": [tree_to_wire(tree) for tree in boosting.trees],
        "train_losses": [_exact(v) for v in boosting.train_losses],
        "validation_losses": [_exact(v) for v in boosting.validation_losses],
        "stopped": boosting.stopped,
        "seed": seed,
        "decrypted": decrypted,
    }
    json.dumps(values)  # fails here, not half-written, if something is not JSON
    checkpoints.save(EpochState(len(boosting.trees), {"raw": boosting.raw}, values))


@dataclass(frozen=True)
class HostResume:
    """A feature party's state to continue from."""

    trees: int
    splits: tuple[HostSplit, ...]
    feature_ids: tuple[int, ...]
    seed: int
    stopped: bool


def start_host(checkpoints: EpochCheckpoints | None, columns: int, who: str) -> HostResume | None:
    """A feature party's state after the agreed tree, or ``None`` (from the first tree).

    Raises
    ------
    DataError
        If the checkpoint is incomplete or was made with another number of columns.
    """
    start = resume_state(checkpoints)
    if start is None:
        return None
    arrays, values = start.arrays, start.values
    try:
        tree, node = np.asarray(arrays["tree"]), np.asarray(arrays["node"])
        feature, threshold = np.asarray(arrays["feature"]), np.asarray(arrays["threshold"])
        missing = np.asarray(arrays["missing_left"])
        splits = tuple(
            HostSplit(int(t), int(n), int(f), float(v), bool(m))
            for t, n, f, v, m in zip(tree, node, feature, threshold, missing, strict=True)
        )
        feature_ids = tuple(int(i) for i in np.asarray(arrays["feature_ids"]))
        resumed = HostResume(
            start.epoch, splits, feature_ids, int(values["seed"]), bool(values["stopped"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{who}'s checkpoint of tree {start.epoch} is incomplete: {exc}") from exc
    if sorted(feature_ids) != list(range(columns)) or any(
        not 0 <= s.feature < columns or s.tree >= start.epoch for s in splits
    ):
        raise DataError(
            f"{who}'s checkpoint of tree {start.epoch} was made with another table ("
            f"{len(feature_ids)} columns, its table gives {columns}): resume with the table "
            "the run started with"
        )
    return resumed


def save_host(
    checkpoints: EpochCheckpoints | None,
    trees: int,
    splits: list[HostSplit],
    feature_ids: tuple[int, ...],
    *,
    seed: int,
    stopped: bool,
) -> None:
    """Checkpoint a feature party's split lookup table after ``trees`` trees."""
    if checkpoints is None:
        return
    arrays = {
        "tree": np.array([s.tree for s in splits], dtype=np.int64),
        "node": np.array([s.node for s in splits], dtype=np.int64),
        "feature": np.array([s.feature for s in splits], dtype=np.int64),
        "threshold": np.array([s.threshold for s in splits], dtype=np.float64),
        "missing_left": np.array([s.missing_left for s in splits], dtype=bool),
        "feature_ids": np.array(feature_ids, dtype=np.int64),
    }
    checkpoints.save(EpochState(trees, arrays, {"seed": seed, "stopped": stopped}))

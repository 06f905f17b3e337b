"""What each party keeps after SecureBoost training: the label party's trees, the feature
parties' lookup tables.

The label party holds every tree's shape, its own splits and every leaf value; of a split
on another party's column it knows only the owner and an anonymous column id (for feature
importance). Each feature party holds, per node it owns, the column, the threshold and the
direction of missing values, which never leave it (Cheng et al. 2021, Section 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.vfl.common import require_trained_columns
from rengo.vfl.secureboost.config import Objective


@dataclass(frozen=True)
class TreeNode:
    """One node of a tree as the label party holds it.

    A split owned by the label party has its ``feature``, ``threshold`` and
    ``missing_left``; one owned by a feature party has only ``owner`` (the column and
    threshold stay with it) and an anonymous ``feature_label``. A leaf has ``value``, one
    entry per output (before the learning rate).
    """

    node: int
    owner: str = ""
    left: int = -1
    right: int = -1
    feature: int = -1
    threshold: float = float("nan")
    missing_left: bool = False
    feature_label: str = ""
    gain: float = 0.0
    value: tuple[float, ...] = ()

    @property
    def is_leaf(self) -> bool:
        """Whether this node is a leaf."""
        return not self.owner


@dataclass(frozen=True)
class FeatureImportance:
    """Splits and total gain of one column over every tree (``label``: ``party:<name>`` for
    the label party's columns that have names, a job file's CSV header or a DataFrame's
    columns, else ``party:x<j>``; ``party#<anonymous id>`` for a feature party's)."""

    label: str
    splits: int
    gain: float


@dataclass(frozen=True)
class SecureBoostGuestModel:
    """The label party's model: every tree, the starting score, the training history.

    ``trees[t][k]`` is node ``k`` of tree ``t`` (nodes numbered breadth first). Raw scores
    are ``initial_score + learning_rate * sum of leaf values``; ``train_losses`` and
    ``validation_losses`` hold the loss after each round; ``decrypted_values`` counts the
    ciphertexts of candidate sums decrypted for it (by its own key or, masked, by the
    coordinator). ``n_features`` is the label party's column count in training (``None``
    for a model built without it), which scoring checks. ``classes`` are the label party's
    own labels of the codes ``0..K-1`` (``None``: the labels were those codes), kept so
    that a model read back from its file predicts the labels it was fitted on.
    """

    objective: Objective
    outputs: int
    initial_score: np.ndarray
    learning_rate: float
    max_depth: int
    trees: tuple[tuple[TreeNode, ...], ...]
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    best_round: int = 0
    decrypted_values: int = 0
    n_features: int | None = None
    classes: tuple[Any, ...] | None = None

    @property
    def n_trees(self) -> int:
        """Trees (boosting rounds) kept."""
        return len(self.trees)

    @property
    def losses(self) -> list[float]:
        """The training loss after each round (what vertical jobs log per round)."""
        return list(self.train_losses)

    def first_trees(self, n_trees: int) -> SecureBoostGuestModel:
        """This model with its first ``n_trees`` trees only (XGBoost's ``iteration_range=(0,
        n_trees)``): ``first_trees(best_round)`` scores with the best round's ensemble after
        early stopping, which keeps the trees grown after it. The losses stay whole.

        Raises
        ------
        ConfigError
            Unless ``1 <= n_trees <= self.n_trees``.
        """
        _check_tree_count(n_trees, self.n_trees)
        return replace(self, trees=self.trees[:n_trees])

    def with_classes(self, classes: Sequence[Any] | None) -> SecureBoostGuestModel:
        """This model keeping the labels of its class codes: ``classes[k]`` is code ``k``'s
        (cut to the codes the model has: a class only held-out rows hold trained none).

        Raises
        ------
        ValueError
            For a regression model, or fewer labels than codes.
        """
        if classes is None:
            return replace(self, classes=None)
        count = max(2, self.outputs)
        if self.objective == "regression" or len(classes) < count:
            raise ValueError(
                f"{len(classes)} classes for an objective {self.objective!r} model of "
                f"{count} class codes"
            )
        return replace(self, classes=tuple(classes[:count]))

    def feature_importances(self) -> list[FeatureImportance]:
        """Split count and total gain per column, most gain first."""
        splits: dict[str, int] = {}
        gains: dict[str, float] = {}
        for tree in self.trees:
            for node in tree:
                if not node.is_leaf:
                    splits[node.feature_label] = splits.get(node.feature_label, 0) + 1
                    gains[node.feature_label] = gains.get(node.feature_label, 0.0) + node.gain
        return sorted(
            (FeatureImportance(label, splits[label], gains[label]) for label in splits),
            key=lambda item: (-item.gain, item.label),
        )


@dataclass(frozen=True)
class HostSplit:
    """A feature party's own split: at node ``node`` of tree ``tree``, rows with
    ``column <= threshold`` go left, missing values go left when ``missing_left``."""

    tree: int
    node: int
    feature: int
    threshold: float
    missing_left: bool


@dataclass(frozen=True)
class SecureBoostHostModel:
    """A feature party's model: its splits (which never leave it) and the anonymous id the
    label party knows each of its columns by (``feature_ids[j]`` for column ``j``, so it
    trained on ``len(feature_ids)`` columns)."""

    splits: tuple[HostSplit, ...]
    feature_ids: tuple[int, ...]
    n_trees: int

    def first_trees(self, n_trees: int) -> SecureBoostHostModel:
        """This party's splits in the first ``n_trees`` trees only (see
        :meth:`SecureBoostGuestModel.first_trees`).

        Raises
        ------
        ConfigError
            Unless ``1 <= n_trees <= self.n_trees``.
        """
        _check_tree_count(n_trees, self.n_trees)
        kept = tuple(s for s in self.splits if s.tree < n_trees)
        return replace(self, splits=kept, n_trees=n_trees)

    def lookup(self) -> Mapping[tuple[int, int], HostSplit]:
        """Splits by ``(tree, node)``."""
        return {(s.tree, s.node): s for s in self.splits}


def _check_tree_count(n_trees: int, grown: int) -> None:
    if isinstance(n_trees, bool) or not isinstance(n_trees, (int, np.integer)):
        raise ConfigError(f"n_trees must be an integer, got {n_trees!r}")
    if not 1 <= n_trees <= grown:
        raise ConfigError(f"n_trees must be in [1, {grown}] (the trees grown), got {n_trees}")


def scoring_matrix(features: np.ndarray, trained_columns: int | None, party: str) -> np.ndarray:
    """A party's rows to score as floats, refused unless they have training's columns (a
    table with a column more or less would route rows by the wrong column, silently).

    Raises
    ------
    DataError
        If the table is not 2-D or its column count differs from training's.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{party}: rows to score must be a 2-D table, got shape {x.shape}")
    return require_trained_columns(x, trained_columns, party)


@dataclass(frozen=True)
class SecureBoostReport:
    """What the coordinator learns: trees grown and values it decrypted (masked, when it
    holds the key; 0 otherwise)."""

    trees: int
    decrypted_values: int


def goes_left(values: np.ndarray, threshold: float, missing_left: bool) -> np.ndarray:
    """The rows of one column that a split sends left (``value <= threshold``, or missing
    and ``missing_left``)."""
    column = np.asarray(values, dtype=np.float64)
    missing = np.isnan(column)
    with np.errstate(invalid="ignore"):
        left = column <= threshold
    return np.where(missing, missing_left, left)

"""A trained SecureBoost model as versioned JSON, one document per party: what each party
keeps to score new rows later, and never another party's secrets.

* The label party's document holds every tree's shape, its own splits (column, threshold,
  direction of missing values), every leaf value, the starting score, the training
  history and, when its labels were not the codes 0..K-1, its own ``classes`` (the labels
  of those codes; a feature party's document never holds them); of a feature party's
  node it holds only the owner and the anonymous column id, as in memory
  (:class:`~rengo.vfl.secureboost.model.SecureBoostGuestModel`).
* A feature party's document holds its own split lookup table, ``(tree, node) -> (column,
  threshold, missing goes left)``, and the anonymous ids of its columns.

Every float is written as ``repr`` writes it, so a model read back predicts bit for bit
what the one written did; a non-finite float is the string ``"nan"``/``"inf"`` (JSON has
none). The document names its ``format``, ``version``, ``party``, ``role``, the run's
label party and (a deployed training run's file) its ``training_run`` token; reading one
checks each, and an error names the source and what is wrong. Nothing here is pickled: a
document is data, never code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.data.labels import label_values
from rengo.vfl.party_model_file import (
    DocumentKind,
    Role,
    check_header,
    header,
    read_json,
    write_document,
)
from rengo.vfl.party_model_file import exact as _exact
from rengo.vfl.secureboost.model import HostSplit, SecureBoostGuestModel, SecureBoostHostModel
from rengo.vfl.secureboost.resume import tree_from_wire, tree_to_wire

FORMAT = "rengo-secureboost-party-model"
"""The ``format`` every party document names."""

VERSION = 1
"""The document version this rengo writes and reads."""

KIND = DocumentKind(
    FORMAT, VERSION, "SecureBoost", "export it again with this rengo's `rengo runs export`"
)
"""The SecureBoost party document (:mod:`rengo.vfl.party_model_file`'s header)."""
PartyModel = SecureBoostGuestModel | SecureBoostHostModel

_OBJECTIVES = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class StoredPartyModel:
    """One party's model read back from its document: whose it is, the run's label party,
    and the model (the label party's trees, or a feature party's splits)."""

    party: str
    label_party: str
    model: PartyModel
    prepared: dict[str, Any] = field(default_factory=dict)
    """The file's other top-level fields: how a deployed party's columns were prepared
    (``features``, ``mean``, ``scale``; ``rengo vfl party --model`` writes them)."""
    training_run: str | None = None
    """The token every party's file of its training run names (``None``: it names none)."""

    @property
    def role(self) -> Role:
        """``"label_party"`` or ``"feature_party"``."""
        return "label_party" if isinstance(self.model, SecureBoostGuestModel) else "feature_party"


def party_document(
    model: PartyModel, party: str, label_party: str, training_run: str | None = None
) -> dict[str, Any]:
    """One party's model as a JSON-ready document (every float exact).

    Parameters
    ----------
    model
        The label party's :class:`SecureBoostGuestModel` or a feature party's
        :class:`SecureBoostHostModel`.
    party
        Whose model it is.
    label_party
        The run's label party.
    training_run
        The run's token (:func:`~rengo.vfl.party_model_file.new_training_run`), written
        when given.

    Returns
    -------
    dict
        The document; ``json.dumps`` writes it as strict JSON.

    Raises
    ------
    DataError
        If ``model`` is not a SecureBoost party model, its role contradicts ``party``, or
        its ``classes`` are not distinct text, number or bool labels of one kind.
    """
    head = header(KIND, party, label_party, training_run)
    if isinstance(model, SecureBoostGuestModel):
        if party != label_party:
            raise DataError(f"{party}: holds the trees, but the label party is {label_party}")
        try:
            kept = None if model.classes is None else _classes(list(model.classes))
        except ValueError as exc:
            raise DataError(
                f"{party}: {exc}, which a model file cannot keep; fit on text or number labels"
            ) from None
        classes = {} if kept is None else {"classes": kept}
        return {
            **head,
            **classes,
            "objective": model.objective,
            "outputs": model.outputs,
            "initial_score": [_exact(v) for v in np.asarray(model.initial_score).ravel()],
            "learning_rate": _exact(model.learning_rate),
            "max_depth": model.max_depth,
            "n_features": model.n_features,
            "best_round": model.best_round,
            "train_losses": [_exact(v) for v in model.train_losses],
            "validation_losses": [_exact(v) for v in model.validation_losses],
            "decrypted_values": model.decrypted_values,
            "trees": [tree_to_wire(tree) for tree in model.trees],
        }
    if isinstance(model, SecureBoostHostModel):
        if party == label_party:
            raise DataError(f"{party}: the label party's model holds trees, not splits")
        return {
            **head,
            "n_trees": model.n_trees,
            "feature_ids": list(model.feature_ids),
            "splits": [
                {
                    "tree": s.tree,
                    "node": s.node,
                    "feature": s.feature,
                    "threshold": _exact(s.threshold),
                    "missing_left": s.missing_left,
                }
                for s in model.splits
            ],
        }
    raise DataError(f"{party}: not a SecureBoost party model: {type(model).__name__}")


def read_document(document: Any, source: str, party: str | None = None) -> StoredPartyModel:
    """The model a :func:`party_document` holds, checked.

    Parameters
    ----------
    document
        The parsed JSON.
    source
        Where it came from (a file, a run), for error messages.
    party
        The party it must belong to (``None``: any).

    Returns
    -------
    StoredPartyModel
        The party, the label party, the model and the training-run token.

    Raises
    ------
    DataError
        Naming ``source``, if it is not a SecureBoost party model, has another version,
        belongs to another party, or is malformed.
    """
    checked = check_header(document, source, KIND, party)
    owner, label_party, role = checked.party, checked.label_party, checked.role
    try:
        model = _guest(document) if role == "label_party" else _host(document)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(f"{source}: the {role} model of {owner!r} is malformed: {exc}") from exc
    run = checked.training_run
    known = set(party_document(model, owner, label_party, run)) - {"classes"}
    prepared = {k: v for k, v in document.items() if k not in known}  # a deployed file's classes
    return StoredPartyModel(owner, label_party, model, prepared, run)


def _guest(document: dict[str, Any]) -> SecureBoostGuestModel:
    objective = document["objective"]
    if objective not in _OBJECTIVES:
        raise ValueError(f"objective {objective!r}")
    trees = tuple(tree_from_wire(tree) for tree in document["trees"])
    outputs = int(document["outputs"])
    for t, tree in enumerate(trees):
        for node in tree:
            children = (node.left, node.right)
            if not node.is_leaf and not all(node.node < c < len(tree) for c in children):
                raise ValueError(f"tree {t}, node {node.node}: children {children}")
            if node.is_leaf and len(node.value) != outputs:
                raise ValueError(f"tree {t}, leaf {node.node}: {len(node.value)} values")
    features = document["n_features"]
    return SecureBoostGuestModel(
        objective=objective,
        outputs=outputs,
        initial_score=np.array([float(v) for v in document["initial_score"]], dtype=np.float64),
        learning_rate=float(document["learning_rate"]),
        max_depth=int(document["max_depth"]),
        trees=trees,
        train_losses=[float(v) for v in document["train_losses"]],
        validation_losses=[float(v) for v in document["validation_losses"]],
        best_round=int(document["best_round"]),
        decrypted_values=int(document["decrypted_values"]),
        n_features=None if features is None else int(features),
    ).with_classes(_classes(document.get("classes"), deployed="features" in document))


def _classes(value: Any, deployed: bool = False) -> list[Any] | None:
    """The labels of the class codes a label party's document keeps (``None``: a file
    without them, whose model predicts the codes; a regression label party's ``null``).
    A ``deployed`` party's file (``rengo vfl party --model``, which also names its training
    ``features``) holds its CSV column's class names as text: number text there stands
    for the numbers; a fitted estimator's own labels are kept as they were."""
    if value is None:
        return None
    kinds = {type(v) for v in value} if isinstance(value, list) else set()
    if len(kinds) != 1 or not kinds <= {str, int, float, bool} or len(set(value)) != len(value):
        raise ValueError(f"classes {value!r} are not distinct labels of one kind")
    if deployed and kinds == {str}:  # a CSV column's class names
        values = label_values(value)
        return None if values is None else list(values)
    if kinds == {int} and value == list(range(len(value))):
        return None  # the codes themselves: the model predicts them, as a file without any
    return list(value)


def _host(document: dict[str, Any]) -> SecureBoostHostModel:
    feature_ids = tuple(int(i) for i in document["feature_ids"])
    splits = tuple(
        HostSplit(
            int(s["tree"]),
            int(s["node"]),
            int(s["feature"]),
            float(s["threshold"]),
            bool(s["missing_left"]),
        )
        for s in document["splits"]
    )
    for s in splits:
        if not 0 <= s.feature < len(feature_ids):
            raise ValueError(f"tree {s.tree}, node {s.node}: column {s.feature}")
    return SecureBoostHostModel(splits, feature_ids, int(document["n_trees"]))


def write_party_model(
    path: str | Path,
    model: PartyModel,
    party: str,
    label_party: str,
    training_run: str | None = None,
    **extra: Any,
) -> Path:
    """Write one party's model as a JSON file (``training_run``: the run's token;
    ``extra``: more top-level fields, e.g. how its columns were prepared).

    Parameters
    ----------
    path
        The file to write (replaced if it exists).
    model
        The party's part of a fitted :class:`~rengo.vfl.HeteroSecureBoost`: the label
        party's ``guest_model_``, a feature party's ``host_models_[party]``.
    party
        The party the model belongs to (:func:`read_party_model` checks it).
    label_party
        The run's label party.
    training_run
        The training run's token, named by every party's file of that run (None: none).
    **extra
        More top-level fields.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    DataError
        As :func:`party_document`.
    """
    document = party_document(model, party, label_party, training_run)
    return write_document(path, {**extra, **document})


def read_party_model(path: str | Path, party: str | None = None) -> StoredPartyModel:
    """One party's model from the JSON file :func:`write_party_model` (or ``rengo runs
    export``) wrote.

    Parameters
    ----------
    path
        The file.
    party
        The party it must belong to (``None``: any).

    Returns
    -------
    StoredPartyModel
        The party, the label party and the model.

    Raises
    ------
    DataError
        Naming the file, if it cannot be read, is not JSON, or :func:`read_document`
        refuses it.
    """
    return read_document(read_json(path), str(path), party)

"""A trained SplitNN party model as versioned JSON: what each party keeps to score new rows.

* A feature party's document holds its bottom model: the layer widths (the architecture:
  ``Linear`` layers with ReLU between and after them), every weight, and the mean and
  spread of each input column (``inputs``), with which it reads them z-scored.
* The label party's document holds its bottom model (``null`` when it brought no columns)
  with its inputs' mean and spread, the top model (ReLU between its layers, none after the
  last), the classes (``model_classes``: the top model's outputs), the task, the feature
  parties in the top model's input order, the epoch losses and the batch seed.

Every weight is written with its dtype (float32) and shape, each value as ``repr`` writes
it (a float32 widens to float64 exactly), so a model read back scores bit for bit what the
one written did. The header (:mod:`rengo.vfl.party_model_file`) names the ``format``,
``version``, ``party``, ``role``, label party and (a deployed training run's file) its
``training_run``; reading one back refuses another format, version, party or role, and
weights that do not fit the widths, naming the file. Nothing is pickled, and PyTorch is not
needed to read or write a document (only to score with it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.party_model_file import (
    DocumentKind,
    check_header,
    exact,
    exact_array,
    header,
    input_scaling,
    layer_shapes,
    prepared_columns,
    read_exact_array,
    read_input_scaling,
    read_json,
    write_document,
)
from rengo.vfl.splitnn.network import Weights
from rengo.vfl.splitnn.roles import SplitNNFeatureModel, SplitNNLabelModel

if TYPE_CHECKING:
    from rengo.data import Standardization

FORMAT = "rengo-splitnn-party-model"
"""The ``format`` every SplitNN party document names."""

VERSION = 2
"""The document version this rengo writes (2: the bottom models' input scaling). It reads
version 1 too: a version-1 bottom model read its columns as given, which is what a
document without input scaling means, so it scores as it did."""

KIND = DocumentKind(
    FORMAT,
    VERSION,
    "SplitNN",
    "train again with this rengo's `rengo vfl party --model FILE` to save a current one",
    older=(1,),
)
"""The SplitNN party document (:mod:`rengo.vfl.party_model_file`'s header)."""

DTYPE = "float32"
"""The dtype of every SplitNN network's weights."""

SplitNNPartyModel = SplitNNLabelModel | SplitNNFeatureModel


@dataclass(frozen=True)
class StoredSplitNNModel:
    """One party's SplitNN model read back from its document."""

    party: str
    label_party: str
    model: SplitNNPartyModel
    prepared: dict[str, Any] = field(default_factory=dict)
    """The file's other top-level fields (how a deployed party's columns were prepared:
    ``features``, ``mean``, ``scale``, ``classes``)."""
    training_run: str | None = None
    """The token every party's file of its training run names (``None``: it names none)."""


def _widths(weights: Weights) -> list[int]:
    """The layer widths of an MLP's weights (``[in, hidden..., out]``)."""
    return [int(weights[0].shape[1]), *(int(w.shape[0]) for w in weights[0::2])]


def _network(weights: Weights) -> dict[str, Any]:
    return {"widths": _widths(weights), "layers": [exact_array(w) for w in weights]}


def _classes(classes: np.ndarray) -> list[Any]:
    values = np.asarray(classes).tolist()
    if not all(isinstance(c, (str, int, float, bool)) for c in values):
        raise DataError(f"classes {values!r} are not text or numbers")
    return list(values)


def party_document(
    model: SplitNNPartyModel, party: str, label_party: str, training_run: str | None = None
) -> dict[str, Any]:
    """One party's SplitNN model as a JSON-ready document (every weight exact).

    Parameters
    ----------
    model
        The label party's :class:`SplitNNLabelModel` or a feature party's
        :class:`SplitNNFeatureModel`.
    party
        Whose model it is.
    label_party
        The run's label party.
    training_run
        The run's token, written when given.

    Returns
    -------
    dict
        The document; ``json.dumps`` writes it as strict JSON.

    Raises
    ------
    DataError
        If the model's kind contradicts ``party``'s role, or it is not a SplitNN model.
    """
    body = {**header(KIND, party, label_party, training_run), "algorithm": "splitnn"}
    if isinstance(model, SplitNNLabelModel):
        if party != label_party:
            raise DataError(f"{party}: holds the top model, but the label party is {label_party}")
        return {
            **body,
            "bottom": None if model.bottom is None else _network(model.bottom),
            "top": _network(model.top),
            "model_classes": _classes(model.classes),
            "task": model.task,
            "hosts": list(model.hosts),
            "losses": [exact(v) for v in model.losses],
            "epochs_run": int(model.epochs_run),
            "batch_seed": int(model.batch_seed),
            **input_scaling(model.inputs),
        }
    if isinstance(model, SplitNNFeatureModel):
        if party == label_party:
            raise DataError(f"{party}: the label party's model holds the top model")
        return {
            **body,
            "bottom": _network(model.bottom),
            "epochs_run": int(model.epochs_run),
            **input_scaling(model.inputs),
        }
    raise DataError(f"{party}: not a SplitNN party model: {type(model).__name__}")


def kept_document(
    model: SplitNNPartyModel,
    party: str,
    label_party: str,
    training_run: str | None,
    features: Sequence[str],
    scaling: Standardization | None,
    classes: Sequence[Any] | None = None,
    categories: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One party's whole kept model file, as a deployed party writes it (``rengo vfl party
    --model FILE``) and ``rengo runs export`` of a simulated run writes it: its model
    (:func:`party_document`) beside how its table's columns were prepared
    (:func:`rengo.vfl.party_model_file.prepared_columns`), which a scoring-only run applies
    to new rows.

    Parameters
    ----------
    model
        The label party's :class:`SplitNNLabelModel` or a feature party's
        :class:`SplitNNFeatureModel`.
    party
        Whose model it is.
    label_party
        The run's label party.
    training_run
        The run's token, written when given.
    features
        The party's table columns its bottom model reads, in order.
    scaling
        Their mean and spread where the table was z-scored before training (a job's or
        ``--standardize``), or ``None`` (the bottom model's own input scaling is in the
        model either way).
    classes
        The label's class names, in the order of the model's class codes (the label party
        only; ``None`` elsewhere).
    categories
        The text columns' encoding as JSON (omitted when ``None``).

    Returns
    -------
    dict
        The JSON-ready document.

    Raises
    ------
    DataError
        As :func:`party_document`.
    """
    is_label_party = party == label_party
    prepared = prepared_columns(
        features,
        scaling,
        classes if is_label_party else None,
        categories,
        label_party=is_label_party,
    )
    return {**prepared, **party_document(model, party, label_party, training_run)}


def _read_network(value: Any, what: str) -> Weights:
    if not isinstance(value, dict) or set(value) != {"widths", "layers"}:
        raise ValueError(f"the {what} model is not widths and layers")
    widths = value["widths"]
    if (
        not isinstance(widths, list)
        or len(widths) < 2
        or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)
    ):
        raise ValueError(f"the {what} model's widths {widths!r} are not layer sizes")
    shapes = layer_shapes(widths)
    layers = value["layers"]
    if not isinstance(layers, list) or len(layers) != len(shapes):
        count = len(layers) if isinstance(layers, list) else type(layers).__name__
        need = len(shapes)
        raise ValueError(f"the {what} model holds {count} arrays, widths {widths} need {need}")
    return [
        read_exact_array(layer, f"{what} array {k}", DTYPE, shape)
        for k, (layer, shape) in enumerate(zip(layers, shapes, strict=True))
    ]


def read_document(document: Any, source: str, party: str | None = None) -> StoredSplitNNModel:
    """The model a :func:`party_document` holds, checked.

    Parameters
    ----------
    document
        The parsed JSON.
    source
        Where it came from (a file), for messages.
    party
        The party it must belong to (``None``: any).

    Returns
    -------
    StoredSplitNNModel
        The party, label party, model, the other top-level fields and training-run token.

    Raises
    ------
    DataError
        Naming ``source``: not a SplitNN party model, another version, party or role, or
        malformed (a weight whose dtype or shape does not fit the widths, among others).
    """
    checked = check_header(document, source, KIND, party)
    owner, label_party, role = checked.party, checked.label_party, checked.role
    model: SplitNNPartyModel
    try:
        if document.get("algorithm") != "splitnn":
            raise ValueError(f"algorithm {document.get('algorithm')!r}, not 'splitnn'")
        epochs_run = int(document["epochs_run"])
        if role == "label_party":
            bottom = document["bottom"]
            bottom = None if bottom is None else _read_network(bottom, "bottom")
            top = _read_network(document["top"], "top")
            inputs = None
            if bottom is not None:
                inputs = read_input_scaling(document, int(bottom[0].shape[1]), "bottom model")
            model = SplitNNLabelModel(
                bottom,
                top,
                np.asarray(document["model_classes"]),
                str(document["task"]),
                tuple(str(h) for h in document["hosts"]),
                [float(v) for v in document["losses"]],
                epochs_run,
                int(document["batch_seed"]),
                inputs,
            )
            if model.task not in ("binary", "multiclass"):
                raise ValueError(f"task {model.task!r}")
        else:
            bottom = _read_network(document["bottom"], "bottom")
            inputs = read_input_scaling(document, int(bottom[0].shape[1]), "bottom model")
            model = SplitNNFeatureModel(bottom, epochs_run, inputs)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{source}: the {role} model of {owner!r} is malformed: {exc}") from exc
    known = set(party_document(model, owner, label_party, checked.training_run))
    prepared = {k: v for k, v in document.items() if k not in known}
    return StoredSplitNNModel(owner, label_party, model, prepared, checked.training_run)


def write_party_model(
    path: str | Path,
    model: SplitNNPartyModel,
    party: str,
    label_party: str,
    training_run: str | None = None,
    **extra: Any,
) -> Path:
    """Write one party's SplitNN model as a JSON file (``extra``: more top-level fields,
    e.g. how its columns were prepared).

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


def read_party_model(path: str | Path, party: str | None = None) -> StoredSplitNNModel:
    """One party's SplitNN model from the file :func:`write_party_model` wrote.

    Raises
    ------
    DataError
        Naming the file, if it cannot be read, is not JSON, or :func:`read_document`
        refuses it.
    """
    return read_document(read_json(path), str(path), party)

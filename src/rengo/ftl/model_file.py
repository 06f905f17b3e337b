"""A trained federated-transfer-learning party model as versioned JSON: what each party
keeps to score new rows.

* The source's (the label party's) document holds its encoder (the architecture:
  input columns, hidden widths, activation and representation size; every weight; and the
  mean and spread of each input column, with which it reads them z-scored),
  the translator ``Phi`` that scoring needs, the class names, the objective, the epoch
  losses and the best epoch.
* The target's (the feature party's) document holds its encoder (with its input columns'
  mean and spread, which scoring applies to new rows), the class names the
  source named, the objective, how many labelled rows it had, its held-out scores per
  epoch and the best epoch. Never ``Phi``: scoring asks the source for it, through the
  prediction protocol (:mod:`rengo.ftl.predict`).

Every array is written with its dtype (float64: the encoders run in float64) and shape, each
value as ``repr`` writes it, so a model read back scores bit for bit what the one written
did. The header (:mod:`rengo.vfl.party_model_file`) names the ``format``, ``version``,
``party``, ``role``, label party and (a deployed training run's file) its ``training_run``;
reading one back refuses another format, version, party or role, and weights that do not
fit the encoder's architecture, naming the file. An encoder the party brought as its own
module is not kept: its architecture is code, and a document is data (nothing is pickled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rengo.core.errors import DataError
from rengo.ftl.roles import CUSTOM, EncoderSpec, SourceModel, TargetModel
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

if TYPE_CHECKING:
    from rengo.data import Standardization

FORMAT = "rengo-ftl-party-model"
"""The ``format`` every transfer-learning party document names."""

VERSION = 2
"""The document version this rengo writes (2: the built encoder's input scaling). It reads
version 1 too: a version-1 encoder read its columns as given, which is what a document
without input scaling means, so it scores as it did."""

KIND = DocumentKind(
    FORMAT,
    VERSION,
    "transfer learning",
    "train again with this rengo's `rengo vfl party --model FILE` to save a current one",
    older=(1,),
)
"""The transfer-learning party document (:mod:`rengo.vfl.party_model_file`'s header)."""

DTYPE = "float64"
"""The dtype of every encoder weight and of ``Phi``."""

ACTIVATIONS = ("tanh", "relu", "sigmoid")
"""The activations of the encoders a document can rebuild."""

TransferPartyModel = SourceModel | TargetModel


@dataclass(frozen=True)
class StoredTransferModel:
    """One party's transfer-learning model read back from its document."""

    party: str
    label_party: str
    model: TransferPartyModel
    prepared: dict[str, Any] = field(default_factory=dict)
    """The file's other top-level fields (how a deployed party's columns were prepared:
    ``features``, ``mean``, ``scale``, ``categories`` and ``classes``, the model's class
    names again for a rengo that read them there: scoring reads the model's own, since an
    older rengo's target file named only the target's seen classes)."""
    training_run: str | None = None
    """The token every party's file of its training run names (``None``: it names none)."""


def _encoder(spec: EncoderSpec, weights: list[np.ndarray], party: str) -> dict[str, Any]:
    if spec.activation == CUSTOM:
        raise DataError(
            f"{party}: its encoder is a module of its own; a model file keeps only the "
            "encoders rengo builds (hidden widths and activation), as data, never code"
        )
    return {
        "in_features": int(spec.in_features),
        "hidden": [int(h) for h in spec.hidden],
        "activation": spec.activation,
        "dim": int(spec.dim),
        "weights": [exact_array(np.asarray(w, dtype=np.float64)) for w in weights],
    }


def party_document(
    model: TransferPartyModel, party: str, label_party: str, training_run: str | None = None
) -> dict[str, Any]:
    """One party's transfer-learning model as a JSON-ready document (every float exact).

    Parameters
    ----------
    model
        The source's :class:`SourceModel` (the label party) or the target's
        :class:`TargetModel`.
    party
        Whose model it is.
    label_party
        The run's label party (the source).
    training_run
        The run's token, written when given.

    Returns
    -------
    dict
        The document; ``json.dumps`` writes it as strict JSON.

    Raises
    ------
    DataError
        If the model's kind contradicts ``party``'s role, it is not a transfer-learning
        model, or its encoder is a module the party brought.
    """
    body: dict[str, Any] = {**header(KIND, party, label_party, training_run), "algorithm": "ftl"}
    if isinstance(model, SourceModel):
        if party != label_party:
            raise DataError(f"{party}: holds the source's model, but the source is {label_party}")
        return {
            **body,
            "encoder": _encoder(model.encoder, model.weights, party),
            "phi": exact_array(np.asarray(model.phi, dtype=np.float64)),
            "class_names": list(model.classes),
            "objective": model.objective,
            "losses": [exact(v) for v in model.losses],
            "epochs_run": int(model.epochs_run),
            "best_epoch": int(model.best_epoch),
            **input_scaling(model.inputs),
        }
    if isinstance(model, TargetModel):
        if party == label_party:
            raise DataError(f"{party}: the source's model holds Phi")
        return {
            **body,
            "encoder": _encoder(model.encoder, model.weights, party),
            "class_names": list(model.classes),
            "objective": model.objective,
            "labelled_rows": int(model.labelled_rows),
            "epochs_run": int(model.epochs_run),
            "validation": [{k: exact(v) for k, v in s.items()} for s in model.validation],
            "best_epoch": int(model.best_epoch),
            **input_scaling(model.inputs),
        }
    raise DataError(f"{party}: not a transfer-learning party model: {type(model).__name__}")


def _size(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} {value!r} is not a layer size")
    return value


def _read_encoder(value: Any) -> tuple[EncoderSpec, list[np.ndarray]]:
    if not isinstance(value, dict):
        raise ValueError("the encoder is not an object")
    if value.get("activation") not in ACTIVATIONS:
        found = value.get("activation")
        raise ValueError(f"encoder activation {found!r}, want one of {ACTIVATIONS}")
    hidden = value["hidden"]
    if not isinstance(hidden, list):
        raise ValueError(f"encoder hidden widths {hidden!r} are not a list")
    spec = EncoderSpec(
        _size(value["in_features"], "encoder in_features"),
        tuple(_size(h, "encoder hidden width") for h in hidden),
        str(value["activation"]),
        _size(value["dim"], "encoder dim"),
    )
    shapes = layer_shapes([spec.in_features, *spec.hidden, spec.dim])
    weights = value["weights"]
    if not isinstance(weights, list) or len(weights) != len(shapes):
        count = len(weights) if isinstance(weights, list) else type(weights).__name__
        raise ValueError(f"the encoder holds {count} arrays, its architecture {len(shapes)}")
    arrays = [
        read_exact_array(w, f"encoder array {k}", DTYPE, shape)
        for k, (w, shape) in enumerate(zip(weights, shapes, strict=True))
    ]
    return spec, arrays


def _class_names(document: dict[str, Any]) -> tuple[str, ...]:
    names = document["class_names"]
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"class names {names!r} are not two or more names")
    return tuple(names)


def read_document(document: Any, source: str, party: str | None = None) -> StoredTransferModel:
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
    StoredTransferModel
        The party, label party, model, the other top-level fields and training-run token.

    Raises
    ------
    DataError
        Naming ``source``: not a transfer-learning party model, another version, party or
        role, or malformed (an encoder or ``Phi`` that does not fit its architecture,
        among others).
    """
    checked = check_header(document, source, KIND, party)
    owner, label_party, role = checked.party, checked.label_party, checked.role
    model: TransferPartyModel
    try:
        if document.get("algorithm") != "ftl":
            raise ValueError(f"algorithm {document.get('algorithm')!r}, not 'ftl'")
        spec, weights = _read_encoder(document["encoder"])
        classes = _class_names(document)
        objective = str(document["objective"])
        if objective not in ("binary", "multiclass"):
            raise ValueError(f"objective {objective!r}")
        if role == "label_party":
            width = 1 if objective == "binary" else len(classes)
            phi = read_exact_array(document["phi"], "phi", DTYPE, (width, spec.dim))
            model = SourceModel(
                spec,
                weights,
                phi,
                classes,
                objective,
                [float(v) for v in document["losses"]],
                int(document["epochs_run"]),
                int(document["best_epoch"]),
                read_input_scaling(document, spec.in_features, "encoder"),
            )
        else:
            validation = [
                {str(k): float(v) for k, v in scores.items()} for scores in document["validation"]
            ]
            model = TargetModel(
                spec,
                weights,
                classes,
                objective,
                int(document["labelled_rows"]),
                int(document["epochs_run"]),
                validation,
                int(document["best_epoch"]),
                read_input_scaling(document, spec.in_features, "encoder"),
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{source}: the {role} model of {owner!r} is malformed: {exc}") from exc
    known = set(party_document(model, owner, label_party, checked.training_run))
    prepared = {k: v for k, v in document.items() if k not in known}
    return StoredTransferModel(owner, label_party, model, prepared, checked.training_run)


def kept_document(
    model: TransferPartyModel,
    party: str,
    label_party: str,
    training_run: str | None,
    features: Sequence[str],
    scaling: Standardization | None,
    categories: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One party's whole kept model file, as a deployed party writes it (``rengo vfl party
    --model FILE``) and ``rengo runs export`` of a simulated run writes it: its model
    (:func:`party_document`) beside how its table's columns were prepared
    (:func:`rengo.vfl.party_model_file.prepared_columns`), which a scoring-only run applies
    to new rows. The classes written are the model's (the source's class names, which
    scoring codes labels by), as ``classes`` too, for a rengo that read them there.

    Parameters
    ----------
    model
        The source's :class:`SourceModel` or the target's :class:`TargetModel`.
    party
        Whose model it is.
    label_party
        The run's label party (the source).
    training_run
        The run's token, written when given.
    features
        The party's table columns its encoder reads, in order.
    scaling
        Their training mean and spread, or ``None``.
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
    prepared = prepared_columns(features, scaling, list(model.classes), categories)
    return {**prepared, **party_document(model, party, label_party, training_run)}


def write_party_model(
    path: str | Path,
    model: TransferPartyModel,
    party: str,
    label_party: str,
    training_run: str | None = None,
    **extra: Any,
) -> Path:
    """Write one party's transfer-learning model as a JSON file (``extra``: more top-level
    fields, e.g. how its columns were prepared).

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


def read_party_model(path: str | Path, party: str | None = None) -> StoredTransferModel:
    """One party's transfer-learning model from the file :func:`write_party_model` wrote.

    Raises
    ------
    DataError
        Naming the file, if it cannot be read, is not JSON, or :func:`read_document`
        refuses it.
    """
    return read_document(read_json(path), str(path), party)

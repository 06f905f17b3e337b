"""A trained coordinated linear model (hetero LR, linear or Poisson regression) as
versioned JSON, one document per party: what each party keeps to score new rows later.

* The label party's document holds its own weights, the intercept, the fill values of its
  empty cells (``missing="zero"|"mean"``) and its training history (losses, epochs run).
* A feature party's document holds only its own weights and fill values: never another
  party's, nor the intercept.
* A one-vs-rest model (hetero LR on K > 2 classes, :mod:`rengo.vfl.hetero_lr.one_vs_rest`)
  adds ``class_models`` (K) to each document, and the label party's ``intercepts`` (one per
  class); its ``weights`` hold K per column (``w[f K + k]``). A binary model's document
  has neither field, as before.

Every float is written as ``repr`` writes it, so a model read back scores bit for bit what
the one written did (a non-finite float is the string ``"nan"``/``"inf"``). The header
(:mod:`rengo.vfl.party_model_file`) names the ``format``, ``version``, ``party``, ``role``,
the run's label party and (a deployed training run's file) its ``training_run`` token; the
body names the ``algorithm`` and every party of the run, so a file of another algorithm or
run is refused, naming the file. The rest of the top level (a deployed party's
``features``, ``mean``, ``scale``, ``classes``: how its columns were prepared) is kept as
:attr:`StoredLinearModel.prepared`. Nothing is pickled.

Files written before this format (no ``format`` field, by ``rengo vfl party --model``
before version 1) are refused with a message saying how to write a current one: they named
no version, so they cannot be told apart from a file of another layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.hetero_lr.roles import GuestModel, HostModel
from rengo.vfl.party_model_file import (
    DocumentKind,
    Role,
    check_header,
    exact,
    header,
    read_json,
    write_document,
)

FORMAT = "rengo-linear-party-model"
"""The ``format`` every linear party document names."""

VERSION = 1
"""The document version this rengo writes and reads."""

ALGORITHMS = ("hetero_lr", "hetero_linear", "hetero_poisson")
"""The registered algorithms whose parties keep a :class:`GuestModel` / :class:`HostModel`."""

KIND = DocumentKind(
    FORMAT,
    VERSION,
    "linear",
    "train again with this rengo's `rengo vfl party --model FILE` to save a current one",
)
"""The linear party document (:mod:`rengo.vfl.party_model_file`'s header)."""

LinearPartyModel = GuestModel | HostModel


@dataclass(frozen=True)
class StoredLinearModel:
    """One party's linear model read back from its document: whose it is, the run's label
    party, algorithm and parties, and the model (the label party's weights and intercept,
    or a feature party's weights)."""

    party: str
    label_party: str
    algorithm: str
    parties: tuple[str, ...]
    model: LinearPartyModel
    prepared: dict[str, Any] = field(default_factory=dict)
    """The file's other top-level fields: how a deployed party's columns were prepared
    (``features``, ``mean``, ``scale``, ``classes``; ``rengo vfl party --model`` writes
    them)."""
    training_run: str | None = None
    """The token every party's file of its training run names (``None``: it names none)."""

    @property
    def role(self) -> Role:
        """``"label_party"`` or ``"feature_party"``."""
        return "label_party" if isinstance(self.model, GuestModel) else "feature_party"


def _floats(values: np.ndarray | None) -> list[Any] | None:
    return None if values is None else [exact(v) for v in np.asarray(values, dtype=float).ravel()]


def party_document(
    model: LinearPartyModel,
    party: str,
    label_party: str,
    algorithm: str,
    parties: tuple[str, ...] | list[str],
    training_run: str | None = None,
) -> dict[str, Any]:
    """One party's linear model as a JSON-ready document (every float exact).

    Parameters
    ----------
    model
        The label party's :class:`GuestModel` or a feature party's :class:`HostModel`.
    party
        Whose model it is.
    label_party
        The run's label party.
    algorithm
        ``"hetero_lr"``, ``"hetero_linear"`` or ``"hetero_poisson"``.
    parties
        Every party of the run.
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
        If ``model`` is not a linear party model, its role contradicts ``party``, the
        algorithm is not a linear one, or ``party`` is not among ``parties``.
    """
    if algorithm not in ALGORITHMS:
        raise DataError(f"{party}: {algorithm!r} is not a linear algorithm {ALGORITHMS}")
    if party not in parties or label_party not in parties:
        raise DataError(f"{party}: party or label party {label_party!r} not among {parties}")
    body: dict[str, Any] = {
        **header(KIND, party, label_party, training_run),
        "algorithm": algorithm,
        "parties": list(parties),
    }
    if isinstance(model, GuestModel):
        if party != label_party:
            raise DataError(f"{party}: holds the intercept, but the label party is {label_party}")
        guest = {
            **body,
            "weights": _floats(model.weights),
            "intercept": exact(model.intercept),
            "fill": _floats(model.fill),
            "losses": [exact(v) for v in model.losses],
            "epochs_run": int(model.epochs_run),
            "converged": bool(model.converged),
        }
        if model.classes > 1:
            guest.update(class_models=model.classes, intercepts=_floats(model.intercepts))
        return guest
    if isinstance(model, HostModel):
        if party == label_party:
            raise DataError(f"{party}: the label party's model holds the intercept")
        host = {
            **body,
            "weights": _floats(model.weights),
            "fill": _floats(model.fill),
            "epochs_run": int(model.epochs_run),
        }
        if model.classes > 1:
            host["class_models"] = model.classes
        return host
    raise DataError(f"{party}: not a linear party model: {type(model).__name__}")


def read_document(document: Any, source: str, party: str | None = None) -> StoredLinearModel:
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
    StoredLinearModel
        The party, label party, algorithm, parties, model and training-run token.

    Raises
    ------
    DataError
        Naming ``source``, if it is an unversioned file of an older rengo, not a linear
        party model, of another version, of another party, or malformed.
    """
    if isinstance(document, dict) and "format" not in document and "weights" in document:
        raise DataError(
            f"{source}: a linear model file without format or version (written by rengo "
            f"before {FORMAT} version {VERSION}); this rengo does not read it: {KIND.renew}"
        )
    checked = check_header(document, source, KIND, party)
    owner, label_party, role = checked.party, checked.label_party, checked.role
    try:
        algorithm = str(document["algorithm"])
        parties = tuple(str(p) for p in document["parties"])
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm {algorithm!r}")
        if owner not in parties or label_party not in parties:
            raise ValueError(f"parties {list(parties)} lack {owner!r} or {label_party!r}")
        model = _guest(document) if role == "label_party" else _host(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{source}: the {role} model of {owner!r} is malformed: {exc}") from exc
    run = checked.training_run
    known = set(party_document(model, owner, label_party, algorithm, parties, run))
    prepared = {k: v for k, v in document.items() if k not in known}
    return StoredLinearModel(owner, label_party, algorithm, parties, model, prepared, run)


def _vector(values: Any, what: str) -> np.ndarray:
    if not isinstance(values, list):
        raise ValueError(f"{what} is not a list")
    return np.array([float(v) for v in values], dtype=np.float64)


def _class_models(document: dict[str, Any], weights: np.ndarray) -> int:
    """K of a one-vs-rest document (1 without ``class_models``), checked against its
    weights (K per column)."""
    classes = document.get("class_models", 1)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"class_models {classes!r} is not a count of class models")
    if len(weights) % classes:
        raise ValueError(f"{len(weights)} weights are not {classes} per column")
    return classes


def _fill(document: dict[str, Any], weights: np.ndarray, classes: int = 1) -> np.ndarray | None:
    if document["fill"] is None:
        return None
    fill = _vector(document["fill"], "fill")
    if len(fill) * classes != len(weights):
        raise ValueError(f"{len(fill)} fill values for {len(weights) // classes} columns")
    return fill


def _guest(document: dict[str, Any]) -> GuestModel:
    weights = _vector(document["weights"], "weights")
    classes = _class_models(document, weights)
    intercepts = None
    if classes > 1:
        intercepts = _vector(document["intercepts"], "intercepts")
        if len(intercepts) != classes:
            raise ValueError(f"{len(intercepts)} intercepts for {classes} class models")
    return GuestModel(
        weights=weights,
        intercept=float(document["intercept"]),
        losses=[float(v) for v in _vector(document["losses"], "losses")],
        epochs_run=int(document["epochs_run"]),
        converged=bool(document["converged"]),
        fill=_fill(document, weights, classes),
        classes=classes,
        intercepts=intercepts,
    )


def _host(document: dict[str, Any]) -> HostModel:
    weights = _vector(document["weights"], "weights")
    classes = _class_models(document, weights)
    return HostModel(
        weights, int(document["epochs_run"]), _fill(document, weights, classes), classes
    )


def write_party_model(
    path: str | Path,
    model: LinearPartyModel,
    party: str,
    label_party: str,
    algorithm: str,
    parties: tuple[str, ...] | list[str],
    training_run: str | None = None,
    **extra: Any,
) -> Path:
    """Write one party's linear model as a JSON file (``training_run``: the run's token;
    ``extra``: more top-level fields, e.g. how its columns were prepared).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    DataError
        As :func:`party_document`.
    """
    document = party_document(model, party, label_party, algorithm, parties, training_run)
    return write_document(path, {**extra, **document})


def read_party_model(path: str | Path, party: str | None = None) -> StoredLinearModel:
    """One party's linear model from the JSON file :func:`write_party_model` wrote.

    Parameters
    ----------
    path
        The file.
    party
        The party it must belong to (``None``: any).

    Returns
    -------
    StoredLinearModel
        The party, label party, algorithm, parties and model.

    Raises
    ------
    DataError
        Naming the file, if it cannot be read, is not JSON, or :func:`read_document`
        refuses it.
    """
    return read_document(read_json(path), str(path), party)

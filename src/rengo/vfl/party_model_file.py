"""What every vertical party's model document shares: strict JSON with exact floats, and a
header naming its ``format``, ``version``, ``party``, ``role``, the run's label party and,
for a file a deployed training run wrote, its ``training_run``.

``training_run`` is a random token (:func:`new_training_run`) the coordinator of a deployed
training run draws and hands every party in the plan: every party's file of that run names
the same one, and a scoring-only run refuses files whose tokens differ (last month's bank
file with this month's telecom file) before any row is scored. It reveals nothing about
any party's data: it is drawn from the OS CSPRNG, independent of tables, labels and model.
A file without one (written before version 1 carried it, or exported from a simulated run)
is read, and scored only beside files that name none either, with a note that the check
could not be made.

An algorithm's model file (:mod:`rengo.vfl.secureboost.model_file`,
:mod:`rengo.vfl.hetero_lr.model_file`, :mod:`rengo.vfl.splitnn.model_file`,
:mod:`rengo.ftl.model_file`) writes its own body under this header; reading one back checks
the header here first, and every error names the source and what is wrong. A network's
weights are written by :func:`exact_array` (dtype, shape, exact values) and read back by
:func:`read_exact_array` against the shapes its architecture gives (:func:`layer_shapes`).
Nothing is pickled: a document is data, never code.
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.files import write_atomically
from rengo.data import Standardization

Role = Literal["label_party", "feature_party"]


@dataclass(frozen=True)
class DocumentKind:
    """One algorithm family's party document: its ``format`` name, the ``version`` this
    rengo writes and reads, what it is called in messages, and how to get a current file."""

    format: str
    version: int
    title: str
    renew: str
    """How to write the file again with this rengo (told when the version differs)."""
    older: tuple[int, ...] = ()
    """Earlier versions this rengo still reads (their reader fills in what they lack)."""


@dataclass(frozen=True)
class DocumentHeader:
    """A checked header: whose model it is, the run's label party, the party's role and the
    training run that wrote it (``None``: the file names none)."""

    party: str
    label_party: str
    role: Role
    training_run: str | None = None


def new_training_run() -> str:
    """A fresh training-run token: 32 hex digits from the OS CSPRNG (nothing about data).

    Returns
    -------
    str
        The token every party's model file of one training run names.
    """
    return secrets.token_hex(16)


def short_run(training_run: str | None) -> str:
    """A training-run token as messages show it, or ``'none'``: a deployed run's random
    token by its first 8 digits, a simulated run's token (its run id, whose first 8
    characters are its date, ``20261207-071530-4929f9``) whole, so that two runs of one day
    read apart."""
    if training_run is None:
        return "none"
    return training_run if "-" in training_run else training_run[:8]


@dataclass(frozen=True)
class ModelOrigin:
    """Where a kept party model came from: its file, and the algorithm, label party and
    (when the file names them) parties and training-run token of the run that trained it."""

    source: str
    algorithm: str | None
    label_party: str
    parties: tuple[str, ...] | None = None
    training_run: str | None = None

    def check_same_training_run(self, party: str, runs: Mapping[str, str | None]) -> None:
        """Refuse to score beside parties whose kept models another training run wrote.

        Parameters
        ----------
        party
            This model's party.
        runs
            Every party's training-run token (the coordinator's collection; ``None``: the
            party's file names none).

        Raises
        ------
        ConfigError
            Naming this file, its token, and each party whose token differs.
        """
        others = {p: r for p, r in runs.items() if p != party and r != self.training_run}
        if not others:
            return
        differ = ", ".join(f"{p} (run {short_run(r)})" for p, r in sorted(others.items()))
        raise ConfigError(
            f"{self.source}: {party}'s model is from training run "
            f"{short_run(self.training_run)}, but {differ} kept models of another training "
            "run: score with the model files one training run wrote (train again to renew them)"
        )

    def check(self, algorithm: str, label_party: str, parties: Sequence[str]) -> None:
        """Refuse a run that is not the one this model was trained for.

        Parameters
        ----------
        algorithm, label_party, parties
            The run's (the coordinator's plan's).

        Raises
        ------
        ConfigError
            Naming the file and what differs: the algorithm, the label party, or the
            parties.
        """
        if self.algorithm is not None and self.algorithm != algorithm:
            raise ConfigError(
                f"{self.source}: a {self.algorithm} model, but the coordinator runs {algorithm}"
            )
        if self.label_party != label_party:
            raise ConfigError(
                f"{self.source}: a model of a run whose label party is {self.label_party!r}, "
                f"but the coordinator names {label_party!r}"
            )
        if self.parties is not None and sorted(self.parties) != sorted(parties):
            raise ConfigError(
                f"{self.source}: a model of a run of parties {sorted(self.parties)}, but the "
                f"coordinator runs {sorted(parties)}"
            )


def exact(value: float) -> Any:
    """``value`` as JSON writes it exactly: a finite float (``repr`` round-trips), or the
    string ``"nan"``/``"inf"``/``"-inf"`` (strict JSON has no such numbers)."""
    return float(value) if math.isfinite(value) else repr(float(value))


ARRAY_DTYPES = ("float32", "float64")
"""The dtypes :func:`exact_array` writes (a network's weights: float32 or float64)."""


def exact_array(values: np.ndarray) -> dict[str, Any]:
    """A float array as JSON writes it exactly: its ``dtype``, ``shape`` and every value
    (row-major) as :func:`exact` writes it (a float32 widens to float64 exactly, so its
    ``repr`` round-trips too).

    Raises
    ------
    DataError
        If the array is not float32 or float64.
    """
    array = np.asarray(values)
    if array.dtype.name not in ARRAY_DTYPES:
        raise DataError(f"an array of dtype {array.dtype} (a model file keeps {ARRAY_DTYPES})")
    return {
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "values": [exact(v) for v in array.astype(np.float64).ravel()],
    }


def read_exact_array(value: Any, what: str, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """The array an :func:`exact_array` field holds, checked.

    Parameters
    ----------
    value
        The parsed field.
    what
        What it is (``"top layer 2"``), for messages.
    dtype, shape
        The dtype and shape it must have (the architecture's).

    Returns
    -------
    numpy.ndarray
        The array, of ``dtype``, bit for bit the one written.

    Raises
    ------
    ValueError
        Naming ``what``: not such a field, another dtype or shape, values that are not
        floats of that dtype.
    """
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "values"}:
        raise ValueError(f"{what} is not an array of dtype, shape and values")
    if value["dtype"] != dtype:
        raise ValueError(f"{what} is {value['dtype']!r}, the network's weights are {dtype}")
    if value["shape"] != list(shape):
        raise ValueError(f"{what} has shape {value['shape']}, the architecture gives {list(shape)}")
    values = value["values"]
    if not isinstance(values, list) or len(values) != math.prod(shape):
        raise ValueError(f"{what} holds no {math.prod(shape)} values")
    if any(isinstance(v, bool) or not isinstance(v, (int, float, str)) for v in values):
        raise ValueError(f"{what} holds a value that is not a number")
    wide = np.array([float(v) for v in values], dtype=np.float64)
    array = wide.astype(dtype).reshape(tuple(shape))
    if not np.array_equal(array.astype(np.float64).ravel(), wide, equal_nan=True):
        raise ValueError(f"{what} holds values that are not {dtype}")
    return array


def input_scaling(inputs: Standardization | None) -> dict[str, Any]:
    """A network's input scaling (:func:`rengo.vfl.common.z_scored`) as document fields:
    ``{"inputs": {"mean": ..., "scale": ...}}``, every value exact float64; none for a
    network that reads its columns as given."""
    if inputs is None:
        return {}
    mean, scale = (np.asarray(a, dtype=np.float64) for a in (inputs.mean, inputs.scale))
    return {"inputs": {"mean": exact_array(mean), "scale": exact_array(scale)}}


def read_input_scaling(
    document: Mapping[str, Any], columns: int, network: str
) -> Standardization | None:
    """The input scaling :func:`input_scaling` wrote for a ``network`` of ``columns``
    inputs, or ``None`` (as given) when the document holds none.

    Raises
    ------
    ValueError
        Naming the network: not a mean and a scale of ``columns`` float64 values each, or a
        scale that is not finite and positive.
    """
    if "inputs" not in document:
        return None
    value = document["inputs"]
    if not isinstance(value, dict) or set(value) != {"mean", "scale"}:
        raise ValueError(f"the {network}'s inputs are not a mean and a scale")
    shape = (columns,)
    mean = read_exact_array(value["mean"], "inputs mean", "float64", shape)
    scale = read_exact_array(value["scale"], "inputs scale", "float64", shape)
    if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"the {network}'s input scale is not finite and positive")
    return Standardization(mean, scale)


def prepared_columns(
    features: Sequence[str],
    scaling: Standardization | None,
    classes: Sequence[Any] | None = None,
    categories: Mapping[str, Any] | None = None,
    label_party: bool = False,
) -> dict[str, Any]:
    """How a party's columns were prepared for training, as the top-level fields of its
    model document that scoring-only runs read back (``rengo vfl party --load-model``):
    its table columns (``features``), their ``mean`` and ``scale`` (``None``: not
    z-scored), the label's class names (a party that holds labels) and its text columns'
    encoding (:meth:`~rengo.data.categorical.CategoricalEncoding.to_json`).

    Parameters
    ----------
    features
        The party's table columns its model reads, in order.
    scaling
        Their training mean and spread, or ``None``.
    classes
        The label's class names (omitted when ``None``, unless ``label_party``).
    categories
        The text columns' encoding as JSON (omitted when ``None``).
    label_party
        Whether the party holds the labels: its ``classes`` are written even when ``None``
        (a regression label: ``"classes": null``, which readers of its file may index).

    Returns
    -------
    dict
        ``features``, ``mean``, ``scale`` and, where given (or for a label party),
        ``classes``, and ``categories`` where given.
    """
    prepared: dict[str, Any] = {
        "features": [str(f) for f in features],
        "mean": None if scaling is None else np.asarray(scaling.mean, float).tolist(),
        "scale": None if scaling is None else np.asarray(scaling.scale, float).tolist(),
    }
    if classes is not None or label_party:
        prepared["classes"] = (
            None
            if classes is None
            else [c.item() if isinstance(c, np.generic) else c for c in classes]
        )
    if categories is not None:
        prepared["categories"] = dict(categories)
    return prepared


def layer_shapes(widths: Sequence[int]) -> list[tuple[int, ...]]:
    """The weight ``(out, in)`` and bias ``(out,)`` shapes of a multi-layer perceptron of
    layer ``widths``, in ``state_dict`` order (what a network's document must hold)."""
    return [s for a, b in itertools.pairwise(widths) for s in ((b, a), (b,))]


def training_runs_differ(runs: Mapping[str, str | None]) -> str | None:
    """Which parties' kept models come from which training run, when they are not all one.

    Parameters
    ----------
    runs
        Every party's training-run token (``None``: its file names none).

    Returns
    -------
    str or None
        ``None`` when every party names the same token; else one line grouping the parties
        by token, e.g. ``"bank, shop: run 3f2a9c01; telecom: run 9c1b0d44"``.
    """
    if len(set(runs.values())) <= 1:
        return None
    groups: dict[str | None, list[str]] = {}
    for party, run in runs.items():
        groups.setdefault(run, []).append(party)
    return "; ".join(
        f"{', '.join(sorted(parties))}: run {short_run(run)}"
        for run, parties in sorted(groups.items(), key=lambda item: sorted(item[1]))
    )


def header(
    kind: DocumentKind, party: str, label_party: str, training_run: str | None = None
) -> dict[str, Any]:
    """The header fields of ``party``'s document (``role`` from whether it is the label
    party; ``training_run`` only when known)."""
    role: Role = "label_party" if party == label_party else "feature_party"
    fields: dict[str, Any] = {
        "format": kind.format,
        "version": kind.version,
        "party": party,
        "label_party": label_party,
        "role": role,
    }
    if training_run is not None:
        fields["training_run"] = training_run
    return fields


def check_header(
    document: Any, source: str, kind: DocumentKind, party: str | None = None
) -> DocumentHeader:
    """The header of a party document, checked.

    Parameters
    ----------
    document
        The parsed JSON.
    source
        Where it came from (a file, a run), for error messages.
    kind
        The document kind it must be.
    party
        The party it must belong to (``None``: any).

    Returns
    -------
    DocumentHeader
        Its party, label party, role and training-run token (``None``: it names none).

    Raises
    ------
    DataError
        Naming ``source``, if it is not a document of ``kind``, has another version,
        belongs to another party, names a role its party does not have, or a training run
        that is not a non-empty string.
    """
    if not isinstance(document, dict) or document.get("format") != kind.format:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise DataError(
            f"{source}: not a {kind.title} party model (format {found!r}, want {kind.format!r})"
        )
    readable = (*kind.older, kind.version)
    version = document.get("version")
    if type(version) is not int or version not in readable:  # JSON true and 1.0 are not 1
        versions = " and ".join(str(v) for v in readable)
        raise DataError(
            f"{source}: {kind.title} model version {version!r}; this rengo "
            f"reads version{'s' * (len(readable) > 1)} {versions} ({kind.renew})"
        )
    owner, label_party = document.get("party"), document.get("label_party")
    if not isinstance(owner, str) or not isinstance(label_party, str):
        raise DataError(f"{source}: the document names no party or label party")
    if party is not None and owner != party:
        raise DataError(f"{source}: the model of party {owner!r}, not of {party!r}")
    role = document.get("role")
    expected: Role = "label_party" if owner == label_party else "feature_party"
    if role != expected:
        raise DataError(f"{source}: party {owner!r} is a {expected}, but the file says {role!r}")
    training_run = document.get("training_run")
    if training_run is not None and (not isinstance(training_run, str) or not training_run):
        raise DataError(f"{source}: training_run {training_run!r} is not a run token")
    return DocumentHeader(owner, label_party, expected, training_run)


def write_document(path: str | Path, document: dict[str, Any]) -> Path:
    """Write a party document as strict JSON, readable by its owner only.

    The file is 0600 (a party's model and the statistics of its columns are its own) and
    appears whole or not at all (:func:`rengo.core.files.write_atomically`).

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path)
    write_atomically(target, document_bytes(document))
    return target


def document_bytes(document: dict[str, Any]) -> bytes:
    """A party document's file contents, as :func:`write_document` writes them: strict
    JSON, UTF-8.

    Parameters
    ----------
    document
        The JSON-ready document.

    Returns
    -------
    bytes
        The file's bytes.

    Raises
    ------
    ValueError
        If the document holds a value strict JSON cannot write (NaN, infinity).
    """
    return (json.dumps(document, indent=1, allow_nan=False) + "\n").encode("utf-8")


def read_json(path: str | Path) -> Any:
    """The parsed JSON of a party document file.

    Raises
    ------
    DataError
        Naming the file, if it cannot be read or is not JSON (corrupt or truncated).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: cannot read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: not JSON (corrupt or truncated?): {exc}") from exc

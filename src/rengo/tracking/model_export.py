"""Take a trained model out of the run store: numpy ``.npz`` or a PyTorch ``state_dict``.

A horizontal run's checkpoints hold the global model after each round (the coordinator
saves one per round); :func:`load_model` reads one back and :func:`write_model` writes it
under names - the ones of the model the job built (see :func:`rengo.jobs.model_state_dict`),
or ``param_0, param_1, ...`` when no names are known.

A vertical model has no single owner: each party's weights live at that party. A simulated
vertical run (``rengo run`` on a vertical job) gathers every part in one process and stores
them, so :func:`load_vertical_parts` can return each party's part; a *deployed* vertical run's
coordinator never sees any party's weights, so its store holds none of them. A simulated
SecureBoost run stores each party's model as its own versioned JSON document
(:mod:`rengo.vfl.secureboost.model_file`: the label party's trees, each feature party's own
split lookup table), and :func:`load_secureboost` reads them back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rengo.core.codec import decode, encode
from rengo.core.errors import CodecError, ConfigError, DataError
from rengo.core.install_hint import install_hint
from rengo.data import CategoricalEncoding, Standardization, TargetScaling
from rengo.tracking.column_importance import recorded_column_names
from rengo.tracking.store import RunStore

# SecureBoost's model files are read only by the functions below that need them: every run
# store reader (`rengo runs list`) imports this module, and SecureBoost's package brings
# Paillier and the whole vertical layer with it.
if TYPE_CHECKING:
    from rengo.vfl.secureboost.model_file import StoredPartyModel

FORMATS = ("npz", "torch")
"""Export formats: a numpy ``.npz`` archive, or a PyTorch ``state_dict`` saved by torch.save."""

VERTICAL_KIND = "vertical-parts"
"""The ``kind`` of a checkpoint that holds a vertical model's parts, one per party."""

SECUREBOOST_KIND = "secureboost-party-models"
"""The ``kind`` of a checkpoint that holds a SecureBoost model: one JSON document per party."""


@dataclass(frozen=True)
class ModelSnapshot:
    """A horizontal run's global model after one round."""

    run_id: str
    round: int
    parameters: list[np.ndarray]
    strategy: str | None


@dataclass(frozen=True)
class PartyCategories:
    """How one vertical party one-hot encoded its text columns, and the table columns its
    part of the model reads, in order (what :func:`write_categories` writes beside it).

    Parameters
    ----------
    encoding
        The party's categories per text column and its unseen-category policy.
    features
        The party's table columns its part reads, in order, each text column named once
        (``load_csv(..., features=...)`` reads rows to score in that order).
    """

    encoding: CategoricalEncoding
    features: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The document :func:`write_categories` writes: the encoding and ``features``."""
        return {**self.encoding.to_json(), "features": list(self.features)}

    @classmethod
    def from_json(cls, value: Any, where: str) -> PartyCategories:
        """Read :meth:`to_json`'s document.

        Raises
        ------
        DataError
            Naming ``where``, if it is malformed.
        """
        features = value.get("features") if isinstance(value, dict) else None
        if not isinstance(features, list) or not all(isinstance(c, str) for c in features):
            raise DataError(f"{where}: the stored categories name no table columns")
        return cls(CategoricalEncoding.from_json(value, where), tuple(features))


@dataclass(frozen=True)
class VerticalParts:
    """A simulated vertical run's trained weights: one coefficient vector per party (for
    that party's own columns, in its column order) and the label party's intercept; a
    row's linear predictor is ``sum over parties of X_party @ w_party + intercept`` (the
    score is its inverse link: ``sigmoid`` for LR, itself for linear, ``exp`` for Poisson
    regression). A party whose columns were z-scored (every vertical job's are, each with
    its own training statistics) has ``scalers[party]``, the standardisation its raw
    columns go through first: ``(X - mean) / scale``. A party trained with
    ``missing="zero"|"mean"`` has ``fills[party]``: the value each column's empty cells
    then take (in scaled units: they are filled after scaling). A one-vs-rest model (hetero
    LR on K classes) has a weight matrix per party (one column per class) and K intercepts:
    class k's score is the inverse link of ``sum X_party @ w_party[:, k] + intercept[k]``,
    the K scores of a row then divided by their sum. A party that one-hot encoded text
    columns (a job's ``[vfl] categorical``) has ``categories[party]``: its encoding and the
    table columns its part reads, in order (:class:`PartyCategories`), so new rows to score
    are encoded into the same columns; each party's stays its own. ``features[party]`` names
    the columns of its weights, in order (the run summary's column names), and ``classes``
    the label's classes in the order of the class codes (a binary model's score is of
    ``classes[1]``; a one-vs-rest model's weight column k is class ``classes[k]``), where
    the run recorded them (runs before they were recorded have none)."""

    run_id: str
    round: int
    label_party: str
    parts: dict[str, np.ndarray]
    intercept: float | np.ndarray
    fills: dict[str, np.ndarray] = field(default_factory=dict)
    scalers: dict[str, Standardization] = field(default_factory=dict)
    categories: dict[str, PartyCategories] = field(default_factory=dict)
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    classes: tuple[str, ...] | None = None

    def state_dicts(self) -> dict[str, dict[str, np.ndarray]]:
        """Per party ``{"weight": w}`` (and ``"fill"`` where it fills empty cells), plus
        ``"intercept"`` (shape (1,); one-vs-rest (K,)) at the label party."""
        out = {name: {"weight": np.asarray(w)} for name, w in self.parts.items()}
        out[self.label_party]["intercept"] = np.atleast_1d(np.asarray(self.intercept, float))
        for name, fill in self.fills.items():
            out[name]["fill"] = np.asarray(fill)
        return out

    def named_state_dicts(self) -> dict[str, dict[str, np.ndarray]]:
        """:meth:`state_dicts` with the names the run recorded: ``feature`` at each party
        (a name per row of its ``weight``) and ``classes`` at the label party (a name per
        class code: a one-vs-rest ``weight[:, k]`` and ``intercept[k]`` are class
        ``classes[k]``'s, a binary score is of ``classes[1]``), as text arrays that
        ``numpy.load(..., allow_pickle=False)`` reads.

        Returns
        -------
        dict
            Per party, its arrays by name.
        """
        out = self.state_dicts()
        for name, features in self.features.items():
            out[name]["feature"] = np.array(features, dtype=str)
        if self.classes is not None:
            out[self.label_party]["classes"] = np.array(self.classes, dtype=str)
        return out


def vertical_parts_blob(
    round: int,
    label_party: str,
    parts: Mapping[str, np.ndarray],
    intercept: float | np.ndarray,
    fills: Mapping[str, np.ndarray] | None = None,
    scalers: Mapping[str, Standardization] | None = None,
    categories: Mapping[str, PartyCategories] | None = None,
    classes: Sequence[str] | None = None,
) -> bytes:
    """Checkpoint bytes of a vertical model's parts (for a simulated run's store), with each
    party's fill values for empty cells, its column scaling and its text columns' encoding
    where it has them (a one-vs-rest model: weight matrices and one intercept per class),
    the names of each party's weight rows (``features``) and the label's class names in
    code order (``classes``), where known."""
    return encode(
        {
            "kind": VERTICAL_KIND,
            "round": int(round),
            "label_party": label_party,
            "parts": {str(name): np.asarray(w) for name, w in parts.items()},
            "intercept": (
                np.asarray(intercept, dtype=np.float64)
                if isinstance(intercept, np.ndarray)
                else float(intercept)
            ),
            "fills": {str(name): np.asarray(f) for name, f in (fills or {}).items()},
            "scalers": _scalers_value(scalers),
            "categories": _categories_value(categories),
            "classes": None if classes is None else [str(c) for c in classes],
        }
    )


def _classes_read(run_id: str, intercept: float | np.ndarray, value: Any) -> tuple[str, ...] | None:
    """The stored class names (None: not recorded), one per class model of a one-vs-rest
    model's intercepts."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise DataError(f"run {run_id}: the stored class names are malformed")
    if isinstance(intercept, np.ndarray) and len(value) != len(intercept):
        raise DataError(
            f"run {run_id}: {len(value)} stored class names for {len(intercept)} class models"
        )
    return tuple(value)


def _categories_value(categories: Mapping[str, PartyCategories] | None) -> dict[str, str]:
    return {str(name): json.dumps(c.to_json()) for name, c in (categories or {}).items()}


def _categories_read(run_id: str, value: Any) -> dict[str, PartyCategories]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise DataError(f"run {run_id}: the stored categories are malformed")
    read: dict[str, PartyCategories] = {}
    for name, text in value.items():
        where = f"run {run_id}: party {name}'s stored categories"
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{where} are malformed: {exc}") from None
        read[name] = PartyCategories.from_json(document, where)
    return read


def _scalers_value(scalers: Mapping[str, Standardization] | None) -> dict[str, list[np.ndarray]]:
    return {
        str(name): [np.asarray(s.mean), np.asarray(s.scale)] for name, s in (scalers or {}).items()
    }


def _scalers_read(run_id: str, value: Any) -> dict[str, Standardization]:
    scalers: dict[str, Standardization] = {}
    if not isinstance(value, dict):
        raise DataError(f"run {run_id}: the stored column scaling is malformed")
    for name, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2):
            raise DataError(f"run {run_id}: the stored column scaling of {name!r} is malformed")
        scalers[name] = Standardization(mean=np.asarray(pair[0]), scale=np.asarray(pair[1]))
    return scalers


def party_documents_blob(
    kind: str,
    round: int,
    label_party: str,
    documents: Mapping[str, Mapping[str, Any]],
    **extra: Any,
) -> bytes:
    """Checkpoint bytes of a simulated vertical run whose model is one JSON document per
    party (SecureBoost, transfer learning): each document as strict JSON text.

    Parameters
    ----------
    kind
        The checkpoint's kind (:data:`SECUREBOOST_KIND`, the transfer model's).
    round
        The checkpoint's round (trees grown, epochs trained).
    label_party
        The run's label party.
    documents
        Each party's JSON-ready document.
    **extra
        More fields of the checkpoint, after the documents (SecureBoost's scalings).

    Returns
    -------
    bytes
        The encoded checkpoint.

    Raises
    ------
    ValueError
        If a document holds a value strict JSON cannot write (NaN, infinity).
    """
    texts = {str(name): json.dumps(doc, allow_nan=False) for name, doc in documents.items()}
    return encode(
        {"kind": kind, "round": int(round), "label_party": label_party, "documents": texts, **extra}
    )


_DOCUMENTS_FIELDS = frozenset({"kind", "round", "label_party", "documents"})
"""The fields :func:`party_documents_blob` writes for every algorithm."""


@dataclass(frozen=True)
class StoredPartyDocuments:
    """A stored checkpoint of one JSON document per party (:func:`party_documents_blob`),
    every document read back and checked."""

    run_id: str
    round: int
    label_party: str
    documents: dict[str, dict[str, Any]]
    extra: dict[str, Any]
    """The checkpoint's other fields (SecureBoost's scalers and categories)."""


def load_party_documents(
    store: RunStore,
    run_id: str,
    kind: str,
    model: str,
    read_document: Callable[[Any, str, str], object],
    check_parties: Callable[[str, str, dict[str, Any]], None],
) -> StoredPartyDocuments:
    """The party documents of a simulated run's latest checkpoint of ``kind``.

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id or a unique prefix.
    kind
        The checkpoint kind expected.
    model
        The model's name in messages ("SecureBoost", "transfer-learning").
    read_document
        The algorithm's document reader ``(document, source, party)``, raising DataError.
    check_parties
        Called with the run's id, the label party and the documents' texts by party
        before any is read; raises DataError for a set of parties the model cannot hold.

    Returns
    -------
    StoredPartyDocuments
        Every party's document, read back.

    Raises
    ------
    DataError
        The run holds another kind of model, or a corrupt or malformed one.
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    full, number, state = _checkpoint(store, run_id, None)
    if state.get("kind") != kind:
        raise DataError(f"run {full} holds no {model} model (it holds {state.get('kind')!r})")
    texts, label = state.get("documents"), state.get("label_party")
    if not isinstance(texts, dict) or not isinstance(label, str):
        raise DataError(f"run {full}: the stored {model} model is malformed")
    check_parties(full, label, texts)
    documents: dict[str, dict[str, Any]] = {}
    for name, text in texts.items():
        try:
            document = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise DataError(f"run {full}: the stored model of {name!r} is corrupt: {exc}") from exc
        except RecursionError:  # nested deeper than the JSON reader follows
            raise DataError(
                f"run {full}: the stored model of {name!r} is corrupt: nested too deeply to read"
            ) from None
        read_document(document, f"run {full}'s stored model of {name!r}", name)
        documents[str(name)] = document
    extra = {k: v for k, v in state.items() if k not in _DOCUMENTS_FIELDS}
    return StoredPartyDocuments(full, number, label, documents, extra)


def secureboost_blob(
    trees: int,
    label_party: str,
    models: Mapping[str, Any],
    scalers: Mapping[str, Standardization] | None = None,
    training_run: str | None = None,
    categories: Mapping[str, PartyCategories] | None = None,
) -> bytes:
    """Checkpoint bytes of a simulated SecureBoost run's model: each party's own document
    (:func:`~rengo.vfl.secureboost.party_document`, as JSON text) and its column scaling.

    Parameters
    ----------
    trees
        Trees grown (the checkpoint's round).
    label_party
        The run's label party.
    models
        Each party's model: the label party's trees, each feature party's splits.
    scalers
        Each party's column scaling, where its columns were z-scored.
    training_run
        The token every party's document names (the run's id: exported files of two runs
        are then refused together, as a deployed run's are).
    categories
        Each party's text columns' encoding, where it one-hot encoded some.

    Raises
    ------
    DataError
        If a model is not a SecureBoost party model of its party's role.
    """
    from rengo.vfl.secureboost.model_file import party_document

    documents = {
        name: party_document(model, name, label_party, training_run)
        for name, model in models.items()
    }
    return party_documents_blob(
        SECUREBOOST_KIND,
        trees,
        label_party,
        documents,
        scalers=_scalers_value(scalers),
        categories=_categories_value(categories),
    )


@dataclass(frozen=True)
class StoredSecureBoost:
    """A simulated SecureBoost run's model as the store keeps it: each party's JSON
    document (the label party's trees with no feature party's thresholds; each feature
    party's own splits) and, where a party's columns were z-scored, its scaling: score raw
    columns as ``(X - mean) / scale`` (:meth:`scaled_rows`)."""

    run_id: str
    trees: int
    label_party: str
    documents: dict[str, dict[str, Any]]
    scalers: dict[str, Standardization] = field(default_factory=dict)
    categories: dict[str, PartyCategories] = field(default_factory=dict)
    """Each party's text columns' encoding, where it one-hot encoded some (see
    :class:`VerticalParts`)."""

    @property
    def best_round(self) -> int:
        """The label party's best round (1-based): lowest held-out loss, or lowest training
        loss without a held-out share; early stopping kept the trees after it."""
        return int(self.documents[self.label_party]["best_round"])

    def models(self) -> list[StoredPartyModel]:
        """Every party's model, read from its document."""
        from rengo.vfl.secureboost.model_file import read_document

        return [
            read_document(doc, f"run {self.run_id}'s stored model of {name!r}", name)
            for name, doc in sorted(self.documents.items())
        ]

    def first_trees(self, n_trees: int) -> StoredSecureBoost:
        """The model with its first ``n_trees`` trees only (each party's document cut
        alike; ``first_trees(best_round)``: the best round's ensemble).

        Raises
        ------
        ConfigError
            Unless ``1 <= n_trees <= trees``.
        """
        from rengo.vfl.secureboost.model_file import party_document

        documents = {
            m.party: party_document(
                m.model.first_trees(n_trees), m.party, self.label_party, m.training_run
            )
            for m in self.models()
        }
        return replace(self, trees=n_trees, documents=documents)

    def scaled_rows(self, party: str, features: np.ndarray) -> np.ndarray:
        """A party's raw rows as its model scores them: ``(X - mean) / scale`` with its
        training scaling (unchanged for a party whose columns were not scaled).

        Raises
        ------
        DataError
            If the column count differs from training's.
        """
        x = np.asarray(features, dtype=np.float64)
        scaler = self.scalers.get(party)
        if scaler is None:
            return x
        if x.ndim != 2 or x.shape[1] != len(scaler.mean):
            raise DataError(
                f"{party}: rows of shape {x.shape}, but it trained on {len(scaler.mean)} columns"
            )
        return np.asarray((x - scaler.mean) / scaler.scale)

    def estimator(self, n_trees: int | None = None, **params: Any) -> Any:
        """A fitted :class:`~rengo.vfl.HeteroSecureBoost` that scores as the run's model
        did (its ``predict_proba`` / ``predict`` take every party's rows, scaled with
        :meth:`scaled_rows`).

        Parameters
        ----------
        n_trees
            Score with the first ``n_trees`` trees (e.g. :attr:`best_round`, the best
            round's ensemble); ``None``: every tree kept.
        **params
            Run settings for the estimator (``progress``, ``seed``...).

        Raises
        ------
        DataError
            If a stored document is malformed.
        ConfigError
            Unless ``1 <= n_trees <=`` the trees kept.
        """
        from rengo.vfl.secureboost.estimator import HeteroSecureBoost

        model = HeteroSecureBoost.from_party_models(self.models(), **params)
        return model if n_trees is None else model.first_trees(n_trees)


INPUT_SCALING = "input_standardization"
"""The run-config key of a horizontal job's input scaling: ``{"mean": [...], "scale":
[...]}``, what every table was z-scored with before training."""


def input_scaling_config(scaler: Standardization) -> dict[str, list[float]]:
    """The run-config value of :data:`INPUT_SCALING`."""
    return {
        "mean": np.asarray(scaler.mean, float).tolist(),
        "scale": np.asarray(scaler.scale, float).tolist(),
    }


def _recorded_mean_and_scale(
    config: Mapping[str, Any], key: str, ndim: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """A run config's ``{"mean": ..., "scale": ...}`` under ``key`` as float64 arrays of
    ``ndim`` dimensions and one shape, or None when it has none; DataError naming ``key``
    when malformed."""
    value = config.get(key)
    if value is None:
        return None
    try:
        mean = np.asarray(value["mean"], dtype=np.float64)
        scale = np.asarray(value["scale"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"the run's recorded {key} is malformed: {exc}") from exc
    if mean.ndim != ndim or mean.shape != scale.shape:
        raise DataError(f"the run's recorded {key} is malformed")
    return mean, scale


def input_scaling(config: Mapping[str, Any]) -> Standardization | None:
    """A run config's input scaling, or None when it has none.

    Raises
    ------
    DataError
        If the recorded value is malformed.
    """
    recorded = _recorded_mean_and_scale(config, INPUT_SCALING, ndim=1)
    return None if recorded is None else Standardization(*recorded)


def input_scaling_file(model_path: Path) -> Path:
    """Where a model's input scaling goes beside it: ``<model>.inputs.npz``."""
    return model_path.with_name(model_path.name + ".inputs.npz")


def write_input_scaling(model_path: Path, scaler: Standardization) -> Path:
    """Write the ``(X - mean) / scale`` a model's inputs need beside the model file:
    ``<model>.inputs.npz`` with arrays ``mean`` and ``scale`` (the model file itself stays
    loadable as it is, e.g. by ``load_state_dict``)."""
    return _write_mean_and_scale(input_scaling_file(model_path), scaler.mean, scaler.scale)


def _write_mean_and_scale(target: Path, mean: Any, scale: Any) -> Path:
    """``target`` as an ``.npz`` of arrays ``mean`` and ``scale``."""
    with target.open("wb") as handle:
        np.savez(handle, mean=np.asarray(mean), scale=np.asarray(scale))
    return target


CATEGORICAL_ENCODING = "categorical_encoding"
"""The run-config key of how a horizontal job one-hot encoded its text columns
(:meth:`rengo.data.CategoricalEncoding.to_json`): rows to score are encoded with it."""


def categorical_encoding(config: Mapping[str, Any]) -> CategoricalEncoding | None:
    """A run config's categorical encoding, or None when it has none.

    Raises
    ------
    DataError
        If the recorded value is malformed.
    """
    value = config.get(CATEGORICAL_ENCODING)
    return None if value is None else CategoricalEncoding.from_json(value, "the run's record")


def categories_file(model_path: Path) -> Path:
    """Where a model's categorical encoding goes beside it: ``<model>.categories.json``."""
    return model_path.with_name(model_path.name + ".categories.json")


def write_categories(
    model_path: Path, encoding: CategoricalEncoding, features: Sequence[str] | None = None
) -> Path:
    """Write how a model's text columns were one-hot encoded beside the model file, as
    JSON (``{"unseen": ..., "categories": {column: [names]}, "features": [columns]}``):
    ``features``, the table columns the model reads in their order, lets rows to score be
    read in that order whatever their file's (``load_csv(..., features=...)``)."""
    target = categories_file(model_path)
    document = (
        encoding.to_json()
        if features is None
        else PartyCategories(encoding, tuple(features)).to_json()
    )
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return target


TARGET_SCALING = "target_standardization"
"""The run-config key of a horizontal regression job's target scaling, ``{"mean": m,
"scale": s}``: the model predicts ``(y - m) / s``, so a prediction reads as ``z * s + m``."""


def target_scaling_config(scaling: TargetScaling) -> dict[str, float]:
    """The run-config value of :data:`TARGET_SCALING`."""
    return {"mean": float(scaling.mean), "scale": float(scaling.scale)}


def target_scaling(config: Mapping[str, Any]) -> TargetScaling | None:
    """A run config's target scaling, or None when it has none (a classifier, or a target
    trained raw).

    Raises
    ------
    DataError
        If the recorded value is malformed.
    """
    recorded = _recorded_mean_and_scale(config, TARGET_SCALING, ndim=0)
    return None if recorded is None else TargetScaling(*map(float, recorded))


def target_scaling_file(model_path: Path) -> Path:
    """Where a regression model's target scaling goes beside it: ``<model>.target.npz``."""
    return model_path.with_name(model_path.name + ".target.npz")


def write_target_scaling(model_path: Path, scaling: TargetScaling) -> Path:
    """Write the ``z * scale + mean`` a regression model's predictions need beside the model
    file: ``<model>.target.npz`` with scalars ``mean`` and ``scale``."""
    return _write_mean_and_scale(
        target_scaling_file(model_path), np.float64(scaling.mean), np.float64(scaling.scale)
    )


def _checkpoint(store: RunStore, run_id: str, round: int | None) -> tuple[str, int, Any]:
    run = store.get_run(run_id)
    if round is None:
        latest = store.latest_checkpoint(run.run_id)
        if latest is None:
            raise DataError(_no_checkpoint(run.run_id, run.kind, run.config.get("algorithm")))
        number, blob = latest
    else:
        available = store.checkpoint_rounds(run.run_id)
        if round not in available:
            have = ", ".join(map(str, available)) or "none"
            raise DataError(
                f"run {run.run_id} has no checkpoint for round {round} (it has: {have})"
            )
        number, blob = round, store.load_checkpoint(run.run_id, round)
    try:
        state = decode(bytearray(blob))
    except CodecError as exc:
        raise DataError(f"run {run.run_id}: round {number}'s checkpoint is corrupt: {exc}") from exc
    if not isinstance(state, dict):
        raise DataError(f"run {run.run_id}: round {number}'s checkpoint is not a model state")
    return run.run_id, number, state


LINEAR_VERTICAL_ALGORITHMS = ("hetero_lr", "hetero_linear", "hetero_poisson")
"""The vertical algorithms whose simulated runs store their parts (weights per party) for
``rengo runs export``."""

STORED_VERTICAL_ALGORITHMS = (*LINEAR_VERTICAL_ALGORITHMS, "secureboost", "ftl", "splitnn")
"""The vertical algorithms whose simulated runs store their model (SecureBoost, transfer
learning and SplitNN: one JSON document per party)."""


def _no_checkpoint(run_id: str, kind: str, algorithm: Any = None) -> str:
    if kind.startswith("vfl") and kind != "vfl":
        return (
            f"run {run_id} is a deployed vertical run: each party's weights stay at that party "
            "and the coordinator never sees them, so the run store holds no model to export; "
            "each party saves its own with `rengo vfl party --model FILE`"
        )
    if kind == "vfl" and isinstance(algorithm, str) and algorithm not in STORED_VERTICAL_ALGORITHMS:
        return (
            f"run {run_id} trained {algorithm!r}, whose model the run store does not keep: "
            "export writes the models of "
            + ", ".join(STORED_VERTICAL_ALGORITHMS)
            + f" only. rengo never pickles a model: a {algorithm} model is kept by running "
            "the job deployed, where each party writes its own as versioned JSON (rengo vfl "
            "party --job JOB --model FILE), and a scoring-only run scores new rows with those "
            "files (rengo vfl coordinator --no-train; rengo vfl party --load-model FILE "
            "--score-csv NEW.csv); a simulated run scores its held-out rows only"
        )
    if kind == "vfl":
        return (
            f"run {run_id} recorded no model parts (it was made by a rengo that did not store "
            "them); run the job again to export its parts"
        )
    return f"run {run_id} has no checkpoint; the coordinator saves one per round when it can"


def load_model(store: RunStore, run_id: str, round: int | None = None) -> ModelSnapshot:
    """The global model of a horizontal run after ``round`` (default: the latest one).

    Raises
    ------
    DataError
        The run has no checkpoint (for that round), or it holds a vertical model.
    """
    full, number, state = _checkpoint(store, run_id, round)
    if state.get("kind") == VERTICAL_KIND:
        raise DataError(
            f"run {full} holds a vertical model: export its parts per party "
            "(load_vertical_parts, or `rengo runs export` writes one file per party)"
        )
    parameters = state.get("parameters")
    if not isinstance(parameters, list) or not all(isinstance(p, np.ndarray) for p in parameters):
        raise DataError(f"run {full}: round {number}'s checkpoint has no parameter arrays")
    name = state.get("strategy_name")
    return ModelSnapshot(full, number, parameters, name if isinstance(name, str) else None)


def load_vertical_parts(store: RunStore, run_id: str) -> VerticalParts:
    """Each party's weights of a simulated vertical run, as the store holds them.

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id or a unique prefix.

    Returns
    -------
    VerticalParts
        The latest checkpoint's parts: each party's weights and fill values, the
        intercept, the label party and the column scaling, with the column names the
        run summary recorded for each party's weight rows and the class names.

    Raises
    ------
    DataError
        The run holds no vertical parts - e.g. a deployed vertical run, whose parts live
        only at the parties - or no checkpoint, or a corrupt or malformed one, or column
        names recorded for a party but not one for each row of its weights.
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    full, number, state = _checkpoint(store, run_id, None)
    if state.get("kind") == SECUREBOOST_KIND:
        raise HoldsSecureBoost(
            f"run {full} holds SecureBoost trees, not weights: use load_secureboost"
        )
    if state.get("kind") != VERTICAL_KIND:
        raise DataError(f"run {full} holds a horizontal model, not a vertical model's parts")
    parts = state.get("parts")
    if not isinstance(parts, dict) or not all(isinstance(w, np.ndarray) for w in parts.values()):
        raise DataError(f"run {full}: the stored vertical parts are malformed")
    label = str(state.get("label_party", ""))
    if label not in parts:
        raise DataError(f"run {full}: the label party {label!r} has no stored part")
    fills = state.get("fills") or {}
    if not isinstance(fills, dict) or not all(isinstance(f, np.ndarray) for f in fills.values()):
        raise DataError(f"run {full}: the stored fill values are malformed")
    stored = state.get("intercept", 0.0)
    intercept = stored if isinstance(stored, np.ndarray) else float(stored)
    scalers = _scalers_read(full, state.get("scalers") or {})  # none in older stores
    categories = _categories_read(full, state.get("categories") or {})  # nor these
    features = _weight_row_names(store, full, parts)
    classes = _classes_read(full, intercept, state.get("classes"))
    return VerticalParts(
        full, number, label, dict(parts), intercept, dict(fills), scalers, categories,
        features, classes,
    )  # fmt: skip


def _weight_row_names(
    store: RunStore, run_id: str, parts: Mapping[str, np.ndarray]
) -> dict[str, tuple[str, ...]]:
    """Each party's column names the run summary recorded, one a row of its part (a party
    without recorded names has none here)."""
    named: dict[str, tuple[str, ...]] = {}
    for party, weights in parts.items():
        names = recorded_column_names(store, run_id, party, len(weights))
        if names is not None:
            named[party] = tuple(names)
    return named


def load_secureboost(store: RunStore, run_id: str) -> StoredSecureBoost:
    """A simulated SecureBoost run's model: each party's document and column scaling.

    ``load_secureboost(store, run).estimator()`` is a fitted
    :class:`~rengo.vfl.HeteroSecureBoost` that scores new rows (every party's, scaled with
    :meth:`StoredSecureBoost.scaled_rows`) exactly as the run's model did.

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id or a unique prefix.

    Returns
    -------
    StoredSecureBoost
        The latest checkpoint's model: every party's document (trees, splits) and column
        scaling.

    Raises
    ------
    DataError
        The run holds no SecureBoost model (another algorithm's, a deployed run's, a run of
        a rengo that did not store one), no checkpoint, or a corrupt or malformed one.
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    from rengo.vfl.secureboost.model_file import read_document

    def label_party_held(full: str, label: str, texts: dict[str, Any]) -> None:
        if label not in texts:
            raise DataError(f"run {full}: the stored SecureBoost model is malformed")

    stored = load_party_documents(
        store, run_id, SECUREBOOST_KIND, "SecureBoost", read_document, label_party_held
    )
    full, state = stored.run_id, stored.extra
    scalers = _scalers_read(full, state.get("scalers") or {})
    categories = _categories_read(full, state.get("categories") or {})  # none in older stores
    return StoredSecureBoost(
        full, stored.round, stored.label_party, stored.documents, scalers, categories
    )


class HoldsSecureBoost(DataError):
    """:func:`load_vertical_parts` of a run whose store keeps SecureBoost trees (read them
    with :func:`load_secureboost`)."""


def stored_model(store: RunStore, run_id: str) -> str | None:
    """What model a simulated vertical run's store keeps, in words (``None``: none): a
    linear model's weights per party or a SecureBoost model's trees and splits per party,
    with the command that exports it."""
    latest = store.latest_checkpoint(run_id)
    if latest is None:
        return None
    number, blob = latest
    try:
        state = decode(bytearray(blob))
    except CodecError:
        return f"round {number}'s checkpoint (unreadable)"
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == SECUREBOOST_KIND:
        label = state.get("label_party")
        others = sorted(set(state.get("documents") or {}) - {label})
        best = _best_round(state.get("documents"), label)
        best_round = (
            f"; early stopping's best round is tree {best} (--trees best exports the first {best})"
            if best is not None and best < number
            else ""
        )
        return (
            f"SecureBoost, {number} trees: the label party {label}'s trees and the splits of "
            f"{', '.join(map(str, others)) or 'no feature party'}, one JSON per party "
            f"(rengo runs export {run_id} --out DIR){best_round}"
        )
    from rengo.tracking.transfer_model import TRANSFER_KIND, describe_transfer

    if kind == TRANSFER_KIND:
        return describe_transfer(state, run_id)
    from rengo.tracking.splitnn_model import SPLITNN_KIND, describe_splitnn

    if kind == SPLITNN_KIND:
        return describe_splitnn(state, run_id)
    if kind == VERTICAL_KIND:
        parts = ", ".join(sorted(state.get("parts") or {}))
        return f"vertical weights of {parts} (rengo runs export {run_id} --out DIR)"
    return None


def _best_round(documents: object, label: object) -> int | None:
    """The best round a stored SecureBoost model's label party document names (``None``:
    the document is missing or names none)."""
    if not isinstance(documents, dict) or not isinstance(documents.get(label), str):
        return None
    try:
        best = json.loads(documents[label]).get("best_round")
    except (json.JSONDecodeError, AttributeError):
        return None
    return best if isinstance(best, int) and not isinstance(best, bool) else None


def named_parameters(
    parameters: Sequence[np.ndarray], names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Pair arrays with names (default ``param_0``, ``param_1``...), checking counts."""
    if names is None:
        names = [f"param_{i}" for i in range(len(parameters))]
    names = list(names)
    if len(names) != len(parameters):
        raise ConfigError(f"{len(names)} names for {len(parameters)} parameter arrays")
    if len(set(names)) != len(names):
        raise ConfigError(f"parameter names must be distinct: {names}")
    return {name: np.asarray(array) for name, array in zip(names, parameters, strict=True)}


def write_model(
    state: Mapping[str, np.ndarray], path: str | os.PathLike[str], format: str = "npz"
) -> Path:
    """Write named arrays as ``.npz`` (numpy) or ``.pt`` (a PyTorch ``state_dict``).

    The torch file is an ordered ``{name: tensor}`` saved with ``torch.save``, loadable with
    ``torch.load(path, weights_only=True)`` and ``model.load_state_dict``.

    Raises
    ------
    ConfigError
        Unknown format, or ``torch`` asked for without PyTorch installed.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if format == "npz":
        arrays: dict[str, Any] = {name: np.asarray(a) for name, a in state.items()}
        with target.open("wb") as handle:
            np.savez(handle, **arrays)
        return target
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            f"--format torch needs PyTorch ({install_hint('torch')}); or use --format npz"
        ) from exc
    tensors = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in state.items()}
    torch.save(tensors, target)
    return target

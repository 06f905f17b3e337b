"""A simulated SplitNN run's model as the run store keeps it: each party's document.

``rengo run`` of a job with ``[vfl] algorithm = "splitnn"`` trains every party in one
process; it keeps what each party would keep deployed (``rengo vfl party --model FILE``):
the label party's bottom and top models with its classes, each feature party's bottom model,
each with how its columns were prepared (:func:`rengo.vfl.splitnn.model_file.kept_document`).
``rengo runs export RUN --out DIR`` writes them back as ``DIR/PARTY.json``, the files a
scoring-only deployed run reads (``rengo vfl coordinator --no-train`` and ``rengo vfl party
--load-model FILE --score-csv NEW.csv``), so new customers are scored without training
again. The checkpoint holds JSON text, never a pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import DataError
from rengo.tracking.model_export import load_party_documents, party_documents_blob
from rengo.tracking.store import RunStore

SPLITNN_KIND = "splitnn-party-models"
"""The ``kind`` of a checkpoint holding a SplitNN run's party documents."""


def splitnn_blob(
    epochs: int, label_party: str, documents: Mapping[str, Mapping[str, Any]]
) -> bytes:
    """Checkpoint bytes of a simulated SplitNN run's model.

    Parameters
    ----------
    epochs
        The epochs trained (the checkpoint's round).
    label_party
        The run's label party.
    documents
        Each party's document (:func:`rengo.vfl.splitnn.model_file.kept_document`),
        JSON-ready.

    Returns
    -------
    bytes
        The encoded checkpoint.

    Raises
    ------
    ValueError
        If a document holds a value strict JSON cannot write (NaN, infinity).
    """
    return party_documents_blob(SPLITNN_KIND, epochs, label_party, documents)


@dataclass(frozen=True)
class StoredSplitNN:
    """A simulated SplitNN run's model: each party's document, checked."""

    run_id: str
    epochs: int
    label_party: str
    documents: dict[str, dict[str, Any]]


def load_splitnn(store: RunStore, run_id: str) -> StoredSplitNN:
    """Each party's SplitNN document of a simulated run, as the store holds them.

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id or a unique prefix.

    Returns
    -------
    StoredSplitNN
        Every party's document, each read back by
        :func:`rengo.vfl.splitnn.model_file.read_document`.

    Raises
    ------
    DataError
        The run holds no SplitNN model (another algorithm's, a deployed run's, a run of a
        rengo that did not store one), or a corrupt or malformed one (one whose parties are
        not the label party and the feature parties its top model reads, a document that
        names another training run, or a top model whose input width is not the sum of the
        parties' embedding widths), naming the party and what disagrees.
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    from rengo.vfl.splitnn.model_file import read_document

    stored = load_party_documents(
        store, run_id, SPLITNN_KIND, "SplitNN", read_document, _label_party_held
    )
    label = stored.documents[stored.label_party]
    feature_parties = sorted(set(stored.documents) - {stored.label_party})
    if sorted(map(str, label.get("hosts") or [])) != feature_parties:
        raise DataError(
            f"run {stored.run_id}: the stored SplitNN model holds the bottom models of "
            f"{', '.join(feature_parties) or 'no feature party'}, but its top model reads "
            f"{', '.join(map(str, label.get('hosts') or [])) or 'none'} (the store is "
            "damaged: run the job again)"
        )
    _check_agreement(stored.run_id, stored.label_party, stored.documents)
    return StoredSplitNN(stored.run_id, stored.round, stored.label_party, stored.documents)


def _check_agreement(run_id: str, label_party: str, documents: Mapping[str, Any]) -> None:
    """Refuse documents that disagree with the run or with each other: a document another
    run trained, or a top model whose input width is not the sum of the embedding widths
    of the label party's own bottom model (where it has one) and of each feature party's."""
    for name in sorted(documents):
        named = documents[name].get("training_run")
        if named != run_id:
            raise DataError(
                f"run {run_id}: the stored SplitNN model of {name!r} names "
                f"{'no training run' if named is None else repr(named)} as its training run, "
                "not this run (the store is damaged: run the job again)"
            )
    label = documents[label_party]
    order = [label_party, *map(str, label.get("hosts") or [])]
    embedded = {
        name: int(documents[name]["bottom"]["widths"][-1])
        for name in order
        if documents[name].get("bottom") is not None
    }
    reads = int(label["top"]["widths"][0])
    if reads != sum(embedded.values()):
        parts = " + ".join(f"{width} ({name})" for name, width in embedded.items())
        raise DataError(
            f"run {run_id}: the label party {label_party}'s top model reads {reads} "
            f"embedding columns, but the parties' bottom models embed {parts} = "
            f"{sum(embedded.values())} (the store is damaged: run the job again)"
        )


def _label_party_held(full: str, label: str, texts: dict[str, Any]) -> None:
    """Refuse a stored model without the label party's document."""
    if label not in texts:
        held = ", ".join(sorted(map(str, texts))) or "none"
        raise DataError(
            f"run {full}: the stored SplitNN model holds the documents of {held}, not the "
            f"label party {label}'s (the store is damaged: run the job again)"
        )


def describe_splitnn(state: Mapping[str, Any], run_id: str) -> str:
    """What a stored SplitNN checkpoint holds, in words, with its export command."""
    label = state.get("label_party")
    others = sorted(set(state.get("documents") or {}) - {label})
    return (
        f"SplitNN: the label party {label}'s bottom and top models and the bottom models of "
        f"{', '.join(map(str, others)) or 'no feature party'}, one JSON per party "
        f"(rengo runs export {run_id} --out DIR)"
    )

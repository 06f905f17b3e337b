"""A simulated transfer-learning run's model as the run store keeps it: each party's document.

``rengo run`` of a job with ``[vfl] algorithm = "ftl"`` trains both parties in one process;
it keeps what each party would keep deployed (``rengo vfl party --model FILE``): the
source's encoder and translator ``Phi``, the target's encoder, each with how its columns
were prepared (:mod:`rengo.ftl.model_file`). ``rengo runs export RUN --out DIR`` writes
them back as ``DIR/PARTY.json``, the files a scoring-only deployed run reads (``rengo vfl
coordinator --no-train`` and ``rengo vfl party --load-model FILE``), so the target's new
rows are scored without training again. Each document stays whole and readable by its
party only once written; the checkpoint holds JSON text, never a pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import DataError
from rengo.tracking.model_export import load_party_documents, party_documents_blob
from rengo.tracking.store import RunStore

TRANSFER_KIND = "ftl-party-models"
"""The ``kind`` of a checkpoint holding a transfer-learning run's party documents."""


def transfer_blob(
    epochs: int, label_party: str, documents: Mapping[str, Mapping[str, Any]]
) -> bytes:
    """Checkpoint bytes of a simulated transfer-learning run's model.

    Parameters
    ----------
    epochs
        The epochs trained (the checkpoint's round).
    label_party
        The run's source (its label party).
    documents
        Each party's document (:func:`rengo.ftl.model_file.party_document` with how its
        columns were prepared), JSON-ready.

    Returns
    -------
    bytes
        The encoded checkpoint.

    Raises
    ------
    ValueError
        If a document holds a value strict JSON cannot write (NaN, infinity).
    """
    return party_documents_blob(TRANSFER_KIND, epochs, label_party, documents)


@dataclass(frozen=True)
class StoredTransfer:
    """A simulated transfer-learning run's model: each party's document, checked."""

    run_id: str
    epochs: int
    label_party: str
    documents: dict[str, dict[str, Any]]


def load_transfer(store: RunStore, run_id: str) -> StoredTransfer:
    """Each party's transfer-learning document of a simulated run, as the store holds them.

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id or a unique prefix.

    Returns
    -------
    StoredTransfer
        Every party's document, each read back by :func:`rengo.ftl.model_file.read_document`.

    Raises
    ------
    DataError
        The run holds no transfer-learning model (another algorithm's, a deployed run's, a
        run of a rengo that did not store one), or a corrupt or malformed one (one that
        holds other documents than the source's and one target's among them).
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    from rengo.ftl.model_file import read_document

    stored = load_party_documents(
        store, run_id, TRANSFER_KIND, "transfer-learning", read_document, _source_and_target
    )
    return StoredTransfer(stored.run_id, stored.round, stored.label_party, stored.documents)


def _source_and_target(full: str, label: str, texts: dict[str, Any]) -> None:
    """Refuse a stored model of other documents than the source's and one target's."""
    if len(texts) != 2 or label not in texts:
        held = ", ".join(sorted(map(str, texts))) or "none"
        raise DataError(
            f"run {full}: the stored transfer-learning model holds the documents of {held}; "
            f"a model is the source {label}'s and one target's (the store is damaged: run "
            "the job again)"
        )


def describe_transfer(state: Mapping[str, Any], run_id: str) -> str:
    """What a stored transfer-learning checkpoint holds, in words, with its export command."""
    label = state.get("label_party")
    others = sorted(set(state.get("documents") or {}) - {label})
    return (
        f"transfer learning: the source {label}'s encoder and Phi, and the encoder of "
        f"{', '.join(map(str, others)) or 'no target'}, one JSON per party "
        f"(rengo runs export {run_id} --out DIR)"
    )

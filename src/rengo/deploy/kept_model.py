"""A deployed party's kept model file, whichever algorithm wrote it: the party document
that ``rengo vfl party --model FILE`` saved (SecureBoost's, a linear model's, SplitNN's or
transfer learning's), read back
for a scoring-only run (``rengo vfl party --load-model FILE``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rengo.core.errors import DataError
from rengo.ftl import model_file as transfer_file
from rengo.vfl.hetero_lr import model_file as linear_file
from rengo.vfl.party_model_file import ModelOrigin, read_json
from rengo.vfl.secureboost import model_file as secureboost_file
from rengo.vfl.splitnn import model_file as splitnn_file


@dataclass(frozen=True)
class KeptModel:
    """A party's model read back from its file, with how its columns were prepared and
    where it came from."""

    party: str
    label_party: str
    model: Any
    prepared: dict[str, Any]
    """The file's other top-level fields (``features``, ``mean``, ``scale``, ``classes``)."""
    origin: ModelOrigin


def read_kept_model(path: str | Path, party: str) -> KeptModel:
    """Party ``party``'s model from the file its ``rengo vfl party --model`` wrote.

    Parameters
    ----------
    path
        The file.
    party
        The party it must belong to.

    Returns
    -------
    KeptModel
        The model, its column preparation and its origin (the file, algorithm, label party,
        the training-run token when the file names one and, for a linear model, every party
        of its run).

    Raises
    ------
    DataError
        Naming the file: unreadable, not JSON, not a party model file of a known format,
        of another version or of another party, malformed; or an unversioned linear model
        file of an older rengo (saved again by training with this one).
    """
    source = str(path)
    document = read_json(path)
    found = document.get("format") if isinstance(document, dict) else None
    # a file without a format: a linear model's file of an older rengo, refused by its reader
    unversioned = isinstance(document, dict) and found is None and "weights" in document
    if found == secureboost_file.FORMAT:
        boosted = secureboost_file.read_document(document, source, party)
        algorithm = boosted.prepared.get("algorithm", "secureboost")
        origin = ModelOrigin(
            source, str(algorithm), boosted.label_party, training_run=boosted.training_run
        )
        return KeptModel(
            boosted.party, boosted.label_party, boosted.model, boosted.prepared, origin
        )
    if found == linear_file.FORMAT or unversioned:
        linear = linear_file.read_document(document, source, party)
        origin = ModelOrigin(
            source, linear.algorithm, linear.label_party, linear.parties, linear.training_run
        )
        return KeptModel(linear.party, linear.label_party, linear.model, linear.prepared, origin)
    network: splitnn_file.StoredSplitNNModel | transfer_file.StoredTransferModel
    if found == splitnn_file.FORMAT:
        network, algorithm = splitnn_file.read_document(document, source, party), "splitnn"
    elif found == transfer_file.FORMAT:
        network, algorithm = transfer_file.read_document(document, source, party), "ftl"
    else:
        formats = (secureboost_file.FORMAT, linear_file.FORMAT)
        formats_too = (splitnn_file.FORMAT, transfer_file.FORMAT)
        raise DataError(
            f"{source}: not a party model file (format {found!r}, want one of "
            f"{formats + formats_too})"
        )
    origin = ModelOrigin(source, algorithm, network.label_party, training_run=network.training_run)
    return KeptModel(network.party, network.label_party, network.model, network.prepared, origin)

"""What every vertical party's model document shares: strict JSON with exact floats, and a
header naming its ``format``, ``version``, ``party``, ``role`` and the run's label party.

An algorithm's model file (:mod:`rengo.vfl.secureboost.model_file`,
:mod:`rengo.vfl.hetero_lr.model_file`) writes its own body under this header; reading one
back checks the header here first, and every error names the source and what is wrong.
Nothing is pickled: a document is data, never code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rengo.core.errors import ConfigError, DataError

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


@dataclass(frozen=True)
class DocumentHeader:
    """A checked header: whose model it is, the run's label party and the party's role."""

    party: str
    label_party: str
    role: Role


@dataclass(frozen=True)
class ModelOrigin:
    """Where a kept party model came from: its file, and the algorithm, label party and
    (when the file names them) parties of the run that trained it."""

    source: str
    algorithm: str | None
    label_party: str
    parties: tuple[str, ...] | None = None

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


def header(kind: DocumentKind, party: str, label_party: str) -> dict[str, Any]:
    """The header fields of ``party``'s document (``role`` from whether it is the label
    party)."""
    role: Role = "label_party" if party == label_party else "feature_party"
    return {
        "format": kind.format,
        "version": kind.version,
        "party": party,
        "label_party": label_party,
        "role": role,
    }


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
        Its party, label party and role.

    Raises
    ------
    DataError
        Naming ``source``, if it is not a document of ``kind``, has another version,
        belongs to another party, or names a role its party does not have.
    """
    if not isinstance(document, dict) or document.get("format") != kind.format:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise DataError(
            f"{source}: not a {kind.title} party model (format {found!r}, want {kind.format!r})"
        )
    if document.get("version") != kind.version:
        raise DataError(
            f"{source}: {kind.title} model version {document.get('version')!r}; this rengo "
            f"reads version {kind.version} ({kind.renew})"
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
    return DocumentHeader(owner, label_party, expected)


def write_document(path: str | Path, document: dict[str, Any]) -> Path:
    """Write a party document as strict JSON.

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path)
    target.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return target


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

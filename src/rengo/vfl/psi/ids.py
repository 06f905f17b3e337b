r"""Turn a party's record IDs into canonical bytes before private set intersection.

PSI only matches equal byte strings, so every party must map the same logical ID to the same
bytes. The rules, applied per party, are:

* ``str`` (and ``numpy.str_``): Unicode NFC, then UTF-8. Whitespace and case are significant.
  A string with no UTF-8 form (a lone surrogate such as ``"\ud800"``) is a
  :class:`~rengo.core.errors.DataError`.
* ``int`` (and numpy integers): the decimal string, e.g. ``7 -> b"7"`` and ``-7 -> b"-7"``.
* ``bytes`` (``bytearray``, ``numpy.bytes_``): taken as is. But numpy's fixed-width arrays
  (dtype ``S`` or ``U``) drop trailing NUL characters before rengo sees them:
  ``np.array([b"x\x00"])`` holds ``b"x"``, so it joins another party's ``b"x"``, while the
  list ``[b"x\x00"]`` does not. IDs whose trailing NULs matter must come as a list or an
  object array.

A party's IDs must all be of one kind; the kinds of all parties must agree (checked during the
protocol), because ``7`` and ``"007"`` or ``b"7"`` and ``"7"`` would otherwise join or miss
silently. Floats (``1.0`` could be ``"1"`` or ``"1.0"``), NaN, ``None``, ``bool``, empty IDs
and duplicates raise :class:`~rengo.core.errors.DataError` naming example rows.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rengo.core.errors import DataError

IdKind = Literal["text", "int", "bytes"]
ID_KINDS: tuple[IdKind, ...] = ("text", "int", "bytes")
_EXAMPLES = 3


@dataclass(frozen=True)
class NormalisedIds:
    """A party's IDs as canonical bytes (same order as the input) and their common kind."""

    values: list[bytes]
    kind: IdKind

    def __len__(self) -> int:
        return len(self.values)


def _kind_of(value: Any) -> IdKind:
    """The kind of one ID, or a DataError saying why it cannot be an ID."""
    if isinstance(value, (bool, np.bool_)):
        raise DataError(f"boolean {value!r} is not a valid ID")
    if isinstance(value, (str, np.str_)):
        return "text"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        return "bytes"
    if value is None:
        raise DataError("missing ID (None)")
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            raise DataError("missing ID (NaN)")
        raise DataError(
            f"float ID {value!r} is ambiguous (is 1.0 the ID '1' or '1.0'?): "
            "convert IDs to int or str first"
        )
    raise DataError(
        f"unsupported ID type {type(value).__name__} ({value!r}): use str, int or bytes"
    )


def _to_bytes(value: Any, kind: IdKind) -> bytes:
    if kind == "text":
        return _utf8(str(value))
    if kind == "int":
        return str(int(value)).encode("ascii")
    return bytes(value)


def _from_array(ids: np.ndarray, party: str) -> NormalisedIds | None:
    """Fast paths for homogeneous numpy arrays; ``None`` means: use the general path."""
    if ids.ndim != 1:
        raise DataError(f"{party}: IDs must be one-dimensional, got shape {ids.shape}")
    kind = ids.dtype.kind
    if kind in "iu":
        return NormalisedIds([str(v).encode("ascii") for v in ids.tolist()], "int")
    if kind == "U":
        return _texts(ids.tolist(), party)
    if kind == "S":
        return NormalisedIds(ids.tolist(), "bytes")
    if kind == "f":
        raise DataError(
            f"{party}: float IDs (dtype {ids.dtype}) are ambiguous: convert them to int or str"
        )
    if kind == "b":
        raise DataError(f"{party}: boolean arrays are not valid IDs")
    return None


def _texts(values: list[str], party: str) -> NormalisedIds:
    normalise = unicodedata.normalize
    try:
        return NormalisedIds([normalise("NFC", v).encode("utf-8") for v in values], "text")
    except UnicodeEncodeError:  # find the row, for the message
        for row, value in enumerate(values):
            try:
                _utf8(value)
            except DataError as exc:
                raise DataError(f"{party}: row {row}: {exc}") from None
        raise


def _utf8(text: str) -> bytes:
    """NFC, then UTF-8; a DataError for a string that has no UTF-8 form."""
    try:
        return unicodedata.normalize("NFC", text).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"text ID {text!r} has no UTF-8 form ({exc.reason}: {text[exc.start : exc.end]!r})"
        ) from None


def normalise_ids(ids: Sequence[Any] | np.ndarray | Iterable[Any], party: str) -> NormalisedIds:
    """Map ``ids`` to canonical bytes (see the module docstring) and reject bad inputs.

    Raises :class:`DataError` for an empty input, mixed kinds, invalid IDs (float, NaN, None,
    bool, empty, text with no UTF-8 form) and duplicates (after normalisation), naming example
    rows in the message. Bytes are taken as is, except that numpy ``S`` and ``U`` arrays have
    already lost their elements' trailing NULs (see the module docstring).
    """
    if isinstance(ids, np.ndarray):
        normalised = _from_array(ids, party)
        values = None if normalised is not None else ids.tolist()
    else:
        normalised = None
        values = list(ids)
    if normalised is None:
        assert values is not None
        if not values:
            raise DataError(f"{party}: no IDs given (empty input)")
        if all(type(v) is str for v in values):
            normalised = _texts(values, party)
        else:
            normalised = _general(values, party)
    if not normalised.values:
        raise DataError(f"{party}: no IDs given (empty input)")
    _check_not_empty_ids(normalised.values, party)
    _check_unique(normalised.values, party)
    return normalised


def _general(values: list[Any], party: str) -> NormalisedIds:
    first_kind: IdKind | None = None
    first_row = 0
    out: list[bytes] = []
    for row, value in enumerate(values):
        try:
            kind = _kind_of(value)
            encoded = _to_bytes(value, kind)
        except DataError as exc:
            raise DataError(f"{party}: row {row}: {exc}") from None
        if first_kind is None:
            first_kind, first_row = kind, row
        elif kind != first_kind:
            raise DataError(
                f"{party}: IDs mix kinds: row {first_row} is {first_kind} "
                f"({values[first_row]!r}), row {row} is {kind} ({value!r}); "
                "convert every ID to one type (str is safest)"
            )
        out.append(encoded)
    assert first_kind is not None
    return NormalisedIds(out, first_kind)


def _check_not_empty_ids(values: list[bytes], party: str) -> None:
    if b"" in values:
        row = values.index(b"")
        raise DataError(f"{party}: row {row}: empty ID (missing value?)")


def _check_unique(values: list[bytes], party: str) -> None:
    if len(set(values)) == len(values):
        return
    first_row: dict[bytes, int] = {}
    examples: list[str] = []
    for row, value in enumerate(values):
        seen = first_row.setdefault(value, row)
        if seen != row:
            examples.append(f"{_show(value)} at rows {seen} and {row}")
            if len(examples) == _EXAMPLES:
                break
    raise DataError(
        f"{party}: IDs must be unique, found duplicates (after normalisation): "
        + "; ".join(examples)
    )


def _show(value: bytes) -> str:
    try:
        return repr(value.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(value)

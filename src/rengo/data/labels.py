"""Turn a raw label column into class codes (with the class names kept) or regression targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.cells import first_unplain_number

Task = Literal["auto", "classification", "regression"]
TASKS: tuple[str, ...] = ("auto", "classification", "regression")
MISSING_LABEL_TEXT = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})


class MissingLabelError(DataError):
    """A training row without a label (an empty cell, ``NaN``, ``?``...), where every row
    needs one.

    Internal (not exported): rengo's vertical jobs catch it to say when the labels are on
    the other party's side; callers catch the :class:`~rengo.core.errors.DataError` it is.
    """


def encode_labels(
    values: np.ndarray, task: Task, where: Callable[[int], str]
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Return ``(y, classes)``: int64 codes and sorted class names, or float64 and ``None``.

    ``task="auto"`` treats text and whole numbers as classes and fractional numbers as a
    regression target. ``where(i)`` names row ``i`` (file and line) for error messages.
    Missing labels (empty, NaN, ``?``...) are an error: a training row needs a label. So
    are two text class names that differ only in letter case (``Yes`` and ``yes``).
    """
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        numbers = values.astype(np.float64)
    elif values.dtype.kind == "f":
        numbers = values.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise DataError(f"{where(int(bad[0]))}: label is {numbers[bad[0]]} (NaN or Inf)")
    else:
        text = np.char.strip(values.astype(str))
        missing = np.flatnonzero(np.isin(np.char.lower(text), list(MISSING_LABEL_TEXT)))
        if missing.size:
            i = int(missing[0])
            raise MissingLabelError(
                f"{where(i)}: label is missing ({str(values[i])!r}); every row needs a label "
                f"({missing.size} row(s) affected)"
            )
        parsed = _parse_numbers(text)
        if parsed is None:
            if task == "regression":
                i = _first_non_number(text)
                raise DataError(f"{where(i)}: regression label {str(text[i])!r} is not a number")
            classes, codes = np.unique(text, return_inverse=True)
            _refuse_case_variants(classes, codes, where)
            return codes.astype(np.int64), tuple(str(c) for c in classes)
        numbers = parsed
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise DataError(f"{where(int(bad[0]))}: label is {str(text[bad[0]])!r} (Inf)")
    whole = bool(np.all(numbers == np.round(numbers)))
    if task == "regression" or (task == "auto" and not whole):
        return numbers, None
    uniq, codes = np.unique(numbers, return_inverse=True)
    names = tuple(str(int(v)) if v == int(v) else repr(float(v)) for v in uniq)
    return codes.astype(np.int64), names


def label_values(names: Sequence[str]) -> tuple[object, ...] | None:
    """The labels a table's class names stand for, as a model predicts them: numbers where
    every name is number text (a CSV column of ``1, 5, 9`` predicts ``1, 5, 9``, not
    ``"1"``), else the names; ``None`` when they are the codes ``0..K-1`` themselves (a
    ``0, 1`` column predicts its codes, as it always has)."""
    parsed = _parse_numbers(np.char.strip(np.asarray(list(names), dtype=str)))
    if parsed is None or not bool(np.all(np.isfinite(parsed))):
        return tuple(names)
    values = tuple(int(v) if v == int(v) else float(v) for v in parsed.tolist())
    return None if values == tuple(range(len(values))) else values


def class_list(classes: Sequence[str], shown: int = 5, *, count: bool = False) -> str:
    """Up to ``shown`` class names for a message (``'a', 'b', ...`` beyond them), after
    their number when ``count`` (``4 ('No', 'Yes', 'no', 'yes')``)."""
    names = ", ".join(repr(c) for c in classes[:shown]) + (", ..." if len(classes) > shown else "")
    return f"{len(classes)} ({names})" if count else names


def _refuse_case_variants(
    classes: np.ndarray, codes: np.ndarray, where: Callable[[int], str]
) -> None:
    """A DataError for two class names that differ only in letter case (``Yes`` and
    ``yes``): an export that spelled one answer two ways, which trained as two classes (a
    horizontal job's 4-class "yes/no" model; a vertical party's "found 4 classes")."""
    folded = [str(c).casefold() for c in classes.tolist()]
    seen: dict[str, int] = {}
    for k, name in enumerate(folded):
        if name in seen:
            first, second = (int(np.flatnonzero(codes == c)[0]) for c in (seen[name], k))
            first, second = sorted((first, second))
            raise DataError(
                f"{where(second)}: label {str(classes[codes[second]])!r} differs only in letter "
                f"case from {str(classes[codes[first]])!r} at {where(first)}, so the two would "
                "be different classes; write each class one way (or, if they are different "
                "classes, rename one)"
            )
        seen[name] = k


def _parse_numbers(text: np.ndarray) -> np.ndarray | None:
    """The labels as numbers, or None when one is not plain number text (then every label
    is a class name: ``"1_000"`` or ``"１"`` is text, as ``first_unplain_number`` says)."""
    if first_unplain_number(text.tolist()) is not None:
        return None
    try:
        return text.astype(np.float64)
    except ValueError:
        return None


def _first_non_number(text: np.ndarray) -> int:
    for i, v in enumerate(text.tolist()):
        if first_unplain_number([v]) is not None:
            return i
        try:
            float(v)
        except ValueError:
            return i
    return 0

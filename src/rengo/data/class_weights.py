"""Class weights for imbalanced labels: scikit-learn's ``class_weight``, for every trainer.

A loss weighted by class counts each row's term times its class's weight, so that the rare
class (0.5% frauds, 2% patients with a rare disease) is not drowned by the common one.
Two forms, as in scikit-learn (``LogisticRegression(class_weight=...)``):

* ``"balanced"``: ``w_k = n / (K n_k)`` for the K classes of the n rows, ``n_k`` of class k
  (King & Zeng, "Logistic regression in rare events data", Political Analysis 9, 2001;
  scikit-learn's ``compute_class_weight``); every class then carries the same total weight;
* a mapping ``{class: weight}``: classes left out weigh 1.

A config holds the setting as text (an option must be one scalar for job files, command
flags and the wire): ``"none"``, ``"balanced"`` or ``"0:1,1:25"``; :func:`class_weight_text`
turns what a user writes (``None``, ``"balanced"``, ``{0: 1, 1: 25}``, a TOML table
``{0 = 1, 1 = 25}``) into it, :func:`parse_class_weight` back. The weights themselves are
worked out from the labels by whoever holds them (:func:`class_weights`), and stay there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from rengo.core.errors import DataError

ClassWeight = Literal["balanced"] | Mapping[int, float] | None
"""What a user asks for: balanced weights, a weight per class, or none."""

NO_CLASS_WEIGHT = "none"
"""The text of "no class weights" (the options' default)."""

BALANCED = "balanced"
"""The text of weights balancing the classes' counts."""

CLASS_WEIGHT_HELP = (
    "Class weights of the loss: none, balanced (n / (classes * n_class)) or per class as "
    "'0:1,1:25' (a table {0 = 1, 1 = 25} in a job file)."
)


def _weight(value: Any, key: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"weight of class {key} must be a number, got {value!r}")
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"weight of class {key} must be a number, got {value!r}") from None
    if not math.isfinite(weight) or weight <= 0:
        raise ValueError(
            f"weight of class {key} must be a positive number, got {value!r}; a class "
            "weighing 0 or less would be ignored or pushed away: drop its rows instead"
        )
    return weight


BY_POSITION = (
    "class weights are keyed by the class's position among the sorted labels (classes_), "
    "0..K-1, not by the label: for labels 'A', 'B', 'C' (or 1, 5, 9) weigh the third "
    "class as {2: 5}"
)
"""How a per-class weight names its class, for the messages refusing another key."""


def _class_code(key: Any) -> int:
    if isinstance(key, bool):
        raise ValueError(f"class {key!r} is not a class code; {BY_POSITION}")
    if isinstance(key, (int, np.integer)):
        code = int(key)
    elif isinstance(key, str) and key.strip().lstrip("-").isdigit():
        code = int(key.strip())
    else:
        raise ValueError(f"class {key!r} is not a class code; {BY_POSITION}")
    if code < 0:
        raise ValueError(f"class {code} is not a class code; {BY_POSITION}")
    return code


def class_weight_text(value: Any) -> str:
    """The canonical text of a class-weight setting (what configs hold).

    Parameters
    ----------
    value
        ``None``, ``"none"``, ``"balanced"``, a mapping of class codes (ints, or their text
        as TOML keys are) to positive weights, or text ``"0:1,1:25"``.

    Returns
    -------
    str
        ``"none"``, ``"balanced"`` or ``"0:1,1:25"`` (classes in order, weights as
        ``repr`` of the floats).

    Raises
    ------
    ValueError
        Naming the class and the fix: a key that is not a class code, or a weight that is
        not a positive finite number.
    """
    if value is None:
        return NO_CLASS_WEIGHT
    if isinstance(value, str):
        text = value.strip()
        for named in (NO_CLASS_WEIGHT, BALANCED):
            if text.lower() == named:
                return value if value == named else named  # scikit-learn's clone: the same
        pairs: dict[Any, Any] = {}
        for part in text.split(","):
            key, colon, weight = part.partition(":")
            if not colon:
                raise ValueError(
                    f"{value!r} is not a class weight; write none, balanced, or per class "
                    "as '0:1,1:25'"
                )
            pairs[key] = weight
        canonical = class_weight_text(pairs)
        return value if value == canonical else canonical  # scikit-learn's clone: the same
    if isinstance(value, Mapping):
        if not value:
            return NO_CLASS_WEIGHT
        weights: dict[int, float] = {}
        for key, weight in value.items():
            code = _class_code(key)
            if code in weights:
                raise ValueError(f"class {code} is given two weights")
            weights[code] = _weight(weight, code)
        return ",".join(f"{code}:{weights[code]!r}" for code in sorted(weights))
    raise ValueError(
        f"class weights must be none, 'balanced' or a mapping of class to weight, got "
        f"{type(value).__name__} {value!r}"
    )


def parse_class_weight(text: str) -> ClassWeight:
    """The setting of :func:`class_weight_text`'s text: ``None``, ``"balanced"`` or a dict.

    Raises
    ------
    ValueError
        As :func:`class_weight_text`.
    """
    canonical = class_weight_text(text)
    if canonical == NO_CLASS_WEIGHT:
        return None
    if canonical == BALANCED:
        return "balanced"
    pairs = (part.split(":") for part in canonical.split(","))
    return {int(code): float(weight) for code, weight in pairs}


def class_weights(
    labels: Any, class_weight: ClassWeight | str, who: str, classes: int | None = None
) -> dict[int, float] | None:
    """Each class's weight for these labels (None: unweighted).

    Parameters
    ----------
    labels
        Class codes 0..K-1, one per training row (of the party that holds them).
    class_weight
        The setting (or its text).
    who
        The party or client, named in errors.
    classes
        How many classes the model has (default: the largest code + 1, at least 2).

    Returns
    -------
    dict or None
        Class code to weight for every class of the model; ``None`` without class weights.

    Raises
    ------
    DataError
        Naming ``who`` and the fix: a weighted class that is not a class of the model, or
        ``"balanced"`` on labels with a single class (nothing to balance).
    """
    setting = parse_class_weight(class_weight) if isinstance(class_weight, str) else class_weight
    if setting is None:
        return None
    y = np.asarray(labels, dtype=np.float64).astype(np.int64)
    count = max(int(y.max(initial=0)) + 1, 2) if classes is None else classes
    if setting == "balanced":
        counts = np.bincount(y, minlength=count)
        present = np.flatnonzero(counts)
        if present.size < 2:
            only = present.tolist() or "no"
            raise DataError(
                f"{who}: class_weight='balanced' needs rows of at least two classes to "
                f"balance, but its {y.size} training row(s) are all of class {only}; give "
                "explicit weights ({0: 1, 1: 25}) or leave this party's labels unweighted"
            )
        weights = {k: 1.0 for k in range(count)}
        for k in present.tolist():
            weights[k] = y.size / (present.size * float(counts[k]))
        return weights
    unknown = sorted(k for k in setting if not 0 <= k < count)
    if unknown:
        raise DataError(
            f"{who}: class_weight names class {unknown[0]}, but the model's classes are "
            f"0..{count - 1}; weight only those (binary labels: 0 and 1): {BY_POSITION}"
        )
    return {k: float(setting.get(k, 1.0)) for k in range(count)}


def sample_weights(
    labels: Any, class_weight: ClassWeight | str, who: str, classes: int | None = None
) -> np.ndarray | None:
    """Each row's weight, its class's (see :func:`class_weights`); ``None`` unweighted.

    Raises
    ------
    DataError
        As :func:`class_weights`.
    """
    weights = class_weights(labels, class_weight, who, classes)
    return None if weights is None else weigh_rows(labels, weights)


def weigh_rows(labels: Any, weights: Mapping[int, float]) -> np.ndarray:
    """Each row's weight, its class's in ``weights`` (from :func:`class_weights`: it may
    weigh rows other than those the weights came from, e.g. held-out ones).

    Parameters
    ----------
    labels
        Class codes, one per row, each a key of ``weights``.
    weights
        Class code to weight.

    Returns
    -------
    numpy.ndarray
        One float weight per row.
    """
    table = np.array([weights[k] for k in range(len(weights))])
    row_weights: np.ndarray = table[np.asarray(labels, dtype=np.float64).astype(np.int64)]
    return row_weights


__all__ = [
    "BALANCED",
    "CLASS_WEIGHT_HELP",
    "NO_CLASS_WEIGHT",
    "ClassWeight",
    "class_weight_text",
    "class_weights",
    "parse_class_weight",
    "sample_weights",
    "weigh_rows",
]

"""Predictions that carry the IDs they belong to, so rows are never silently misaligned.

A vertical model scores only the rows every party holds, in the label party's row order:
fewer rows than any one party's table, in an order no caller chose. A bare array of scores
invites zipping it with the wrong labels. :class:`VerticalPredictions` is ``(ids, values)``:
unpack it (``ids, p = model.predict_proba(data)``) or use :meth:`aligned_to` to put the
values in the order of one's own IDs.

Until rengo 0.3 it also behaves like the bare array it replaced, with a
:class:`DeprecationWarning`: ``predictions[:, 1]``, ``np.asarray(predictions)`` and numpy
arithmetic reach ``values``. Integer indexes and slices follow the tuple (``[0]`` is the
IDs, ``[1]`` the values).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from rengo.core.errors import DataError

_ARRAY_USE = (
    "using a vertical model's predictions as a bare array is deprecated and stops working in "
    "rengo 0.3: they are (ids, values) now; unpack them (ids, p = model.predict_proba(...)) "
    "or take .values"
)


def _warn() -> None:
    warnings.warn(_ARRAY_USE, DeprecationWarning, stacklevel=3)


class VerticalPredictions(NamedTuple):
    """The scored rows' IDs and one prediction per ID (a row of class probabilities, a
    probability, a class or a value), in the label party's row order.

    Attributes
    ----------
    ids
        The IDs of the rows every party holds.
    values
        ``values[k]`` is the prediction of ``ids[k]``.
    """

    ids: np.ndarray
    values: np.ndarray

    def aligned_to(self, ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The predictions in the order of ``ids`` (each must have been scored).

        Raises
        ------
        DataError
            Naming IDs that were not scored (a party lacked them).
        """
        where = {str(i): k for k, i in enumerate(self.ids.tolist())}
        wanted = [str(i) for i in np.asarray(ids).tolist()]
        missing = [i for i in wanted if i not in where]
        if missing:
            raise DataError(
                f"{len(missing)} IDs were not scored (not every party holds them), e.g. "
                f"{missing[:3]}"
            )
        return np.asarray(self.values)[[where[i] for i in wanted]]

    # -- the bare array these replaced, for one release ---------------------------------
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer, slice)):
            return tuple.__getitem__(self, key)
        _warn()
        return np.asarray(self.values)[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        _warn()
        return np.asarray(self.values, dtype=dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        _warn()
        plain = [x.values if isinstance(x, VerticalPredictions) else x for x in inputs]
        return getattr(ufunc, method)(*plain, **kwargs)

    def __ge__(self, other: Any) -> Any:
        _warn()
        return np.asarray(self.values) >= other

    def __gt__(self, other: Any) -> Any:
        _warn()
        return np.asarray(self.values) > other

    def __le__(self, other: Any) -> Any:
        _warn()
        return np.asarray(self.values) <= other

    def __lt__(self, other: Any) -> Any:
        _warn()
        return np.asarray(self.values) < other

    @property
    def shape(self) -> tuple[int, ...]:
        """The values' shape (deprecated array behaviour)."""
        _warn()
        return tuple(np.asarray(self.values).shape)

""":func:`~rengo.data.dataset.column_scaling` of a table that is read in chunks and never
held whole: two passes over the same rows, the first summing each column (its mean), the
second summing the squared distances from that mean (its spread).

The figures are bit for bit those of ``column_scaling`` over the whole table. numpy sums a
C-ordered table of two or more columns down axis 0 one row after the other (row ``k`` added
to the sum of rows ``0..k-1``), so carrying each column's sum from one chunk into the next
(as the first row of the next chunk's sum) adds the same numbers in the same order; a
one-column table is summed pairwise instead, so its single column is kept (8 bytes a row)
and handed to ``column_scaling`` whole. The tests check both against ``column_scaling``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rengo.data.dataset import column_scaling


@dataclass
class RunningScaling:
    """Column means and spreads (as :func:`~rengo.data.dataset.column_scaling` gives them)
    of ``columns`` columns whose rows come in chunks: every chunk once to :meth:`add_sums`,
    then, in the same order, once more to :meth:`add_squares`; :meth:`scaling` then gives
    the means and spreads.

    Parameters
    ----------
    columns
        The table's width.
    """

    columns: int
    _sums: np.ndarray = field(init=False)
    _counts: np.ndarray = field(init=False)
    _largest: np.ndarray = field(init=False)
    _smallest: np.ndarray = field(init=False)
    _squares: np.ndarray = field(init=False)
    _column: list[np.ndarray] = field(default_factory=list)
    _mean: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = self.columns
        self._sums = np.zeros(d)
        self._counts = np.zeros(d, dtype=np.int64)
        self._largest = np.full(d, -np.inf)
        self._smallest = np.full(d, np.inf)
        self._squares = np.zeros(d)

    def add_sums(self, chunk: np.ndarray) -> None:
        """Add the next rows (float64, ``columns`` wide; NaN: an empty cell) to the sums."""
        if self.columns == 1:
            self._column.append(np.array(chunk, dtype=np.float64))
            return
        present = ~np.isnan(chunk)
        self._counts += present.sum(axis=0)
        self._sums = _carried_sum(self._sums, chunk, present)
        np.maximum(
            self._largest,
            np.maximum.reduce(chunk, axis=0, where=present, initial=-np.inf),
            out=self._largest,
        )
        np.minimum(
            self._smallest,
            np.minimum.reduce(chunk, axis=0, where=present, initial=np.inf),
            out=self._smallest,
        )

    def mean(self) -> np.ndarray:
        """The column means, once every chunk went through :meth:`add_sums`."""
        if self._mean is None:
            if self.columns == 1:
                self._mean = column_scaling(self._whole_column())[0]
            else:
                self._mean = self._sums / np.maximum(self._counts, 1)
        return self._mean

    def add_squares(self, chunk: np.ndarray) -> None:
        """Add the next rows' squared distances from :meth:`mean` (the second pass)."""
        if self.columns == 1:
            return
        present = ~np.isnan(chunk)
        squares = np.subtract(chunk, self.mean())
        np.square(squares, out=squares)
        self._squares = _carried_sum(self._squares, squares, present)

    def scaling(self) -> tuple[np.ndarray, np.ndarray]:
        """The column means and spreads, once every chunk went through both passes."""
        if self.columns == 1:
            return column_scaling(self._whole_column())
        mean = self.mean()
        scale = np.sqrt(self._squares / np.maximum(self._counts, 1))
        constant = ~(self._largest > self._smallest)
        scale[constant | (scale == 0)] = 1.0
        return mean, scale

    def _whole_column(self) -> np.ndarray:
        """A one-column table's rows, joined once (kept as one array after)."""
        if len(self._column) != 1:
            whole = np.concatenate(self._column) if self._column else np.empty((0, 1), np.float64)
            self._column = [whole]
        return self._column[0]


def _carried_sum(carried: np.ndarray, chunk: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``carried`` plus ``chunk``'s present cells down each column, added row after row
    starting from ``carried`` (as one sum down the whole table adds them)."""
    rows = np.concatenate([carried[np.newaxis, :], chunk])
    where = np.concatenate([np.ones((1, chunk.shape[1]), dtype=bool), present])
    total: np.ndarray = np.add.reduce(rows, axis=0, where=where, initial=0.0)
    return total

"""Weight of evidence (WOE) and information value (IV) of binned columns, and selection by IV.

For a binary label (1 = event, e.g. "defaulted"; 0 = non-event) and a column cut into bins,
bin ``i`` holds ``e_i`` events and ``n_i`` non-events out of ``E`` and ``N`` in all::

    WOE_i = ln( (e_i / E) / (n_i / N) )
    IV    = sum_i (e_i / E - n_i / N) * WOE_i

(Siddiqi, "Credit Risk Scorecards", Wiley 2006, ch. 6; FATE's ``HeteroFeatureBinning``
documentation). The sign follows FATE (events over non-events): Siddiqi writes the inverse
(goods over bads), which flips every WOE and leaves IV unchanged. Each term of IV has the
sign of its WOE times itself, so IV >= 0.

Smoothing (FATE's ``adjustment_factor``, 0.5 by default): a bin that holds rows of one
class only gets ``adjustment_factor`` added to *both* its counts before the shares are
taken (the totals ``E`` and ``N`` are not changed), so its WOE is finite. Unlike FATE,
whose ``woe_1d`` smooths an empty bin too (giving it WOE ``ln(N / E)`` and a non-zero IV
term), a bin with no row at all (e.g. the missing-value bin of a column without missing
values) gets WOE ``nan`` and adds nothing to IV here: adding an empty bin changes nothing.
Bins of fewer than ``min_rows`` rows are first merged with their neighbours
(:func:`merge_small_bins`), which FATE does not do either. A constant column has one bin
holding every row: its WOE is 0 and its IV is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.vfl.selection_settings import DEFAULT_ADJUSTMENT_FACTOR as DEFAULT_ADJUSTMENT_FACTOR

SMALL_BIN_FLOOR = 5
"""The fewest rows a bin must hold (unless merged), whatever the row count."""
SMALL_BIN_SHARE = 0.005
"""The share of all rows a bin must hold (unless merged): 0.5%."""


def default_min_bin_rows(rows: int) -> int:
    """The default least rows of a bin: ``max(5, ceil(0.5% of rows))``.

    Parameters
    ----------
    rows
        The aligned rows.

    Returns
    -------
    int
        150 for 30,000 rows, 5 for up to 1,000.
    """
    return max(SMALL_BIN_FLOOR, math.ceil(SMALL_BIN_SHARE * rows))


def merge_small_bins(rows: np.ndarray, min_rows: int) -> np.ndarray:
    """The group of each bin once every bin of fewer than ``min_rows`` rows is merged
    with its neighbours (coarse classing, Siddiqi ch. 6).

    Bins are taken in order (value bins ascending, then the missing-value bin); a group
    closes once it holds ``min_rows`` rows, and a last group still short of them joins the
    group before it. Empty bins join the group they fall in and add nothing. The groups
    depend on row counts only, never on labels.

    Parameters
    ----------
    rows
        Rows per bin.
    min_rows
        The least rows of a group (0 or 1: every bin its own group).

    Returns
    -------
    numpy.ndarray
        The group index of each bin (0, 1, ..., ascending).
    """
    groups = np.zeros(len(rows), dtype=np.int64)
    group, held = 0, 0
    for i, count in enumerate(np.asarray(rows, dtype=np.int64).tolist()):
        groups[i] = group
        held += count
        if held >= min_rows and held > 0 and i < len(rows) - 1:
            group, held = group + 1, 0
    if group > 0 and held < max(min_rows, 1):
        groups[groups == group] = group - 1
    return groups


@dataclass(frozen=True)
class FeatureIV:
    """One column's bins, their event and non-event counts, WOE per bin and IV.

    The bins are the column's value bins in ascending order, then its missing-value bin
    (:class:`~rengo.vfl.secureboost.FeatureBins`). A bin without rows has WOE ``nan``.

    Parameters
    ----------
    party
        Who holds the column.
    column
        Its index in that party's table.
    name
        Its name (``x0``, ``x1``, ... where the reporting side does not know it).
    events, non_events
        Rows with label 1 and with label 0 per bin.
    woe
        Weight of evidence per bin (``nan`` for an empty bin).
    iv
        The column's information value.
    edges
        The cut points where the reporting side holds them (``None`` in the label party's
        view of a feature party's column: the edges never leave that party).
    """

    party: str
    column: int
    name: str
    events: tuple[int, ...]
    non_events: tuple[int, ...]
    woe: tuple[float, ...]
    iv: float
    edges: tuple[float, ...] | None = None

    @property
    def bins(self) -> int:
        """Bins of the column (value bins, then the missing-value bin)."""
        return len(self.events)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly dict (``nan`` WOE as ``None``), as the run store records it."""
        return {
            "party": self.party,
            "column": self.column,
            "name": self.name,
            "iv": self.iv,
            "events": list(self.events),
            "non_events": list(self.non_events),
            "woe": [None if math.isnan(w) else w for w in self.woe],
            "edges": None if self.edges is None else list(self.edges),
        }


def require_adjustment_factor(adjustment_factor: float) -> float:
    """``adjustment_factor`` if it is a positive finite number.

    Raises
    ------
    ConfigError
        Otherwise (a zero factor leaves the WOE of a one-class bin infinite).
    """
    value = float(adjustment_factor)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            "adjustment_factor must be a positive number (FATE uses 0.5), got "
            f"{adjustment_factor!r}"
        )
    return value


def woe_and_iv(
    events: np.ndarray,
    non_events: np.ndarray,
    adjustment_factor: float = DEFAULT_ADJUSTMENT_FACTOR,
    min_rows: int = 0,
) -> tuple[np.ndarray, float]:
    """WOE per bin and IV of one column from its per-bin counts (see the module docstring).

    Parameters
    ----------
    events, non_events
        Rows with label 1 and with label 0 in each bin (non-negative integers).
    adjustment_factor
        Added to both counts of a bin that holds one class only.
    min_rows
        Bins of fewer rows are first merged with their neighbours
        (:func:`merge_small_bins`): each bin gets its group's WOE, and IV sums over groups.

    Returns
    -------
    tuple
        WOE per bin (``nan`` for an empty bin) and the column's IV (>= 0).

    Raises
    ------
    DataError
        If the counts are negative, of different lengths, or hold no event or no non-event
        at all (IV needs both classes).
    ConfigError
        If ``adjustment_factor`` is not positive.
    """
    a = require_adjustment_factor(adjustment_factor)
    e = np.asarray(events, dtype=np.float64)
    n = np.asarray(non_events, dtype=np.float64)
    if e.shape != n.shape or e.ndim != 1:
        raise DataError(f"event and non-event counts differ in shape: {e.shape} and {n.shape}")
    if (e < 0).any() or (n < 0).any():
        raise DataError("event and non-event counts must not be negative")
    total_e, total_n = float(e.sum()), float(n.sum())
    if total_e == 0 or total_n == 0:
        raise DataError(
            "information value needs both classes: the labels hold "
            f"{int(total_e)} events (1) and {int(total_n)} non-events (0)"
        )
    if min_rows > 1:
        groups = merge_small_bins(e + n, min_rows)
        size = int(groups.max()) + 1 if len(groups) else 0
        group_woe, value = woe_and_iv(
            np.bincount(groups, weights=e, minlength=size).astype(np.int64),
            np.bincount(groups, weights=n, minlength=size).astype(np.int64),
            a,
        )
        return np.where((e + n) > 0, group_woe[groups], np.nan), value
    present = (e + n) > 0
    one_class = present & ((e == 0) | (n == 0))
    e_share = np.where(one_class, e + a, e) / total_e
    n_share = np.where(one_class, n + a, n) / total_n
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.where(present, np.log(e_share / n_share), np.nan)
    terms = np.where(present, (e_share - n_share) * np.nan_to_num(woe), 0.0)
    return woe, float(terms.sum())


def select_by_iv(
    features: Sequence[FeatureIV], *, min_iv: float | None = None, top_k: int | None = None
) -> list[FeatureIV]:
    """The columns kept by FATE's ``HeteroFeatureSelection`` IV filters, in their order.

    A column is kept if its IV is at least ``min_iv`` (when given) and it is among the
    ``top_k`` largest IVs (when given; ties are broken by the order of ``features``).

    Parameters
    ----------
    features
        Every column's IV (every party's).
    min_iv
        The least IV kept (``None``: no threshold).
    top_k
        How many of the largest IVs are kept (``None``: no limit).

    Returns
    -------
    list of FeatureIV
        The kept columns, in the order of ``features``.

    Raises
    ------
    ConfigError
        If neither rule is given, ``min_iv`` is negative or not finite, or ``top_k`` < 1.
    """
    keeps = kept_by_rule([f.iv for f in features], min_iv=min_iv, top_k=top_k)
    return [f for f, keep in zip(features, keeps, strict=True) if keep]


def kept_by_rule(
    ivs: Sequence[float], *, min_iv: float | None = None, top_k: int | None = None
) -> list[bool]:
    """Whether :func:`select_by_iv` keeps each of these IVs (in order: ties in ``top_k``
    go to the earlier column); what the coordinator checks a selection's record by.

    Raises
    ------
    ConfigError
        As :func:`select_by_iv`.
    """
    if min_iv is None and top_k is None:
        raise ConfigError("select columns by IV with min_iv, top_k or both")
    if min_iv is not None and (not math.isfinite(min_iv) or min_iv < 0):
        raise ConfigError(f"min_iv must be a non-negative number, got {min_iv!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
    ranked = sorted(range(len(ivs)), key=lambda i: -ivs[i])
    allowed = set(ranked if top_k is None else ranked[:top_k])
    threshold = -math.inf if min_iv is None else min_iv
    return [i in allowed and iv >= threshold for i, iv in enumerate(ivs)]

"""The settings of selection by IV that a vertical run's plan carries (a job's
``[vfl.selection]``; the step itself: :mod:`rengo.vfl.hetero_binning.selection_step`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rengo.core.options import option, options_from_wire

DEFAULT_ADJUSTMENT_FACTOR = 0.5
"""FATE's default: added to both counts of a bin that holds one class only."""

DEFAULT_KEY_BITS = 2048
"""The selection's Paillier key size when the algorithm has no ``key_bits``."""


@dataclass(frozen=True)
class SelectionSettings:
    """How a vertical run selects columns by IV: a job's ``[vfl.selection]``, or
    ``fit(..., selection=SelectionSettings(min_iv=0.02))`` (FATE's ``HeteroFeatureSelection``;
    the step: :mod:`rengo.vfl.hetero_binning.selection_step`).

    Parameters
    ----------
    min_iv
        Keep columns whose IV is at least this (FATE's ``iv_value_thres``).
    top_k
        Keep at most this many columns, the largest IVs (FATE's ``iv_top_k``); give
        ``min_iv``, ``top_k`` or both.
    max_bin
        Quantile bins per column (FATE's ``bin_num``).
    adjustment_factor
        Added to both counts of a bin of one class only (FATE's smoothing).
    min_bin_rows
        Bins of fewer rows are merged with their neighbours before WOE and IV (``None``:
        ``max(5, 0.5% of the rows)``). It bounds the size of the group of rows a kept bit
        depends on, not what a feature party that crafts columns learns: one bit per
        crafted column about the labels of a group of at least this many rows (see the
        README's "What a feature party learns").
    """

    min_iv: float | None = option(None, "Keep columns whose IV is at least this.", ge=0)
    top_k: int | None = option(None, "Keep at most this many columns, the largest IVs.", ge=1)
    max_bin: int = option(10, "Quantile bins per column.", ge=2, le=1024)
    adjustment_factor: float = option(
        DEFAULT_ADJUSTMENT_FACTOR, "Added to both counts of a one-class bin (FATE's).", gt=0
    )
    min_bin_rows: int | None = option(
        None, "Merge bins of fewer rows with their neighbours (default max(5, 0.5% of rows)).", ge=1
    )

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for the plan, the run's config, and written back as a job file's
        ``[vfl.selection]`` by ``rengo runs job``): a setting not given is left out."""
        plain = {
            "min_iv": self.min_iv,
            "top_k": self.top_k,
            "max_bin": self.max_bin,
            "adjustment_factor": self.adjustment_factor,
            "min_bin_rows": self.min_bin_rows,
        }
        return {key: value for key, value in plain.items() if value is not None}

    def describe(self) -> str:
        """The settings given, as a job file writes them: ``min_iv = 0.3, max_bin = 10, ...``."""
        return ", ".join(f"{key} = {value}" for key, value in self.as_dict().items())

    @classmethod
    def from_wire(cls, tree: Any) -> SelectionSettings:
        """The settings a plan carries (:meth:`as_dict`), checked.

        Raises
        ------
        ConfigError
            If ``tree`` is not a mapping of known settings in range.
        """
        return options_from_wire(cls, tree, "the plan's selection")


@dataclass(frozen=True)
class JobSelection:
    """What a party's own job file says of selection by IV: a deployed party started with
    ``--job`` refuses a coordinator whose plan selects otherwise (a party given its table
    alone, ``--csv``, has no job file and follows the plan).

    Parameters
    ----------
    settings
        Its job's ``[vfl.selection]``; ``None``: its job selects no columns.
    """

    settings: SelectionSettings | None


def selection_key_bits(config: Any) -> int:
    """The Paillier key size selection by IV uses: the algorithm's ``key_bits``, else 2048."""
    return int(getattr(config, "key_bits", DEFAULT_KEY_BITS))

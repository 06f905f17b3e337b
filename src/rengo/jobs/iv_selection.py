"""The ``[vfl.selection]`` section of a vertical job: drop columns of low IV before training.

```toml
[vfl.selection]
min_iv = 0.02        # keep columns whose information value is at least this (FATE's
                     # iv_value_thres; Siddiqi: < 0.02 "not useful for prediction")
top_k = 10           # ... and at most this many, the largest IVs (FATE's iv_top_k)
max_bin = 10         # quantile bins per column (FATE's bin_num)
adjustment_factor = 0.5
min_bin_rows = 150   # merge bins of fewer rows with their neighbours (default:
                     # max(5, 0.5% of the rows))
```

FATE's ``HeteroFeatureBinning`` then ``HeteroFeatureSelection``: before training, the
label party learns every column's WOE and IV by the federated protocol
(:mod:`rengo.vfl.hetero_binning.protocol`: a feature party's values, cut points and
column names never leave it, no label leaves the label party), keeps the columns the rule
allows, and tells each feature party which of its own columns are kept (a function of the
labels: bins of fewer than ``min_bin_rows`` rows are merged first, so one crafted column
does not turn on one row's label, but overlapping ones can; the protocol module says what a
feature party can learn: a host that crafts columns learns one bit per column about the
labels of a group of at least ``min_bin_rows`` rows; ``min_bin_rows`` bounds the group's
size, not the probing); every party then trains on its kept columns only, simulated or
deployed (the step runs in the vertical run after PSI:
:mod:`rengo.vfl.hetero_binning.selection_step`). The run records each column's IV and
whether it was kept (``rengo runs show``). A party none of whose columns is kept is
refused by name; a label party that holds only the labels (no column) takes part as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.options import options_from_mapping
from rengo.transport.channel import TranscriptEntry
from rengo.vfl.common import VerticalDataset, align_rows
from rengo.vfl.hetero_binning import (
    BinningSettings,
    FeatureIV,
    run_information_value,
    select_by_iv,
)
from rengo.vfl.hetero_binning.guest import effective_min_bin_rows
from rengo.vfl.hetero_binning.selection_step import (
    require_every_party_kept,
    selection_record,
    warn_of_copies_taking_places,
)
from rengo.vfl.selection_settings import SelectionSettings as SelectionSettings
from rengo.vfl.selection_settings import selection_key_bits as selection_key_bits


def parse_selection(raw: Any, source: str) -> SelectionSettings:
    """Validate a ``[vfl.selection]`` table.

    Parameters
    ----------
    raw
        The table as read from the job file.
    source
        The job file (for messages).

    Returns
    -------
    SelectionSettings
        The checked settings.

    Raises
    ------
    ConfigError
        Naming the key: unknown keys, wrong types or ranges, or neither ``min_iv`` nor
        ``top_k``.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [vfl.selection] must be a table, got {type(raw).__name__}")
    settings = options_from_mapping(
        SelectionSettings,
        dict(raw),
        label=lambda key: f"vfl.selection.{key}",
        where=f"{source}: ",
    )
    if settings.min_iv is None and settings.top_k is None:
        raise ConfigError(
            f"{source}: [vfl.selection] selects columns by min_iv, top_k or both; give one"
        )
    return settings


@dataclass(frozen=True)
class SelectionResult:
    """Every column's IV (named by each party as it knows them, with its cut points), the
    kept ones, and every message of the selection step as it crossed the bus."""

    features: tuple[FeatureIV, ...]
    kept: tuple[FeatureIV, ...]
    transcript: tuple[TranscriptEntry, ...]

    min_bin_rows: int
    """The least rows of a bin in effect (``min_bin_rows``, or its default for the rows)."""

    def record(self, settings: SelectionSettings) -> dict[str, Any]:
        """What the run store keeps: the settings, the least rows of a bin in effect, and
        each column's IV and whether kept."""
        return selection_record(settings, self.min_bin_rows, self.features, self.kept)


def select_columns(
    train: VerticalDataset,
    settings: SelectionSettings,
    *,
    key_bits: int,
    seed: int | None,
    select: bool = True,
) -> SelectionResult:
    """Run the IV and selection roles of every party on an in-process bus.

    Parameters
    ----------
    train
        The job's training tables (features held, not read after PSI) and labels.
    settings
        The selection rule.
    key_bits
        The label party's Paillier key size.
    seed
        Fixes PSI's agreed order.
    select
        Whether to apply the rule (False: every column's IV only, none kept; the binning
        settings still apply).

    Returns
    -------
    SelectionResult
        Every column's IV and the kept ones.

    Raises
    ------
    DataError
        If the labels are not binary or of one class, or a party that holds columns keeps
        none of them.
    """
    if train.labels is None:
        raise ConfigError(f"selection by IV needs the labels of {train.label_party}")
    from rengo.crypto.keys import generate_paillier_keypair

    rows, _ = align_rows(train, use_psi=True, seed=seed)
    names = {p: tuple(train.feature_names.get(p, ())) for p in train.parties}
    binning = BinningSettings(settings.max_bin, settings.adjustment_factor, settings.min_bin_rows)
    run = run_information_value(
        train,
        rows,
        generate_paillier_keypair(key_bits),
        names,
        binning,
        select=(
            (lambda ivs: select_by_iv(ivs, min_iv=settings.min_iv, top_k=settings.top_k))
            if select
            else None
        ),
    )
    ivs, kept = run.features, run.kept or ()
    min_rows = effective_min_bin_rows(settings.min_bin_rows, len(rows[train.label_party]))
    if not select:
        return SelectionResult(ivs, kept, run.transcript, min_rows)
    warn_of_copies_taking_places(ivs, kept, settings)
    require_every_party_kept(ivs, kept, settings)
    return SelectionResult(ivs, kept, run.transcript, min_rows)

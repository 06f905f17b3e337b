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
feature party can learn); every party then
trains on its kept columns only. The run records each column's IV and whether it was kept
(``rengo runs show``). A party none of whose columns is kept is refused by name; a label
party that holds only the labels (no column) takes part as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.options import option, options_from_mapping
from rengo.transport.channel import TranscriptEntry
from rengo.vfl.common import PartyTable, VerticalDataset, align_rows
from rengo.vfl.hetero_binning import (
    DEFAULT_ADJUSTMENT_FACTOR,
    BinningSettings,
    FeatureIV,
    run_information_value,
    select_by_iv,
)


@dataclass(frozen=True)
class SelectionSettings:
    """How a vertical job selects columns by IV (see the module docstring)."""

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
        """Plain values (for the run store, and written back as a job file's
        ``[vfl.selection]`` by ``rengo runs job``): a rule not given is left out."""
        plain = {
            "min_iv": self.min_iv,
            "top_k": self.top_k,
            "max_bin": self.max_bin,
            "adjustment_factor": self.adjustment_factor,
            "min_bin_rows": self.min_bin_rows,
        }
        return {key: value for key, value in plain.items() if value is not None}


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


def refuse_deployed_selection(vfl: Any, source: str) -> None:
    """Refuse a deployed run of a job with ``[vfl.selection]`` (its step runs in simulation
    only: a deployed run would silently train on every column).

    Parameters
    ----------
    vfl
        The job's ``[vfl]`` section.
    source
        The job file (for the message).

    Raises
    ------
    ConfigError
        If the job has ``[vfl.selection]``.
    """
    if getattr(vfl, "selection", None) is not None:
        raise ConfigError(
            f"{source}: [vfl.selection] runs with `rengo run` (simulated) only so far; a "
            "deployed run would train on every column. Run the job with `rengo run` to see "
            "which columns it keeps, drop the others from the parties' tables and remove "
            "[vfl.selection] for the deployed run"
        )


@dataclass(frozen=True)
class SelectionResult:
    """Every column's IV (named by each party as it knows them, with its cut points), the
    kept ones, and every message of the selection step as it crossed the bus."""

    features: tuple[FeatureIV, ...]
    kept: tuple[FeatureIV, ...]
    transcript: tuple[TranscriptEntry, ...]

    def record(self, settings: SelectionSettings) -> dict[str, Any]:
        """What the run store keeps: the settings and each column's IV and whether kept."""
        kept = {(f.party, f.column) for f in self.kept}
        return {
            **settings.as_dict(),
            "columns": [
                {"party": f.party, "name": f.name, "iv": f.iv, "kept": (f.party, f.column) in kept}
                for f in self.features
            ],
        }


def selection_key_bits(options: Any) -> int:
    """The Paillier key size selection by IV uses: the job's algorithm's ``key_bits``, else
    2048."""
    return int(getattr(options, "key_bits", 2048))


def kept_columns(kept: Sequence[FeatureIV], parties: Iterable[str]) -> dict[str, list[int]]:
    """Each party's kept column indices, in their order in its table."""
    return {p: sorted(f.column for f in kept if f.party == p) for p in parties}


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
    if not select:
        return SelectionResult(ivs, kept, run.transcript)
    for party, table in train.parties.items():
        if table.features.shape[1] and not any(f.party == party for f in kept):
            best = max((f.iv for f in ivs if f.party == party), default=0.0)
            rules = [
                f"vfl.selection.{key} = {value}"
                for key, value in (("min_iv", settings.min_iv), ("top_k", settings.top_k))
                if value is not None
            ]
            raise DataError(
                f"selection by IV ({', '.join(rules)}) keeps no column of {party} (its largest "
                f"IV is {best:.4f}); every party needs one: lower min_iv, raise top_k, or "
                "leave the party out of the job"
            )
    return SelectionResult(ivs, kept, run.transcript)


def kept_dataset(dataset: VerticalDataset, kept: Sequence[FeatureIV]) -> VerticalDataset:
    """``dataset`` with only the kept columns of every party (and their names).

    Parameters
    ----------
    dataset
        Training or held-out tables of every party.
    kept
        The kept columns.

    Returns
    -------
    VerticalDataset
        The same rows and labels, each party's kept columns in their order.
    """
    columns = kept_columns(kept, dataset.parties)
    tables = {
        p: PartyTable(t.ids, np.asarray(t.features)[:, columns[p]])
        for p, t in dataset.parties.items()
    }
    names = {
        p: tuple(own[j] for j in columns[p]) for p, own in dataset.feature_names.items() if own
    }
    return replace(dataset, parties=tables, feature_names=names)

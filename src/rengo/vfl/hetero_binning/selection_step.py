"""Selection by IV as a step of a vertical run: after PSI, before training, every way it runs.

FATE's ``HeteroFeatureBinning`` then ``HeteroFeatureSelection``, played by the run's own roles
(:mod:`rengo.vfl.runner`) on the rows PSI shared, so a simulated run (``rengo run``) and a
deployed one (``rengo vfl coordinator`` / ``rengo vfl party``) run the same step over their
channels, with PSI run once::

    label party <-> feature parties: the IV protocol       [train/iv/setup, train/iv/hist]
    label party -> each feature party: its kept columns     [train/iv/keep]
    label party -> coordinator: each column's IV, kept or not, and min_bin_rows   [run/iv]
    each feature party -> coordinator: its columns' names, the ones it keeps  [run/iv-names]

Then every party trains and scores on its kept columns only (it drops the others itself).
What the parties learn is :mod:`rengo.vfl.hetero_binning.protocol`'s. The coordinator, for the
run's record (``rengo runs show``), learns what a simulated run records: each column's IV
and whether it was kept (the label party's word), the least rows of a bin in effect, and each
feature party's column names (its own word); no per-bin count, value or label. It checks the
record before keeping it: the plan's rule, every column of every party once, the kept flags
those the rule gives and those each feature party says it was told.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rengo.core.errors import DataError, ProtocolError
from rengo.transport.channel import Channel
from rengo.vfl.common import PartyData, PartyTable
from rengo.vfl.hetero_binning.guest import (
    effective_min_bin_rows,
    information_value_guest,
    send_selection,
)
from rengo.vfl.hetero_binning.host import information_value_host, receive_selection
from rengo.vfl.hetero_binning.woe import FeatureIV, kept_by_rule, select_by_iv
from rengo.vfl.registry import AlignedData
from rengo.vfl.selection_settings import SelectionSettings

IV_RECORD = "iv"  # label party -> coordinator: each column's IV and whether kept
IV_NAMES = "iv-names"  # feature party -> coordinator: its columns' names


def require_every_party_kept(
    features: Sequence[FeatureIV], kept: Sequence[FeatureIV], settings: SelectionSettings
) -> None:
    """Refuse a selection that keeps no column of a party that holds columns.

    Raises
    ------
    DataError
        Naming the party, its largest IV and the rule.
    """
    for party in dict.fromkeys(f.party for f in features):
        if any(f.party == party for f in kept):
            continue
        best = max(f.iv for f in features if f.party == party)
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


def _binning(feature: FeatureIV) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """What IV selection sees of a column, the same for a column and any monotone rescaling
    of it (``12 * age``, ``-age``): its rows with label 1 and with label 0 per bin, value
    bins read upwards or downwards (whichever is first in order), the missing-value bin
    last. ``None`` for a column whose rows all lie in one bin (a constant column): it has
    no IV and is never a copy that counts."""
    if sum(1 for e, n in zip(feature.events, feature.non_events, strict=True) if e + n) < 2:
        return None
    events, non_events = feature.events, feature.non_events
    upwards = (events, non_events)
    downwards = (
        events[-2::-1] + events[-1:],
        non_events[-2::-1] + non_events[-1:],
    )
    return min(upwards, downwards)


def _shown(feature: FeatureIV) -> str:
    """A column as a message names it: its name, or ``x<j>`` with where it is."""
    if feature.name == f"x{feature.column}":
        return f"{feature.name} (column {feature.column} of its table, from 0)"
    return repr(feature.name)


def warn_of_copies_taking_places(
    features: Sequence[FeatureIV], kept: Sequence[FeatureIV], settings: SelectionSettings
) -> None:
    """Warn when two columns of one party that look like copies take places under ``top_k``
    that another column would have had.

    Two columns of one party look like copies when IV selection cannot tell them apart:
    every bin holds as many rows with label 1 and with label 0 (so they have one IV). An
    exact copy or a monotone rescaling (``age_months = 12 * age_years``: binning is by
    quantiles) does; so can two different columns by chance, mostly with few bins or few
    rows, since the label party sees counts, not rows. That is why this warns and does not
    refuse. A constant column (all its rows in one bin) never counts. Nothing is said when
    leaving out the later look-alikes would keep the same columns (``top_k`` at least the
    number of columns, or ``min_iv`` alone). Copies across parties are not looked for: the
    label party cannot tell them from two parties' related columns. The label party checks
    this once every IV is known; the warning is shown where it runs.

    Parameters
    ----------
    features
        Every column's IV, every party's (:func:`information_value_guest`'s order).
    kept
        The columns the rule keeps.
    settings
        The rule.
    """
    if settings.top_k is None:
        return
    chosen = {(f.party, f.column) for f in kept}
    first: dict[tuple[str, Any], FeatureIV] = {}
    copies: list[tuple[FeatureIV, FeatureIV]] = []
    for feature in features:
        seen = _binning(feature)
        if seen is None:
            continue
        key = (feature.party, seen)
        if key not in first:
            first[key] = feature
        elif (feature.party, feature.column) in chosen:
            copies.append((first[key], feature))
    if not copies:
        return
    later = {(copy.party, copy.column) for _, copy in copies}
    rest = [f for f in features if (f.party, f.column) not in later]
    again = select_by_iv(rest, min_iv=settings.min_iv, top_k=settings.top_k)
    displaced = [f for f in again if (f.party, f.column) not in chosen]
    if not displaced:
        return
    original, copy = copies[0]
    lost = ", ".join(f"{f.party}'s column {_shown(f)} (IV {f.iv:.4f})" for f in displaced)
    warnings.warn(
        f"{copy.party}: column {_shown(copy)} has as many rows of each label as column "
        f"{_shown(original)} in every bin (the same IV {copy.iv:.4f}: a copy or a rescaling "
        f"of it, or equal counts by chance), and under vfl.selection.top_k = "
        f"{settings.top_k} the two take two places, leaving out {lost}; if it is a copy, "
        f"drop one of the two columns from {copy.party}'s table",
        UserWarning,
        stacklevel=2,
    )


def selection_record(
    settings: SelectionSettings,
    min_bin_rows: int,
    features: Sequence[FeatureIV],
    kept: Sequence[FeatureIV],
) -> dict[str, Any]:
    """What the run store keeps of a selection: its settings, the least rows of a bin in
    effect (the default's value where none was given: the run's config, which keeps the
    settings as given, says which), and every column's party, name, IV and whether it was
    kept."""
    chosen = {(f.party, f.column) for f in kept}
    return {
        **settings.as_dict(),
        "min_bin_rows": int(min_bin_rows),
        "columns": [
            {
                "party": f.party,
                "column": f.column,
                "name": f.name,
                "iv": f.iv,
                "kept": (f.party, f.column) in chosen,
            }
            for f in features
        ],
    }


def kept_columns(record: Mapping[str, Any], parties: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Each of ``parties``' kept columns in a selection's record (:func:`selection_record`):
    the indices into its table it trains on, ascending (``()``: none, or it has none)."""
    kept: dict[str, list[int]] = {party: [] for party in parties}
    for column in record["columns"]:
        if column["kept"]:
            kept[str(column["party"])].append(int(column["column"]))
    return {party: tuple(sorted(columns)) for party, columns in kept.items()}


def column_counts(record: Mapping[str, Any]) -> dict[str, int]:
    """How many columns each party's table has: its columns in a selection's record (which
    lists every column of every party once)."""
    return dict(Counter(str(column["party"]) for column in record["columns"]))


def kept_table(table: PartyTable, columns: Sequence[int]) -> PartyTable:
    """``table`` with only ``columns`` of its features, in that order."""
    return PartyTable(table.ids, np.asarray(table.features)[:, list(columns)])


def kept_names(names: Sequence[str], columns: Sequence[int]) -> tuple[str, ...]:
    """The names of ``columns`` (``()`` where the party named none)."""
    return tuple(names[j] for j in columns) if names else ()


def kept_aligned(data: AlignedData, columns: Sequence[int]) -> AlignedData:
    """``data`` with only ``columns`` of its table (and their names)."""
    table, names = kept_table(data.table, columns), kept_names(data.feature_names, columns)
    return replace(data, table=table, feature_names=names)


def select_at_label_party(
    phase: Channel,
    run: Channel,
    data: AlignedData,
    settings: SelectionSettings,
    hosts: Sequence[str],
    key_bits: int,
    coordinator: str,
) -> tuple[int, ...]:
    """The label party's selection step: WOE and IV of every column, the rule applied, each
    feature party told its kept columns, the coordinator the record.

    Parameters
    ----------
    phase
        The label party's training-phase channel (the IV protocol's messages).
    run
        Its run-scope channel (the record to the coordinator).
    data
        Its aligned training rows and labels.
    settings
        The plan's rule.
    hosts
        The feature parties.
    key_bits
        Its fresh Paillier key's size.
    coordinator
        The coordinator's role name.

    Returns
    -------
    tuple of int
        Its own kept columns, ascending.

    Raises
    ------
    DataError
        If the labels are not binary or hold one class, or a party that holds columns
        would keep none (before any feature party is told anything). Columns of one party
        that look like copies and take another column's place under ``top_k`` are warned
        of (:func:`warn_of_copies_taking_places`).
    """
    from rengo.crypto.keys import generate_paillier_keypair  # not at import: party start-up

    features = data.features
    labels = data.aligned_labels
    ivs = information_value_guest(
        phase,
        features,
        labels,
        hosts,
        generate_paillier_keypair(key_bits),
        max_bin=settings.max_bin,
        adjustment_factor=settings.adjustment_factor,
        feature_names=data.feature_names,
        min_bin_rows=settings.min_bin_rows,
    )
    kept = select_by_iv(ivs, min_iv=settings.min_iv, top_k=settings.top_k)
    warn_of_copies_taking_places(ivs, kept, settings)
    require_every_party_kept(ivs, kept, settings)
    send_selection(phase, hosts, kept)
    min_rows = effective_min_bin_rows(settings.min_bin_rows, len(features))
    run.send(coordinator, IV_RECORD, selection_record(settings, min_rows, ivs, kept))
    me = phase.name
    return tuple(sorted(f.column for f in kept if f.party == me))


def select_at_feature_party(
    phase: Channel,
    run: Channel,
    data: AlignedData,
    settings: SelectionSettings,
    label_party: str,
    coordinator: str,
) -> tuple[int, ...]:
    """A feature party's selection step: its per-bin sums of the encrypted labels, then the
    columns it keeps; its column names to the coordinator (for the run's record).

    Parameters
    ----------
    phase
        Its training-phase channel.
    run
        Its run-scope channel.
    data
        Its aligned training rows.
    settings
        The plan's rule (its ``max_bin``).
    label_party
        The label party.
    coordinator
        The coordinator's role name.

    Returns
    -------
    tuple of int
        Its kept columns, ascending.

    Raises
    ------
    ProtocolError
        If the label party sends malformed messages.
    """
    features = data.features
    information_value_host(
        phase,
        features,
        label_party,
        max_bin=settings.max_bin,
        feature_names=data.feature_names,
    )
    kept = receive_selection(phase, label_party, features.shape[1])
    names = list(data.feature_names) or [f"x{j}" for j in range(features.shape[1])]
    run.send(coordinator, IV_NAMES, {"names": names, "kept": list(kept)})
    return kept


def receive_selection_record(
    run: Channel, settings: SelectionSettings, label_party: str, hosts: Sequence[str]
) -> dict[str, Any]:
    """The coordinator's side: the label party's record, checked, each feature party's
    columns named by that party.

    Parameters
    ----------
    run
        The coordinator's run-scope channel.
    settings
        The plan's rule.
    label_party
        The label party (the record's sender).
    hosts
        The feature parties (each sends its column names and the columns it keeps).

    Returns
    -------
    dict
        The record (:func:`selection_record`), every feature party's column named by it.

    Raises
    ------
    ProtocolError
        Naming the party at fault: a record that is malformed, holds keys or settings other
        than the plan's, does not list every column of every party once, keeps columns
        other than the rule's or none of a party; a feature party's malformed message, or
        one naming another count of columns than its histograms held; and, naming both,
        a feature party that keeps other columns than the record says it was told.
    """
    record = run.recv(label_party, IV_RECORD)
    told = {host: _host_columns(run.recv(host, IV_NAMES), host) for host in hosts}
    columns = _checked_record(record, settings, label_party, [label_party, *hosts])
    listed, recorded = column_counts(record), kept_columns(record, [label_party, *hosts])
    # each feature party the record lists, checked once (in the order the record lists them)
    for party in dict.fromkeys(c["party"] for c in columns if c["party"] in told):
        names, kept = told[party]
        if listed[party] != len(names):
            raise ProtocolError(
                f"{party} named {len(names)} columns, but its histograms in {label_party}'s "
                f"selection record held {listed[party]}"
            )
        if recorded[party] != kept:
            raise ProtocolError(
                f"{party} says it keeps its columns {list(kept)}, {label_party}'s selection "
                f"record keeps {list(recorded[party])} of them: the two disagree"
            )
    named = [  # a feature party's column: the label party knows its index only
        {**column, "name": told[column["party"]][0][column["column"]]}
        if column["party"] in told
        else dict(column)
        for column in columns
    ]
    return {**record, "columns": named}


def check_min_bin_rows(
    record: Mapping[str, Any], settings: SelectionSettings, rows: int, label_party: str
) -> None:
    """Refuse a record whose least rows of a bin is not the one in effect for the label
    party's ``rows`` training rows (the plan's ``min_bin_rows``, or its default for them).

    Raises
    ------
    ProtocolError
        Naming the label party and both numbers.
    """
    in_effect = effective_min_bin_rows(settings.min_bin_rows, rows)
    if record.get("min_bin_rows") != in_effect:
        raise ProtocolError(
            f"{label_party} sent a bad selection record: min_bin_rows = "
            f"{record.get('min_bin_rows')!r}, but {in_effect} is in effect for its {rows} "
            "training rows"
        )


_COLUMN_KEYS = frozenset({"party", "column", "name", "iv", "kept"})


def _checked_record(
    record: Any, settings: SelectionSettings, label_party: str, parties: Sequence[str]
) -> list[Mapping[str, Any]]:
    """The label party's record's columns, once it holds exactly the plan's settings, the
    least rows of a bin in effect and every column of every party once (a party may hold
    none, as a label party holding only the labels), kept by the rule and at least one of
    every party that holds any."""

    def refused(why: str) -> ProtocolError:
        return ProtocolError(f"{label_party} sent a bad selection record: {why}")

    if not isinstance(record, Mapping):
        raise refused("not a mapping")
    given = settings.as_dict()
    expected = {*given, "min_bin_rows", "columns"}
    if set(record) != expected:
        extra, missing = sorted(set(record) - expected), sorted(expected - set(record))
        raise refused(f"keys {extra} are not a record's, {missing} are missing")
    for key, value in given.items():
        if record[key] != value or isinstance(record[key], bool):
            raise refused(f"{key} = {record[key]!r}, the plan's is {value!r}")
    rows = record["min_bin_rows"]
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise refused(f"min_bin_rows = {rows!r} is not a positive integer")
    columns = record["columns"]
    if not isinstance(columns, list) or not all(_is_column(c) for c in columns):
        raise refused("a column entry is malformed")
    for party in parties:
        indices = sorted(c["column"] for c in columns if c["party"] == party)
        if indices != list(range(len(indices))):
            raise refused(f"{party}'s columns are not each listed once")
        if indices and not any(c["kept"] for c in columns if c["party"] == party):
            raise refused(f"it keeps no column of {party}")
    strangers = sorted({c["party"] for c in columns} - set(parties))
    if strangers:
        raise refused(f"it lists columns of {strangers}, not parties of this run")
    rule = kept_by_rule(
        [float(c["iv"]) for c in columns], min_iv=settings.min_iv, top_k=settings.top_k
    )
    if [c["kept"] for c in columns] != rule:
        raise refused("its kept columns are not those the plan's rule keeps by their IVs")
    return columns


def _host_columns(value: Any, host: str) -> tuple[list[str], tuple[int, ...]]:
    """A feature party's column names and the columns it keeps, checked."""
    names = value.get("names") if isinstance(value, Mapping) else None
    kept = value.get("kept") if isinstance(value, Mapping) else None
    if (
        not isinstance(value, Mapping)
        or set(value) != {"names", "kept"}
        or not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or not isinstance(kept, list)
        or not all(isinstance(j, int) and not isinstance(j, bool) for j in kept)
        or kept != sorted(set(kept))
        or not all(0 <= j < len(names) for j in kept)
    ):
        raise ProtocolError(f"{host} sent malformed column names or kept columns")
    return names, tuple(kept)


def _is_column(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == _COLUMN_KEYS
        and isinstance(value.get("party"), str)
        and isinstance(value.get("column"), int)
        and not isinstance(value.get("column"), bool)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("iv"), float | int)
        and not isinstance(value.get("iv"), bool)
        and math.isfinite(value["iv"])
        and value["iv"] >= 0
        and isinstance(value.get("kept"), bool)
    )


def kept_party_data(data: PartyData, columns: Sequence[int]) -> PartyData:
    """How a party's kept columns were prepared, after selection by IV: ``data``'s column
    names and scaling narrowed to ``columns`` (what its kept model file records, so that a
    later scoring-only run reads those columns of its new rows).

    Parameters
    ----------
    data
        The party's inputs as it read them (every column).
    columns
        Its kept columns (:attr:`~rengo.vfl.runner.VerticalPartyResult.kept_columns`).

    Returns
    -------
    PartyData
        ``data`` with the kept columns' names, means and scales.
    """
    kept = list(columns)
    mean = None if data.mean is None else np.asarray(data.mean)[kept]
    scale = None if data.scale is None else np.asarray(data.scale)[kept]
    return replace(data, feature_names=kept_names(data.feature_names, kept), mean=mean, scale=scale)


def describe_selection(record: Mapping[str, Any]) -> str:
    """One line of a selection's record: how many columns were kept, which were dropped.

    Parameters
    ----------
    record
        A run's selection record (:func:`selection_record`, every column named).

    Returns
    -------
    str
        ``"selection by IV kept 15 of 23 columns; dropped bank:x6, ..."``.
    """
    listed = list(record.get("columns", []))
    dropped = [f"{c['party']}:{c['name']}" for c in listed if not c.get("kept")]
    return f"selection by IV kept {len(listed) - len(dropped)} of {len(listed)} columns" + (
        f"; dropped {', '.join(dropped)}" if dropped else ""
    )

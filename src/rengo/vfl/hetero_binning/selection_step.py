"""Selection by IV as a step of a vertical run: after PSI, before training, every way it runs.

FATE's ``HeteroFeatureBinning`` then ``HeteroFeatureSelection``, played by the run's own roles
(:mod:`rengo.vfl.runner`) on the rows PSI shared, so a simulated run (``rengo run``) and a
deployed one (``rengo vfl coordinator`` / ``rengo vfl party``) run the same step over their
channels, with PSI run once::

    label party <-> feature parties: the IV protocol       [train/iv/setup, train/iv/hist]
    label party -> each feature party: its kept columns     [train/iv/keep]
    label party -> coordinator: each column's IV, kept or not, and min_bin_rows   [run/iv]
    each feature party -> coordinator: its columns' names                   [run/iv-names]

Then every party trains and scores on its kept columns only (it drops the others itself).
What the parties learn is :mod:`rengo.vfl.hetero_binning.protocol`'s. The coordinator, for the
run's record (``rengo runs show``), learns what a simulated run records: each column's IV
and whether it was kept (the label party's word), the least rows of a bin in effect, and each
feature party's column names (its own word); no per-bin count, value or label.
"""

from __future__ import annotations

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
from rengo.vfl.hetero_binning.woe import FeatureIV, select_by_iv
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


def selection_record(
    settings: SelectionSettings,
    min_bin_rows: int,
    features: Sequence[FeatureIV],
    kept: Sequence[FeatureIV],
) -> dict[str, Any]:
    """What the run store keeps of a selection: its settings, the least rows of a bin in
    effect (the default's value where none was given), and every column's party, name, IV
    and whether it was kept."""
    chosen = {(f.party, f.column) for f in kept}
    return {
        **settings.as_dict(),
        "min_bin_rows": int(min_bin_rows),
        "min_bin_rows_default": settings.min_bin_rows is None,
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


def kept_aligned(data: AlignedData, columns: Sequence[int]) -> AlignedData:
    """``data`` with only ``columns`` of its table (and their names)."""
    table = PartyTable(data.table.ids, np.asarray(data.table.features)[:, list(columns)])
    names = tuple(data.feature_names[j] for j in columns) if data.feature_names else ()
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
        If the labels are not binary or hold one class, or a party that holds columns would
        keep none (before any feature party is told anything).
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
    run.send(coordinator, IV_NAMES, names)
    return kept


def receive_selection_record(
    run: Channel, label_party: str, hosts: Sequence[str]
) -> dict[str, Any]:
    """The coordinator's side: the label party's record, each feature party's columns named
    by that party.

    Raises
    ------
    ProtocolError
        If the record or a party's names are malformed.
    """
    record = run.recv(label_party, IV_RECORD)
    columns = record.get("columns") if isinstance(record, Mapping) else None
    if not isinstance(columns, list) or not all(_is_column(c) for c in columns):
        raise ProtocolError(f"{label_party} sent a malformed selection record")
    names: dict[str, list[str]] = {}
    for host in hosts:
        given = run.recv(host, IV_NAMES)
        if not isinstance(given, list) or not all(isinstance(n, str) for n in given):
            raise ProtocolError(f"{host} sent malformed column names")
        names[host] = given
    named = []
    for column in columns:
        party, index, name = column["party"], column["column"], column["name"]
        own = names.get(party)
        if own is not None:  # a feature party's column: the label party knows its index only
            if not 0 <= index < len(own):
                raise ProtocolError(f"{label_party}'s record names {party}'s column {index}")
            name = own[index]
        named.append({**column, "name": name})
    return {**record, "columns": named}


def _is_column(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("party"), str)
        and isinstance(value.get("column"), int)
        and not isinstance(value.get("column"), bool)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("iv"), float | int)
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
    names = tuple(data.feature_names[j] for j in kept) if data.feature_names else ()
    mean = None if data.mean is None else np.asarray(data.mean)[kept]
    scale = None if data.scale is None else np.asarray(data.scale)[kept]
    return replace(data, feature_names=names, mean=mean, scale=scale)


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

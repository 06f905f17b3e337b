"""Federated WOE and IV of every party's columns, every role in this process."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError
from rengo.crypto.keys import generate_paillier_keypair
from rengo.transport.channel import Channel, LocalBus, TranscriptEntry, run_roles
from rengo.vfl.common import (
    PartyInput,
    VerticalDataset,
    align_rows,
    as_vertical_dataset,
    column_names,
)
from rengo.vfl.hetero_binning.guest import Keypair, information_value_guest, send_selection
from rengo.vfl.hetero_binning.host import information_value_host, receive_selection
from rengo.vfl.hetero_binning.woe import DEFAULT_ADJUSTMENT_FACTOR, FeatureIV
from rengo.vfl.secureboost.binning import FeatureBins


def information_value(
    data: VerticalDataset | PartyInput,
    label_party: str | None = None,
    labels: Any = None,
    *,
    max_bin: int = 10,
    adjustment_factor: float = DEFAULT_ADJUSTMENT_FACTOR,
    key_bits: int = 2048,
    key_seed: int | None = None,
    use_psi: bool = True,
    seed: int | None = None,
    min_bin_rows: int | None = None,
) -> list[FeatureIV]:
    """WOE and IV of every party's columns by the federated protocol, simulated.

    The label party's role and every feature party's role
    (:mod:`rengo.vfl.hetero_binning.protocol`) run on an in-process bus, as
    ``HeteroFeatureBinning`` computes them in FATE: quantile bins (SecureBoost's,
    :func:`~rengo.vfl.secureboost.fit_bins`), a missing-value bin, FATE's smoothing of
    one-class bins (see :mod:`rengo.vfl.hetero_binning.woe`).

    Parameters
    ----------
    data
        A :class:`~rengo.vfl.VerticalDataset`, or ``{party: (ids, X)}``.
    label_party
        Who holds the labels (with ``{party: (ids, X)}``).
    labels
        Binary labels, 1 for the event (e.g. defaulted), aligned with the label party's rows
        (with ``{party: (ids, X)}``; a dataset carries its own).
    max_bin
        Most value bins per column (quantile cut points; fewer where a column has fewer
        distinct values).
    adjustment_factor
        Added to both counts of a bin that holds one class only (FATE's default 0.5).
    key_bits
        The label party's Paillier key size (512 and 1024: tests only).
    key_seed
        Makes the key pair reproducible with an insecure generator: tests only.
    use_psi
        Align rows by private set intersection (else every party must list the same IDs in
        the same order).
    seed
        Fixes PSI's agreed order.
    min_bin_rows
        Bins of fewer rows are merged with their neighbours before WOE and IV (``None``:
        ``max(5, 0.5% of rows)``; see :func:`~rengo.vfl.hetero_binning.woe.merge_small_bins`).

    Returns
    -------
    list of FeatureIV
        The label party's columns, then each feature party's; named by the dataset's (or
        DataFrame's) column names, else ``x0``, ``x1``, ...; each with its cut points (a
        feature party's are its own: they never crossed the bus).

    Raises
    ------
    ConfigError
        If there are no labels, or a setting is out of range.
    DataError
        If the labels are not binary or hold one class only, the parties share no row, or
        a column is entirely empty or holds infinities.
    """
    dataset = as_vertical_dataset(data, label_party, labels)
    rows, _ = align_rows(dataset, use_psi=use_psi, seed=seed)
    names = {party: column_names(data, party) for party in dataset.parties}
    settings = BinningSettings(max_bin, adjustment_factor, min_bin_rows)
    keys = generate_paillier_keypair(key_bits, seed=key_seed)
    return list(run_information_value(dataset, rows, keys, names, settings).features)


@dataclass(frozen=True)
class BinningSettings:
    """How every party bins its columns and the label party computes WOE and IV."""

    max_bin: int = 10
    adjustment_factor: float = DEFAULT_ADJUSTMENT_FACTOR
    min_bin_rows: int | None = None


@dataclass(frozen=True)
class InformationValueRun:
    """What one simulated run of the IV roles (and, optionally, selection) produced.

    Parameters
    ----------
    features
        Every column's IV, the label party's first; each named as its party names it, with
        its cut points (a feature party's are its own: they never crossed the bus).
    kept
        With a selection rule: the label party's own kept columns and, for each feature
        party, the columns it was told are kept, as it applies them; else ``None``.
    transcript
        Every message as it crossed the bus.
    """

    features: tuple[FeatureIV, ...]
    kept: tuple[FeatureIV, ...] | None
    transcript: tuple[TranscriptEntry, ...]


Selection = Callable[[Sequence[FeatureIV]], Sequence[FeatureIV]]


def run_information_value(
    dataset: VerticalDataset,
    rows: Mapping[str, np.ndarray],
    keys: Keypair,
    names: Mapping[str, Sequence[str]],
    settings: BinningSettings,
    select: Selection | None = None,
) -> InformationValueRun:
    """Every party's IV role, and the selection step if ``select`` is given, on one
    in-process bus.

    Parameters
    ----------
    dataset
        Every party's table and the labels.
    rows
        Each party's aligned row indices (:func:`~rengo.vfl.align_rows`).
    keys
        The label party's Paillier key pair.
    names
        Each party's column names (empty: ``x0``, ``x1``, ...).
    settings
        Bins, smoothing and the least rows of a bin.
    select
        The label party's rule (e.g. :func:`~rengo.vfl.hetero_binning.select_by_iv` with
        its thresholds): the columns it returns are kept and each feature party is told
        which of its own are.

    Returns
    -------
    InformationValueRun
        Every column's IV named by its party, the kept columns, the transcript.

    Raises
    ------
    ConfigError
        If there are no labels or a setting is out of range.
    DataError
        If the labels are not binary or hold one class only, or a column is entirely empty.
    """
    if dataset.labels is None:
        raise ConfigError(f"information value needs the labels of {dataset.label_party}")
    guest, hosts = dataset.label_party, dataset.hosts

    def features(party: str) -> np.ndarray:
        table: np.ndarray = np.asarray(dataset.parties[party].features)[rows[party]]
        return table

    def guest_role(ch: Channel) -> tuple[list[FeatureIV], list[FeatureIV] | None]:
        ivs = information_value_guest(
            ch,
            features(guest),
            np.asarray(dataset.labels)[rows[guest]],
            hosts,
            keys,
            max_bin=settings.max_bin,
            adjustment_factor=settings.adjustment_factor,
            feature_names=tuple(names.get(guest, ())),
            min_bin_rows=settings.min_bin_rows,
        )
        if select is None:
            return ivs, None
        kept = list(select(ivs))
        send_selection(ch, hosts, kept)
        return ivs, kept

    def host_role(party: str) -> Callable[[Channel], tuple[FeatureBins, tuple[int, ...]]]:
        def role(ch: Channel) -> tuple[FeatureBins, tuple[int, ...]]:
            x = features(party)
            own = tuple(str(n) for n in names.get(party, ()))
            bins = information_value_host(ch, x, guest, max_bin=settings.max_bin, feature_names=own)
            return bins, (receive_selection(ch, guest, x.shape[1]) if select else ())

        return role

    bus = LocalBus([guest, *hosts], record=True)
    results = run_roles(bus, {guest: guest_role, **{h: host_role(h) for h in hosts}})
    ivs, chosen = results[guest]
    host_bins: dict[str, FeatureBins] = {host: results[host][0] for host in hosts}
    named = tuple(_named(f, names, host_bins) for f in ivs)
    kept = None
    if chosen is not None:  # the label party's own choice, and what each host applies
        applied = {(f.party, f.column) for f in chosen if f.party == guest}
        applied |= {(host, j) for host in hosts for j in results[host][1]}
        kept = tuple(f for f in named if (f.party, f.column) in applied)
    return InformationValueRun(named, kept, tuple(bus.transcript))


def _named(
    feature: FeatureIV, names: Mapping[str, Sequence[str]], bins: Mapping[str, FeatureBins]
) -> FeatureIV:
    """A column as its party knows it: its name and, for a feature party's, its cut points."""
    own = names.get(feature.party, ())
    name = str(own[feature.column]) if feature.column < len(own) else feature.name
    if feature.party not in bins:
        return replace(feature, name=name)
    edges = tuple(float(e) for e in bins[feature.party].edges[feature.column])
    return replace(feature, name=name, edges=edges)

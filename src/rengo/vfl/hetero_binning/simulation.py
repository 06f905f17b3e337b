"""Federated WOE and IV of every party's columns, every role in this process."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rengo.core.errors import ConfigError
from rengo.crypto.keys import generate_paillier_keypair
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.common import (
    PartyInput,
    VerticalDataset,
    align_rows,
    as_vertical_dataset,
    column_names,
)
from rengo.vfl.hetero_binning.guest import information_value_guest
from rengo.vfl.hetero_binning.host import information_value_host
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
    if dataset.labels is None:
        raise ConfigError(f"information value needs the labels of {dataset.label_party}")
    rows, _ = align_rows(dataset, use_psi=use_psi, seed=seed)
    guest = dataset.label_party
    hosts = dataset.hosts
    keys = generate_paillier_keypair(key_bits, seed=key_seed)
    names = {party: column_names(data, party) for party in dataset.parties}

    def features(party: str) -> Any:
        return dataset.parties[party].features[rows[party]]

    roles: dict[str, Any] = {
        guest: lambda ch: information_value_guest(
            ch,
            features(guest),
            dataset.labels[rows[guest]],
            hosts,
            keys,
            max_bin=max_bin,
            adjustment_factor=adjustment_factor,
            feature_names=names[guest],
            min_bin_rows=min_bin_rows,
        ),
        **{
            host: (
                lambda ch, host=host: information_value_host(
                    ch, features(host), guest, max_bin=max_bin, feature_names=names[host]
                )
            )
            for host in hosts
        },
    }
    results = run_roles(LocalBus(list(roles)), roles)
    host_bins: dict[str, FeatureBins] = {host: results[host] for host in hosts}
    return [_named(f, names, host_bins) for f in results[guest]]


def _named(
    feature: FeatureIV, names: dict[str, tuple[str, ...]], bins: dict[str, FeatureBins]
) -> FeatureIV:
    """A feature party's column as that party knows it: its name and cut points."""
    if feature.party not in bins:
        return feature
    own = names[feature.party]
    edges = tuple(float(e) for e in bins[feature.party].edges[feature.column])
    name = own[feature.column] if feature.column < len(own) else feature.name
    return replace(feature, name=str(name), edges=edges)

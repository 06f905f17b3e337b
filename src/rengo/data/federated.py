"""A federation's data: one table per client plus a held-out test set, with skew statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.categorical import CategoricalEncoding
from rengo.data.dataset import Dataset, Standardization, train_test_split
from rengo.data.partition import check_partition, partition
from rengo.data.seeding import Seed, as_generator
from rengo.data.target_scaling import TargetScaling


def label_entropy(counts: np.ndarray) -> float:
    """Shannon entropy (bits) of a label histogram: 0 for one class, log2(K) for uniform."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


@dataclass(frozen=True)
class ClientSummary:
    """Size and label mix of one client, for display."""

    client_id: str
    size: int
    label_counts: tuple[int, ...]
    label_entropy: float


@dataclass(frozen=True, eq=False)
class FederatedDataset:
    """Per-client tables (in client order) and an optional held-out ``test`` table.

    ``client_tests`` optionally gives each client its own test rows (natural splits such as
    FEMNIST writers), for personalised evaluation. ``standardization`` is the scaler every
    table was z-scored with, if any: a model trained on them needs it to score raw rows.

    Parameters
    ----------
    clients
        Client name -> its rows, in client order (at least one client).
    test
        Held-out rows for centralised evaluation, or None.
    name
        What the federation is called in error messages and reports.
    client_tests
        Client name -> its own test rows (a subset of the clients), or None.
    standardization
        The scaler every table was z-scored with, or None.
    target_scaling
        For a regression target trained standardised: the z-score every table's target
        was put through (a model's predictions are mapped back with it), or None.
    categories
        How the table's text columns were one-hot encoded (rows to score are encoded with
        it: :func:`~rengo.data.load_csv`'s ``categories``), or None.

    Raises
    ------
    DataError
        If there is no client, the tables disagree on their feature count, or
        ``client_tests`` names a client that is not in ``clients``.
    """

    clients: dict[str, Dataset]
    test: Dataset | None = None
    name: str = "federated"
    client_tests: dict[str, Dataset] | None = None
    standardization: Standardization | None = None
    target_scaling: TargetScaling | None = None
    categories: CategoricalEncoding | None = None

    def __post_init__(self) -> None:
        if not self.clients:
            raise DataError(f"{self.name}: a federation needs at least one client")
        widths = {d.num_features for d in self.clients.values()}
        if self.test is not None:
            widths.add(self.test.num_features)
        if len(widths) != 1:
            raise DataError(f"{self.name}: clients/test disagree on feature count: {widths}")
        if self.client_tests is not None:
            extra = set(self.client_tests) - set(self.clients)
            if extra:
                raise DataError(f"{self.name}: client tests for unknown clients {sorted(extra)}")

    def __repr__(self) -> str:
        """One line a notebook can show: the federation's name, clients and their sizes,
        columns, classes and held-out rows; not every client's table (``clients``,
        :meth:`summary` and :meth:`client` hold them). The default repr printed every
        client's arrays and column names: 630,000 characters for 100 clients of digits."""
        sizes = self.sizes()
        ids = self.client_ids
        shown = ", ".join(map(str, ids[:2])) + (f", ..., {ids[-1]}" if len(ids) > 2 else "")
        parts = [
            f"name={self.name!r}",
            f"{self.num_clients} client{'s' if self.num_clients > 1 else ''} ({shown})",
            f"rows per client {int(sizes.min())}..{int(sizes.max())} (total {int(sizes.sum())})",
            f"{next(iter(self.clients.values())).num_features} features",
            f"{self.num_classes} class{'' if self.num_classes == 1 else 'es'}"
            if self.num_classes
            else "no classes",
            "no test" if self.test is None else f"test={len(self.test)} rows",
        ]
        if self.categories is not None:
            parts.append("categories")
        if self.client_tests is not None:
            parts.append(f"client tests for {len(self.client_tests)} clients")
        if self.standardization is not None:
            parts.append("standardized")
        if self.target_scaling is not None:
            parts.append("target standardized")
        return f"FederatedDataset({', '.join(parts)})"

    @property
    def client_ids(self) -> tuple[str, ...]:
        """Client names in order."""
        return tuple(self.clients)

    @property
    def num_clients(self) -> int:
        """Number of clients."""
        return len(self.clients)

    @property
    def num_classes(self) -> int:
        """Classes shared by all clients (0 for regression)."""
        return max(d.num_classes for d in self.clients.values())

    def client(self, key: int | str) -> Dataset:
        """A client's table by position or by name."""
        if isinstance(key, str):
            if key not in self.clients:
                raise ConfigError(f"{self.name}: no client {key!r}{self._which_ids(key)}")
            return self.clients[key]
        if not -self.num_clients <= key < self.num_clients:
            raise ConfigError(
                f"{self.name}: client index {key} out of range 0..{self.num_clients - 1}"
            )
        return self.clients[self.client_ids[key]]

    def _which_ids(self, key: str) -> str:
        """What the ids are, for a name that is none of them; for the index a bare number
        is, the client it names (``simulate(client_fn, 300, ...)`` passes "0".."299", and
        every client of a federated dataset failed with "no client '0'")."""
        ids = self.client_ids
        shown = ", ".join(ids[:2]) + (f", ..., {ids[-1]}" if len(ids) > 2 else "")
        hint = f" (its {len(ids)} clients: {shown}"
        if key.isdigit() and int(key) < len(ids):
            hint += (
                f"; '{key}' looks like an index: pass fed.client_ids to simulate, or use "
                "fed.client(int(cid))"
            )
        return hint + ")"

    def sizes(self) -> np.ndarray:
        """Rows per client, in client order."""
        return np.array([len(d) for d in self.clients.values()], dtype=np.int64)

    def label_histograms(self) -> np.ndarray:
        """Class counts per client, shape (num_clients, num_classes)."""
        k = self.num_classes
        if k == 0:
            raise DataError(f"{self.name}: label histograms need class labels")
        return np.stack([np.bincount(d.labels(), minlength=k) for d in self.clients.values()])

    def mean_label_entropy(self) -> float:
        """Mean over clients of label entropy (bits): lower means more label skew."""
        return float(np.mean([label_entropy(h) for h in self.label_histograms()]))

    def summary(self) -> list[ClientSummary]:
        """One :class:`ClientSummary` per client."""
        hists = (
            self.label_histograms()
            if self.num_classes
            else np.zeros((self.num_clients, 0), np.int64)
        )
        return [
            ClientSummary(cid, len(d), tuple(int(c) for c in h), label_entropy(h))
            for (cid, d), h in zip(self.clients.items(), hists, strict=True)
        ]


def from_partition(
    dataset: Dataset,
    parts: Sequence[np.ndarray],
    test: Dataset | None = None,
    prefix: str = "client",
) -> FederatedDataset:
    """Build a federation from row-index arrays (one per client) over ``dataset``."""
    check_partition(list(parts), len(dataset))
    clients = {
        f"{prefix}-{i}": dataset.subset(rows, name=f"{dataset.name}/{prefix}-{i}")
        for i, rows in enumerate(parts)
    }
    return FederatedDataset(clients=clients, test=test, name=dataset.name)


def federate(
    dataset: Dataset,
    scheme: str = "iid",
    num_clients: int = 10,
    seed: Seed = 0,
    test_size: float | int | None = 0.2,
    **options: Any,
) -> FederatedDataset:
    """Hold out a stratified test set, then partition the rest among clients by ``scheme``.

    Parameters
    ----------
    dataset
        The whole table (e.g. :func:`~rengo.data.load_digits`).
    scheme
        How the rows are dealt to clients: ``"iid"``, ``"dirichlet"`` (label skew; needs
        ``alpha``), ``"shards"`` or ``"quantity"``
        (:data:`~rengo.data.partition.PARTITION_SCHEMES`).
    num_clients
        How many clients; their ids are ``client-0`` .. ``client-<num_clients - 1>``.
    seed
        Fixes the held-out rows and the partition.
    test_size
        The held-out share (a fraction in (0, 1)) or row count, stratified by label;
        ``None`` keeps every row for the clients.
    **options
        The scheme's options (``alpha=0.5`` for ``"dirichlet"``), checked by
        :func:`~rengo.data.partition.partition_options` and passed to
        :func:`~rengo.data.partition.partition`.

    Returns
    -------
    FederatedDataset
        Each client's rows (``fed.client(cid)`` for an id of ``fed.client_ids``) and the
        held-out rows (``fed.test``; None with ``test_size=None``).

    Raises
    ------
    ConfigError
        For an unknown scheme or option, a required option left out, a value out of range,
        or a ``test_size`` that is neither a fraction in (0, 1) nor a count leaving rows on
        both sides.
    """
    rng = as_generator(seed)
    if test_size is None:
        train, test = dataset, None
    else:
        train, test = train_test_split(dataset, test_size, rng)
    parts = partition(train, scheme, num_clients, rng, **options)
    return from_partition(train, parts, test)

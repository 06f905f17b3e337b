"""Horizontal partitioners: split row indices among clients, IID or with controlled skew.

Each partitioner returns one sorted int64 index array per client; together they cover every
row exactly once and no client is empty. All randomness comes from the given seed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.options import check_options, option, option_specs, options_from_mapping
from rengo.data.dataset import Dataset
from rengo.data.seeding import Seed, as_generator

MAX_DIRICHLET_RETRIES = 10_000
"""Most Dirichlet draws: one draw for 1,000 clients over 30,000 rows of two classes takes
~1.3 ms (a draw deals no rows until it is chosen), so well under a minute at most."""


def _check_clients(n_rows: int, num_clients: int, min_size: int = 1) -> None:
    if isinstance(num_clients, bool) or not isinstance(num_clients, (int, np.integer)):
        raise ConfigError(f"num_clients must be an int, got {num_clients!r}")
    if num_clients < 1:
        raise ConfigError(f"num_clients must be >= 1, got {num_clients}")
    if min_size < 1:
        raise ConfigError(f"min_size must be >= 1, got {min_size}")
    if n_rows < num_clients * min_size:
        raise ConfigError(
            f"{n_rows} rows cannot give {num_clients} clients at least {min_size} row(s) each"
        )


def _labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        raise DataError(f"label-skew partitions need class codes, got dtype {labels.dtype}")
    return labels


def _finish(parts: list[np.ndarray]) -> list[np.ndarray]:
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def iid_partition(n_rows: int, num_clients: int, seed: Seed) -> list[np.ndarray]:
    """Shuffle rows and deal them into ``num_clients`` near-equal parts (sizes differ by <= 1).

    Parameters
    ----------
    n_rows
        How many rows to deal.
    num_clients
        How many parts (>= 1, at most ``n_rows``).
    seed
        An int seed or a Generator.

    Returns
    -------
    list[numpy.ndarray]
        One sorted int64 array of row positions per client; together they hold each row
        once.

    Raises
    ------
    ConfigError
        If ``num_clients`` is not an int >= 1, exceeds ``n_rows``, or ``seed`` is invalid.
    """
    _check_clients(n_rows, num_clients)
    order = as_generator(seed).permutation(n_rows)
    return _finish(np.array_split(order, num_clients))


def dirichlet_partition(
    labels: np.ndarray,
    num_clients: int,
    alpha: float,
    seed: Seed,
    min_size: int = 1,
    max_retries: int = 100,
) -> list[np.ndarray]:
    """Label skew: each class is split among clients by proportions ~ Dir(alpha).

    Hsu, Qi & Brown 2019, "Measuring the effects of non-identical data distribution for
    federated visual classification". Small ``alpha`` (0.1) gives each client few classes;
    large ``alpha`` (100) approaches IID. As in common implementations (Yurochkin et al. 2019;
    Li et al. 2022, NIID-Bench) the draw is repeated until every client has ``min_size`` rows;
    if ``max_retries`` draws all fail, the draw that came closest (fewest clients short) is
    repaired by moving random rows from the largest clients to the short ones, with a
    UserWarning: the skew is then not the one asked for (tiny ``alpha``: clients of
    ``min_size`` rows beside one holding the rest). At 1,000 clients every draw may leave
    dozens short (Dir(0.5) over 30,000 rows of two classes: about 26), so more draws would
    not help there.

    Parameters
    ----------
    labels
        One class code per row (1-D integers).
    num_clients
        How many parts (>= 1).
    alpha
        The Dirichlet concentration (> 0): small gives each client few classes.
    seed
        An int seed or a Generator.
    min_size
        The fewest rows a client may get (>= 1).
    max_retries
        Draws tried before the closest one is repaired, in [1, MAX_DIRICHLET_RETRIES].

    Returns
    -------
    list[numpy.ndarray]
        One sorted int64 array of row positions per client; together they hold each row
        once.

    Raises
    ------
    ConfigError
        For too few rows, a ``num_clients`` or ``min_size`` below 1, a non-positive
        ``alpha`` or ``max_retries`` outside [1, MAX_DIRICHLET_RETRIES].
    DataError
        For labels that are not 1-D class codes.
    """
    labels = _labels(labels)
    n = labels.shape[0]
    _check_clients(n, num_clients, min_size)
    if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"alpha must be a positive number, got {alpha!r}")
    if not 1 <= max_retries <= MAX_DIRICHLET_RETRIES:
        raise ConfigError(
            f"max_retries must lie in [1, {MAX_DIRICHLET_RETRIES}], got {max_retries}"
        )
    rng = as_generator(seed)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    # Each draw's client sizes follow from its cuts alone, so a draw's rows are dealt only
    # once it is chosen (500 clients, 100 failing draws: ~1 s of splitting and joining
    # saved); the draws consume the generator exactly as dealing each one would.
    closest: tuple[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] | None = None
    for _ in range(max_retries):
        draw: list[tuple[np.ndarray, np.ndarray]] = []
        sizes = np.zeros(num_clients, dtype=np.int64)
        for rows in by_class:
            rows = rng.permutation(rows)
            share = rng.dirichlet(np.full(num_clients, float(alpha)))
            cuts = np.floor(np.cumsum(share)[:-1] * rows.size).astype(np.int64)
            sizes += np.diff(cuts, prepend=0, append=rows.size)
            draw.append((rows, cuts))
        gap = (
            int(np.count_nonzero(sizes < min_size)),
            int(np.maximum(0, min_size - sizes).sum()),
        )
        if gap[0] == 0:
            return _finish(_deal(draw, num_clients))
        if closest is None or gap < closest[0]:
            closest = (gap, draw)
    assert closest is not None
    (short, moved), best = closest
    parts = _deal(best, num_clients)
    repaired = _finish(_repair(parts, min_size, rng))
    final_sizes = [int(p.size) for p in repaired]
    shown = final_sizes if len(final_sizes) <= 12 else [*final_sizes[:12], "..."]
    advice = (
        "raise alpha or max_retries, or use fewer clients"
        if short == 1
        else f"raise alpha or use fewer clients (more draws would hardly help: every one "
        f"left {short} or more short)"
    )
    warnings.warn(
        f"dirichlet partition (alpha={alpha}): none of {max_retries} draws gave all "
        f"{num_clients} clients {min_size} row(s); the closest left {short} short and was "
        f"repaired by moving {moved} row(s) to them (client sizes {shown}), so the "
        f"requested skew was not achieved; {advice}",
        UserWarning,
        stacklevel=2,
    )
    return repaired


def _deal(draw: list[tuple[np.ndarray, np.ndarray]], num_clients: int) -> list[np.ndarray]:
    """Each client's rows of one draw: piece ``k`` of every class's shuffled rows, cut at
    that class's ``cuts``, joined in class order."""
    chunks: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for rows, cuts in draw:
        for k, piece in enumerate(np.split(rows, cuts)):
            chunks[k].append(piece)
    return [np.concatenate(c) for c in chunks]


def _repair(parts: list[np.ndarray], min_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Move random rows from the largest clients into clients below ``min_size``."""
    parts = [rng.permutation(p) for p in parts]
    for k in range(len(parts)):
        while parts[k].size < min_size:
            donor = int(np.argmax([p.size for p in parts]))
            take = min(min_size - parts[k].size, parts[donor].size - min_size)
            parts[k] = np.concatenate([parts[k], parts[donor][:take]])
            parts[donor] = parts[donor][take:]
    return parts


def shard_partition(
    labels: np.ndarray, num_clients: int, seed: Seed, shards_per_client: int = 2
) -> list[np.ndarray]:
    """Pathological non-IID: sort by label, cut into shards, give each client a few shards.

    McMahan et al. 2017, "Communication-efficient learning of deep networks from decentralized
    data" (2 shards of one label run per client). Here shards are cut inside each class (shard
    counts proportional to class sizes, at least one per class), so no shard straddles two
    labels and each client holds at most ``shards_per_client`` classes exactly; McMahan et al.
    cut the label-sorted array into equal pieces, where a boundary shard mixes two labels.
    """
    labels = _labels(labels)
    n = labels.shape[0]
    if isinstance(shards_per_client, bool) or not isinstance(shards_per_client, (int, np.integer)):
        raise ConfigError(f"shards_per_client must be an int, got {shards_per_client!r}")
    if shards_per_client < 1:
        raise ConfigError(f"shards_per_client must be >= 1, got {shards_per_client}")
    _check_clients(n, num_clients)
    if n < num_clients * shards_per_client:
        raise ConfigError(
            f"{n} rows cannot be cut into {num_clients} clients x {shards_per_client} "
            f"shards_per_client = {num_clients * shards_per_client} shards of at least 1 row; "
            "lower shards_per_client or the number of clients"
        )
    rng = as_generator(seed)
    classes, counts = np.unique(labels, return_counts=True)
    total = num_clients * shards_per_client
    if total < classes.size:
        raise ConfigError(
            f"{num_clients} clients x {shards_per_client} shards = {total} shards cannot hold "
            f"{classes.size} classes without mixing labels; use more clients/shards or "
            "scheme 'dirichlet'"
        )
    per_class = _shards_per_class(counts, total)
    shards: list[np.ndarray] = []
    for c, s in zip(classes, per_class, strict=True):
        rows = rng.permutation(np.flatnonzero(labels == c))
        shards.extend(np.array_split(rows, s))
    order = rng.permutation(total)
    return _finish(
        [np.concatenate([shards[i] for i in order[k::num_clients]]) for k in range(num_clients)]
    )


def _shards_per_class(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` shards among classes in proportion to size, >= 1 and <= rows each."""
    shares = np.maximum(1, np.floor(counts * total / counts.sum()).astype(np.int64))
    shares = np.minimum(shares, counts)
    while shares.sum() < total:  # give a shard to the class with the largest shards
        grow = np.where(shares < counts, counts / shares, -np.inf)
        shares[int(np.argmax(grow))] += 1
    while shares.sum() > total:  # take one from the class with the smallest shards
        shrink = np.where(shares > 1, counts / shares, np.inf)
        shares[int(np.argmin(shrink))] -= 1
    return np.asarray(shares)


def quantity_skew_partition(
    n_rows: int, num_clients: int, seed: Seed, alpha: float = 0.5, min_size: int = 1
) -> list[np.ndarray]:
    """Quantity skew: client sizes follow Dir(alpha) proportions; which rows go where is IID.

    Li, Diao, Chen & He 2022, "Federated learning on non-IID data silos: an experimental
    study" (NIID-Bench, quantity skew). Every client first gets ``min_size`` rows; the rest are
    dealt by a multinomial draw with the Dirichlet proportions, so no retry is needed.
    """
    _check_clients(n_rows, num_clients, min_size)
    if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"alpha must be a positive number, got {alpha!r}")
    rng = as_generator(seed)
    share = rng.dirichlet(np.full(num_clients, float(alpha)))
    sizes = min_size + rng.multinomial(n_rows - num_clients * min_size, share)
    order = rng.permutation(n_rows)
    return _finish(np.split(order, np.cumsum(sizes)[:-1]))


def check_partition(parts: list[np.ndarray], n_rows: int) -> None:
    """Raise DataError unless ``parts`` are non-empty and cover ``0..n_rows-1`` exactly once."""
    if any(np.asarray(p).size == 0 for p in parts):
        raise DataError("a partition gives some client no rows")
    rows: np.ndarray = (
        np.concatenate([np.asarray(p, dtype=np.int64) for p in parts])
        if parts
        else np.zeros(0, np.int64)
    )
    counts = np.bincount(rows, minlength=n_rows) if len(rows) else np.zeros(n_rows, int)
    if counts.size != n_rows or np.any(counts != 1):
        raise DataError(f"partition does not cover the {n_rows} rows exactly once")


def _dirichlet(data: Dataset, k: int, seed: Seed, **kw: Any) -> list[np.ndarray]:
    return dirichlet_partition(_class_labels(data, "dirichlet"), k, seed=seed, **kw)


def _shards(data: Dataset, k: int, seed: Seed, **kw: Any) -> list[np.ndarray]:
    return shard_partition(_class_labels(data, "shards"), k, seed, **kw)


TARGET_BINS = 10
"""A continuous target is skewed by its deciles: ``dirichlet`` and ``shards`` deal the rows
of each of :data:`TARGET_BINS` quantile bins as they deal a class's."""


def target_bins(targets: np.ndarray, bins: int = TARGET_BINS) -> np.ndarray:
    """Quantile-bin codes ``0 .. bins - 1`` of a continuous target, so label-skew schemes
    can deal it: bin ``b`` holds the rows between the ``b/bins`` and ``(b+1)/bins``
    quantiles (equal values share a bin, so there are fewer bins where values repeat).

    Parameters
    ----------
    targets
        One finite value per row.
    bins
        How many bins at most.

    Returns
    -------
    numpy.ndarray
        int64 codes, consecutive from 0.
    """
    y = np.asarray(targets, dtype=np.float64)
    edges = np.quantile(y, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    codes = np.searchsorted(edges, y, side="right")
    _, dense = np.unique(codes, return_inverse=True)
    return np.asarray(dense, dtype=np.int64)


def _class_labels(data: Dataset, scheme: str) -> np.ndarray:
    if data.y is None:
        raise ConfigError(f"scheme {scheme!r} needs labels; {data.name} has none")
    if not data.is_classification:
        return target_bins(data.labels())
    return data.labels()


@dataclass(frozen=True)
class IidOptions:
    """The ``iid`` scheme takes no options."""


@dataclass(frozen=True)
class DirichletOptions:
    """Options of the ``dirichlet`` scheme (label skew); ``alpha`` is required."""

    alpha: float | None = option(None, "Dirichlet concentration (required).", gt=0)
    min_size: int = option(1, "Rows every client gets at least.", ge=1)
    max_retries: int = option(
        100, "Draws before repairing the closest one.", ge=1, le=MAX_DIRICHLET_RETRIES
    )

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True)
class ShardOptions:
    """Options of the ``shards`` scheme (pathological non-IID)."""

    shards_per_client: int = option(2, "Shards (label runs) per client.", ge=1)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True)
class QuantityOptions:
    """Options of the ``quantity`` scheme (quantity skew)."""

    alpha: float = option(0.5, "Dirichlet concentration of client sizes.", gt=0)
    min_size: int = option(1, "Rows every client gets at least.", ge=1)

    def __post_init__(self) -> None:
        check_options(self)


_SCHEMES: dict[str, tuple[Callable[..., list[np.ndarray]], type, frozenset[str]]] = {
    "iid": (lambda d, k, s: iid_partition(len(d), k, s), IidOptions, frozenset()),
    "dirichlet": (_dirichlet, DirichletOptions, frozenset({"alpha"})),
    "shards": (_shards, ShardOptions, frozenset()),
    "quantity": (
        lambda d, k, s, **kw: quantity_skew_partition(len(d), k, s, **kw),
        QuantityOptions,
        frozenset(),
    ),
}
PARTITION_SCHEMES: tuple[str, ...] = tuple(_SCHEMES)


def partition_options(
    scheme: str, options: Mapping[str, Any], where: str = "partition"
) -> dict[str, Any]:
    """Check a scheme's options (a job file's ``[partition]`` keys beside ``scheme``).

    Parameters
    ----------
    scheme
        A partition scheme name (see :data:`PARTITION_SCHEMES`).
    options
        Option name to value.
    where
        How the options are named in errors (``partition`` gives ``partition.alpha``).

    Returns
    -------
    dict
        The options given, typed (an int where a float is expected becomes a float).

    Raises
    ------
    ConfigError
        For an unknown scheme or option, a value of the wrong type or out of range, or a
        required option left out; the message names the option.
    """
    entry = _SCHEMES.get(scheme)
    if entry is None:
        raise ConfigError(
            f"unknown partition scheme {scheme!r}; valid schemes: {', '.join(_SCHEMES)}"
        )
    _, options_type, required = entry
    names = {spec.name for spec in option_specs(options_type)}
    unknown = sorted(set(options) - names)
    if unknown:
        valid = ", ".join(sorted(names)) or "none"
        raise ConfigError(
            f"{where}.{unknown[0]}: scheme {scheme!r} has no option {unknown[0]!r}; "
            f"valid options: {valid}"
        )
    missing = sorted(required - set(options))
    if missing:
        raise ConfigError(
            f"{where}.{missing[0]}: scheme {scheme!r} needs option {missing[0]!r} (e.g. 0.5)"
        )
    checked: Any = options_from_mapping(options_type, options, label=lambda n: f"{where}.{n}")
    return {name: getattr(checked, name) for name in options}


def partition(
    dataset: Dataset, scheme: str, num_clients: int, seed: Seed, **options: Any
) -> list[np.ndarray]:
    """Partition ``dataset``'s rows by scheme name (``iid``, ``dirichlet``, ``shards``,
    ``quantity``), as a job file names it; options go to the partitioner.

    Parameters
    ----------
    dataset
        The rows to partition (``dirichlet`` and ``shards`` need class labels).
    scheme
        One of :data:`PARTITION_SCHEMES`.
    num_clients
        How many parts (>= 1).
    seed
        An int seed or a Generator.
    **options
        The scheme's options (``alpha`` for ``dirichlet``, ...; see
        :func:`partition_options`).

    Returns
    -------
    list[numpy.ndarray]
        One sorted int64 array of row positions per client.

    Raises
    ------
    ConfigError
        For an unknown scheme or option, a bad option value, too few rows for the clients,
        or a label-skew scheme on a table without class labels.
    DataError
        If a label-skew scheme's labels are not 1-D class codes.
    """
    checked = partition_options(scheme, options)
    return _SCHEMES[scheme][0](dataset, num_clients, seed, **checked)

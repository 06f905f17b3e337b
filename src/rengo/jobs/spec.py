"""Job files: a TOML description of a federated run, validated with errors that name the fix.

[job]       name, kind ("hfl"), seed, rounds, executor, workers, round_timeout
[data]      dataset (digits | breast_cancer | wine | iris | csv | parquet | idx), path,
            label, id_column, test_size, standardize, images, labels (idx files),
            client_test_size (each client's own held-out share, for per-client evaluation)
[partition] scheme (iid | dirichlet | shards | quantity), num_clients, alpha, ...
[model]     type (mlp | logistic), hidden
[train]     lr, local_epochs, batch_size
[strategy]  name (any registered strategy: ``rengo strategies`` lists them), fraction_fit,
            min_fit_clients, fraction_evaluate, min_evaluate_clients (default: the
            strategy's own; personalising strategies evaluate every client),
            min_available_clients, and the strategy's own options (its dataclass fields,
            typed by their annotations)
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rengo.core.errors import ConfigError
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.registry import (
    get_strategy,
    option_values,
    strategy_options,
    strategy_registry,
)
from rengo.transport.executors import executor_names

if TYPE_CHECKING:
    from rengo.jobs.vertical_spec import VflSection

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODELS = ("mlp", "logistic")
COMMON_STRATEGY_KEYS = {"name", *strategy_options(Strategy)}
"""Keys every [strategy] takes: its name and the base Strategy's sampling options."""


@dataclass
class JobSection:
    name: str = "job"
    kind: str = "hfl"
    seed: int = 0
    rounds: int = 10
    executor: str = "serial"
    workers: int | None = None
    round_timeout: float | None = None


@dataclass
class DataSection:
    dataset: str = "digits"
    path: str | None = None
    label: str | None = "y"
    id_column: str | None = None
    test_size: float = 0.2
    standardize: bool = True
    images: str | None = None
    labels: str | None = None
    client_test_size: float = 0.0


@dataclass
class PartitionSection:
    scheme: str = "iid"
    num_clients: int = 10
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelSection:
    type: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [64, 64])


@dataclass
class TrainSection:
    lr: float = 0.05
    local_epochs: int = 1
    batch_size: int = 32


@dataclass
class StrategySection:
    name: str = "fedavg"
    fraction_fit: float = 1.0
    min_fit_clients: int = 2
    fraction_evaluate: float | None = None
    min_evaluate_clients: int | None = None
    min_available_clients: int = 2
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobSpec:
    """A validated job file."""

    job: JobSection
    data: DataSection
    partition: PartitionSection
    model: ModelSection
    train: TrainSection
    strategy: StrategySection
    source: str = "<dict>"
    vfl: VflSection | None = None


def load_job(path: str | Path) -> JobSpec:
    """Read and validate a TOML job file; relative data paths resolve against its folder."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"job file {p} does not exist")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    spec = parse_job(raw, source=str(p))
    if spec.vfl is not None:
        spec.vfl.resolve_paths(p.parent)
    for attr in ("path", "images", "labels"):
        value = getattr(spec.data, attr)
        if value is not None and not Path(value).is_absolute():
            setattr(spec.data, attr, str((p.parent / value).resolve()))
    return spec


def parse_job(raw: Mapping[str, Any], source: str = "<dict>") -> JobSpec:
    """Validate a job given as a mapping (the parsed TOML)."""
    sections = {"job", "data", "partition", "model", "train", "strategy", "vfl"}
    _no_unknown(source, "", raw, sections)
    job = _section(source, "job", raw.get("job", {}), JobSection)
    check_choice(source, "job.kind", job.kind, ("hfl", "vfl"))
    if job.kind == "vfl":
        from rengo.jobs.vertical_spec import parse_vertical_job

        return parse_vertical_job(raw, job, source)
    if "vfl" in raw:
        raise ConfigError(f'{source}: [vfl] needs job.kind = "vfl"')
    data = _section(source, "data", raw.get("data", {}), DataSection)
    part_raw = dict(raw.get("partition", {}))
    partition = PartitionSection(
        scheme=_typed(source, "partition.scheme", part_raw.pop("scheme", "iid"), str),
        num_clients=_typed(source, "partition.num_clients", part_raw.pop("num_clients", 10), int),
        options=part_raw,
    )
    model = _section(source, "model", raw.get("model", {}), ModelSection)
    train = _section(source, "train", raw.get("train", {}), TrainSection)
    strategy = _strategy_section(source, raw.get("strategy", {}))
    _check(source, job, data, partition, model, train, strategy)
    return JobSpec(job, data, partition, model, train, strategy, source)


def _strategy_section(source: str, raw: Any) -> StrategySection:
    """[strategy]: a registered name, the shared sampling keys, and the strategy's own
    options as its dataclass fields declare them."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [strategy] must be a table")
    strat_raw = dict(raw)
    name = _typed(source, "strategy.name", strat_raw.get("name", "fedavg"), str).lower()
    check_choice(source, "strategy.name", name, tuple(strategy_registry()))
    entry = get_strategy(name)
    _no_unknown(source, "strategy", strat_raw, COMMON_STRATEGY_KEYS | set(entry.options))
    common = {k: strat_raw.pop(k) for k in list(strat_raw) if k in COMMON_STRATEGY_KEYS}
    common["name"] = name
    strategy: StrategySection = _section(source, "strategy", common, StrategySection)
    try:
        strategy.options = option_values(entry, strat_raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return strategy


def _check(
    source: str,
    job: JobSection,
    data: DataSection,
    partition: PartitionSection,
    model: ModelSection,
    train: TrainSection,
    strategy: StrategySection,
) -> None:
    check_choice(source, "job.executor", job.executor, executor_names())
    check_choice(source, "model.type", model.type, MODELS)
    _positive(source, "job.rounds", job.rounds)
    _positive(source, "partition.num_clients", partition.num_clients)
    _positive(source, "train.local_epochs", train.local_epochs)
    _positive(source, "train.batch_size", train.batch_size)
    if train.lr <= 0:
        raise ConfigError(f"{source}: train.lr must be > 0, got {train.lr}")
    if not 0 < data.test_size < 1:
        raise ConfigError(f"{source}: data.test_size must be in (0, 1), got {data.test_size}")
    if data.dataset in ("csv", "parquet") and not data.path:
        raise ConfigError(f"{source}: data.dataset = {data.dataset!r} needs data.path")
    if data.dataset == "idx" and not (data.images and data.labels):
        raise ConfigError(f"{source}: data.dataset = 'idx' needs data.images and data.labels")
    if not 0 < strategy.fraction_fit <= 1:
        raise ConfigError(f"{source}: strategy.fraction_fit must be in (0, 1]")
    if strategy.fraction_evaluate is not None:
        value = _typed(source, "strategy.fraction_evaluate", strategy.fraction_evaluate, float)
        if not 0 <= value <= 1:
            raise ConfigError(f"{source}: strategy.fraction_evaluate must be in [0, 1]")
        strategy.fraction_evaluate = value
    if strategy.min_evaluate_clients is not None:
        _typed(source, "strategy.min_evaluate_clients", strategy.min_evaluate_clients, int)
    if not 0 <= data.client_test_size < 1:
        raise ConfigError(
            f"{source}: data.client_test_size must be in [0, 1), got {data.client_test_size}"
        )
    if strategy.min_fit_clients > partition.num_clients:
        raise ConfigError(
            f"{source}: strategy.min_fit_clients={strategy.min_fit_clients} exceeds "
            f"partition.num_clients={partition.num_clients}"
        )
    if any(h <= 0 for h in model.hidden):
        raise ConfigError(f"{source}: model.hidden widths must be positive, got {model.hidden}")


def _section(source: str, name: str, raw: Any, cls: type) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table")
    known = {f.name for f in fields(cls) if f.name != "options"}
    _no_unknown(source, name, raw, known)
    defaults = cls()
    values = {}
    for f in fields(cls):
        if f.name == "options" or f.name not in raw:
            continue
        expected = type(getattr(defaults, f.name))
        value = raw[f.name]
        if getattr(defaults, f.name) is None:
            values[f.name] = value
            continue
        values[f.name] = _typed(source, f"{name}.{f.name}", value, expected)
    return cls(**values)


def _typed(source: str, key: str, value: Any, expected: type) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list and isinstance(value, list):
        return value
    if isinstance(value, bool) and expected is not bool:
        raise ConfigError(f"{source}: {key} must be {expected.__name__}, got a boolean")
    if not isinstance(value, expected):
        raise ConfigError(
            f"{source}: {key} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _no_unknown(source: str, where: str, raw: Mapping[str, Any], known: set[str]) -> None:
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = (
                f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(sorted(known))}"
            )
            place = f"[{where}] " if where else ""
            raise ConfigError(f"{source}: {place}unknown key {key!r}{hint}")


def check_choice(source: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    """ConfigError naming ``key`` and the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ConfigError(f"{source}: {key} = {value!r}; choose one of {', '.join(allowed)}")


def _positive(source: str, key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{source}: {key} must be >= 1, got {value}")


_DEPRECATED = {
    "EXECUTORS": ("rengo.transport.executor_names()", executor_names),
    "STRATEGIES": ("rengo.hfl.strategy_registry()", lambda: tuple(strategy_registry())),
    "STRATEGY_OPTIONS": (
        "rengo.hfl.strategy_registry()[name].options",
        lambda: {n: set(e.options) for n, e in strategy_registry().items()},
    ),
    "INTEGER_OPTIONS": (
        "rengo.hfl.strategy_registry()[name].options[key].type",
        lambda: {
            k for e in strategy_registry().values() for k, o in e.options.items() if o.type is int
        },
    ),
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        replacement, value = _DEPRECATED[name]
        warnings.warn(
            f"rengo.jobs.spec.{name} is deprecated: use {replacement}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

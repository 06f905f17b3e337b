"""Job files: a TOML description of a federated run, validated with errors that name the fix.

[job]       name, kind ("hfl"), seed, rounds, executor, workers, round_timeout,
            on_short_round (fail | skip), max_skipped_rounds: what a round short of clients does
[data]      dataset (digits | breast_cancer | wine | iris | diabetes | csv | parquet | idx),
            path, label, id_column, task (auto | classification | regression), test_size,
            standardize, images, labels (idx files),
            client_test_size (each client's own held-out share, for per-client evaluation),
            delimiter, encoding, decimal (how a csv table is written: ";", "cp1252", ","),
            categorical (text columns one-hot encoded), categorical_auto, unseen_category,
            max_categories, exposure (model.type = "poisson": each row's exposure column)
[data.categories]  column = ["a", "b", ...]: a categorical column's declared categories
            (every client encodes into the same columns; see rengo.data.categorical)
[partition] scheme (iid | dirichlet | shards | quantity), num_clients, and the scheme's
            options (alpha, min_size, ...)
[model]     type (mlp | logistic | linear: least squares, poisson: counts with a log link, for
            data.task = "regression"), hidden
[train]     lr, local_epochs, batch_size, device (cpu | cuda | cuda:N | mps | auto), lr_decay
            (per round), optimizer (sgd | adam), momentum, weight_decay (mlp)
[strategy]  name (any registered strategy: ``rengo strategies`` lists them), fraction_fit,
            min_fit_clients, fraction_evaluate, min_evaluate_clients (default: the
            strategy's own; personalising strategies evaluate every client),
            min_available_clients, and the strategy's own options (its dataclass fields,
            typed by their annotations)
[privacy]   dp (none | central | local) and the fields of rengo.privacy.CentralDP / LocalDP;
            secagg = true and secagg_* (the fields of rengo.privacy.SecAgg)
[robust]    attack (a registered attack simulator), attackers, and the attack's fields
[dropout]   dropout, stragglers, evaluate: clients lost from rounds at random, reproducibly
            from the seed (:class:`rengo.hfl.SimulatedDropout`; simulations only)
[result_checks]  max_claimed_examples, max_weight_ratio, max_update_norm_ratio,
            max_evaluation_weight_ratio, max_evaluation_loss_ratio: the coordinator's checks
            of every fit result, and of evaluation results' claimed examples and losses
            (:class:`rengo.hfl.ResultChecks`)
[deploy]    parties, quorum, start_deadline, slow_after, slow_rounds: how a deployed
            coordinator (``rengo coordinator``) starts and whom it stops waiting for
[executor.NAME]  executor NAME's own options, passed to its pool when the job runs on it
            (``[executor.ray]``: address, num_cpus_per_client, num_gpus_per_client,
            memory_per_client, init_options, unrunnable_wait_s), checked by the pool
            when it is made

Every key of every section is a field of one of the dataclasses below (or of the strategy,
partition scheme or vertical algorithm it names): its type comes from the annotation and its
range from :func:`rengo.core.options.option` next to it, and one function,
:func:`rengo.core.options.options_from_mapping`, checks them all. A bad value is a
:class:`~rengo.core.errors.ConfigError` naming the key (``job.rounds must be in [1,
1000000], got 0``), never another exception.
[checkpoints]  keep_last, every (:class:`rengo.hfl.CheckpointRetention`)
[compression]  update (none | float16 | int8 | topk), fraction (topk), chunk (int8),
            error_feedback (topk): how each client's update travels to the coordinator;
            model (none | float16 | int8): how the global model travels to the clients
            (:class:`rengo.hfl.UpdateCompression`; under ``[privacy] secagg = true`` only
            ``model``: update must be none)
[early_stopping] metric, patience, min_delta, mode: end the run once a round metric has not
            improved for ``patience`` rounds, keeping the best round's checkpoint
            (:class:`rengo.hfl.EarlyStopping`)
[contribution] method, metric, budget, currency, policy
            (:class:`rengo.jobs.ContributionSettings`; horizontal and vertical jobs;
            method "or" is refused with ``[privacy] secagg = true``)
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from rengo.core.errors import ConfigError
from rengo.core.options import (
    option,
    option_specs,
    options_from_mapping,
    passed_on,
    unknown_key_error,
)
from rengo.core.roles import validate_party_name
from rengo.data.categorical import CategoricalColumns
from rengo.data.class_weights import CLASS_WEIGHT_HELP, NO_CLASS_WEIGHT, class_weight_text
from rengo.data.exposure import check_exposure_column
from rengo.data.partition import partition_options
from rengo.hfl.checkpoints import CheckpointRetention
from rengo.hfl.early_stopping import EarlyStopping
from rengo.hfl.result_checks import ResultChecks
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.registry import (
    get_strategy,
    option_values,
    strategy_from_app,
    strategy_options,
    strategy_registry,
)
from rengo.hfl.update_compression import UpdateCompression
from rengo.jobs.categorical_keys import (
    CSV_TABLE_KEYS,
    categorical_auto_option,
    max_categories_option,
    unseen_category_option,
)
from rengo.jobs.contribution import ContributionSettings, check_secagg, parse_contribution
from rengo.jobs.state_dict import MODEL_TYPES, NUMPY_MODELS
from rengo.transport.executors import executor_names
from rengo.transport.straggler import StragglerWait

if TYPE_CHECKING:
    from rengo.hfl.mods.dropout import SimulatedDropout
    from rengo.jobs.privacy_spec import PrivacySection
    from rengo.jobs.robust_spec import RobustSection
    from rengo.jobs.vertical_spec import VflSection
    from rengo.vfl.registry import Output

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODELS = MODEL_TYPES  # every model.type a horizontal job takes
COMMON_STRATEGY_KEYS = {"name", "app", *strategy_options(Strategy)}
"""Keys every [strategy] takes: its name (or app) and the base Strategy's sampling options."""
MAX_ROUNDS = 1_000_000
MAX_CLIENTS = 100_000
DEFAULT_MIN_AVAILABLE_CLIENTS = 2
"""``[strategy] min_available_clients`` left out: lowered to a job of one client, where a
value the job sets is kept (and refused if the job has fewer clients or parties)."""
WEEK_S = 7 * 24 * 3600.0
SectionT = TypeVar("SectionT")


@dataclass
class JobSection:
    """``[job]``: what the run is called, how long it runs and where."""

    name: str = option("job", "Run name in the run store.")
    kind: Literal["hfl", "vfl"] = option("hfl", "Horizontal (hfl) or vertical (vfl).")
    seed: int = option(0, "Seed of the split, the partition, sampling and training.", ge=0)
    rounds: int = option(10, "Federated rounds.", ge=1, le=MAX_ROUNDS)
    executor: str = option("serial", "Simulation executor (see rengo strategies).")
    workers: int | None = option(None, "Worker processes of the executor.", ge=1, le=4096)
    round_timeout: float | None = option(
        None, "Seconds a client may take per exchange.", gt=0, le=WEEK_S
    )
    on_short_round: Literal["fail", "skip"] = option(
        "fail",
        "A round fewer than strategy.min_fit_clients report in: fail the run, or skip it "
        "(keep the model, record the round as skipped, go on; simulations only).",
    )
    max_skipped_rounds: int = option(
        10,
        "With on_short_round = 'skip': the most rounds in a row skipped; one more fails the run.",
        ge=0,
        le=MAX_ROUNDS,
    )


@dataclass
class DataSection:
    """``[data]``: the table to learn from and its held-out share."""

    dataset: str = option("digits", "Bundled dataset, or csv | parquet | idx.")
    path: str | None = option(None, "The csv or parquet file.")
    label: str | None = option("y", "Label column of a csv or parquet table.")
    id_column: str | None = option(None, "ID column of a csv or parquet table (dropped).")
    task: Literal["auto", "classification", "regression"] = option(
        "auto",
        "auto: text and whole-number labels are classes and fractional ones a continuous "
        "target, but whole numbers that look continuous (over 20 of them, under 5 rows "
        "each) are refused; classification: the labels are class codes, however many; "
        "regression: the label is a continuous target (model.type linear or mlp).",
    )
    test_size: float = option(0.2, "Held-out share.", gt=0, lt=1)
    standardize: bool = option(
        True,
        "Z-score features (and a regression target) with the training rows' statistics.",
    )
    images: str | None = option(None, "IDX images file.")
    labels: str | None = option(None, "IDX labels file.")
    client_test_size: float = option(
        0.0, "Each client's own held-out share, for per-client evaluation (0: none).", ge=0, lt=1
    )
    delimiter: str = option(
        ",", "Field separator of a csv table (';' for a spreadsheet export that writes 0,5)."
    )
    encoding: str = option(
        "utf-8", "Text encoding of a csv table (cp1252: a Windows spreadsheet's export)."
    )
    decimal: Literal[".", ","] = option(".", "Decimal separator of a csv table's numbers.")
    categorical: list[str] = option(
        [], "Text feature columns of a csv table, one-hot encoded (region=north, ...)."
    )
    categorical_auto: bool = categorical_auto_option("a csv table")
    unseen_category: Literal["zeros", "error"] = unseen_category_option("A cell")
    max_categories: int = max_categories_option()
    categories: dict[str, list[str]] = field(
        default_factory=dict,
        metadata={
            "option": False,
            "help": "[data.categories] column = [names]: declared categories, in order.",
        },
    )
    exposure: str | None = option(
        None,
        "model.type = 'poisson': the csv column of each row's exposure (years insured; "
        "E[y] = exposure * exp(x w + b)), kept out of the features and on its client.",
    )


def categorical_request(
    source: str, section: str, table: DataSection | VflSection
) -> CategoricalColumns:
    """The categorical columns a ``[data]`` or ``[vfl]`` section asks for, checked.

    Raises
    ------
    ConfigError
        Naming ``source`` and ``section``: both ``categorical`` and ``categorical_auto``,
        or malformed declared categories.
    """
    if table.categorical and table.categorical_auto:
        raise ConfigError(
            f"{source}: {section}.categorical names columns and {section}.categorical_auto "
            "takes every text column: give one of them"
        )
    columns: list[str] | Literal["auto"] = "auto" if table.categorical_auto else table.categorical
    declared = table.categories if isinstance(table, DataSection) else {}
    try:
        return CategoricalColumns.checked(
            columns, declared, table.unseen_category, table.max_categories
        )
    except ConfigError as exc:
        where = f"[{section}.categories]" if declared else f"[{section}]"
        raise ConfigError(f"{source}: {where} {exc}") from None


def check_csv_format(source: str, section: str, table: DataSection | VflSection) -> None:
    """Refuse a ``delimiter``, ``encoding`` or ``decimal`` a CSV file cannot be read with,
    naming the job file and the key (``data.delimiter must be one character ...``).

    Raises
    ------
    ConfigError
        As :meth:`rengo.data.csv_table.CsvFormat.checked`, with the key named.
    """
    from rengo.data.csv_table import CsvFormat

    try:
        CsvFormat.checked(table.delimiter, table.encoding, table.decimal)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {section}.{exc}") from None


@dataclass
class PartitionSection:
    """``[partition]``: how the rows are dealt to clients; ``options`` are the scheme's."""

    scheme: str = option("iid", "iid | dirichlet | shards | quantity.")
    num_clients: int = option(10, "Simulated clients.", ge=1, le=MAX_CLIENTS)
    options: dict[str, Any] = passed_on("The scheme's own options (alpha, min_size...).")


@dataclass
class ModelSection:
    """``[model]``: the model every client trains."""

    type: Literal["mlp", "logistic", "linear", "poisson"] = option(
        "mlp",
        "mlp (PyTorch), logistic (numpy classifier), linear (numpy least squares) or poisson "
        "(numpy Poisson regression of counts, log link), the last two for data.task = "
        "'regression'.",
    )
    hidden: list[int] = option([64, 64], "Hidden layer widths of the MLP.", ge=1, le=65_536)
    app: str | None = option(
        None,
        "Your own model, for `rengo coordinator`: module:callable returning its initial "
        "parameters (a list of arrays or a torch.nn.Module), found beside the job file or "
        "in the working folder; the coordinator then needs no [data], and each party brings "
        "its client with `rengo party --app`.",
    )


@dataclass
class TrainSection:
    """``[train]``: every client's local training."""

    lr: float = option(0.05, "Learning rate.", gt=0, le=1000)
    local_epochs: int = option(1, "Local epochs per round.", ge=1, le=10_000)
    batch_size: int = option(32, "Local mini-batch size.", ge=1, le=2**31 - 1)
    device: str = option("cpu", "Where clients train: cpu, cuda, cuda:N, mps or auto.")
    lr_decay: float = option(
        1.0, "Multiply the clients' learning rate by this every round (1: constant).", gt=0, le=1
    )
    optimizer: Literal["sgd", "adam"] = option(
        "sgd", "The clients' optimiser (mlp): sgd or adam, made anew every round."
    )
    momentum: float = option(0.0, "SGD's momentum (mlp; 0: none).", ge=0, lt=1)
    weight_decay: float = option(0.0, "The optimiser's L2 weight decay (mlp).", ge=0, le=1)
    class_weight: str = option(
        NO_CLASS_WEIGHT,
        CLASS_WEIGHT_HELP + " Balanced counts each client's own rows (private).",
        convert=class_weight_text,
    )

    def check(self, source: str, model_type: str) -> None:
        """Refuse optimiser settings the model cannot train with: momentum with Adam (whose
        moments are its betas), and any but plain SGD for the numpy models.

        Raises
        ------
        ConfigError
            Naming the key and what to set instead.
        """
        if self.optimizer == "adam" and self.momentum:
            raise ConfigError(
                f"{source}: train.momentum = {self.momentum} is SGD's; with train.optimizer = "
                "'adam' remove it (Adam keeps its own moments)"
            )
        chosen = self.optimiser_keys_set()
        if model_type in NUMPY_MODELS and chosen:
            raise ConfigError(
                f"{source}: train.{chosen[0]} = {getattr(self, chosen[0])!r}: model.type = "
                f"{model_type!r} trains with numpy minibatch SGD; use model.type = 'mlp' "
                "for another optimiser, or remove the key"
            )

    def optimiser_keys_set(self) -> list[str]:
        """The optimiser keys (``optimizer``, ``momentum``, ``weight_decay``) this section
        sets to other than their defaults: what only a job's own MLP clients honour."""
        defaults = TrainSection()
        return [
            key
            for key in ("optimizer", "momentum", "weight_decay")
            if getattr(self, key) != getattr(defaults, key)
        ]


@dataclass
class StrategySection:
    """``[strategy]``: the registered strategy, its sampling and its own ``options``."""

    name: str = option("fedavg", "Any registered strategy (rengo strategies).")
    app: str | None = option(
        None,
        "Your own strategy: module:Class, a Strategy dataclass found beside the job file or "
        "in the working folder; its fields are its [strategy] options, and strategy.name is "
        "the name it is registered under.",
    )
    fraction_fit: float = option(1.0, "Share of clients sampled per round.", gt=0, le=1)
    min_fit_clients: int = option(2, "Fewest results a round needs.", ge=1, le=MAX_CLIENTS)
    fraction_evaluate: float | None = option(
        None, "Share sampled for evaluation (0: off; default: the strategy's own).", ge=0, le=1
    )
    min_evaluate_clients: int | None = option(
        None, "Fewest clients evaluating (default: the strategy's own).", ge=0, le=MAX_CLIENTS
    )
    min_available_clients: int = option(
        DEFAULT_MIN_AVAILABLE_CLIENTS,
        "A round needs this many clients available (the default: at most the job's clients).",
        ge=1,
        le=MAX_CLIENTS,
    )
    options: dict[str, Any] = passed_on("The strategy's own options.")


@dataclass
class DeploySection:
    """``[deploy]``: how a deployed coordinator (``rengo coordinator``) starts the run and
    whom it stops waiting for; simulation ignores it."""

    parties: list[str] | None = option(
        None, "Parties to wait for before round 1 (default: the job's clients)."
    )
    quorum: int | None = option(
        None, "Start with this many of them once start_deadline passed (default: all).", ge=1
    )
    start_deadline: float = option(
        300.0, "Seconds to wait for the parties before round 1.", gt=0, le=WEEK_S
    )
    slow_after: int = option(
        3,
        "Rounds in a row a party may miss the round timeout before it is not waited for.",
        ge=0,
        le=1000,
    )
    slow_rounds: int = option(
        5, "Rounds a slow party sits out before it is tried again.", ge=1, le=MAX_ROUNDS
    )
    straggler_factor: float = option(
        10.0,
        "Once half the parties of an exchange answered, the rest may take this many times as "
        "long (0: wait for every party, up to job.round_timeout).",
        ge=0,
        le=1_000_000,
    )
    straggler_grace: float = option(
        60.0,
        "Seconds the rest may take past the first half however fast it was.",
        ge=0,
        le=WEEK_S,
    )

    heartbeat_timeout: float = option(
        10.0,
        "Seconds without a whole frame from a party before it is dropped (a heartbeat every "
        "2 s): a 256 KiB chunk must cross the party's link within it, so raise it for links "
        "under about 210 kbit/s; a lower one notices a dead link sooner.",
        gt=2.0,
        le=WEEK_S,
    )
    straggler_link_kbps: float = option(
        128.0,
        "A party's own transfer time (its request arriving, its reply leaving) is added to "
        "its straggler wait while its bytes move at least this many kbit/s.",
        gt=0,
        le=100_000_000,
    )

    def stragglers(self) -> StragglerWait | None:
        """The deployed rounds' straggler rule (``None`` with ``straggler_factor = 0``)."""
        if self.straggler_factor == 0:
            return None
        return StragglerWait(
            factor=self.straggler_factor,
            grace=self.straggler_grace,
            slowest_link=self.straggler_link_kbps * 1000 / 8,
        )


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
    deploy: DeploySection = field(default_factory=DeploySection)
    result_checks: ResultChecks | None = None
    privacy: PrivacySection | None = None
    robust: RobustSection | None = None
    checkpoints: CheckpointRetention = field(default_factory=CheckpointRetention)
    contribution: ContributionSettings | None = None
    compression: UpdateCompression | None = None
    early_stopping: EarlyStopping | None = None
    """``[early_stopping]``: the settings; each run watches with its own copy
    (:func:`rengo.jobs.build.run_observers`)."""
    executor_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[executor.NAME]``: each executor's own options, passed to its pool when the job
    runs on it (``[executor.ray]``: ``address``, ``num_cpus_per_client``...); the pool
    checks their names and values when it is made. Keyed by executor, so ``--executor``
    may change without dropping the section."""
    dropout: SimulatedDropout | None = None
    """``[dropout]``: the simulated dropouts and stragglers installed on every client
    (:class:`rengo.hfl.SimulatedDropout`); None without the section."""


def load_job(path: str | Path, overrides: Sequence[str] = (), *, load_apps: bool = True) -> JobSpec:
    """Read and validate a TOML job file; relative data paths resolve against its folder.

    Parameters
    ----------
    path
        The job file.
    overrides
        ``"section.key=value"`` settings applied over the file before it is validated
        (``rengo run JOB --set train.lr=0.01``; see :func:`rengo.jobs.apply_overrides`).
    load_apps
        Import ``[strategy] app`` (run its module) to check its options; False for a
        reader of a stored job that does not train (``rengo runs export``), as
        :func:`parse_job` says.

    Returns
    -------
    JobSpec
        The validated job.

    Raises
    ------
    ConfigError
        Naming the file (and the overrides), the key and the fix.
    """
    return job_from_document(path, read_job_document(path), overrides, load_apps=load_apps)


def read_job_document(path: str | Path) -> dict[str, Any]:
    """A job file's TOML, parsed but not validated: what :func:`job_from_document` turns into
    a job, once per set of overrides (``rengo sweep`` reads its job file once for every cell).

    Raises
    ------
    ConfigError
        Naming the file: a folder, no such file, or not valid TOML.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"job file {p} is a folder, not a job file (TOML)")
    if not p.is_file():
        raise ConfigError(f"job file {p} does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc


def job_from_document(
    path: str | Path,
    document: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    load_apps: bool = True,
) -> JobSpec:
    """The job that job file ``path``, read as ``document`` (:func:`read_job_document`),
    describes with ``overrides`` applied: exactly :func:`load_job`'s, without reading the
    file again (``document`` is not changed).

    Raises
    ------
    ConfigError
        As :func:`load_job`.
    """
    from rengo.jobs.overrides import apply_overrides, describe_overrides

    p = Path(path)
    raw = apply_overrides(document, overrides)
    spec = parse_job(
        raw, source=str(p) + describe_overrides(overrides), folder=p.parent, load_apps=load_apps
    )
    if spec.vfl is not None:
        for name, value in spec.vfl.parties.items():
            _check_job_relative(p, f"vfl.parties.{name}", value)
        spec.vfl.resolve_paths(p.parent)
    for attr in ("path", "images", "labels"):
        value = getattr(spec.data, attr)
        if value is not None and not Path(value).is_absolute():
            _check_job_relative(p, f"data.{attr}", value)
            setattr(spec.data, attr, str((p.parent / value).resolve()))
    return spec


def _check_job_relative(job_file: Path, key: str, value: str) -> None:
    """Refuse a relative path ``value`` that names no file beside ``job_file`` but one in the
    working folder: it is read from the job file's folder, and running the job there would
    stop with a bare "no such file" naming a path the user never wrote."""
    if Path(value).is_absolute() or (job_file.parent / value).exists() or not Path(value).exists():
        return
    raise ConfigError(
        f"{job_file}: {key} = {value!r} is read from the job file's folder "
        f"({job_file.parent.resolve()}), where there is no such file; the {value!r} in the "
        f"working folder is not read: give its path from the job file's folder, or an absolute "
        f"path ({Path(value).resolve()})"
    )


SECTIONS = (
    "job",
    "data",
    "partition",
    "model",
    "train",
    "strategy",
    "result_checks",
    "deploy",
    "privacy",
    "robust",
    "dropout",
    "checkpoints",
    "contribution",
    "compression",
    "early_stopping",
    "executor",
)


def parse_job(
    raw: Mapping[str, Any],
    source: str = "<dict>",
    folder: str | Path | None = ".",
    *,
    load_apps: bool = True,
) -> JobSpec:
    """Validate a job given as a mapping (the parsed TOML).

    Parameters
    ----------
    raw
        The job's sections.
    source
        What the job came from, for messages (the job file).
    folder
        Where ``[strategy] app`` is imported from (the job file's folder), besides the
        working folder.
    load_apps
        Import ``[strategy] app`` (which runs its module) to register the class and check
        its options against its fields. False for a caller that reads a stored job and
        does not train (exporting a run's arrays, writing its job file back): the app is
        not imported, its options are kept as given, and ``strategy.name`` is the job's,
        else the class name in lower case.

    Returns
    -------
    JobSpec
        The validated job.

    Raises
    ------
    ConfigError
        Naming the section and key: an unknown key (with the closest known one), a value of
        the wrong type or out of its declared range, or settings that do not fit together
        (e.g. data.path with a bundled data.dataset, which would never read it).

    Warns
    -----
    UserWarning
        Naming each key the job sets that its other settings make it ignore (model.hidden
        with a logistic model; data.label/id_column/images/labels with a dataset that does
        not read them; [vfl] num_parties/drop_fraction with [vfl.parties], label/id_column
        with a bundled vfl.dataset).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a job must be a table of sections")
    _no_unknown(source, "", raw, {*SECTIONS, "vfl"})
    job = parse_section(source, "job", raw.get("job", {}), JobSection)
    if not job.name.strip():  # refused by the run store only after the run banner
        raise ConfigError(f"{source}: job.name must be a non-empty string (the run's name)")
    if job.kind == "vfl":
        from rengo.jobs.vertical_spec import parse_vertical_job

        given = raw.get("job", {})
        if isinstance(given, Mapping) and "executor" in given:  # as `rengo run --executor`
            raise ConfigError(
                f"{source}: job.executor = {job.executor!r} picks where a horizontal job's "
                "clients train; this is a vertical job (simulated, its parties run in one "
                "process; deployed, each party runs where `rengo vfl party` starts it): "
                "remove job.executor"
            )

        vertical = parse_vertical_job(
            {k: v for k, v in raw.items() if k != "contribution"}, job, source
        )
        if "contribution" in raw:  # its metrics are those of what the algorithm predicts
            assert vertical.vfl is not None
            output = vertical.vfl.spec.output_of(vertical.vfl.options)
            vertical.contribution = parse_contribution(raw["contribution"], "vfl", source, output)
        return vertical
    if "vfl" in raw:
        raise ConfigError(f'{source}: [vfl] needs job.kind = "vfl"')
    data = _data_section(source, raw.get("data", {}))
    contribution = None
    if "contribution" in raw:  # a regression job's metric defaults to R^2
        target: Output = "values" if data.task == "regression" else "probability"
        contribution = parse_contribution(raw["contribution"], job.kind, source, target)
    partition = _partition_section(source, raw.get("partition", {}))
    model = parse_section(source, "model", raw.get("model", {}), ModelSection)
    unnamed = contribution is not None and raw["contribution"].get("metric", "auto") == "auto"
    if contribution is not None and unnamed and model.type == "poisson":  # counts: no R^2
        contribution = replace(contribution, metric="d2_poisson")
    train = parse_section(source, "train", raw.get("train", {}), TrainSection)
    strategy = _strategy_section(source, raw.get("strategy", {}), folder, load_apps)
    check_device(source, "train.device", train.device)
    if model.app is None:
        train.check(source, model.type)
    if strategy.name == "scaffold" and (train.optimizer != "sgd" or train.momentum):
        raise ConfigError(
            f"{source}: strategy.name = 'scaffold' corrects each client's SGD steps by its "
            "control variates, which assumes plain SGD: remove train.optimizer and "
            "train.momentum (or use another strategy)"
        )
    if model.type in NUMPY_MODELS and train.device not in ("cpu", "auto"):
        raise ConfigError(
            f"{source}: model.type = {model.type!r} trains with numpy on the CPU; train.device "
            f"must be 'cpu' (or 'auto'), got {train.device!r}"
        )
    check_model_fits_task(source, model, data)
    deploy = parse_section(source, "deploy", raw.get("deploy", {}), DeploySection)
    checks = None
    if "result_checks" in raw:
        checks = parse_section(source, "result_checks", raw["result_checks"], ResultChecks)
    _check(source, job, data, partition, strategy, deploy, model)
    _warn_unused_keys(source, raw, data, model)
    checkpoints = parse_section(
        source, "checkpoints", raw.get("checkpoints", {}), CheckpointRetention
    )
    spec = JobSpec(
        job,
        data,
        partition,
        model,
        train,
        strategy,
        source,
        None,
        deploy,
        checks,
        checkpoints=checkpoints,
        contribution=contribution,
        executor_options=_executor_options(source, raw.get("executor", {})),
    )
    if "privacy" in raw:
        from rengo.jobs.privacy_spec import parse_privacy

        spec.privacy = parse_privacy(source, raw["privacy"])
        if spec.privacy.dp == "local" and model.type != "mlp":
            raise ConfigError(f'{source}: privacy.dp = "local" (DP-SGD) needs model.type = "mlp"')
        per_update = sorted(
            {"max_weight_ratio", "max_update_norm_ratio"} & set(raw.get("result_checks", {}))
        )
        if spec.privacy.secagg is not None and per_update:
            raise ConfigError(
                f"{source}: result_checks.{per_update[0]} compares each update with the "
                "round's others, and secure aggregation (privacy.secagg = true) shows the "
                "coordinator only their sum, so it would never run: remove it"
            )
        if spec.privacy.dp == "central" and per_update:
            raise ConfigError(
                f"{source}: result_checks.{per_update[0]} compares each update with the "
                "round's median, so under central DP (privacy.dp = 'central') one client "
                "would change which others count, past the clip norm's bound: remove it"
            )
        if spec.privacy.secagg is not None and contribution is not None:
            check_secagg(contribution, f"{source}: ")
        private = spec.privacy.secagg is not None or spec.privacy.dp == "central"
        if private and spec.result_checks is not None:
            # the section's other keys hold; its median rules, on by default, cannot
            spec.result_checks = spec.result_checks.without_median_rules()
    if "compression" in raw:
        spec.compression = _compression_section(source, raw["compression"], spec)
    if "robust" in raw:
        from rengo.jobs.robust_spec import parse_robust

        spec.robust = parse_robust(source, raw["robust"])
    if "early_stopping" in raw:
        spec.early_stopping = _early_stopping_section(source, raw["early_stopping"])
    if "dropout" in raw:
        from rengo.hfl.mods.dropout import SimulatedDropout

        spec.dropout = parse_section(source, "dropout", raw["dropout"], SimulatedDropout)
    return spec


def _early_stopping_section(source: str, raw: Any) -> EarlyStopping:
    """[early_stopping]: the metric watched and the patience (whether the run records that
    metric is checked once the strategy is built, :func:`rengo.jobs.build.build_strategy`)."""
    return parse_section(source, "early_stopping", raw, EarlyStopping)


def check_model_fits_task(source: str, model: ModelSection, data: DataSection) -> None:
    """Refuse a model that cannot learn the task the job names: a logistic model of a
    continuous target, a linear (least-squares) model of classes. With ``task = "auto"``
    the table decides, when the job is built.

    Raises
    ------
    ConfigError
        Naming model.type, data.task and the models that fit.
    """
    if model.app is not None:
        return
    if data.task == "regression" and model.type == "logistic":
        raise ConfigError(
            f"{source}: model.type = 'logistic' is a classifier and data.task = 'regression' "
            "a continuous target: use model.type = 'linear' (least squares) or 'mlp'"
        )
    if data.task == "classification" and model.type in ("linear", "poisson"):
        fits = "a continuous target (least squares)" if model.type == "linear" else "counts"
        raise ConfigError(
            f"{source}: model.type = {model.type!r} fits {fits} and "
            "data.task = 'classification' names classes: use model.type = 'logistic' or "
            "'mlp', or data.task = 'regression'"
        )
    _check_exposure_key(source, model, data)


def _check_exposure_key(source: str, model: ModelSection, data: DataSection) -> None:
    """ConfigError for ``data.exposure`` with a model that takes none, a table that is not
    csv, or naming the label or ID column."""
    if data.exposure is None:
        return
    if model.type != "poisson":
        raise ConfigError(
            f"{source}: data.exposure = {data.exposure!r} is a count model's exposure (the "
            f"offset log(exposure)), and model.type = {model.type!r} takes none: set "
            'model.type = "poisson", or remove data.exposure'
        )
    if data.dataset != "csv":
        raise ConfigError(
            f"{source}: data.exposure names a column of a csv table, and data.dataset = "
            f'{data.dataset!r}: give data.dataset = "csv" and data.path'
        )
    check_exposure_column(data.exposure, data.label, data.id_column, f"{source}: data.exposure =")


def _compression_section(source: str, raw: Any, spec: JobSpec) -> UpdateCompression:
    """[compression]: the codecs and their options; an update codec is refused under secure
    aggregation (no update to decode) and any codec where clients send no model
    (q-FedAvg); a key its codec does not read warns."""
    section = parse_section(source, "compression", raw, UpdateCompression)
    if not section.active:
        return section
    named = " and ".join(
        f"compression.{key} = {getattr(section, key)!r}"
        for key in ("update", "model")
        if getattr(section, key) != "none"
    )
    if spec.privacy is not None and spec.privacy.secagg is not None and section.enabled:
        raise ConfigError(
            f"{source}: compression.update = {section.update!r} with privacy.secagg = true: "
            "secure aggregation already quantises every update into its ring "
            "(privacy.secagg_quantisation_bits) and the coordinator sees only their sum, "
            "never an update to decode; set update = 'none' (the model can still travel "
            "compressed: compression.model)"
        )
    if spec.strategy.name == "qfedavg":
        raise ConfigError(
            f"{source}: {named} with strategy.name = 'qfedavg': compression encodes (or "
            "re-bases) each client's model against the global model, and q-FedAvg's "
            "clients send their step and h_k instead; remove [compression]"
        )
    readers = {"fraction": ("topk",), "error_feedback": ("topk",), "chunk": ("int8",)}
    for key, codecs in readers.items():
        if key in raw and section.update not in codecs and section.model not in codecs:
            warn_unused_key(source, f"compression.{key}", named)
    return section


def parse_section(source: str, name: str, raw: Any, cls: type[SectionT]) -> SectionT:
    """One ``[name]`` table as the dataclass ``cls``: every key one of its fields, each value
    of the field's type and in its range.

    Raises
    ------
    ConfigError
        Naming ``name.key`` and the fix.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table, got {type(raw).__name__}")
    _no_unknown(source, name, raw, {spec.name for spec in option_specs(cls)})
    return options_from_mapping(cls, raw, label=lambda key: f"{name}.{key}", where=f"{source}: ")


def _data_section(source: str, raw: Any) -> DataSection:
    """[data] and its [data.categories] table (column = [names]), both checked."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [data] must be a table, got {type(raw).__name__}")
    declared = raw.get("categories", {})
    if not isinstance(declared, Mapping):
        raise ConfigError(
            f"{source}: data.categories must be a table of column = [names] "
            f'([data.categories] region = ["north", "south"]), got {declared!r}'
        )
    section = parse_section(
        source, "data", {k: v for k, v in raw.items() if k != "categories"}, DataSection
    )
    section.categories = {str(k): v for k, v in declared.items()}
    request = categorical_request(source, "data", section)
    section.categories = {c: list(names) for c, names in request.categories.items()}
    return section


def _executor_options(source: str, raw: Any) -> dict[str, dict[str, Any]]:
    """[executor.NAME]: a table of executor NAME's own options, passed on to its pool."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [executor] must be a table, got {type(raw).__name__}")
    options: dict[str, dict[str, Any]] = {}
    for name, table in raw.items():
        check_choice(source, "[executor.NAME]", name, executor_names())
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"{source}: [executor.{name}] must be a table of {name}'s options (e.g. "
                f"[executor.ray] num_cpus_per_client = 2), got {type(table).__name__}"
            )
        options[name] = dict(table)
    return options


def _partition_section(source: str, raw: Any) -> PartitionSection:
    """[partition]: the scheme, the number of clients and the scheme's own options."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [partition] must be a table, got {type(raw).__name__}")
    own = {f.name for f in fields(PartitionSection) if f.name != "options"}
    section = parse_section(
        source, "partition", {k: v for k, v in raw.items() if k in own}, PartitionSection
    )
    try:
        section.options = partition_options(
            section.scheme, {k: v for k, v in raw.items() if k not in own}
        )
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return section


def _strategy_section(
    source: str, raw: Any, folder: str | Path | None, load_apps: bool = True
) -> StrategySection:
    """[strategy]: a registered name (or the user's own class, ``app``), the shared sampling
    keys, and the strategy's own options as its dataclass fields declare them; the
    strategy's own range checks run here too, so a job that parses builds. Without
    ``load_apps``, an ``app`` is not imported (:func:`_unloaded_app_section`)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [strategy] must be a table, got {type(raw).__name__}")
    strat_raw = dict(raw)
    name = strat_raw.get("name", "fedavg")
    if not isinstance(name, str):
        raise ConfigError(
            f"{source}: [strategy] strategy.name must be str, got {type(name).__name__} {name!r}"
        )
    name = name.lower()
    app = strat_raw.get("app")
    if app is not None:
        if not isinstance(app, str):
            raise ConfigError(f"{source}: [strategy] strategy.app must be str, got {app!r}")
        if not load_apps:
            return _unloaded_app_section(source, strat_raw, app)
        try:
            registered = strategy_from_app(app, folder).name
        except ConfigError as exc:
            raise ConfigError(f"{source}: [strategy] {exc}") from None
        if "name" in strat_raw and name != registered:
            raise ConfigError(
                f"{source}: [strategy] app = {app!r} is registered as {registered!r}, not "
                f"strategy.name = {name!r}: leave strategy.name out"
            )
        name = registered
    try:
        check_choice(source, "strategy.name", name, tuple(strategy_registry()))
    except ConfigError as exc:
        raise ConfigError(
            f'{exc}; or your own strategy class: [strategy] app = "module:Class"'
        ) from None
    entry = get_strategy(name)
    _no_unknown(source, "strategy", strat_raw, COMMON_STRATEGY_KEYS | set(entry.options))
    common = {k: strat_raw.pop(k) for k in list(strat_raw) if k in COMMON_STRATEGY_KEYS}
    common["name"] = name
    strategy = parse_section(source, "strategy", common, StrategySection)
    try:
        strategy.options = option_values(entry, strat_raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    missing = [
        o.name
        for o in entry.options.values()
        if o.default is dataclasses.MISSING and o.name not in strategy.options
    ]
    if missing:
        raise ConfigError(f"{source}: [strategy] {name} needs strategy.{missing[0]}")
    try:
        entry.cls(
            fraction_fit=strategy.fraction_fit,
            min_fit_clients=strategy.min_fit_clients,
            min_available_clients=strategy.min_available_clients,
            **evaluation_options(strategy),
            **strategy.options,
        )
    except (ValueError, TypeError) as exc:  # the strategy's own range checks
        raise ConfigError(f"{source}: [strategy] {name}: {exc}") from exc
    return strategy


def _unloaded_app_section(source: str, strat_raw: dict[str, Any], app: str) -> StrategySection:
    """[strategy] of a job whose ``app`` is not imported: the shared keys checked, the
    options kept as given, named as the job names it or by the class's name."""
    module, sep, cls = app.partition(":")
    if not sep or not module or not cls:
        raise ConfigError(f"{source}: [strategy] app {app!r} must look like 'module:Class'")
    common = {k: strat_raw.pop(k) for k in list(strat_raw) if k in COMMON_STRATEGY_KEYS}
    common["name"] = str(common.get("name", cls.rpartition(".")[2])).lower()
    strategy = parse_section(source, "strategy", common, StrategySection)
    strategy.options = strat_raw
    return strategy


def evaluation_options(strategy: StrategySection) -> dict[str, Any]:
    """The evaluation sampling keys the job sets; unset ones keep the strategy's own
    defaults (personalising strategies evaluate every client)."""
    return {
        k: v
        for k, v in (
            ("fraction_evaluate", strategy.fraction_evaluate),
            ("min_evaluate_clients", strategy.min_evaluate_clients),
        )
        if v is not None
    }


def _check(
    source: str,
    job: JobSection,
    data: DataSection,
    partition: PartitionSection,
    strategy: StrategySection,
    deploy: DeploySection,
    model: ModelSection,
) -> None:
    """What single fields cannot say: choices from registries, keys that need each other."""
    check_choice(source, "job.executor", job.executor, executor_names())
    if data.dataset in ("csv", "parquet") and not data.path:
        raise ConfigError(f"{source}: data.dataset = {data.dataset!r} needs data.path")
    if data.path is not None and data.dataset not in ("csv", "parquet"):
        guess = "parquet" if data.path.lower().endswith((".parquet", ".pq")) else "csv"
        raise ConfigError(
            f"{source}: data.path is set but data.dataset = {data.dataset!r}, which does not "
            f'read it; did you mean dataset = "{guess}"?'
        )
    if data.dataset == "csv":
        check_csv_format(source, "data", data)
    if data.dataset == "idx" and not (data.images and data.labels):
        raise ConfigError(f"{source}: data.dataset = 'idx' needs data.images and data.labels")
    # a served job ([model] app) has parties, not partition.num_clients: checked when built
    if model.app is None and strategy.min_fit_clients > partition.num_clients:
        raise ConfigError(
            f"{source}: strategy.min_fit_clients={strategy.min_fit_clients} exceeds "
            f"partition.num_clients={partition.num_clients}"
        )
    if 0 < deploy.straggler_factor < 1:
        raise ConfigError(
            f"{source}: deploy.straggler_factor must be 0 (off) or >= 1, "
            f"got {deploy.straggler_factor}"
        )
    if deploy.parties is not None:
        for name in deploy.parties:
            validate_party_name(name, f"{source}: deploy.parties entry")
        if len(set(deploy.parties)) != len(deploy.parties) or not deploy.parties:
            raise ConfigError(f"{source}: deploy.parties must be distinct names, at least one")
        if deploy.quorum is not None and deploy.quorum > len(deploy.parties):
            raise ConfigError(
                f"{source}: deploy.quorum={deploy.quorum} exceeds the "
                f"{len(deploy.parties)} deploy.parties"
            )


def _warn_unused_keys(
    source: str, raw: Mapping[str, Any], data: DataSection, model: ModelSection
) -> None:
    """A UserWarning for each key the job sets that its other settings make it ignore."""
    given = {
        f"{section}.{key}"
        for section in ("data", "model")
        if isinstance(raw.get(section), Mapping)
        for key in raw[section]
    }
    for key, why in ignored_keys(data, model).items():
        if key in given:
            warn_unused_key(source, key, why)


def ignored_keys(data: DataSection, model: ModelSection) -> dict[str, str]:
    """The ``[data]`` and ``[model]`` keys these sections' other settings make unused
    (``"section.key"``), each with the setting that does (``"model.type = 'logistic'"``)."""
    own_table = f"data.dataset = {data.dataset!r}"
    unused = {
        "model.hidden": model.type in NUMPY_MODELS and f"model.type = {model.type!r}",
        "data.label": data.dataset not in ("csv", "parquet") and own_table,
        "data.id_column": data.dataset not in ("csv", "parquet") and own_table,
        **{
            f"data.{key}": data.dataset != "csv" and own_table
            for key in (*CSV_TABLE_KEYS, "categories")
        },
        "data.images": data.dataset != "idx" and own_table,
        "data.labels": data.dataset != "idx" and own_table,
    }
    return {key: why for key, why in unused.items() if why}


def warn_unused_key(source: str, key: str, why: str) -> None:
    """Warn that the job file sets ``key`` but ``why`` (another setting) makes it unused."""
    warnings.warn(f"{source}: {key} is ignored with {why}", UserWarning, stacklevel=3)


def check_device(source: str, key: str, device: str) -> None:
    """ConfigError unless ``device`` names a device kind (whether this machine has it is
    checked when the job runs, so a job file validates anywhere)."""
    kind, sep, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps", "auto") or (
        sep and not (kind == "cuda" and index.isdigit())
    ):
        raise ConfigError(
            f"{source}: {key} = {device!r}; choose one of cpu, cuda, cuda:N, mps, auto"
        )


def _no_unknown(source: str, where: str, raw: Mapping[str, Any], known: set[str]) -> None:
    for key in raw:
        if key not in known:
            place = f"[{where}] " if where else ""
            text = key if isinstance(key, str) else repr(key)
            raise unknown_key_error(text, known, f"{source}: {place}")


def check_choice(source: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    """ConfigError naming ``key``, the closest allowed value and all of them unless ``value``
    is one of them."""
    if value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{source}: {key} = {value!r}; {hint}choose one of {', '.join(allowed)}")


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

"""Turn a :class:`JobSpec` into the objects a run needs: data, clients, strategy, model.

The same :class:`HflJob` serves ``rengo run`` (simulation) and ``rengo coordinator`` /
``rengo party`` (deployment), so a job behaves identically wherever it runs.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any, Protocol

import numpy as np

from rengo.core.errors import ConfigError
from rengo.core.install_hint import install_hint
from rengo.core.messages import Metrics
from rengo.core.options import options_from_mapping
from rengo.core.parameters import Parameters
from rengo.crypto.signatures import simulated_identities
from rengo.data import (
    Dataset,
    FederatedDataset,
    dataset_names,
    federate,
    fit_standardization,
    load_csv,
    load_dataset,
    load_idx,
    load_parquet,
    train_test_split,
)
from rengo.data.categorical import source_columns
from rengo.data.class_weights import class_weights
from rengo.data.target_scaling import IDENTITY_SCALING
from rengo.hfl import (
    Bulyan,
    Client,
    ClientFn,
    CompressedUpdates,
    DifferentialPrivacy,
    FitWorkflow,
    Krum,
    LogisticRegressionClient,
    Mod,
    RoundObserver,
    SecAggMod,
    SecAggPlus,
    Strategy,
    get_strategy,
    softmax_init,
    softmax_loss_grad,
    softmax_predict,
    strategy_registry,
)
from rengo.hfl.numpy_client import softmax_probabilities
from rengo.hfl.privacy_fit import check_privacy_fits
from rengo.jobs.categorical_keys import CSV_TABLE_KEYS
from rengo.jobs.central_record import (
    CentralEvaluationRecord,
    class_one_probability,
    follow_early_stopping,
)
from rengo.jobs.data_files import BUNDLED_DATA, DATA_FILES, bundled_data, job_data_files
from rengo.jobs.numpy_clients import numpy_client_fn
from rengo.jobs.regression import (
    check_classification_settings,
    check_count_labels,
    check_regression_settings,
    is_regression,
    linear_job,
    poisson_job,
    scale_target,
)
from rengo.jobs.spec import (
    DEFAULT_MIN_AVAILABLE_CLIENTS,
    JobSpec,
    TrainSection,
    categorical_request,
    evaluation_options,
)
from rengo.jobs.vertical_spec import VflSection
from rengo.metrics import (
    average_precision,
    calibration,
    roc_auc,
)
from rengo.tracking.model_export import (
    CATEGORICAL_ENCODING,
    INPUT_SCALING,
    TARGET_SCALING,
    PartyCategories,
    input_scaling_config,
    target_scaling_config,
)


def __getattr__(name: str) -> Any:
    if name == "STRATEGY_CLASSES":
        warnings.warn(
            "rengo.jobs.STRATEGY_CLASSES is deprecated: use rengo.hfl.strategy_registry()",
            DeprecationWarning,
            stacklevel=2,
        )
        return {key: entry.cls for key, entry in strategy_registry().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CentralEvaluate(Protocol):
    """The coordinator's evaluation of a model on the test split; ``keep`` (the strategy's
    evaluation of the global model) also receives the probabilities it computed."""

    def __call__(
        self, params: Parameters, keep: CentralEvaluationRecord | None = None
    ) -> tuple[float, Metrics]:
        """The loss and metrics of ``params`` on the test split."""
        ...


@dataclass
class HflJob:
    """Everything a horizontal run needs, built from a job file."""

    spec: JobSpec
    federation: FederatedDataset
    client_fn: ClientFn
    strategy: Strategy
    initial_parameters: Parameters
    evaluate: Callable[[Parameters], tuple[float, Metrics]]
    client_mods: list[Mod] = field(default_factory=list)
    """Mods on every client (``[dropout]``'s simulated losses, then ``[robust]``'s attack
    simulators), for ``simulate``."""
    workflow: FitWorkflow | None = None
    """The round's fit stage: :class:`~rengo.hfl.SecAggPlus` with ``[privacy] secagg``."""
    data_files: dict[str, str] = field(default_factory=dict)
    """The SHA-256 of each data file the job read, by path (empty for a bundled dataset):
    computed once, when the job is built (:func:`~rengo.jobs.data_files.job_data_files`)."""
    evaluation_record: CentralEvaluationRecord | None = None
    """What the run records of the coordinator's evaluation on its test split (its row count,
    the kept model's reliability table), for ``simulate(..., observers=...)``
    (:func:`run_observers`); None without a test split."""

    @property
    def client_ids(self) -> list[str]:
        """Client names, in federation order."""
        return list(self.federation.client_ids)

    def run_config(self, entries: Mapping[str, Any]) -> dict[str, Any]:
        """What a run of this job records as its config: ``entries``, the job's settings, what
        it trained on (:data:`~rengo.jobs.data_files.DATA_FILES`, or for a bundled dataset
        :data:`~rengo.jobs.data_files.BUNDLED_DATA`), how its text columns were one-hot
        encoded and the input scaling the model is trained under (``rengo runs export``
        hands them over with the model), on every path that runs the job (``rengo run``,
        ``rengo coordinator``, the demo)."""
        settings = {**entries, JOB_SETTINGS: job_settings(self.spec)}
        if self.data_files:
            settings[DATA_FILES] = dict(self.data_files)
        bundled = bundled_data(self.spec)
        if bundled is not None:
            settings[BUNDLED_DATA] = bundled
        target = self.federation.target_scaling
        if target is not None:
            settings[TARGET_SCALING] = target_scaling_config(target)
        encoding = self.federation.categories
        if encoding is not None:  # with the table columns the model reads, in order
            columns = source_columns(self.federation.client(0).feature_names, encoding)
            settings[CATEGORICAL_ENCODING] = PartyCategories(encoding, tuple(columns)).to_json()
        scaler = self.federation.standardization
        if scaler is None:
            return settings
        return {**settings, INPUT_SCALING: input_scaling_config(scaler)}

    def simulation_observers(self, *extra: RoundObserver | None) -> list[RoundObserver]:
        """The observers a simulation of this job (``rengo run``) reports its rounds to
        (:func:`run_observers`): ``extra`` (a contribution tracker), the evaluation record and
        the early stopping, in the order a round checkpoint of an earlier release keys their
        state by (an observer's position is in its key): a classification's record (which
        kept its reliability table there) before the early stopping, a regression's (which
        had none) after it, so a run checkpointed then still resumes its early stopping.

        Parameters
        ----------
        *extra
            Observers of the caller's (None entries are skipped).

        Returns
        -------
        list
            The observers.
        """
        if self.federation.client(0).is_classification:
            return run_observers(self.spec, *extra, self.evaluation_record)
        return run_observers(self.spec, *extra, last=self.evaluation_record)

    def for_simulation(self) -> tuple[list[Mod], FitWorkflow | None]:
        """The client mods and the workflow a simulation of this job runs.

        Signed secure aggregation (``secagg_signed = true``) needs each client's certificate;
        a simulation has none, so each simulated client gets one from a throwaway CA made
        here (a deployed run uses the federation's real certificates instead).
        """
        mods, workflow = list(self.client_mods), self.workflow
        if isinstance(workflow, SecAggPlus) and workflow.config.signed and workflow.ca is None:
            ca, identities = simulated_identities(self.client_ids)
            workflow = SecAggPlus(workflow.config, ca=ca, model=workflow.model)
            mods.append(SecAggMod(identities))
        return mods, workflow


def run_observers(
    spec: JobSpec, *extra: RoundObserver | None, last: RoundObserver | None = None
) -> list[RoundObserver]:
    """The observers one run of ``spec`` reports its rounds to: ``extra`` (a contribution
    tracker, the job's :class:`~rengo.jobs.central_record.CentralEvaluationRecord`; None for
    none), with ``[early_stopping]`` a fresh :class:`~rengo.hfl.EarlyStopping` (a copy of
    the settings: each run watches its own rounds, a sweep's cells included), then ``last``.
    An evaluation record among them follows the early stopping, so it records the
    reliability table of the round the run keeps. Pass them to ``simulate(...,
    observers=...)`` when running a job file's job from Python, as ``rengo run`` does.

    Parameters
    ----------
    spec
        The job.
    *extra
        Observers of the caller's (None entries are skipped).
    last
        An observer placed after the early stopping (a deployed coordinator's evaluation
        record: an observer's position keys its state in the round checkpoints, so a run
        checkpointed before the coordinator kept one still resumes its early stopping).

    Returns
    -------
    list
        The observers, ``extra`` first.
    """
    observers = [o for o in extra if o is not None]
    if spec.early_stopping is not None:
        observers.append(replace(spec.early_stopping))
    if last is not None:
        observers.append(last)
    follow_early_stopping(observers)
    return observers


UNNOISED_CLIENT_MEANS = ("train_", "eval_")
"""How the round metrics that are un-noised means of the clients' own metrics start."""
JOB_SETTINGS = "job_settings"
"""The run config entry holding the job's settings (:func:`job_settings`)."""
RECORDED_WHEN_SET = {
    "data": (*CSV_TABLE_KEYS, "categories", "exposure"),
    "train": ("lr_decay", "optimizer", "momentum", "weight_decay", "class_weight"),
    "compression": ("model",),
    "result_checks": ("max_evaluation_loss_ratio",),
    "contribution": ("entities",),
    "strategy": ("app",),
}
"""Settings added after runs began to record theirs: recorded only when a job sets another
value than its section's default, so a run recorded before they existed still resumes (and
is repeated by ``--same-as``) with a job that leaves them out."""


DEPLOYED_ONLY_VFL_KEYS = ("max_message_mb", "rejoin_grace", "max_rejoins")
"""``[vfl]`` keys only a deployed run reads: not settings of what a simulation trains."""


def vertical_settings(vfl: VflSection) -> dict[str, Any]:
    """A vertical job's ``[vfl]`` settings as recorded: every key and option of its
    algorithm but those only a deployed run reads."""
    return {k: v for k, v in vfl.as_dict().items() if k not in DEPLOYED_ONLY_VFL_KEYS}


def job_settings(spec: JobSpec) -> dict[str, Any]:
    """The settings of a job that decide what its run trains, as plain values: recorded with
    the run, so a resume with other ones (an edited file, another ``--set``) is refused,
    naming each (``job_settings.train.lr 0.2, now 0.3``), and a study's cells are told apart
    and compared by them (``rengo sweep``, ``rengo runs compare``). Where the run executes
    (``job.executor``, ``job.workers``), its name, ``[deploy]`` and ``[checkpoints]`` are left
    out: a resume may change them; so are the :data:`RECORDED_WHEN_SET` at their defaults,
    and ``job.on_short_round`` / ``job.max_skipped_rounds`` under the default ``"fail"``.
    A vertical job's are its seed, its ``[vfl]`` section (every option of its algorithm) and
    its ``[contribution]``."""
    if spec.vfl is not None:
        vertical: dict[str, Any] = {
            "job": {"seed": spec.job.seed},
            "vfl": vertical_settings(spec.vfl),
        }
        if spec.contribution is not None:  # entities: a horizontal key, never set here
            valued = asdict(spec.contribution)
            del valued["entities"]
            vertical["contribution"] = valued
        return vertical
    job: dict[str, Any] = {"rounds": spec.job.rounds, "seed": spec.job.seed}
    if spec.job.on_short_round != "fail":  # only when set: runs recorded before still resume
        job.update(
            on_short_round=spec.job.on_short_round, max_skipped_rounds=spec.job.max_skipped_rounds
        )
    sections: dict[str, Any] = {
        "job": job,
        "data": spec.data,
        "partition": spec.partition,
        "model": spec.model,
        "train": spec.train,
        "strategy": spec.strategy,
        "privacy": spec.privacy,
        "robust": spec.robust,
        "result_checks": spec.result_checks,
        "contribution": spec.contribution,
        "compression": spec.compression,
        "early_stopping": spec.early_stopping,
        "dropout": spec.dropout,
    }
    settings = {
        name: asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
        for name, value in sections.items()
        if value is not None
    }
    for name, keys in RECORDED_WHEN_SET.items():
        if name not in settings:  # a section the job leaves out
            continue
        defaults = type(sections[name])()
        for key in keys:
            if settings[name][key] == getattr(defaults, key):
                del settings[name][key]
    return settings


def load_job_dataset(spec: JobSpec) -> Dataset:
    """The job's whole table (before the held-out split).

    Raises
    ------
    ConfigError
        For a data.dataset that is neither bundled nor csv, parquet or idx (naming the
        choices).
    DataError
        For an unreadable or malformed file (see :func:`~rengo.data.load_csv`).
    """
    d = spec.data
    if d.dataset == "csv":
        request = categorical_request(spec.source, "data", d)
        counts = spec.model.type == "poisson" and d.task == "auto"  # counts are a target
        return load_csv(
            d.path,  # type: ignore[arg-type]
            label=d.label,
            id_column=d.id_column,
            task="regression" if counts else d.task,
            delimiter=d.delimiter,
            encoding=d.encoding,
            decimal=d.decimal,
            categorical=request.columns,
            categories=request.categories,
            unseen=request.unseen,
            max_categories=request.max_categories,
            exposure=d.exposure,
        )
    if d.dataset == "parquet":
        return load_parquet(d.path, label=d.label, id_column=d.id_column, task=d.task)  # type: ignore[arg-type]
    if d.dataset == "idx":
        return load_idx(d.images, d.labels)  # type: ignore[arg-type]
    try:
        return load_dataset(d.dataset)
    except ConfigError:
        raise ConfigError(
            f"{spec.source}: data.dataset = {d.dataset!r}; choose a bundled table "
            f"({', '.join(dataset_names())}) or csv | parquet (with data.path) | idx (with "
            "data.images and data.labels) for your own file"
        ) from None


def build_federation(spec: JobSpec) -> FederatedDataset:
    """Held-out test split, then the partition among clients (standardised on train only).

    A regression target (:func:`~rengo.jobs.regression.is_regression`) is standardised
    with the features (``data.standardize``), by the training clients' pooled mean and
    spread (:func:`~rengo.jobs.regression.scale_target`).

    Raises
    ------
    ConfigError
        If the label is classes but fewer than 2, ``data.task`` or ``model.type`` does not
        fit the table, or (``data.task = "auto"``) the label looks like a continuous target
        of whole numbers: over 20 distinct ones with under 5 rows each.
    DataError
        For unreadable data, or (``data.standardize``) a column whose standardisation
        overflows, naming the file and column.
    """
    dataset = load_job_dataset(spec)
    fed = _federation(spec, dataset)
    return fed if dataset.categories is None else replace(fed, categories=dataset.categories)


def _federation(spec: JobSpec, dataset: Dataset) -> FederatedDataset:
    """:func:`build_federation` of the job's whole table ``dataset``."""
    regression = is_regression(spec, dataset)
    if not regression and dataset.num_classes < 2:  # "trained" to accuracy 1, loss 0
        raise ConfigError(
            f"{spec.source}: a classifier needs at least 2 classes; {dataset.name} has "
            f"{dataset.num_classes} ({', '.join(map(str, dataset.classes or []))})"
        )
    _refuse_id_column_as_feature(spec, dataset)
    if spec.model.type == "poisson":
        check_count_labels(spec, dataset)
    where = spec.data.path or dataset.name
    try:
        fed = federate(
            dataset,
            spec.partition.scheme,
            spec.partition.num_clients,
            seed=spec.job.seed,
            test_size=spec.data.test_size,
            **spec.partition.options,
        )
    except ConfigError as exc:  # the partitioners do not know the job's keys or file
        raise ConfigError(
            f"{spec.source}: [partition] scheme = {spec.partition.scheme!r}, num_clients = "
            f"{spec.partition.num_clients} on {where} ({len(dataset)} rows): {exc}"
        ) from None
    if spec.data.client_test_size > 0:
        try:
            fed = hold_out_per_client(fed, spec.data.client_test_size, spec.job.seed)
        except ConfigError as exc:
            raise ConfigError(
                f"{spec.source}: data.client_test_size = {spec.data.client_test_size}: {exc}"
            ) from None
    if not spec.data.standardize:
        return fed
    _warn_pooled_scaling_under_dp(spec)
    ids = list(fed.clients)
    train = _concat([fed.clients[c] for c in ids], name=f"{where} (clients' training rows)")
    scaler = fit_standardization(train)
    clients = {c: scaler.apply(fed.clients[c]) for c in ids}
    test = scaler.apply(fed.test) if fed.test is not None else None
    client_tests = None
    if fed.client_tests is not None:
        client_tests = {c: scaler.apply(d) for c, d in fed.client_tests.items()}
    scaled = FederatedDataset(
        clients=clients,
        test=test,
        name=fed.name,
        client_tests=client_tests,
        standardization=scaler,
    )
    # a count model's target stays counts: its log link has no use for a z-score
    return scale_target(scaled) if regression and spec.model.type != "poisson" else scaled


def _warn_pooled_scaling_under_dp(spec: JobSpec) -> None:
    """Warn that ``data.standardize`` under differential privacy scales every client's
    features (and a regression target) with the mean and spread of all clients' training
    rows: statistics computed without noise, recorded with the run and shaping every
    released model, which the reported epsilon does not cover."""
    privacy = spec.privacy
    if privacy is None or (privacy.central is None and privacy.local is None):
        return
    warnings.warn(
        f"{spec.source}: data.standardize = true with privacy.dp = {privacy.dp!r}: features "
        "(and a regression target) are scaled by the mean and spread of all clients' "
        "training rows, computed without noise, recorded with the run and shaping every "
        "released model, and the reported epsilon does not cover them; set "
        "data.standardize = false (and scale with public constants) for a guarantee that "
        "covers the whole run",
        UserWarning,
        stacklevel=2,
    )


def _warn_unnoised_stopping_under_dp(spec: JobSpec, watched: str) -> None:
    """Warn that early stopping under differential privacy which watches a mean of the
    clients' own metrics (``train_*``, ``eval_*``: un-noised) decides from them when the run
    stops and which round's model it keeps; the reported epsilon covers neither (a
    ``central_*`` metric, measured on the coordinator's own held-out rows, keeps them in)."""
    privacy = spec.privacy
    if privacy is None or (privacy.central is None and privacy.local is None):
        return
    if not watched.startswith(UNNOISED_CLIENT_MEANS):
        return
    warnings.warn(
        f"{spec.source}: early_stopping.metric = {watched!r} with privacy.dp = "
        f"{privacy.dp!r}: when the run stops and which round's model it keeps follow from "
        f"{watched}, a mean of the clients' own metrics computed without noise, and the "
        "reported epsilon does not cover that choice; watch a central_* metric (the "
        "coordinator's held-out rows) for a guarantee that covers the model it keeps",
        UserWarning,
        stacklevel=2,
    )


def hold_out_per_client(fed: FederatedDataset, share: float, seed: int) -> FederatedDataset:
    """Each client's rows split into its own training and test rows (its test rows follow its
    own label distribution: what personalised models are evaluated on).

    Raises
    ------
    ConfigError
        If a client has too few rows to hold any out.
    """
    small = [cid for cid in fed.client_ids if len(fed.clients[cid]) < 2]
    if small:
        first, others = small[0], small[1:]
        more = ""
        if others:
            named = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            more = f", and {len(others)} more of the {len(fed.client_ids)} clients ({named})"
        raise ConfigError(
            f"client {first} has {len(fed.clients[first])} row(s){more}: too few for a test "
            "split; give each client 2 rows ([partition] min_size = 2 with dirichlet or "
            "quantity), or fewer clients"
        )
    clients, tests = {}, {}
    for k, cid in enumerate(fed.client_ids):
        data = fed.clients[cid]
        count = min(max(1, round(share * len(data))), len(data) - 1)
        rng = np.random.default_rng([seed, k, 0xC7])
        clients[cid], tests[cid] = train_test_split(data, count, rng)
    return FederatedDataset(clients=clients, test=fed.test, name=fed.name, client_tests=tests)


_ID_NAME = re.compile(r"(?i:(?:^|[_\s.-])id)$|[a-z](?:ID|Id)$")
"""A column name that reads as an identifier: ``id``, ``customer_id``, ``Client ID``,
``customerID`` (not ``paid`` or ``grid``)."""


def _refuse_id_column_as_feature(spec: JobSpec, dataset: Dataset) -> None:
    """ConfigError for a user table whose column named like an ID, with a different value
    on every row, would train as a feature because ``data.id_column`` is not set.

    Every column but the label is a feature unless ``data.id_column`` names it, so a
    ``customer_id`` column of ``000123``-style IDs trained as the number 123 without a
    word: the model learnt from row numbers, and the run was recorded completed.
    """
    if spec.data.dataset not in ("csv", "parquet") or spec.data.id_column is not None:
        return
    for j, name in enumerate(dataset.feature_names):
        if not _ID_NAME.search(name.strip()):
            continue
        if np.unique(dataset.X[:, j]).size == len(dataset):
            raise ConfigError(
                f"{spec.source}: column {name!r} of {spec.data.path} is named like an ID and "
                "holds a different value on every row, but data.id_column is not set, so it "
                f'would train as a feature; set data.id_column = "{name}" (the column is then '
                "left out of the features), or rename the column if it is a real feature"
            )


def _concat(parts: list[Dataset], name: str) -> Dataset:
    first = parts[0]
    X = np.concatenate([p.X for p in parts])
    y = np.concatenate([p.labels() for p in parts])
    exposures = [p.exposure for p in parts if p.exposure is not None]
    exposure = np.concatenate(exposures) if len(exposures) == len(parts) else None
    return Dataset(X, y, first.feature_names, first.classes, name=name, exposure=exposure)


def build_strategy(
    spec: JobSpec, evaluate_fn: Any = None, *, clients: int | None = None
) -> Strategy:
    """The job's strategy with its sampling options and the round's training config.

    Parameters
    ----------
    spec
        The job.
    evaluate_fn
        The coordinator's evaluation of each round's model, if any.
    clients
        How many clients (deployed: parties) the job has; default
        ``partition.num_clients``. The default ``min_available_clients`` is lowered to it;
        a value the job sets is kept, for the caller to refuse if there are fewer.

    Returns
    -------
    Strategy
        The strategy (wrapped in central DP when ``[privacy]`` asks for it).

    Raises
    ------
    ConfigError
        If the strategy refuses its options or privacy settings.
    """
    s = spec.strategy
    cls = get_strategy(s.name).cls
    available = s.min_available_clients
    if available == DEFAULT_MIN_AVAILABLE_CLIENTS:  # a one-client job still runs
        available = min(available, spec.partition.num_clients if clients is None else clients)
    try:
        strategy = cls(
            fraction_fit=s.fraction_fit,
            min_fit_clients=s.min_fit_clients,
            min_available_clients=available,
            evaluate_fn=evaluate_fn,
            **evaluation_options(s),
            **s.options,
        )
    except ValueError as exc:  # the strategy's own range checks (e.g. proximal_mu >= 0)
        raise ConfigError(f"{spec.source}: [strategy] {s.name}: {exc}") from exc
    strategy.on_fit_config = functools.partial(_fit_config, spec.train)
    watched = spec.early_stopping.metric if spec.early_stopping is not None else ""
    if watched.startswith("eval_") and not strategy.fraction_evaluate:
        raise ConfigError(
            f"{spec.source}: early_stopping.metric = {watched!r} is measured by federated "
            f"evaluation, which {strategy.name} does not run (fraction_evaluate "
            f"{strategy.fraction_evaluate:g}): set strategy.fraction_evaluate, or watch a "
            "central_* metric (the held-out split)"
        )
    _warn_unnoised_stopping_under_dp(spec, watched)
    if spec.privacy is not None and spec.privacy.central is not None:
        try:
            return DifferentialPrivacy(strategy, spec.privacy.central)
        except ConfigError as exc:
            raise ConfigError(f"{spec.source}: [privacy] {exc}") from exc
    return strategy


def _fit_config(train: TrainSection, server_round: int) -> dict[str, Any]:
    """What every client is told for ``server_round``'s fit: the learning rate, decayed by
    ``lr_decay`` each round after the first, its epochs and batch size."""
    return {
        "lr": train.lr * train.lr_decay ** (server_round - 1),
        "local_epochs": train.local_epochs,
        "batch_size": train.batch_size,
    }


def torch_optimizer(
    params: Sequence[Any], lr: float, *, name: str, momentum: float, weight_decay: float
) -> Any:
    """The optimiser a job's PyTorch client makes for each fit (``[train] optimizer``,
    ``momentum``, ``weight_decay``), at that fit's learning rate. A module-level function,
    so a client factory holding it (through ``functools.partial``) reaches Ray's workers."""
    import torch

    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def build_workflow(spec: JobSpec) -> FitWorkflow | None:
    """The job's fit workflow: SecAgg+ with ``[privacy] secagg = true`` (sending the model
    as ``[compression] model`` says), compressed updates with ``[compression] update`` or
    ``model`` other than ``"none"``, else the default."""
    if spec.privacy is not None and spec.privacy.secagg is not None:
        downlink = spec.compression if spec.compression is not None else "none"
        return SecAggPlus(spec.privacy.secagg, model=downlink)
    if spec.compression is not None and spec.compression.active:
        return CompressedUpdates(spec.compression)
    return None


@dataclass
class ServedJob:
    """What a deployed coordinator needs of a job whose model is the user's own
    (``[model] app``): no data, no clients - the parties bring both."""

    spec: JobSpec
    strategy: Strategy
    initial_parameters: Parameters
    workflow: FitWorkflow | None = None

    def run_config(self, entries: Mapping[str, Any]) -> dict[str, Any]:
        """What a run of this job records as its config: ``entries`` and the job's settings
        but ``[data]`` and ``[partition]``, which a served model does not read."""
        settings = job_settings(self.spec)
        for unread in ("data", "partition"):
            settings.pop(unread, None)
        return {**entries, JOB_SETTINGS: settings}


def build_served_job(spec: JobSpec, initial_model: Any, parties: Sequence[str]) -> ServedJob:
    """The strategy and initial model a deployed coordinator serves for a job with
    ``[model] app``, whose callable returned ``initial_model``.

    Parameters
    ----------
    spec
        The job.
    initial_model
        A list of arrays (the model's parameters) or a ``torch.nn.Module``.
    parties
        The parties the coordinator serves.

    Returns
    -------
    ServedJob
        Strategy, workflow and initial parameters.

    Raises
    ------
    ConfigError
        If the model is neither, an array is not finite floating point, the strategy needs
        more parties than there are, the job values contributions (that needs test data at
        the coordinator) or the strategy does not fit its privacy settings.
    """
    where = f"{spec.source}: [model] app = {spec.model.app!r}"
    if spec.contribution is not None:
        raise ConfigError(
            f"{where}: [contribution] values each party on the coordinator's test data, and a "
            "job whose model is the user's own has no data at the coordinator: remove it"
        )
    watched = spec.early_stopping.metric if spec.early_stopping is not None else ""
    if watched.startswith("central_"):
        raise ConfigError(
            f"{where}: early_stopping.metric = {watched!r} is measured on the coordinator's "
            "held-out split, and a job whose model is the user's own has no data at the "
            "coordinator: watch eval_loss (the parties' own test rows, with "
            "strategy.fraction_evaluate) or another eval_* metric"
        )
    trainer = spec.train.optimiser_keys_set()
    if trainer:
        raise ConfigError(
            f"{where}: train.{trainer[0]} is not sent to the parties: each trains with its own "
            "client's optimiser (rengo party --app); remove it (lr, local_epochs, batch_size "
            "and lr_decay are sent every round)"
        )
    initial = _initial_parameters(initial_model, where)
    strategy = build_strategy(spec, clients=len(parties))
    for minimum, what in (
        (strategy.min_available_clients, "available per round (min_available_clients)"),
        (strategy.min_fit_clients, "to report per round (min_fit_clients)"),
    ):
        if len(parties) < minimum:
            raise ConfigError(
                f"{spec.source}: [strategy] {strategy.name} needs {minimum} parties {what}, "
                f"this job serves {len(parties)}: add parties or lower the minimum"
            )
    workflow = build_workflow(spec)
    try:
        check_privacy_fits(strategy, workflow, initial)
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: [strategy] with [privacy]: {exc}") from None
    return ServedJob(spec, strategy, initial, workflow)


def _initial_parameters(model: Any, where: str) -> Parameters:
    """A model's initial parameters: a torch module's (as ``rengo.hfl.get_parameters`` reads
    them) or a list of finite floating-point arrays."""
    if callable(getattr(model, "state_dict", None)) and callable(
        getattr(model, "parameters", None)
    ):
        from rengo.hfl import get_parameters

        model = get_parameters(model)
    if not isinstance(model, (list, tuple)) or not model:
        raise ConfigError(
            f"{where} returned {type(model).__name__}: it must return the initial model, a "
            "non-empty list of numpy arrays or a torch.nn.Module"
        )
    arrays = []
    for i, value in enumerate(model):
        array = np.asarray(value)
        if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
            raise ConfigError(
                f"{where}: array {i} of the initial model is not finite floating point "
                f"(dtype {array.dtype})"
            )
        arrays.append(array)
    return arrays


def build_hfl_job(spec: JobSpec) -> HflJob:
    """Data, per-client factory, strategy and initial model for a horizontal job.

    Raises
    ------
    ConfigError
        For a job whose model is the user's own (``[model] app``): only a deployed
        coordinator serves it (:func:`build_served_job`), the parties bring the clients.
    """
    if spec.model.app is not None:
        raise ConfigError(
            f"{spec.source}: [model] app = {spec.model.app!r} is your own model for a deployed "
            "coordinator (`rengo coordinator --job`, each party `rengo party --app "
            "module:client_fn`); a simulation needs its clients too: run it in Python with "
            "rengo.hfl.simulate(client_fn, ...), or use [model] type"
        )
    fed = build_federation(spec)
    num_features = fed.client(0).num_features
    num_classes = fed.num_classes
    regression = not fed.client(0).is_classification
    test = fed.test
    if regression:
        check_regression_settings(spec)
    else:
        check_classification_settings(spec)
    record = None if test is None else CentralEvaluationRecord(len(test))
    evaluate: Callable[[Parameters], tuple[float, Metrics]]
    if spec.model.type in ("linear", "poisson"):
        numpy_job = linear_job if spec.model.type == "linear" else poisson_job
        client_fn, init, evaluate = numpy_job(spec, fed, num_features)
        evaluate_fn = (lambda _round, params: evaluate(params)) if test is not None else None
    else:
        build = _logistic if spec.model.type == "logistic" else _mlp
        client_fn, init, central = build(spec, fed, num_features, num_classes)
        evaluate = central  # a contribution tracker's coalitions: no table kept
        evaluate_fn = (lambda _round, params: central(params, record)) if test is not None else None
    strategy = build_strategy(spec, evaluate_fn)
    clients = len(fed.client_ids)
    if clients < strategy.min_available_clients:
        rules = {Bulyan: " (Bulyan: 4 num_byzantine + 3)", Krum: " (Krum: 2 num_byzantine + 3)"}
        why = rules.get(type(strategy), "")
        raise ConfigError(
            f"{spec.source}: [strategy] {strategy.name} needs {strategy.min_available_clients} "
            f"clients available per round (min_available_clients{why}), this job has "
            f"{clients}: add clients or lower the minimum"
        )
    mods: list[Mod] = []
    if spec.robust is not None:
        from rengo.hfl.mods.attacks import attack_mods, get_attack

        try:
            attackers = spec.robust.attacker_ids(list(fed.client_ids))
        except ConfigError as exc:
            raise ConfigError(f"{spec.source}: {exc}") from None
        options = dict(spec.robust.options)
        if spec.robust.attack == "label_flip":  # flips within the dataset's own classes
            given = options.setdefault("num_classes", num_classes)
            if given != num_classes:
                raise ConfigError(
                    f"{spec.source}: robust.num_classes = {given!r}, but the dataset has "
                    f"{num_classes} classes: leave it out (it defaults to the dataset's)"
                )
        if spec.robust.attack == "backdoor":  # the attack must exist in this data to be tested
            backdoor: Any = options_from_mapping(get_attack("backdoor"), options)  # defaults
            target, size = backdoor.target_label, backdoor.trigger_size
            if not 0 <= target < num_classes:
                raise ConfigError(
                    f"{spec.source}: robust.target_label = {target!r} is not one of the "
                    f"dataset's classes 0..{num_classes - 1} (the attackers would fail every "
                    "round and the run test no attack)"
                )
            if size > num_features:
                raise ConfigError(
                    f"{spec.source}: robust.trigger_size = {size!r} exceeds the dataset's "
                    f"{num_features} features"
                )
        mods = attack_mods(spec.robust.attack, attackers, options)
    if spec.dropout is not None:  # outermost: a lost client neither trains nor attacks
        mods.insert(0, spec.dropout)
    workflow = build_workflow(spec)
    try:
        check_privacy_fits(strategy, workflow, init)
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: [strategy] with [privacy]: {exc}") from None
    # Once per run, after the load (whose errors name a bad file best): the file's bytes are
    # then in the page cache, not read from disk a second time.
    files = job_data_files(spec)
    return HflJob(spec, fed, client_fn, strategy, init, evaluate, mods, workflow, files, record)


def binary_ranking(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """The coordinator's ranking and calibration metrics of a two-class model on its test
    rows: AUC and average precision (what rare positives are judged by), the Brier score and
    the expected calibration error (:func:`rengo.metrics.calibration`); empty for more
    classes, or a test split of one class.

    Parameters
    ----------
    y
        The test rows' class codes.
    probability
        ``P(class 1)`` per row, or class probabilities (rows x classes).

    Returns
    -------
    dict[str, float]
        ``auc``, ``average_precision``, ``brier`` and ``ece``, or nothing.
    """
    p = class_one_probability(y, probability)
    if p is None:
        return {}
    return {
        "auc": roc_auc(y, p),
        "average_precision": average_precision(y, p),
        **calibration(y, p),
    }


def _logistic(
    spec: JobSpec, fed: FederatedDataset, d: int, k: int
) -> tuple[ClientFn, Parameters, CentralEvaluate]:
    client_fn = numpy_client_fn(
        spec, fed, LogisticRegressionClient, class_weight=spec.train.class_weight, num_classes=k
    )

    def evaluate(
        params: Parameters, keep: CentralEvaluationRecord | None = None
    ) -> tuple[float, Metrics]:
        assert fed.test is not None
        X, y = fed.test.X.astype(np.float64), fed.test.labels()
        loss, _ = softmax_loss_grad(params, X, y, 0.0)
        metrics = {"accuracy": float(np.mean(softmax_predict(params, X) == y))}
        probability = softmax_probabilities(params, X)
        if keep is not None:
            keep.record(y, probability)
        return loss, {**metrics, **binary_ranking(y, probability)}

    return client_fn, softmax_init(d, k), evaluate


def _mlp(
    spec: JobSpec, fed: FederatedDataset, d: int, k: int
) -> tuple[ClientFn, Parameters, CentralEvaluate]:
    """The MLP's client factory, initial model and coordinator evaluation: a classifier
    with one logit per class, or (a continuous target: ``k == 0``) a regressor with one
    output trained on the mean squared error (:class:`~rengo.hfl.TorchRegressionClient`)."""
    try:
        import torch

        from rengo.hfl.torch_client import (
            TorchClient,
            evaluate_model,
            get_parameters,
            make_mlp,
            resolve_device,
            set_parameters,
        )
        from rengo.hfl.torch_loss import ClassWeightedCrossEntropy
    except ImportError as exc:
        raise ConfigError(
            f"{spec.source}: model.type = 'mlp' needs PyTorch ({install_hint('torch')}); "
            "or use model.type = 'logistic'"
        ) from exc
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_dp import require_opacus
    from rengo.hfl.torch_regression import TorchRegressionClient, evaluate_regression

    regression = k == 0
    outputs = 1 if regression else k
    scaling = fed.target_scaling

    def labels(data: Dataset) -> torch.Tensor:
        if regression:
            return torch.from_numpy(data.labels().astype(np.float32).reshape(-1, 1))
        return torch.from_numpy(data.labels().astype(np.int64))

    hidden = tuple(spec.model.hidden)
    lr, epochs, batch = spec.train.lr, spec.train.local_epochs, spec.train.batch_size
    try:
        resolve_device(spec.train.device)  # here, so a missing GPU fails before round 1
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: train.{exc}") from None
    device = spec.train.device
    torch.manual_seed(spec.job.seed)
    init = get_parameters(make_mlp(d, outputs, hidden))
    tensors = {
        cid: TensorDataset(
            torch.from_numpy(fed.clients[cid].X.astype(np.float32)), labels(fed.clients[cid])
        )
        for cid in fed.client_ids
    }

    own_tests = {
        cid: TensorDataset(torch.from_numpy(data.X.astype(np.float32)), labels(data))
        for cid, data in (fed.client_tests or {}).items()
    }
    optimizer = functools.partial(
        torch_optimizer,
        name=spec.train.optimizer,
        momentum=spec.train.momentum,
        weight_decay=spec.train.weight_decay,
    )
    local_dp = spec.privacy.local if spec.privacy is not None else None
    if local_dp is not None:
        require_opacus()  # here, so a missing Opacus fails before round 1, not in every client

    def client_fn(cid: str) -> Client:
        loader = DataLoader(tensors[cid], batch_size=batch, shuffle=True)
        own = own_tests.get(cid)
        test = None if own is None else DataLoader(own, batch_size=1024)
        options: dict[str, Any] = {
            "lr": lr,
            "local_epochs": epochs,
            "dp": local_dp,
            "device": device,
            "optimizer": optimizer,
        }
        model = make_mlp(d, outputs, hidden)
        if regression:
            target = scaling or IDENTITY_SCALING
            return TorchRegressionClient(model, loader, test, target_scaling=target, **options)
        weights = class_weights(
            fed.clients[cid].labels(), spec.train.class_weight, f"client {cid}", k
        )
        if weights is not None:  # from this client's own rows; they never leave it
            weight = torch.tensor([weights[c] for c in range(k)], dtype=torch.float32)
            options["loss_fn"] = ClassWeightedCrossEntropy(weight)
            options["evaluation_loss_fn"] = torch.nn.CrossEntropyLoss()  # as numpy clients
        return TorchClient(model, loader, test, **options)

    eval_model = make_mlp(d, outputs, hidden)  # the coordinator evaluates on the CPU: a forked
    test_loader = None  # worker cannot use CUDA once this process has started it
    test_x = None
    if fed.test is not None:
        test_x = torch.from_numpy(fed.test.X.astype(np.float32))
        test_loader = DataLoader(TensorDataset(test_x, labels(fed.test)), batch_size=1024)

    def evaluate(
        params: Parameters, keep: CentralEvaluationRecord | None = None
    ) -> tuple[float, Metrics]:
        assert test_loader is not None
        set_parameters(eval_model, params)
        if regression:
            loss, _, metrics = evaluate_regression(
                eval_model, test_loader, scaling or IDENTITY_SCALING
            )
            return loss, metrics
        loss, acc, _ = evaluate_model(eval_model, test_loader)
        if k != 2:
            return loss, {"accuracy": acc}
        assert fed.test is not None and test_x is not None
        with torch.no_grad():
            logits = eval_model(test_x)
            probability = torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)
        if keep is not None:
            keep.record(fed.test.labels(), probability)
        return loss, {"accuracy": acc, **binary_ranking(fed.test.labels(), probability)}

    return client_fn, init, evaluate

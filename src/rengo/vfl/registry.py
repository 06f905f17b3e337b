"""One description per vertical algorithm, registered once; everything else is derived.

A :class:`VerticalAlgorithm` says what the vertical runner (:mod:`rengo.vfl.runner`), the
estimators, job files, the ``rengo vfl`` commands and the deployment need to know: the
config dataclass (its fields are the options, see :mod:`rengo.core.options`), the role
functions of training and of prediction for the coordinator (optional), the label party and
the feature parties, the model types they return, the key material and who makes and holds
it, and what prediction returns. An algorithm package registers its description when it is
imported (``rengo/vfl/<algorithm>/algorithm.py``); :func:`algorithms` imports every such
package under :mod:`rengo.vfl`, so the list of algorithms is never kept by hand.

Every role function has one signature, ``role(channel, context, data, state)``:

* ``channel`` is the role's channel, scoped to the phase (``train/`` or ``score/``);
* ``context`` (:class:`RoleContext`) holds the run's public facts: the config, who is the
  label party, the feature parties, the seed, this role's name and kind;
* ``data`` (:class:`AlignedData`) is the party's table, its rows of the aligned common set
  and, for label holders, its labels; ``None`` for the coordinator;
* ``state`` (:class:`RoleState`) holds this role's key material (only the key holder's is
  not ``None``) and, when predicting, what its training role returned (when training, the
  starting model the party brought, if any).

Training roles return the party's model (the coordinator: a report); the label party's
prediction role returns one prediction per aligned row (a vector of probabilities, values or
classes, or a matrix of class probabilities: see ``output``); feature parties' prediction
roles usually return ``None``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import numpy as np

from rengo.core.errors import ConfigError
from rengo.core.options import Scalar, scalar_option_specs, unknown_key_error
from rengo.core.roles import COORDINATOR
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints
from rengo.vfl.common import PartyTable
from rengo.vfl.progress import ProgressFn

ConfigT = TypeVar("ConfigT")
RoleKind = Literal["coordinator", "label_party", "feature_party"]
Output = Literal["probability", "probabilities", "classes", "values"]
"""What the label party's prediction role returns per aligned row: ``"probability"``
(P(y = 1), binary), ``"probabilities"`` (a row of class probabilities), ``"classes"`` or
``"values"`` (regression)."""


@dataclass(frozen=True)
class RoleContext(Generic[ConfigT]):
    """The run's public facts, as every role of one phase knows them, and the role's own
    seed (:attr:`own_seed`, which only it knows)."""

    name: str
    kind: RoleKind
    config: ConfigT
    label_party: str
    hosts: tuple[str, ...]
    seed: int | None = None
    coordinator: str = COORDINATOR
    progress: ProgressFn | None = field(default=None, repr=False, compare=False)
    """Where the role reports its progress (see :mod:`rengo.vfl.progress`); None: nowhere."""
    checkpoints: EpochCheckpoints | None = field(default=None, repr=False, compare=False)
    """A resumable run's checkpoints of this role (training roles of algorithms marked
    ``resumable``): where to continue from and where to save each completed epoch; None:
    the run keeps no checkpoints (see :mod:`rengo.vfl.checkpoints`)."""
    own_seed: int | None = field(default=None, repr=False, compare=False)
    """This role's own seed, for randomness no other party may predict (a party's initial
    weights, its defence noise): never sent, and not the run's ``seed``, which every party
    learns from the plan. None: drawn from the OS. A simulation, one process holding every
    party, gives every role the run's seed here, so that a seeded simulation repeats."""

    @property
    def parties(self) -> list[str]:
        """Every party, label party first (the order every role uses)."""
        return [self.label_party, *self.hosts]


@dataclass(frozen=True)
class AlignedData:
    """One party's data in one phase: its table, its aligned rows and its labels.

    ``rows`` are its rows of the set every party holds, in the agreed order (``rows[k]`` of
    every party is the same customer); ``labels`` has one per row of ``table`` (label
    holders only); ``feature_names`` names the table's columns where the party knows them
    (empty otherwise), for what it reports about its own columns.
    """

    table: PartyTable
    rows: np.ndarray
    labels: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    exposure: np.ndarray | None = None
    """The label party's exposure, one per row of ``table`` like ``labels`` (algorithms
    with ``exposure``); ``None``: none given."""

    @property
    def features(self) -> np.ndarray:
        """The aligned feature rows."""
        rows: np.ndarray = self.table.features[self.rows]
        return rows

    @property
    def aligned_labels(self) -> np.ndarray | None:
        """The labels of the aligned rows (``None`` for parties without labels)."""
        return None if self.labels is None else np.asarray(self.labels)[self.rows]

    @property
    def aligned_exposure(self) -> np.ndarray | None:
        """The exposure of the aligned rows (``None`` where none was given)."""
        return None if self.exposure is None else np.asarray(self.exposure)[self.rows]

    @property
    def ids(self) -> np.ndarray:
        """The aligned rows' IDs (they never leave the party)."""
        ids: np.ndarray = np.asarray(self.table.ids)[self.rows]
        return ids


@dataclass(frozen=True)
class RoleState:
    """What a role brings into a phase: its keys and (when predicting) its model.

    ``keys`` is ``None`` except at the key holder; ``model`` is what its training role
    returned (when training: the starting model the party brought, usually ``None``).
    """

    keys: Any = None
    model: Any = None


Role = Callable[[Channel, RoleContext[Any], "AlignedData | None", RoleState], Any]

LocalPredictor = Callable[[np.ndarray], np.ndarray]
"""Predictions (as the algorithm's ``output``) of rows of the label party's own columns."""

TrainAlone = Callable[[Any, np.ndarray, np.ndarray, int], LocalPredictor]
"""``alone(config, features, labels, seed)``: the label party's model trained on its own
columns and labels, locally (no message), as the algorithm would train it with no other
party; returns its predictor. The empty coalition of vertical party valuation."""

TrainExposedAlone = Callable[[Any, np.ndarray, np.ndarray, np.ndarray, int], LocalPredictor]
"""``alone(config, features, counts, exposure, seed)``: as :data:`TrainAlone` for a count
model whose rows were observed over ``exposure`` (the offset ``log(exposure)``); its
predictor gives each row's rate, the expected count for one unit of exposure."""


@dataclass(frozen=True)
class Roles:
    """The role functions of one phase (training or prediction).

    ``coordinator`` is ``None`` when the protocol needs no third party (the hub still
    organises the run). ``aligned=False`` skips private set intersection for the phase: each
    party gets its whole table (e.g. scoring the target's own rows in transfer learning).
    ``tables`` says which kinds of party bring a table to the phase. ``unmatched_rows``:
    the roles also use the rows PSI did not match (transfer learning's parties learn from
    their own rows beyond the few shared ones), so a small intersection is expected.
    """

    label_party: Role
    feature_party: Role
    coordinator: Role | None = None
    aligned: bool = True
    tables: tuple[RoleKind, ...] = ("label_party", "feature_party")
    unmatched_rows: bool = False
    coordinator_epochs: bool = True
    """In a resumable run, the coordinator's training role checkpoints epochs of its own,
    and a resume continues after the fewest epochs any role kept, the coordinator's among
    them. False: the role follows the parties' epochs and keeps no state (split learning's
    coordinator, told when each epoch ended, after the parties had checkpointed it: its
    count would lag theirs); a resume starts it after the epoch the parties agree on
    (``ctx.checkpoints.start.epoch``) and nothing is saved in its folder."""

    def of(self, kind: RoleKind) -> Role | None:
        """The role function for ``kind``."""
        if kind == "coordinator":
            return self.coordinator
        return self.label_party if kind == "label_party" else self.feature_party


@dataclass(frozen=True)
class KeySpec(Generic[ConfigT]):
    """The key material an algorithm needs: how it is made and who holds it.

    ``holder(config)`` may depend on the config (SecureBoost: the label party by default,
    the coordinator as an option; ``None``: this config needs no keys, e.g. transfer
    learning in plaintext mode); ``make(config, seed)`` makes it (``seed`` only for
    reproducible tests); ``scoring(config)`` says whether scoring needs it too (a
    scoring-only run, which scores with models kept from an earlier run, makes no key
    material when it does not: SecureBoost's scoring, or linear models scored in plain).
    """

    make: Callable[[ConfigT, int | None], Any]
    holder: Callable[[ConfigT], RoleKind | None] = field(default=lambda config: "coordinator")
    scoring: Callable[[ConfigT], bool] = field(default=lambda config: True)


@dataclass(frozen=True)
class Models:
    """The types each role's training returns (checked by the runner)."""

    label_party: type
    feature_party: type
    coordinator: type | None = None

    def of(self, kind: RoleKind) -> type | None:
        """The model (or report) type of ``kind``."""
        if kind == "coordinator":
            return self.coordinator
        return self.label_party if kind == "label_party" else self.feature_party


@dataclass(frozen=True)
class VerticalAlgorithm(Generic[ConfigT]):
    """Everything the vertical runner and its front ends need to know about one algorithm.

    Parameters
    ----------
    name
        Registry key, job-file ``algorithm`` and ``--algorithm`` value (``"hetero_lr"``).
    title
        What it is, for logs and help (``"coordinated hetero logistic regression"``).
    config_type
        The options dataclass: field names, types, defaults, help and checks.
    train, predict
        The role functions of each phase.
    models
        The types training returns, per role.
    keys
        Key material and its holder; ``None`` for plaintext protocols.
    output
        What prediction returns per row (see :data:`Output`), or a function of the config
        when the objective decides it (binary, multiclass or regression boosting).
    labels_at
        Which kinds of party may hold labels (transfer learning: the target may too).
    scored_by
        Which kind of party receives the predictions (the label party, or in transfer
        learning the target, a feature party; with several feature parties only the label
        party can be named).
    option_aliases
        Deprecated option names -> current ones (accepted with a warning).
    describe
        A short account of training from the coordinator's report (``"5 epochs"``).
    summary
        Scalars for the run store from the coordinator's training and scoring reports.
    missing_values
        Whether party tables may have empty cells (NaN), or a function of the config that
        says so (the linear models' ``missing`` option); algorithms that cannot use them
        are refused such tables with an error naming the party and the column.
    missing_fix
        What the refusal suggests besides imputing (default: SecureBoost, which learns
        where missing values go).
    alone
        The label party's model on its own columns, trained locally (see
        :data:`TrainAlone`); ``None`` when the algorithm has no such twin (party valuation
        then scores the label party alone as a constant prediction).
    metrics
        ``metrics(truth, predictions)``: the held-out metrics a job run reports (default:
        by ``output``, see :func:`rengo.jobs.vertical.evaluate`).
    resumable
        Whether its training roles checkpoint every completed epoch and continue from
        ``RoleContext.checkpoints.start`` (see :mod:`rengo.vfl.checkpoints`), so that an
        interrupted run can be resumed.
    epoch_unit
        What one of its training epochs is called where runs are shown (``"tree"`` for
        SecureBoost, whose epochs are boosting rounds).
    estimator
        Where its own estimator class is, as ``"module:Class"``, when the module that
        registers it does not import it (transfer learning's ``TransferClassifier``, with fitted
        attributes of its own such as ``target_model_``): imported by
        :meth:`~rengo.vfl.estimator.VerticalEstimator.for_algorithm`, so that a job or a
        command builds that class, not a generic estimator. None: any subclass already
        imported, else a generic one.
    metric_names
        The names ``metrics`` returns (empty without ``metrics``): all a deployed
        coordinator records of the label party's held-out evaluation
        (:func:`rengo.jobs.vertical.held_out_metric_names`).
    exposure_metrics
        ``(counts, rates, exposure) -> {name: value}``, the held-out metrics where the
        label party brought an exposure per row (a count model's known factor of the
        mean, :mod:`rengo.vfl.exposure_values`); None: the algorithm takes no exposure,
        and the runner refuses one.
    alone_exposed
        ``alone`` for a label party with an exposure (see :data:`TrainExposedAlone`): the
        empty coalition of party valuation then trains with the offset; None: valuation
        with an exposure is refused.
    """

    name: str
    title: str
    config_type: type[ConfigT]
    train: Roles
    predict: Roles
    models: Models
    keys: KeySpec[ConfigT] | None = None
    output: Output | Callable[[ConfigT], Output] = "probability"
    labels_at: tuple[RoleKind, ...] = ("label_party",)
    scored_by: RoleKind = "label_party"
    option_aliases: Mapping[str, str] = field(default_factory=dict)
    describe: Callable[[Any], str] = field(default=lambda report: "trained")
    summary: Callable[[Any, Any], dict[str, Scalar]] = field(default=lambda train, score: {})
    missing_values: bool | Callable[[ConfigT], bool] = False
    missing_fix: str = "or train algorithm='secureboost', which learns where missing values go"
    alone: TrainAlone | None = None
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None
    resumable: bool = False
    epoch_unit: str = "epoch"
    estimator: str | None = None
    metric_names: tuple[str, ...] = ()
    """The names ``metrics`` returns: all a deployed coordinator accepts of a label party's
    held-out evaluation (:func:`rengo.jobs.vertical.held_out_metric_names`)."""
    exposure_metrics: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]] | None = None
    """Held-out metrics of counts observed over exposures, from predicted rates; None: the
    algorithm takes no exposure (only hetero Poisson regression does)."""
    alone_exposed: TrainExposedAlone | None = None
    """The label party's own model trained with its exposure's offset (party valuation's
    empty coalition); None: the algorithm takes no exposure."""

    def __post_init__(self) -> None:
        scalar_option_specs(self.config_type)  # fails now, not at a user's first job file
        if self.scored_by == "coordinator":
            raise ConfigError(f"{self.name}: predictions go to a party, not the coordinator")

    @property
    def needs_coordinator(self) -> bool:
        """Whether a coordinator role takes part in the protocol (it always organises)."""
        return self.train.coordinator is not None or self.predict.coordinator is not None

    def default_config(self) -> ConfigT:
        """The config with every default."""
        return self.config_type()

    def output_of(self, config: ConfigT) -> Output:
        """What prediction returns per row under ``config``."""
        return self.output(config) if callable(self.output) else self.output

    def accepts_missing(self, config: ConfigT) -> bool:
        """Whether party tables may have empty cells under ``config``."""
        if callable(self.missing_values):
            return bool(self.missing_values(config))
        return self.missing_values

    def key_holder(self, config: ConfigT, *, train: bool = True) -> RoleKind | None:
        """Who makes and holds the key material under ``config`` (``None``: no keys); with
        ``train=False``, in a run that only scores (``None`` when scoring needs none)."""
        if self.keys is None or not (train or self.keys.scoring(config)):
            return None
        return self.keys.holder(config)


_REGISTRY: dict[str, VerticalAlgorithm[Any]] = {}
_LOCK = threading.Lock()
_BUILTINS_LOADED = False


def register(algorithm: VerticalAlgorithm[ConfigT]) -> VerticalAlgorithm[ConfigT]:
    """Add ``algorithm`` to the registry and return it (call once, when its package loads).

    Raises
    ------
    ConfigError
        If another algorithm already has its name.
    """
    with _LOCK:
        existing = _REGISTRY.get(algorithm.name)
        if existing is not None and existing is not algorithm:
            raise ConfigError(f"a vertical algorithm named {algorithm.name!r} is registered")
        _REGISTRY[algorithm.name] = algorithm
    return algorithm


def unregister(name: str) -> None:
    """Remove an algorithm (tests and plug-ins that register temporarily)."""
    with _LOCK:
        _REGISTRY.pop(name, None)


ENTRY_POINT_GROUP = "rengo.vertical_algorithms"
"""Entry points naming modules that register vertical algorithms when imported."""


def _load_builtins() -> None:
    """Import every ``rengo.vfl.<package>.algorithm`` module and every module of the
    :data:`ENTRY_POINT_GROUP` entry points (each registers itself)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    package = importlib.import_module("rengo.vfl")
    for info in pkgutil.iter_modules(package.__path__):
        name = f"rengo.vfl.{info.name}.algorithm"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            importlib.import_module(entry.value)
        except ImportError as exc:  # a plug-in whose optional dependency is missing
            warnings.warn(
                f"vertical algorithm {entry.name!r} ({entry.value}) is unavailable: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
    _BUILTINS_LOADED = True


def algorithms() -> dict[str, VerticalAlgorithm[Any]]:
    """Every registered vertical algorithm, by name (built-ins included)."""
    _load_builtins()
    with _LOCK:
        return dict(sorted(_REGISTRY.items()))


def get_algorithm(name: str) -> VerticalAlgorithm[Any]:
    """The algorithm registered as ``name``.

    Raises
    ------
    ConfigError
        Naming the closest registered algorithm.
    """
    known = algorithms()
    if name not in known:
        raise unknown_key_error(name, known, what="vertical algorithm")
    return known[name]

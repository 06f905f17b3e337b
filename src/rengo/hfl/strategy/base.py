"""The strategy interface: how the coordinator samples clients and folds their updates.

A strategy never sees a transport. The round loop calls, in order: :meth:`configure_fit`,
:meth:`accumulator` (then ``add`` once per valid result, streaming), :meth:`aggregate_fit`,
:meth:`evaluate` (centralised) and the federated-evaluation hooks.

Server-side state (optimiser moments, control variates) follows FedJAX's shape: an explicit
frozen dataclass (a :class:`ServerState`) made by :meth:`Strategy.init_state` from the initial
model and replaced - never mutated - by the strategy's pure update functions. It lives in
:attr:`Strategy.server_state` and round-trips through :meth:`Strategy.state_dict` /
:meth:`Strategy.load_state_dict` for checkpoints.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

import numpy as np

from rengo.core.codec import encode, unencodable_part
from rengo.core.errors import CodecError, ConfigError, DataError
from rengo.core.messages import Config, EvaluateIns, EvaluateResult, FitIns, FitResult, Metrics
from rengo.core.parameters import Parameters, add_weighted

EvaluateFn = Callable[[int, Parameters], "tuple[float, Metrics]"]
"""Centralised evaluation on the coordinator's held-out set: ``(round, parameters) ->
(loss, metrics)``."""

ConfigFn = Callable[[int], Config]


class WeightedSum:
    """Streaming weighted sum of parameter lists: memory O(model), not O(clients x model).

    Every product ``weight * array`` is formed and accumulated in float64 (whatever the
    arrays' dtype), so the mean is rounded to the model's dtype once, at the end
    (:func:`cast_like`). Each update is checked as it is folded: as many arrays as the
    reference, each of the reference's shape (no broadcasting), a finite weight >= 0, and
    finite values. A client of weight 0 is counted but its arrays are not read, so whatever
    it holds cannot reach the mean. Metrics are folded the same way (example-weighted mean
    of every numeric metric), and a metric is a round's only when at least half of the
    results folded one by one report it (:meth:`metrics`): one party cannot add names of
    its own to every round's record (32 new ones a round, the most a result may carry,
    made a 40-round run's ``rengo runs plot`` take over five minutes and 5 GB).

    Parameters
    ----------
    reference
        Arrays whose count and shapes every folded update must have.
    """

    def __init__(self, reference: Sequence[np.ndarray]) -> None:
        self.sums: list[np.ndarray] = [np.zeros(p.shape, dtype=np.float64) for p in reference]
        self.total_weight = 0.0
        self.count = 0
        self.num_examples = 0
        self._metric_sums: dict[str, float] = {}
        self._metric_weights: dict[str, float] = {}
        self._metric_reporters: dict[str, int] = {}
        self._reporting_results = 0  # results folded one by one: each could report a metric

    def _check(
        self, arrays: Sequence[np.ndarray], what: str, finite: bool = True
    ) -> list[np.ndarray]:
        if len(arrays) != len(self.sums):
            raise DataError(
                f"{what} has {len(arrays)} arrays, the model has {len(self.sums)}; send one "
                "array per model parameter"
            )
        checked = []
        for k, (acc, array) in enumerate(zip(self.sums, arrays, strict=True)):
            values = np.asarray(array)
            if values.shape != acc.shape:
                raise DataError(
                    f"{what}: array {k} has shape {values.shape}, the model's is {acc.shape} "
                    "(updates are never broadcast)"
                )
            if values.dtype.kind not in "biuf":
                raise DataError(f"{what}: array {k} has dtype {values.dtype}, not a number")
            if finite and values.dtype.kind == "f" and not np.all(np.isfinite(values)):
                raise DataError(f"{what}: array {k} contains NaN or infinity")
            checked.append(values)
        return checked

    def add(self, parameters: Sequence[np.ndarray], weight: float, metrics: Metrics) -> None:
        """Fold one client's arrays and metrics with ``weight`` (its example count).

        Raises
        ------
        DataError
            A negative or non-finite weight, or arrays that do not match the reference in
            count or shape, or that hold NaN/infinity.
        """
        weight = float(weight)
        if not math.isfinite(weight) or weight < 0:
            raise DataError(f"an update's weight must be finite and >= 0, got {weight}")
        arrays = self._check(parameters, "update", finite=weight > 0)
        if weight > 0:  # a weight-0 update is counted, never read
            for acc, p in zip(self.sums, arrays, strict=True):
                add_weighted(acc, p, weight)  # block by block: no model-sized temporaries
        self.total_weight += weight
        self.count += 1
        self._reporting_results += 1
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self._metric_sums[k] = self._metric_sums.get(k, 0.0) + weight * float(v)
                self._metric_weights[k] = self._metric_weights.get(k, 0.0) + weight
                self._metric_reporters[k] = self._metric_reporters.get(k, 0) + 1

    def mean(self) -> list[np.ndarray]:
        """The weighted mean of everything folded so far (float64).

        Raises
        ------
        ValueError
            If no positive weight was folded.
        """
        if self.total_weight <= 0:
            raise ValueError("no weight accumulated: every folded update had weight 0")
        # np.asarray: dividing a 0-d array yields a numpy scalar, which is not a parameter.
        return [np.asarray(s / self.total_weight) for s in self.sums]

    def metrics(self) -> dict[str, float]:
        """Weighted mean of every numeric metric that at least half of the results folded
        one by one reported (with a positive weight among them).

        A metric fewer report is left out: its mean would be those few parties' numbers,
        not the federation's, and one party could add new names to every round's record.
        At least half (not a majority) so that one party cannot remove a metric of two
        parties' round by leaving it out either. What each party reported stays in its
        client record.
        """
        return {
            k: self._metric_sums[k] / self._metric_weights[k]
            for k in self._metric_sums
            if self._metric_weights[k] > 0
            and 2 * self._metric_reporters[k] >= self._reporting_results
        }

    def add_sum(self, sums: Sequence[np.ndarray], total_weight: float, count: int) -> None:
        """Fold a block that is already a weighted sum over ``count`` clients (e.g. the
        unmasked total of a secure-aggregation round, where no single update is seen).

        Raises
        ------
        ValueError
            A negative weight or count, or arrays that do not match the reference.
        """
        if not math.isfinite(total_weight) or total_weight < 0 or count < 0:
            raise ValueError("total_weight and count must be finite and >= 0")
        for acc, s in zip(self.sums, self._check(sums, "summed block"), strict=True):
            add_weighted(acc, s, 1.0)
        self.total_weight += total_weight
        self.count += count


def cast_like(mean: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A float64 mean in the dtype of the model array ``like``, rounded once.

    Floats round to nearest in their own dtype. Integer (and boolean) arrays, such as
    counters in a model's state, get the nearest integer (ties to even) instead of being
    truncated toward zero; a mean outside the dtype's range raises.

    Parameters
    ----------
    mean
        The float64 weighted mean.
    like
        The model array whose dtype the result takes.

    Returns
    -------
    numpy.ndarray
        ``mean`` in ``like.dtype``.

    Raises
    ------
    DataError
        An integer mean outside the dtype's range.
    """
    dtype = np.asarray(like).dtype
    if dtype.kind in "biu":
        rounded = np.rint(mean)
        if dtype.kind != "b":
            info = np.iinfo(dtype)
            if rounded.size and (rounded.min() < info.min or rounded.max() > info.max):
                raise DataError(f"the mean does not fit {dtype} ({info.min}..{info.max})")
        return np.asarray(rounded.astype(dtype))
    return np.asarray(mean.astype(dtype, copy=False))


NO_AGGREGATION = (
    "{name} subclasses Strategy without aggregate_fit: subclass FedAvg (the example-weighted "
    "mean) or another strategy and override what differs, or implement "
    "aggregate_fit(server_round, parameters, acc, rng)"
)

StateT = TypeVar("StateT", bound="ServerState")


@dataclass(frozen=True)
class ServerState:
    """Base of a strategy's explicit server state (FedJAX's ``ServerState``).

    Subclasses are frozen dataclasses of codec-encodable fields (arrays, lists of arrays,
    numbers); a checkpoint stores :meth:`to_dict` and :meth:`from_dict` rebuilds it.
    """

    def to_dict(self) -> dict[str, Any]:
        """The fields by name (codec-encodable)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls: type[StateT], data: Mapping[str, Any]) -> StateT:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If the keys are not exactly this state's fields.
        """
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise ValueError(
                f"checkpointed {cls.__name__} has keys {sorted(data)}, expected {sorted(names)}"
            )
        return cls(**dict(data))


@dataclass(frozen=True)
class Aggregate:
    """What :meth:`Strategy.aggregate_fit` may return: the new model and round metrics.

    Metrics (e.g. a DP strategy's epsilon) join the round's metrics and the run store;
    name them so they cannot collide with the loop's own ``train_`` / ``central_`` /
    ``eval_`` keys.
    """

    parameters: Parameters
    metrics: dict[str, float] = field(default_factory=dict)


def as_aggregate(result: Parameters | Aggregate) -> Aggregate:
    """Normalise what ``aggregate_fit`` returned (a parameter list or an :class:`Aggregate`)."""
    if isinstance(result, Aggregate):
        return result
    if isinstance(result, list):
        return Aggregate(result)
    raise TypeError(
        f"aggregate_fit returned {type(result).__name__}; return the new parameters (a list "
        "of arrays) or an Aggregate"
    )


@dataclass
class Strategy:
    """Base strategy: client sampling, config, centralised and federated evaluation.

    Subclasses override :meth:`accumulator` / :meth:`aggregate_fit` (and, for protocols that
    return more than the model, :meth:`result_reference`). Stateful strategies set
    :attr:`state_type` and :meth:`init_state`; strategies whose clients need a client mod
    name it in :meth:`client_mods`. A dataclass subclass decorated with
    :func:`~rengo.hfl.strategy.register_strategy` appears in job files under its name, its
    fields as ``[strategy]`` options.

    Parameters
    ----------
    fraction_fit, min_fit_clients
        Clients sampled per round: the fraction of those available, at least the minimum;
        a round fails with fewer than ``min_fit_clients`` valid results.
    fraction_evaluate, min_evaluate_clients
        Clients sampled for federated evaluation the same way (``fraction_evaluate=0``
        turns it off); evaluation never fails a round: the round keeps the evaluations
        that succeed, however few (the others are among its failures).
    min_available_clients
        A round does not start with fewer clients available.
    on_fit_config, on_evaluate_config
        ``round -> config`` sent to clients with each fit / evaluate.
    evaluate_fn
        Centralised evaluation on the coordinator after each round.

    Raises
    ------
    ValueError
        If a fraction or minimum is out of range.
    """

    fraction_fit: float = 1.0
    min_fit_clients: int = 2
    fraction_evaluate: float = 0.0
    min_evaluate_clients: int = 2
    min_available_clients: int = 2
    on_fit_config: ConfigFn | None = None
    on_evaluate_config: ConfigFn | None = None
    evaluate_fn: EvaluateFn | None = None
    name: str = field(default="", init=False)
    server_state: Any = field(default=None, init=False, repr=False, compare=False)
    state_type: ClassVar[type[ServerState] | None] = None
    transient_attributes: ClassVar[tuple[str, ...]] = ()
    """Attributes a round may set that do not affect training (a timer, the best accuracy
    seen, a logger): not checkpointed, and not warned about as state a resumed run loses
    (:mod:`rengo.hfl.unkept_state`; a private name is state like any other, so list it
    here if it does not affect training)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction_fit <= 1.0:
            raise ValueError(f"fraction_fit must be in (0, 1], got {self.fraction_fit}")
        if not 0.0 <= self.fraction_evaluate <= 1.0:
            raise ValueError(f"fraction_evaluate must be in [0, 1], got {self.fraction_evaluate}")
        if self.min_fit_clients < 1:
            raise ValueError("min_fit_clients must be >= 1")
        for name in ("min_evaluate_clients", "min_available_clients"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        check_callback("on_fit_config", self.on_fit_config, ("server_round",))
        check_callback("on_evaluate_config", self.on_evaluate_config, ("server_round",))
        check_callback("evaluate_fn", self.evaluate_fn, ("server_round", "parameters"))
        self.name = type(self).__name__
        if type(self).aggregate_fit is Strategy.aggregate_fit:
            raise TypeError(NO_AGGREGATION.format(name=self.name))

    def accepts_empty_sample(self) -> bool:
        """Whether a round whose sample holds no client is still a round (the coordinator
        then aggregates an empty accumulator instead of failing): only for strategies whose
        sampling may pick nobody by design, as Poisson sampling under DP does."""
        return False

    # -- life cycle and server state -----------------------------------------------------
    def init_state(self, parameters: Parameters) -> ServerState | None:
        """The server state before round 1 (FedJAX's ``init``); stateless strategies: None."""
        return None

    def initialize(self, parameters: Parameters) -> None:
        """Called once before round 1 with the initial global model: sets
        :attr:`server_state` from :meth:`init_state`.

        Parameters
        ----------
        parameters
            The initial global model.

        Raises
        ------
        ConfigError
            If :meth:`init_state` returns a :class:`ServerState` that is not of
            :attr:`state_type` (refused here, before round 1 trains).
        """
        self.server_state = self.init_state(parameters)
        self._check_state_type(self.server_state)

    def require_state(self, parameters: Parameters) -> Any:
        """:attr:`server_state`, for hooks that need it.

        A strategy used without :meth:`initialize` (the coordinator always calls it) is
        initialised from ``parameters`` here, with a :class:`DeprecationWarning`.
        """
        if self.server_state is None and self.state_type is not None:
            warnings.warn(
                f"{self.name}: call initialize(parameters) before the first round (the "
                "Coordinator does); initialising server state on first use is deprecated",
                DeprecationWarning,
                stacklevel=3,
            )
            self.initialize(parameters)
        return self.server_state

    def state_dict(self) -> dict[str, Any]:
        """Server-side state to checkpoint (codec-encodable).

        Returns
        -------
        dict
            :attr:`server_state` as a dict; empty for a strategy that keeps none.

        Raises
        ------
        ConfigError
            If :attr:`server_state` is not of :attr:`state_type` (a strategy that sets
            server state without declaring its type could not load it on resume). A state
            first set in ``aggregate_fit`` is refused when round 1's end is checkpointed,
            after round 1 trained; one returned from :meth:`init_state`, by :meth:`initialize`.
        """
        state = self.server_state
        if isinstance(state, ServerState):
            self._check_state_type(state)
            return state.to_dict()
        return {}

    def _check_state_type(self, state: object) -> None:
        """Refuse a :class:`ServerState` a checkpoint of this strategy could not load."""
        if isinstance(state, ServerState) and (
            self.state_type is None or not isinstance(state, self.state_type)
        ):
            kind = type(state).__name__
            raise ConfigError(
                f"{self.name}.server_state is a {kind}, but {self.name}.state_type is "
                f"{getattr(self.state_type, '__name__', None)}: declare state_type: "
                f"ClassVar[type[ServerState] | None] = {kind} on the class, or a "
                "checkpoint of it cannot be loaded when the run resumes"
            )

    def released_state(self, before: dict[str, Any]) -> dict[str, Any] | None:
        """The state a resume of this round should start from once the round's new model has
        left the coordinator, where it is not ``before`` (the :meth:`state_dict` the round
        started from); None for a strategy whose release spends nothing.

        A differentially private strategy returns ``before`` with the round's privacy spend
        counted: the coordinator checkpoints the last round with it before federated
        evaluation shows the new model to clients, so a run stopped before the round's own
        checkpoint runs the round again with its first release counted, not forgotten.
        """
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises
        ------
        ValueError
            If the state does not belong to this strategy.
        """
        if self.state_type is None:
            if state:
                raise ValueError(
                    f"checkpoint carries server state {sorted(state)}, but {self.name} keeps none"
                )
            self.server_state = None
            return
        self.server_state = None if _uninitialised(state) else self.state_type.from_dict(state)

    def client_mods(self) -> tuple[str, ...]:
        """Names of the registered client mods this strategy's clients need
        (see :mod:`rengo.hfl.mods`); the coordinator asks every client for them."""
        return ()

    # -- fit ----------------------------------------------------------------------------------
    def num_fit_clients(self, available: int) -> int:
        """Clients to sample from ``available``."""
        return max(sample_size(self.fraction_fit, available), self.min_fit_clients)

    def fit_config(self, server_round: int) -> Config:
        """The config every sampled client gets this round."""
        return round_config("on_fit_config", self.on_fit_config, server_round)

    def configure_fit(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, FitIns]]:
        """Sample clients (by fraction, at least ``min_fit_clients``) and give each a FitIns."""
        chosen = sample_clients(client_ids, self.num_fit_clients(len(client_ids)), rng)
        config = self.fit_config(server_round)
        return [(cid, FitIns(parameters, dict(config))) for cid in chosen]

    def result_reference(self, parameters: Parameters) -> Parameters:
        """Arrays a FitResult must match in count and shape (the model, by default)."""
        return parameters

    def result_problem(self, result: FitResult) -> str | None:
        """Why this strategy cannot fold ``result``, or None; checked with the reply checks
        (after its arrays matched :meth:`result_reference`), so a result refused here is
        its client's failure, not the round's."""
        return None

    def accumulator(self, server_round: int, parameters: Parameters) -> WeightedSum:
        """A fresh streaming accumulator for the round's results."""
        return WeightedSum(self.result_reference(parameters))

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        """Fold one validated result into the accumulator (weighted by examples)."""
        acc.add(result.parameters, float(result.num_examples), result.metrics)

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """The new global model from the accumulated results.

        Parameters
        ----------
        server_round
            The round being aggregated.
        parameters
            The global model the round started from.
        acc
            The accumulator the round's results were folded into.
        rng
            This round's aggregation generator, derived from the run seed (noise, random
            tie-breaks); the coordinator always passes it.

        Returns
        -------
        Parameters or Aggregate
            The new model, or an :class:`Aggregate` with round metrics as well.
        """
        raise NotImplementedError(NO_AGGREGATION.format(name=self.name))

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, Metrics] | None:
        """Centralised evaluation on the coordinator, if an ``evaluate_fn`` was given."""
        return self.evaluate_fn(server_round, parameters) if self.evaluate_fn else None

    def configure_evaluate(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, EvaluateIns]]:
        """Sample clients for federated evaluation (none when ``fraction_evaluate`` is 0)."""
        if self.fraction_evaluate <= 0.0:
            return []
        k = max(sample_size(self.fraction_evaluate, len(client_ids)), self.min_evaluate_clients)
        config = round_config("on_evaluate_config", self.on_evaluate_config, server_round)
        return [
            (cid, EvaluateIns(parameters, dict(config)))
            for cid in sample_clients(client_ids, k, rng)
        ]

    def aggregate_evaluate(
        self, server_round: int, results: Sequence[tuple[str, EvaluateResult]]
    ) -> tuple[float, dict[str, float]]:
        """Example-weighted mean loss and metrics over clients' evaluations."""
        total = sum(r.num_examples for _, r in results)
        if total == 0:
            return float("nan"), {}
        loss = sum(r.loss * r.num_examples for _, r in results) / total
        acc = WeightedSum([])
        for _, r in results:
            acc.add([], float(r.num_examples), r.metrics)
        return loss, acc.metrics()


def check_callback(name: str, callback: Callable[..., Any] | None, args: Sequence[str]) -> None:
    """Refuse, when the strategy is built, a ``callback`` that cannot be called with ``args``
    (positionally), rather than after the first round's training.

    Flower's ``evaluate_fn(server_round, parameters, config)`` takes a third argument that
    rengo's does not pass; the message says so.

    Parameters
    ----------
    name
        The strategy field holding it (for the message).
    callback
        The callable, or None (nothing to check).
    args
        The names of the arguments the strategy passes, in order.

    Raises
    ------
    TypeError
        If ``callback`` is not callable or its signature does not take ``args``.
    """
    if callback is None:
        return
    expected = f"{name}({', '.join(args)})"
    if not callable(callback):
        raise TypeError(f"{name} must be a callable {expected}, got {type(callback).__name__}")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # a builtin or extension callable: nothing to read
        return
    try:
        signature.bind(*args)
    except TypeError as exc:
        flower = (
            "; Flower's evaluate_fn also takes a config, which rengo does not pass: drop that "
            "parameter or give it a default"
            if name == "evaluate_fn" and len(signature.parameters) == len(args) + 1
            else ""
        )
        raise TypeError(
            f"{name} is called as {expected}, and {getattr(callback, '__qualname__', callback)}"
            f"{signature} cannot take that ({exc}){flower}"
        ) from None


def round_config(name: str, callback: ConfigFn | None, server_round: int) -> Config:
    """What ``callback(server_round)`` returned, as a new dict, checked to be one the wire
    carries, before it goes to any client.

    Parameters
    ----------
    name
        The strategy field holding ``callback`` (for the message).
    callback
        ``on_fit_config`` or ``on_evaluate_config``; None gives an empty config.
    server_round
        The round it is called for.

    Returns
    -------
    dict
        A copy of the returned mapping.

    Raises
    ------
    TypeError
        If it returned something other than a mapping with string keys, or a value the codec
        cannot encode (a torch tensor: send ``tensor.item()``), naming the key.
    """
    if callback is None:
        return {}
    returned = callback(server_round)
    if not isinstance(returned, Mapping) or not all(isinstance(k, str) for k in returned):
        raise TypeError(
            f"{name}({server_round}) returned {type(returned).__name__}, not a dict of config "
            "values by name"
        )
    config = dict(returned)
    try:
        encode(config)
    except CodecError:
        culprit = unencodable_part(config.items())
        if culprit is None:
            raise
        key, value = culprit
        raise TypeError(
            f"{name}({server_round}) returned {key!r} as a {type(value).__qualname__}, "
            "which cannot be sent: numbers, strings, bytes and numpy arrays can (a "
            "torch tensor: tensor.item())"
        ) from None
    return config


def _uninitialised(state: Mapping[str, Any]) -> bool:
    """True for an empty state, or one whose arrays lists are all empty (what a strategy
    checkpointed before its first round wrote)."""
    lists = [v for v in state.values() if isinstance(v, list)]
    return not state or (bool(lists) and not any(lists))


def wrapped_strategies(strategy: object) -> Iterator[object]:
    """``strategy`` and each strategy it wraps, outermost first: wrappers (central DP,
    secure-aggregation adapters) hold the strategy they wrap as ``.strategy``. At most 16
    levels, so a strategy that holds itself cannot loop."""
    inner: object | None = strategy
    for _ in range(16):
        if inner is None:
            return
        yield inner
        inner = getattr(inner, "strategy", None)


def sample_size(fraction: float, available: int) -> int:
    """How many of ``available`` clients a sampling ``fraction`` picks: the fraction as it is
    written in decimal times ``available``, rounded up (so any positive fraction picks
    someone). In binary floating point ``0.55 * 100`` is ``55.000000000000007``, which
    rounded up picked 56 clients where 55 were asked for (``0.07`` of 100: 8).

    Parameters
    ----------
    fraction
        The share of the clients, in [0, 1].
    available
        How many clients there are to pick from.

    Returns
    -------
    int
        ``ceil(fraction * available)``, computed exactly.
    """
    return math.ceil(Fraction(repr(float(fraction))) * available)


def sample_clients(client_ids: Sequence[str], k: int, rng: np.random.Generator) -> list[str]:
    """``k`` distinct clients drawn without replacement (all of them, sorted, if k >= n)."""
    ids = sorted(client_ids)
    if k >= len(ids):
        return ids
    picks = rng.choice(len(ids), size=k, replace=False)
    return [ids[i] for i in sorted(picks)]

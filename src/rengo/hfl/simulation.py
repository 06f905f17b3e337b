"""Run a whole federation on this machine: ``simulate(client_fn, num_clients, strategy, ...)``.

The executor only decides where client code runs; the coordinator, strategy and clients are
the same objects a deployment uses. Same seed, same final model on every executor (except
under differential privacy, whose noise and sampling come from OS entropy, never the seed).
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from rengo.core.errors import ConfigError, UnrunnableClientTask
from rengo.core.parameters import Parameters
from rengo.core.skipped_round import check_short_round_settings
from rengo.hfl.checkpoints import CheckpointRetention
from rengo.hfl.client import ClientFn, client_handler
from rengo.hfl.compressed_exchange import compression_settings, keeps_residuals
from rengo.hfl.coordinator import (
    Coordinator,
    History,
    ProgressFn,
    RoundObserver,
    RoundRecord,
    RunRecorder,
    observers_run_summary,
    round_summary,
)
from rengo.hfl.local_dp_resume import refuse_lost_local_budgets
from rengo.hfl.mods.chain import Mod
from rengo.hfl.observer_fit import check_observers_fit
from rengo.hfl.privacy_fit import check_privacy_fits
from rengo.hfl.privacy_record import DP_ACCOUNTING, privacy_settings, record_release_on_resume
from rengo.hfl.progress_bar import RoundProgressBar
from rengo.hfl.reply_count import RepliesCounted
from rengo.hfl.result_checks import ResultChecks
from rengo.hfl.run_traffic import RunTraffic
from rengo.hfl.strategy.base import Strategy, wrapped_strategies
from rengo.hfl.strategy.personalised import personalised_valuation_caveat
from rengo.hfl.strategy_record import strategy_settings
from rengo.hfl.workflow import FitWorkflow
from rengo.transport.executors import executor_names, make_executor
from rengo.transport.pool import ClientPool

log = logging.getLogger("rengo.hfl")

RUN_KIND = "hfl"
RESUME_MAY_CHANGE = frozenset({"executor", "bundled_data", DP_ACCOUNTING})
"""Run config entries a resumed simulation may change: where the clients run (the same seed
gives the same model on every executor), the rengo release that ships a bundled dataset
(recorded to say what the run trained on; an upgrade does not stop a resume), and the
``dp-accounting`` release (every epsilon is recomposed over all rounds with the installed
one; the record then names it, see :func:`~rengo.hfl.privacy_record.record_release_on_resume`)."""


class OpenRun(Protocol):
    """What a run store's ``run(...)`` context yields (a :class:`rengo.tracking.Run`)."""

    run_id: str | None
    summary: dict[str, Any]


class RunStoreLike(RunRecorder, Protocol):
    """A run store :func:`simulate` can record in (:class:`rengo.tracking.RunStore`)."""

    def run(
        self,
        kind: str,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        seed: int | None = None,
    ) -> AbstractContextManager[OpenRun]:
        """A new run for the body of a ``with`` (see :meth:`rengo.tracking.RunStore.run`)."""
        ...


def make_pool(
    client_fn: ClientFn,
    client_ids: Sequence[str],
    executor: str = "serial",
    workers: int | None = None,
    *,
    mods: Sequence[Mod] = (),
    **options: Any,
) -> ClientPool:
    """A simulation :class:`ClientPool` running ``client_fn``'s clients on ``executor``.

    Parameters
    ----------
    client_fn
        Builds the client for an id.
    client_ids
        The federation's clients.
    executor
        A registered executor (:func:`rengo.transport.executor_names`): ``"serial"``,
        ``"process"`` or ``"ray"`` out of the box.
    workers
        Worker processes or concurrent tasks (the executor's default when None).
    mods
        Client mods installed around every client (outermost first).
    **options
        Passed to the executor's pool (e.g. Ray's ``address``).

    Returns
    -------
    ClientPool
        The pool; close it when done.

    Raises
    ------
    ConfigError
        For an unknown executor or one whose optional dependency is missing.
    """
    return make_executor(executor, client_handler(client_fn, mods), client_ids, workers, **options)


def simulate(
    client_fn: ClientFn,
    num_clients: int | Sequence[str],
    strategy: Strategy,
    initial_parameters: Parameters,
    rounds: int,
    *,
    seed: int = 0,
    executor: str = "serial",
    workers: int | None = None,
    round_timeout: float | None = None,
    store: RunStoreLike | None = None,
    run_name: str | None = None,
    run_config: dict[str, Any] | None = None,
    observers: Sequence[RoundObserver] = (),
    progress: bool | ProgressFn = False,
    client_mods: Sequence[Mod] = (),
    workflow: FitWorkflow | None = None,
    checks: ResultChecks | None = None,
    checkpoints: CheckpointRetention | None = None,
    device: str | None = None,
    resume: str | None = None,
    executor_options: Mapping[str, Any] | None = None,
    on_short_round: str = "fail",
    max_skipped_rounds: int = 10,
) -> History:
    """Simulate ``rounds`` rounds of horizontal FL on this machine.

    Parameters
    ----------
    client_fn
        Builds the client for an id (called on demand, in whichever process runs it).
    num_clients
        A count (ids ``"0"`` .. ``"n-1"``) or the list of client ids.
    strategy
        Samples clients and aggregates their results; the client mods it names are
        installed on every client automatically.
    initial_parameters
        The initial global model.
    rounds
        How many rounds to run.
    seed
        The run seed: same seed, same final model on every executor (not under DP, whose
        noise and sampling never come from the seed: :mod:`rengo.privacy.entropy`).
    executor, workers
        Where client code runs (:func:`rengo.transport.executor_names`) and how wide.
    round_timeout
        Seconds a client may take per exchange before it is dropped from the round. The
        process and Ray executors stop it at the limit; the serial executor cannot (it runs
        the client in its own thread) and drops a late reply once it comes, so a client
        that hangs holds a serial run (it warns).
    store
        A :class:`rengo.tracking.RunStore` to record the run in (kind ``"hfl"``).
    run_name, run_config
        The recorded run's name and extra settings.
    observers
        See every fit result and completed round (contribution accounting). One that values
        each update (a :class:`~rengo.valuation.ContributionTracker`) is checked against the
        strategy and privacy first (:func:`~rengo.hfl.observer_fit.check_observers_fit`):
        refused beside central DP unless accepted, warned about under a strategy that does
        not average like FedAvg or that personalises (FedPer, FedRep, FedBN, Ditto,
        FedAvgFineTune: the global model it values is not what the clients use).
    progress
        True for a progress bar over rounds, or a callback per completed round; a callback
        that raises :class:`~rengo.core.errors.StopTraining` (early stopping) ends the run
        after that round, cleanly: the run completes, with the reason in
        :attr:`History.stopped <rengo.hfl.History>`.
    client_mods
        Extra client mods on every client, inside the strategy's (attack simulators,
        personal layers, local privacy).
    workflow
        The rounds' fit stage (default: one exchange per client,
        :class:`~rengo.hfl.workflow.SingleExchange`).
    checks
        The coordinator's checks of every result (default
        :meth:`ResultChecks.streaming <rengo.hfl.ResultChecks.streaming>`: absolute bounds
        only, so aggregation streams; pass ``ResultChecks()`` for the median rules a
        deployment uses; under secure aggregation, which shows no update, they are dropped
        with a warning).
    checkpoints
        Which round checkpoints stay in ``store`` (default: the latest only, what resuming
        needs; see :class:`~rengo.hfl.CheckpointRetention`).
    device
        Where the clients train, for the executor: ``"cuda"`` spreads the process
        executor's workers over the GPUs (one visible GPU each) and reserves a GPU per Ray
        task; ``"auto"`` does the first where there are GPUs, but reserves none on Ray
        (whose tasks then see none: it warns); the clients themselves choose their device
        (e.g. ``TorchClient(device="cuda")``). None: the executor does nothing about devices.
    resume
        An interrupted run in ``store`` (id or unique prefix) to continue after its latest
        round checkpoint, given the arguments it started with (refused when its recorded
        settings differ, the strategy's own among them - its sampling fractions and
        minimums, learning rates...; the executor may change). The model, the strategy's state, the
        excluded clients and stateful observers come back from the checkpoint; per-round
        randomness is the seed's, so a strategy without client state ends bit-identical to
        an uninterrupted run. What simulated clients keep between rounds (SCAFFOLD's control
        variates, personal layers or models, top-k's residuals) is in the checkpoint too, so
        they end as an uninterrupted run does (a checkpoint written without them warns that
        they start again). A run whose clients spent local DP budget is refused unless they
        keep it in a file (``TorchClient(..., dp_history=PATH)``): the checkpoint does not
        hold the interrupted round's spend.
    executor_options
        The executor's own settings, passed to its pool: for ``"ray"``, ``address`` (join a
        cluster: ``"auto"``, ``"ray://host:10001"``), ``num_cpus_per_client``,
        ``num_gpus_per_client``, ``memory_per_client`` (bytes), ``init_options`` (for
        the local Ray it starts) and ``unrunnable_wait_s`` (how long a round on a joined
        cluster waits for a node that can run its client tasks, default 600); see
        :class:`~rengo.transport.ray_pool.RayPool`. Not
        recorded with the run: a resume may change them.
    on_short_round, max_skipped_rounds
        What a round does when too few sampled clients report (fewer than the strategy's
        ``min_fit_clients``; secure aggregation: too few left to unmask): ``"fail"`` (the
        default) fails the run; ``"skip"`` keeps the model of the round before, records the
        round as skipped (who was sampled, who dropped and why, what it needed) and goes on,
        failing the run only when one more round than ``max_skipped_rounds`` in a row falls
        short. A skipped round aggregates and releases nothing (a central-DP accountant
        composes nothing for it), no observer sees its end (early stopping does not count
        it, a contribution tracker values nothing of it), and it is checkpointed, so a
        resumed run skips the same rounds (see :class:`~rengo.hfl.Coordinator`). Recorded
        with the run when ``"skip"``.

    Returns
    -------
    History
        The record of every round this call ran, the final model and the run id (None
        without a store). A resumed run's history starts after its checkpoint; the store
        holds every round (``store.rounds(history.run_id)``, ``rengo runs show``).

    Raises
    ------
    ConfigError
        For ``rounds < 1``, a seed that is not an integer >= 0, client ids given twice, a
        strategy's ``min_fit_clients`` or ``min_available_clients`` above the number of
        clients, an unknown executor, an option it does not take or ``workers`` below 1
        (before a run is recorded); for a ``resume`` without a store, of a run that is not
        an interrupted horizontal simulation, or with other settings (the run stays
        interrupted).
    RoundFailure
        If a round gets too few valid results (the run is recorded as failed; under
        ``on_short_round="skip"`` only past ``max_skipped_rounds`` skipped in a row).
    """
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    ids = (
        [str(i) for i in range(num_clients)]
        if isinstance(num_clients, int)
        else [str(c) for c in num_clients]
    )
    repeated = sorted(c for c, n in Counter(ids).items() if n > 1)
    if repeated:  # each would train and count twice a round
        raise ConfigError(f"client ids must be distinct; {repeated[:5]} appear more than once")
    if round_timeout is not None and executor == "serial":
        warnings.warn(
            f"round_timeout={round_timeout:g} with executor='serial': a late client is dropped "
            "only once it returns, and one that hangs holds the run; executor='process' or "
            "'ray' stops a client at the limit",
            UserWarning,
            stacklevel=2,
        )
    _check_enough_clients(strategy, len(ids))
    short_rounds = _short_round_settings(on_short_round, max_skipped_rounds)
    check_privacy_fits(strategy, workflow, initial_parameters)  # before a run is recorded
    check_observers_fit(strategy, workflow, observers)
    options = dict(executor_options or {})
    if device is not None:
        options["device"] = device
    pool = RepliesCounted(make_pool(client_fn, ids, executor, workers, mods=client_mods, **options))
    config = {
        "strategy": strategy.name,
        "strategy_settings": strategy_settings(strategy),
        "num_clients": len(ids),
        "rounds": rounds,
        "executor": executor,
        "seed": seed,
        **(run_config or {}),
        **compression_settings(workflow),
        **short_rounds,
        **privacy_settings(strategy, workflow),  # last: what ran, whatever a caller named
    }
    try:
        opened = (
            _recorded(store, config, run_name, seed)
            if resume is None
            else _resumed(store, resume, config)
        )
        with opened as run:
            # a joined Ray cluster with no node for the clients' tasks: the run is fine, and
            # resumes once the cluster has one (recorded interrupted, not failed)
            resumable = getattr(run, "resumable_errors", None)
            if resumable is not None:
                run.resumable_errors = (*resumable, UnrunnableClientTask)
            coordinator = Coordinator(
                strategy,
                pool,
                initial_parameters,
                seed=seed,
                round_timeout=round_timeout,
                store=store,
                run_id=run.run_id,
                observers=observers,
                workflow=workflow,
                checks=checks,
                checkpoints=checkpoints or CheckpointRetention(),
                on_short_round=on_short_round,
                max_skipped_rounds=max_skipped_rounds,
            )
            traffic = RunTraffic.resumed(store, run.run_id, resume)  # the totals go on
            done = 0
            if resume is not None:
                done = _restore_latest(store, run, coordinator, client_fn)
                record_release_on_resume(store, run.run_id, config, done)
                if done and not coordinator.restored_client_states:
                    _warn_client_state_lost(strategy, workflow)
            label = run_name or strategy.name
            bar = RoundProgressBar(progress, rounds, label, done=done)
            with bar as report:
                pool.listener = bar.replies
                _start_executor(pool, executor, bar)

                def logged(record: RoundRecord) -> None:
                    if log.isEnabledFor(logging.INFO):  # rengo -v, logging at INFO
                        log.info(round_summary(record, rounds))
                    # kept after each round: a session that crashes loses no round's bytes
                    traffic.keep(pool.bytes_received, pool.bytes_sent)
                    if report is not None:
                        report(record)

                try:
                    return coordinator.run(rounds, progress=logged)
                finally:  # every byte to and from the clients, every session, as deployed
                    run.summary.update(traffic.totals(pool.bytes_received, pool.bytes_sent))
                    # what an observer adds (the test rows, a reliability table)
                    run.summary.update(observers_run_summary(observers))
    finally:
        pool.close()


def _start_executor(pool: ClientPool, executor: str, bar: RoundProgressBar) -> None:
    """Start a pool that offers ``start()`` (Ray's: about 20 s for a local instance on a
    small machine) before round 1, the bar saying so: it started inside round 1, the bar at
    0 rounds with nothing said. Other pools start on first use."""
    start = getattr(pool, "start", None)
    if not callable(start):
        return
    bar.note(f"starting the {executor} executor")
    try:
        start()
    finally:
        bar.note("")


def _short_round_settings(on_short_round: str, max_skipped_rounds: int) -> dict[str, Any]:
    """What the run's record says about short rounds: nothing under ``"fail"`` (so runs
    recorded before the option resume), both settings under ``"skip"``; refused with a
    ConfigError before a run is recorded when either is not a value the coordinator takes."""
    check_short_round_settings(on_short_round, max_skipped_rounds)
    if on_short_round == "fail":
        return {}
    return {"on_short_round": on_short_round, "max_skipped_rounds": max_skipped_rounds}


def _check_enough_clients(strategy: Strategy, num_clients: int) -> None:
    """Refuse a strategy whose minimum per round exceeds the whole federation: every round
    would fail, and the first only after all its clients trained.

    Raises
    ------
    ConfigError
        Naming the minimum and the number of clients.
    """
    for name in ("min_available_clients", "min_fit_clients"):
        needed = getattr(strategy, name, 0)
        if needed > num_clients:
            raise ConfigError(
                f"{strategy.name}: {name}={needed}, but the federation has {num_clients} "
                f"client(s), so no round can succeed; lower {name} or simulate more clients"
            )


def _resumed(
    store: RunStoreLike | None, run_id: str, config: dict[str, Any]
) -> AbstractContextManager[OpenRun]:
    """Reopen interrupted run ``run_id``, refused unless it was recorded with ``config``."""
    if store is None:
        raise ConfigError("resume needs the run store the run was recorded in (store=...)")
    reopen = getattr(store, "resume", None)
    if not callable(reopen) or not callable(getattr(store, "latest_checkpoint", None)):
        raise TypeError(
            f"store must be a rengo.tracking.RunStore to resume a run (it needs resume(...) "
            f"and latest_checkpoint(...)), got {type(store).__name__}"
        )
    opened: AbstractContextManager[OpenRun] = reopen(
        run_id, RUN_KIND, settings=config, may_change=RESUME_MAY_CHANGE
    )
    return opened


def _restore_latest(store: Any, run: OpenRun, coordinator: Coordinator, client_fn: ClientFn) -> int:
    """Load the run's latest checkpoint into ``coordinator``; the rounds it holds (0: none,
    the run restarts from the initial model). Refused, the run left interrupted, when its
    clients would forget the local DP budget they spent (:mod:`rengo.hfl.local_dp_resume`)."""
    # a checkpoint this run cannot take leaves it interrupted, as it was
    previous = getattr(run, "resumable_errors", None)
    if previous is not None:
        run.resumable_errors = (Exception,)  # type: ignore[attr-defined]
    assert run.run_id is not None  # a resumed run has one
    refuse_lost_local_budgets(store, run.run_id, client_fn)
    checkpoint = store.latest_checkpoint(run.run_id)
    if checkpoint is None:
        if previous is not None:
            run.resumable_errors = previous  # type: ignore[attr-defined]
        return 0
    coordinator.restore(checkpoint[1])
    if previous is not None:
        run.resumable_errors = previous  # type: ignore[attr-defined]
    log_event = getattr(store, "log_event", None)
    if callable(log_event):
        log_event(run.run_id, "info", f"resumed after round {checkpoint[0]}", checkpoint[0])
    return int(checkpoint[0])


def _warn_client_state_lost(strategy: Strategy, workflow: FitWorkflow | None) -> None:
    """Warn when a simulation whose clients keep state between rounds resumes from a
    checkpoint that holds none (written before checkpoints kept it)."""
    kept = [
        what
        for what, found in (
            ("SCAFFOLD's control variates", _is_scaffold(strategy)),
            ("personal layers or models", personalised_valuation_caveat(strategy) is not None),
            ("top-k's error-feedback residuals", keeps_residuals(workflow)),
        )
        if found
    ]
    if kept:
        warnings.warn(
            f"resuming a simulation of {strategy.name}: {' and '.join(kept)} are not in the "
            "round checkpoint (written by a release that did not keep them), so the simulated "
            "clients start again without them and the run ends elsewhere than an "
            "uninterrupted one would",
            UserWarning,
            stacklevel=2,
        )


def _is_scaffold(strategy: object) -> bool:
    """Whether ``strategy`` is SCAFFOLD, or wraps it (privacy wrappers)."""
    from rengo.hfl.strategy.scaffold import Scaffold

    return any(isinstance(inner, Scaffold) for inner in wrapped_strategies(strategy))


@dataclass
class _UnrecordedRun:
    """The run a simulation without a store has: no id, a summary nobody keeps (the same
    shape as :class:`rengo.tracking.Run`'s null run, which this layer cannot import)."""

    run_id: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _unrecorded() -> Iterator[OpenRun]:
    yield _UnrecordedRun()


def _recorded(
    store: RunStoreLike | None, config: dict[str, Any], name: str | None, seed: int
) -> AbstractContextManager[OpenRun]:
    if store is None:
        return _unrecorded()
    if not callable(getattr(store, "run", None)):
        raise TypeError(
            f"store must be a rengo.tracking.RunStore (it needs run(...)), "
            f"got {type(store).__name__}"
        )
    return store.run(RUN_KIND, config, name=name, seed=seed)


def __getattr__(name: str) -> Any:
    if name == "EXECUTORS":
        warnings.warn(
            "rengo.hfl.EXECUTORS is deprecated: use rengo.transport.executor_names()",
            DeprecationWarning,
            stacklevel=2,
        )
        return executor_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

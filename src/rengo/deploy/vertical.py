"""Vertical FL deployed: any registered vertical algorithm between OS processes over gRPC.

The coordinator (``rengo vfl coordinator``) holds the run's plan (and, for algorithms whose
key holder is the coordinator, the key material); each party (``rengo vfl party``) holds its
own table, connects outbound with mTLS, and keeps its rows and model. The roles are exactly
those the estimators run on their in-process bus: :func:`~rengo.vfl.runner.vertical_coordinator`
and :func:`~rengo.vfl.runner.vertical_party` (PSI, the algorithm's training roles, PSI on the
scoring IDs, its prediction roles); only the channel under them changes, and the transport's
channels fail every role fast when one fails or a party leaves for good. With the same seed
and data a deployed run reproduces the simulation exactly.

With checkpoints (``checkpoint_dir`` at the coordinator and at every party) a run of an
algorithm that checkpoints its epochs (every built-in one; SecureBoost's epoch is a tree)
is resumable: a run that loses a party's link waits ``rejoin_grace`` for every party to
come back and resumes itself (see :mod:`rengo.deploy.vertical_rejoin`); a run that loses its
coordinator, or a party for longer, is recorded ``interrupted``, and ``resume=RUN``
(``rengo vfl coordinator --resume RUN``) continues it after the last epoch every role
completed, to the model an uninterrupted run trains (see :mod:`rengo.vfl.checkpoints`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.deprecation import moved_names
from rengo.core.errors import ChannelTimeout, ConfigError, DataError, PeerFailure, RoundFailure
from rengo.core.options import options_to_wire
from rengo.core.roles import COORDINATOR
from rengo.crypto.sealing import passphrase_bytes
from rengo.crypto.x25519 import BlindingPool
from rengo.deploy.coordinator import recorded_hub
from rengo.deploy.held_out_report import ScoredRowsEvaluation, record_held_out
from rengo.deploy.roles import run_hub_role, run_role
from rengo.deploy.vertical_epochs import EpochRows
from rengo.deploy.vertical_rejoin import (
    MAX_REJOINS,
    REJOIN_GRACE_S,
    RejoinClock,
    link_failure,
    party_may_rejoin,
    wait_for_rejoin,
)
from rengo.hfl.run_traffic import RunTraffic
from rengo.tracking.errors import StoreClosedError, StoreWriteRefused
from rengo.tracking.iv_selection_table import IV_SELECTION
from rengo.tracking.run import open_run
from rengo.transport.grpc_frames import check_message_limit
from rengo.transport.grpc_hub import GrpcHub, check_can_listen
from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl.checkpoints import PASSPHRASE_ENV, CheckpointFolder, MissingCheckpoint
from rengo.vfl.common import HeldOutRule, PartyData, PartyTable
from rengo.vfl.party_model_file import ModelOrigin, new_training_run, short_run
from rengo.vfl.progress import ProgressFn
from rengo.vfl.registry import get_algorithm
from rengo.vfl.runner import (
    VerticalCoordinatorOutcome,
    VerticalPartyResult,
    VerticalPlan,
    make_keys,
    plan_differences,
    vertical_coordinator,
    vertical_party,
)
from rengo.vfl.selection_settings import SelectionSettings

log = logging.getLogger("rengo.deploy")

# The composite run moved to rengo.vfl.runner; deploy.vertical re-exports its roles.
__getattr__ = moved_names(__name__, {"receive_plan": "rengo.vfl.runner"})

RUN_KIND = "vfl-deployed"
RESUMABLE_ERRORS: tuple[type[BaseException], ...] = (
    PeerFailure,
    RoundFailure,
    ChannelTimeout,
    ConnectionError,
    MissingCheckpoint,
    StoreWriteRefused,
)
"""What ends a checkpointed run ``interrupted`` rather than ``failed``: a party or the link
lost, a party that did not join in time, a party resumed without its checkpoint folder, a
run store that cannot be written (its disk full or read-only, its write lock held by another
process: the epochs and checkpoints written before stand); the run continues with
``resume``."""

LATE_PARTY_WAIT_S = 30.0
"""Seconds a coordinator whose run a party failed before every party joined keeps
answering the parties that never joined, telling each the run ended and why (the failing
party and its error's kind), instead of leaving them to retry for minutes; and, in a
checkpointed run it does not take back, the parties whose link dropped (they keep joining
again for their ``--rejoin-grace``). It stops earlier once each has been told."""

MESSAGE_TIMEOUT_S = 600.0
"""Longest a deployed party waits for one message of the run from another role, as every
party of a simulated run does (:func:`~rengo.vfl.runner.simulate_vertical`): a party that
stays connected but never answers then ends the run instead of holding every role for ever
(``rengo vfl party --message-timeout``); the first party to give up names whom it waited
for (the silent party, or a party that was itself waiting for it). The wait for the plan,
which lasts until every party joined, is not capped."""

VERTICAL_MAX_MESSAGE_BYTES = 256 * 1024**2
"""Largest message a party of a deployed vertical run may send, and a party accepts, unless
the operator sets another (``rengo vfl coordinator --max-message-mb``, the same on every
``rengo vfl party``, or ``[vfl] max_message_mb`` in the job file both read). The coordinator
holds at most this plus 64 MiB for each party at once, and a party at most that for each
sender (the default transport limit, 2 GiB a party, let a few authenticated parties make
the coordinator hold several GiB). An honest run's largest message is SecureBoost's
encrypted gradients, about 470 bytes a row at 2048-bit keys (14 MB for 30,000 rows, so
about 550,000 rows fit); PSI's blinded IDs take about 31 bytes a row and a hetero LR batch
of 1,024 rows about 0.5 MB (measured: ``benchmarks/vertical_message_sizes.py``)."""


@dataclass(frozen=True)
class VerticalRunReport:
    """A finished deployed run, as the coordinator saw it."""

    run_id: str | None
    plan: VerticalPlan
    outcome: VerticalCoordinatorOutcome
    wall_time_s: float
    bytes_sent: int
    bytes_received: int

    def describe(self) -> str:
        """One line: what was trained on how many rows, and how many were scored."""
        return describe_run(self.plan, self.outcome)


def describe_run(plan: VerticalPlan, outcome: VerticalCoordinatorOutcome) -> str:
    """One line: what was trained on how many common rows, and how many rows the party that
    receives the predictions (the label party; in transfer learning the target) scored; a
    scoring-only run says that it scored with the models the parties kept."""
    if not plan.train:
        of_run = (
            f" (training run {short_run(outcome.training_run)})" if outcome.training_run else ""
        )
        return f"scored {scored_rows(plan, outcome)} rows with the models the parties kept{of_run}"
    done = outcome.parties[plan.label_party]
    text = f"{plan.spec.describe(outcome.training)} on {done['train_rows']} common rows"
    return text + (f"; scored {scored_rows(plan, outcome)} rows" if plan.score else "")


def scored_rows(plan: VerticalPlan, outcome: VerticalCoordinatorOutcome) -> int:
    """How many rows the party that receives the predictions scored: the label party, or
    the feature party an algorithm scores at (transfer learning's target)."""
    if plan.spec.scored_by == "label_party":
        return outcome.parties[plan.label_party]["scored_rows"]
    return max((outcome.parties[host]["scored_rows"] for host in plan.hosts), default=0)


def _legacy_options(config: Any, algorithm: str, **legacy: Any) -> Any:
    """Fold the deprecated ``key_bits=`` / ``predict_mode=`` arguments into the config."""
    given = {k: v for k, v in legacy.items() if v is not None}
    if not given:
        return config
    warnings.warn(
        f"serve_vertical_coordinator({', '.join(f'{k}=' for k in given)}) is deprecated; "
        "pass them in config (e.g. HeteroLRConfig(key_bits=...))",
        DeprecationWarning,
        stacklevel=3,
    )
    base = config if config is not None else get_algorithm(algorithm).default_config()
    return replace(base, **given)


def serve_vertical_coordinator(
    listen: str,
    security: HubSecurity,
    parties: Sequence[str],
    label_party: str,
    *,
    algorithm: str = "hetero_lr",
    config: Any = None,
    keys: Any = None,
    seed: int | None = None,
    score: bool = True,
    train: bool = True,
    join_timeout: float = 300.0,
    rejoin_wait: float = 30.0,
    rejoin_grace: float = REJOIN_GRACE_S,
    max_rejoins: int = MAX_REJOINS,
    timeout: float | None = None,
    heartbeat_interval: float = 2.0,
    store: Any = None,
    run_name: str | None = None,
    on_listening: Callable[[GrpcHub], None] | None = None,
    key_bits: int | None = None,
    keypair: Any = None,
    predict_mode: str | None = None,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | Path | None = None,
    passphrase: str | bytes | None = None,
    resume: str | None = None,
    held_out: HeldOutRule | None = None,
    max_message_bytes: int = VERTICAL_MAX_MESSAGE_BYTES,
    selection: SelectionSettings | None = None,
) -> VerticalRunReport:
    """Serve one vertical run of ``algorithm`` to ``parties`` connecting to ``listen``.

    Parameters
    ----------
    listen
        ``HOST:PORT`` to listen on.
    security
        How parties authenticate (mTLS certificates or tokens).
    parties
        Every party of the run (the label party among them).
    label_party
        The party holding the labels.
    algorithm
        A registered vertical algorithm.
    config
        Its config (default: every default).
    keys
        The coordinator's key material when it holds the keys (made while parties join if
        ``None``).
    seed
        Fixes PSI's agreed order and the batch order (``None``: drawn by the label party).
    score
        Have the parties score their new rows after training.
    train
        Train (False: a scoring-only run, in which every party scores with the model it
        kept from an earlier run, e.g. SecureBoost's ``rengo vfl party --load-model``). A
        training run's plan names a fresh training-run token that each party writes into
        its kept model file; a scoring-only run refuses, before scoring, kept models whose
        tokens differ.
    join_timeout
        Seconds to wait for every party.
    rejoin_wait
        Seconds a party may be unreachable mid-run before the run fails for everyone (a
        party whose link dropped and came back aborts itself: messages in flight are lost).
    rejoin_grace
        With ``checkpoint_dir``: once a party's link dropped (it left for longer than
        ``rejoin_wait``, came back mid-run or was restarted), seconds to wait for every
        party to join again before the run is recorded ``interrupted``; once they have,
        the run resumes itself from the checkpoints, as ``resume`` would, on the same port
        (default :data:`~rengo.deploy.vertical_rejoin.REJOIN_GRACE_S`; 0: interrupted at
        once). A party that failed on its data or settings interrupts the run at once.
    max_rejoins
        Most times the run takes its parties back (default
        :data:`~rengo.deploy.vertical_rejoin.MAX_REJOINS`); a link that drops once more
        ends it ``interrupted``.
    timeout
        Caps any single wait.
    heartbeat_interval
        Seconds between heartbeats.
    store
        A :class:`rengo.tracking.RunStore` (run kind ``"vfl-deployed"``: joins, refusals,
        each training epoch as it ends with its duration, when the coordinator serves
        training (see :mod:`rengo.deploy.vertical_epochs`), the outcome, traffic).
    run_name
        The run's name in the store.
    on_listening
        Called with the hub once it listens.
    key_bits, keypair, predict_mode
        Deprecated: set them in ``config`` (``keypair``: pass ``keys``).
    progress
        Told of key generation and of every batch the coordinator serves (see
        :mod:`rengo.vfl.progress`; ``rengo vfl coordinator`` draws them).
    checkpoint_dir
        Makes the run resumable: the coordinator keeps its sealed key material and every
        epoch there, under the run's id, and every party must keep checkpoints too; once the
        run is recorded completed, only its plan stays.
    passphrase
        Seals the coordinator's private key in its checkpoint (scrypt, AES-256-GCM).
    resume
        Id (or unique prefix) of an interrupted ``vfl-deployed`` run in ``store`` to
        continue after the last epoch every role completed; the plan must be the one it
        started with (see :func:`checkpointed_plan`).
    held_out
        The job's rule for the customers held out to score (``rengo vfl coordinator
        --job``): sent in the plan, so that a party whose job file holds out others is
        refused before PSI, naming both rules (``None``: no job, nothing checked).
    max_message_bytes
        Largest message a party may send (default :data:`VERTICAL_MAX_MESSAGE_BYTES`); a party
        that sends or declares more is cut off, naming the limit, and the run fails
        naming it. Give every party the same (:func:`run_vertical_party`).
    selection
        Select columns by IV after PSI, before training (``rengo vfl coordinator --job``
        with ``[vfl.selection]``; see :mod:`rengo.vfl.hetero_binning.selection_step`): every
        party drops its unselected columns itself, and the run records every column's IV
        and whether it was kept, as a simulated run does (``rengo runs show``).

    Returns
    -------
    VerticalRunReport
        The plan, the coordinator's outcome, wall time and traffic.

    Raises
    ------
    ConfigError
        For a label party not among the parties, a ``max_message_bytes`` that is not
        positive, settings the algorithm refuses, a
        ``listen`` that is not ``HOST:PORT`` or cannot be bound, or a ``resume`` of a run
        that is not an interrupted, checkpointed ``vfl-deployed`` run of this plan (the
        store is left as it was).
    RoundFailure
        If a party did not join in time.
    PeerFailure
        If a party failed or left; every party is told.
    MissingCheckpoint
        On ``resume``, if a party kept no checkpoint of the run while a role completed
        epochs (the run stays interrupted; no role rolled back).
    """
    if label_party not in parties:
        raise ConfigError(f"label party {label_party!r} is not one of {list(parties)}")
    check_message_limit(max_message_bytes)
    if isinstance(max_rejoins, bool) or not (isinstance(max_rejoins, int) and max_rejoins >= 0):
        raise ConfigError(f"max_rejoins must be an int >= 0, got {max_rejoins!r}")
    if keypair is not None:
        warnings.warn(
            "serve_vertical_coordinator(keypair=...) is deprecated; pass keys=...",
            DeprecationWarning,
            stacklevel=2,
        )
        keys = keypair if keys is None else keys
    config = _legacy_options(config, algorithm, key_bits=key_bits, predict_mode=predict_mode)
    plan = VerticalPlan(
        label_party,
        tuple(p for p in parties if p != label_party),
        config,
        seed,
        score=score,
        train=train,
        algorithm=algorithm,
        # every party's kept model file of this run names it (a scoring-only run compares)
        training_run=new_training_run() if train else None,
        held_out=held_out,
        selection=selection,
    )
    spec = plan.spec
    # a scoring-only run makes key material only when scoring itself needs it
    holds_keys = spec.key_holder(config, train=train) == "coordinator"
    if checkpoint_dir is not None and not spec.resumable:
        raise ConfigError(f"{spec.name} keeps no epoch checkpoints: run it without checkpoints")
    if checkpoint_dir is not None and holds_keys and passphrase is None:
        raise ConfigError(
            "a resumable run keeps the coordinator's private key sealed at rest: give a "
            f"passphrase (rengo vfl coordinator reads ${PASSPHRASE_ENV})"
        )
    if checkpoint_dir is not None and holds_keys:
        assert passphrase is not None
        passphrase_bytes(passphrase)  # too short: refused now, not once every party joined
    if resume is not None:
        full, checkpointed = _run_to_resume(store, resume, checkpoint_dir)
        plan = replace(plan, checkpoint_run=full)
        if checkpointed:  # else the store refuses it below, with its reason
            assert checkpoint_dir is not None
            # the resumed run is the same training run: its model files name the same token
            first = checkpointed_plan(checkpoint_dir, full)
            plan = replace(plan, training_run=first.training_run)
            _same_plan(plan, checkpoint_dir)
            if holds_keys and keys is None:  # a wrong passphrase fails now, not mid-run
                assert checkpoint_dir is not None
                folder = CheckpointFolder(checkpoint_dir, full, COORDINATOR, spec.name)
                keys = folder.load_keys(passphrase)
    options = options_to_wire(plan.config)
    if not train:
        # the kept models carry their training's settings: a default recorded here (5
        # trees, 100 epochs) would read as the model's; keep what this run was given
        defaults = options_to_wire(type(plan.config)())
        options = {k: v for k, v in options.items() if v != defaults[k]}
    run_config = {
        "executor": "grpc",
        "listen": listen,
        "max_message_bytes": max_message_bytes,  # read back by a resume without the job
        **{k: v for k, v in plan.to_wire().items() if k != "config"},
        **options,
    }
    check_can_listen(listen)  # a port in use records no run
    started = time.perf_counter()
    outcome: VerticalCoordinatorOutcome | None = None
    with open_run(
        store, RUN_KIND, run_config, name=run_name, seed=seed, resume=plan.checkpoint_run
    ) as run:
        run_id = run.run_id
        # a resumed run's traffic goes on from its earlier sessions'
        traffic = RunTraffic.resumed(store, run_id, plan.checkpoint_run)
        if checkpoint_dir is not None and plan.checkpoint_run is None:
            plan = replace(plan, checkpoint_run=run_id or f"run-{secrets.token_hex(8)}")
        if checkpoint_dir is not None:
            run.resumable_errors = RESUMABLE_ERRORS
        if store is not None and run_id is not None:
            progress = EpochRows(store, run_id, len(plan.parties), progress)
        background = ThreadPoolExecutor(1, thread_name_prefix="rengo-keys")
        pending: Future[Any] | None = None
        saved = checkpoint_dir is not None and _has_keys(plan, checkpoint_dir)
        if keys is None and not saved and holds_keys:
            # made while parties join
            pending = background.submit(make_keys, spec, config, COORDINATOR, progress)
        resuming = resume is not None

        def coordinate(channel: Any) -> VerticalCoordinatorOutcome:
            made = pending.result() if pending is not None else keys
            return vertical_coordinator(
                channel,
                plan,
                keys=made,
                progress=progress,
                checkpoint_dir=checkpoint_dir,
                passphrase=passphrase,
                resuming=resuming,
            )

        # one hub a stretch of the run: a link that dropped ends the hub's stretch, and a
        # checkpointed run goes on with a new hub on the same port once every party is back
        address, stopped, rejoins = listen, None, 0
        received = sent = 0
        try:
            while outcome is None:
                hub, record = recorded_hub(
                    address,
                    security,
                    heartbeat_interval,
                    store,
                    run_id,
                    resumable=checkpoint_dir is not None,
                    max_message_bytes=max_message_bytes,
                )
                _start_hub(hub, stopped)
                rejoining, ended = False, None
                try:
                    if stopped is None:
                        if on_listening is not None:
                            on_listening(hub)
                    else:
                        wait_for_rejoin(hub, plan.parties, rejoin_grace, stopped)
                        rejoins += 1
                        record("info", "every party rejoined: the run resumes from its checkpoints")
                    outcome = run_hub_role(
                        hub,
                        coordinate,
                        plan.parties,
                        join_timeout=join_timeout if stopped is None else rejoin_grace,
                        rejoin_wait=rejoin_wait,
                        timeout=timeout,
                    )
                except PeerFailure as exc:
                    if checkpoint_dir is None or rejoin_grace <= 0 or not link_failure(exc):
                        ended = exc
                        raise
                    if rejoins >= max_rejoins:
                        ended = exc
                        record(
                            "warning",
                            f"the run stopped ({exc}) after taking its parties back "
                            f"{rejoins} time(s), the most it may (max_rejoins={max_rejoins}): "
                            "it is interrupted; resume it with --resume once the links hold",
                        )
                        raise
                    rejoining, stopped, resuming = True, exc, True
                    record(
                        "warning",
                        f"the run stopped ({exc}): waiting up to {rejoin_grace:g}s for every "
                        "party to rejoin, then it continues after the last epoch every role "
                        "completed",
                    )
                finally:
                    # whatever happened, the parties are told to stop (a resumed run starts
                    # them again; a run that takes them back says nothing: they rejoin); a
                    # party that failed the run before the others joined would leave them
                    # retrying against no coordinator: each that comes within a while is told
                    _close_hub(
                        hub,
                        plan.parties,
                        rejoining,
                        ended,
                        first=stopped is None,
                        checkpointed=checkpoint_dir is not None,
                    )
                    more_in, more_out = hub.traffic()
                    received, sent = received + more_in, sent + more_out
                    with contextlib.suppress(StoreClosedError, StoreWriteRefused):
                        traffic.keep(received, sent)  # a later crash loses no earlier stretch
                address = hub.address
            if outcome.resumed_after is not None:
                record("info", f"resumed after epoch {outcome.resumed_after}")
            if outcome.selection is not None:
                from rengo.vfl.hetero_binning.selection_step import describe_selection

                record("info", describe_selection(outcome.selection))
            log.info(describe_run(plan, outcome))
            record("info", describe_run(plan, outcome))
        finally:
            background.shutdown(wait=False, cancel_futures=True)
            wall = time.perf_counter() - started
            if isinstance(progress, EpochRows):  # an unwritable store raises if nothing else did
                _write_refused_epochs(progress, store, run_id, sys.exc_info()[1] is not None)
            run.summary.update(traffic.totals(received, sent))
            if rejoins:
                run.summary["rejoins"] = rejoins
            if outcome is not None:
                run.summary.update(spec.summary(outcome.training, outcome.scoring))
                if outcome.selection is not None:  # as a simulated run records it
                    run.summary[IV_SELECTION] = outcome.selection
                for party in outcome.held_out_from_others:
                    record(
                        "warning",
                        f"{party} sent a held-out evaluation with its 'done', though it does "
                        "not receive the predictions to evaluate: left out of the run's record",
                    )
                record_held_out(
                    store,
                    run_id,
                    plan,
                    run.summary,
                    outcome.held_out,
                    "the scoring party",
                    lambda why: record("warning", why),
                )
                run.summary["scored_rows"] = scored_rows(plan, outcome)  # the held-out rows
                if plan.train:
                    run.summary["common_rows"] = outcome.parties[label_party]["train_rows"]
                else:  # no rows were aligned for training: say with what it scored
                    if outcome.training_run is not None:
                        run.summary["training_run"] = outcome.training_run
                if outcome.resumed_after is not None:
                    run.summary["resumed_after_epoch"] = outcome.resumed_after
    assert outcome is not None
    if checkpoint_dir is not None and plan.checkpoint_run is not None:
        # recorded completed, the run is never resumed: its sealed private key and epochs
        # would stay on disk run after run; the plan stays (a --resume of it is refused)
        folder = CheckpointFolder(checkpoint_dir, plan.checkpoint_run, COORDINATOR, spec.name)
        folder.discard_resume_state()
    return VerticalRunReport(run_id, plan, outcome, wall, sent, received)


def _start_hub(hub: GrpcHub, stopped: PeerFailure | None) -> None:
    """Start ``hub``; a hub that takes the parties back after ``stopped`` cannot fail to
    listen without ending the run ``interrupted`` for that failure (its port was taken)."""
    if stopped is None:
        hub.start()
        return
    try:
        hub.start()
    except ConfigError as exc:
        raise stopped from exc


def _close_hub(
    hub: GrpcHub,
    parties: Sequence[str],
    rejoining: bool,
    ended: PeerFailure | None,
    *,
    first: bool,
    checkpointed: bool,
) -> None:
    """Close one stretch's hub: silently when the parties rejoin (they keep reconnecting),
    else telling each how the run ended (the hub's failure, else ``ended``), and lingering
    for those of the first stretch that never joined, and, in a checkpointed run not taken
    back after a link dropped (no ``rejoin_grace``, or past ``max_rejoins``), for the
    parties whose link was lost: each keeps joining again for its own ``--rejoin-grace``
    (those still connected wait for the goodbye, see ``run_role``'s ``await_verdict``)."""
    if rejoining:
        hub.close(goodbye=False)
        return
    failure = hub.failure or ended
    late = hub.never_joined(parties) if failure is not None and first else []
    lost = checkpointed and failure is not None and link_failure(failure)
    hub.close(
        goodbye=True,
        linger=LATE_PARTY_WAIT_S if late or lost else 0.0,
        outcome="finished" if failure is None else f"ended: {failure}",
        expected=late,
    )


def _run_to_resume(store: Any, resume: str, checkpoint_dir: str | Path | None) -> tuple[str, bool]:
    """The full id of the run to resume, and whether the store would resume it (an
    interrupted ``vfl-deployed`` run: then its checkpoint must be there)."""
    if store is None:
        raise ConfigError("resume needs the run store the run was recorded in (--store)")
    if checkpoint_dir is None:
        raise ConfigError(
            "resuming a vertical run needs the checkpoint folder it kept (--checkpoints DIR)"
        )
    info = store.get_run(resume)
    return str(info.run_id), info.kind == RUN_KIND and info.status == "interrupted"


def checkpointed_plan(checkpoint_dir: str | Path, run_id: str) -> VerticalPlan:
    """The plan a resumable run started with, from the coordinator's checkpoint.

    Parameters
    ----------
    checkpoint_dir
        The coordinator's checkpoint folder.
    run_id
        The run's full id.

    Returns
    -------
    VerticalPlan
        The plan, ``checkpoint_run`` included.

    Raises
    ------
    ConfigError
        If the folder holds no checkpoint of the run.
    """
    path = Path(checkpoint_dir) / run_id / COORDINATOR / "plan.json"
    if not path.exists():
        raise ConfigError(
            f"{path.parent} holds no checkpoint of run {run_id}: give the --checkpoints folder "
            "the run was started with (a run started without checkpoints cannot be resumed)"
        )
    try:
        algorithm = json.loads(path.read_bytes())["algorithm"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"checkpoint {path} is damaged ({exc})") from exc
    saved = CheckpointFolder(checkpoint_dir, run_id, COORDINATOR, str(algorithm)).load_plan()
    assert saved is not None
    return VerticalPlan.from_wire(saved)


def _same_plan(plan: VerticalPlan, checkpoint_dir: str | Path | None) -> None:
    """Refuse a resume whose plan is not the checkpointed one, naming what differs."""
    assert checkpoint_dir is not None and plan.checkpoint_run is not None
    saved = checkpointed_plan(checkpoint_dir, plan.checkpoint_run).to_wire()
    wire = plan.to_wire()
    differs = plan_differences(saved, wire)
    if differs:
        raise ConfigError(
            f"run {plan.checkpoint_run} started with other settings (they differ in "
            f"{', '.join(differs)}): resume it with the same job, or without --job/--parties "
            "to take its settings from the checkpoint"
        )


def _has_keys(plan: VerticalPlan, checkpoint_dir: str | Path) -> bool:
    """Whether the coordinator's key material is already in its checkpoint."""
    if plan.checkpoint_run is None:
        return False
    folder = CheckpointFolder(checkpoint_dir, plan.checkpoint_run, COORDINATOR, plan.algorithm)
    return (folder.path / "keys.sealed").exists()


def _forget_completed_run(result: VerticalPartyResult, checkpoint_dir: str | Path | None) -> None:
    """A party's checkpoints of a run that completed: removed, as the run is never resumed,
    and its alignment (which rows of this party's table every party shares) and epochs would
    otherwise stay on this machine run after run (the coordinator removes its resume state
    too, see :func:`serve_vertical_coordinator`)."""
    run = result.plan.checkpoint_run
    if checkpoint_dir is None or run is None:
        return
    removed = CheckpointFolder(checkpoint_dir, run, result.name, result.plan.algorithm).remove()
    if removed:
        log.info(
            "%s: run %s completed: removed its %d checkpoint file(s) from %s",
            result.name,
            run,
            len(removed),
            Path(checkpoint_dir) / run / result.name,
        )


def _held_out_evaluation(data: PartyData) -> ScoredRowsEvaluation | None:
    """The label party's evaluation of its scored rows, where it holds their labels (None:
    it holds none)."""
    if data.score_labels is None or data.score_table is None:
        return None
    labels = dict(zip(data.score_table.ids, data.score_labels, strict=True))
    exposure = (
        None
        if data.score_exposure is None
        else dict(zip(data.score_table.ids, data.score_exposure.tolist(), strict=True))
    )
    return ScoredRowsEvaluation(labels, data.score_labels.dtype, exposure)


def run_vertical_party(
    coordinator: str,
    name: str,
    table: PartyTable | PartyData,
    credentials: PartyCredentials,
    *,
    labels: np.ndarray | None = None,
    score_table: PartyTable | None = None,
    connect_timeout: float = 300.0,
    timeout: float | None = MESSAGE_TIMEOUT_S,
    linger: float = 30.0,
    heartbeat_interval: float = 2.0,
    backoff: Backoff = DEFAULT_BACKOFF,
    psi_workers: int | None = None,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | Path | None = None,
    model: Any = None,
    origin: ModelOrigin | None = None,
    own_seed: int | None = None,
    max_message_bytes: int = VERTICAL_MAX_MESSAGE_BYTES,
    rejoin_grace: float = REJOIN_GRACE_S,
    data_files: Mapping[str, str] | None = None,
    on_joined: Callable[[str | None], None] | None = None,
    share_evaluation: bool = True,
) -> VerticalPartyResult:
    """Take part in the vertical run served at ``coordinator`` (``host:port``) as ``name``.

    Parameters
    ----------
    coordinator
        The coordinator's ``HOST:PORT``.
    name
        This party's name (as in its certificate).
    table
        Its training table, or all its inputs as a :class:`~rengo.vfl.common.PartyData`.
    credentials
        Its certificate and key (or token).
    labels
        One per row of ``table``: the label party only.
    score_table
        New rows to score when the coordinator's plan asks for scoring.
    connect_timeout, heartbeat_interval, backoff
        Connection settings (see :func:`rengo.deploy.run_role`).
    timeout
        Longest wait for one message from another role (default
        :data:`MESSAGE_TIMEOUT_S`; ``None``: no limit); past it this party ends the run.
    linger
        After ``done``, seconds to wait for the coordinator to close the run, so it never
        mistakes a finished party for a lost one.
    psi_workers
        Processes for PSI's blinding (default: every core).
    progress
        Told of this party's steps: PSI's match count as soon as it is known, training
        batches (the label party: with the running loss), scoring (see
        :mod:`rengo.vfl.progress`; ``rengo vfl party`` draws them).
    checkpoint_dir
        Where this party keeps its checkpoints of a resumable run (its alignment and every
        completed epoch, under the run's id); started again with the same folder, it
        continues where the run stopped. Required when the coordinator keeps checkpoints.
    model
        Its model from an earlier run, for a scoring-only run (the coordinator's
        ``train=False``).
    origin
        Where ``model`` came from (see :func:`~rengo.vfl.runner.vertical_party`): a run of
        another algorithm, label party or parties is refused, naming the file, and so is a
        scoring-only run in which another party's kept model is of another training run.
    own_seed
        This party's own seed for its initial weights and defence noise (split learning,
        transfer learning): never sent. None (the default): drawn from the OS, which a
        deployment should keep; give one only to repeat a run (the simulation of the plan
        uses the plan's seed, which every party knows).
    max_message_bytes
        Largest message this party accepts (default :data:`VERTICAL_MAX_MESSAGE_BYTES`; the
        coordinator's limit); what one other party has waiting unread for it is capped at
        this plus 64 MiB, past which the run stops naming that party.
    rejoin_grace
        With ``checkpoint_dir``: once the run stopped because a link dropped (this party's
        or another's), seconds this party keeps connecting again to join the run the
        coordinator resumes from the checkpoints (default :data:`REJOIN_GRACE_S`; 0: stop
        at once). A coordinator that ended the run says so, and this party stops then.
    data_files
        The files this party's table was read from, ``{path: sha256 hex}``: reported to the
        coordinator at every join, which records them with the run (this party's word; see
        :mod:`rengo.deploy.party_data`). None: nothing reported.
    on_joined
        Called with the run's id (None where the coordinator records no run) each time the
        coordinator welcomes this party: ``rengo vfl party`` names the run in its log records.
    share_evaluation
        The label party with the labels of the rows it scores (``PartyData.score_labels``):
        whether it sends the coordinator its evaluation of them for the run's record (the
        default), as aggregates only: the row count, each metric and a binary model's
        reliability table (:mod:`rengo.deploy.held_out_report`; ``rengo run`` records the
        same). False: the coordinator's record holds no held-out evaluation.

    Returns
    -------
    VerticalPartyResult
        Its model, its aligned rows, and (the label party) the scores of its new rows.

    Raises
    ------
    AuthenticationError
        If the coordinator refuses this party.
    ConfigError
        If its inputs do not fit the coordinator's plan (told to every other role), or
        ``max_message_bytes`` is not positive.
    PeerFailure
        If another role failed or left.
    ChannelTimeout
        If a message it waited for did not come within ``timeout`` (the run ends for every
        role).
    """
    check_message_limit(max_message_bytes)
    data = table if isinstance(table, PartyData) else PartyData(table, labels, score_table)
    tables = [t for t in (data.table, data.score_table) if t is not None]
    size = max((len(t.ids) for t in tables), default=0)
    # a checkpointed run takes this party back after its link dropped (see vertical_rejoin)
    clock = RejoinClock(name, rejoin_grace if checkpoint_dir is not None else 0.0)

    evaluation = _held_out_evaluation(data)
    evaluate = evaluation.to_send if evaluation is not None and share_evaluation else None

    def role(channel: Any) -> VerticalPartyResult:
        clock.joined()
        return vertical_party(
            channel,
            data,
            model=model,
            origin=origin,
            pool=pool,
            progress=progress,
            checkpoint_dir=checkpoint_dir,
            own_seed=own_seed,
            evaluate=evaluate,
        )

    with BlindingPool(psi_workers) as pool:
        if size >= pool.min_parallel:
            pool.start()  # before any connection thread exists: cheap fork workers
        while True:
            try:
                result: VerticalPartyResult = run_role(
                    coordinator,
                    name,
                    role,
                    credentials,
                    connect_timeout=clock.remaining(connect_timeout),
                    timeout=timeout,
                    linger=linger,
                    heartbeat_interval=heartbeat_interval,
                    backoff=backoff,
                    max_message_bytes=max_message_bytes,
                    await_verdict=party_may_rejoin if clock.grace > 0 else None,
                    data_files=data_files,
                    on_joined=on_joined,
                )
            except Exception as exc:
                if not clock.may_retry(exc):
                    raise
            else:
                _forget_completed_run(result, checkpoint_dir)
                if evaluation is not None and result.scores is not None:
                    assert result.score_ids is not None
                    made = evaluation.evaluate(  # once: the one it sent, if it sent one
                        result.plan, result.model, result.score_ids, result.scores
                    )
                    if isinstance(made, DataError):
                        log.info("held-out rows not evaluated: %s", made)
                    return replace(result, held_out=made)
                return result


def _write_refused_epochs(
    rows: EpochRows, store: Any, run_id: str | None, failing: bool = False
) -> None:
    """Write the epochs the store refused while the run trained (before the held-out
    metrics go onto the last one); any it still refuses are named in a warning, logged and
    recorded where the store takes it, never silently lost."""
    if rows.epochs.write_pending(last_try=failing):  # failing: never over the run's error
        return
    unrecorded = rows.epochs.unrecorded_line()
    log.warning("%s", unrecorded)
    if store is not None and run_id is not None:
        with contextlib.suppress(StoreClosedError, StoreWriteRefused):
            store.log_event(run_id, "warning", unrecorded)

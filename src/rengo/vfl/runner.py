"""One vertical run, any registered algorithm: align by PSI, train, align again, score.

The run is two role functions that only talk through a
:class:`~rengo.transport.channel.Channel`: :func:`vertical_coordinator` (the organiser: it
hands out the :class:`VerticalPlan`, plays the algorithm's coordinator role if it has one,
and collects every party's ``done``) and :func:`vertical_party` (one party: PSI, its
training role, PSI on the rows to score, its prediction role). The estimators run them on
the in-process :class:`~rengo.transport.channel.LocalBus` (:func:`simulate_vertical`);
``rengo vfl coordinator`` / ``rengo vfl party`` run the very same functions over the gRPC
hub, so a deployed run equals the simulated one by construction: PSI's agreed order and
the batch order come from the plan's seed, and masks and key choice cancel out. The plan's
seed is public (every party receives it), so it makes nothing another party must not
predict: a party's initial weights and defence noise come from its own seed
(``vertical_party(own_seed=...)``, never sent; by default drawn from the OS). A simulation
gives every party the plan's seed as its own, so a seeded simulation repeats; a deployed
run equals it when each party is given that seed as its own.

Order of a run (keys in brackets)::

    coordinator -> every party: the plan                                   [run/plan]
    label party <-> feature parties: PSI on the training IDs              [train/psi/...]
    every role: the algorithm's training roles                            [train/...]
    label party <-> feature parties: PSI on the IDs to score               [score/psi/...]
    every role: the algorithm's prediction roles                          [score/...]
    every party -> coordinator: row counts                                 [run/done]

A scoring-only run (``train=False``) adds a handshake before PSI, so that no row is scored
with kept models of different training runs::

    every party -> coordinator: its kept model's training-run token        [run/model-run]
    coordinator -> every party: every party's token                        [run/model-runs]

Every party then checks that all tokens are its own (naming its file and the parties whose
token differs) and the coordinator that they are all one (naming the parties); a token is a
random nonce (:func:`~rengo.vfl.party_model_file.new_training_run`), nothing about data.

A resumable run (the plan names a ``checkpoint_run``; algorithms marked ``resumable``) adds a
handshake before PSI, and every role checkpoints each completed epoch in its own folder
(:mod:`rengo.vfl.checkpoints`)::

    every party -> coordinator: the last epoch it checkpointed, or none    [run/checkpoint]
    coordinator -> every party: the epoch every role continues after       [run/resume-from]

The agreed epoch is the smallest any role reports (the coordinator's own included): every
role rolls back to it. ``None`` (some party has no alignment saved) starts over with PSI
(a deployed ``--resume`` refuses that while a role completed epochs: ``MissingCheckpoint``);
otherwise the parties reuse their saved alignment and the training roles continue after the
agreed epoch, so the final model equals an uninterrupted run's.

What the organiser learns beyond the algorithm's own protocol: the plan it made, each
party's row counts and, in a scoring-only run, each party's training-run token. Parties
learn the plan (who takes part, the settings, the seed, a training run's token) and, in a
scoring-only run, every party's training-run token.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from rengo.core.differences import value_differences
from rengo.core.errors import ConfigError, DataError, PeerFailure, ProtocolError
from rengo.core.options import options_from_wire, options_to_wire
from rengo.core.roles import COORDINATOR
from rengo.crypto.x25519 import BlindingPool
from rengo.transport.channel import (
    Channel,
    Key,
    LocalBus,
    ScopeMixin,
    TranscriptEntry,
    run_roles,
)
from rengo.vfl.checkpoints import (
    CheckpointFolder,
    EpochCheckpoints,
    EpochState,
    MissingCheckpoint,
    sealing_passphrase,
)
from rengo.vfl.common import FeaturesAfterPsi, HeldOutRule, PartyData, PartyTable, check_columns
from rengo.vfl.exposure_values import check_exposure
from rengo.vfl.party_model_file import ModelOrigin, training_runs_differ
from rengo.vfl.progress import ProgressFn, VerticalProgress, report
from rengo.vfl.psi import SCOPE as PSI_SCOPE
from rengo.vfl.psi import PSIAlignment, PSIResult, psi_follower, psi_leader, require_nonempty
from rengo.vfl.registry import (
    AlignedData,
    RoleContext,
    RoleKind,
    Roles,
    RoleState,
    VerticalAlgorithm,
    get_algorithm,
)
from rengo.vfl.selection_settings import SelectionSettings, selection_key_bits

RUN = "run"  # the organiser's scope: plan and done
PLAN = "plan"  # coordinator -> every party
DONE = "done"  # every party -> coordinator: row counts
HELD_OUT = "held_out"  # in the label party's done: its evaluation of its scored rows
TRAIN, SCORE = "train", "score"  # the phases' scopes
CHECKPOINT = "checkpoint"  # (resumable runs) every party -> coordinator: its last epoch
RESUME_FROM = "resume-from"  # (resumable runs) coordinator -> every party: the agreed epoch
MODEL_RUN = "model-run"  # (scoring-only runs) every party -> coordinator: its training run
MODEL_RUNS = "model-runs"  # (scoring-only runs) coordinator -> every party: every party's
Alignment = Literal["psi", "given"]
"""``"psi"``: rows are aligned by private set intersection in the run; ``"given"``: every
party's table is already aligned (e.g. by ``rengo vfl align``), row k is the same customer."""


@dataclass(frozen=True)
class VerticalPlan:
    """What every role agrees on before a run: parties, algorithm, settings, seed, phases.

    The seed fixes PSI's agreed order and the batch order (``None``: drawn from the OS
    CSPRNG by the label party). Every party learns it, so it fixes nothing private: a
    party's initial weights and noise come from its own seed (see :func:`vertical_party`).

    Parameters
    ----------
    label_party
        The party holding the labels (PSI's leader).
    hosts
        The feature parties.
    config
        The algorithm's config (default: every default of ``algorithm``).
    seed
        Fixes PSI's agreed order and the batch order (not keys, not masks).
    score
        Score the parties' new rows after training.
    train
        Train (False: score with models trained earlier).
    algorithm
        A registered vertical algorithm.
    align
        How rows are aligned (see :data:`Alignment`).
    checkpoint_run
        Makes the run resumable: every role checkpoints its alignment and each completed
        epoch under this run id (see :mod:`rengo.vfl.checkpoints`); ``None``: no checkpoints.
    training_run
        A training run's token (:func:`~rengo.vfl.party_model_file.new_training_run`): every
        party writes it into its kept model file; ``None``: none (a simulation).
    held_out
        The rule by which the coordinator's job holds customers out to score
        (:class:`~rengo.vfl.common.HeldOutRule`): a party whose own job holds out by
        another rule is refused before PSI; ``None``: the coordinator read no job.
    selection
        Select columns by IV after PSI, before training (a job's ``[vfl.selection]``, see
        :mod:`rengo.vfl.hetero_binning.selection_step`): every party trains and scores on
        its kept columns only; ``None``: every column.

    Raises
    ------
    ConfigError
        For repeated or reserved party names, no feature party, a config of the wrong type,
        a run with no phase, a non-integer seed, or checkpoints of an algorithm that cannot
        resume (or of a run that does not train), or a selection in a run that does not
        train.
    """

    label_party: str
    hosts: tuple[str, ...]
    config: Any = None
    seed: int | None = None
    score: bool = True
    train: bool = True
    algorithm: str = "hetero_lr"
    align: Alignment = "psi"
    checkpoint_run: str | None = None
    training_run: str | None = None
    held_out: HeldOutRule | None = None
    selection: SelectionSettings | None = None

    def __post_init__(self) -> None:
        names = [self.label_party, *self.hosts]
        if not self.hosts:
            raise ConfigError("vertical learning needs the label party and at least one host")
        if len(set(names)) != len(names):
            raise ConfigError(f"party names must be distinct: {names}")
        if COORDINATOR in names:
            raise ConfigError(f"{COORDINATOR!r} is reserved for the coordinator role")
        algorithm = get_algorithm(self.algorithm)
        if self.config is None:
            object.__setattr__(self, "config", algorithm.default_config())
        elif not isinstance(self.config, algorithm.config_type):
            raise ConfigError(
                f"{self.algorithm} takes a {algorithm.config_type.__name__}, "
                f"got {type(self.config).__name__}"
            )
        object.__setattr__(self, "hosts", tuple(self.hosts))
        if not all(isinstance(flag, bool) for flag in (self.score, self.train)):
            raise ConfigError("score and train must be True or False")
        if not (self.score or self.train):
            raise ConfigError("a vertical run must train, score, or both")
        if self.align not in get_args(Alignment):
            raise ConfigError(f"align must be one of {get_args(Alignment)}, got {self.align!r}")
        if self.seed is not None:
            if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
                raise ConfigError(f"seed must be an integer or None, got {self.seed!r}")
            if self.seed < 0:  # numpy's generators take none (it failed inside PSI)
                raise ConfigError(f"seed must be >= 0, got {self.seed!r}")
            object.__setattr__(self, "seed", int(self.seed))  # np.int64 from a grid
        if self.checkpoint_run is not None:
            if not algorithm.resumable:
                raise ConfigError(
                    f"{self.algorithm} keeps no epoch checkpoints, so its runs cannot be "
                    "resumed: run it without checkpoints"
                )
            if not self.train:
                raise ConfigError("only a run that trains keeps checkpoints")
            CheckpointFolder(".", self.checkpoint_run, self.label_party, self.algorithm)
        if self.selection is not None:
            if not isinstance(self.selection, SelectionSettings):
                raise ConfigError(
                    f"selection must be a SelectionSettings, got {type(self.selection).__name__}"
                )
            if not self.train:
                raise ConfigError("selection by IV drops columns before training: train too")

    @property
    def parties(self) -> list[str]:
        """Every party, label party first (the order the roles use)."""
        return [self.label_party, *self.hosts]

    @property
    def spec(self) -> VerticalAlgorithm[Any]:
        """The algorithm's registered description."""
        return get_algorithm(self.algorithm)

    def kind_of(self, name: str) -> RoleKind:
        """The kind of role ``name`` plays."""
        if name == COORDINATOR:
            return "coordinator"
        if name == self.label_party:
            return "label_party"
        if name in self.hosts:
            return "feature_party"
        raise ConfigError(f"{name!r} takes no part in this run: {self.parties}")

    def context(
        self,
        name: str,
        progress: ProgressFn | None = None,
        checkpoints: EpochCheckpoints | None = None,
        own_seed: int | None = None,
    ) -> RoleContext[Any]:
        """What role ``name`` knows of the run (where it reports its progress, its
        checkpoints in a resumable run, and its own seed, see
        :attr:`~rengo.vfl.registry.RoleContext.own_seed`)."""
        return RoleContext(
            name,
            self.kind_of(name),
            self.config,
            self.label_party,
            self.hosts,
            self.seed,
            progress=progress,
            checkpoints=checkpoints,
            own_seed=own_seed,
        )

    def to_wire(self) -> dict[str, Any]:
        """A codec-friendly dict (``checkpoint_run`` only when the run is resumable,
        ``training_run``, ``held_out`` and ``selection`` only when it names one)."""
        wire = {
            "algorithm": self.algorithm,
            "label_party": self.label_party,
            "hosts": list(self.hosts),
            "config": options_to_wire(self.config),
            "seed": self.seed,
            "score": self.score,
            "train": self.train,
            "align": self.align,
        }
        if self.checkpoint_run is not None:
            wire["checkpoint_run"] = self.checkpoint_run
        if self.training_run is not None:
            wire["training_run"] = self.training_run
        if self.held_out is not None:
            wire["held_out"] = self.held_out.to_wire()
        if self.selection is not None:
            wire["selection"] = self.selection.as_dict()
        return wire

    @classmethod
    def from_wire(cls, tree: Any) -> VerticalPlan:
        """Rebuild and validate a plan received from the coordinator.

        Raises
        ------
        ProtocolError
            If the plan is malformed.
        ConfigError
            If it names an unknown algorithm or settings this party refuses.
        """
        fields = {"algorithm", "label_party", "hosts", "config", "seed", "score", "train", "align"}
        optional = {"checkpoint_run", "training_run", "held_out", "selection"}
        if not isinstance(tree, dict) or set(tree) - optional != fields:
            raise ProtocolError("the coordinator sent a malformed vertical plan")
        checkpoint_run, training_run = tree.get("checkpoint_run"), tree.get("training_run")
        if checkpoint_run is not None and not isinstance(checkpoint_run, str):
            raise ProtocolError("the coordinator's plan names a checkpoint run that is not a name")
        if training_run is not None and not isinstance(training_run, str):
            raise ProtocolError("the coordinator's plan names a training run that is not a token")
        held_out = None
        if "held_out" in tree:
            held_out = HeldOutRule.from_wire(tree["held_out"])
            if held_out is None:
                raise ProtocolError("the coordinator's plan holds a malformed held-out rule")
        hosts = tree["hosts"]
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise ProtocolError("the coordinator's plan lists hosts that are not names")
        algorithm = get_algorithm(str(tree["algorithm"]))
        return cls(
            label_party=str(tree["label_party"]),
            hosts=tuple(hosts),
            config=options_from_wire(algorithm.config_type, tree["config"], "the plan's config"),
            seed=tree["seed"],
            score=tree["score"],
            train=tree["train"],
            algorithm=algorithm.name,
            align=tree["align"],
            checkpoint_run=checkpoint_run,
            training_run=training_run,
            held_out=held_out,
            selection=(
                None if "selection" not in tree else SelectionSettings.from_wire(tree["selection"])
            ),
        )


@dataclass(frozen=True)
class VerticalCoordinatorOutcome:
    """What the organiser saw: its reports and each party's row counts.

    ``training`` and ``scoring`` are the algorithm's coordinator reports (``None`` without a
    coordinator role or phase); ``parties`` holds each party's ``done`` counts
    (``train_rows``, ``scored_rows``).
    """

    training: Any
    scoring: Any
    parties: dict[str, dict[str, int]]
    keys: Any = field(default=None, repr=False)
    resumed_after: int | None = None
    """In a resumable run: the epoch every role continued after (0: training started over
    on the saved alignment); ``None``: the run started from the beginning."""
    training_run: str | None = None
    """In a scoring-only run: the training-run token every party's kept model names
    (``None``: a training run, or kept files that name none)."""
    held_out: Any = None
    """The label party's evaluation of its scored rows, as it sent it with its ``done``
    (``vertical_party(..., evaluate=...)``: aggregates only, such as metrics and a
    reliability table; ``None`` where it sent none). Unchecked: whoever records it checks
    it, and leaves a malformed one out."""
    held_out_from_others: tuple[str, ...] = ()
    """Parties that sent an evaluation with their ``done`` though they do not receive the
    predictions (none is honest): theirs is left out, not in :attr:`held_out`."""
    selection: dict[str, Any] | None = None
    """With the plan's selection by IV: its record (the settings, the least rows of a bin in
    effect, every column's party, name, IV and whether kept: the label party's word, each
    feature party naming its own columns); ``None``: no selection."""

    @property
    def scored_values(self) -> int:
        """Values the coordinator handled while scoring (0 when it had no part)."""
        return self.scoring if isinstance(self.scoring, int) else 0


@dataclass(frozen=True)
class VerticalPartyResult:
    """What a party keeps: its model, its aligned rows and (label party) its predictions.

    ``train_rows`` are its rows of the intersection in the agreed order; the label party
    also gets the predictions for its scoring rows, ``score_ids`` and ``scores`` in its own
    row order (each row's prediction does not depend on the order it was scored in).
    ``keys`` is this party's key material when it holds the keys.
    """

    name: str
    plan: VerticalPlan
    train_rows: np.ndarray | None
    model: Any
    scored_rows: int = 0
    score_ids: np.ndarray | None = None
    scores: np.ndarray | None = None
    alignments: dict[str, PSIAlignment] = field(default_factory=dict)
    keys: Any = field(default=None, repr=False)
    held_out: Any = None
    """The party's own evaluation of its scored rows where it holds their labels, as the
    front end that ran it made it (a deployed label party's
    :class:`rengo.deploy.held_out_report.HeldOutReport`, or the error saying why the rows
    could not be evaluated); None: not evaluated."""
    kept_columns: tuple[int, ...] | None = None
    """With the plan's selection by IV: the indices of the columns of its table it trained
    and scored on, ascending (its model's columns); ``None``: every column."""

    @property
    def is_label_party(self) -> bool:
        """Whether this party holds the labels."""
        return self.name == self.plan.label_party


# -- the organiser ------------------------------------------------------------------------


def vertical_coordinator(
    channel: Channel,
    plan: VerticalPlan,
    *,
    keys: Any = None,
    training: Any = None,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | Path | None = None,
    passphrase: str | bytes | None = None,
    resuming: bool = False,
) -> VerticalCoordinatorOutcome:
    """The coordinator's whole run: hand out the plan, coordinate, collect ``done``.

    It plays the algorithm's coordinator role in each phase, if the algorithm has one. In a
    resumable run (``plan.checkpoint_run``) it keeps its key material sealed and every
    epoch in ``checkpoint_dir``, and leads the handshake that sets where training continues.

    Parameters
    ----------
    channel
        The coordinator's channel (the gRPC hub's, or the in-process bus's).
    plan
        The run to organise.
    keys
        The coordinator's key material when it is the key holder (made here if ``None``).
    training
        The coordinator's training report, for a scoring-only plan.
    progress
        Where it reports key generation and its training steps (see
        :mod:`rengo.vfl.progress`).
    checkpoint_dir
        Where it keeps its checkpoints of a resumable run.
    passphrase
        Seals its key material in the checkpoint (see :mod:`rengo.crypto.sealing`).
    resuming
        The run is being resumed (``rengo vfl coordinator --resume``): a party that reports
        no checkpoint while a role completed epochs is refused instead of starting every
        role over.

    Returns
    -------
    VerticalCoordinatorOutcome
        Its reports, the parties' row counts and its key material.

    Raises
    ------
    ConfigError
        In a resumable run: without ``checkpoint_dir``, without a passphrase for the keys,
        or when the checkpoint holds another plan.
    MissingCheckpoint
        When ``resuming`` and a party kept no checkpoint of the run while a role completed
        epochs (no role has rolled back then).
    ConfigError
        In a scoring-only run, when the parties' kept models come from different training
        runs (naming which party's is from which), before any row is scored.
    """
    algorithm = plan.spec
    run = channel.scope(RUN)
    for party in plan.parties:
        run.send(party, PLAN, plan.to_wire())
    kept_from = _collect_training_runs(run, plan) if not plan.train else None
    folder = _folder(plan, COORDINATOR, checkpoint_dir)
    holds_keys = algorithm.key_holder(plan.config, train=plan.train) == "coordinator"
    saved_keys = None
    if folder is not None and holds_keys and folder.load_plan() is None:
        # a new run: refused before its first file, so that it leaves no folder to resume
        sealing_passphrase(COORDINATOR, passphrase)
    if folder is not None:
        _keep_plan(folder, plan)
        saved_keys = folder.load_keys(passphrase) if holds_keys else None
        keys = saved_keys if saved_keys is not None else keys
    if keys is None and holds_keys:
        keys = make_keys(algorithm, plan.config, channel.name, progress)
    if folder is not None and holds_keys and saved_keys is None:
        folder.save_keys(keys, passphrase)
    checkpoints, resumed_after = None, None
    if folder is not None:
        reports = [_checkpoint_report(run.recv(party, CHECKPOINT), party) for party in plan.parties]
        # a coordinator without a training role, or one that follows the parties' epochs
        # (split learning), keeps no epochs of its own
        keeps = algorithm.train.coordinator is not None and algorithm.train.coordinator_epochs
        own = [max(folder.epochs(), default=0)] if keeps else []
        if resuming:
            _require_every_checkpoint(plan, dict(zip(plan.parties, reports, strict=True)), own)
        resumed_after = _agreed_epoch([*own, *reports])
        for party in plan.parties:
            run.send(party, RESUME_FROM, resumed_after)
        if keeps:
            checkpoints = _continue_after(folder, resumed_after)
        else:  # it continues where the parties do, from no state of its own
            start = EpochState(resumed_after) if resumed_after else None
            checkpoints = EpochCheckpoints(folder, start)
    context = plan.context(COORDINATOR, progress, checkpoints)
    scoring, selection = None, None
    if plan.train and plan.selection is not None:
        from rengo.vfl.hetero_binning.selection_step import receive_selection_record

        selection = receive_selection_record(run, plan.selection, plan.label_party, plan.hosts)
    if plan.train and algorithm.train.coordinator is not None:
        training = algorithm.train.coordinator(channel.scope(TRAIN), context, None, RoleState(keys))
        _check_type(training, algorithm.models.coordinator, algorithm, "coordinator")
    if plan.score and algorithm.predict.coordinator is not None:
        scoring = algorithm.predict.coordinator(
            channel.scope(SCORE), context, None, RoleState(keys, training)
        )
    done: dict[str, dict[str, int]] = {}
    held_out: Any = None
    others: list[str] = []
    scorers = _scorers(plan)
    for party in plan.parties:
        done[party], evaluation = _done_counts(run.recv(party, DONE), party)
        if evaluation is None:
            continue
        if party in scorers:
            held_out = evaluation
        else:
            others.append(party)
    if selection is not None:  # its least rows of a bin: the one in effect for its rows
        from rengo.vfl.hetero_binning.selection_step import check_min_bin_rows

        assert plan.selection is not None
        rows = done[plan.label_party]["train_rows"]
        check_min_bin_rows(selection, plan.selection, rows, plan.label_party)
    return VerticalCoordinatorOutcome(
        training,
        scoring,
        done,
        keys,
        resumed_after,
        kept_from,
        held_out,
        tuple(others),
        selection,
    )


def _collect_training_runs(run: Channel, plan: VerticalPlan) -> str | None:
    """A scoring-only run's handshake at the coordinator: every party's kept-model token
    in, all of them out to every party; refuse tokens that are not all one, else return it
    (``None``: the files name none).

    Every party checks them as well and fails first (naming its file); the coordinator then
    stops the run naming which party's model is from which training run.
    """
    runs: dict[str, str | None] = {}
    for party in plan.parties:
        token = run.recv(party, MODEL_RUN)
        if token is not None and not isinstance(token, str):
            raise ProtocolError(f"{party} sent a malformed training-run token")
        runs[party] = token
    for party in plan.parties:
        run.send(party, MODEL_RUNS, runs)
    differ = training_runs_differ(runs)
    if differ is None:
        return next(iter(runs.values()), None)
    refusal = ConfigError(
        f"the parties' kept models come from different training runs ({differ}): nothing "
        "was scored; give every party its model file of one training run"
    )
    try:  # every party refuses too: wait for it, so that each one names its own file
        for party in plan.parties:
            run.recv(party, DONE)
    except PeerFailure as exc:
        raise refusal from exc
    raise refusal


def _folder(plan: VerticalPlan, role: str, root: str | Path | None) -> CheckpointFolder | None:
    """``role``'s checkpoint folder of a resumable run (``None`` when it keeps none)."""
    if plan.checkpoint_run is None:
        return None
    if root is None:
        flag = "--checkpoints DIR" if role == COORDINATOR else f"--checkpoints DIR for {role}"
        raise ConfigError(
            f"run {plan.checkpoint_run} is resumable: every role keeps checkpoints, give "
            f"{role} a checkpoint folder ({flag})"
        )
    return CheckpointFolder(root, plan.checkpoint_run, role, plan.algorithm)


def _keep_plan(folder: CheckpointFolder, plan: VerticalPlan) -> None:
    """Save the plan, or check it is the one the run was checkpointed with."""
    saved = folder.load_plan()
    wire = plan.to_wire()
    if saved is None:
        folder.save_plan(wire)
        return
    differs = plan_differences(saved, wire)
    if differs:
        raise ConfigError(
            f"run {plan.checkpoint_run} was checkpointed with another plan (it differs in "
            f"{', '.join(differs)}): resume with the settings it started with"
        )


def plan_differences(saved: Mapping[str, Any], wire: Mapping[str, Any]) -> list[str]:
    """Where two plans (their :meth:`VerticalPlan.to_wire` dicts) differ, each entry named
    with both values as every resume refusal names them
    (:func:`rengo.core.differences.value_differences`): ``config.epochs 150, now 151``.

    Parameters
    ----------
    saved
        The plan a run started with.
    wire
        The plan it is resumed with.

    Returns
    -------
    list[str]
        One line per differing entry, sorted (empty if none).
    """
    return [
        line
        for key in sorted(set(saved) | set(wire))
        for line in value_differences(key, saved.get(key), wire.get(key))
    ]


def _checkpoint_report(value: Any, party: str) -> int | None:
    epochs = value.get("epochs") if isinstance(value, dict) and set(value) == {"epochs"} else -1
    if epochs is None or (isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 0):
        return epochs
    raise ProtocolError(f"{party} sent a malformed checkpoint report")


def _require_every_checkpoint(
    plan: VerticalPlan, reports: Mapping[str, int | None], own: Sequence[int]
) -> None:
    """Refuse a resume in which a party kept nothing of the run while a role completed
    epochs: starting over would discard every role's epochs."""
    lost = [party for party, epochs in reports.items() if epochs is None]
    completed = {party: epochs for party, epochs in reports.items() if epochs}
    if own and own[0]:
        completed = {COORDINATOR: own[0], **completed}
    if lost and completed:
        who, most = max(completed.items(), key=lambda item: item[1])
        raise MissingCheckpoint(
            f"cannot resume run {plan.checkpoint_run}: {', '.join(lost)} kept no checkpoint "
            f"of it in the --checkpoints folder given (another party's or run's folder, or "
            f"its own was lost), while {who} completed {most} epochs; restart each with the "
            f"folder holding {plan.checkpoint_run}/NAME/ ({plan.checkpoint_run}/{lost[0]}/ "
            f"for {lost[0]}) and resume again (nothing was rolled back), or start a new run "
            "to train from scratch"
        )


def _agreed_epoch(reports: Sequence[int | None]) -> int | None:
    """Where every role continues: the smallest epoch any role completed (``None``, start
    over, if any role has nothing saved)."""
    if any(epoch is None for epoch in reports):
        return None
    return min(epoch for epoch in reports if epoch is not None)


def _continue_after(folder: CheckpointFolder, epoch: int | None) -> EpochCheckpoints:
    """Roll ``folder`` back to ``epoch`` and give the role its state there."""
    folder.discard_after(epoch)
    return EpochCheckpoints(folder, folder.load_epoch(epoch) if epoch else None)


def _scorers(plan: VerticalPlan) -> list[str]:
    """The parties that may receive the predictions, and so send an evaluation of them: the
    label party, or the feature parties an algorithm scores at (transfer learning's
    target)."""
    return [plan.label_party] if plan.spec.scored_by == "label_party" else list(plan.hosts)


def _done_counts(value: Any, party: str) -> tuple[dict[str, int], Any]:
    """A party's ``done``: its row counts (checked), and the evaluation of its scored rows it
    sent (:data:`HELD_OUT`, unchecked: a malformed one fails only its own record, never the
    run; None: it sent none)."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{party} sent a malformed 'done' message")
    counts = {k: v for k, v in value.items() if k != HELD_OUT}
    if set(counts) != {"train_rows", "scored_rows"} or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in counts.values()
    ):
        raise ProtocolError(f"{party} sent a malformed 'done' message")
    return counts, value.get(HELD_OUT)


def receive_plan(channel: Channel, *, coordinator: str = COORDINATOR) -> VerticalPlan:
    """Wait for the coordinator's plan and check that it names this party.

    Raises
    ------
    ProtocolError
        If the plan is malformed or does not name this party.
    """
    # the plan comes once every party joined, however long the coordinator waits for them
    plan = VerticalPlan.from_wire(channel.scope(RUN).recv(coordinator, PLAN, math.inf))
    if channel.name not in plan.parties:
        raise ProtocolError(f"the coordinator's plan {plan.parties} does not name {channel.name!r}")
    return plan


# -- one party ----------------------------------------------------------------------------


HeldOutEvaluation = Callable[[VerticalPlan, Any, np.ndarray, np.ndarray], Mapping[str, Any] | None]
"""The label party's evaluation of its scored rows (the plan, its model, the rows' IDs and
predictions) for the coordinator's record: aggregates only, never a row's label or
prediction."""


def vertical_party(
    channel: Channel,
    data: PartyData,
    *,
    keys: Any = None,
    model: Any = None,
    coordinator: str = COORDINATOR,
    pool: BlindingPool | None = None,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | Path | None = None,
    origin: ModelOrigin | None = None,
    own_seed: int | None = None,
    evaluate: HeldOutEvaluation | None = None,
) -> VerticalPartyResult:
    """One party's whole run: the plan, PSI, training, PSI, scoring, ``done``.

    It plays its label-party or feature-party role, and scores ``data.score_table`` if the
    plan scores.

    Parameters
    ----------
    channel
        This party's channel.
    data
        Its training table, labels (the label party only) and table to score.
    keys
        Its key material when it is the key holder (made here if ``None``).
    model
        Its model from an earlier training run, for a scoring-only plan; when training, the
        starting point its training role gets as ``state.model`` (algorithms that take one,
        e.g. a party's own encoder in transfer learning, ignore it otherwise).
    coordinator
        The coordinator's role name.
    pool
        Worker processes for PSI's blinding (a private pool per session if ``None``).
    progress
        Where it reports its steps: key generation, PSI's match count as soon as it is
        known, training batches, scoring (see :mod:`rengo.vfl.progress`).
    checkpoint_dir
        Where it keeps its checkpoints when the plan makes the run resumable: its alignment
        and every completed epoch (a restarted party given the same folder continues).
    origin
        Where ``model`` came from (its file, the algorithm and parties of the run that
        trained it): a plan of another algorithm, label party or parties is refused.
    own_seed
        Its own seed for the randomness no other party may predict: its initial weights and
        defence noise (split learning, transfer learning). Never sent; None (the default):
        drawn from the OS. The plan's seed, which every party learns, never makes them.
    evaluate
        The label party's evaluation of the rows it scored, called with the plan, its model
        and the rows' IDs and predictions (in its own row order) once they are in: what it
        returns (aggregates only, such as metrics and a reliability table; ``None``:
        nothing) goes to the coordinator with its ``done``, for the run's record. Called
        only at the party that receives the predictions, once they came back.

    Returns
    -------
    VerticalPartyResult
        Its model, aligned rows and (the label party) predictions.

    Raises
    ------
    ConfigError
        If its inputs do not fit the plan (labels at a party that must not hold them, no
        table for a phase, a model of another run than ``origin`` says), or the run is
        resumable and it has no checkpoint folder.
    DataError
        If labels and rows do not match, the parties share no IDs, or its checkpoint does
        not fit its table.
    """
    plan = receive_plan(channel, coordinator=coordinator)
    algorithm = plan.spec
    name = channel.name
    kind = plan.kind_of(name)
    if origin is not None:
        origin.check(plan.algorithm, plan.label_party, plan.parties)
    labels = _check_inputs(plan, algorithm, kind, name, data, model)
    _check_held_out(plan, name, data)
    _check_selection(plan, name, data)
    if not plan.train:
        _check_training_runs(channel.scope(RUN), coordinator, origin)
    if keys is None and algorithm.key_holder(plan.config, train=plan.train) == kind:
        keys = make_keys(algorithm, plan.config, name, progress)
    folder = _folder(plan, name, checkpoint_dir)
    if (
        data.later is not None
        and plan.train
        and (folder is not None or algorithm.train.unmatched_rows)
    ):
        # a checkpoint's digest covers every cell, and transfer learning learns from the
        # rows PSI leaves out too: both need the whole table
        data = _whole_table(data)
    checkpoints, saved_rows = None, None
    if folder is not None:
        assert data.table is not None
        saved_rows = folder.load_alignment(
            data.table, labels, data.exposure, rows_chosen_by=data.rows_chosen_by
        )
        report_epoch = None if saved_rows is None else max(folder.epochs(), default=0)
        channel.scope(RUN).send(coordinator, CHECKPOINT, {"epochs": report_epoch})
        agreed = _agreed_reply(channel.scope(RUN).recv(coordinator, RESUME_FROM), report_epoch)
        checkpoints = _continue_after(folder, agreed)
        saved_rows = None if agreed is None else saved_rows
    context = plan.context(name, progress, checkpoints, own_seed)
    alignments: dict[str, PSIAlignment] = {}

    train_rows: np.ndarray | None = None
    kept_columns: tuple[int, ...] | None = None
    if plan.train:
        assert data.table is not None
        phase = channel.scope(TRAIN)
        if saved_rows is not None:
            train_rows = saved_rows
        else:
            train_rows = _align(
                phase, plan, algorithm.train, data.table, TRAIN, alignments, pool, progress
            )
            if folder is not None:
                folder.save_alignment(train_rows, data.table, labels, data.exposure)
        role = algorithm.train.of(kind)
        assert role is not None
        aligned = _read_after_psi(
            data.table, train_rows, labels, data.feature_names, data.later, data.exposure
        )
        if plan.selection is not None:
            from rengo.vfl.hetero_binning.selection_step import kept_aligned

            kept_columns = _select(
                channel, plan, aligned, coordinator, agreed=data.selection is not None
            )
            aligned = kept_aligned(aligned, kept_columns)
        # a model brought to training is the party's starting point (e.g. its own encoder)
        start = RoleState(keys, model)
        model = role(phase, context, aligned, start)
        _check_type(model, algorithm.models.of(kind), algorithm, kind)

    scored, score_ids, scores = 0, None, None
    if plan.score:
        phase = channel.scope(SCORE)
        table = data.score_table if kind in algorithm.predict.tables else None
        if table is None:
            table = PartyTable(np.empty(0, dtype=object), np.empty((0, 0)))
        rows = _align(phase, plan, algorithm.predict, table, SCORE, alignments, pool, progress)
        role = algorithm.predict.of(kind)
        assert role is not None
        # a party that brings no rows to scoring (transfer learning's source) serves the
        # scoring party's requests: it has no rows of its own to count
        own_rows = kind in algorithm.predict.tables
        if own_rows:
            report(progress, VerticalProgress(name, "score", total=len(rows)))
        later = data.score_later if own_rows else None
        aligned = _read_after_psi(table, rows, None, (), later)
        if kept_columns is not None and own_rows:  # the columns it trained on
            from rengo.vfl.hetero_binning.selection_step import kept_aligned

            aligned = kept_aligned(aligned, kept_columns)
        predictions = role(phase, context, aligned, RoleState(keys, model))
        scored = len(rows)
        if own_rows:
            report(progress, VerticalProgress(name, "score", len(rows), len(rows), finished=True))
        if predictions is not None:
            # PSI's agreed order is a secret shuffle: give the party its own row order back.
            order = np.argsort(rows, kind="stable")
            score_ids = np.asarray(table.ids)[rows[order]]
            scores = np.asarray(predictions)[order]
    train_count = 0 if train_rows is None else len(train_rows)
    done: dict[str, Any] = {"train_rows": train_count, "scored_rows": scored}
    if evaluate is not None and name in _scorers(plan) and scores is not None:
        assert score_ids is not None
        held_out = evaluate(plan, model, score_ids, scores)
        if held_out is not None:
            done[HELD_OUT] = dict(held_out)
    channel.scope(RUN).send(coordinator, DONE, done)
    return VerticalPartyResult(
        name,
        plan,
        train_rows,
        model,
        scored,
        score_ids,
        scores,
        alignments,
        keys,
        kept_columns=kept_columns,
    )


def _select(
    channel: Channel,
    plan: VerticalPlan,
    aligned: AlignedData,
    coordinator: str,
    agreed: bool = False,
) -> tuple[int, ...]:
    """This party's selection step (the plan's selection by IV): its kept columns.

    A label party whose job file did not agree to the plan's rule (``agreed``: a ``--csv``
    party) takes no ``min_bin_rows`` below the default for its rows: the bins' event counts
    are what its labels give away, and a coordinator may not shrink them for it."""
    from rengo.vfl.hetero_binning.selection_step import (  # it imports the algorithms
        select_at_feature_party,
        select_at_label_party,
    )
    from rengo.vfl.hetero_binning.woe import default_min_bin_rows

    assert plan.selection is not None
    phase, run = channel.scope(TRAIN), channel.scope(RUN)
    if channel.name == plan.label_party:
        asked, floor = plan.selection.min_bin_rows, default_min_bin_rows(len(aligned.features))
        if not agreed and asked is not None and asked < floor:
            raise ConfigError(
                f"{channel.name}: the coordinator's [vfl.selection] asks for bins of "
                f"min_bin_rows = {asked}, under the default of {floor} for its "
                f"{len(aligned.features)} shared rows: smaller bins tell the feature parties "
                f"more about its labels; give {channel.name} a job file whose "
                "[vfl.selection] says so (--job), or leave min_bin_rows at its default"
            )
        bits = selection_key_bits(plan.config)
        return select_at_label_party(
            phase, run, aligned, plan.selection, plan.hosts, bits, coordinator
        )
    return select_at_feature_party(
        phase, run, aligned, plan.selection, plan.label_party, coordinator
    )


def _whole_table(data: PartyData) -> PartyData:
    """``data`` with every training row's features read (its ``later`` ones)."""
    assert data.table is not None and data.later is not None
    rows = np.arange(len(data.table.ids))
    return replace(data, table=PartyTable(data.table.ids, data.later.read(rows)), later=None)


def _read_after_psi(
    table: PartyTable,
    rows: np.ndarray,
    labels: np.ndarray | None,
    names: tuple[str, ...],
    later: FeaturesAfterPsi | None,
    exposure: np.ndarray | None = None,
) -> AlignedData:
    """A role's ``rows`` of ``table``: where the features are read after PSI (``later``),
    only those rows, read now. The role sees the same features, labels, exposure (the label
    party's, one per row of ``table`` like its labels) and IDs in the same agreed order as
    from the whole table, and its ``rows`` keep the rows' order in the table (a role that
    runs a network over its rows in table order, as split learning's scoring does, gets the
    same batches bit for bit)."""
    if later is None:
        whole = None if exposure is None else np.asarray(exposure)
        return AlignedData(table, rows, labels, names, whole)
    order = np.argsort(rows, kind="stable")
    in_table_order = rows[order]
    shared = PartyTable(np.asarray(table.ids)[in_table_order], later.read(in_table_order))
    own = None if labels is None else np.asarray(labels)[in_table_order]
    exposed = None if exposure is None else np.asarray(exposure)[in_table_order]
    agreed = np.empty(len(rows), dtype=np.int64)
    agreed[order] = np.arange(len(rows))  # shared row agreed[k] is the agreed k-th row
    return AlignedData(shared, agreed, own, names, exposed)


def _check_training_runs(run: Channel, coordinator: str, origin: ModelOrigin | None) -> None:
    """A scoring-only run's handshake at a party: send its kept model's training-run token
    (``None`` without an origin or when its file names none), and refuse to score unless
    every party's token is its own."""
    own = None if origin is None else origin.training_run
    run.send(coordinator, MODEL_RUN, own)
    runs = run.recv(coordinator, MODEL_RUNS)
    if not isinstance(runs, dict) or not all(
        isinstance(token, (str, type(None))) for token in runs.values()
    ):
        raise ProtocolError("the coordinator sent malformed training-run tokens")
    if origin is None:
        if training_runs_differ(runs) is not None:
            raise ConfigError(
                f"{run.name}: the parties' kept models come from different training runs "
                f"({training_runs_differ(runs)}); nothing was scored"
            )
        return
    origin.check_same_training_run(run.name, runs)


def _agreed_reply(value: Any, reported: int | None) -> int | None:
    """The coordinator's agreed epoch, checked: never after what this party reported."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        if value is not None and (reported is None or value > reported):
            raise ProtocolError(
                f"the coordinator asks to continue after epoch {value}, this party "
                f"checkpointed {reported}"
            )
        return value
    raise ProtocolError("the coordinator sent a malformed resume message")


def _check_held_out(plan: VerticalPlan, name: str, data: PartyData) -> None:
    """Refuse a party whose job holds out other customers than the coordinator's job: PSI
    would join only the rows both happened to keep, and the run would train and score on a
    fraction of its customers with nothing but a low-match warning."""
    mine, theirs = data.held_out, plan.held_out
    if mine is None or theirs is None or mine == theirs:
        return
    raise ConfigError(
        f"{name}: its job file holds customers out by {mine.describe()}, the coordinator's "
        f"by {theirs.describe()}: every party must hold out the same customers, so give "
        "every party's job file the coordinator's job.seed and vfl.test_size"
    )


def _check_selection(plan: VerticalPlan, name: str, data: PartyData) -> None:
    """Refuse a party whose job file selects columns by IV otherwise than the coordinator's
    plan (the label party's labels decide which columns are kept, so it must agree to the
    rule, ``min_bin_rows`` included; a feature party to what it uses, :func:`_same_selection`;
    a party whose job selects none must not be made to, nor one whose job selects be run on
    every column; a party without a job file has no rule to compare, and :func:`_select`
    keeps a ``--csv`` label party's bins no smaller than the default), and a selection over one-hot
    encoded text columns (kept whole with the party's model, they cannot be dropped one by
    one)."""
    theirs = plan.selection
    if data.selection is not None and not _same_selection(
        data.selection.settings, theirs, label_party=name == plan.label_party
    ):
        mine = data.selection.settings
        raise ConfigError(
            f"{name}: its job file {_selection_words(mine)}, the coordinator's "
            f"{_selection_words(theirs)}: every party must select the same way, so give every "
            "party's job file the coordinator's [vfl.selection] (or none to all)"
        )
    encoded = () if data.categories is None else tuple(data.categories.categories)
    if theirs is not None and plan.train and encoded:
        raise ConfigError(
            f"{name}: the coordinator's plan selects columns by IV ([vfl.selection]), but "
            f"{name} one-hot encodes its text columns {', '.join(map(repr, encoded))}, which "
            "are kept whole with its model: encode them as numbers in its table, or run "
            "without [vfl.selection]"
        )


_LABEL_PARTY_SETTINGS = ("min_bin_rows", "adjustment_factor")
"""What only the label party's binning uses: a feature party's job need not repeat them."""


def _same_selection(
    mine: SelectionSettings | None, theirs: SelectionSettings | None, label_party: bool
) -> bool:
    """Whether a party's job file selects as the plan does, in what the party uses: every
    setting at the label party; at a feature party, all but those only the label party's
    binning reads (:data:`_LABEL_PARTY_SETTINGS`)."""
    if mine is None or theirs is None or label_party:
        return mine == theirs
    used = replace(mine, **{k: getattr(theirs, k) for k in _LABEL_PARTY_SETTINGS})
    return used == theirs


def _selection_words(settings: SelectionSettings | None) -> str:
    """``selects by [vfl.selection] min_iv = 0.3, ...``, or ``selects no columns``."""
    if settings is None:
        return "has no [vfl.selection]"
    return f"has [vfl.selection] {settings.describe()}"


def _check_inputs(
    plan: VerticalPlan,
    algorithm: VerticalAlgorithm[Any],
    kind: RoleKind,
    name: str,
    data: PartyData,
    model: Any,
) -> np.ndarray | None:
    """The party's labels, after checking its inputs fit the plan."""
    labels = data.labels
    if labels is not None and kind not in algorithm.labels_at:
        raise ConfigError(
            f"{name} was given labels, but the coordinator names {plan.label_party!r} as the "
            "label party; labels never leave the label party"
        )
    if plan.train:
        if data.table is None:
            raise ConfigError(f"{name} has no training table")
        if kind == "label_party" and labels is None:
            raise ConfigError(f"{name} is the label party of this run but was given no labels")
        if labels is not None:
            labels = _labels_for(algorithm, kind, name, data)
        _check_exposure(algorithm, kind, name, data)
        _check_binary_classes(algorithm, plan.config, kind, name, data)
    elif model is None:
        raise ConfigError(f"{name} has no trained model to score with")
    if plan.score and kind in algorithm.predict.tables and data.score_table is None:
        raise ConfigError(
            f"the coordinator will score new rows: {name} needs a scoring table "
            "(rengo vfl party --score-csv NEW.csv, or start rengo vfl coordinator with "
            "--no-score to train only)"
        )
    check_party_columns(algorithm, plan.config, kind, name, data, plan.train, plan.score)
    return labels


def _check_exposure(
    algorithm: VerticalAlgorithm[Any], kind: RoleKind, name: str, data: PartyData
) -> None:
    """Refuse an exposure anywhere but at the label party of an algorithm that takes one,
    and exposure values that are not one positive number per training row.

    Raises
    ------
    ConfigError
        For an exposure at a feature party, or with an algorithm without one.
    DataError
        For exposure values that do not fit the table (naming the party and row).
    """
    if data.exposure is None:
        return
    if kind != "label_party":
        raise ConfigError(
            f"{name} was given an exposure, but it is a feature party: the exposure is the "
            "label party's, as its labels are; give it to the label party only"
        )
    if algorithm.exposure_metrics is None:
        raise ConfigError(
            f"{name}: {algorithm.name} takes no exposure (a count model's known factor of "
            "the mean): train algorithm hetero_poisson, or give no exposure"
        )
    assert data.table is not None
    check_exposure(data.exposure, len(data.table.ids), name)


def _check_binary_classes(
    algorithm: VerticalAlgorithm[Any], config: Any, kind: RoleKind, name: str, data: PartyData
) -> None:
    """Refuse a label party whose label holds more than two classes when the plan trains a
    binary model (``P(y = 1)``), naming the option that trains one model per class.

    Raises
    ------
    DataError
        Naming the party, its classes and the fix.
    """
    classes = data.classes
    if kind != "label_party" or classes is None or len(classes) <= 2:
        return
    if algorithm.output_of(config) != "probability":
        return
    fix = "give a label column of two classes"
    if hasattr(config, "multi_class"):
        fix += " (or start the coordinator with --multi-class ovr: one model per class)"
    elif hasattr(config, "objective"):
        fix += " (or start the coordinator with --objective multiclass)"
    shown = ", ".join(repr(str(c)) for c in list(classes)[:5])
    raise DataError(
        f"{name}: its label holds {len(classes)} classes ({shown}), but the coordinator's "
        f"{algorithm.name} plan trains a binary model; {fix}"
    )


def _labels_for(
    algorithm: VerticalAlgorithm[Any], kind: RoleKind, name: str, data: PartyData
) -> np.ndarray:
    """The party's training labels as its role takes them: one per row; by class name when
    feature parties hold labels too (transfer learning: a CSV party's class codes become its
    class names, so that source and target name a class alike), and then every one present
    at the label party (where only the label party holds labels, its algorithm's role names
    a missing one, NaN as well as None).

    Raises
    ------
    DataError
        For a count other than the rows', or a label party's row without a label.
    """
    assert data.table is not None and data.labels is not None
    labels = np.asarray(data.labels)
    ids = data.table.ids
    if labels.shape[:1] != (len(ids),):
        raise DataError(f"{name}: {labels.shape[0]} labels for {len(ids)} rows")
    by_name = "feature_party" in algorithm.labels_at
    if by_name and data.classes is not None and labels.dtype.kind in "iu":
        labels = np.asarray(data.classes, dtype=object)[labels]
    if by_name and kind == "label_party" and labels.dtype == object:
        blank = [i for i, v in enumerate(labels.tolist()) if v is None]
        if blank:
            raise DataError(
                f"{name}: {len(blank)} of its {len(ids)} rows have no label (the first at ID "
                f"{ids[blank[0]]!s}); the label party needs a label on every row"
            )
    return labels


def check_party_columns(
    algorithm: VerticalAlgorithm[Any],
    config: Any,
    kind: RoleKind,
    name: str,
    data: PartyData,
    train: bool = True,
    score: bool = True,
) -> None:
    """Check party ``name``'s training table (with ``train``) and its scoring table (with
    ``score``, where the algorithm scores at a party of ``kind``) with
    :func:`~rengo.vfl.common.check_columns`, naming columns by ``data.feature_names``.

    Raises
    ------
    DataError
        For a column the algorithm cannot take (empty cells it does not fill, ...).
    """
    missing_ok, fix = algorithm.accepts_missing(config), algorithm.missing_fix
    if train and data.table is not None:
        check_columns(
            name,
            data.table,
            data.feature_names,
            missing_ok=missing_ok,
            algorithm=algorithm.name,
            fix=fix,
            cells=None if data.later is None else data.later.cells,
        )
    if score and kind in algorithm.predict.tables and data.score_table is not None:
        check_columns(
            name,
            data.score_table,
            data.feature_names,
            missing_ok=missing_ok,
            algorithm=algorithm.name,
            fix=fix,
            what="scoring table",
            empty_columns_ok=True,
            cells=None if data.score_later is None else data.score_later.cells,
        )


def _align(
    channel: Channel,
    plan: VerticalPlan,
    roles: Roles,
    table: PartyTable,
    phase: str,
    alignments: dict[str, PSIAlignment],
    pool: BlindingPool | None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """This party's rows of the IDs every party holds, in PSI's agreed order (or all its
    rows when the phase or the plan does not align); the match count is reported as soon as
    PSI ends."""
    if not roles.aligned or plan.align == "given":
        return np.arange(len(table.ids))
    report(progress, VerticalProgress(channel.name, "psi", phase=phase))
    context = f"rengo-vfl/{phase}"
    if channel.name == plan.label_party:
        alignment = psi_leader(
            channel, table.ids, plan.hosts, context=context, seed=plan.seed, pool=pool
        )
    else:
        alignment = psi_follower(channel, table.ids, plan.label_party, pool=pool)
    # the training rows may be shared and the new rows to score not: say which were empty
    alignments[phase] = require_nonempty(alignment, "" if phase == TRAIN else "their rows to score")
    matched = len(alignment.rows)
    if not roles.unmatched_rows:  # else the rows PSI left out still take part
        _warn_few_matched(
            channel.name, len(table.ids), alignment.peer_sizes, matched, scoring=phase != TRAIN
        )
    report(
        progress,
        VerticalProgress(
            channel.name, "psi", matched, matched, matched=matched, phase=phase, finished=True
        ),
    )
    return alignment.rows


FEW_MATCHED_SHARE = 0.5
"""Below this share of the smallest table in the run matched by PSI, a party is warned: a
share that low is more often IDs written two ways than customers the other parties lack. The
smallest table bounds the intersection, so a telecom with ten times a bank's customers is not
warned for the nine tenths no bank could match."""


def _warn_few_matched(
    party: str, rows: int, peer_sizes: Mapping[str, int], matched: int, *, scoring: bool
) -> None:
    """Warn ``party`` when PSI matched under :data:`FEW_MATCHED_SHARE` of the smallest table
    it knows of: its own ``rows`` or a peer's size from ``peer_sizes`` (a party learns these
    sizes and the intersection's from PSI anyway, so the warning tells it nothing new)."""
    smallest = min([rows, *peer_sizes.values()])
    if matched >= FEW_MATCHED_SHARE * smallest:
        return
    which = " to score" if scoring else ""
    bound = (
        ""
        if smallest == rows
        else f", and {matched / smallest:.0%} of the {smallest} rows of the run's smallest table"
    )
    warnings.warn(
        f"{party}: PSI matched only {matched} of its {rows} rows{which} "
        f"({matched / rows:.0%}{bound}); the other {rows - matched} take no part in the run. "
        "If more should match, check that every party writes its IDs the same way: IDs are "
        "matched as exact text, so '007' and '7', 'C1' and 'c1' are different customers",
        UserWarning,
        stacklevel=2,
    )


def make_keys(
    algorithm: VerticalAlgorithm[Any], config: Any, who: str, progress: ProgressFn | None = None
) -> Any:
    """The algorithm's key material under ``config`` (made by ``who``, reported to
    ``progress``: a 2048-bit Paillier key pair takes seconds)."""
    assert algorithm.keys is not None
    bits = getattr(config, "key_bits", None)
    detail = f"{bits}-bit keys" if bits else "key material"
    report(progress, VerticalProgress(who, "keys", detail=detail))
    keys = algorithm.keys.make(config, None)
    report(progress, VerticalProgress(who, "keys", 1, 1, detail=detail, finished=True))
    return keys


def _check_type(value: Any, expected: type | None, algorithm: Any, kind: str) -> None:
    if expected is not None and not isinstance(value, expected):
        raise TypeError(
            f"{algorithm.name}'s {kind} training role returned {type(value).__name__}, "
            f"its description says {expected.__name__}"
        )


# -- in one process -----------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedRun:
    """A vertical run on the in-process bus: every role's result and every message."""

    plan: VerticalPlan
    coordinator: VerticalCoordinatorOutcome
    parties: dict[str, VerticalPartyResult]
    bus: LocalBus

    @property
    def transcript(self) -> list[TranscriptEntry]:
        """Every message of the run, as it crossed the bus."""
        return list(self.bus.transcript)

    def psi(self, phase: str = TRAIN) -> PSIResult | None:
        """The private set intersection of ``phase`` (``None`` if rows were not aligned)."""
        alignments = {
            name: result.alignments[phase]
            for name, result in self.parties.items()
            if phase in result.alignments
        }
        if not alignments:
            return None
        prefix = f"{phase}/{PSI_SCOPE}/"
        entries = [e for e in self.bus.transcript if e.key.startswith(prefix)]
        sent: dict[str, int] = {}
        for entry in entries:
            sent[entry.sender] = sent.get(entry.sender, 0) + len(entry.payload)
        return PSIResult(
            self.plan.label_party,
            alignments,
            sent,
            entries if self.bus.record else None,
        )


def simulate_vertical(
    plan: VerticalPlan,
    data: Mapping[str, PartyData],
    *,
    keys: Mapping[str, Any] | None = None,
    models: Mapping[str, Any] | None = None,
    record: bool = True,
    timeout: float = 600.0,
    psi_workers: int | None = None,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | Path | None = None,
    passphrase: str | bytes | None = None,
) -> SimulatedRun:
    """Run ``plan`` with every role in this process, on a :class:`LocalBus`.

    Parameters
    ----------
    plan
        The run.
    data
        Each party's inputs.
    keys
        Key material by role name (the key holder's), e.g. made with a seed for tests.
    models
        Each role's earlier training result, for a scoring-only plan (the coordinator's
        under ``"coordinator"``).
    record
        Keep every message in the bus transcript.
    timeout
        Longest wait of a party for any single message. The coordinator's waits have no
        limit: some span the parties' whole training (the end of a split-learning run, the
        label party's report of a SecureBoost run whose keys it holds), and a party that
        stops answering is found by the parties that wait for it.
    psi_workers
        Processes for PSI's blinding (default: every core).
    progress
        Receives the label party's view of the run: PSI's match count, training batches
        with the running loss, scoring (see :mod:`rengo.vfl.progress`).
    checkpoint_dir
        Every role's checkpoints of a resumable plan (``plan.checkpoint_run``; default run
        id ``"simulation"``): run again with the same folder, an interrupted run continues
        after the last epoch every role completed.
    passphrase
        Seals the key holder's key material in its checkpoint.

    Every party gets the plan's seed as its own seed (``own_seed`` of
    :func:`vertical_party`): one process holds every party, and a seeded simulation
    repeats.

    Returns
    -------
    SimulatedRun
        Every role's result, and the bus.

    Raises
    ------
    ConfigError
        If ``data`` does not name exactly the plan's parties.
    """
    if set(data) != set(plan.parties):
        raise ConfigError(f"data for {sorted(data)}, but the plan's parties are {plan.parties}")
    keys = dict(keys or {})
    models = dict(models or {})
    if checkpoint_dir is not None and plan.checkpoint_run is None:
        plan = replace(plan, checkpoint_run="simulation")
    bus = LocalBus([COORDINATOR, *plan.parties], record=record, timeout=timeout)
    largest = max(_table_sizes(data[name]) for name in plan.parties)
    with BlindingPool(psi_workers) as pool:
        if plan.align == "psi" and largest >= pool.min_parallel:
            pool.start()  # fork the workers now, while this process has no role threads yet

        def party(name: str) -> Any:
            return lambda ch: vertical_party(
                ch,
                data[name],
                keys=keys.get(name),
                model=models.get(name),
                pool=pool,
                progress=_simulated_progress(plan, name, progress),
                checkpoint_dir=checkpoint_dir,
                own_seed=plan.seed,  # one process: a seeded simulation repeats
            )

        roles = {
            COORDINATOR: lambda ch: vertical_coordinator(
                WaitsWithoutLimit(ch),
                plan,
                keys=keys.get(COORDINATOR),
                training=models.get(COORDINATOR),
                checkpoint_dir=checkpoint_dir,
                passphrase=passphrase,
            ),
            **{name: party(name) for name in plan.parties},
        }
        results = run_roles(bus, roles)
    return SimulatedRun(
        plan, results[COORDINATOR], {name: results[name] for name in plan.parties}, bus
    )


def _simulated_progress(
    plan: VerticalPlan, name: str, progress: ProgressFn | None
) -> ProgressFn | None:
    """Where party ``name`` of a simulation reports: the label party reports everything (one
    training bar for the run); a feature party that receives the predictions (transfer
    learning's target) reports its scoring and the ends of epochs whose held-out loss it
    computed (its ``validation_fraction``); the others report nothing."""
    if progress is None or name == plan.label_party:
        return progress
    if plan.kind_of(name) != plan.spec.scored_by:
        return None

    def scoring_only(event: VerticalProgress) -> None:
        if event.stage == "score" or event.validation_loss is not None:
            progress(event)

    return scoring_only


class WaitsWithoutLimit(ScopeMixin):
    """``inner`` whose waits have no limit unless one is asked for (the coordinator's
    channel in simulation)."""

    def __init__(self, inner: Channel) -> None:
        self._inner = inner
        self.name = inner.name

    def send(self, to: str, key: Key, value: Any) -> None:
        """See :meth:`~rengo.transport.channel.Channel.send`."""
        self._inner.send(to, key, value)

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """See :meth:`~rengo.transport.channel.Channel.recv` (no limit unless ``timeout``)."""
        return self._inner.recv(frm, key, math.inf if timeout is None else timeout)

    def abort(self, exc: BaseException) -> None:
        """See :meth:`~rengo.transport.channel.Channel.abort`."""
        self._inner.abort(exc)


def _table_sizes(data: PartyData) -> int:
    tables: Sequence[PartyTable | None] = (data.table, data.score_table)
    return max((len(t.ids) for t in tables if t is not None), default=0)

"""Vertical FL deployed: coordinated hetero LR between OS processes over gRPC with mTLS.

The coordinator (``rengo vfl coordinator``) holds the Paillier key pair and the run's
settings; each party (``rengo vfl party``) holds its own table, connects outbound, and keeps
its rows and weights. The roles are exactly those :class:`~rengo.vfl.HeteroLogisticRegression`
runs on its in-process bus: ECDH-PSI (:func:`~rengo.vfl.psi_leader` /
:func:`~rengo.vfl.psi_follower`), then :func:`~rengo.vfl.hetero_lr_coordinator` /
``hetero_lr_guest`` / ``hetero_lr_host``, then the ``hetero_lr_predict_*`` roles to score new
rows; only the :class:`~rengo.transport.channel.Channel` under them changes.

Order of a run: coordinator -> every party: the :class:`VerticalPlan`; PSI on the training
IDs (label party leads); training; PSI on the scoring IDs and federated scoring (if the plan
says so); every party -> coordinator: ``done`` (row counts only); the coordinator closes.
With the same ``seed`` and data a deployed run reproduces the simulation exactly: PSI's
agreed order and the batch order come from the seed, and masks and key choice cancel out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError, RengoError, RoundFailure
from rengo.crypto import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.crypto.keys import SUPPORTED_KEY_BITS
from rengo.deploy.coordinator import recorded_hub
from rengo.deploy.vertical_channel import GuardedChannel
from rengo.transport.channel import Channel, Key
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl.hetero_lr import PartyTable
from rengo.vfl.hetero_lr_config import HeteroLRConfig
from rengo.vfl.hetero_lr_predict import (
    PredictMode,
    hetero_lr_predict_coordinator,
    hetero_lr_predict_guest,
    hetero_lr_predict_host,
)
from rengo.vfl.hetero_lr_roles import (
    COORDINATOR,
    CoordinatorReport,
    GuestModel,
    HostModel,
    hetero_lr_coordinator,
    hetero_lr_guest,
    hetero_lr_host,
)
from rengo.vfl.psi import psi_follower, psi_leader, require_nonempty
from rengo.vfl.psi_x25519 import BlindingPool

log = logging.getLogger("rengo.deploy")

RUN_KIND = "vfl-deployed"
PLAN: Key = ("vfl-deploy", "plan")  # coordinator -> every party
DONE: Key = ("vfl-deploy", "done")  # every party -> coordinator: row counts
Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


@dataclass(frozen=True)
class VerticalPlan:
    """What every role agrees on before a deployed run: who takes part, who holds the labels,
    the training settings, the seed (PSI's agreed order and the batch order; ``None``: drawn
    from the OS CSPRNG by the label party) and whether new rows are scored afterwards."""

    label_party: str
    hosts: tuple[str, ...]
    config: HeteroLRConfig = field(default_factory=HeteroLRConfig)
    seed: int | None = None
    predict_mode: PredictMode = "encrypted"
    score: bool = True

    def __post_init__(self) -> None:
        names = [self.label_party, *self.hosts]
        if not self.hosts:
            raise ConfigError("vertical learning needs the label party and at least one host")
        if len(set(names)) != len(names):
            raise ConfigError(f"party names must be distinct: {names}")
        if COORDINATOR in names:
            raise ConfigError(f"{COORDINATOR!r} is reserved for the coordinator role")
        if self.predict_mode not in get_args(PredictMode):
            raise ConfigError(f"predict_mode must be one of {get_args(PredictMode)}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ConfigError(f"seed must be an integer or None, got {self.seed!r}")

    @property
    def parties(self) -> list[str]:
        """Every party, label party first (the order the training roles use)."""
        return [self.label_party, *self.hosts]

    def to_wire(self) -> dict[str, Any]:
        """A codec-friendly dict."""
        return {
            "label_party": self.label_party,
            "hosts": list(self.hosts),
            "config": self.config.to_wire(),
            "seed": self.seed,
            "predict_mode": self.predict_mode,
            "score": self.score,
        }

    @classmethod
    def from_wire(cls, tree: Any) -> VerticalPlan:
        """Rebuild and validate a plan received from the coordinator."""
        if not isinstance(tree, dict) or set(tree) != set(cls.__dataclass_fields__):
            raise ProtocolError("the coordinator sent a malformed vertical plan")
        hosts = tree["hosts"]
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise ProtocolError("the coordinator's plan lists hosts that are not names")
        return cls(
            label_party=str(tree["label_party"]),
            hosts=tuple(hosts),
            config=HeteroLRConfig.from_wire(tree["config"]),
            seed=tree["seed"],
            predict_mode=tree["predict_mode"],
            score=bool(tree["score"]),
        )


@dataclass(frozen=True)
class VerticalCoordinatorOutcome:
    """What the coordinator's role did: the training report, how many scores it decrypted
    (masked), and each party's ``done`` counts (``train_rows``, ``scored_rows``)."""

    training: CoordinatorReport
    scored_values: int
    parties: dict[str, dict[str, int]]


@dataclass(frozen=True)
class VerticalRunReport:
    """A finished deployed run, as the coordinator saw it."""

    run_id: str | None
    plan: VerticalPlan
    outcome: VerticalCoordinatorOutcome
    wall_time_s: float
    bytes_sent: int
    bytes_received: int


@dataclass(frozen=True)
class VerticalPartyResult:
    """What a party keeps: its model and its rows of the intersection (agreed order); the
    label party also gets the scores of its scoring rows (``score_ids`` in its own row order,
    as :meth:`HeteroLogisticRegression.predict_scores` returns them)."""

    name: str
    plan: VerticalPlan
    train_rows: np.ndarray
    model: GuestModel | HostModel
    scored_rows: int = 0
    score_ids: np.ndarray | None = None
    scores: np.ndarray | None = None

    @property
    def is_label_party(self) -> bool:
        return self.name == self.plan.label_party


# -- the roles: plain channel functions, as in simulation ------------------------------------


def vertical_coordinator(
    channel: Channel, plan: VerticalPlan, keypair: Keypair
) -> VerticalCoordinatorOutcome:
    """The coordinator's whole run: hand out the plan, serve training (key holder, masked
    decryptions), serve scoring, and collect every party's ``done``."""
    parties = plan.parties
    for party in parties:
        channel.send(party, PLAN, plan.to_wire())
    training = hetero_lr_coordinator(channel, parties, plan.label_party, keypair=keypair)
    scored = 0
    if plan.score:
        scored = hetero_lr_predict_coordinator(channel, parties, plan.label_party, keypair)
    done = {party: _done_counts(channel.recv(party, DONE), party) for party in parties}
    return VerticalCoordinatorOutcome(training, scored, done)


def _done_counts(value: Any, party: str) -> dict[str, int]:
    if (
        not isinstance(value, dict)
        or set(value) != {"train_rows", "scored_rows"}
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
    ):
        raise ProtocolError(f"{party} sent a malformed 'done' message")
    return dict(value)


def receive_plan(channel: Channel, *, coordinator: str = COORDINATOR) -> VerticalPlan:
    """Wait for the coordinator's plan and check that it names this party."""
    plan = VerticalPlan.from_wire(channel.recv(coordinator, PLAN))
    if channel.name not in plan.parties:
        raise ProtocolError(f"the coordinator's plan {plan.parties} does not name {channel.name!r}")
    return plan


def vertical_party(
    channel: Channel,
    plan: VerticalPlan,
    table: PartyTable,
    *,
    labels: np.ndarray | None = None,
    score_table: PartyTable | None = None,
    coordinator: str = COORDINATOR,
    pool: BlindingPool | None = None,
) -> VerticalPartyResult:
    """One party's whole run: PSI, training as guest (label party) or host, PSI and scoring
    of ``score_table`` (if the plan scores), then ``done`` to the coordinator."""
    name = channel.name
    guest = name == plan.label_party
    if guest and labels is None:
        raise ConfigError(f"{name} is the label party of this run but was given no labels")
    if not guest and labels is not None:
        raise ConfigError(
            f"{name} was given labels, but the coordinator names {plan.label_party!r} as the "
            "label party; labels never leave the label party"
        )
    if plan.score and score_table is None:
        raise ConfigError(f"the coordinator will score new rows: {name} needs a scoring table")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(table.ids),):
            raise DataError(f"{name}: {labels.shape[0]} labels for {len(table.ids)} rows")

    rows = _align(channel, plan, table.ids, "train", coordinator, pool)
    model: GuestModel | HostModel
    if guest:
        assert labels is not None
        model = hetero_lr_guest(
            channel,
            table.features[rows],
            labels[rows],
            plan.hosts,
            plan.config,
            coordinator=coordinator,
            seed=plan.seed,
        )
    else:
        model = hetero_lr_host(
            channel, table.features[rows], plan.label_party, coordinator=coordinator
        )

    scored, score_ids, scores = 0, None, None
    if plan.score:
        assert score_table is not None
        score_rows = _align(channel, plan, score_table.ids, "score", coordinator, pool)
        features = score_table.features[score_rows]
        scored = len(score_rows)
        if isinstance(model, GuestModel):
            positive = hetero_lr_predict_guest(
                channel,
                features,
                model,
                plan.hosts,
                mode=plan.predict_mode,
                coordinator=coordinator,
            )
            # PSI's agreed order is a secret shuffle; give the label party its own row order
            # back locally (each row's score does not depend on the order it was scored in).
            order = np.argsort(score_rows, kind="stable")
            score_ids = np.asarray(score_table.ids)[score_rows[order]]
            scores = positive[order]
        else:
            hetero_lr_predict_host(
                channel, features, model, plan.label_party, coordinator=coordinator
            )
    channel.send(coordinator, DONE, {"train_rows": len(rows), "scored_rows": scored})
    return VerticalPartyResult(name, plan, rows, model, scored, score_ids, scores)


def _align(
    channel: Channel,
    plan: VerticalPlan,
    ids: Sequence[Any] | np.ndarray,
    phase: str,
    coordinator: str,
    pool: BlindingPool | None,
) -> np.ndarray:
    """This party's rows of the IDs every party holds, in PSI's agreed order."""
    context = f"rengo-vfl/{phase}"
    if channel.name == plan.label_party:
        alignment = psi_leader(channel, ids, plan.hosts, context=context, seed=plan.seed, pool=pool)
    else:
        alignment = psi_follower(channel, ids, plan.label_party, pool=pool)
    return require_nonempty(alignment).rows


# -- deployed entry points -------------------------------------------------------------------


def serve_vertical_coordinator(
    listen: str,
    security: HubSecurity,
    parties: Sequence[str],
    label_party: str,
    *,
    config: HeteroLRConfig | None = None,
    key_bits: int = 2048,
    keypair: Keypair | None = None,
    seed: int | None = None,
    predict_mode: PredictMode = "encrypted",
    score: bool = True,
    join_timeout: float = 300.0,
    rejoin_wait: float = 30.0,
    timeout: float | None = None,
    heartbeat_interval: float = 2.0,
    store: Any = None,
    run_name: str | None = None,
    on_listening: Callable[[GrpcHub], None] | None = None,
) -> VerticalRunReport:
    """Serve one vertical hetero LR run to ``parties`` connecting to ``listen``.

    Makes a ``key_bits`` Paillier key pair (or uses ``keypair``) while parties join, waits at
    most ``join_timeout`` s for all of them, then runs :func:`vertical_coordinator`. A party
    that aborts (a party whose link dropped and came back aborts itself: messages in flight
    are lost), or one unreachable for more than ``rejoin_wait`` s, fails the run and every
    party is told; ``timeout`` caps any single wait. ``store`` is a :class:`rengo.tracking.RunStore`
    (run kind ``"vfl-deployed"``: joins, refusals, the outcome, traffic).
    """
    if label_party not in parties:
        raise ConfigError(f"label party {label_party!r} is not one of {list(parties)}")
    if keypair is None and key_bits not in SUPPORTED_KEY_BITS:
        raise ConfigError(f"key_bits must be one of {SUPPORTED_KEY_BITS}, got {key_bits}")
    plan = VerticalPlan(
        label_party,
        tuple(p for p in parties if p != label_party),
        config or HeteroLRConfig(),
        seed,
        predict_mode,
        score,
    )
    run_id = None
    if store is not None:
        run_config = {
            "executor": "grpc",
            "listen": listen,
            "key_bits": key_bits if keypair is None else keypair[0].bits,
            **{k: v for k, v in plan.to_wire().items() if k != "config"},
            **plan.config.to_wire(),
        }
        run_id = str(store.start_run(RUN_KIND, run_config, name=run_name, seed=seed))

    hub, record = recorded_hub(listen, security, heartbeat_interval, store, run_id)
    status, started = "failed", time.perf_counter()
    channel: GuardedChannel | None = None
    outcome: VerticalCoordinatorOutcome | None = None
    hub.start()
    try:
        if on_listening is not None:
            on_listening(hub)
        if keypair is None:
            keypair = generate_paillier_keypair(key_bits)
        if not hub.wait_for_parties(plan.parties, None, join_timeout):
            missing = sorted(set(plan.parties) - set(hub.client_ids()))
            raise RoundFailure(f"parties missing after {join_timeout:g}s: {', '.join(missing)}")
        channel = GuardedChannel(
            hub.channel(),
            plan.parties,
            check=_parties_present(hub, plan.parties, rejoin_wait),
            timeout=timeout,
        )
        outcome = vertical_coordinator(channel, plan, keypair)
        status = "completed"
        text = (
            f"trained {outcome.training.epochs_run} epochs on "
            f"{outcome.parties[label_party]['train_rows']} common rows"
            + (f"; scored {outcome.parties[label_party]['scored_rows']} rows" if score else "")
        )
        log.info(text)
        record("info", text)
    except (RengoError, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            status = "interrupted"  # a vertical run cannot resume: parties are told to stop
        if channel is not None:
            channel.abort(exc)
        record("error", f"run {status}: {type(exc).__name__}: {exc}")
        raise
    finally:
        hub.close(goodbye=True)
        received, sent = hub.traffic()
        wall = time.perf_counter() - started
        if store is not None and run_id is not None:
            summary: dict[str, Any] = {
                "wall_time_s": wall,
                "bytes_sent": sent,
                "bytes_received": received,
            }
            if outcome is not None:
                summary.update(
                    epochs_run=outcome.training.epochs_run,
                    decrypted_values=outcome.training.decrypted_values,
                    scored_values=outcome.scored_values,
                    common_rows=outcome.parties[label_party]["train_rows"],
                )
            store.finish_run(run_id, status, summary)
    assert outcome is not None
    return VerticalRunReport(run_id, plan, outcome, wall, sent, received)


def _parties_present(hub: GrpcHub, names: Sequence[str], grace: float) -> Callable[[], None]:
    """A check that raises once a party has been disconnected for more than ``grace`` s."""
    absent_since: dict[str, float] = {}

    def check() -> None:
        now, present = time.monotonic(), set(hub.client_ids())
        for name in names:
            if name in present:
                absent_since.pop(name, None)
            elif now - absent_since.setdefault(name, now) > grace:
                raise ProtocolError(f"party {name} left and did not come back within {grace:g}s")

    return check


def run_vertical_party(
    coordinator: str,
    name: str,
    table: PartyTable,
    credentials: PartyCredentials,
    *,
    labels: np.ndarray | None = None,
    score_table: PartyTable | None = None,
    connect_timeout: float = 300.0,
    timeout: float | None = None,
    linger: float = 30.0,
    heartbeat_interval: float = 2.0,
    backoff: Backoff = DEFAULT_BACKOFF,
    psi_workers: int | None = None,
) -> VerticalPartyResult:
    """Take part in the vertical run served at ``coordinator`` (``host:port``) as ``name``.

    ``labels`` (one per row of ``table``) only for the label party; ``score_table`` holds the
    new rows to score when the coordinator's plan asks for scoring. Raises
    :class:`~rengo.core.errors.AuthenticationError` if the coordinator refuses this party.
    After ``done`` it waits up to ``linger`` s for the coordinator to close the run, so the
    coordinator never mistakes a finished party for a lost one.
    """
    size = max(len(table.ids), 0 if score_table is None else len(score_table.ids))
    with BlindingPool(psi_workers) as pool:
        if size >= pool.min_parallel:
            pool.start()  # before any connection thread exists: cheap fork workers
        with PartyConnection(
            coordinator, name, credentials, heartbeat_interval=heartbeat_interval, backoff=backoff
        ) as connection:
            connection.wait_connected(connect_timeout)
            link = connection.channel()
            check = _coordinator_present(connection)
            plan = receive_plan(GuardedChannel(link, [COORDINATOR], check=check, timeout=timeout))
            channel = GuardedChannel(
                link, [COORDINATOR, *plan.parties], check=check, timeout=timeout
            )
            try:
                result = vertical_party(
                    channel, plan, table, labels=labels, score_table=score_table, pool=pool
                )
            except RengoError as exc:
                channel.abort(exc)
                raise
            deadline = time.monotonic() + linger
            while not connection.ended and connection.error is None:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
    return result


def _coordinator_present(connection: PartyConnection) -> Callable[[], None]:
    """A check that raises once the link is gone for good, or was re-established mid-run
    (messages in flight on the old link are lost: the run cannot finish)."""

    def check() -> None:
        if connection.error is not None:
            raise ProtocolError(f"lost the coordinator: {connection.error}")
        if connection.ended:
            raise ProtocolError("the coordinator ended the run")
        if connection.sessions > 1:
            raise ProtocolError(
                f"{connection.name}: the link to the coordinator dropped mid-run and messages "
                "in flight may be lost; start the run again"
            )

    return check

"""Mirror rengo runs into the tools ML teams already watch (MLflow, TensorBoard).

A :class:`RunMirror` is told about a run three times over: when it opens, after each
round (with that round's client records), and when it closes. The same calls come from a
live :class:`MirroringStore` (a :class:`~rengo.tracking.RunStore` that forwards each run
as it is written, so ``simulate(..., store=MirroringStore(...))`` shows up in MLflow while
it trains) and from :func:`mirror_run`, which replays a recorded run after the fact
(``rengo runs mirror RUN --to mlflow``). A mirror never stops a run, nor holds it longer
than a bounded time: the first call that fails or hangs is said once, the mirror is left
alone for the rest of that run, and at the run's end it is filled in (the mirrors add only
what they lack) or ``rengo runs mirror`` is named to do it later.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from rengo.core.client_record import failures_by_phase
from rengo.tracking.client_spread import client_metric_spread
from rengo.tracking.mirrors.deadline import BoundedCaller
from rengo.tracking.records import ClientRecord, RoundRecord, RunInfo
from rengo.tracking.store import RunStore

log = logging.getLogger("rengo.tracking")

StateDictFn = Callable[[Sequence[np.ndarray]], Mapping[str, np.ndarray]]
"""Names a run's parameter arrays (e.g. a partial of :func:`rengo.jobs.model_state_dict`)."""


class RunMirror(Protocol):
    """Receives a run's records: :meth:`open`, then :meth:`round` per round, then
    :meth:`close`. ``store`` is where the run lives (to read its model, ledger...)."""

    def open(self, store: RunStore, run: RunInfo) -> None:
        """A run began (or resumed): create its mirror-side record."""
        ...

    def round(
        self, store: RunStore, run: RunInfo, record: RoundRecord, clients: Sequence[ClientRecord]
    ) -> None:
        """A round ended: mirror its metrics and each client's record."""
        ...

    def close(self, store: RunStore, run: RunInfo) -> None:
        """The run ended: mirror its status, summary and model."""
        ...


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``{"a.b": "value"}`` strings (lists and other values as JSON)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, f"{name}."))
        elif isinstance(value, str):
            out[name] = value
        else:
            out[name] = json.dumps(value, sort_keys=True, default=str)
    return out


def round_scalars(record: RoundRecord, clients: Sequence[ClientRecord]) -> dict[str, float]:
    """Every number worth a chart for one round: the round's own metrics under their names,
    then ``round/duration_s``, ``clients/ok|failed`` (of the clients sampled to train; the
    round's clients that failed only its evaluation are ``clients/evaluate_failed``, present
    where it evaluated: the round line's rule, one that failed both is a training failure),
    ``traffic/bytes_sent|received`` and, per client metric,
    ``clients/<phase>_<metric>/mean|worst_decile``. NaN is left out. Without client records
    (a vertical run), ``clients/failed`` is the round's recorded ``num_failures``."""
    values: dict[str, float] = {k: v for k, v in record.metrics.items() if math.isfinite(v)}
    values["round/duration_s"] = record.duration_s
    fit_failed = record.num_failures
    by_phase = failures_by_phase((c.client_id, c.phase) for c in clients if c.status == "failed")
    if clients:  # a round's num_failures counts its evaluation failures too (-5 of 4 "ok")
        fit_failed = by_phase.get("fit", 0)
    values["clients/ok"] = float(record.num_clients - fit_failed)
    values["clients/failed"] = float(fit_failed)
    if any(c.phase == "evaluate" for c in clients):
        values["clients/evaluate_failed"] = float(by_phase.get("evaluate", 0))
    if clients:
        values["traffic/bytes_sent"] = float(sum(c.bytes_sent for c in clients))
        values["traffic/bytes_received"] = float(sum(c.bytes_received for c in clients))
    for name, spreads in client_metric_spread(clients).items():
        for spread in spreads:
            key = "clients/" + name.replace(" ", "_")
            values[f"{key}/mean"] = spread.mean
            values[f"{key}/worst_decile"] = spread.worst_decile
    return values


MIRROR_TIMEOUT_S = 30.0
"""How long a live run waits for one mirror call (MLflow's own retries to a server that is down
take minutes per call)."""

_TARGETS = {"MlflowMirror": "mlflow", "TensorBoardMirror": "tensorboard"}


def contribution_scalars(store: RunStore, run_id: str) -> dict[int, dict[str, float]]:
    """A run's contribution values by step: each round's as
    ``contribution/<method>/<participant>`` at step = round, the run's totals (round None) as
    ``contribution.<method>.<participant>`` at its last round."""
    _, last = store.round_span(run_id)
    steps: dict[int, dict[str, float]] = {}
    for c in store.contributions(run_id):
        if c.round is None:
            steps.setdefault(last, {})[f"contribution.{c.method}.{c.participant}"] = c.value
        else:
            steps.setdefault(c.round, {})[f"contribution/{c.method}/{c.participant}"] = c.value
    return steps


def _fill_in_hint(mirror: RunMirror, run_id: str) -> str:
    target = _TARGETS.get(type(mirror).__name__)
    if target is None:
        return f"mirror_run(store, {run_id!r}, [mirror]) fills it in later"
    return f"`rengo runs mirror {run_id} --to {target}` fills it in later"


def mirror_run(store: RunStore, run_id: str, mirrors: Iterable[RunMirror]) -> RunInfo:
    """Replay a recorded run into ``mirrors`` (open, each round, close); errors raise.

    Raises
    ------
    UnknownRunError
        No such run in ``store``.
    """
    run = store.get_run(run_id)
    targets = list(mirrors)
    by_round: dict[int, list[ClientRecord]] = {}
    for client in store.client_records(run.run_id):
        by_round.setdefault(client.round, []).append(client)
    for mirror in targets:
        mirror.open(store, run)
    for record in store.rounds(run.run_id):
        for mirror in targets:
            mirror.round(store, run, record, by_round.get(record.round, []))
    for mirror in targets:
        mirror.close(store, run)
    return run


class MirroringStore(RunStore):
    """A :class:`RunStore` that also mirrors every run written through it, live.

    >>> store = MirroringStore("rengo-runs", mirrors=[MlflowMirror()])  # doctest: +SKIP
    >>> simulate(..., store=store)                                       # doctest: +SKIP

    Client records are buffered per round so each mirror gets its round's clients without
    re-reading the store. A mirror call that fails, or runs past ``mirror_timeout_s``, is
    logged once (one warning line; the traceback at debug level) and that mirror is left
    alone for the rest of the run; when the run finishes, the store fills it in (mirrors add
    only what they lack) or, if that fails too, says once more that ``rengo runs mirror``
    fills it in later.

    Parameters
    ----------
    path, keep_checkpoints
        As for :class:`~rengo.tracking.RunStore`.
    mirrors
        Where each run goes.
    mirror_timeout_s
        The longest a run waits for one mirror call; None: :data:`MIRROR_TIMEOUT_S`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        mirrors: Sequence[RunMirror],
        keep_checkpoints: int | None = None,
        mirror_timeout_s: float | None = None,
    ) -> None:
        seconds = MIRROR_TIMEOUT_S if mirror_timeout_s is None else mirror_timeout_s
        callers = [BoundedCaller(seconds) for _ in mirrors]  # checks the limit first
        super().__init__(path, keep_checkpoints=keep_checkpoints)
        self.mirrors = list(mirrors)
        self._callers = callers
        self._stopped: set[tuple[int, str]] = set()  # (mirror, run) left alone after a failure
        self._clients: dict[tuple[str, int], list[ClientRecord]] = {}

    def _mirror(self, index: int, run_id: str, what: str, call: Callable[[], None]) -> None:
        """Make one mirror call for ``run_id`` unless that mirror stopped for it; the first
        failure (or time-out) is said once and stops it."""
        if (index, run_id) in self._stopped:
            return
        mirror = self.mirrors[index]
        try:
            self._callers[index].call(call)
        except Exception as exc:
            self._stopped.add((index, run_id))
            log.debug("%s failed to %s", type(mirror).__name__, what, exc_info=True)
            log.warning(
                "%s failed to %s run %s (%s: %s); the run goes on without it, and rengo "
                "tries to fill it in when the run ends",
                type(mirror).__name__,
                what,
                run_id,
                type(exc).__name__,
                exc,
            )

    def _fill_in(self, run_id: str) -> None:
        """Replay the run into each mirror that stopped for it (adding what it lacks)."""
        for index, mirror in enumerate(self.mirrors):
            if (index, run_id) not in self._stopped:
                continue
            self._stopped.discard((index, run_id))
            try:
                self._callers[index].call(functools.partial(mirror_run, self, run_id, [mirror]))
            except Exception as exc:
                log.debug(
                    "%s failed to fill in run %s", type(mirror).__name__, run_id, exc_info=True
                )
                log.warning(
                    "%s could not fill in run %s at its end either (%s: %s); %s",
                    type(mirror).__name__,
                    run_id,
                    type(exc).__name__,
                    exc,
                    _fill_in_hint(mirror, run_id),
                )
            else:
                log.info("%s filled in run %s", type(mirror).__name__, run_id)

    def start_run(
        self, kind: str, config: Mapping[str, Any], name: str | None = None, seed: int | None = None
    ) -> str:
        """Start a run in the store and open it in every mirror."""
        run_id = super().start_run(kind, config, name=name, seed=seed)
        run = self.get_run(run_id)
        for index, mirror in enumerate(self.mirrors):
            self._mirror(index, run_id, "open", functools.partial(mirror.open, self, run))
        return run_id

    def resume_run(
        self,
        run_id: str,
        kind: str | None = None,
        *,
        reopen_completed: bool = False,
        settings: Mapping[str, Any] | None = None,
        may_change: Collection[str] = (),
    ) -> RunInfo:
        """Resume a run in the store and reopen it in every mirror."""
        run = super().resume_run(
            run_id,
            kind,
            reopen_completed=reopen_completed,
            settings=settings,
            may_change=may_change,
        )
        for index, mirror in enumerate(self.mirrors):
            self._stopped.discard((index, run.run_id))  # a resume tries each mirror afresh
            self._mirror(index, run.run_id, "reopen", functools.partial(mirror.open, self, run))
        return run

    def log_clients(self, run_id: str, records: Sequence[ClientRecord]) -> None:
        """Record clients' rounds in the store (each mirrored with its round); a single
        :meth:`log_client` comes here too."""
        super().log_clients(run_id, records)  # checks every field first
        for r in records:
            self._clients.setdefault((run_id, int(r.round)), []).append(
                ClientRecord(
                    int(r.round),
                    r.client_id,
                    r.phase,
                    r.status,
                    int(r.num_examples),
                    int(r.bytes_sent),
                    int(r.bytes_received),
                    float(r.duration_s),
                    r.reason,
                    None if r.metrics is None else dict(r.metrics),
                )
            )

    def log_round(
        self,
        run_id: str,
        round: int,
        metrics: Mapping[str, float],
        duration_s: float,
        num_clients: int,
        num_failures: int,
    ) -> None:
        """Record a round in the store and mirror it with its clients' records."""
        super().log_round(run_id, round, metrics, duration_s, num_clients, num_failures)
        record = RoundRecord(
            int(round),
            float(duration_s),
            int(num_clients),
            int(num_failures),
            {k: float(v) for k, v in metrics.items()},
        )
        clients = self._clients.pop((run_id, int(round)), [])
        run = self.get_run(run_id)
        for index, mirror in enumerate(self.mirrors):
            self._mirror(
                index,
                run_id,
                f"log round {record.round} of",
                functools.partial(mirror.round, self, run, record, clients),
            )

    def finish_run(
        self, run_id: str, status: str, summary: Mapping[str, Any] | None = None
    ) -> None:
        """Finish a run in the store and close it in every mirror."""
        super().finish_run(run_id, status, summary)
        run = self.get_run(run_id)
        for key in [k for k in self._clients if k[0] == run_id]:
            del self._clients[key]
        for index, mirror in enumerate(self.mirrors):
            self._mirror(index, run_id, "close", functools.partial(mirror.close, self, run))
        self._fill_in(run_id)

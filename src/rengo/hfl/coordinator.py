"""The horizontal FL round loop: broadcast, gather, fold, evaluate, checkpoint.

The coordinator reaches clients only through a transport :class:`ClientPool` (simulation
executors, gRPC hub, Ray) with codec bytes, so one loop serves simulation and deployment.
Each result is validated (type, count, shapes, finite values) and folded into a streaming
accumulator as it arrives; a client that fails is dropped from that round with its reason
logged. A round succeeds if at least ``min_fit_clients`` results were folded. Every
completed round is recorded and checkpointed before the next one starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rengo.core.codec import decode, encode
from rengo.core.errors import ClientFailure, CodecError, RoundFailure
from rengo.core.messages import EvaluateResult, FitResult
from rengo.core.parameters import Parameters, copy_parameters, validate_update
from rengo.hfl.client import EVALUATE, FIT, client_seed
from rengo.hfl.strategy.base import Strategy
from rengo.transport.pool import ClientPool, EncodeOnDemand, Reply

log = logging.getLogger("rengo.hfl")


class RunRecorder(Protocol):
    """What the round loop records (implemented by :class:`rengo.tracking.RunStore`)."""

    def log_round(
        self,
        run_id: str,
        round: int,
        metrics: dict[str, float],
        duration_s: float,
        num_clients: int,
        num_failures: int,
    ) -> None: ...

    def log_client(
        self,
        run_id: str,
        round: int,
        client_id: str,
        phase: str,
        status: str,
        num_examples: int,
        bytes_sent: int,
        bytes_received: int,
        duration_s: float,
        reason: str | None,
        metrics: dict[str, Any] | None,
    ) -> None: ...

    def log_event(
        self, run_id: str, level: str, message: str, round: int | None = None
    ) -> None: ...

    def save_checkpoint(self, run_id: str, round: int, blob: bytes) -> None: ...


class RoundObserver(Protocol):
    """Sees every validated fit result and every completed round (contribution accounting)."""

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None: ...

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None: ...


@dataclass
class RoundRecord:
    """What happened in one round."""

    server_round: int
    clients: list[str]
    failures: dict[str, str]
    metrics: dict[str, float]
    duration_s: float


@dataclass
class History:
    """Everything a run produced: per-round records, the final model, the run id."""

    rounds: list[RoundRecord] = field(default_factory=list)
    parameters: Parameters = field(default_factory=list)
    run_id: str | None = None

    def metric(self, name: str) -> list[tuple[int, float]]:
        """``(round, value)`` pairs of one metric, in round order."""
        return [(r.server_round, r.metrics[name]) for r in self.rounds if name in r.metrics]

    def last(self, name: str) -> float:
        values = self.metric(name)
        if not values:
            raise KeyError(f"no metric {name!r}; have {sorted(self.metric_names())}")
        return values[-1][1]

    def metric_names(self) -> set[str]:
        return {k for r in self.rounds for k in r.metrics}


ProgressFn = Callable[[RoundRecord], None]


@dataclass
class Coordinator:
    """Runs ``rounds`` rounds of ``strategy`` over the clients of ``pool``."""

    strategy: Strategy
    pool: ClientPool
    parameters: Parameters
    seed: int = 0
    round_timeout: float | None = None
    store: RunRecorder | None = None
    run_id: str | None = None
    observers: Sequence[RoundObserver] = ()
    checkpoint_every: int = 1
    start_round: int = 1
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parameters = copy_parameters(self.parameters)
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED]))
        if self.start_round == 1:
            self.strategy.initialize(self.parameters)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, rounds: int, progress: ProgressFn | None = None) -> History:
        """Run rounds ``start_round .. rounds``; raises :class:`RoundFailure` if one fails
        (every completed round before it is already recorded and checkpointed)."""
        history = History(run_id=self.run_id)
        for server_round in range(self.start_round, rounds + 1):
            record = self.run_round(server_round)
            history.rounds.append(record)
            history.parameters = self.parameters
            if progress is not None:
                progress(record)
        history.parameters = self.parameters
        return history

    def run_round(self, server_round: int) -> RoundRecord:
        start = time.perf_counter()
        rng = self._round_rng(server_round)
        available = self.pool.client_ids()
        if len(available) < self.strategy.min_available_clients:
            raise self._fail(
                server_round,
                f"only {len(available)} clients available, "
                f"min_available_clients={self.strategy.min_available_clients}",
            )
        old = self.parameters
        instructions = self.strategy.configure_fit(server_round, old, available, rng)
        for cid, ins in instructions:
            ins.config.setdefault("seed", client_seed(self.seed, server_round, cid))
            ins.config.setdefault("server_round", server_round)
        acc = self.strategy.accumulator(server_round, old)
        reference = self.strategy.result_reference(old)
        failures: dict[str, str] = {}
        requests = EncodeOnDemand([(cid, FIT, ins) for cid, ins in instructions], encode)
        for reply in self.pool.request(requests, timeout=self.round_timeout):
            result = self._accept_fit(server_round, reply, reference, failures)
            if result is None:
                continue
            self.strategy.add_result(acc, reply.client_id, result)
            for obs in self.observers:
                obs.on_fit_result(server_round, old, reply.client_id, result)
        if acc.count < self.strategy.min_fit_clients:
            detail = "; ".join(f"{c}: {r}" for c, r in failures.items()) or "none failed"
            raise self._fail(
                server_round,
                f"only {acc.count} of {len(instructions)} clients reported, "
                f"min_fit_clients={self.strategy.min_fit_clients} ({detail})",
            )
        self.parameters = self.strategy.aggregate_fit(server_round, old, acc)
        metrics: dict[str, float] = {f"train_{k}": v for k, v in acc.metrics().items()}
        central = self.strategy.evaluate(server_round, self.parameters)
        if central is not None:
            loss, central_metrics = central
            metrics["central_loss"] = float(loss)
            metrics.update({f"central_{k}": float(v) for k, v in central_metrics.items()})
        metrics.update(self._federated_evaluate(server_round, available, rng, failures))
        duration = time.perf_counter() - start
        record = RoundRecord(
            server_round, [c for c, _ in instructions], failures, metrics, duration
        )
        for obs in self.observers:
            obs.on_round_end(server_round, old, self.parameters, metrics)
        self._record_round(record)
        return record

    # -- pieces -------------------------------------------------------------------------------
    def _round_rng(self, server_round: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, server_round]))

    def _accept_fit(
        self, server_round: int, reply: Reply, reference: Parameters, failures: dict[str, str]
    ) -> FitResult | None:
        result: Any = None
        try:
            if not reply.ok:
                raise ClientFailure(reply.client_id, reply.error or "no reply")
            assert reply.payload is not None
            try:
                result = decode(bytearray(reply.payload))
            except CodecError as exc:
                raise ClientFailure(reply.client_id, f"undecodable reply: {exc}") from exc
            if not isinstance(result, FitResult):
                raise ClientFailure(reply.client_id, f"sent {type(result).__name__}, not FitResult")
            validate_update(reply.client_id, result.parameters, reference)
            if result.num_examples <= 0:
                raise ClientFailure(reply.client_id, "reported 0 training examples")
        except ClientFailure as exc:
            failures[reply.client_id] = exc.reason
            log.warning(
                "round %d: dropped client %s: %s", server_round, reply.client_id, exc.reason
            )
            self._log_client(server_round, reply, "fit", "failed", 0, exc.reason, None)
            return None
        self._log_client(
            server_round, reply, "fit", "ok", result.num_examples, None, result.metrics
        )
        return result

    def _federated_evaluate(
        self,
        server_round: int,
        available: list[str],
        rng: np.random.Generator,
        failures: dict[str, str],
    ) -> dict[str, float]:
        instructions = self.strategy.configure_evaluate(
            server_round, self.parameters, available, rng
        )
        if not instructions:
            return {}
        results: list[tuple[str, EvaluateResult]] = []
        requests = EncodeOnDemand([(cid, EVALUATE, ins) for cid, ins in instructions], encode)
        for reply in self.pool.request(requests, timeout=self.round_timeout):
            reason = reply.error
            result: Any = None
            if reason is None and reply.payload is not None:
                try:
                    result = decode(bytearray(reply.payload))
                except CodecError as exc:
                    reason = f"undecodable reply: {exc}"
                else:
                    if not isinstance(result, EvaluateResult):
                        reason = f"sent {type(result).__name__}, not EvaluateResult"
                    elif not np.isfinite(result.loss):
                        reason = "evaluation loss is NaN or Inf"
            if reason is not None:
                failures.setdefault(reply.client_id, f"evaluate: {reason}")
                self._log_client(server_round, reply, "evaluate", "failed", 0, reason, None)
                continue
            results.append((reply.client_id, result))
            self._log_client(
                server_round, reply, "evaluate", "ok", result.num_examples, None, result.metrics
            )
        if not results:
            return {}
        loss, metrics = self.strategy.aggregate_evaluate(server_round, results)
        out = {"eval_loss": float(loss)}
        out.update({f"eval_{k}": float(v) for k, v in metrics.items()})
        return out

    def checkpoint_blob(self, server_round: int) -> bytes:
        """Model and strategy state after ``server_round``, as codec bytes."""
        return encode(
            {
                "round": server_round,
                "parameters": self.parameters,
                "strategy": self.strategy.state_dict(),
                "strategy_name": self.strategy.name,
            }
        )

    def restore(self, blob: bytes) -> int:
        """Load a checkpoint made by :meth:`checkpoint_blob`; returns its round."""
        state = decode(bytearray(blob))
        if state.get("strategy_name") != self.strategy.name:
            raise ValueError(
                f"checkpoint is for {state.get('strategy_name')}, not {self.strategy.name}"
            )
        self.parameters = list(state["parameters"])
        self.strategy.load_state_dict(state["strategy"])
        self.start_round = int(state["round"]) + 1
        return int(state["round"])

    def _record_round(self, record: RoundRecord) -> None:
        if self.store is None or self.run_id is None:
            return
        self.store.log_round(
            self.run_id,
            record.server_round,
            record.metrics,
            record.duration_s,
            len(record.clients),
            len(record.failures),
        )
        if self.checkpoint_every and record.server_round % self.checkpoint_every == 0:
            self.store.save_checkpoint(
                self.run_id, record.server_round, self.checkpoint_blob(record.server_round)
            )

    def _log_client(
        self,
        server_round: int,
        reply: Reply,
        phase: str,
        status: str,
        num_examples: int,
        reason: str | None,
        metrics: dict[str, Any] | None,
    ) -> None:
        if self.store is None or self.run_id is None:
            return
        self.store.log_client(
            self.run_id,
            server_round,
            reply.client_id,
            phase,
            status,
            num_examples,
            reply.bytes_sent,
            reply.bytes_received,
            reply.duration_s,
            reason,
            metrics,
        )

    def _fail(self, server_round: int, message: str) -> RoundFailure:
        text = f"round {server_round} failed: {message}"
        log.error(text)
        if self.store is not None and self.run_id is not None:
            self.store.log_event(self.run_id, "error", text, server_round)
        return RoundFailure(text)

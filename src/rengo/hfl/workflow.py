"""Round workflows: how a round's fit stage talks to the clients.

The round loop (:class:`~rengo.hfl.Coordinator`) samples clients and configures their
:class:`~rengo.core.messages.FitIns`, then hands the fit stage to a workflow, which returns
the accumulator the strategy aggregates. The default, :class:`SingleExchange`, is one fit
message per client with every reply validated and folded as it arrives (memory O(model)).
A multi-stage protocol - secure aggregation's key advertisement, share distribution, masked
input and unmasking - is another workflow: each stage is an :meth:`FitRound.exchange` of
typed messages under the stage's key, and on the client side the client mod that owns that
key answers it (see :mod:`rengo.hfl.mods`), keeping its per-client memory in the client's
persisted state between stages.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rengo.core.codec import decode_owned, encode
from rengo.core.errors import ClientFailure, CodecError, RoundFailure
from rengo.core.messages import FitIns, FitResult, Metrics
from rengo.core.parameters import Parameters, validate_update
from rengo.hfl.failure_log import ClientFailureLog
from rengo.hfl.mods.chain import FIT
from rengo.hfl.result_checks import (
    ResultChecks,
    claim_cap,
    kind_problem,
    largest_magnitude,
    low_median,
    overflow_limit,
    screen_metrics,
    update_norm,
)
from rengo.hfl.strategy.base import Strategy, WeightedSum
from rengo.transport.pool import ClientPool, EncodeOnDemand, Reply

log = logging.getLogger("rengo.hfl")

Accept = Callable[[str, Any], Any]
"""Checks one decoded reply: returns the value to keep or raises ClientFailure."""


class ShortRound(RoundFailure):
    """A round's fit stage ended with fewer results than it needs, **before it released
    anything** of them: no update and no sum of updates reached the coordinator.

    A sum-only workflow (secure aggregation) raises it instead of unmasking a sum the
    coordinator would discard. Such a round may run again over another cohort without
    revealing the difference of two sums of the same updates, which the coordinator does
    when clients whose local privacy budget is spent made it short.

    Attributes
    ----------
    arrived
        Results (masked inputs) that arrived.
    needed
        Results the round needed.
    """

    def __init__(self, message: str, arrived: int, needed: int) -> None:
        super().__init__(message)
        self.arrived = arrived
        self.needed = needed

    def __reduce__(self) -> tuple[type[ShortRound], tuple[str, int, int]]:
        """Pickled and copied with its counts (an exception's default keeps only args)."""
        return (ShortRound, (str(self), self.arrived, self.needed))


class ClientLog(Protocol):
    """Where a fit stage records each client's outcome (the coordinator's run store)."""

    def __call__(
        self,
        client_id: str,
        status: str,
        num_examples: int,
        traffic: tuple[int, int, float],
        reason: str | None,
        metrics: Metrics | None,
    ) -> None:
        """Record ``client_id``'s outcome with its traffic (sent, received, seconds)."""
        ...


class FitObserver(Protocol):
    """What a fit stage tells observers (a :class:`~rengo.hfl.RoundObserver` is one)."""

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        """A client's validated result, as it arrives."""
        ...


def tell_party(pool: ClientPool, client_id: str, server_round: int, text: str) -> None:
    """Tell the party behind ``client_id`` about its own result of ``server_round`` (why it
    was not counted, or counted at a cap), where the pool can reach it: a deployed hub's
    ``notify`` (:meth:`~rengo.transport.GrpcHub.notify`); simulated clients have nobody to
    tell. ``text`` must say nothing about other parties (not the round's median)."""
    notify = getattr(pool, "notify", None)
    if callable(notify):
        notify(client_id, f"round {server_round}: {text}")


class FitRound:
    """One round's fit stage as a workflow sees it.

    Attributes
    ----------
    server_round
        The round number.
    parameters
        The global model the round started from.
    strategy
        The round's strategy (its accumulator and ``add_result`` fold results).
    instructions
        The sampled clients and their configured :class:`FitIns`, in sampling order.
    failures
        Client id -> reason, for every client dropped this round so far.
    timed_out
        The clients among ``failures`` that did not answer within the round timeout.
    checks
        The coordinator's checks of every result (:class:`~rengo.hfl.ResultChecks`).
    weights
        Client id -> ``(weight counted, largest |value|)`` of every accepted result: what
        each one can do to the aggregate (to name the cause of a non-finite one).
    excluded
        Client id -> reason, for every client the workflow caught breaking its protocol in a
        way only a faulty or malicious client can: the coordinator leaves it out of the
        run's later rounds.
    seed
        The run seed: what a workflow's own draws derive from (a compressed model's
        rounding), so a run is reproducible on every executor and deployed.
    """

    def __init__(
        self,
        server_round: int,
        parameters: Parameters,
        strategy: Strategy,
        instructions: Sequence[tuple[str, FitIns]],
        *,
        pool: ClientPool,
        timeout: float | None = None,
        observers: Sequence[FitObserver] = (),
        client_log: ClientLog | None = None,
        checks: ResultChecks | None = None,
        failure_log: ClientFailureLog | None = None,
        seed: int = 0,
    ) -> None:
        self.server_round = server_round
        self.seed = seed
        self.parameters = parameters
        self.strategy = strategy
        self.instructions = list(instructions)
        self.failures: dict[str, str] = {}
        self.timed_out: set[str] = set()
        self.checks = checks if checks is not None else ResultChecks.streaming()
        self.weights: dict[str, tuple[float, float]] = {}
        self.excluded: dict[str, str] = {}
        self._norms: dict[str, float] = {}
        self._notes: dict[str, str] = {}  # what a result's screening dropped, by client
        self._pool = pool
        self._timeout = timeout
        self._observers = list(observers)
        self._client_log = client_log
        self._failure_log = failure_log or ClientFailureLog()
        self._traffic: dict[str, tuple[int, int, float]] = {}
        self._reference: Parameters | None = None

    @property
    def reference(self) -> Parameters:
        """The arrays a FitResult must match (the strategy's ``result_reference``)."""
        if self._reference is None:
            self._reference = self.strategy.result_reference(self.parameters)
        return self._reference

    def exchange(
        self, key: str, messages: Sequence[tuple[str, Any]], accept: Accept | None = None
    ) -> Iterator[tuple[str, Any]]:
        """Send ``(client_id, message)`` pairs under ``key``; yield each accepted reply.

        Messages are encoded only as the pool takes them and replies are yielded as they
        arrive, in request order, so memory stays O(requests in flight). A client whose reply
        is missing, undecodable or refused by ``accept`` is dropped with its reason (logged,
        recorded, and in :attr:`failures`) and not yielded.
        """
        requests = EncodeOnDemand([(cid, key, message) for cid, message in messages], encode)
        for reply in self._pool.request(requests, timeout=self._timeout):
            self._count(reply)
            if reply.timed_out:
                self.timed_out.add(reply.client_id)
            try:
                value = self._decode(reply)
                if accept is not None:
                    value = _checked(accept, reply.client_id, value)
            except ClientFailure as exc:
                reason = exc.reason if key == FIT else f"{key}: {exc.reason}"
                self.drop(reply.client_id, reason, None if reply.ok else reply.traceback)
                if key == FIT:  # about its own reply only (a protocol stage's may name others)
                    self._tell(reply.client_id, f"your fit result was not counted: {reason}")
                continue
            if isinstance(value, FitResult):
                metrics = self._metrics(reply.client_id, value)
                note = self._notes.get(reply.client_id)
                self._record(reply.client_id, "ok", value.num_examples, note, metrics)
            else:
                self._record(reply.client_id, "ok", 0, None, None)
            yield reply.client_id, value

    def fit_results(
        self,
        instructions: Sequence[tuple[str, FitIns]] | None = None,
        decode: Accept | None = None,
    ) -> Iterator[tuple[str, FitResult]]:
        """Send each sampled client its FitIns; yield every valid FitResult as it arrives.

        ``decode(client_id, reply)`` turns each decoded reply into the FitResult it stands
        for before any check sees it (compressed updates,
        :class:`~rengo.hfl.CompressedUpdates`); it raises ``ClientFailure``, ``ValueError`` or
        ``TypeError`` for a reply it cannot read, which drops that client with the reason.

        Valid means: a FitResult whose arrays match :attr:`reference` in count, shape and
        kind (no boolean or integer arrays for a floating-point model), all finite, from at
        least one and at most ``checks.max_claimed_examples`` examples, whose weight times
        largest value cannot overflow the sum. With a median rule on (see
        :class:`~rengo.hfl.ResultChecks`) the round's results are held until all arrived:
        updates far larger than the median are dropped and claims above the cap are
        counted at the cap. Each result's update norm is recorded with its metrics;
        observers see each valid result as it is counted.
        """
        messages = instructions if instructions is not None else self.instructions
        limit = overflow_limit(len(messages))
        accept: Accept = self._accept
        if decode is not None:
            accept = functools.partial(_decoded_then_accepted, decode, self._accept)
        replies = self.exchange(FIT, messages, accept)
        if self.checks.needs_whole_round:
            replies = iter(self._screen(list(replies)))
        for client_id, result in replies:
            scale = float(result.num_examples) * largest_magnitude(result.parameters)
            if not scale <= limit:
                reason = (
                    f"weight {result.num_examples} x values up to "
                    f"{largest_magnitude(result.parameters):.3g} would overflow the aggregate"
                )
                self.drop(client_id, reason)
                self._tell(client_id, f"your fit result was not counted: {reason}")
                continue
            self.weights[client_id] = (float(result.num_examples), scale)
            for observer in self._observers:
                observer.on_fit_result(self.server_round, self.parameters, client_id, result)
            yield client_id, result

    def _screen(self, results: list[tuple[str, FitResult]]) -> list[tuple[str, FitResult]]:
        """The median rules over a whole round's results (in arrival order)."""
        checks = self.checks
        if checks.max_update_norm_ratio is not None and results:
            median = low_median([self._norms[cid] for cid, _ in results])
            bound = checks.max_update_norm_ratio * median
            kept = []
            for cid, result in results:
                norm = self._norms[cid]
                if median > 0 and not norm <= bound:
                    self.drop(
                        cid,
                        f"update norm {norm:.4g} is {norm / median:.3g}x the round's median "
                        f"{median:.4g} (limit: result_checks.max_update_norm_ratio = "
                        f"{checks.max_update_norm_ratio:g})",
                    )
                    self._tell(  # without the median: it is the other parties' business
                        cid,
                        f"your fit result was not counted: its update norm {norm:.4g} is more "
                        f"than result_checks.max_update_norm_ratio = "
                        f"{checks.max_update_norm_ratio:g} times the round's median",
                    )
                else:
                    kept.append((cid, result))
            results = kept
        if checks.max_weight_ratio is not None and results:
            claims = [r.num_examples for _, r in results]
            median, cap = low_median(claims), claim_cap(claims, checks.max_weight_ratio)
            capped = []
            for cid, result in results:
                if result.num_examples > cap:
                    note = (
                        f"weight capped: claimed {result.num_examples} examples, counted as "
                        f"{cap} ({checks.max_weight_ratio:g}x the round's median claim "
                        f"{median:g}; result_checks.max_weight_ratio)"
                    )
                    log.warning("round %d: client %s: %s", self.server_round, cid, note)
                    note = "; ".join(filter(None, (self._notes.get(cid), note)))
                    self._tell(  # without the cap: it tells the other parties' median claim
                        cid,
                        f"your claim of {result.num_examples} examples was counted as fewer: "
                        f"result_checks.max_weight_ratio = {checks.max_weight_ratio:g} caps a "
                        "claim at that many times the round's median claim",
                    )
                    result = FitResult(result.parameters, cap, result.metrics)
                    self._record(cid, "ok", cap, note, self._metrics(cid, result))
                capped.append((cid, result))
            results = capped
        return results

    def _metrics(self, client_id: str, result: FitResult) -> Metrics:
        """The result's metrics with the update norm the coordinator measured."""
        return {**result.metrics, "update_norm": self._norms.get(client_id, float("nan"))}

    def sum_only(self, client_ids: Sequence[str], reason: str) -> None:
        """Tell observers the round's results reached the coordinator only as one sum over
        ``client_ids`` (secure aggregation): no per-client result will arrive.

        An observer with ``on_sum_only(server_round, global_parameters, client_ids, reason)``
        (a contribution tracker) falls back to what the sum allows; any other observer is
        named in a warning, so nothing is skipped silently.
        """
        for observer in self._observers:
            hook = getattr(observer, "on_sum_only", None)
            if callable(hook):
                hook(self.server_round, self.parameters, list(client_ids), reason)
            else:
                log.warning(
                    "round %d: %s sees no per-client results: %s",
                    self.server_round,
                    type(observer).__name__,
                    reason,
                )

    def _tell(self, client_id: str, text: str) -> None:
        tell_party(self._pool, client_id, self.server_round, text)

    def drop(self, client_id: str, reason: str, traceback: str | None = None) -> None:
        """Drop ``client_id`` from this round (a workflow's own protocol checks use this);
        the failure is logged once per run (see :class:`~rengo.hfl.ClientFailureLog`), with
        ``traceback`` when the client raised."""
        self.failures[client_id] = reason
        self._failure_log.report(self.server_round, client_id, reason, traceback)
        self._record(client_id, "failed", 0, reason, None)

    def exclude(self, client_id: str, reason: str, *, drop: bool = True) -> None:
        """Drop ``client_id`` from this round and have the coordinator leave it out of the
        run's later rounds (see :attr:`excluded`); ``drop=False`` when a reply check dropped
        it already. The party is told, with the reason: a conviction is about its own
        replies (the counterparts it names are the ones it dealt with)."""
        self.excluded[client_id] = reason
        if drop:
            self.drop(client_id, reason)
        self._tell(client_id, f"you are left out of the rest of this run: {reason}")

    # -- pieces -------------------------------------------------------------------------------
    def _decode(self, reply: Reply) -> Any:
        if not reply.ok:
            raise ClientFailure(reply.client_id, reply.error or "no reply")
        assert reply.payload is not None
        try:
            return decode_owned(reply.payload)
        except CodecError as exc:
            raise ClientFailure(reply.client_id, f"undecodable reply: {exc}") from exc

    def _accept(self, client_id: str, value: Any) -> FitResult:
        if not isinstance(value, FitResult):
            raise ClientFailure(client_id, f"sent {type(value).__name__}, not FitResult")
        validate_update(client_id, value.parameters, self.reference)
        for i, (array, reference) in enumerate(zip(value.parameters, self.reference, strict=True)):
            problem = kind_problem(array, reference)
            if problem is not None:
                raise ClientFailure(client_id, f"array {i} {problem}")
        if value.num_examples <= 0:
            raise ClientFailure(client_id, "reported 0 training examples")
        claimed = self.checks.claim_problem(value.num_examples)
        if claimed is not None:
            raise ClientFailure(client_id, claimed)
        problem = self.strategy.result_problem(value)
        if problem is not None:
            raise ClientFailure(client_id, problem)
        self._norms[client_id] = update_norm(value.parameters, self.reference)
        metrics, refused = screen_metrics(value.metrics)
        if refused:  # the update counts; the metrics it lied about do not
            note = f"{'; '.join(refused)}: dropped"
            log.warning("round %d: client %s: %s", self.server_round, client_id, note)
            self._notes[client_id] = note
            return FitResult(value.parameters, value.num_examples, metrics)
        return value

    def _count(self, reply: Reply) -> None:
        sent, received, seconds = self._traffic.get(reply.client_id, (0, 0, 0.0))
        self._traffic[reply.client_id] = (
            sent + reply.bytes_sent,
            received + reply.bytes_received,
            seconds + reply.duration_s,
        )

    def _record(
        self,
        client_id: str,
        status: str,
        num_examples: int,
        reason: str | None,
        metrics: Metrics | None,
    ) -> None:
        if self._client_log is not None:
            traffic = self._traffic.get(client_id, (0, 0, 0.0))
            self._client_log(client_id, status, num_examples, traffic, reason, metrics)


class FitWorkflow(Protocol):
    """A round's fit stage: which messages go to clients and how results are folded.

    ``client_mods`` names the registered client mods the workflow's stages need (requested
    from every client with each fit and evaluate); ``run`` returns the filled accumulator
    (``count`` is how many clients it holds). A workflow that shows the coordinator only
    the sum of the updates (secure aggregation) also sets the class attribute
    ``sees_each_update = False`` (see :func:`sees_each_update`); a workflow that wraps
    another should pass it on. A sum-only workflow whose round ends short before it released
    anything raises :class:`ShortRound` (the coordinator may then run the round again).
    A workflow that runs only some strategies defines ``check_strategy(strategy,
    parameters)``, raising :class:`~rengo.core.errors.ConfigError` before the run is
    recorded (see :func:`rengo.hfl.privacy_fit.check_privacy_fits`). A workflow that changes
    how the model travels (:class:`~rengo.hfl.CompressedUpdates` with a compressed model)
    defines ``prepare_evaluate(server_round, seed, parameters, instructions)``, which the
    coordinator calls on the round's evaluation instructions before they are sent, and
    ``model_problem(parameters)``: why a model cannot travel (a value beyond float16's
    range), or None; the coordinator asks before it adopts a round's new model and fails the
    round, keeping the last one, when there is a problem.
    """

    def client_mods(self) -> tuple[str, ...]:
        """Registered client mods this workflow needs."""
        ...

    def run(self, fit_round: FitRound) -> WeightedSum:
        """Run the fit stage of ``fit_round``; return the accumulator to aggregate."""
        ...


def sees_each_update(workflow: FitWorkflow) -> bool:
    """Whether the coordinator sees each client's update under ``workflow``.

    A workflow that releases only the sum (secure aggregation) sets a class attribute
    ``sees_each_update = False``; every other workflow, a user's too, is taken to see each
    update. The per-update median rules of :class:`~rengo.hfl.ResultChecks` need it.
    """
    return bool(getattr(workflow, "sees_each_update", True))


def applicable_checks(workflow: FitWorkflow | None, checks: ResultChecks) -> ResultChecks:
    """``checks`` as ``workflow`` can apply them, saying so loudly if that drops any.

    Parameters
    ----------
    workflow
        The round's fit stage (None: the default, which sees each update).
    checks
        The coordinator's checks of every result.

    Returns
    -------
    ResultChecks
        ``checks``; without its per-update median rules (``max_weight_ratio``,
        ``max_update_norm_ratio``) when the workflow releases only the sum, where they never
        ran. That case warns (FutureWarning): it will be a ``ConfigError`` in rengo 0.3,
        because a check that silently does nothing is worse than none.
    """
    if workflow is None or sees_each_update(workflow) or not checks.needs_whole_round:
        return checks
    rules = [
        name
        for name in ("max_weight_ratio", "max_update_norm_ratio")
        if getattr(checks, name) is not None
    ]
    warnings.warn(
        f"result checks {', '.join(rules)} compare each update with the round's median, "
        f"and {type(workflow).__name__} shows the coordinator only the sum, so they cannot "
        "run and are dropped (they never ran before either); this will be a ConfigError in "
        "rengo 0.3: pass checks=ResultChecks(max_weight_ratio=None, "
        "max_update_norm_ratio=None) (under secure aggregation each claim is bounded by "
        "SecAgg.max_examples instead)",
        FutureWarning,
        stacklevel=3,
    )
    return checks.without_median_rules()


def default_checks(workflow: FitWorkflow | None) -> ResultChecks:
    """A deployment's default checks under ``workflow``: :class:`~rengo.hfl.ResultChecks`
    with its median rules, without them when the workflow releases only the sum."""
    checks = ResultChecks()
    if workflow is not None and not sees_each_update(workflow):
        return checks.without_median_rules()
    return checks


@dataclass(frozen=True)
class SingleExchange:
    """The default fit stage: one FitIns per sampled client, each valid reply folded into
    the strategy's streaming accumulator as it arrives."""

    def client_mods(self) -> tuple[str, ...]:
        """None needed."""
        return ()

    def run(self, fit_round: FitRound) -> WeightedSum:
        """Fold every valid FitResult of the round."""
        strategy = fit_round.strategy
        acc = strategy.accumulator(fit_round.server_round, fit_round.parameters)
        for client_id, result in fit_round.fit_results():
            strategy.add_result(acc, client_id, result)
        return acc


def _decoded_then_accepted(decode: Accept, accept: Accept, client_id: str, value: Any) -> Any:
    """``accept`` of what ``decode`` makes of a reply, with a reply ``decode`` cannot read
    (its ``ValueError`` or ``TypeError``) that client's failure, its reason the error's."""
    try:
        decoded = decode(client_id, value)
    except (ValueError, TypeError) as exc:
        raise ClientFailure(client_id, str(exc)) from exc
    return accept(client_id, decoded)


def _checked(accept: Accept, client_id: str, value: Any) -> Any:
    """``accept(client_id, value)``, with a reply that breaks the check itself (a type it
    did not expect: an array where a number belongs, a list where a name does) turned into
    that client's failure: one party's malformed reply must not end the round for all."""
    try:
        return accept(client_id, value)
    except ClientFailure:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ClientFailure(client_id, f"malformed reply ({type(exc).__name__}: {exc})") from exc

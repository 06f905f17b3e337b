"""The client side of horizontal FL: what a user implements, and how messages reach it.

A client implements ``fit`` and ``evaluate``. The same object runs in simulation (serial,
process pool, Ray) and deployed over gRPC: the transport calls the handler made by
:func:`client_handler`, which decodes the coordinator's typed message, passes it through the
client mods (:mod:`rengo.hfl.mods`), calls the client and encodes its answer.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rengo.core.codec import decode_owned, encode, unencodable_part
from rengo.core.errors import CodecError, ProtocolError
from rengo.core.messages import Config, EvaluateIns, EvaluateResult, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.local_training import LocalTraining
from rengo.hfl.mods.chain import EVALUATE, FIT, ClientCall, Mod, ModChain
from rengo.transport.pool import Handler

__all__ = [
    "EVALUATE",
    "FIT",
    "Client",
    "ClientFn",
    "call_client",
    "client_handler",
    "client_seed",
    "with_mods",
]


class Client(ABC):
    """A participant in horizontal FL.

    ``state`` is this client's persisted memory between rounds (SCAFFOLD's control variate,
    personalised layers...): a dict of codec-encodable values that the runtime restores
    before each call and saves after it, wherever the client runs.

    ``local_training`` holds what client mods ask of this call's training (per-step gradient
    corrections, frozen arrays). A client that trains by gradient steps applies them and
    calls ``local_training.record_step(lr)`` per step; one that does not may ignore it.
    """

    state: dict[str, Any]
    local_training: LocalTraining

    def __init__(self) -> None:
        self.state = {}
        self.local_training = LocalTraining()

    @abstractmethod
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """Train from ``parameters`` on local data; return new parameters and example count."""

    @abstractmethod
    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Evaluate ``parameters`` on local data."""


ClientFn = Callable[[str], Client]
"""Builds the client with a given id (simulation calls it on demand, in any process)."""


def _flower_tuple_hint(result: Any, expected: str) -> str:
    """What to return instead, for a client that returned the tuple a Flower NumPyClient
    returns (``expected``: the result it should build); empty for anything else."""
    if type(result) is not tuple:
        return ""
    return f"{expected}, not the tuple a Flower NumPyClient returns"


def call_client(client: Client, call: ClientCall) -> FitResult | EvaluateResult:
    """Deliver a fit or evaluate ``call`` to ``client`` (the innermost step of every chain).

    Raises
    ------
    ProtocolError
        If the key is neither fit nor evaluate, or the message does not match its key.
    TypeError
        If the client returns something other than a FitResult / EvaluateResult.
    """
    client.state = call.state
    client.local_training = call.local_training
    try:
        if call.key == FIT:
            if not isinstance(call.message, FitIns):
                raise ProtocolError(f"'fit' carried {type(call.message).__name__}, not FitIns")
            result: Any = client.fit(call.message.parameters, call.message.config)
            if not isinstance(result, FitResult):
                raise TypeError(
                    f"fit() returned {type(result).__name__}, not FitResult"
                    + _flower_tuple_hint(
                        result, ": return FitResult(parameters, num_examples, metrics)"
                    )
                )
            return result
        if call.key == EVALUATE:
            if not isinstance(call.message, EvaluateIns):
                raise ProtocolError(f"'evaluate' carried {type(call.message).__name__}")
            result = client.evaluate(call.message.parameters, call.message.config)
            if not isinstance(result, EvaluateResult):
                raise TypeError(
                    f"evaluate() returned {type(result).__name__}"
                    + _flower_tuple_hint(
                        result,
                        ", not EvaluateResult: return EvaluateResult(loss, num_examples, metrics)",
                    )
                )
            return result
        raise ProtocolError(f"unknown message key {call.key!r}")
    finally:
        if client.state is not call.state:  # the client replaced its dict: keep what it holds
            call.state.clear()
            call.state.update(client.state)
        client.local_training = LocalTraining()  # this call's corrections end with it


def client_handler(client_fn: ClientFn, mods: Sequence[Mod] = ()) -> Handler:
    """Wrap ``client_fn`` as a transport :data:`~rengo.transport.Handler` (bytes in, bytes out).

    Parameters
    ----------
    client_fn
        Builds the client for a client id. Called only when a message reaches the client
        (a stage a mod answers alone builds none).
    mods
        Client mods installed around every client, outermost first; mods the coordinator
        requests by name (FedProx, SCAFFOLD...) wrap these.

    Returns
    -------
    Handler
        ``(client_id, key, payload, state) -> (reply, new_state)``, codec bytes throughout.
    """
    chain = ModChain(mods)

    def handle(
        client_id: str, key: str, payload: bytes, state: bytes | None
    ) -> tuple[bytes, bytes | None]:
        persisted = dict(decode_owned(state)) if state else {}
        call = ClientCall(client_id, key, decode_owned(payload), persisted)
        reply = chain.run(call, lambda c: call_client(built_client(client_fn, c.client_id), c))
        return encoded_reply(reply), (encode(call.state) if call.state else None)

    return handle


def encoded_reply(reply: Any) -> bytes:
    """``reply`` as codec bytes; a fit or evaluate result holding a value the wire cannot
    carry (a torch tensor among the parameters or metrics) names where it is.

    Raises
    ------
    CodecError
        Naming the result's part (``parameters[2]``, ``metrics['loss']``, ``loss``) and what to
        send instead.
    """
    try:
        return encode(reply)
    except CodecError as exc:
        if not isinstance(reply, (FitResult, EvaluateResult)):
            raise
        parts: list[tuple[str, Any]] = [("num_examples", reply.num_examples)]
        if isinstance(reply, FitResult):
            parts += [(f"parameters[{i}]", p) for i, p in enumerate(reply.parameters)]
        else:
            parts.append(("loss", reply.loss))
        parts += [(f"metrics[{k!r}]", v) for k, v in reply.metrics.items()]
        culprit = unencodable_part(parts)
        if culprit is None:
            raise
        where, value = culprit
        raise CodecError(
            f"{type(reply).__name__}.{where} is a {type(value).__qualname__}, which "
            "cannot be sent: parameters are numpy arrays (get_parameters(model), or "
            "tensor.detach().cpu().numpy()), metrics numbers or strings "
            "(tensor.item())"
        ) from exc


def built_client(client_fn: ClientFn, client_id: str) -> Client:
    """``client_fn(client_id)``, checked to be a :class:`Client` (a ``client_fn`` that forgot
    its ``return`` failed with "'NoneType' object has no attribute 'state'").

    Raises
    ------
    TypeError
        Naming what ``client_fn`` returned instead.
    """
    client = client_fn(client_id)
    if not isinstance(client, Client) and not all(
        callable(getattr(client, name, None)) for name in ("fit", "evaluate")
    ):
        raise TypeError(
            f"client_fn({client_id!r}) returned {type(client).__name__}, not a client (a "
            "rengo.hfl.Client such as LogisticRegressionClient or TorchClient)"
        )
    return client


class _ModdedClient(Client):
    """A client seen through mods (see :func:`with_mods`)."""

    def __init__(self, client: Client, mods: Sequence[Mod], client_id: str) -> None:
        super().__init__()
        self._client = client
        self._chain = ModChain(mods)
        self._client_id = client_id
        self.state = client.state

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        reply = self._run(FIT, FitIns(list(parameters), dict(config)))
        if not isinstance(reply, FitResult):
            raise TypeError(f"the mods answered fit with {type(reply).__name__}")
        return reply

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        reply = self._run(EVALUATE, EvaluateIns(list(parameters), dict(config)))
        if not isinstance(reply, EvaluateResult):
            raise TypeError(f"the mods answered evaluate with {type(reply).__name__}")
        return reply

    def _run(self, key: str, message: FitIns | EvaluateIns) -> Any:
        # Whatever runs this client (a handler, an outer chain) hands it the call's persisted
        # state and local training through call_client: the wrapped mods and client must see
        # those very objects, or the coordinator's FedProx term never reaches the training
        # loop and the state of earlier rounds never reaches the mods.
        call = ClientCall(self._client_id, key, message, self.state, self.local_training)
        try:
            return self._chain.run(call, lambda c: call_client(self._client, c))
        finally:
            self._client.state = self.state = call.state
            self.local_training = LocalTraining()  # this call's corrections end with it


def with_mods(client: Client, mods: Sequence[Mod], client_id: str = "local") -> Client:
    """``client`` with ``mods`` around its fit and evaluate, in this process.

    What :func:`client_handler` does for a transport, for direct calls: handy to test a mod
    or to train one client by hand. The returned client shares ``client``'s state. Returned
    from a ``client_fn`` it is a client like any other: the mods the coordinator asks for
    (FedProx, SCAFFOLD) wrap these, their gradient corrections reach ``client``'s training,
    and the client's persisted state reaches these mods.

    Parameters
    ----------
    client
        The client to wrap.
    mods
        Mods around it, outermost first.
    client_id
        The id the mods see.

    Returns
    -------
    Client
        A client whose ``fit`` / ``evaluate`` run through the mods.
    """
    return _ModdedClient(client, mods, client_id)


def client_seed(run_seed: int, server_round: int, client_id: str) -> int:
    """A per-client, per-round seed derived from the run seed; identical on every executor."""
    digest = hashlib.blake2b(client_id.encode(), digest_size=8).digest()
    seq = np.random.SeedSequence([run_seed, server_round, int.from_bytes(digest, "little")])
    return int(seq.generate_state(1, dtype=np.uint32)[0])

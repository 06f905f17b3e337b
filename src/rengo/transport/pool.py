"""The coordinator's view of its clients, whatever carries the bytes.

The round loop builds :class:`Request` s (a client id, a message key and codec bytes) and
reads :class:`Reply` s back, in request order. Simulation executors in
:mod:`rengo.transport.simulation` answer by calling a :data:`Handler` in-process or in worker
processes; the gRPC hub answers by forwarding the bytes to connected parties. Nothing above
this layer can tell which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload, runtime_checkable

Handler = Callable[[str, str, bytes, "bytes | None"], "tuple[bytes, bytes | None]"]
"""Client-side message handler: ``(client_id, key, payload, state) -> (reply, new_state)``.

``state`` is the client's own persisted state (codec bytes or ``None``); a simulation executor
keeps it between rounds on the client's behalf, a deployed party keeps it in its own process.
"""


@runtime_checkable
class KeepsClientStates(Protocol):
    """A pool that holds what its clients keep between rounds (SCAFFOLD's control variate,
    top-k's error-feedback residual, personal layers, a DP-SGD accountant's history) and
    hands it to the round checkpoint, so that a resumed simulation goes on where an
    uninterrupted one would. The simulation executors' pools are; a deployed federation's is
    not (each party keeps its own, in its own process), nor need a registered executor's be.
    """

    def client_states(self) -> dict[str, bytes]:
        """Each client's kept state now (clients that keep none are left out)."""
        ...

    def load_client_states(self, states: Mapping[str, bytes]) -> None:
        """Give clients the states a checkpoint kept, before the resumed run's first round."""
        ...


class HeldClientStates:
    """:class:`KeepsClientStates` for a pool that keeps ``_state`` (client id -> its state,
    codec bytes or None) and ``client_ids()``: mixed into the simulation executors' pools."""

    _state: dict[str, bytes | None]
    _ids: list[str]

    def client_states(self) -> dict[str, bytes]:
        """Each client's kept state now (clients that keep none are left out)."""
        return {cid: state for cid, state in self._state.items() if state is not None}

    def load_client_states(self, states: Mapping[str, bytes]) -> None:
        """Give clients the states a checkpoint kept, before the resumed run's first round.

        Raises
        ------
        ValueError
            If ``states`` names a client this pool does not have (a checkpoint of another
            federation).
        """
        unknown = sorted(set(states) - set(self._ids))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise ValueError(f"the checkpoint keeps the state of clients this run lacks: {shown}")
        self._state.update(states)


TIMED_OUT = "timed out"
"""How every pool's error for a client past the timeout begins."""


@dataclass(frozen=True)
class Request:
    """One message for one client."""

    client_id: str
    key: str
    payload: bytes


@dataclass(frozen=True)
class Sent:
    """What a pool remembers of a request once its payload has gone: who, what, how big."""

    client_id: str
    key: str
    size: int

    @classmethod
    def of(cls, request: Request) -> Sent:
        """What was sent for ``request``: its client, key and payload size."""
        return cls(request.client_id, request.key, len(request.payload))


@dataclass(frozen=True)
class Reply:
    """A client's answer to a :class:`Request`, or why there is none."""

    client_id: str
    key: str
    payload: bytes | None
    error: str | None
    bytes_sent: int
    bytes_received: int
    duration_s: float
    traceback: str | None = None
    """Where the client raised (its formatted traceback), when it ran in this
    federation's processes; a deployed party keeps its own."""

    @property
    def ok(self) -> bool:
        """True when the client answered (``payload`` holds its reply)."""
        return self.error is None and self.payload is not None

    @property
    def timed_out(self) -> bool:
        """True when the client did not answer within the request's timeout (every pool
        reports that as an error starting ``"timed out"``)."""
        return self.error is not None and self.error.startswith(TIMED_OUT)

    @classmethod
    def to(
        cls,
        request: Request | Sent,
        payload: bytes | None,
        error: str | None,
        duration_s: float,
        traceback: str | None = None,
    ) -> Reply:
        """The reply to ``request``, with its byte counts."""
        return cls(
            request.client_id,
            request.key,
            payload,
            error,
            bytes_sent=request.size if isinstance(request, Sent) else len(request.payload),
            bytes_received=len(payload) if payload is not None else 0,
            duration_s=duration_s,
            traceback=traceback,
        )


class EncodeOnDemand(Sequence[Request]):
    """Requests whose payloads are encoded only when a pool takes them.

    A round's messages all carry the model; encoding them up front would hold one encoded
    model per client at once. Pools take requests a batch at a time, so memory stays
    O(requests in flight x model). Each access encodes anew: take every item once.
    """

    def __init__(
        self, messages: Sequence[tuple[str, str, Any]], encode: Callable[[Any], bytes]
    ) -> None:
        self._messages = list(messages)
        self._encode = encode

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> Request: ...

    @overload
    def __getitem__(self, index: slice) -> list[Request]: ...

    def __getitem__(self, index: int | slice) -> Request | list[Request]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        client_id, key, message = self._messages[index]
        return Request(client_id, key, self._encode(message))


class ClientPool(Protocol):
    """Transport-neutral access to the clients of a federation."""

    def client_ids(self) -> list[str]:
        """Clients reachable now (deployed parties come and go; simulated ones are fixed)."""

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        """Deliver every request and yield one reply per request, in request order.

        A client that raises, disconnects or exceeds ``timeout`` seconds yields a reply with
        ``error`` set; the iteration itself never raises for a client's fault.
        """

    def close(self) -> None:
        """Release workers, sockets and threads."""

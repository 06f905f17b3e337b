"""Framing of envelopes on a gRPC byte stream: a small protobuf header, raw payload chunks.

Every gRPC message on the hub's stream is one frame, a tag byte then a body:

* ``E`` - a whole :class:`~rengo.core.envelope.Envelope` with its payload inline (small ones);
* ``S`` - an envelope header whose ``payload_size`` bytes follow as ``C`` frames;
* ``C`` - up to :data:`CHUNK_SIZE` raw payload bytes;
* ``P`` - a heartbeat with no body.

Tensors never pass through a protobuf ``bytes`` field (15x a memcpy for 40 MB), and no frame
comes near gRPC's 4 MiB default message limit.

Each side counts its peer alive while whole frames keep arriving within the heartbeat timeout
(10 s by default), and a heartbeat waits behind the chunks already queued, so a chunk must
cross the slowest link a party sits on in less than that: 256 KiB takes 2.1 s at 1 Mbit/s and
8.4 s at 250 kbit/s (1 MiB chunks dropped every party under 0.84 Mbit/s that was sent a model
over 1 MiB, each round). ``benchmarks/transport_chunk_size.py`` measured no loss on loopback
against 1 MiB, and 64 KiB about 1.5x as slow at 40 MB.

:class:`FrameAssembler` turns frames back into envelopes and raises
:class:`~rengo.core.errors.CodecError` for anything out of order, oversized or malformed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from rengo.core.envelope import Envelope, envelope_to_bytes
from rengo.core.errors import CodecError, ConfigError
from rengo.core.proto import envelope_pb2

CHUNK_SIZE = 256 * 1024
INLINE_LIMIT = 64 * 1024
MAX_HEADER = 64 * 1024
DEFAULT_MAX_MESSAGE = 2 * 1024**3
GRPC_MESSAGE_LIMIT = 4 * 1024 * 1024


def check_message_limit(max_message_bytes: int) -> None:
    """Refuse a message limit that is not a positive whole number of bytes (the hub's, a
    party connection's, a deployed run's).

    Raises
    ------
    ConfigError
        Naming the value.
    """
    if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
        raise ConfigError(
            f"max_message_bytes must be a whole number of bytes, got {max_message_bytes!r}"
        )
    if max_message_bytes <= 0:
        raise ConfigError(f"max_message_bytes must be > 0, got {max_message_bytes}")


_QUEUED_OVERHEAD = 64  # a queued message's own objects, roughly, whatever it carries

WHOLE = b"E"
STREAMED = b"S"
CHUNK = b"C"
PING = b"P"
PING_FRAME = PING


@dataclass(frozen=True)
class OutgoingMessage:
    """An envelope queued for sending; the payload is sliced into chunks only when sent."""

    sender: str
    receiver: str
    key: str
    payload: bytes | bytearray | memoryview
    run_id: str = ""
    round: int = 0

    @property
    def size(self) -> int:
        """The bytes it holds while queued: its payload and its routing strings (a key may be
        tens of kilobytes, so a message with an empty payload is not free: counting only
        payloads let a party queue hundreds of megabytes of keys past a 16 MiB budget)."""
        payload = memoryview(self.payload).nbytes
        return queued_size(self.sender, self.receiver, self.key, payload, self.run_id)


def queued_size(sender: str, receiver: str, key: str, payload_bytes: int, run_id: str = "") -> int:
    """What a message waiting in a queue or an inbox costs: its payload, its routing strings
    and a fixed overhead (see :attr:`OutgoingMessage.size`)."""
    routing = len(sender) + len(receiver) + len(key) + len(run_id)
    return payload_bytes + routing + _QUEUED_OVERHEAD


def envelope_frames(message: OutgoingMessage) -> Iterator[bytes]:
    """Frames for one message: one ``E`` frame if small, else ``S`` then ``C`` chunks."""
    payload = memoryview(message.payload).cast("B")
    if payload.nbytes <= INLINE_LIMIT:
        env = Envelope(
            message.sender,
            message.receiver,
            message.key,
            bytes(payload),
            message.run_id,
            message.round,
        )
        yield WHOLE + envelope_to_bytes(env)
        return
    header = envelope_pb2.Envelope(
        sender=message.sender,
        receiver=message.receiver,
        key=message.key,
        run_id=message.run_id,
        round=message.round,
        payload_size=payload.nbytes,
    ).SerializeToString()
    yield STREAMED + header
    for start in range(0, payload.nbytes, CHUNK_SIZE):
        yield b"".join((CHUNK, payload[start : start + CHUNK_SIZE]))  # one copy per chunk


def _parse_header(body: bytes, limit: int = MAX_HEADER) -> envelope_pb2.Envelope:
    if len(body) > limit:
        raise CodecError(f"envelope of {len(body)} bytes exceeds {limit}")
    msg = envelope_pb2.Envelope()
    try:
        msg.ParseFromString(body)
    except (DecodeError, ValueError, TypeError) as exc:
        raise CodecError(f"malformed envelope: {exc}") from exc
    return msg


class PayloadOverLimit(CodecError):
    """A peer's message declares more bytes than this side's ``max_message_bytes``: well
    formed, but over the limit (a setting to raise for a bigger model, not a broken peer).
    The receiver's side of :class:`~rengo.core.errors.MessageTooLarge`, which a sender
    raises before it sends."""


class FrameAssembler:
    """Reassembles frames from one peer into envelopes; one instance per stream.

    :meth:`feed` returns a complete :class:`Envelope`, :data:`PING` for a heartbeat, or None
    while a streamed payload is still arriving. Malformed input raises CodecError; the stream
    it came from should then be closed, since its framing can no longer be trusted.

    A streamed payload's declared size is checked against ``max_message_bytes`` but never
    allocated up front: the buffer grows as chunks arrive, so a peer that declares 2 GiB
    and sends nothing costs nothing (:attr:`buffered` is what it holds now).
    """

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message_bytes = max_message_bytes
        self._header: envelope_pb2.Envelope | None = None
        self._buffer: bytearray | None = None

    @property
    def in_progress(self) -> bool:
        """Whether a chunked message has begun and not yet ended."""
        return self._header is not None

    @property
    def key(self) -> str | None:
        """The key of the message being reassembled (None between messages)."""
        return None if self._header is None else self._header.key

    @property
    def buffered(self) -> int:
        """Payload bytes received so far of the message being reassembled."""
        return 0 if self._buffer is None else len(self._buffer)

    def feed(self, frame: bytes) -> Envelope | bytes | None:
        """Take one frame: the completed envelope or control bytes, or None mid-message."""
        if not isinstance(frame, (bytes, bytearray)) or not frame:
            raise CodecError("empty frame")
        tag = frame[:1]
        if tag == CHUNK:
            return self._chunk(memoryview(frame)[1:])  # no copy of the chunk body
        body = bytes(frame[1:])
        if self._header is not None:
            raise CodecError(f"frame {tag!r} inside a streamed payload")
        if tag == PING:
            if body:
                raise CodecError("heartbeat frame with a body")
            return PING
        if tag == WHOLE:  # header and inline payload: up to INLINE_LIMIT bytes of payload
            msg = _parse_header(body, INLINE_LIMIT + MAX_HEADER)
            if len(msg.payload) > INLINE_LIMIT:
                raise CodecError(
                    f"inline payload of {len(msg.payload)} bytes exceeds {INLINE_LIMIT}"
                )
            if msg.payload_size != len(msg.payload):
                raise CodecError(
                    f"envelope says {msg.payload_size} payload bytes, carries {len(msg.payload)}"
                )
            return Envelope(msg.sender, msg.receiver, msg.key, msg.payload, msg.run_id, msg.round)
        if tag == STREAMED:
            msg = _parse_header(body)
            if msg.payload:
                raise CodecError("streamed envelope header carries inline payload bytes")
            if msg.payload_size > self.max_message_bytes:
                raise PayloadOverLimit(
                    f"payload of {msg.payload_size} bytes exceeds the limit of "
                    f"{self.max_message_bytes} (the receiver's max_message_bytes; to carry "
                    f"it, raise that to at least {msg.payload_size})"
                )
            self._header = msg
            self._buffer = bytearray()  # grows with the chunks: nothing reserved on trust
            return self._complete() if msg.payload_size == 0 else None
        raise CodecError(f"unknown frame tag {tag!r}")

    def _chunk(self, body: memoryview) -> Envelope | None:
        if self._header is None or self._buffer is None:
            raise CodecError("payload chunk without an envelope header")
        if body.nbytes == 0:
            raise CodecError("empty payload chunk")
        declared = self._header.payload_size
        if len(self._buffer) + body.nbytes > declared:
            raise CodecError("payload chunks overrun the declared size")
        self._buffer += body
        return self._complete() if len(self._buffer) == declared else None

    def _complete(self) -> Envelope:
        assert self._header is not None and self._buffer is not None
        h, payload = self._header, self._buffer
        self._header, self._buffer = None, None
        # The bytearray is handed over as-is (no copy here; the receiver's decode_owned
        # copies each array out of it once).
        return Envelope(h.sender, h.receiver, h.key, payload, h.run_id, h.round)  # type: ignore[arg-type]

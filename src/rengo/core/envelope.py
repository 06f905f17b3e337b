"""The protobuf envelope around every payload: who sent what to whom, in which run and round."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from rengo.core.errors import CodecError
from rengo.core.proto import envelope_pb2


@dataclass(frozen=True)
class Envelope:
    """A message header plus codec payload bytes (see :mod:`rengo.core.codec`)."""

    sender: str
    receiver: str
    key: str
    payload: bytes
    run_id: str = ""
    round: int = 0


def envelope_to_bytes(env: Envelope) -> bytes:
    """Serialise an envelope with its payload inline (small messages, in-process bus)."""
    message = envelope_pb2.Envelope(
        sender=env.sender,
        receiver=env.receiver,
        key=env.key,
        run_id=env.run_id,
        round=env.round,
        payload=env.payload,
        payload_size=len(env.payload),
    )
    return bytes(message.SerializeToString())


def envelope_from_bytes(data: bytes) -> Envelope:
    """Parse bytes made by :func:`envelope_to_bytes`; malformed input raises CodecError."""
    msg = envelope_pb2.Envelope()
    try:
        msg.ParseFromString(data)
    except (DecodeError, ValueError, TypeError) as exc:
        raise CodecError(f"malformed envelope: {exc}") from exc
    if msg.payload_size != len(msg.payload):
        raise CodecError(
            f"envelope says {msg.payload_size} payload bytes, carries {len(msg.payload)}"
        )
    return Envelope(msg.sender, msg.receiver, msg.key, msg.payload, msg.run_id, msg.round)


def message_key(key: str | tuple[object, ...]) -> str:
    """Normalise a protocol key: ``("grad", 3)`` -> ``"grad/3"``; strings pass unchanged."""
    if isinstance(key, str):
        return key
    return "/".join(str(part) for part in key)

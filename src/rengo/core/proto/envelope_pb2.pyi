from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("key", "payload", "payload_size", "receiver", "round", "run_id", "sender")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    sender: str
    receiver: str
    key: str
    run_id: str
    round: int
    payload: bytes
    payload_size: int
    def __init__(
        self,
        sender: str | None = ...,
        receiver: str | None = ...,
        key: str | None = ...,
        run_id: str | None = ...,
        round: int | None = ...,
        payload: bytes | None = ...,
        payload_size: int | None = ...,
    ) -> None: ...

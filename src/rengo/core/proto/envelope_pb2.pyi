from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("sender", "receiver", "key", "run_id", "round", "payload", "payload_size")
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
    def __init__(self, sender: _Optional[str] = ..., receiver: _Optional[str] = ..., key: _Optional[str] = ..., run_id: _Optional[str] = ..., round: _Optional[int] = ..., payload: _Optional[bytes] = ..., payload_size: _Optional[int] = ...) -> None: ...

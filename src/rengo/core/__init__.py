"""Core types every other layer builds on: parameters, typed messages, the codec, errors."""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.core.codec import decode, encode, encode_chunks, register_type
    from rengo.core.envelope import Envelope, envelope_from_bytes, envelope_to_bytes, message_key
    from rengo.core.errors import (
        AuthenticationError,
        ChannelTimeout,
        ClientFailure,
        CodecError,
        ConfigError,
        CoordinatorUnreachable,
        DataError,
        DuplicatePartyError,
        HandshakeError,
        KeyMismatchError,
        LinkDropped,
        MessageTooLarge,
        MissingExtraError,
        ProtocolError,
        ReleaseMismatchError,
        RengoError,
        RoundFailure,
        StalePartyError,
        StopTraining,
        UnrunnableClientTask,
    )
    from rengo.core.messages import (
        Config,
        EncodedUpdate,
        EvaluateIns,
        EvaluateResult,
        FitIns,
        FitResult,
        Metrics,
        Scalar,
    )
    from rengo.core.parameters import (
        Parameters,
        copy_parameters,
        flatten,
        num_bytes,
        num_values,
        sum_of_squares,
        unflatten,
        validate_update,
        zeros_like,
    )
    from rengo.core.roles import PARTY_NAME_RULE, validate_party_name


__all__ = [
    "PARTY_NAME_RULE",
    "AuthenticationError",
    "ChannelTimeout",
    "ClientFailure",
    "CodecError",
    "Config",
    "ConfigError",
    "CoordinatorUnreachable",
    "DataError",
    "DuplicatePartyError",
    "EncodedUpdate",
    "Envelope",
    "EvaluateIns",
    "EvaluateResult",
    "FitIns",
    "FitResult",
    "HandshakeError",
    "KeyMismatchError",
    "LinkDropped",
    "MessageTooLarge",
    "Metrics",
    "MissingExtraError",
    "Parameters",
    "ProtocolError",
    "ReleaseMismatchError",
    "RengoError",
    "RoundFailure",
    "Scalar",
    "StalePartyError",
    "StopTraining",
    "UnrunnableClientTask",
    "copy_parameters",
    "decode",
    "encode",
    "encode_chunks",
    "envelope_from_bytes",
    "envelope_to_bytes",
    "flatten",
    "message_key",
    "num_bytes",
    "num_values",
    "register_type",
    "sum_of_squares",
    "unflatten",
    "validate_party_name",
    "validate_update",
    "zeros_like",
]

__getattr__, __dir__ = lazy_exports(__name__)

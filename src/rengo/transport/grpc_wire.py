"""Names shared by the gRPC hub and its parties: the service, reserved keys, channel options.

Parties open one bidirectional stream, ``/rengo.v1.Hub/Connect``, with raw-bytes frames (see
:mod:`rengo.transport.grpc_frames`); there is no generated code and nothing but bytes on it.
Keys starting with ``$`` are the transport's own; protocol roles may not use them.
"""

from __future__ import annotations

from rengo import __version__
from rengo.core.errors import ConfigError, ProtocolError, ReleaseMismatchError
from rengo.transport.grpc_frames import GRPC_MESSAGE_LIMIT

SERVICE = "rengo.v1.Hub"
METHOD = "Connect"
FULL_METHOD = f"/{SERVICE}/{METHOD}"

HELLO = "$hello"
WELCOME = "$welcome"
BYE = "$bye"
ABORT = "$abort"  # a role failed: every other role of the run must stop (payload: why)
NOTICE = "$notice"  # the coordinator tells one party about its own results (payload: one line)
DATA_FILES = "$data_files"
"""A party's word on the data it trains on, sent after each hello (payload: JSON, see
:mod:`rengo.transport.data_report`); a party that sends none still joins."""
NOTICE_LIMIT = 400
"""Most characters of a notice a party is sent (and logs)."""
RPC_PREFIX = "$rpc/"
REPLY_OK = "ok"
REPLY_ERROR = "error"
REPLY_ERROR_LIMIT = 2000
"""Most characters of the reason a party gives for failing a request that the hub keeps."""

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.so_reuseport", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def check_heartbeat(interval: float, timeout: float | None) -> None:
    """Refuse a heartbeat ``interval`` that is not positive, and a ``timeout`` (None: the
    default, five intervals) that is not longer than one interval.

    Raises
    ------
    ConfigError
        Naming the value.
    """
    if not interval > 0:
        raise ConfigError(f"heartbeat_interval must be > 0, got {interval}")
    if timeout is not None and not timeout > interval:
        raise ConfigError(
            f"heartbeat_timeout must be more than the heartbeat interval ({interval:g}s), "
            f"got {timeout:g}"
        )


REJOINING = b" rejoining"
"""Ends a hello from a party process that a coordinator process welcomed before."""

RELEASE_TAG = b" rengo/"
"""Precedes the party's rengo release in its hello (after its instance, before
:data:`REJOINING`): releases before 0.1.0's tagged hello sent none."""

RELEASE_REFUSAL = "must run the same release"
"""In the hub's refusal of a party of another release (:func:`check_release`), so that the
party raises :class:`~rengo.core.errors.ReleaseMismatchError`."""

HELLO_LIMIT = 128
"""Bytes of a hello the hub reads: an instance (16 hex digits), a release, :data:`REJOINING`."""


def hello_payload(instance: str, welcomed_before: bool, release: str = __version__) -> bytes:
    """A party's hello: its process's ``instance``, its rengo ``release``, and whether a
    coordinator process already welcomed it (the link came back), so that a vertical run's hub
    can refuse a process that was in the run with another coordinator process (see
    :func:`parse_hello`). A hub of an earlier release read the release as part of the
    instance, which it only compares with the same party's later hellos."""
    tagged = instance.encode() + RELEASE_TAG + release.encode("ascii", "replace")
    return tagged + (REJOINING if welcomed_before else b"")


def parse_hello(payload: bytes) -> tuple[bytes, bool, str | None]:
    """The party process's instance, whether it says it was welcomed before, and its rengo
    release (None: a party of a release whose hello named none)."""
    rejoining = payload.endswith(REJOINING)
    if rejoining:
        payload = payload[: -len(REJOINING)]
    instance, tag, release = payload.partition(RELEASE_TAG)
    return instance, rejoining, release.decode("ascii", "replace") if tag else None


def check_release(party: str, release: str | None, ours: str = __version__) -> None:
    """Refuse a party that runs another rengo release than this coordinator.

    Raises
    ------
    ReleaseMismatchError
        Naming both releases and what to do.
    """
    if release == ours:
        return
    if release is None:  # builds before the tagged hello also called themselves 0.1.0
        theirs, install = "an earlier rengo build whose hello names no release", "this build of "
    else:
        theirs, install = f"rengo {release}", ""
    raise ReleaseMismatchError(
        f"party {party} runs {theirs} and this coordinator rengo {ours}: every party and the "
        f"coordinator {RELEASE_REFUSAL} (the roles' messages change between releases); "
        f"install {install}rengo {ours} for party {party}, or run the coordinator on its release"
    )


def welcome_payload(run_id: str, release: str = __version__) -> bytes:
    """The hub's welcome: the ``run_id`` and the coordinator's rengo ``release``, so that a
    party can refuse a coordinator of another release as the coordinator refuses it (see
    :func:`check_coordinator_release`). A party of an earlier release read all of it as the
    run id, which it only names in messages."""
    return run_id.encode() + RELEASE_TAG + release.encode("ascii", "replace")


def parse_welcome(payload: bytes) -> tuple[str | None, str | None]:
    """The run id a welcome names (None: none) and the coordinator's rengo release (None: a
    coordinator of a release whose welcome named none)."""
    run_id, tag, release = payload.partition(RELEASE_TAG)
    named = run_id.decode("utf-8", "replace") or None
    return named, release.decode("ascii", "replace") if tag else None


def check_coordinator_release(party: str, release: str | None, ours: str = __version__) -> None:
    """Refuse, at party ``party``, a coordinator that runs another rengo release: a
    coordinator of a release before its welcome named one admits a party of this release,
    whose roles' messages it then cannot read mid-run (``unknown node tag``).

    Raises
    ------
    ReleaseMismatchError
        Naming both releases and what to do.
    """
    if release == ours:
        return
    theirs = (
        f"rengo {release}"
        if release is not None
        else "an earlier rengo build whose welcome names no release"
    )
    raise ReleaseMismatchError(
        f"the coordinator runs {theirs} and party {party} rengo {ours}: every party and the "
        f"coordinator {RELEASE_REFUSAL} (the roles' messages change between releases); "
        f"upgrade the coordinator to this party's rengo, or run party {party} on the "
        "coordinator's release"
    )


def rpc_key(call_id: int, key: str) -> str:
    """The envelope key of request ``call_id`` carrying handler key ``key``."""
    return f"{RPC_PREFIX}{call_id}/{key}"


def parse_rpc_key(key: str) -> tuple[int, str]:
    """``"$rpc/12/fit"`` -> ``(12, "fit")``; ProtocolError if malformed."""
    body = key[len(RPC_PREFIX) :]
    ident, sep, rest = body.partition("/")
    if not sep or not (ident.isascii() and ident.isdigit()) or not rest or len(ident) > 18:
        raise ProtocolError(f"malformed request key {key!r}")
    return int(ident), rest


def check_protocol_key(key: str) -> str:
    """Refuse protocol keys that collide with the transport's reserved ``$`` keys."""
    if key.startswith("$"):
        raise ProtocolError(f"message keys starting with '$' are reserved: {key!r}")
    return key


def party_text(raw: bytes, limit: int) -> str:
    """What a party wrote for the operator to read (why it failed a request or aborted), as
    one line of at most ``limit`` printable characters: a control character (a newline, a
    terminal escape) becomes a space, so a party cannot clear the coordinator's terminal or
    forge a line of its log or of ``rengo runs show``.

    Parameters
    ----------
    raw
        The payload, UTF-8 (undecodable bytes are replaced); only its start is read.
    limit
        The most characters kept.

    Returns
    -------
    str
        The text, whitespace runs collapsed to one space.
    """
    text = bytes(raw[: 4 * limit]).decode("utf-8", "replace")
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())[:limit]

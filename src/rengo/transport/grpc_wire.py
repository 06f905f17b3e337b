"""Names shared by the gRPC hub and its parties: the service, reserved keys, channel options.

Parties open one bidirectional stream, ``/rengo.v1.Hub/Connect``, with raw-bytes frames (see
:mod:`rengo.transport.grpc_frames`); there is no generated code and nothing but bytes on it.
Keys starting with ``$`` are the transport's own; protocol roles may not use them.
"""

from __future__ import annotations

import hashlib

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

WIRE_FORMAT = 2
"""The format of the messages the roles exchange (their keys, payloads and order), named in
every hello and welcome after the release. Raise it with any change a peer of the previous
format could not read or would read wrongly (a new message, a new payload type, a client mod
the coordinator asks for): a coordinator admits a party of another release when both speak
the same format, and refuses one of another format at hello, naming both. Every build of
rengo 0.1.0 called itself 0.1.0, so the release alone could not tell two builds apart that
no longer understood each other (a party built before update compression was admitted, and
its run failed in round 1 asking for client mod ``decompress_model``). Format 1: builds
whose hello and welcome name a release but no format (2026-12-05 to 2026-12-07)."""

WIRE_TAG = b" wire/"
"""Precedes the wire format in a hello and a welcome, after the release. A peer of format 1
reads it as part of the release, which it then finds differs from its own, and refuses."""

NAMED_RELEASE_FORMAT = 1
"""The wire format of a hello or welcome that names a release but no format."""

RELEASE_REFUSAL = "must run the same release"
"""In the hub's refusal of a party of another wire format (:func:`check_release`; and in
format 1's refusal of every party of another release), so that the party raises
:class:`~rengo.core.errors.ReleaseMismatchError`."""

SAME_FORMAT = f"{RELEASE_REFUSAL}, or releases of the same wire format"
"""What a refusal of another wire format says every party and the coordinator must do."""

HELLO_LIMIT = 128
"""Bytes of a hello the hub reads: an instance (16 hex digits), a release, a wire format,
:data:`REJOINING`."""


RELEASE_LIMIT = 64
"""Characters of a release a hello or welcome names: with an instance (16 hex digits), the
tags, a wire format of up to 9 digits and :data:`REJOINING`, a hello stays within
:data:`HELLO_LIMIT`, so that the hub's cut never falls on the format."""

RELEASE_DIGEST = 16
"""Hex digits of the SHA-256 of a release longer than :data:`RELEASE_LIMIT` that end the
release a hello or welcome names in its place (after its first characters and ``~``), so
that two builds whose releases differ only past the limit are not taken as one."""


RUN_ID_LIMIT = 128
"""Characters of the run id a welcome names that a party keeps (rengo's own are 22)."""


def _bounded(release: str) -> str:
    """``release`` as a hello or welcome names it: printable ASCII, spaces and control
    characters (a newline, a terminal escape) made ``_``, at most :data:`RELEASE_LIMIT`
    characters, so that a peer's release can neither forge a line of the other side's log
    nor push the wire format past :data:`HELLO_LIMIT`; a longer release keeps its start and
    ends with a digest of all of it (:data:`RELEASE_DIGEST`)."""
    kept = "".join(ch if ch.isascii() and ch.isprintable() and ch != " " else "_" for ch in release)
    if len(kept) <= RELEASE_LIMIT:
        return kept
    # a longer one: its start and a digest of all of it, still RELEASE_LIMIT printable
    # ASCII characters, which a peer of this wire format reads as any other release
    digest = hashlib.sha256(release.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kept[: RELEASE_LIMIT - RELEASE_DIGEST - 1]}~{digest[:RELEASE_DIGEST]}"


def _tagged(release: str, wire: int) -> bytes:
    return RELEASE_TAG + _bounded(release).encode("ascii") + WIRE_TAG + str(wire).encode()


def _release_and_format(tail: bytes, tagged: bool) -> tuple[str | None, int | None]:
    """The release and wire format after :data:`RELEASE_TAG` (None, None: no tag; a
    release without :data:`WIRE_TAG` is of :data:`NAMED_RELEASE_FORMAT`). The release is
    bounded as :func:`_bounded` bounds it, whatever the peer sent."""
    if not tagged:
        return None, None
    release, tag, wire = tail.rpartition(WIRE_TAG)
    if not tag or not (wire.isascii() and wire.isdigit()) or len(wire) > 9:
        return _bounded(tail.decode("ascii", "replace")), NAMED_RELEASE_FORMAT
    return _bounded(release.decode("ascii", "replace")), int(wire)


def hello_payload(
    instance: str, welcomed_before: bool, release: str = __version__, wire: int = WIRE_FORMAT
) -> bytes:
    """A party's hello: its process's ``instance``, its rengo ``release`` and ``wire``
    format, and whether a coordinator process already welcomed it (the link came back), so
    that a vertical run's hub can refuse a process that was in the run with another
    coordinator process (see :func:`parse_hello`). A hub of an earlier release read the
    release as part of the instance, which it only compares with the same party's later
    hellos."""
    tagged = instance.encode() + _tagged(release, wire)
    return tagged + (REJOINING if welcomed_before else b"")


def parse_hello(payload: bytes) -> tuple[bytes, bool, str | None, int | None]:
    """The party process's instance, whether it says it was welcomed before, its rengo
    release and its wire format (None, None: a party of a release whose hello named neither;
    a release without a format: :data:`NAMED_RELEASE_FORMAT`)."""
    rejoining = payload.endswith(REJOINING)
    if rejoining:
        payload = payload[: -len(REJOINING)]
    instance, tag, tail = payload.partition(RELEASE_TAG)
    return (instance, rejoining, *_release_and_format(tail, bool(tag)))


def _spoken(release: str | None, wire: int | None, what: str) -> str:
    if release is None:
        return f"an earlier rengo build whose {what} names no release (no wire format)"
    if wire == NAMED_RELEASE_FORMAT:
        return (
            f"rengo {release} of a build before wire formats were numbered "
            f"(wire format {NAMED_RELEASE_FORMAT})"
        )
    return f"rengo {release} (wire format {wire})"


def _build_of(wire: int | None) -> str:
    """The other side's build, named by its wire format (its release may be this one's)."""
    if wire is None:
        return "a build whose hello and welcome name no release, as the other side's"
    return f"a build of wire format {wire}, as the other side's"


_WHY_REFUSED = (
    f"every party and the coordinator {SAME_FORMAT} (the roles' messages changed between "
    "them, so the run would fail mid-round)"
)
"""Why a refusal of another wire format refuses, the same on either side."""


def _compatible(both: str, release: str | None, ours: str, our_wire: int) -> str | None:
    """For a peer of this side's wire format: None where it runs this release, else the log
    line saying ``both`` (who runs which release) differ but are compatible."""
    if release == _bounded(ours):
        return None
    return (
        f"{both}: the releases differ but both speak wire format {our_wire}, so they are compatible"
    )


def check_release(
    party: str,
    release: str | None,
    wire: int | None = None,
    ours: str = __version__,
    our_wire: int = WIRE_FORMAT,
) -> str | None:
    """Refuse a party that speaks another wire format than this coordinator; say so when it
    runs another rengo release of the same format.

    Parameters
    ----------
    party
        The party's name.
    release, wire
        The release and wire format its hello named (see :func:`parse_hello`).
    ours, our_wire
        This coordinator's.

    Returns
    -------
    str | None
        None for the same release; for another release of the same wire format, one line
        naming both releases, for the log.

    Raises
    ------
    ReleaseMismatchError
        Naming both releases and wire formats, and which side to upgrade.
    """
    if wire == our_wire:
        both = f"party {party} runs rengo {release} and this coordinator rengo {ours}"
        return _compatible(both, release, ours, our_wire)
    # two ways out, one on each machine: upgrade the older side, or run the newer side on
    # a build of the older one's format
    if wire is None:
        install = f"install this build of rengo {ours} (wire format {our_wire}) for party {party}"
        other = f"run the coordinator on {_build_of(wire)}"
    elif wire < our_wire:
        install = f"upgrade party {party} to rengo {ours} (wire format {our_wire})"
        other = f"run the coordinator on {_build_of(wire)}"
    else:
        install = f"upgrade the coordinator to party {party}'s rengo {release} (wire format {wire})"
        other = f"run party {party} on a build of wire format {our_wire}, as the coordinator's"
    theirs = _spoken(release, wire, "hello")
    raise ReleaseMismatchError(
        f"party {party} runs {theirs} and this coordinator rengo {ours} (wire format "
        f"{our_wire}): {_WHY_REFUSED}; {install}, or {other}"
    )


def welcome_payload(run_id: str, release: str = __version__, wire: int = WIRE_FORMAT) -> bytes:
    """The hub's welcome: the ``run_id``, the coordinator's rengo ``release`` and ``wire``
    format, so that a party can refuse a coordinator of another format as the coordinator
    refuses it (see :func:`check_coordinator_release`). A party of an earlier release read
    all of it as the run id, which it only names in messages."""
    return run_id.encode() + _tagged(release, wire)


def parse_welcome(payload: bytes) -> tuple[str | None, str | None, int | None]:
    """The run id a welcome names (None: none), the coordinator's rengo release and its wire
    format (None, None: a coordinator of a release whose welcome named neither). The run id
    goes into every later line of the party's log (its context), so it is read as
    :func:`party_text`: one line of printable characters, at most :data:`RUN_ID_LIMIT`."""
    run_id, tag, tail = payload.partition(RELEASE_TAG)
    named = party_text(run_id, RUN_ID_LIMIT) or None
    return (named, *_release_and_format(tail, bool(tag)))


def check_coordinator_release(
    party: str,
    release: str | None,
    wire: int | None = None,
    ours: str = __version__,
    our_wire: int = WIRE_FORMAT,
) -> str | None:
    """Refuse, at party ``party``, a coordinator that speaks another wire format: a
    coordinator of a release before its welcome named one admits a party of this release,
    whose roles' messages it then cannot read mid-run (``unknown node tag``).

    Parameters
    ----------
    party
        This party's name.
    release, wire
        The coordinator's release and wire format, from its welcome (see
        :func:`parse_welcome`).
    ours, our_wire
        This party's.

    Returns
    -------
    str | None
        None for the same release; for another release of the same wire format, one line
        naming both releases, for the log.

    Raises
    ------
    ReleaseMismatchError
        Naming both releases and wire formats, and which side to upgrade.
    """
    if wire == our_wire:
        both = f"the coordinator runs rengo {release} and party {party} rengo {ours}"
        return _compatible(both, release, ours, our_wire)
    if wire is not None and wire > our_wire:
        upgrade = f"upgrade party {party} to the coordinator's rengo {release} (wire format {wire})"
        other = f"run the coordinator on a build of wire format {our_wire}, as this party's"
    else:
        upgrade = f"upgrade the coordinator to this party's rengo {ours} (wire format {our_wire})"
        other = f"run party {party} on {_build_of(wire)}"
    raise ReleaseMismatchError(
        f"the coordinator runs {_spoken(release, wire, 'welcome')} and party {party} rengo "
        f"{ours} (wire format {our_wire}): {_WHY_REFUSED}; {upgrade}, or {other}"
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

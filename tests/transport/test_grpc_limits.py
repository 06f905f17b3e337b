"""What the hub holds for a party is bounded and freed: a declared size reserves nothing, a
party that queues more than its budget for someone away is cut off, and a run that fails or
a party that leaves for good leaves no queue behind."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from rengo.core.envelope import Envelope
from rengo.core.errors import CodecError, ConfigError, PeerFailure, ProtocolError
from rengo.core.proto import envelope_pb2
from rengo.core.roles import COORDINATOR
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_frames import (
    CHUNK,
    CHUNK_SIZE,
    INLINE_LIMIT,
    STREAMED,
    WHOLE,
    FrameAssembler,
    OutgoingMessage,
    envelope_frames,
)
from rengo.transport.grpc_hub import GrpcHub, HubParty
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.grpc_wire import REPLY_OK, parse_rpc_key, rpc_key
from rengo.transport.pool import Reply, Request

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=5.0)
BUDGET = 2 * 1024**2


def test_a_declared_size_reserves_nothing_and_the_buffer_grows_with_the_chunks() -> None:
    assembler = FrameAssembler(max_message_bytes=4 * 1024**3)
    header = envelope_pb2.Envelope(sender="a", receiver="b", key="k", payload_size=3 * 1024**3)
    assert assembler.feed(STREAMED + header.SerializeToString()) is None
    assert assembler.in_progress and assembler.buffered == 0
    assembler.feed(CHUNK + b"x" * 1000)
    assert assembler.buffered == 1000
    small = FrameAssembler()
    small.feed(STREAMED + envelope_pb2.Envelope(key="k", payload_size=3).SerializeToString())
    with pytest.raises(CodecError, match="overrun the declared size"):
        small.feed(CHUNK + b"xxxx")


@pytest.mark.parametrize(
    "size", [0, 65_000, 65_500, INLINE_LIMIT, INLINE_LIMIT + 1, 3 * CHUNK_SIZE]
)
def test_every_payload_size_reassembles_to_the_message_sent(size: int) -> None:
    """A payload just under the inline limit travels as one frame whose body (header and
    payload) exceeds 64 KiB; the receiver measured that body against the header's own limit
    and cut the honest sender off ("malformed frame"), every round at that size."""
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    message = OutgoingMessage("alice", "coordinator", "fit/reply", payload, "run", 3)
    assembler = FrameAssembler()
    received = [assembler.feed(frame) for frame in envelope_frames(message)]
    envelope = received[-1]
    assert isinstance(envelope, Envelope) and all(r is None for r in received[:-1])
    assert (envelope.sender, envelope.key, envelope.round) == ("alice", "fit/reply", 3)
    assert envelope.payload == payload


def test_an_inline_frame_may_not_carry_more_than_the_inline_limit() -> None:
    body = envelope_pb2.Envelope(
        key="k", payload=b"x" * (INLINE_LIMIT + 1), payload_size=INLINE_LIMIT + 1
    ).SerializeToString()
    with pytest.raises(CodecError, match="inline payload of 65537 bytes exceeds 65536"):
        FrameAssembler().feed(WHOLE + body)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice", "bob", "carol"])
    return directory


@pytest.fixture
def hub(certs: Path) -> Iterator[GrpcHub]:
    security = HubSecurity.from_directory(certs)
    with GrpcHub(
        "127.0.0.1:0",
        security,
        heartbeat_interval=0.2,
        max_message_bytes=BUDGET // 2,
        party_memory_budget=BUDGET,
    ) as running:
        yield running


def connect(hub: GrpcHub, certs: Path, name: str) -> PartyConnection:
    conn = PartyConnection(
        hub.address,
        name,
        PartyCredentials.from_directory(certs, name),
        heartbeat_interval=0.2,
        backoff=FAST,
    ).start()
    conn.wait_connected(10)
    return conn


@pytest.mark.timeout(60)
def test_queueing_past_the_budget_for_a_party_that_is_away_cuts_the_sender_off(
    hub: GrpcHub, certs: Path
) -> None:
    alice = connect(hub, certs, "alice")
    channel = alice.channel()
    chunk = b"\1" * 200_000
    for i in range(8):  # 1.6 MB for carol, who never came: within the budget
        channel.send("carol", f"k{i}", chunk)
    deadline = time.monotonic() + 10
    while hub.held_bytes("carol") < 8 * 200_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 8 * 200_000 <= hub.held_bytes("carol") <= BUDGET
    for i in range(8, 20):  # past 2 MiB: alice is disconnected with the reason
        channel.send("carol", f"k{i}", chunk)
    events: list[str] = []
    hub.on_event = lambda level, message: events.append(message)
    deadline = time.monotonic() + 10
    while not any("alice left" in m for m in events) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("who is not connected (party_memory_budget" in m for m in events), events
    assert hub.held_bytes("carol") <= BUDGET
    alice.close()
    hub.fail("alice", "gone")  # the run ends: nothing queued will be read
    assert hub.held_bytes("carol") == 0 and hub.held_bytes("alice") == 0


@pytest.mark.timeout(60)
def test_a_party_that_leaves_for_good_leaves_no_queue_behind(hub: GrpcHub, certs: Path) -> None:
    bob = connect(hub, certs, "bob")
    carol = connect(hub, certs, "carol")
    carol.close()  # says bye: gone for good
    coordinator = hub.channel()
    deadline = time.monotonic() + 10
    while "carol" in hub.client_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    coordinator.send("carol", "late", b"x" * 1000)  # queued while she is away ...
    assert hub.held_bytes("carol") >= 1000
    with pytest.raises(PeerFailure):
        hub.fail("carol", "left")
        coordinator.recv("carol", "never", timeout=1)
    assert hub.held_bytes("carol") == 0  # ... and freed when the run cannot use it
    bob.close()


def test_a_queued_message_counts_its_key_and_names_not_only_its_payload() -> None:
    """Empty payloads under 60 kB keys grew a hub by 245 MiB past a 16 MiB budget."""
    empty = OutgoingMessage("alice", "bob", "k" * 60_000, b"")
    assert empty.size >= 60_000 + len("alice") + len("bob")
    assert OutgoingMessage("a", "b", "k", b"x" * 1000).size > 1000


@pytest.mark.parametrize("key", ["$rpc/\u00b2/ok", "$rpc/\u0663/ok", "$rpc//ok", "$rpc/1"])
def test_a_request_key_with_other_than_ascii_digits_is_a_protocol_error(key: str) -> None:
    """'²'.isdigit() is true but int('²') raises ValueError, which the hub logged as a lost
    connection (and a party's session did not catch)."""
    with pytest.raises(ProtocolError, match="malformed request key"):
        parse_rpc_key(key)
    assert parse_rpc_key("$rpc/12/fit") == (12, "fit")


@pytest.mark.timeout(60)
def test_a_party_answering_another_partys_request_is_cut_off_and_fails_nobody(
    hub: GrpcHub, certs: Path
) -> None:
    """Call ids are sequential, so easy to guess: before, the hub took the call off its
    books before checking who answered, so one party could fail every other party's request
    of a round (or, with min_fit_clients=1, have the round aggregated from itself alone)."""
    release = threading.Event()

    def slow(name: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
        release.wait(20)
        return b"alice's answer", None

    alice = PartyConnection(
        hub.address,
        "alice",
        PartyCredentials.from_directory(certs, "alice"),
        handler=slow,
        heartbeat_interval=0.2,
        backoff=FAST,
    ).start()
    alice.wait_connected(10)
    bob = connect(hub, certs, "bob")
    events: list[str] = []
    hub.on_event = lambda level, message: events.append(message)
    replies: list[Reply] = []
    asking = threading.Thread(
        target=lambda: replies.extend(hub.request([Request("alice", "fit", b"")], timeout=30))
    )
    asking.start()
    deadline = time.monotonic() + 10
    while not hub._calls and time.monotonic() < deadline:
        time.sleep(0.01)
    (call_id,) = hub._calls
    assert bob._outbox is not None
    bob._outbox.put(OutgoingMessage("bob", COORDINATOR, rpc_key(call_id, REPLY_OK), b"forged"))
    deadline = time.monotonic() + 10
    while not any("answered a request for 'alice'" in m for m in events):
        assert time.monotonic() < deadline, events
        time.sleep(0.05)
    release.set()
    asking.join(20)
    (reply,) = replies
    assert reply.ok and bytes(reply.payload or b"") == b"alice's answer"
    alice.close()
    bob.close()


@pytest.mark.timeout(60)
def test_empty_messages_under_long_keys_count_against_the_senders_budget(
    hub: GrpcHub, certs: Path
) -> None:
    """The hub counted only payload bytes: 4,000 empty messages under 60 kB keys grew it by
    245 MiB past a 16 MiB budget. Messages the coordinator has not read count their keys."""
    alice = connect(hub, certs, "alice")
    channel = alice.channel()
    events: list[str] = []
    hub.on_event = lambda level, message: events.append(message)
    for i in range(10):  # 600 kB of keys: within the 2 MiB budget, held for the coordinator
        channel.send(COORDINATOR, f"{i:03d}" + "k" * 60_000, b"")
    deadline = time.monotonic() + 10
    while hub.held_bytes("alice") < 10 * 60_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 10 * 60_000 <= hub.held_bytes("alice") <= BUDGET
    for i in range(10, 60):  # 3.6 MB of keys in all: alice is cut off with the reason
        channel.send(COORDINATOR, f"{i:03d}" + "k" * 60_000, b"")
    deadline = time.monotonic() + 10
    while not any("exceeded its memory budget" in m for m in events):
        assert time.monotonic() < deadline, events
        time.sleep(0.05)
    assert hub.held_bytes("alice") <= BUDGET + 70_000
    alice.close()


def inbox_bytes(conn: PartyConnection, sender: str) -> int:
    held = [waiting for (frm, _), waiting in conn._inbox.items() if frm == sender]
    return sum(len(payload) for waiting in held for payload in waiting)


@pytest.mark.timeout(60)
def test_a_party_flooding_anothers_inbox_stops_the_run_with_its_name_not_a_crash(
    hub: GrpcHub, certs: Path
) -> None:
    """A party's inbox held whatever another party sent it under keys its role never asks
    for, without bound: one authenticated sender could run any other party out of memory."""
    bob = connect(hub, certs, "bob")
    alice = connect(hub, certs, "alice")
    assert bob.inbox_budget == bob.max_message_bytes + 64 * 1024**2  # the default
    bob.inbox_budget = 1024**2  # this test's budget: 1 MiB unread per sender
    flood = alice.channel()
    for i in range(40):  # 8 MB under keys bob's role never asks for
        flood.send("bob", f"junk{i}", b"\1" * 200_000)
    with pytest.raises(ProtocolError, match="alice sent more than 1048576 bytes") as failure:
        bob.channel().recv("alice", "the-key-bob-waits-for", timeout=20)
    assert "bob" in str(failure.value)
    assert inbox_bytes(bob, "alice") <= 1024**2  # the rest was dropped, not kept
    alice.close()
    bob.close()


@pytest.mark.timeout(60)
def test_messages_read_as_they_come_never_reach_the_inbox_budget(hub: GrpcHub, certs: Path) -> None:
    bob = connect(hub, certs, "bob")
    alice = connect(hub, certs, "alice")
    bob.inbox_budget = 1024**2
    sender, receiver = alice.channel(), bob.channel()
    for i in range(30):  # 6 MB in all, each read before the next is sent
        sender.send("bob", f"step{i}", b"\2" * 200_000)
        assert receiver.recv("alice", f"step{i}", timeout=10) == b"\2" * 200_000
    assert bob._inbox_bytes["alice"] == 0 and not bob._inbox  # nothing left, no stale keys
    alice.close()
    bob.close()


@pytest.mark.timeout(60)
def test_a_party_cut_off_for_a_message_over_the_limit_logs_the_hubs_reason(
    hub: GrpcHub, certs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the party logged only ``connection lost: StatusCode.INVALID_ARGUMENT``: its
    operator could not tell that its result was too large for the coordinator."""
    caplog.set_level(logging.WARNING, logger="rengo.transport")
    alice = connect(hub, certs, "alice")
    alice.channel().send(COORDINATOR, "result", b"\1" * (BUDGET // 2 + 1))

    def said() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.getMessage().startswith("party alice: connection lost")
        ]

    deadline = time.monotonic() + 20
    while not said() and time.monotonic() < deadline:
        time.sleep(0.05)
    alice.close()
    (line,) = said()
    size = BUDGET // 2 + 1
    # a message over the limit is not "malformed": the reason names the setting to raise
    assert line.startswith(
        "party alice: connection lost: StatusCode.INVALID_ARGUMENT (message too large: payload of "
    ), line
    assert f" bytes exceeds the limit of {BUDGET // 2} (the receiver's max_message_bytes" in line
    assert "raise that to at least" in line
    assert size <= int(line.rsplit("at least ", 1)[1].rstrip(")")) < size + 1024, line


@pytest.mark.timeout(60)
def test_a_message_over_the_partys_own_limit_is_refused_at_send_naming_the_limit_and_its_flag(
    hub: GrpcHub, certs: Path
) -> None:
    """Before, it went out and the hub (same limit) cut the party off: its role then failed
    saying the link dropped mid-run, to be started again for a resumed run, which would
    fail the same way."""
    alice = PartyConnection(
        hub.address,
        "alice",
        PartyCredentials.from_directory(certs, "alice"),
        heartbeat_interval=0.2,
        backoff=FAST,
        max_message_bytes=BUDGET // 2,
    ).start()
    alice.wait_connected(10)
    channel = alice.channel()
    with pytest.raises(ConfigError, match=f"over the run's message limit of {BUDGET // 2} b") as e:
        channel.send("bob", "gh", b"\1" * (BUDGET // 2 + 1))
    assert "'gh' to bob" in str(e.value) and "--max-message-mb" in str(e.value)
    channel.send("bob", "gh", b"\1" * (BUDGET // 2 - 1024))  # within the limit: sent

    def seen() -> HubParty:
        (party,) = hub.parties()
        return party

    while seen().bytes_in < BUDGET // 2 - 1024:  # the hub took it whole (pytest's timeout)
        time.sleep(0.05)
    assert seen().connected and alice.error is None  # and did not cut alice off
    alice.close()


@pytest.mark.timeout(60)
def test_a_flooded_party_that_stops_the_run_names_the_flooder_to_the_coordinator(
    hub: GrpcHub, certs: Path
) -> None:
    """Before, the run's record read 'bob aborted the run (InboxFlooded)': the operator
    could not tell which party flooded it (only bob's own console said)."""
    bob = connect(hub, certs, "bob")
    alice = connect(hub, certs, "alice")
    bob.inbox_budget = 1024**2
    for i in range(20):  # 4 MB under keys bob's role never asks for
        alice.channel().send("bob", f"junk{i}", b"\1" * 200_000)
    bobs = bob.channel()
    with pytest.raises(ProtocolError) as flooded:
        bobs.recv("alice", "the-key-bob-waits-for", timeout=20)
    bobs.abort(flooded.value)  # what a deployed role does with its error
    while hub.failure is None:  # pytest's timeout bounds it
        time.sleep(0.05)
    assert str(hub.failure) == "bob aborted the run (InboxFlooded by alice)"
    alice.close()
    bob.close()


@pytest.mark.parametrize("limit", [0, -1, 1.5e6, True, "256"])
def test_a_message_limit_that_is_not_a_positive_whole_number_is_refused_before_anything_starts(
    limit: object, certs: Path, tmp_path: Path
) -> None:
    """run_vertical_party(max_message_bytes=0) refused every message the role sent, each as
    too large; every entry point now refuses the limit itself, naming it."""
    from rengo.deploy import run_vertical_party, serve_vertical_coordinator

    named = "max_message_bytes must be"
    credentials = PartyCredentials.from_directory(certs, "alice")
    with pytest.raises(ConfigError, match=named):
        PartyConnection("127.0.0.1:1", "alice", credentials, max_message_bytes=limit)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=named):
        GrpcHub("127.0.0.1:0", HubSecurity(insecure=True), max_message_bytes=limit)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=named):
        serve_vertical_coordinator(
            "127.0.0.1:0", HubSecurity(insecure=True), ["p0", "p1"], "p0",
            max_message_bytes=limit,  # type: ignore[arg-type]
        )  # fmt: skip
    with pytest.raises(ConfigError, match=named):
        run_vertical_party(
            "127.0.0.1:1", "p1", None, credentials,  # type: ignore[arg-type]
            max_message_bytes=limit,  # type: ignore[arg-type]
        )  # fmt: skip
    assert not list(tmp_path.iterdir())  # nothing recorded or written


@pytest.mark.timeout(30)
def test_a_connection_that_never_starts_its_tls_handshake_is_closed_after_the_handshake_timeout(
    certs: Path,
) -> None:
    """Anyone who can reach the port may open a socket and say nothing: gRPC's own default
    kept such a socket 120 s, so unauthenticated peers could hold the hub's file descriptors."""
    with GrpcHub("127.0.0.1:0", HubSecurity.from_directory(certs), handshake_timeout=0.5) as hub:
        assert hub.port is not None
        with socket.create_connection(("127.0.0.1", hub.port)) as silent:
            silent.settimeout(5)  # ten times the handshake timeout: the old hub still held it
            try:
                closed = silent.recv(1) == b""
            except TimeoutError:
                closed = False
            except ConnectionResetError:
                closed = True
        assert closed


@pytest.mark.timeout(30)
def test_a_connection_that_opens_no_stream_is_closed_after_the_handshake_timeout(
    certs: Path,
) -> None:
    """On tokens, anyone with the public CA certificate finishes the TLS handshake: gRPC kept
    such a connection for good if it never opened a stream (and so never showed a token)."""
    security = HubSecurity.from_directory(certs, tokens={"alice": "alice-token-0123456789"})
    with GrpcHub("127.0.0.1:0", security, handshake_timeout=0.5) as hub:
        credentials = grpc.ssl_channel_credentials(security.ca_cert)
        with grpc.secure_channel(hub.address, credentials) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            states: queue.Queue[grpc.ChannelConnectivity] = queue.Queue()
            channel.subscribe(states.put)
            seen = [states.get(timeout=5)]  # READY, as subscribing reports the state now
            while seen[-1] == grpc.ChannelConnectivity.READY:
                seen.append(states.get(timeout=5))  # ten times the timeout: the old hub kept it
            assert seen[-1] == grpc.ChannelConnectivity.IDLE  # closed by the hub, cleanly

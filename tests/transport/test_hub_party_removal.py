"""A party the hub's allow-list no longer admits (``GrpcHub.change_parties``: an operator
removed it mid-run) cannot join: a stream it opened before the removal and had not said
hello on is ended with the removal's message, and a hello that arrives after the removal is
refused with that message, so the party is never among the clients a round samples."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from rengo.core.errors import AuthenticationError
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_frames import OutgoingMessage, envelope_frames
from rengo.transport.grpc_hub import GrpcHub, _Session
from rengo.transport.grpc_security import NAME_HEADER, HubSecurity, PartyCredentials
from rengo.transport.grpc_wire import CHANNEL_OPTIONS, FULL_METHOD, HELLO, hello_payload

REASON = "removed from run R by the federation's operator after round 3"


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    init_certificates(directory, ["alice", "bob", "carol"])
    return directory


def _hub(certs: Path) -> GrpcHub:
    security = HubSecurity.from_directory(certs, parties=["alice", "bob", "carol"])
    return GrpcHub("127.0.0.1:0", security, heartbeat_interval=2.0)


def test_a_stream_opened_before_the_removal_ends_with_its_message(certs: Path) -> None:
    hello_now = threading.Event()

    def frames() -> Iterator[bytes]:
        hello_now.wait(20)  # authenticated already; says hello only after the removal
        message = OutgoingMessage("carol", "coordinator", HELLO, hello_payload("raw", False))
        yield from envelope_frames(message)
        time.sleep(20)

    outcome: list[grpc.RpcError] = []

    with _hub(certs) as hub:
        credentials = PartyCredentials.from_directory(certs, "carol").channel_credentials()
        with grpc.secure_channel(hub.address, credentials, options=CHANNEL_OPTIONS) as channel:
            call = channel.stream_stream(FULL_METHOD)(frames(), metadata=[(NAME_HEADER, "carol")])
            reader = threading.Thread(target=read_to_the_end, args=(call, outcome), daemon=True)
            reader.start()
            deadline = time.monotonic() + 30
            while not _stream_open(hub, "carol") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _stream_open(hub, "carol"), "carol's stream never reached the hub"
            assert hub.change_parties(["alice", "bob"], REASON) == []  # carol had no session
            hello_now.set()
            reader.join(20)
            assert outcome, "carol's stream was not ended"
            assert outcome[0].code() == grpc.StatusCode.PERMISSION_DENIED
            assert outcome[0].details() == REASON
            time.sleep(0.5)  # a hello that got through would register now
            assert hub.client_ids() == []


def read_to_the_end(call: Iterator[bytes], errors: list[grpc.RpcError]) -> None:
    """Read a party's stream until it ends, keeping the error that ended it in ``errors``."""
    try:
        for _ in call:
            pass
    except grpc.RpcError as exc:
        errors.append(exc)


def _stream_open(hub: GrpcHub, name: str) -> bool:
    with hub._lock:
        return any(s.name == name for s in hub._live)


def test_a_hello_after_the_removal_is_refused_with_its_message(certs: Path) -> None:
    """The race a closed stream cannot cover: the stream was authenticated before the
    removal but reached the hub's list of streams after it, then says hello."""
    with _hub(certs) as hub:
        hub.change_parties(["alice", "bob"], REASON)
        with pytest.raises(AuthenticationError) as refused:
            hub._register(_Session("carol", "ipv4:127.0.0.1:1"))
        assert str(refused.value) == REASON
        assert hub.client_ids() == []
        hub._register(_Session("alice", "ipv4:127.0.0.1:2"))  # still admitted: joins
        assert hub.client_ids() == ["alice"]
        hub.change_parties(["alice", "bob", "carol"], REASON)  # admitted again: may join
        hub._register(_Session("carol", "ipv4:127.0.0.1:3"))
        assert hub.client_ids() == ["alice", "carol"]


def test_a_removed_party_connecting_again_is_told_it_was_removed(certs: Path) -> None:
    """Before, a party the operator removed that connected again (its process restarted, or
    still retrying) was told it was an unknown party, and the coordinator's log asked
    whether a name was misspelt; it is now told the removal's message each time."""

    def frames() -> Iterator[bytes]:
        message = OutgoingMessage("carol", "coordinator", HELLO, hello_payload("raw", False))
        yield from envelope_frames(message)
        time.sleep(20)

    with _hub(certs) as hub:
        hub.change_parties(["alice", "bob"], REASON)
        credentials = PartyCredentials.from_directory(certs, "carol").channel_credentials()
        for _ in range(2):
            with grpc.secure_channel(hub.address, credentials, options=CHANNEL_OPTIONS) as channel:
                call = channel.stream_stream(FULL_METHOD)(
                    frames(), metadata=[(NAME_HEADER, "carol")], timeout=20
                )
                with pytest.raises(grpc.RpcError) as refused:
                    for _ in call:
                        pass
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert refused.value.details() == REASON
        assert hub.client_ids() == []

"""The handshake between a coordinator and a party of different builds: they name their
rengo release and wire format in the hello and the welcome, so that a party whose messages
the coordinator cannot read is refused before it joins, naming both, and a party of another
release that speaks the same messages joins (a consortium upgrades one machine at a time).

These tests use only what every build since the tagged hello (2026-12-05) has, so that they
run against an earlier build's sources too (and fail there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rengo import __version__
from rengo.core.errors import ReleaseMismatchError
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.grpc_wire import hello_payload

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=1.5)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice"])
    return directory


@pytest.fixture
def hub(certs: Path) -> Iterator[GrpcHub]:
    security = HubSecurity.from_directory(certs, parties=["alice"])
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.5) as running:
        yield running


def doubling(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
    return payload + payload, None


@pytest.mark.timeout(30)
def test_a_party_of_the_same_release_built_before_wire_formats_is_refused_at_hello(
    hub: GrpcHub, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every build of rengo 0.1.0 called itself 0.1.0: a party built before update
    compression (its hello ``<instance> rengo/0.1.0``, as builds of 2026-12-05 to 2026-12-07
    wrote it) was admitted by a coordinator of today's build, and its run failed in round 1
    (``the coordinator asks for client mod 'decompress_model', which this client does not
    have``). It is refused at hello, naming both builds' wire formats."""
    import rengo.transport.grpc_party as grpc_party

    def named_release_only(instance: str, welcomed_before: bool) -> bytes:
        return instance.encode() + b" rengo/" + __version__.encode()

    monkeypatch.setattr(grpc_party, "hello_payload", named_release_only)
    conn = PartyConnection(
        hub.address, "alice", PartyCredentials.from_directory(certs, "alice"), backoff=FAST
    )
    with pytest.raises(ReleaseMismatchError) as refused:
        conn.run()
    message = str(refused.value)
    assert f"party alice runs rengo {__version__} of a build before wire formats" in message
    assert "(wire format 1)" in message
    assert f"this coordinator rengo {__version__} (wire format " in message
    assert f"upgrade party alice to rengo {__version__}" in message
    assert hub.client_ids() == []


def _alice_joins(hub: GrpcHub, certs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Party alice connects, is admitted, and leaves; the transport's warnings are caught."""
    with caplog.at_level("WARNING", logger="rengo.transport"):
        conn = PartyConnection(
            hub.address,
            "alice",
            PartyCredentials.from_directory(certs, "alice"),
            handler=doubling,
            heartbeat_interval=0.5,
            backoff=FAST,
        ).start()
        try:
            conn.wait_connected(10)
            assert hub.client_ids() == ["alice"]
        finally:
            conn.close()


@pytest.mark.timeout(30)
def test_a_party_of_another_release_of_the_same_wire_format_joins_and_the_log_names_both(
    hub: GrpcHub, certs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A party upgraded before its coordinator (or after) to a release that speaks the
    same messages takes part: a mixed consortium can upgrade one machine at a time."""
    import rengo.transport.grpc_party as grpc_party

    monkeypatch.setattr(
        grpc_party,
        "hello_payload",
        lambda instance, welcomed_before: hello_payload(instance, welcomed_before, "0.1.1"),
    )
    _alice_joins(hub, certs, caplog)
    assert any(
        f"party alice runs rengo 0.1.1 and this coordinator rengo {__version__}" in line
        and "both speak wire format" in line
        and "so they are compatible" in line
        for line in caplog.messages
    ), caplog.messages


@pytest.mark.timeout(30)
def test_a_party_joins_a_coordinator_of_another_release_of_the_same_wire_format_and_logs_both(
    hub: GrpcHub, certs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The party's side of an upgrade one machine at a time: a coordinator upgraded first
    (or last) to a release of the same wire format is joined, not refused, and the party's
    log names both releases as compatible."""
    import rengo.transport.grpc_hub as grpc_hub
    from rengo.transport.grpc_wire import welcome_payload

    monkeypatch.setattr(
        grpc_hub, "welcome_payload", lambda run_id: welcome_payload(run_id, "0.1.1")
    )
    _alice_joins(hub, certs, caplog)
    assert any(
        f"the coordinator runs rengo 0.1.1 and party alice rengo {__version__}" in line
        and "so they are compatible" in line
        for line in caplog.messages
    ), caplog.messages

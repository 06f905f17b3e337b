"""The channel failure contract over gRPC: a role that fails, or a party that leaves for
good, stops every other role of the run at once, and each learns who failed."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rengo.core.errors import (
    ChannelTimeout,
    ConfigError,
    CoordinatorUnreachable,
    HandshakeError,
    PeerFailure,
    ProtocolError,
)
from rengo.transport.certs import init_certificates
from rengo.transport.channel import Channel
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.grpc_wire import party_text

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=1.5)
PARTIES = ["alice", "bob", "carol"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, PARTIES)
    return directory


@pytest.fixture
def hub(certs: Path) -> Iterator[GrpcHub]:
    security = HubSecurity.from_directory(certs, parties=PARTIES)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2) as running:
        yield running


def start_party(hub: GrpcHub, certs: Path, name: str) -> PartyConnection:
    """Party ``name`` connecting to ``hub`` (a new process of it, as far as the hub knows)."""
    credentials = PartyCredentials.from_directory(certs, name)
    return PartyConnection(
        hub.address, name, credentials, heartbeat_interval=0.2, backoff=FAST
    ).start()


def connect_all(hub: GrpcHub, certs: Path) -> dict[str, PartyConnection]:
    """Every party of PARTIES connected to ``hub``."""
    conns = {name: start_party(hub, certs, name) for name in PARTIES}
    for conn in conns.values():
        conn.wait_connected(10)
    return conns


@pytest.fixture
def connections(hub: GrpcHub, certs: Path) -> Iterator[dict[str, PartyConnection]]:
    conns = connect_all(hub, certs)
    yield conns
    for conn in conns.values():
        conn.close()


def in_threads(roles: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each role in a thread; its result or exception, by name."""
    outcomes: dict[str, Any] = {}

    def target(name: str, role: Callable[[], Any]) -> None:
        try:
            outcomes[name] = role()
        except BaseException as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=target, args=item, daemon=True) for item in roles.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert all(not t.is_alive() for t in threads), "a role still waits"
    return outcomes


def waiting_for(channel: Channel, frm: str) -> Callable[[], Any]:
    return lambda: channel.recv(frm, "never", timeout=60)


@pytest.mark.timeout(40)
def test_a_party_that_fails_stops_the_coordinator_and_every_other_party(
    hub: GrpcHub, connections: dict[str, PartyConnection]
) -> None:
    channels = {name: conn.channel() for name, conn in connections.items()}
    coordinator = hub.channel(watch=PARTIES)

    def bob() -> None:
        time.sleep(0.3)  # the others are waiting by now
        channels["bob"].abort(ConfigError("bob's table has no ID column"))
        raise ConfigError("bob's table has no ID column")

    started = time.monotonic()
    outcomes = in_threads(
        {
            "coordinator": waiting_for(coordinator, "alice"),
            "alice": waiting_for(channels["alice"].scope("train"), "bob"),
            "carol": waiting_for(channels["carol"], "alice"),
            "bob": bob,
        }
    )
    assert time.monotonic() - started < 10  # fail fast, not after the 60 s timeout
    assert isinstance(outcomes["bob"], ConfigError)
    for name in ("coordinator", "alice", "carol"):
        failure = outcomes[name]
        assert isinstance(failure, PeerFailure), (name, failure)
        assert (failure.role, failure.reason) == ("bob", "ConfigError")
        assert "bob aborted the run (ConfigError)" in str(failure)
        assert "ID column" not in str(failure)  # only the kind of error leaves bob


def _abort_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "aborted the run" in r.getMessage()]


@pytest.mark.timeout(40)
def test_an_abort_is_logged_below_warning_because_every_waiting_role_raises_it(
    hub: GrpcHub, connections: dict[str, PartyConnection], caplog: pytest.LogCaptureFixture
) -> None:
    """The CLI prints the raised failure as its one ``error:`` line; a WARNING log line of
    the same text on top of it was the same news twice on every role's stderr."""
    channels = {name: conn.channel() for name, conn in connections.items()}
    coordinator = hub.channel(watch=PARTIES)

    def bob() -> None:
        time.sleep(0.3)
        channels["bob"].abort(ConfigError("no ID column"))

    with caplog.at_level(logging.INFO, logger="rengo.transport"):
        outcomes = in_threads(
            {
                "coordinator": waiting_for(coordinator, "alice"),
                "alice": waiting_for(channels["alice"], "bob"),
                "bob": bob,
            }
        )
        # the hub and each party log the abort after waking its waiters: give the lines a
        # moment to land (a loaded machine ran the test's end first)
        deadline = time.monotonic() + 5
        while len(_abort_records(caplog)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert isinstance(outcomes["coordinator"], PeerFailure)
    assert isinstance(outcomes["alice"], PeerFailure)
    told = _abort_records(caplog)
    assert told, "the abort is still in the log, at info"
    assert all(r.levelno < logging.WARNING for r in told), [r.levelname for r in told]


@pytest.mark.timeout(40)
def test_a_coordinator_that_fails_stops_every_party(
    hub: GrpcHub, connections: dict[str, PartyConnection]
) -> None:
    coordinator = hub.channel(watch=PARTIES)

    def fail() -> None:
        time.sleep(0.3)
        coordinator.abort(RuntimeError("disk full"))

    outcomes = in_threads(
        {
            "coordinator": fail,
            **{n: waiting_for(c.channel(), "coordinator") for n, c in connections.items()},
        }
    )
    for name in PARTIES:
        failure = outcomes[name]
        assert isinstance(failure, PeerFailure), (name, failure)
        assert (failure.role, failure.reason) == ("coordinator", "RuntimeError")


@pytest.mark.timeout(40)
def test_a_party_that_leaves_for_good_ends_the_run_for_everyone(
    hub: GrpcHub, connections: dict[str, PartyConnection]
) -> None:
    coordinator = hub.channel(watch=PARTIES, rejoin_wait=0.5)
    alice = connections["alice"].channel()

    def leave() -> None:
        time.sleep(0.3)
        connections["bob"].close()

    outcomes = in_threads(
        {
            "bob": leave,
            "coordinator": waiting_for(coordinator, "alice"),
            "alice": waiting_for(alice, "coordinator"),
        }
    )
    for name in ("coordinator", "alice"):
        failure = outcomes[name]
        assert isinstance(failure, PeerFailure), (name, failure)
        assert failure.role == "bob" and "left and did not come back within 0.5s" in str(failure)


@pytest.mark.timeout(30)
def test_a_party_whose_coordinator_ends_the_run_stops_waiting(
    hub: GrpcHub, connections: dict[str, PartyConnection]
) -> None:
    carol = connections["carol"].channel()

    def close() -> None:
        time.sleep(0.3)
        hub.close(goodbye=True)

    outcomes = in_threads({"hub": close, "carol": waiting_for(carol, "coordinator")})
    assert "the coordinator ended the run" in str(outcomes["carol"])


@pytest.mark.timeout(30)
def test_an_abort_in_a_horizontal_run_is_dropped_not_relayed_to_every_party(
    certs: Path,
) -> None:
    """A horizontal run's parties answer the round loop and run no protocol a party could
    abort; the hub relayed any party's abort to every other party (each logged that the run
    was aborted) and recorded the sender's text as the run's failure."""
    security = HubSecurity.from_directory(certs, parties=PARTIES)
    events: list[str] = []
    with GrpcHub(
        "127.0.0.1:0",
        security,
        heartbeat_interval=0.2,
        routing=False,
        on_event=lambda level, message: events.append(message),
    ) as hub:
        conns = connect_all(hub, certs)
        conns["bob"].channel().abort(ConfigError("the run is over, says bob"))
        deadline = time.monotonic() + 10
        while not any("dropped message" in m for m in events) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("dropped message" in m and "from party bob" in m for m in events), events
        time.sleep(0.5)  # what a relayed abort would take to arrive
        assert hub.failure is None
        assert conns["alice"].failure is None and conns["carol"].failure is None
        assert not any("aborted the run" in m for m in events)
        for conn in conns.values():
            conn.close()


@pytest.mark.timeout(30)
def test_a_long_wait_is_told_with_the_message_and_the_peer_it_waits_for(
    hub: GrpcHub,
    connections: dict[str, PartyConnection],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deployed vertical run waits for each message without a time limit; a peer that
    stopped answering left every role silent. Now each says what it waits for, from whom,
    after a while and then each time the wait doubles."""
    monkeypatch.setattr("rengo.transport.channel.STILL_WAITING_AFTER_S", 0.3)
    events: list[str] = []
    hub.on_event = lambda level, message: events.append(message)
    with pytest.raises(ChannelTimeout):
        hub.channel().recv("alice", "gradient", timeout=1.5)
    waits = [m for m in events if m.startswith("the coordinator has waited")]
    assert len(waits) == 3, events  # after 0.3 s, 0.6 s and 1.2 s
    assert "for 'gradient' from alice" in waits[0]
    with caplog.at_level("WARNING", logger="rengo"), pytest.raises(ChannelTimeout):
        connections["bob"].channel().recv("carol", "residual", timeout=1.0)
    assert any(
        "party bob has waited" in r.getMessage() and "for 'residual' from carol" in r.getMessage()
        for r in caplog.records
    ), caplog.text


@pytest.mark.timeout(40)
def test_a_party_restarted_mid_run_fails_the_run_for_every_role_naming_it(
    hub: GrpcHub, connections: dict[str, PartyConnection], certs: Path
) -> None:
    """A party killed mid-run and started again came back under its name: the hub took it
    for the old link, the new process waited for messages its old one had read, and every
    role waited with it, forever."""
    coordinator = hub.channel(watch=PARTIES)  # a protocol runs: parties hold its state
    again = start_party(hub, certs, "bob")
    try:
        again.wait_connected(10)
        outcomes = in_threads(
            {
                "coordinator": waiting_for(coordinator, "bob"),
                "alice": waiting_for(connections["alice"].channel(), "coordinator"),
            }
        )
        for name in ("coordinator", "alice"):
            failure = outcomes[name]
            assert isinstance(failure, PeerFailure), (name, failure)
            assert failure.role == "bob" and "restarted mid-run" in str(failure), failure
    finally:
        again.close()


@pytest.mark.timeout(40)
def test_a_restarted_party_of_a_run_without_checkpoints_is_not_told_to_resume_it(
    certs: Path,
) -> None:
    """A vertical run without checkpoints was told "resume the run to continue it" when a
    party was restarted mid-run, but it is recorded failed and cannot be resumed."""
    security = HubSecurity.from_directory(certs, parties=PARTIES)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2, resumable=False) as hub:
        first = start_party(hub, certs, "bob")
        first.wait_connected(10)
        hub.channel(watch=["bob"])  # a protocol runs: the party holds its state
        first.close()
        again = start_party(hub, certs, "bob")
        try:
            again.wait_connected(10)
            deadline = time.monotonic() + 10
            while hub.failure is None and time.monotonic() < deadline:
                time.sleep(0.05)
            reason = str(hub.failure)
            assert "restarted mid-run" in reason and "keeps no checkpoints" in reason
            assert "resume the run" not in reason
        finally:
            again.close()


@pytest.mark.timeout(40)
def test_a_party_restarted_before_the_protocol_starts_simply_joins(
    hub: GrpcHub, connections: dict[str, PartyConnection], certs: Path
) -> None:
    again = start_party(hub, certs, "bob")
    try:
        again.wait_connected(10)
        assert hub.failure is None
        coordinator = hub.channel(watch=PARTIES)
        again.channel().send("coordinator", "hello-again", b"1")
        assert coordinator.recv("bob", "hello-again", timeout=10) == b"1"
    finally:
        again.close()


def test_a_coordinator_certificate_for_another_host_ends_the_party_at_once_naming_hosts(
    tmp_path: Path,
) -> None:
    # The coordinator's certificate lists only "localhost"; the party dials 127.0.0.1.
    init_certificates(tmp_path, PARTIES, hosts=["localhost"])
    security = HubSecurity.from_directory(tmp_path, parties=PARTIES)
    slow = Backoff(initial=0.05, maximum=0.2, give_up_after=60)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2) as hub:
        credentials = PartyCredentials.from_directory(tmp_path, "alice")
        party = PartyConnection(hub.address, "alice", credentials, backoff=slow)
        started = time.monotonic()
        with pytest.raises(HandshakeError, match=r"not valid for the address .*--hosts"):
            party.run()
    assert time.monotonic() - started < 20  # not the minutes of UNAVAILABLE retries


def test_a_coordinator_never_reached_is_named_once_with_the_retry_limit_not_connection_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError, match="'localhost' must be HOST:PORT"):
        PartyConnection("localhost", "alice", PartyCredentials(insecure=True))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"  # bound, not listening: refused
        party = PartyConnection(address, "alice", PartyCredentials(insecure=True), backoff=FAST)
        with pytest.raises(CoordinatorUnreachable):
            party.run()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    said = (
        f"party alice: cannot reach {address}: nothing listens on that port (connection "
        "refused): is the coordinator running, and is the port the one it listens on?; "
        "retrying for up to 1.5s"
    )
    assert [m for m in warned if "alice" in m and "insecure" not in m] == [said]


@pytest.mark.timeout(60)
def test_a_refused_handshake_prints_rengos_error_not_grpc_core_log_lines(tmp_path: Path) -> None:
    # A fresh process, as `rengo party` is: gRPC reads its log level when first imported.
    init_certificates(tmp_path / "coordinator", ["alice"])
    init_certificates(tmp_path / "other", ["alice"])  # a CA the coordinator never signed with
    script = f"""
from pathlib import Path
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
security = HubSecurity.from_directory(Path({str(tmp_path / "coordinator")!r}), parties=["alice"])
with GrpcHub("127.0.0.1:0", security) as hub:
    credentials = PartyCredentials.from_directory(Path({str(tmp_path / "other")!r}), "alice")
    fast = Backoff(initial=0.05, maximum=0.2, give_up_after=1.5)
    try:
        PartyConnection(hub.address, "alice", credentials, backoff=fast).run()
    except Exception as exc:
        print(type(exc).__name__)
"""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=50
    )
    assert done.stdout.strip() == "HandshakeError", done.stderr
    assert "ssl_transport_security" not in done.stderr
    assert "Handshake failed" not in done.stderr


@pytest.mark.timeout(60)
def test_a_party_whose_coordinator_came_back_mid_run_is_told_to_restart_for_the_resume(
    certs: Path,
) -> None:
    """A party still running when a crashed coordinator is resumed reconnects to it, but
    holds a dead session's state: it was told to 'start the run again', while the remedy
    is to start the party again (with its checkpoints) for the resumed run."""
    from rengo.core.errors import ProtocolError

    security = HubSecurity.from_directory(certs, parties=PARTIES)
    patient = Backoff(initial=0.05, maximum=0.2, give_up_after=30)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2) as first:
        address = first.address
        alice = PartyConnection(
            address, "alice", PartyCredentials.from_directory(certs, "alice"),
            heartbeat_interval=0.2, backoff=patient,
        ).start()  # fmt: skip
        alice.wait_connected(10)
        channel = alice.channel()
        outcome = in_threads({"first": lambda: channel.recv("coordinator", "x", timeout=0.5)})
        assert isinstance(outcome["first"], ChannelTimeout)  # the run's session is now known
        first.close(goodbye=False)
    try:
        with GrpcHub(address, security, heartbeat_interval=0.2):
            outcome = in_threads({"alice": lambda: channel.recv("coordinator", "x", timeout=30)})
        failure = outcome["alice"]
        assert isinstance(failure, ProtocolError), failure
        assert "start this party again" in str(failure) and "--resume" in str(failure)
    finally:
        alice.close()


@pytest.mark.timeout(60)
def test_a_party_process_of_a_stopped_coordinator_cannot_abort_the_resumed_run(
    certs: Path,
) -> None:
    """Parties keep retrying while their coordinator is down; restarted with --resume, it
    admitted them, each found its session gone and aborted the resumed run ("telecom
    aborted the run (ProtocolError)"), leaving it interrupted again before the parties
    could be started again. The hub now refuses such a process before it joins (it says a
    coordinator welcomed it, and this one never saw it), the process stops with the
    remedy, and the party started again joins the run."""
    from rengo.core.errors import StalePartyError

    security = HubSecurity.from_directory(certs, parties=PARTIES)
    patient = Backoff(initial=0.05, maximum=0.2, give_up_after=30)
    credentials = PartyCredentials.from_directory(certs, "alice")
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2) as first:
        address = first.address
        alice = PartyConnection(
            address, "alice", credentials, heartbeat_interval=0.2, backoff=patient
        ).start()
        alice.wait_connected(10)
        channel = alice.channel()
        outcome = in_threads({"first": lambda: channel.recv("coordinator", "x", timeout=0.5)})
        assert isinstance(outcome["first"], ChannelTimeout)  # the run's session is now known
        first.close(goodbye=False)

    def stale_role() -> None:  # a role whose wait fails aborts the run, as run_role does
        try:
            channel.recv("coordinator", "x", timeout=30)
        except Exception as exc:
            channel.abort(exc)
            raise

    try:
        with GrpcHub(address, security, heartbeat_interval=0.2) as resumed:
            failure = in_threads({"alice": stale_role})["alice"]
            assert isinstance(failure, ProtocolError), failure
            assert "start this party again" in str(failure) and "--resume" in str(failure)
            assert isinstance(alice.error, StalePartyError)
            time.sleep(0.5)  # an abort, had one been sent, would have arrived by now
            assert resumed.failure is None and "alice" not in resumed.client_ids()
            again = PartyConnection(
                address, "alice", credentials, heartbeat_interval=0.2, backoff=FAST
            ).start()
            again.wait_connected(10)
            assert resumed.client_ids() == ["alice"] and resumed.failure is None
            again.close()
    finally:
        alice.close()


def test_a_partys_text_becomes_one_printable_line_within_its_limit() -> None:
    raw = b"fit\x1b[2J\r\nround 9: ok\x00\t done " + b"\xff" + "é".encode() * 50
    assert party_text(raw, 40) == "fit [2J round 9: ok done \ufffd" + "é" * 14
    assert party_text(b"\n\x1b\x07", 40) == ""  # then the caller says "failed"

"""A firewall or NAT that cuts TCP connections idle for a while does not break a run whose
roles say nothing for longer: both sides send a heartbeat frame every 2 s (the defaults,
unchanged here), so the connection is never idle that long. A middlebox stricter than
the heartbeat cuts the link, and the party reconnects on its own.

The middlebox is a loopback relay that closes a connection after ``idle`` seconds without
a byte either way. (A guard, not a fix: it passes on the sources before it too.)
"""

from __future__ import annotations

import select
import socket
import threading
import time
from pathlib import Path

import pytest

from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials


class IdleCuttingRelay:
    """Relays loopback TCP to ``target``, closing each connection idle for ``idle`` s."""

    def __init__(self, target: str, idle: float) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.idle = idle
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        last = time.monotonic()
        with a, b:
            while True:
                ready, _, _ = select.select([a, b], [], [], 0.1)
                if not ready:
                    if time.monotonic() - last > self.idle:
                        self.cuts += 1
                        return
                    continue
                last = time.monotonic()
                for side in ready:
                    try:
                        data = side.recv(65536)
                        if not data:
                            return
                        (b if side is a else a).sendall(data)
                    except OSError:
                        return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice"])
    return directory


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("idle", "kept"), [(3.0, True), (1.0, False)])
def test_a_link_silent_for_longer_than_a_middlebox_allows_survives_on_heartbeats(
    certs: Path, idle: float, kept: bool
) -> None:
    security = HubSecurity.from_directory(certs, parties=["alice"])
    with GrpcHub("127.0.0.1:0", security) as hub:  # default heartbeats: every 2 s
        relay = IdleCuttingRelay(hub.address, idle)
        credentials = PartyCredentials.from_directory(certs, "alice")
        party = PartyConnection(relay.address, "alice", credentials).start()
        try:
            party.wait_connected(10)
            coordinator = hub.channel(watch=["alice"])
            time.sleep(8.0)  # the roles say nothing: one computes, the other waits
            if kept:
                party.channel().send("coordinator", "after-the-silence", b"1")
                assert coordinator.recv("alice", "after-the-silence", timeout=30) == b"1"
                assert party.sessions == 1 and relay.cuts == 0
            else:  # cut: a vertical role stops (LinkDropped); the connection comes back
                assert relay.cuts > 0 and party.sessions > 1 and party.error is None
        finally:
            party.close()
            relay.close()

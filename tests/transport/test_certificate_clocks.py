"""Parties whose clocks disagree with the machine that issued the federation's certificates.

Each side of a TLS handshake judges the other's certificate by its own clock. A party a few
minutes behind the operator's machine (a drifting hospital VM) must still join a federation
whose certificates were made just now; one hours off, or holding an expired certificate,
must be told that its clock or the certificate's dates are the problem - not that the
coordinator's certificate comes from another federation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import rengo.transport.certs as certs_module
from rengo.core.errors import HandshakeError
from rengo.core.roles import COORDINATOR
from rengo.crypto.signatures import SignatureError, verify_certificate
from rengo.transport.certs import KeyPair, add_party, init_certificates, issue_certificate
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=3)
PARTIES = ["alice", "bob"]


@contextmanager
def issuer_clock(offset: dt.timedelta) -> Iterator[None]:
    """Certificates made inside are made by a machine whose clock reads ``offset`` later
    than this one's (or earlier, for a negative offset)."""
    real: Callable[[int], tuple[dt.datetime, dt.datetime]] = certs_module._validity
    certs_module._validity = lambda days: tuple(t + offset for t in real(days))  # type: ignore[assignment]
    try:
        yield
    finally:
        certs_module._validity = real


def connect(folder: Path, name: str = "alice") -> PartyConnection:
    """Party ``name`` of ``folder``'s federation, connected to a hub started from it."""
    security = HubSecurity.from_directory(folder, parties=PARTIES)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.5) as hub:
        party = PartyConnection(
            hub.address, name, PartyCredentials.from_directory(folder, name), backoff=FAST
        ).start()
        try:
            party.wait_connected(10)
        finally:
            party.close()
    return party


def reissue_coordinator(folder: Path) -> None:
    """The coordinator's certificate issued again (by the federation's CA) in place."""
    ca = KeyPair((folder / "ca.pem").read_bytes(), (folder / "ca.key").read_bytes())
    server = issue_certificate(ca, COORDINATOR, hosts=("127.0.0.1",), server=True)
    (folder / "coordinator.pem").write_bytes(server.cert_pem)
    (folder / "coordinator.key").write_bytes(server.key_pem)


@pytest.mark.timeout(60)
def test_a_party_minutes_behind_the_issuing_machine_joins(tmp_path: Path) -> None:
    with issuer_clock(dt.timedelta(minutes=7)):  # the VM is 7 minutes behind the operator
        init_certificates(tmp_path, PARTIES)
    connect(tmp_path)  # used to fail: "certificates from another federation?"


@pytest.mark.timeout(60)
def test_a_party_hours_behind_is_told_its_clock_is_behind_not_another_federation(
    tmp_path: Path,
) -> None:
    init_certificates(tmp_path, PARTIES)
    with issuer_clock(dt.timedelta(hours=3)):
        reissue_coordinator(tmp_path)
    with pytest.raises(HandshakeError) as caught:
        connect(tmp_path)
    message = str(caught.value)
    assert "the coordinator's certificate at 127.0.0.1:" in message
    assert "is valid only from" in message and "this machine's clock reads" in message
    assert "clock is behind" in message and "NTP" in message
    assert "another federation" not in message


@pytest.mark.timeout(60)
def test_a_party_behind_its_own_ca_certificate_is_told_so(tmp_path: Path) -> None:
    with issuer_clock(dt.timedelta(hours=3)):
        init_certificates(tmp_path, PARTIES)
    with pytest.raises(HandshakeError, match=r"CA certificate \(ca\.pem\) is valid only from"):
        connect(tmp_path)


@pytest.mark.timeout(60)
def test_an_expired_coordinator_certificate_is_named_as_expired(tmp_path: Path) -> None:
    init_certificates(tmp_path, PARTIES)
    with issuer_clock(-dt.timedelta(days=900)):  # issued 900 days ago, for 825
        reissue_coordinator(tmp_path)
    with pytest.raises(HandshakeError, match=r"the coordinator.s certificate at .* expired at"):
        connect(tmp_path)


@pytest.mark.timeout(60)
def test_a_party_refused_for_its_dates_hears_the_coordinators_clock_may_be_why(
    tmp_path: Path,
) -> None:
    init_certificates(tmp_path, ["bob"])
    with issuer_clock(dt.timedelta(hours=3)):  # the coordinator is 3 hours behind the CA
        add_party(tmp_path, "alice")
    with pytest.raises(HandshakeError) as caught:
        connect(tmp_path)
    assert "check the coordinator machine's clock" in str(caught.value)
    assert "outside this certificate's validity" in str(caught.value)


def test_a_party_certificate_not_yet_valid_here_names_the_clock(tmp_path: Path) -> None:
    init_certificates(tmp_path, ["bob"])
    with issuer_clock(dt.timedelta(hours=3)):
        add_party(tmp_path, "alice")
    ca_pem = (tmp_path / "ca.pem").read_bytes()
    cert_pem = (tmp_path / "parties" / "alice.pem").read_bytes()
    with pytest.raises(SignatureError, match="party alice's certificate is valid only from"):
        verify_certificate(ca_pem, "alice", cert_pem)

"""The coordinator's certificate lists the hosts `rengo certs init --hosts` names the way an
operator writes them, and a party reaches a coordinator on IPv6.

``--hosts "localhost, 127.0.0.1"`` (a space after the comma) made a DNS name " 127.0.0.1",
``--hosts "[::1]"`` (an IPv6 address as written in an address) a DNS name "[::1]", and
``--hosts coordinator.example.org:7443`` a DNS name with the port: each certificate looked
right and no party could verify it at that address ("not valid for the address").
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

runner = CliRunner()
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=5)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def joins(listen: str, dial_host: str, certs: Path) -> bool:
    """Whether party ``a`` with ``certs`` joins a hub listening on ``listen`` when it dials
    ``dial_host`` at the hub's port."""
    security = HubSecurity.from_directory(certs, parties=["a"])
    with GrpcHub(listen, security, heartbeat_interval=0.2) as hub:
        port = hub.address.rpartition(":")[2]
        credentials = PartyCredentials.from_directory(certs, "a")
        party = PartyConnection(f"{dial_host}:{port}", "a", credentials, backoff=FAST).start()
        try:
            party.wait_connected(10)
            return party.connected and party.error is None
        finally:
            party.close()


def test_hosts_written_with_spaces_after_the_commas_are_each_in_the_certificate(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    said = runner.invoke(
        app, ["certs", "init", str(certs), "--parties", "a", "--hosts", "localhost, 127.0.0.1"]
    )
    assert said.exit_code == 0, said.output
    assert joins("127.0.0.1:0", "127.0.0.1", certs)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("written", ["[::1]", "::1"])
@pytest.mark.parametrize("listen", ["[::1]:0", "[::]:0"])
def test_a_party_reaches_an_ipv6_coordinator_whose_certificate_names_it_either_way(
    tmp_path: Path, written: str, listen: str
) -> None:
    certs = tmp_path / "certs"
    said = runner.invoke(
        app, ["certs", "init", str(certs), "--parties", "a", "--hosts", f"localhost,{written}"]
    )
    assert said.exit_code == 0, said.output
    assert joins(listen, "[::1]", certs)


@pytest.mark.parametrize("entry", ["coordinator.example.org:7443", "https://coordinator", "a b"])
def test_a_host_that_is_no_name_or_address_is_one_line_and_writes_nothing(
    tmp_path: Path, entry: str
) -> None:
    certs = tmp_path / "certs"
    said = runner.invoke(app, ["certs", "init", str(certs), "--parties", "a", "--hosts", entry])
    assert said.exit_code == 2, said.output
    assert f"--hosts entry {entry!r} is neither a host name nor an IP address" in " ".join(
        said.output.split()
    )
    assert "Traceback" not in said.output
    assert not certs.exists()

"""A slow but healthy link keeps its party: liveness is judged by whole frames arriving
within the heartbeat timeout, so no frame may take longer than that to cross a thin link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.jobs import parse_job
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_frames import OutgoingMessage, envelope_frames
from rengo.transport.grpc_hub import GrpcHub, lost_link
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.pool import Request
from rengo.transport.straggler import StragglerWait

from .throttled_link import ThrottledLink

SLOW_LINK_BITS_PER_S = 250_000  # a phone's uplink on a bad day


def test_every_frame_of_a_large_message_crosses_a_250_kbit_link_within_the_heartbeat_timeout() -> (
    None
):
    """With 1 MiB chunks a party on a link under 0.84 Mbit/s never got a model over 1 MiB
    across: each side heard nothing whole for 10 s and dropped the other, every round."""
    hub = GrpcHub("127.0.0.1:0", HubSecurity(insecure=True))
    party = PartyConnection("127.0.0.1:1", "alice", PartyCredentials(insecure=True))
    timeout = min(hub.heartbeat_timeout, party.heartbeat_timeout)
    message = OutgoingMessage("alice", "coordinator", "fit", bytes(4 * 1024**2))
    longest = max(len(frame) for frame in envelope_frames(message))
    assert longest * 8 / SLOW_LINK_BITS_PER_S < timeout


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice", "bob"])
    return directory


@pytest.fixture
def hub(certs: Path) -> Iterator[GrpcHub]:
    with GrpcHub("127.0.0.1:0", HubSecurity.from_directory(certs), heartbeat_interval=0.2) as h:
        yield h


def echo(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
    return bytes(1536 * 1024), None  # a 1.5 MiB update


@pytest.mark.timeout(60)
def test_a_party_on_a_slow_link_delivers_an_update_larger_than_a_chunk(
    hub: GrpcHub, certs: Path
) -> None:
    """At 600 kB/s a 1 MiB frame takes 1.7 s, past the 1 s heartbeat timeout of this hub:
    the hub dropped the party mid-update ("no heartbeat for 1s") and the request failed."""
    link = ThrottledLink(hub.address, bytes_per_second=600_000)
    party = PartyConnection(
        link.address,
        "alice",
        PartyCredentials.from_directory(certs, "alice"),
        handler=echo,
        heartbeat_interval=0.2,
        backoff=Backoff(initial=0.05, maximum=0.2, give_up_after=5.0),
    ).start()
    try:
        party.wait_connected(10)
        (reply,) = hub.request([Request("alice", "fit", b"go")], timeout=30)
        assert reply.error is None and reply.payload is not None
        assert len(reply.payload) == 1536 * 1024
    finally:
        party.close()
        link.close()


def party(address: str, name: str, certs: Path) -> PartyConnection:
    return PartyConnection(
        address,
        name,
        PartyCredentials.from_directory(certs, name),
        handler=echo,
        heartbeat_interval=0.5,
        backoff=Backoff(initial=0.05, maximum=0.2, give_up_after=5.0),
    ).start()


@pytest.mark.timeout(60)
def test_the_straggler_rule_does_not_cut_off_a_party_whose_reply_is_still_arriving(
    certs: Path,
) -> None:
    """bob's update takes 2.2 s to cross his link after alice answered at once; the rule
    (1x the quorum's time, at least 1 s more) cut him off mid-transfer, every round ("timed
    out: no answer within 1.0s"): a healthy party on a thin link was judged a straggler."""
    rule = StragglerWait(factor=1.0, grace=1.0)
    security = HubSecurity.from_directory(certs)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.5, stragglers=rule) as hub:
        link = ThrottledLink(hub.address, bytes_per_second=700_000)
        alice = party(hub.address, "alice", certs)
        bob = party(link.address, "bob", certs)
        try:
            alice.wait_connected(10)
            bob.wait_connected(10)
            requests = [Request(name, "fit", b"go") for name in ("alice", "bob")]
            replies = {r.client_id: r for r in hub.request(requests, timeout=30)}
            assert replies["alice"].error is None
            assert replies["bob"].error is None, replies["bob"].error
            assert len(replies["bob"].payload or b"") == 1536 * 1024
        finally:
            alice.close()
            bob.close()
            link.close()


@pytest.mark.parametrize(
    ("reason", "lost"),
    [
        ("connection lost (RpcError)", True),
        ("evaluate: disconnected", True),
        ("secagg.masked_input: connection lost (RpcError)", True),
        ("no heartbeat for 10s", True),
        ("secagg.unmask: no heartbeat for 10s", True),
        ("secagg.masked_input: raised ConnectionError: gone", False),
        ("timed out: no answer within 60.2s", False),
    ],
)
def test_a_link_lost_at_any_stage_of_a_round_reads_as_lost(reason: str, lost: bool) -> None:
    """A secure-aggregation stage prefixes the hub's reason with its name: a party whose link
    dropped at the masked input read as one that answered wrongly, so the deployed round was
    not run again once it was back, and the run failed instead of staying interrupted."""
    assert lost_link(reason) is lost


def test_a_deployer_sets_the_heartbeat_timeout_for_a_thin_link_in_the_job_and_on_the_party(
    tmp_path: Path,
) -> None:
    """A link under about 210 kbit/s needs more than 10 s per 256 KiB chunk; the timeout was
    fixed at five 2 s heartbeats, with no job key or flag to raise it."""
    raw = {
        "job": {"name": "t", "rounds": 1},
        "data": {"dataset": "iris"},
        "deploy": {"heartbeat_timeout": 30.0},
    }
    assert parse_job(raw).deploy.heartbeat_timeout == 30.0
    result = CliRunner().invoke(
        app,
        ["party", "--coordinator", "127.0.0.1:1", "--name", "x", "--app", "m:f", "--insecure",
         "--heartbeat-timeout", "1"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "heartbeat_timeout must be more than the heartbeat interval (2s)" in result.output


@pytest.mark.parametrize("timeout", [0.5, 2.0])
def test_a_heartbeat_timeout_not_longer_than_the_interval_is_refused(timeout: float) -> None:
    with pytest.raises(ConfigError, match="must be more than the heartbeat interval"):
        GrpcHub("127.0.0.1:0", HubSecurity(insecure=True), heartbeat_timeout=timeout)
    with pytest.raises(ConfigError, match="must be more than the heartbeat interval"):
        PartyConnection(
            "127.0.0.1:1", "alice", PartyCredentials(insecure=True), heartbeat_timeout=timeout
        )

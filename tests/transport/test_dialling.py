"""What a party behind an HTTP proxy, a mistyped name or a closed port sees: one line that
says which, with what to check - not "is it running?" after ten minutes of retries.

gRPC tunnels a party's connection through the proxy in ``grpc_proxy``/``https_proxy``/
``http_proxy`` unless ``no_proxy`` lists the host, so a party whose ``https_proxy`` was set
for pip dialled a coordinator on its LAN through that proxy without a word; a proxy that
refused the tunnel, or held it, ended as "no coordinator at HOST:PORT for 600s; is it
running, and is the address right?". The proxies here are real local sockets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rengo.cli.deploy import party_credentials
from rengo.core.errors import CoordinatorUnreachable, HandshakeError
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

from .local_proxy import PROXY_VARIABLES, ForwardingProxy, LocalProxy

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=1.5)


@pytest.fixture(autouse=True)
def no_proxy_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def holding_proxy() -> Iterator[LocalProxy]:
    proxy = LocalProxy(None)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice"], hosts=["coordinator.internal"])
    return directory


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("status", "said"),
    [
        (b"403 Forbidden", "refused to open a tunnel to it (HTTP 403)"),
        (b"407 Proxy Authentication Required", "asks for credentials (HTTP 407)"),
    ],
)
def test_a_proxy_that_refuses_the_tunnel_ends_the_party_at_once_naming_it_and_the_way_around(
    status: bytes, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = LocalProxy(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
    monkeypatch.setenv("https_proxy", proxy.url)
    never = Backoff(initial=0.05, maximum=0.2, give_up_after=None)  # retries until stopped
    party = PartyConnection(
        "127.0.0.1:7443", "alice", PartyCredentials(insecure=True), backoff=never
    )
    party.start()
    try:
        party.join(30)  # a refusal by the proxy's rules is final: not retried for ever
    except CoordinatorUnreachable as exc:
        error = str(exc)
    else:
        error = "still retrying after 30s"
    finally:
        party.close()
        proxy.close()
    assert f"cannot reach 127.0.0.1:7443: the HTTP proxy {proxy.url} (from $https_proxy)" in error
    assert said in error
    assert "--no-proxy" in error and "no_proxy" in error
    assert proxy.requests[0] == b"CONNECT 127.0.0.1:7443 HTTP/1.1"


@pytest.mark.timeout(60)
def test_a_proxy_that_holds_the_tunnel_is_named_not_taken_for_a_missing_coordinator(
    holding_proxy: LocalProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", holding_proxy.url)
    party = PartyConnection(
        "127.0.0.1:7443",
        "alice",
        PartyCredentials(insecure=True),
        heartbeat_interval=0.2,
        backoff=FAST,
    )
    with pytest.raises(CoordinatorUnreachable) as raised:
        party.run()
    said = str(raised.value)
    assert f"no answer within 1s through the HTTP proxy {holding_proxy.url}" in said
    assert "is it running" not in said


def test_a_party_told_no_proxy_dials_its_coordinator_directly_past_the_environments_proxy(
    holding_proxy: LocalProxy, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", holding_proxy.url)
    credentials = party_credentials(
        "alice", certs, None, None, False, server_name="coordinator.internal", no_proxy=True
    )
    security = HubSecurity.from_directory(certs, parties=["alice"])
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2) as hub:
        party = PartyConnection(hub.address, "alice", credentials, backoff=FAST).start()
        try:
            party.wait_connected(10)
            assert party.connected and party.proxy is None
        finally:
            party.close()
    assert holding_proxy.requests == []


def test_a_host_name_that_does_not_resolve_is_named_as_such() -> None:
    address = "coordinator.rengo-test.invalid:7443"
    party = PartyConnection(address, "alice", PartyCredentials(insecure=True), backoff=FAST)
    with pytest.raises(CoordinatorUnreachable) as raised:
        party.run()
    assert (
        f"no coordinator at {address} for 1.5s: its host name 'coordinator.rengo-test.invalid' "
        "does not resolve: check the spelling and this machine's DNS"
    ) in str(raised.value)


@pytest.mark.timeout(60)
def test_a_port_where_nothing_answers_is_named_as_such() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never speaks
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        party = PartyConnection(
            address, "alice", PartyCredentials(insecure=True), heartbeat_interval=0.2, backoff=FAST
        )
        with pytest.raises(CoordinatorUnreachable) as raised:
            party.run()
    assert "nothing answered within 1s: is a rengo coordinator listening there" in str(raised.value)


def test_a_plain_http_server_on_the_port_is_not_taken_for_an_insecure_coordinator(
    certs: Path,
) -> None:
    import http.server

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_port}"
    credentials = party_credentials("alice", certs, None, None, False)
    try:
        with pytest.raises(HandshakeError) as raised:
            PartyConnection(address, "alice", credentials, backoff=FAST).run()
    finally:
        server.shutdown()
        server.server_close()
    said = " ".join(str(raised.value).split())
    assert f"the server at {address} does not speak TLS but this party does" in said
    assert "or not a rengo coordinator at all (is the port right?)" in said


@pytest.mark.timeout(60)
def test_a_proxy_that_inspects_tls_is_named_beside_the_certificate_it_showed(
    certs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corporate = init_certificates(tmp_path / "corporate", ["x"], hosts=["127.0.0.1"])
    proxy = LocalProxy(None, inspecting=(corporate.server_cert, corporate.server_key))
    monkeypatch.setenv("https_proxy", proxy.url)
    security = HubSecurity.from_directory(certs, parties=["alice"])
    credentials = party_credentials(
        "alice", certs, None, None, False, server_name="coordinator.internal"
    )
    try:
        with GrpcHub("127.0.0.1:0", security) as hub:
            party = PartyConnection(hub.address, "alice", credentials, backoff=FAST)
            with pytest.raises(HandshakeError) as raised:
                party.run()
    finally:
        proxy.close()
    said = " ".join(str(raised.value).split())
    assert "this party does not trust the coordinator's certificate" in said
    assert f"or the HTTP proxy {proxy.url} (from $https_proxy), which this party dials" in said
    assert "inspects TLS and shows its own certificate: set no_proxy=HOST or pass --no-proxy" in (
        said
    )


def test_a_plain_http_server_answering_a_plain_text_party_is_named_as_not_grpc() -> None:
    import http.server

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_port}"
    party = PartyConnection(address, "alice", PartyCredentials(insecure=True), backoff=FAST)
    try:
        with pytest.raises(CoordinatorUnreachable) as raised:
            party.run()
    finally:
        server.shutdown()
        server.server_close()
    assert (
        f"no coordinator at {address} for 1.5s: the server there does not speak gRPC (HTTP/2): "
        "not a rengo coordinator (is the port right?)"
    ) in str(raised.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("user", ["", "bank%40ops:s3cret@"])
def test_a_certificate_refused_behind_a_proxy_is_diagnosed_through_the_proxy(
    user: str, certs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A party whose certificate the coordinator does not trust, dialling it through its
    HTTP proxy by a name only the proxy resolves: gRPC says only "Socket closed", and the
    handshake the party then makes itself to say why dialled the coordinator directly, found
    nothing and the party retried until it gave up, naming no reason."""
    other = init_certificates(tmp_path / "other-federation", ["alice"])
    credentials = PartyCredentials(
        ca_cert=(certs / "ca.pem").read_bytes(),  # it trusts the coordinator...
        cert=other.parties["alice"][0].read_bytes(),  # ...which does not trust it
        key=other.parties["alice"][1].read_bytes(),
    )
    security = HubSecurity.from_directory(certs, parties=["alice"])
    with GrpcHub("127.0.0.1:0", security) as hub:
        port = hub.address.rpartition(":")[2]
        proxy = ForwardingProxy({"coordinator.internal": "127.0.0.1"})
        monkeypatch.setenv("https_proxy", proxy.url.replace("http://", f"http://{user}"))
        address = f"coordinator.internal:{port}"
        party = PartyConnection(address, "alice", credentials, backoff=FAST)
        try:
            with pytest.raises(HandshakeError) as raised:
                party.run()
        finally:
            proxy.close()
    said = " ".join(str(raised.value).split())
    assert f"the coordinator at {address} refused this party's certificate" in said
    assert proxy.requests[0] == f"CONNECT {address} HTTP/1.1".encode()
    assert len(proxy.requests) >= 2  # gRPC's tunnel, then the probe's own
    if user:  # the probe signs in to the proxy as gRPC does (Basic, the URL's user)
        assert b"Proxy-Authorization: Basic YmFua0BvcHM6czNjcmV0\r\n" in proxy.heads[-1]

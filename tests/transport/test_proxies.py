"""The proxy route a party announces (:func:`rengo.transport.proxies.grpc_proxy_route`) is
the one gRPC takes: checked against gRPC itself, with a real proxy on loopback that records
each ``CONNECT``."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import grpc
import pytest

from rengo.transport.proxies import ProxyRoute, grpc_proxy_route

from .local_proxy import PROXY_VARIABLES, LocalProxy


@pytest.fixture
def refusing_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalProxy]:
    for name in (*PROXY_VARIABLES, "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    proxy = LocalProxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    yield proxy
    proxy.close()


def reached_through(proxy: LocalProxy) -> bool:
    """Whether a gRPC channel made now to a listening loopback port goes through ``proxy``."""
    with socket.create_server(("127.0.0.1", 0)) as target:
        address = f"127.0.0.1:{target.getsockname()[1]}"
        with (
            grpc.insecure_channel(address) as channel,
            contextlib.suppress(grpc.FutureTimeoutError),
        ):
            grpc.channel_ready_future(channel).result(timeout=1.0)
    return any(address.encode() in line for line in proxy.requests)


@pytest.mark.parametrize(
    ("variables", "proxied"),
    [
        ({"https_proxy": "PROXY"}, True),
        ({"http_proxy": "PROXY"}, True),
        ({"grpc_proxy": "PROXY", "https_proxy": "http://127.0.0.1:1"}, True),
        ({"https_proxy": "PROXY", "no_proxy": "localhost,127.0.0.1"}, False),
        ({"https_proxy": "PROXY", "no_proxy": "127.0.0.0/8"}, False),
        ({"https_proxy": "PROXY", "no_proxy": "10.0.0.0/8,example.org"}, True),
        ({"https_proxy": "PROXY", "no_proxy": "*"}, True),
        ({"https_proxy": "PROXY", "no_proxy": "x", "no_grpc_proxy": "127.0.0.1"}, False),
        ({"https_proxy": ""}, False),
        ({"HTTPS_PROXY": "PROXY"}, False),
    ],
)
def test_the_route_a_party_announces_is_the_one_grpc_takes(
    variables: dict[str, str],
    proxied: bool,
    refusing_proxy: LocalProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {name: value.replace("PROXY", refusing_proxy.url) for name, value in variables.items()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert reached_through(refusing_proxy) is proxied
    assert (grpc_proxy_route("127.0.0.1", env) is not None) is proxied


def test_a_proxy_url_is_named_without_its_user_and_password() -> None:
    route = ProxyRoute("http://me:s3cret@proxy.corp:3128", "https_proxy")
    assert route.described() == "the HTTP proxy http://proxy.corp:3128 (from $https_proxy)"

"""The options of ``rengo party`` and ``rengo vfl party`` that say how to dial the
coordinator: past an HTTP proxy the environment names (``--no-proxy``), and which host
name its certificate must name when it is not the host dialled (``--server-name``).

gRPC tunnels a party's connection through the proxy in ``grpc_proxy``, ``https_proxy`` or
``http_proxy`` unless ``no_grpc_proxy``/``no_proxy`` lists the host (see
:mod:`rengo.transport.proxies`): a party whose ``https_proxy`` is set for pip dials a
coordinator on its LAN through that proxy, so the party's first line says so.
"""

from __future__ import annotations

from typing import Annotated

import typer

NoProxyOption = Annotated[
    bool,
    typer.Option(
        "--no-proxy",
        help="Dial the coordinator directly, never through the HTTP proxy that grpc_proxy, "
        "https_proxy or http_proxy names (else it is used unless no_proxy lists the host).",
    ),
]

ServerNameOption = Annotated[
    str | None,
    typer.Option(
        help="The host name the coordinator's certificate must name, when it differs from "
        "the host of --coordinator (an IP address, a name behind NAT or a tunnel).",
    ),
]


def dialling_note(coordinator: str, use_http_proxy: bool) -> str:
    """`` through the HTTP proxy http://proxy:3128 (from $https_proxy; ...)`` when gRPC
    will dial ``coordinator`` (``HOST:PORT``) through a proxy, else ``""``: for the party's
    first line, so that a proxy in its way is never silent.

    Raises
    ------
    ConfigError
        If ``coordinator`` is not ``HOST:PORT``.
    """
    from rengo.transport.addresses import host_port
    from rengo.transport.proxies import grpc_proxy_route

    host, _ = host_port(coordinator, "--coordinator", "coordinator.example.org:7443", 1)
    route = grpc_proxy_route(host) if use_http_proxy else None
    if route is None:
        return ""
    return f" through {route.described()}; set no_proxy=HOST or pass --no-proxy to dial it directly"

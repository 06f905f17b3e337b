"""Which HTTP proxy gRPC dials a coordinator through, read from the environment by gRPC's
own rules, so that a party can say so instead of hanging silently behind it.

gRPC (core, as grpcio 1.66 to 1.85 ship it) tunnels every channel through an HTTP
``CONNECT`` proxy when the environment names one: the first of ``grpc_proxy``,
``https_proxy`` and ``http_proxy`` that is set (lower case only; an empty value: no proxy;
only ``http://`` proxies), unless the host dialled is listed in ``no_grpc_proxy`` (else
``no_proxy``): each comma-separated entry matches a host name that ends with it (case
ignored), or an IP address inside it written as a CIDR range (``10.0.0.0/8``). A ``*``
entry matches nothing. A party whose ``https_proxy`` is set for pip therefore dials even a
coordinator on its own LAN (or on 127.0.0.1) through that proxy.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy")
"""The environment variables gRPC reads the proxy from, first set first."""
BYPASS_VARIABLES = ("no_grpc_proxy", "no_proxy")
"""The environment variables gRPC reads the hosts to dial directly from, first set first."""


@dataclass(frozen=True)
class ProxyRoute:
    """An HTTP proxy a channel goes through: its URL and the variable that named it."""

    url: str
    variable: str

    def described(self) -> str:
        """``the HTTP proxy http://proxy:3128 (from $https_proxy)``, for messages: without
        the user and password a URL may carry (``http://user:secret@proxy:3128``)."""
        scheme, _, rest = self.url.partition("://")
        authority, slash, path = rest.partition("/")
        shown = authority.rpartition("@")[2]
        return f"the HTTP proxy {scheme}://{shown}{slash}{path} (from ${self.variable})"


def grpc_proxy_route(host: str, environ: Mapping[str, str] | None = None) -> ProxyRoute | None:
    """The HTTP proxy gRPC dials ``host`` through, or None when it dials it directly.

    Parameters
    ----------
    host
        The host dialled, as in ``HOST:PORT`` (an IPv6 address without its brackets).
    environ
        The environment (default: this process's).

    Returns
    -------
    ProxyRoute or None
        The proxy by gRPC's rules (see the module docstring).
    """
    env = os.environ if environ is None else environ
    variable = next((name for name in PROXY_VARIABLES if name in env), None)
    if variable is None or not env[variable] or not env[variable].startswith("http://"):
        return None
    bypass = next((env[name] for name in BYPASS_VARIABLES if name in env), None)
    if bypass is not None and _listed(host, bypass):
        return None
    return ProxyRoute(env[variable], variable)


def _listed(host: str, entries: str) -> bool:
    """Whether ``host`` matches an entry of a ``no_proxy`` list: a name it ends with, or a
    CIDR range holding it (gRPC's ``AddressIncluded``)."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in entries.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if host.lower().endswith(entry.lower()):
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False

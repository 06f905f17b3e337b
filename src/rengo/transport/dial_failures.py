"""Why a party could not reach its coordinator, from gRPC's details, as what to check.

gRPC reports a name that does not resolve, a closed port, a proxy that refuses the tunnel
and a proxy that never answers alike as ``UNAVAILABLE`` (or, for the last, a call the party
cancels). A party retries them - the coordinator may not be up yet - except a proxy's
refusal by its rules or for credentials (:func:`refused_for_good`), and says which it is,
so that an operator behind a proxy or with a mistyped name sees it in the first line
instead of "is it running?" after ten minutes.
"""

from __future__ import annotations

import re

from rengo.transport.proxies import ProxyRoute

_PROXY_STATUS = re.compile(r"http proxy returned response code (\d+)")
_UNRESOLVED = re.compile(r"(?:errors resolving|dns resolution failed for) \[?([^\s:\]]+)")
_DIRECT = "set no_proxy (or no_grpc_proxy) to this host, or pass --no-proxy, to dial it directly"


def why_unreachable(host: str, details: str, proxy: ProxyRoute | None) -> str:
    """What gRPC's ``details`` of a failed dial to ``host`` mean, and what to check.

    Parameters
    ----------
    host
        The coordinator's host as dialled.
    details
        gRPC's error details (``"failed to connect to all addresses; ..."``).
    proxy
        The HTTP proxy the party dials through, if any.

    Returns
    -------
    str
        A phrase such as ``its host name does not resolve: check the spelling and this
        machine's DNS, or give the coordinator's IP address``.
    """
    text = details.lower()
    via = f" through {proxy.described()}" if proxy is not None else ""
    refused = _PROXY_STATUS.search(text)
    if refused is not None and proxy is not None and refused.group(1) == "407":
        return (
            f"{proxy.described()} asks for credentials (HTTP 407): give them in its URL "
            f"(http://USER:PASSWORD@HOST:PORT, sent as Basic authentication), or {_DIRECT}"
        )
    if refused is not None and proxy is not None:
        return (
            f"{proxy.described()} refused to open a tunnel to it (HTTP {refused.group(1)}): "
            f"ask the proxy's operator to allow CONNECT to this host and port, or {_DIRECT}"
        )
    unresolved = _UNRESOLVED.search(text)
    if unresolved is not None:
        name = unresolved.group(1)
        if proxy is not None and name != host.lower():
            return f"the proxy's host name {name!r} does not resolve: check {proxy.described()}"
        return (
            f"its host name {host!r} does not resolve: check the spelling and this machine's "
            "DNS, or give the coordinator's IP address"
        )
    if "connection refused" in text:
        if proxy is not None:
            return f"{proxy.described()} refused the connection: is it running? Or {_DIRECT}"
        return (
            "nothing listens on that port (connection refused): is the coordinator running, "
            "and is the port the one it listens on?"
        )
    if "failed parsing http/2" in text or "expected settings frame" in text:
        return (
            f"the server there{via} does not speak gRPC (HTTP/2): not a rengo coordinator "
            "(is the port right?), or a load balancer in front of it that does not pass gRPC"
        )
    if "timed out" in text or "timeout" in text or "deadline" in text:
        return f"no answer{via} (timed out): a firewall may drop the packets"
    if "network is unreachable" in text or "no route to host" in text:
        return f"no route to it{via}: check this machine's network (IPv6 or IPv4 only?)"
    return f"{details.strip()[:200] or 'no details'}{via}"


def refused_for_good(details: str) -> bool:
    """Whether gRPC's ``details`` say an HTTP proxy refused the tunnel by its rules (403
    Forbidden) or for want of credentials (407): retrying the same way cannot mend either,
    unlike a proxy that cannot reach the coordinator yet (502, 503)."""
    refused = _PROXY_STATUS.search(details.lower())
    return refused is not None and refused.group(1) in ("403", "407")


def no_answer(proxy: ProxyRoute | None, waited: float) -> str:
    """Why a connection that opened but heard nothing for ``waited`` seconds was given up:
    a proxy that accepted the tunnel's request but never answered it, a firewall that
    swallows the packets, or a server there that is not a rengo coordinator."""
    if proxy is not None:
        return (
            f"no answer within {waited:g}s through {proxy.described()}: the proxy may hold "
            f"the tunnel without opening it; {_DIRECT}"
        )
    return (
        f"nothing answered within {waited:g}s: is a rengo coordinator listening there, "
        "or does a firewall hold the connection?"
    )

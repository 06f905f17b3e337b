"""``HOST:PORT`` addresses, parsed by one rule wherever a command takes one: the hub's
``--listen``, a party's ``--coordinator`` and the dashboard's ``--ui``."""

from __future__ import annotations

from rengo.core.errors import ConfigError


def host_port(
    text: str, what: str, example: str, lowest_port: int = 0, default_host: str | None = None
) -> tuple[str, int]:
    """The host and port of ``HOST:PORT`` (an IPv6 host in brackets: ``[::1]:7443``).

    Parameters
    ----------
    text
        The address as given.
    what
        What it is, for the error (``"listen address"``).
    example
        A valid address of its kind, for the error.
    lowest_port
        The smallest port accepted (0: the system picks one; a party dials 1 or above).
    default_host
        The host of an address that names none (``":8080"``); None: a host is required.

    Raises
    ------
    ConfigError
        If it is not ``HOST:PORT`` with a port in ``lowest_port``..65535 (a URL with a
        scheme, an IPv6 host without its port), an IPv6 host is not in brackets, or the
        host holds a space, ``/``, ``@`` or a bracket.
    """
    raw = text.strip()
    malformed = ConfigError(
        f"{what} {text!r} must be HOST:PORT with a port {lowest_port}-65535, e.g. {example}"
    )
    if "://" in raw:
        raise ConfigError(f"{what} {text!r}: give HOST:PORT without a scheme, e.g. {example}")
    if raw.startswith("[") and raw.endswith("]"):  # an IPv6 host without its port
        raise malformed
    host, sep, port = raw.rpartition(":")
    if not host and sep and default_host is not None:
        host = default_host
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"{what} {text!r}: write an IPv6 host in brackets, e.g. [::1]:7443")
    if not sep or not host or not port.isdigit() or not lowest_port <= int(port) <= 65535:
        raise malformed
    if any(char.isspace() or char in "/[]@" for char in host):
        raise ConfigError(
            f"{what} {text!r}: {host!r} is not a host name or an IP address, e.g. {example}"
        )
    return host, int(port)

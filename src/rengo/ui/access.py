"""Who may see the dashboard: where it listens, and what a non-loopback listener requires.

The dashboard shows who is in a federation and what they will be paid, so it is private by
default: it binds to 127.0.0.1, and any other address needs a token (sent as
``Authorization: Bearer ...``, or once as ``?token=...`` which becomes a cookie) or the
deployment's TLS material, with which it serves HTTPS and accepts only browsers presenting a
client certificate signed by the federation's CA. Either way it is read-only.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from rengo.core.errors import ConfigError
from rengo.transport.addresses import host_port
from rengo.transport.tokens import MAKE_A_TOKEN, MIN_TOKEN_CHARS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TOKEN_ENV = "RENGO_UI_TOKEN"
"""Environment variable the CLI reads a token from (keeps it out of ``ps`` listings)."""
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9._~-]+")
"""What a dashboard token may hold: what a cookie value and an address carry unchanged."""


@dataclass(frozen=True)
class Listen:
    """A host and port to serve on (port 0: any free port)."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """True if only this machine can connect."""
        return is_loopback(self.host)

    @property
    def address(self) -> str:
        """``HOST:PORT`` as given to a socket (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, scheme: str = "http", port: int | None = None) -> str:
        """The address a browser on this machine would open."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{scheme}://{Listen(host, self.port if port is None else port).address}/"


def parse_listen(text: str) -> Listen:
    """``":8080"``, ``"8080"``, ``"127.0.0.1:8080"``, ``"0.0.0.0:8080"``, ``"[::1]:8080"``
    or ``"localhost:8080"`` to a :class:`Listen` (the host defaults to 127.0.0.1).

    Raises
    ------
    ConfigError
        Not ``HOST:PORT`` with a port in 0..65535.
    """
    raw = f":{text.strip()}" if text.strip().isdigit() else text  # a bare port
    return Listen(*host_port(raw, "listen address", "127.0.0.1:8080", default_host=DEFAULT_HOST))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TlsFiles:
    """HTTPS for the dashboard with the deployment's certificates: the server's own pair, and
    the CA whose client certificates are required."""

    certfile: Path
    keyfile: Path
    client_ca: Path
    revocations: Path | None = None
    """The CA's revocation list (``revoked.crl``; it may not exist yet): certificates it
    lists are refused, as the coordinator refuses them."""

    @classmethod
    def from_certs_dir(cls, directory: str | os.PathLike[str]) -> TlsFiles:
        """The coordinator's pair, the CA and its revocation list from a folder made by
        ``rengo certs init``."""
        from rengo.transport.certs import REVOKED_FILE

        root = Path(directory)
        files = cls(
            root / "coordinator.pem",
            root / "coordinator.key",
            root / "ca.pem",
            root / REVOKED_FILE,
        )
        missing = [
            str(p) for p in (files.certfile, files.keyfile, files.client_ca) if not p.is_file()
        ]
        if missing:
            raise ConfigError(
                f"{root} is not a certificate folder from `rengo certs init`: missing {missing}"
            )
        return files


def check_exposure(listen: Listen, token: str | None, tls: TlsFiles | None) -> None:
    """Refuse to serve beyond this machine without a token or client certificates.

    Raises
    ------
    ConfigError
        A non-loopback address with neither, or a token too short to be a secret.
    """
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the dashboard token must have at least {MIN_TOKEN_CHARS} characters; {MAKE_A_TOKEN}"
        )
    if token is not None and not TOKEN_CHARACTERS.fullmatch(token):
        # a browser carries the token in a cookie and an address: a space, ';', a quote or
        # a non-ASCII letter did not survive either, so such a token could never log in
        raise ConfigError(
            f"the dashboard token may hold only ASCII letters, digits and . _ ~ -; {MAKE_A_TOKEN}"
        )
    if listen.loopback or token is not None or tls is not None:
        return
    raise ConfigError(
        f"the dashboard would be reachable from other machines on {listen.host}: give it a "
        f"token (--token or ${TOKEN_ENV}) or TLS client certificates (--certs DIR), or listen "
        "on 127.0.0.1 and reach it through an SSH tunnel"
    )


def new_token() -> str:
    """A fresh random token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def token_matches(offered: str | None, token: str) -> bool:
    """Constant-time comparison, so timing does not leak how much of a guess was right."""
    return offered is not None and hmac.compare_digest(offered.encode(), token.encode())

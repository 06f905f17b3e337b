"""Why a party cannot set up TLS with the coordinator - said once, plainly, instead of
minutes of ``UNAVAILABLE`` retries.

gRPC reports every failed connection as ``UNAVAILABLE``, whether the coordinator is not up
yet (worth retrying) or the two sides can never agree: a certificate from another
federation's CA, one side in plain text (``--insecure``) and the other on TLS, or a
coordinator certificate that does not list the host name the party dials. From the
party's side some of these are plain in gRPC's details (``WRONG_VERSION_NUMBER``: TLS
spoken to a plain-text server, a coordinator started with ``--insecure`` or another
service; ``CERTIFICATE_VERIFY_FAILED``: the coordinator's
certificate is not from this party's CA; "Hostname Verification Check failed": its
certificate is not for this address, see ``rengo certs init --hosts``); the others end
in a bare "Socket closed", and :func:`diagnose_handshake` then makes one TLS handshake of
its own with Python's ``ssl`` to find out which. It returns a sentence naming the side and
the fix, or None when it cannot tell (then the party keeps retrying: the coordinator may
simply be restarting).

``CERTIFICATE_VERIFY_FAILED`` is also what a party whose clock disagrees with the machine
that issued the certificates sees: a fresh certificate is "not yet valid" to a clock behind
the issuer's, an old one expired to a clock far ahead. Before blaming another federation's
CA, the party reads the coordinator's certificate (unverified) and says so, naming both times.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
import ssl
import tempfile
import urllib.parse
from pathlib import Path

from cryptography import x509

from rengo.transport.certs import issued_by, outside_validity, utc_text
from rengo.transport.grpc_security import PartyCredentials
from rengo.transport.proxies import ProxyRoute

_PROBE_TIMEOUT_S = 3.0
_MAX_PROXY_REPLY = 64 * 1024  # a proxy's answer to CONNECT: status line and headers
_CLOSED = "the connection was closed right after the TLS handshake"
_REFUSED_CERTIFICATE = (
    "unknown ca",
    "bad certificate",
    "certificate unknown",
    "unsupported certificate",
    "certificate required",
    "decrypt error",
    "access denied",
)


def _names_other_host(text: str) -> bool:
    """Whether gRPC's (lower-cased) details say the coordinator's certificate does not list
    the host name the party dialled: older gRPC says "peer name ... is not in peer
    certificate", grpcio 1.60+ "Hostname Verification Check failed"."""
    return ("peer name" in text and "not in peer certificate" in text) or (
        "hostname verification check failed" in text
    )


def diagnose_handshake(
    address: str, credentials: PartyCredentials, details: str, proxy: ProxyRoute | None = None
) -> str | None:
    """Why TLS between this party and the coordinator at ``address`` fails, or None.

    Parameters
    ----------
    address
        The coordinator's ``HOST:PORT``.
    credentials
        This party's credentials (its mode: mTLS, token over TLS, or plain text).
    details
        gRPC's error details of the failed connection.
    proxy
        The HTTP proxy the party dials the coordinator through
        (:func:`~rengo.transport.proxies.grpc_proxy_route`): the probe's own handshake goes
        through its ``CONNECT`` tunnel too, as gRPC's does (a party whose network lets it
        out only through the proxy, or that names the coordinator by a name only the proxy
        resolves, would otherwise probe nothing).

    Returns
    -------
    str or None
        A sentence saying which side's certificate or mode is wrong and how to fix it, or
        None when this is not (or not clearly) a TLS mismatch.
    """
    text = details.lower()
    if "wrong_version_number" in text or "wrong version number" in text:
        return (
            f"the server at {address} does not speak TLS but this party does: a coordinator "
            "started with --insecure (start both with TLS certificates, or both with "
            "--insecure), or not a rengo coordinator at all (is the port right?)"
        )
    if "certificate_verify_failed" in text or "certificate verify failed" in text:
        clock = _clock_problem(address, credentials, proxy)
        if clock is not None:
            return clock
        return (
            f"this party does not trust the coordinator's certificate at {address}: its "
            "ca.pem is not the CA that signed the coordinator's certificate (certificates "
            "from another federation?); use the ca.pem of the coordinator's federation"
        )
    if _names_other_host(text):
        return (
            f"the coordinator's certificate is not valid for the address {address}: make its "
            "certificate with that host name (rengo certs init --hosts ...), connect "
            "through a name it lists, or name the one to expect (rengo party --server-name)"
        )
    if not any(sign in text for sign in ("socket closed", "handshake", "connection reset", "eof")):
        return None
    if credentials.insecure:
        if _speaks_tls(address, proxy):
            return (
                f"the coordinator at {address} uses TLS but this party runs with --insecure "
                "(plain text): give the party its certificates (--certs DIR), or start the "
                "coordinator with --insecure too (testing only)"
            )
        return None
    alert = _client_certificate_alert(address, credentials, proxy)
    if alert is not None and alert == _CLOSED:  # twice, so a restart in between is no verdict
        alert = _client_certificate_alert(address, credentials, proxy)
    if alert is None:
        return None
    if credentials.token is not None:
        return (
            f"the coordinator at {address} requires a client certificate (mTLS) but this "
            f"party uses a token ({alert}): give the party its certificates (--certs DIR), or "
            "start the coordinator with --tokens"
        )
    return (
        f"the coordinator at {address} refused this party's certificate ({alert}): it was "
        "not issued by the federation CA the coordinator trusts (get one from the "
        f"coordinator's operator: rengo certs add DIR NAME){_own_validity(credentials)}"
    )


def _clock_problem(
    address: str, credentials: PartyCredentials, proxy: ProxyRoute | None
) -> str | None:
    """Why this party's clock refuses a certificate of its own federation: its CA's, or the
    coordinator's (fetched unverified, and judged only when the party's CA issued it)."""
    if credentials.ca_cert is None:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    try:
        ca = x509.load_pem_x509_certificate(credentials.ca_cert)
    except ValueError:
        return None
    problem = outside_validity(ca, "this party's CA certificate (ca.pem)", now)
    if problem is not None:
        return problem
    presented = _coordinator_certificate(address, proxy)
    if presented is None or not issued_by(presented, ca):
        return None
    return outside_validity(presented, f"the coordinator's certificate at {address}", now)


def _coordinator_certificate(address: str, proxy: ProxyRoute | None) -> x509.Certificate | None:
    """The certificate the server at ``address`` presents, unverified (None if none)."""
    try:
        der = _unverified_peer(address, proxy)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return None
    return None if der is None else x509.load_der_x509_certificate(der)


def _unverified_peer(address: str, proxy: ProxyRoute | None) -> bytes | None:
    """One TLS handshake with the server at ``address``, its certificate unchecked: the
    certificate it presents (DER), or None. Raises OSError (``ssl.SSLError`` among them) or
    ValueError when there is no handshake."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    raw, host = _connect(address, proxy)
    with raw, context.wrap_socket(raw, server_hostname=host) as tls:
        return tls.getpeercert(binary_form=True)


def _own_validity(credentials: PartyCredentials) -> str:
    """``, or the coordinator's clock lies outside ...``: the other reason a coordinator of
    this party's own federation refuses its certificate (its clock behind the machine that
    issued it, or past its end), with the dates to compare the coordinator's clock with."""
    if credentials.cert is None:
        return ""
    try:
        cert = x509.load_pem_x509_certificate(credentials.cert)
    except ValueError:
        return ""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return (
        f", or the coordinator's clock lies outside this certificate's validity "
        f"({utc_text(start)} to {utc_text(end)}): check the coordinator machine's clock"
    )


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "localhost", int(port)


def _connect(address: str, proxy: ProxyRoute | None) -> tuple[socket.socket, str]:
    """A TCP connection to the server at ``address``, as gRPC makes it: directly, or
    through ``proxy``'s HTTP ``CONNECT`` tunnel (with Basic credentials when its URL has a
    user, as gRPC sends them); and the host dialled, for TLS's server name. Raises OSError
    when there is none (the proxy's refusal among them) or ValueError for an address or
    proxy URL without a port."""
    host, port = _host_port(address)
    if proxy is None:
        return socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S), host
    url = urllib.parse.urlsplit(proxy.url)
    raw = socket.create_connection((url.hostname or "", url.port or 80), timeout=_PROBE_TIMEOUT_S)
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if url.username is not None:
            user = (
                f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
            )
            request += f"Proxy-Authorization: Basic {base64.b64encode(user.encode()).decode()}\r\n"
        raw.sendall(f"{request}\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = raw.recv(4096)
            if not chunk or len(reply) > _MAX_PROXY_REPLY:
                raise OSError("the proxy closed the tunnel or answered without end")
            reply += chunk
        status = reply.split(b"\r\n", 1)[0].split()
        if len(status) < 2 or status[1] != b"200":
            raise OSError(
                f"the proxy refused the tunnel: {b' '.join(status[1:]).decode(errors='replace')}"
            )
    except BaseException:
        raw.close()
        raise
    return raw, host


def _speaks_tls(address: str, proxy: ProxyRoute | None) -> bool:
    """Whether the server at ``address`` completes a TLS handshake (certificate unchecked)."""
    try:
        _unverified_peer(address, proxy)
        return True
    except ssl.SSLError as exc:
        # A TLS alert (no certificate given, say) means the server speaks TLS.
        return "alert" in str(exc).lower()
    except (OSError, ValueError):
        return False


def _client_certificate_alert(
    address: str, credentials: PartyCredentials, proxy: ProxyRoute | None
) -> str | None:
    """The TLS alert the server sends after seeing this party's certificate (or its lack),
    e.g. ``"tlsv1 alert unknown ca"``; None if it accepted it or could not be reached."""
    context = ssl.create_default_context(
        cadata=credentials.ca_cert.decode() if credentials.ca_cert else None
    )
    context.check_hostname = False
    context.set_alpn_protocols(["h2"])
    with tempfile.TemporaryDirectory(prefix="rengo-probe-") as folder:
        if credentials.cert is not None and credentials.key is not None:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_bytes(credentials.cert)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(credentials.key)
            context.load_cert_chain(cert, key)
        try:
            raw, host = _connect(address, proxy)
            with raw, context.wrap_socket(raw, server_hostname=host) as tls:
                # In TLS 1.3 the server judges the client's certificate after the handshake:
                # an accepted party gets HTTP/2 settings, a refused one an alert or EOF.
                tls.settimeout(_PROBE_TIMEOUT_S)
                if tls.recv(1) == b"":
                    return _CLOSED
        except ssl.SSLError as exc:
            message = str(exc).lower()
            found = next((sign for sign in _REFUSED_CERTIFICATE if sign in message), None)
            return None if found is None else f"TLS alert: {found}"
        except (OSError, ValueError):
            return None
    return None

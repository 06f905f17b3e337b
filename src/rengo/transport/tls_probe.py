"""Why a party cannot set up TLS with the coordinator - said once, plainly, instead of
minutes of ``UNAVAILABLE`` retries.

gRPC reports every failed connection as ``UNAVAILABLE``, whether the coordinator is not up
yet (worth retrying) or the two sides can never agree: a certificate from another
federation's CA, one side in plain text (``--insecure``) and the other on TLS, or a
coordinator certificate that does not list the host name the party dials. From the
party's side some of these are plain in gRPC's details (``WRONG_VERSION_NUMBER``: TLS
spoken to a plain-text server; ``CERTIFICATE_VERIFY_FAILED``: the coordinator's
certificate is not from this party's CA; "Hostname Verification Check failed": its
certificate is not for this address, see ``rengo certs init --hosts``); the others end
in a bare "Socket closed", and :func:`diagnose_handshake` then makes one TLS handshake of
its own with Python's ``ssl`` to find out which. It returns a sentence naming the side and
the fix, or None when it cannot tell (then the party keeps retrying: the coordinator may
simply be restarting).
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from pathlib import Path

from rengo.transport.grpc_security import PartyCredentials

_PROBE_TIMEOUT_S = 3.0
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


def diagnose_handshake(address: str, credentials: PartyCredentials, details: str) -> str | None:
    """Why TLS between this party and the coordinator at ``address`` fails, or None.

    Parameters
    ----------
    address
        The coordinator's ``HOST:PORT``.
    credentials
        This party's credentials (its mode: mTLS, token over TLS, or plain text).
    details
        gRPC's error details of the failed connection.

    Returns
    -------
    str or None
        A sentence saying which side's certificate or mode is wrong and how to fix it, or
        None when this is not (or not clearly) a TLS mismatch.
    """
    text = details.lower()
    if "wrong_version_number" in text or "wrong version number" in text:
        return (
            f"the coordinator at {address} does not use TLS (it was started with --insecure) "
            "but this party does: start both with TLS certificates, or both with --insecure"
        )
    if "certificate_verify_failed" in text or "certificate verify failed" in text:
        return (
            f"this party does not trust the coordinator's certificate at {address}: its "
            "ca.pem is not the CA that signed the coordinator's certificate (certificates "
            "from another federation?); use the ca.pem of the coordinator's federation"
        )
    if _names_other_host(text):
        return (
            f"the coordinator's certificate is not valid for the address {address}: make its "
            "certificate with that host name (rengo certs init --hosts ...) or connect "
            "through a name it lists"
        )
    if not any(sign in text for sign in ("socket closed", "handshake", "connection reset", "eof")):
        return None
    if credentials.insecure:
        if _speaks_tls(address):
            return (
                f"the coordinator at {address} uses TLS but this party runs with --insecure "
                "(plain text): give the party its certificates (--certs DIR), or start the "
                "coordinator with --insecure too (testing only)"
            )
        return None
    alert = _client_certificate_alert(address, credentials)
    if alert is not None and alert == _CLOSED:  # twice, so a restart in between is no verdict
        alert = _client_certificate_alert(address, credentials)
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
        "not issued by the federation CA the coordinator trusts; get one from the "
        "coordinator's operator (rengo certs add DIR NAME)"
    )


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "localhost", int(port)


def _speaks_tls(address: str) -> bool:
    """Whether the server at ``address`` completes a TLS handshake (certificate unchecked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        host, port = _host_port(address)
        with (
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except ssl.SSLError as exc:
        # A TLS alert (no certificate given, say) means the server speaks TLS.
        return "alert" in str(exc).lower()
    except (OSError, ValueError):
        return False


def _client_certificate_alert(address: str, credentials: PartyCredentials) -> str | None:
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
            host, port = _host_port(address)
            with (
                socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
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

"""The hub's view of the federation's revoked certificates, kept current while it runs.

A consortium admits parties it does not fully trust, and must be able to take admission
back: the operator runs ``rengo certs revoke DIR NAME`` (:func:`~rengo.transport.certs.
revoke_party`), which writes the CA-signed list ``DIR/revoked.crl``. A hub started from
``DIR`` reads the list when it starts and again whenever the file changes, so a revocation
takes effect without a restart: new connections with a revoked certificate are refused
(:class:`~rengo.transport.grpc_security.HubSecurity`) and a connected party holding one is
dropped at the hub's next liveness check.

A list that cannot be verified at start-up is an error (the operator asked for revocation
and would not get it). One that turns bad while the hub runs (a hand-edited or foreign file)
is logged and the last verified list stays in force: no single edit can admit every revoked
party at once, nor lock every party out.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from cryptography import x509

from rengo.core.errors import ConfigError
from rengo.transport.certs import read_revocation_list

log = logging.getLogger("rengo.transport")


class RevocationList:
    """The serial numbers ``ca_cert`` revoked in the list at ``path``, re-read when the file
    changes (its modification time or size). Thread-safe.

    Parameters
    ----------
    path
        The CRL (``revoked.crl`` in the certificate folder); it may not exist yet.
    ca_cert
        The federation CA's certificate (PEM) that must have issued and signed the list.

    Raises
    ------
    ConfigError
        If the list exists and is not a CRL signed by that CA.
    """

    def __init__(self, path: str | os.PathLike[str], ca_cert: bytes) -> None:
        self.path = Path(path)
        self._ca_pem = ca_cert
        self._lock = threading.Lock()
        self._serials: frozenset[int] = frozenset()
        self._seen: tuple[int, int] | None = None
        self._refused: tuple[int, int] | None = None
        self._load(strict=True)

    def __getstate__(self) -> dict[str, object]:
        """What a process executor copies: the path, the CA and the list as last verified
        (the copy re-reads the file when it changes, as this one does)."""
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return None
        return status.st_mtime_ns, status.st_size

    def _load(self, strict: bool) -> None:
        stamp = self._stamp()
        if stamp == self._seen or (stamp is not None and stamp == self._refused):
            return
        try:
            ca = x509.load_pem_x509_certificate(self._ca_pem)
            serials = frozenset(e.serial_number for e in read_revocation_list(self.path, ca))
        except ConfigError as exc:
            if strict:
                raise
            self._refused = stamp
            log.error("%s; the last verified list stays in force", exc)
            return
        if serials != self._serials:
            log.warning("revocation list %s: %d certificate(s) revoked", self.path, len(serials))
        self._serials, self._seen, self._refused = serials, stamp, None

    @property
    def serials(self) -> frozenset[int]:
        """The revoked serial numbers now (re-reading the file if it changed)."""
        with self._lock:
            self._load(strict=False)
            return self._serials

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial number is revoked now."""
        return serial in self.serials

"""The hub's view of the federation's revoked certificates, kept current while it runs.

A consortium admits parties it does not fully trust, and must be able to take admission
back: the operator runs ``rengo certs revoke DIR NAME`` (:func:`~rengo.transport.certs.
revoke_party`), which writes the CA-signed list ``DIR/revoked.crl``. A hub started from
``DIR`` reads the list when it starts and again whenever the file changes, so a revocation
takes effect without a restart: new connections with a revoked certificate are refused
(:class:`~rengo.transport.grpc_security.HubSecurity`) and a connected party holding one is
dropped at the hub's next liveness check.

A list that cannot be verified at start-up is an error (the operator asked for revocation
and would not get it). One that turns bad while the hub runs (a hand-edited or foreign file,
one removed, or an older list of the same CA put back) is logged and the last verified list
stays in force: no single edit of the file can admit every revoked party at once, nor lock
every party out. Only a newer list signed by the CA changes what is revoked.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from pathlib import Path

from cryptography import x509

from rengo.core.errors import AuthenticationError, ConfigError
from rengo.transport.certs import crl_number, read_crl

log = logging.getLogger("rengo.transport")

REVOKED_NOTE = "was revoked by the federation's operator"
"""How the hub's reason for refusing or dropping a party with a revoked certificate ends (the
run's record of who was revoked is structured, :meth:`rengo.tracking.RunStore.
record_revocation`, never found by this text: a party's own error text may contain it)."""


def revoked_reason(party: str, serial: int) -> str:
    """The one text for a party refused at the handshake or dropped while connected because
    the operator revoked its certificate (what the party is told and the hub's event)."""
    return f"the certificate of party {party!r} (serial {serial:x}) {REVOKED_NOTE}"


class RevokedCertificateError(AuthenticationError):
    """A party presented a certificate on the federation's revocation list: refused, and not
    coming back with it (the hub stops waiting for it).

    Parameters
    ----------
    party
        The party the certificate names.
    serial
        The certificate's serial number.
    """

    def __init__(self, party: str, serial: int) -> None:
        super().__init__(revoked_reason(party, serial))
        self.party = party
        self.serial = serial


_MISSING = (-1, -1)
"""The stamp of a list file that does not exist."""
_UNREADABLE = (-2, -2)
"""The stamp of a list file that cannot be looked at."""


class RevocationList:
    """The certificates the federation's CA revoked, re-read when the file changes.

    The serial numbers ``ca_cert`` revoked in the list at ``path``, re-read when the file
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
        self._seen: tuple[int, int] | None = None  # stamp of the list in force
        self._refused: tuple[int, int] | None = None  # stamp of the last state refused
        self._issued: dt.datetime | None = None  # last_update of the list in force
        self._number = 0  # its CRL number (0: none)
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

    def _stamp(self) -> tuple[int, int]:
        """The file's (modification time, size): :data:`_MISSING` when it does not exist,
        :data:`_UNREADABLE` when it cannot be looked at (permissions, a file in the path)."""
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return _MISSING
        except OSError:
            return _UNREADABLE
        return status.st_mtime_ns, status.st_size

    def _load(self, strict: bool) -> None:
        """Read the list again if the file changed; keep the last verified one (and log
        why, once per change) if the new state cannot be verified or would lift
        revocations without a newer list from the CA."""
        stamp = self._stamp()
        if stamp in (self._seen, self._refused):
            return
        try:
            crl = self._verified(stamp)
        except ConfigError as exc:
            if strict:
                raise
            log.error("%s; the last verified list stays in force", exc)
            self._refused = stamp
            return
        serials = frozenset() if crl is None else frozenset(e.serial_number for e in crl)
        if serials != self._serials:
            log.warning("revocation list %s: %d certificate(s) revoked", self.path, len(serials))
        self._serials, self._seen, self._refused = serials, stamp, None
        self._issued = None if crl is None else crl.last_update_utc
        self._number = crl_number(crl)

    def _verified(self, stamp: tuple[int, int]) -> x509.CertificateRevocationList | None:
        """The list in the file, checked against the CA and against the one in force."""
        if stamp == _UNREADABLE:
            raise ConfigError(f"revocation list {self.path} cannot be looked at")
        crl = read_crl(self.path, x509.load_pem_x509_certificate(self._ca_pem))
        if crl is None and self._issued is not None:
            raise ConfigError(
                f"revocation list {self.path} was removed (a revocation is lifted only by a "
                "newer list from the CA)"
            )
        if crl is not None and self._issued is not None:
            number, serials = crl_number(crl), frozenset(e.serial_number for e in crl)
            older = (
                number < self._number or (number == self._number and serials != self._serials)
                if number and self._number  # numbered lists (rengo certs revoke writes them)
                else crl.last_update_utc < self._issued
            )
            if older:
                raise ConfigError(
                    f"revocation list {self.path} (number {number}, issued "
                    f"{crl.last_update_utc}) is older than the one in force (number "
                    f"{self._number}, issued {self._issued})"
                )
        return crl

    @property
    def serials(self) -> frozenset[int]:
        """The revoked serial numbers now (re-reading the file if it changed)."""
        with self._lock:
            self._load(strict=False)
            return self._serials

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial number is revoked now."""
        return serial in self.serials


def revoked_serials(revocations: RevocationList | None) -> frozenset[int]:
    """The serial numbers ``revocations`` holds now; none without a list."""
    return frozenset() if revocations is None else revocations.serials

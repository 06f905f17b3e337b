"""A federation's certificates: one CA, a server certificate for the coordinator, one client
certificate per party (mTLS identity = the certificate's common name).

``init_certificates(DIR, ["a", "b"])`` writes::

    DIR/ca.pem  DIR/ca.key                      the federation CA (keep ca.key offline)
    DIR/coordinator.pem  DIR/coordinator.key    server cert for localhost / 127.0.0.1
    DIR/parties/<name>.pem  <name>.key          one client cert per party

Keys are ECDSA P-256 (fast to make, supported by gRPC's TLS); private keys are written 0600.

A party that must make its own key (its security team will not take one made by the
operator, and whoever holds a party's key can sign its secure-aggregation messages) asks
for a certificate instead: ``request_certificate(ITS_DIR, "b")`` writes its key and a
signing request, the operator's ``sign_request(DIR, "b.csr")`` issues the certificate, and
only the request and the certificate travel.

``revoke_party(DIR, "b")`` adds party b's certificate to ``DIR/revoked.crl``, an X.509
certificate revocation list signed by the CA (RFC 5280, Section 5); a hub started from
``DIR`` refuses revoked certificates and drops a party whose certificate is revoked while it
is connected (:class:`~rengo.transport.revocation.RevocationList`). ``add_party(DIR, "b")``
issues b a new certificate (a new serial number), which is not revoked.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rengo.core.deprecation import moved_names
from rengo.core.errors import ConfigError
from rengo.core.file_lock import exclusive_lock
from rengo.core.files import write_atomically
from rengo.core.roles import COORDINATOR, validate_party_name

DEFAULT_HOSTS = ("localhost", "127.0.0.1")
REVOKED_FILE = "revoked.crl"
"""The federation's certificate revocation list, next to ``ca.pem``."""
CRL_VALID_DAYS = 825
BACKDATE = dt.timedelta(hours=1)
"""How far before the moment it is made a certificate (or revocation list) is valid from.

Each side checks the other's certificate against its own clock: a party whose clock is
minutes behind the machine that ran ``rengo certs init`` (a hospital VM that drifted, a
laptop never synchronised) refused the fresh coordinator certificate as "not yet valid", and
with a 5-minute backdate a VM 7 minutes behind could not join. An hour covers machines that
keep time badly (not a clock set to another time zone's hours: that is the machine to fix,
and the handshake error then says so)."""


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)  # never in a log or a traceback

    @property
    def common_name(self) -> str:
        """The certificate's subject common name (the party's name)."""
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@dataclass(frozen=True)
class CertificatePaths:
    """Where :func:`init_certificates` wrote a federation's files."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    parties: dict[str, tuple[Path, Path]]


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - BACKDATE, now + dt.timedelta(days=days)


def utc_text(moment: dt.datetime) -> str:
    """``2026-12-06 09:57:02 UTC``: a moment as every machine reads it alike."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(delta: dt.timedelta) -> str:
    """``7 min``, ``2 h 5 min``, ``3 days``: how far apart two clocks are."""
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)} days"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"


def outside_validity(cert: x509.Certificate, whose: str, now: dt.datetime) -> str | None:
    """A sentence naming this machine's clock when ``now`` lies outside ``cert``'s validity
    (``whose`` names the certificate), or None when it lies inside.

    Parameters
    ----------
    cert
        The certificate.
    whose
        What it is, to start the sentence (``"the coordinator's certificate at HOST:PORT"``).
    now
        This machine's time (timezone-aware).

    Returns
    -------
    str or None
        Why the certificate is not valid now and what to fix, or None.
    """
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        return (
            f"{whose} is valid only from {utc_text(start)}, but this machine's clock reads "
            f"{utc_text(now)} ({_span(start - now)} earlier): this machine's clock is behind the "
            "one that issued the certificate; set it right (NTP)"
        )
    if now > end:
        return (
            f"{whose} expired at {utc_text(end)} (this machine's clock reads "
            f"{utc_text(now)}): have the federation's operator issue a new one (rengo certs "
            "init, or rengo certs add DIR NAME for a party), or, if this machine's clock is "
            "ahead, set it right (NTP)"
        )
    return None


def create_ca(common_name: str = "rengo federation CA", valid_days: int = 825) -> KeyPair:
    """A self-signed certificate authority for one federation."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _validity(valid_days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_certificate(
    ca: KeyPair,
    name: str,
    *,
    hosts: Sequence[str] = (),
    server: bool = False,
    valid_days: int = 825,
) -> KeyPair:
    """A certificate signed by ``ca`` with common name ``name``.

    A server certificate lists ``hosts`` (DNS names or IP addresses) as subject alternative
    names; a party (client) certificate carries its name as its only DNS SAN.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _signed_certificate(ca, name, key.public_key(), hosts, server, valid_days)
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


_HOST_NAME = re.compile(
    r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?",
    re.IGNORECASE,
)


def server_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """The subject alternative names of a coordinator's certificate for ``hosts``: an IP
    address (IPv6 with or without brackets, ``[::1]`` or ``::1``) as an IP address, a host
    name as a DNS name; spaces around an entry and empty entries are dropped.

    Raises
    ------
    ConfigError
        Naming an entry that is neither (``coordinator.example.org:7443``: a port; a typo),
        or when no entry is left: a certificate no party could verify.
    """
    names: list[x509.GeneralName] = []
    for given in hosts:
        host = given.strip()
        if not host:
            continue
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(bare.partition("%")[0])))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(host):
            raise ConfigError(
                f"--hosts entry {given!r} is neither a host name nor an IP address: give each "
                "name or address the parties dial, without a port (coordinator.example.org, "
                "10.0.0.5, ::1 or [::1])"
            )
        names.append(x509.DNSName(host))
    if not names:
        raise ConfigError(
            "--hosts names no host: give the names or addresses the parties dial the "
            "coordinator at, e.g. coordinator.example.org,10.0.0.5"
        )
    return names


def _signed_certificate(
    ca: KeyPair,
    name: str,
    public_key: ec.EllipticCurvePublicKey,
    hosts: Sequence[str],
    server: bool,
    valid_days: int,
) -> x509.Certificate:
    """A certificate for ``public_key`` with common name ``name``, signed by ``ca``, with
    only the extensions rengo sets (a request's own extensions are never copied)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = _ca_key(ca)
    sans = server_alt_names(hosts) if server else [x509.DNSName(name)]
    start, end = _validity(valid_days)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, secret: bool) -> None:
    """Write ``data`` to ``path``; a secret (a private key) is readable by its owner only,
    whatever mode an earlier file at ``path`` had (``--overwrite`` of a 0644 ``ca.key``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data, 0o600 if secret else 0o644)  # a link there is not followed


def party_paths(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """``(cert, key)`` paths of party ``name`` under a certificate directory.

    Raises
    ------
    ConfigError
        If ``name`` is not a valid party name (so no name reaches outside ``parties/``).
    """
    validate_party_name(name)
    base = Path(directory) / "parties"
    return base / f"{name}.pem", base / f"{name}.key"


def read_certificate_file(path: Path, what: str, fix: str) -> bytes:
    """The bytes of a certificate or key file, or a :class:`ConfigError` that names the
    file, what it is and how to make it (``fix``), instead of a traceback."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist; {fix}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a file; {fix}") from None
    except PermissionError:
        raise ConfigError(f"{what} {path} cannot be read (permission denied)") from None


def _ca_files(root: Path) -> KeyPair:
    """The CA certificate and key of the federation folder ``root``."""
    fix = f"run `rengo certs init {root} --parties ...` first"
    return KeyPair(
        read_certificate_file(root / "ca.pem", "the federation's CA certificate", fix),
        read_certificate_file(root / "ca.key", "the federation's CA key", fix),
    )


def _load_certificate(path: Path, what: str, fix: str) -> x509.Certificate:
    """The certificate in ``path``, or a ConfigError naming the file (missing, unreadable
    or not a PEM certificate) instead of a traceback."""
    try:
        return x509.load_pem_x509_certificate(read_certificate_file(path, what, fix))
    except ValueError as exc:
        raise ConfigError(f"{what} {path} is not a PEM certificate ({exc})") from None


def add_party(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Issue a certificate for one more party with the CA in ``directory``.

    A party that holds a certificate from this CA gets a new one only once the old one is
    revoked (:func:`revoke_party`): otherwise the old certificate, which nothing could
    revoke any more, would stay valid beside the new one.

    Raises
    ------
    ConfigError
        For an invalid name, a folder without a CA, or a party whose current certificate
        from this CA is not revoked.
    """
    validate_party_name(name)
    root = Path(directory)
    ca = _ca_files(root)
    with _exclusive(root):  # no revocation or issue in between
        return _issue_party(root, ca, name)


def _issue_party(root: Path, ca: KeyPair, name: str) -> tuple[Path, Path]:
    """Write a new certificate and key for ``name``, unless it holds an unrevoked one."""
    cert_path, key_path = party_paths(root, name)
    _refuse_unrevoked(root, ca, name, cert_path)
    pair = issue_certificate(ca, name)
    _write(cert_path, pair.cert_pem, secret=False)
    _write(key_path, pair.key_pem, secret=True)
    return cert_path, key_path


def request_certificate(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """A party's own key pair and a certificate signing request (PKCS #10, RFC 2986) for
    the federation's operator: the private key never leaves the party.

    Writes ``DIR/parties/<name>.key`` (0600) and ``DIR/parties/<name>.csr``; the operator
    signs the request (:func:`sign_request`) and returns ``<name>.pem`` with ``ca.pem``,
    which the party puts at ``DIR/parties/<name>.pem`` and ``DIR/ca.pem`` - the layout
    ``rengo party --certs DIR`` reads.

    Returns
    -------
    tuple of Path
        ``(csr, key)``.

    Raises
    ------
    ConfigError
        For an invalid name, or a key that is already there (it would be replaced).
    """
    cert_path, key_path = party_paths(directory, name)
    if key_path.exists():
        raise ConfigError(
            f"{key_path} exists: a new request would replace this party's key; remove it first"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    csr_path = cert_path.with_suffix(".csr")
    _write(key_path, _key_pem(key), secret=True)
    _write(csr_path, request.public_bytes(serialization.Encoding.PEM), secret=False)
    return csr_path, key_path


def sign_request(
    directory: str | os.PathLike[str], request: str | os.PathLike[str]
) -> tuple[str, Path]:
    """Issue a party certificate for a signing request made by :func:`request_certificate`
    (or any PKCS #10 request for a P-256 key), with the CA in ``directory``.

    The certificate names the request's common name, which must be a valid party name, and
    carries only what :func:`issue_certificate` gives a party (client authentication, its
    name as DNS SAN): extensions the request asks for are never copied. The same rule as
    :func:`add_party` holds: a party whose current certificate from this CA is not revoked
    gets no second one.

    Returns
    -------
    tuple
        ``(party name, certificate path)``: ``DIR/parties/<name>.pem``, to send back to the
        party with ``ca.pem``.

    Raises
    ------
    ConfigError
        For a file that is not a PEM request, a request whose signature does not verify
        (it was altered), a key that is not P-256, a name that is not a valid party name,
        or a party that holds an unrevoked certificate from this CA.
    """
    root = Path(directory)
    path = Path(request)
    try:
        csr = x509.load_pem_x509_csr(
            read_certificate_file(path, "the signing request", "make it with `rengo certs request`")
        )
    except ConfigError:  # missing, a folder, unreadable: said as it is
        raise
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM certificate signing request ({exc})") from None
    if not csr.is_signature_valid:
        raise ConfigError(f"{path}: the request's signature does not verify (altered)")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise ConfigError(f"{path}: rengo certificates hold P-256 (ECDSA) keys only")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise ConfigError(f"{path}: the request must name one party (common name)")
    name = str(names[0].value)
    validate_party_name(name, f"{path}: the request's common name")
    ca = _ca_files(root)
    with _exclusive(root):
        cert_path, _ = party_paths(root, name)
        _refuse_unrevoked(root, ca, name, cert_path)
        cert = _signed_certificate(ca, name, public_key, (), False, 825)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    return name, cert_path


def _refuse_unrevoked(root: Path, ca: KeyPair, name: str, cert_path: Path) -> None:
    """Refuse a new certificate for ``name`` while it holds an unrevoked one from this CA."""
    if cert_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
        old = _load_certificate(cert_path, f"party {name}'s certificate", "remove it")
        if issued_by(old, ca_cert) and not any(
            entry.serial_number == old.serial_number
            for entry in read_revocation_list(root / REVOKED_FILE, ca_cert)
        ):
            raise ConfigError(
                f"party {name} already holds a certificate from this CA (serial "
                f"{old.serial_number:x}); revoke it first (`rengo certs revoke {root} {name}`), "
                "or it would stay valid beside the new one"
            )


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether ``ca_cert`` issued and signed ``cert`` (a CA made anew under the same name
    did not)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ca_key(ca: KeyPair) -> ec.EllipticCurvePrivateKey:
    """The CA's private key (an EC key, as :func:`create_ca` makes)."""
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError("the CA key must be an EC key made by create_ca")
    return key


def _ca_pair(root: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca = _ca_files(root)
    return x509.load_pem_x509_certificate(ca.cert_pem), _ca_key(ca)


def revoke_party(directory: str | os.PathLike[str], name: str) -> int:
    """Revoke party ``name``'s current certificate: add its serial number to the CA-signed
    revocation list ``DIR/revoked.crl`` (written whole, then moved into place, so a hub
    never reads half a list).

    Parameters
    ----------
    directory
        The federation folder (``rengo certs init``), holding the CA's key.
    name
        The party whose current certificate (``parties/NAME.pem``) is revoked.

    Returns
    -------
    int
        The revoked certificate's serial number.

    Raises
    ------
    ConfigError
        If the folder has no CA, the party no certificate, the certificate was not issued by
        this CA, or it is revoked already.
    """
    root = Path(directory)
    ca_cert, ca_key = _ca_pair(root)
    cert_path, _ = party_paths(root, name)
    cert = _load_certificate(
        cert_path, f"party {name}'s certificate", "there is nothing of it to revoke"
    )
    if not issued_by(cert, ca_cert):
        raise ConfigError(f"{cert_path} was not issued by this federation's CA")
    with _exclusive(root):
        return _add_to_list(root, ca_cert, ca_key, cert, name)


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold the federation folder's lock for changing who is admitted (two revocations at
    once must not each write a list without the other's entry)."""
    with exclusive_lock(root / f".{REVOKED_FILE}.lock"):
        yield


def _add_to_list(
    root: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    name: str,
) -> int:
    """Write ``root``'s revocation list again with ``cert`` on it; its serial number."""
    previous = read_crl(root / REVOKED_FILE, ca_cert)
    existing = [] if previous is None else list(previous)
    if any(entry.serial_number == cert.serial_number for entry in existing):
        raise ConfigError(
            f"party {name}'s certificate (serial {cert.serial_number:x}) is revoked already; "
            f"`rengo certs add {root} {name}` issues it a new one"
        )
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + dt.timedelta(days=CRL_VALID_DAYS))
    )
    builder = builder.add_extension(x509.CRLNumber(crl_number(previous) + 1), critical=False)
    for entry in existing:
        builder = builder.add_revoked_certificate(entry)
    builder = builder.add_revoked_certificate(
        x509.RevokedCertificateBuilder()
        .serial_number(cert.serial_number)
        .revocation_date(now)
        .build()
    )
    crl = builder.sign(ca_key, hashes.SHA256())
    temporary = root / f".{REVOKED_FILE}.{os.getpid()}"
    _write(temporary, crl.public_bytes(serialization.Encoding.PEM), secret=False)
    os.replace(temporary, root / REVOKED_FILE)
    return int(cert.serial_number)


def read_crl(path: Path, ca_cert: x509.Certificate) -> x509.CertificateRevocationList | None:
    """The revocation list at ``path`` (None if there is no file), after checking that
    ``ca_cert`` issued and signed it.

    Parameters
    ----------
    path
        The list (``revoked.crl``), PEM.
    ca_cert
        The federation's CA certificate.

    Returns
    -------
    CertificateRevocationList or None
        The verified list, or None when the file does not exist.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not a PEM CRL, or another CA issued or signed it.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"revocation list {path} cannot be read ({exc})") from None
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise ConfigError(f"revocation list {path} is not a PEM CRL ({exc})") from None
    public = ca_cert.public_key()
    if crl.issuer != ca_cert.subject or not (
        isinstance(public, ec.EllipticCurvePublicKey) and crl.is_signature_valid(public)
    ):
        raise ConfigError(f"revocation list {path} is not signed by this federation's CA")
    return crl


def crl_number(crl: x509.CertificateRevocationList | None) -> int:
    """The list's CRL number (RFC 5280, 5.2.3: each list the CA issues gets a larger one);
    0 for no list or a list without one."""
    if crl is None:
        return 0
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0


def read_revocation_list(path: Path, ca_cert: x509.Certificate) -> list[x509.RevokedCertificate]:
    """The entries of the CA-verified revocation list at ``path`` (none if there is no
    file); see :func:`read_crl`.

    Raises
    ------
    ConfigError
        As :func:`read_crl`.
    """
    crl = read_crl(path, ca_cert)
    return [] if crl is None else list(crl)


@dataclass(frozen=True)
class PartyCertificate:
    """One party's certificate in a federation folder, as :func:`list_parties` reads it."""

    name: str
    serial: int
    not_after: dt.datetime
    revoked_at: dt.datetime | None
    """When the CA revoked it (``revoked.crl``), or None."""


def list_parties(directory: str | os.PathLike[str]) -> list[PartyCertificate]:
    """Every party certificate under ``DIR/parties`` by name, with its serial number, expiry
    and revocation (from the CA-verified ``DIR/revoked.crl``).

    Parameters
    ----------
    directory
        The federation folder (``rengo certs init``).

    Returns
    -------
    list of PartyCertificate
        One per ``parties/*.pem``, by name.

    Raises
    ------
    ConfigError
        If the folder has no CA certificate, or its revocation list is not the CA's.
    """
    root = Path(directory)
    fix = f"run `rengo certs init {root} --parties ...` first"
    ca_cert = x509.load_pem_x509_certificate(
        read_certificate_file(root / "ca.pem", "the federation's CA certificate", fix)
    )
    revoked = {
        entry.serial_number: entry.revocation_date_utc
        for entry in read_revocation_list(root / REVOKED_FILE, ca_cert)
    }
    found = []
    for path in sorted((root / "parties").glob("*.pem")):
        cert = _load_certificate(path, f"party {path.stem}'s certificate", "remove it")
        found.append(
            PartyCertificate(
                path.stem,
                int(cert.serial_number),
                cert.not_valid_after_utc,
                revoked.get(cert.serial_number),
            )
        )
    return found


def coordinator_hosts(directory: str | os.PathLike[str]) -> list[str]:
    """The host names and addresses the coordinator's current certificate in ``directory``
    (``coordinator.pem``) names: those the parties dial it by.

    Parameters
    ----------
    directory
        The folder ``rengo certs init`` made.

    Returns
    -------
    list[str]
        Its subject alternative names, DNS names then IP addresses, in the certificate's
        order.

    Raises
    ------
    ConfigError
        If ``coordinator.pem`` is missing, unreadable or not a certificate, or names no
        host.
    """
    path = Path(directory) / "coordinator.pem"
    fix = f"give the coordinator's host names with --hosts (`rengo certs init {directory}` made it)"
    cert = _load_certificate(path, "the coordinator's certificate", fix)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    hosts = [*sans.get_values_for_type(x509.DNSName)]
    hosts += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    if not hosts:
        raise ConfigError(f"the coordinator's certificate {path} names no host: {fix}")
    return hosts


OLD_SUFFIX = ".old"
"""What the coordinator's previous certificate and key are kept as beside the new pair."""


def renew_coordinator(
    directory: str | os.PathLike[str], *, hosts: Sequence[str] | None = None
) -> tuple[Path, Path]:
    """Issue the coordinator a new certificate and key with the federation's CA in
    ``directory``: before the old one expires, or for a coordinator moved to another host.

    The parties trust the CA, not one coordinator certificate, so none of them needs anything
    new; a running coordinator keeps its old certificate until it is restarted (``rengo
    coordinator --resume RUN``). The previous pair is kept beside the new one
    (``coordinator.pem.old``, ``coordinator.key.old``, the key owner-only) to go back to.
    The previous certificate stays valid until it expires: parties check no revocation
    list for the coordinator, so a coordinator host or key that may be compromised needs
    a new federation (a new CA, ``rengo certs init``), not a renewal.

    Parameters
    ----------
    directory
        The folder ``rengo certs init`` made (its ``ca.pem`` and ``ca.key``).
    hosts
        The host names and addresses the parties dial the coordinator by; None: those of
        its current certificate (:func:`coordinator_hosts`).

    Returns
    -------
    tuple[Path, Path]
        The new ``coordinator.pem`` and ``coordinator.key``.

    Raises
    ------
    ConfigError
        For a folder without a CA, a host that is not a name or an address, or (``hosts``
        None) no readable coordinator certificate naming a host. Nothing is written then.
    """
    root = Path(directory)
    hosts = coordinator_hosts(root) if hosts is None else hosts
    server_alt_names(hosts)  # before anything is written
    ca = _ca_files(root)
    server = issue_certificate(ca, COORDINATOR, hosts=hosts, server=True)
    cert, key = root / "coordinator.pem", root / "coordinator.key"
    with _exclusive(root):
        for path, secret in ((key, True), (cert, False)):
            if path.is_file():  # the previous pair, to go back to
                _write(path.with_name(path.name + OLD_SUFFIX), path.read_bytes(), secret=secret)
        _write(key, server.key_pem, secret=True)
        _write(cert, server.cert_pem, secret=False)
    return cert, key


EXPIRY_NOTICE = dt.timedelta(days=30)
"""How long before a certificate expires the coordinator and a party start to say so."""


def expiry_notice(
    cert_pem: bytes, whose: str, fix: str, now: dt.datetime, notice: dt.timedelta = EXPIRY_NOTICE
) -> str | None:
    """A sentence saying that a certificate expires within ``notice`` (or has expired), with
    the date and the fix; None when it is valid for longer, or cannot be read.

    Parameters
    ----------
    cert_pem
        The certificate (PEM).
    whose
        What it is, to start the sentence (``"party p3's certificate (certs/parties/p3.pem)"``).
    fix
        What renews it (a command).
    now
        This machine's time (timezone-aware).
    notice
        How long before its end to speak.

    Returns
    -------
    str or None
        The notice, or None.
    """
    try:
        end = x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
    except ValueError:
        return None
    if now > end:
        return f"{whose} expired at {utc_text(end)}: {fix}"
    if end - now <= notice:
        return f"{whose} expires at {utc_text(end)}, in {_span(end - now)}: {fix}"
    return None


def init_certificates(
    directory: str | os.PathLike[str],
    parties: Sequence[str],
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    overwrite: bool = False,
) -> CertificatePaths:
    """Create a CA, the coordinator's server certificate and one certificate per party."""
    for name in parties:
        validate_party_name(name)
    server_alt_names(hosts)  # before anything is written
    if len(set(parties)) != len(parties):
        raise ConfigError(f"party names must be unique: {list(parties)}")
    root = Path(directory)
    if (root / "ca.pem").exists() and not overwrite:
        raise ConfigError(f"{root / 'ca.pem'} exists; give --overwrite to replace the CA")
    ca = create_ca()
    _write(root / "ca.pem", ca.cert_pem, secret=False)
    _write(root / "ca.key", ca.key_pem, secret=True)
    server = issue_certificate(ca, COORDINATOR, hosts=hosts, server=True)
    _write(root / "coordinator.pem", server.cert_pem, secret=False)
    _write(root / "coordinator.key", server.key_pem, secret=True)
    party_files = {name: add_party(root, name) for name in parties}
    return CertificatePaths(
        root,
        root / "ca.pem",
        root / "ca.key",
        root / "coordinator.pem",
        root / "coordinator.key",
        party_files,
    )


__getattr__ = moved_names(__name__, {"COORDINATOR_NAME": "rengo.core.roles:COORDINATOR"})

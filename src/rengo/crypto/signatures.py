"""Parties sign what they say with their federation certificate, so that others can check it
through an untrusted relay (the coordinator).

A deployed party already holds a certificate from the federation's CA (its mTLS identity,
:mod:`rengo.transport.certs`) and the CA's certificate. :class:`SigningIdentity` signs with
that certificate's key; :func:`verify_signed` checks, from the signer's certificate alone,
that the CA issued it to the named party and that the party signed the bytes. This is the
public-key infrastructure the malicious-coordinator variant of secure aggregation assumes
(Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning",
CCS 2017, Section 6): a coordinator that relays the messages can drop them but cannot forge
or swap them.

Signatures are ECDSA P-256 with SHA-256 for the EC keys ``rengo certs`` makes, Ed25519 for
Ed25519 keys. An identity given the federation's revocation list (``revoked.crl``, see
:class:`~rengo.transport.revocation.RevocationList`) refuses certificates on it, so a
coordinator cannot pass a revoked party off as a client; without one, revocation is the
hub's alone. :func:`simulated_identities` makes a throwaway CA and one identity per client
for simulations and tests.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rengo.core.errors import ConfigError
from rengo.core.roles import validate_party_name
from rengo.transport.certs import create_ca, issue_certificate, issued_by, outside_validity
from rengo.transport.revocation import RevocationList, revoked_serials


class SignatureError(ValueError):
    """A signature, or the certificate that should vouch for it, does not check out."""


@dataclass(frozen=True)
class SigningIdentity:
    """One party's certificate and key, and the CA whose certificates it trusts.

    Build one with :meth:`from_pem`, which checks that the three belong together (a
    deployed party passes its mTLS certificate, key and ``ca.pem``).

    Attributes
    ----------
    name
        The party's name: its certificate's common name.
    cert_pem, key_pem
        Its certificate and private key (PEM).
    ca_pem
        The federation CA's certificate (PEM): what other parties' certificates must chain to.
    revocations
        The CA's revocation list, if this party has it: certificates on it are refused.
    """

    name: str
    cert_pem: bytes
    key_pem: bytes = field(repr=False)  # never in a log or a traceback
    ca_pem: bytes
    revocations: RevocationList | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_pem(
        cls,
        cert_pem: bytes,
        key_pem: bytes,
        ca_pem: bytes,
        revocations: RevocationList | None = None,
    ) -> SigningIdentity:
        """The identity in a party's certificate, key and CA certificate (and the CA's
        revocation list, to refuse revoked certificates, its own included).

        Raises
        ------
        ConfigError
            If the key is not the certificate's, the certificate is not issued by the CA, or
            the key type cannot sign (EC and Ed25519 can).
        """
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
        if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            raise ConfigError(f"a {type(key).__name__} cannot sign here: use an EC or Ed25519 key")
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
            raise ConfigError("the private key does not belong to the certificate")
        name = _common_name(cert)
        try:
            verify_certificate(ca_pem, name, cert_pem, revoked_serials(revocations))
        except SignatureError as exc:
            raise ConfigError(f"party {name!r}: {exc}") from None
        return cls(name, cert_pem, key_pem, ca_pem, revocations)

    def sign(self, message: bytes) -> bytes:
        """This party's signature on ``message``."""
        return _sign(self.key_pem, message)

    def verify(self, name: str, cert_pem: bytes, message: bytes, signature: bytes) -> None:
        """Check that party ``name`` signed ``message`` under a certificate from this
        identity's CA that is not revoked (see :func:`verify_signed`)."""
        revoked = revoked_serials(self.revocations)
        verify_signed(self.ca_pem, name, cert_pem, message, signature, revoked)


@functools.lru_cache(maxsize=8)
def _private_key(key_pem: bytes) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey))
    return key


def _sign(key_pem: bytes, message: bytes) -> bytes:
    key = _private_key(key_pem)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    return key.sign(message)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise SignatureError("the certificate has no single common name")
    return str(names[0].value)


@functools.lru_cache(maxsize=1024)
def _issued_by(ca_pem: bytes, cert_pem: bytes) -> x509.Certificate:
    """The certificate, once its CA signature checks (cached: a round checks the same
    certificates many times; the dates and the name are checked on every use)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise SignatureError("the certificate is not a PEM X.509 certificate") from None
    if not issued_by(cert, x509.load_pem_x509_certificate(ca_pem)):
        raise SignatureError("the certificate is not issued by the federation's CA")
    return cert


def verify_certificate(
    ca_pem: bytes, name: str, cert_pem: bytes, revoked: Collection[int] = frozenset()
) -> x509.Certificate:
    """The certificate in ``cert_pem``, once checked: issued and signed by the CA in
    ``ca_pem``, valid now, not a CA itself, marked for client use (a party's, not the
    coordinator's server certificate), naming ``name``, a valid party name, as its common
    name, and its serial number not among ``revoked``.

    Raises
    ------
    SignatureError
        Saying which check failed.
    """
    if not isinstance(cert_pem, bytes):
        raise SignatureError("the certificate is not PEM bytes")
    cert = _issued_by(ca_pem, cert_pem)
    now = dt.datetime.now(dt.timezone.utc)
    problem = outside_validity(cert, f"party {name}'s certificate", now)
    if problem is not None:
        raise SignatureError(problem)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise SignatureError("a CA certificate cannot speak for a party")
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is None or ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        # the coordinator's own (server) certificate comes from the same CA: it must not
        # pass for a party's, or the coordinator would count as a colluding client
        raise SignatureError("the certificate is not a party's (no clientAuth key usage)")
    holder = _common_name(cert)
    if holder != name:
        raise SignatureError(f"the certificate names {holder!r}, not {name!r}")
    try:
        validate_party_name(name)
    except ConfigError as exc:
        raise SignatureError(str(exc)) from None
    if cert.serial_number in revoked:
        raise SignatureError(
            f"the certificate of {name!r} (serial {cert.serial_number:x}) is revoked"
        )
    return cert


def verify_signed(
    ca_pem: bytes,
    name: str,
    cert_pem: bytes,
    message: bytes,
    signature: bytes,
    revoked: Collection[int] = frozenset(),
) -> None:
    """Check that party ``name`` signed ``message``, under a certificate from the CA.

    Parameters
    ----------
    ca_pem
        The federation CA's certificate (PEM).
    name
        Who is said to have signed.
    cert_pem
        The signer's certificate (PEM), as it came with the message.
    message, signature
        The signed bytes and the signature.
    revoked
        Serial numbers of revoked certificates (the CA's revocation list).

    Raises
    ------
    SignatureError
        If the certificate is not the CA's for ``name`` (see :func:`verify_certificate`) or
        the signature is not its key's on ``message``.
    """
    public = verify_certificate(ca_pem, name, cert_pem, revoked).public_key()
    if not isinstance(signature, bytes) or not isinstance(message, bytes):
        raise SignatureError("the signature and the message must be bytes")
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            raise SignatureError(f"a {type(public).__name__} certificate cannot sign here")
    except InvalidSignature:
        raise SignatureError(f"no valid signature by {name!r} on this message") from None


def simulated_identities(
    names: Iterable[str], ca_name: str = "rengo simulated federation CA"
) -> tuple[bytes, Mapping[str, SigningIdentity]]:
    """A throwaway CA and one identity per name, for simulations and tests.

    Returns
    -------
    tuple
        The CA's certificate (PEM: what the coordinator checks certificates against) and
        ``{name: SigningIdentity}``.
    """
    ca = create_ca(ca_name, valid_days=2)
    identities = {}
    for name in names:
        pair = issue_certificate(ca, name, valid_days=2)
        identities[name] = SigningIdentity(name, pair.cert_pem, pair.key_pem, ca.cert_pem)
    return ca.cert_pem, identities

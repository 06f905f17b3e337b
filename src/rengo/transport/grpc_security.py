"""Who may connect to the hub and how a party proves its name.

Two ways, both over TLS:

* **mTLS** (default, strong): each party holds a certificate from the federation CA; its name
  is the certificate's common name, read by the hub from the TLS session itself.
* **token** (quick start, weaker): a per-party secret sent as call metadata over server-only
  TLS. Anyone who learns a token can act as that party; certificates cannot be copied from
  the wire.

Plain text needs an explicit ``insecure=True`` and logs a warning: names are then unverified
unless tokens are also given.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hmac
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from rengo.core.errors import AuthenticationError, ConfigError
from rengo.core.files import owner_only_note, readable_by_others
from rengo.core.roles import COORDINATOR, validate_party_name
from rengo.transport.certs import (
    REVOKED_FILE,
    expiry_notice,
    party_paths,
    read_certificate_file,
)
from rengo.transport.revocation import RevocationList, RevokedCertificateError, revoked_serials
from rengo.transport.tokens import MAKE_A_TOKEN, MIN_TOKEN_CHARS, read_tokens_file

log = logging.getLogger("rengo.transport")

NAME_HEADER = "rengo-party"
TOKEN_HEADER = "rengo-token"


def _read(path: str | os.PathLike[str] | None, what: str) -> bytes | None:
    if path is None:
        return None
    return read_certificate_file(Path(path), what, "check the path")


def _revoked_parties(
    root: Path, parties: Collection[str], revoked: frozenset[int]
) -> dict[str, int]:
    """The ``parties`` whose certificate in the federation folder ``root`` is among the
    ``revoked`` serial numbers, each with that serial, by name (the folder holds each party's
    latest: ``rengo certs add`` and ``sign`` replace only a revoked one). A party without one
    there, or one that cannot be read, is not named."""
    found = {}
    for name in sorted(parties):
        path = party_paths(root, validate_party_name(name))[0]
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            continue
        if int(cert.serial_number) in revoked:
            found[name] = int(cert.serial_number)
    return found


def _warn_if_expiring(
    root: Path, ca_cert: bytes, coordinator_cert: bytes, parties: Sequence[str]
) -> None:
    """Log a warning for each certificate a coordinator started from ``root`` depends on (the
    CA's, its own, each of ``parties``' in ``root/parties``) that expires within
    :data:`~rengo.transport.certs.EXPIRY_NOTICE`, or has expired, naming it, its date and
    what renews it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca = root / "ca.pem"
    notices = [
        expiry_notice(
            ca_cert,
            f"the federation's CA certificate ({ca})",
            "every certificate it issued ends with it; make a new federation "
            "(`rengo certs init DIR --parties ...`) and give every party its new files",
            now,
        ),
        expiry_notice(
            coordinator_cert,
            f"the coordinator's certificate ({root / 'coordinator.pem'})",
            f"`rengo certs coordinator {root}` issues a new one for the same hosts (the parties "
            "need nothing new), then restart the coordinator with `--resume RUN`",
            now,
        ),
    ]
    for name in parties:
        path = party_paths(root, validate_party_name(name))[0]
        try:
            pem = path.read_bytes()
        except OSError:
            continue
        notices.append(
            expiry_notice(
                pem,
                f"party {name}'s certificate ({path})",
                f"`rengo certs revoke {root} {name}` then `rengo certs add {root} {name}`, "
                f"and send party {name} its new NAME.pem and NAME.key",
                now,
            )
        )
    for notice in notices:
        if notice is not None:
            log.warning("%s", notice)


class UnknownPartyError(AuthenticationError):
    """A party the allow-list does not name. Its message (what the party is told) says only
    that; :attr:`operator_note` (for the coordinator's log alone, since it names another
    admitted party) points at an allow-listed name it was probably meant to be; :attr:`party`
    is the name refused."""

    def __init__(self, message: str, name: str, allowed: Sequence[str] | frozenset[str]) -> None:
        super().__init__(message)
        self.party = name
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        self.operator_note = (
            f"; the allow-list names {close[0]!r}: is one of the two names misspelt (the "
            "job's [deploy] parties, --parties, or the party's certificate)?"
            if close
            else ""
        )


@dataclass(frozen=True)
class HubSecurity:
    """The coordinator's TLS material and party allow-list.

    ``tokens`` maps party name -> secret and switches the hub to token authentication;
    without it, parties must present a certificate signed by ``ca_cert`` (mTLS).
    ``parties`` restricts either to the listed names (None: any name the CA certified, or
    any name with a token); with ``tokens``, each of them must have one (a ConfigError names
    those without: they could never join).
    ``revocations``: the CA's revocation list; a certificate on it is refused (mTLS).
    ``certificates``: the federation folder holding each party's latest certificate
    (``parties/NAME.pem``), by which the hub knows a party is revoked before it connects (see
    :meth:`revoked_parties`); None: only when it presents its certificate.
    ``tokens_file``: the file ``tokens`` were read from, read again by
    :meth:`with_tokens_reread` (a party admitted to a running run needs its line there).
    """

    server_cert: bytes | None = None
    server_key: bytes | None = field(default=None, repr=False)  # never in a log
    ca_cert: bytes | None = None
    tokens: Mapping[str, str] | None = field(default=None, repr=False)
    parties: frozenset[str] | None = None
    insecure: bool = False
    revocations: RevocationList | None = field(default=None, compare=False)
    certificates: Path | None = None
    tokens_file: Path | None = None

    def __post_init__(self) -> None:
        short = sorted(n for n, t in (self.tokens or {}).items() if len(t) < MIN_TOKEN_CHARS)
        if short:
            raise ConfigError(
                f"the token of {', '.join(map(repr, short))} is shorter than "
                f"{MIN_TOKEN_CHARS} characters, short enough to guess; {MAKE_A_TOKEN}"
            )
        tokenless = sorted((self.parties or frozenset()) - set(self.tokens or {}))
        if self.tokens is not None and tokenless:
            raise ConfigError(
                f"the tokens file holds no token for {', '.join(map(repr, tokenless))}, named "
                "among the run's parties (--parties, else [deploy] parties): it could never "
                "join; give it a token, or leave it out of the run's parties (a party whose "
                f"token was taken back); {MAKE_A_TOKEN}"
            )
        if self.insecure:
            return
        if self.server_cert is None or self.server_key is None:
            raise ConfigError(
                "TLS is on by default: give the coordinator's certificate and key "
                "(rengo certs init DIR), or pass insecure=True for plain text"
            )
        if self.tokens is None and self.ca_cert is None:
            raise ConfigError("mTLS needs the federation CA certificate (ca.pem), or use tokens")

    @classmethod
    def from_directory(
        cls,
        directory: str | os.PathLike[str],
        *,
        tokens: Mapping[str, str] | None = None,
        parties: Sequence[str] | None = None,
        tokens_file: Path | None = None,
    ) -> HubSecurity:
        """Read ``coordinator.pem``, ``coordinator.key`` and ``ca.pem`` from a certs folder,
        and (mTLS) follow its revocation list ``revoked.crl`` (read now and whenever it
        changes; it may appear later). ``tokens_file``: where ``tokens`` were read from (see
        :meth:`with_tokens_reread`).

        Raises
        ------
        ConfigError
            If a file is missing or not PEM, the key is not the certificate's (a key of
            another party), or ``revoked.crl`` is not a list signed by the CA.
        """
        root = Path(directory)
        fix = f"make it with `rengo certs init {root} --parties ...`"
        ca_cert = read_certificate_file(root / "ca.pem", "the federation's CA certificate", fix)
        # parties on tokens hold no certificates to revoke (remove a party's token)
        revocations = None if tokens is not None else RevocationList(root / REVOKED_FILE, ca_cert)
        cert, key = root / "coordinator.pem", root / "coordinator.key"
        server_cert = read_certificate_file(cert, "the coordinator's certificate", fix)
        server_key = read_certificate_file(key, "the coordinator's key", fix)
        _check_key_pair(server_cert, server_key, cert, key)
        if readable_by_others(key):
            log.warning("%s", owner_only_note("the coordinator's private key", key))
        _warn_if_expiring(root, ca_cert, server_cert, () if tokens is not None else parties or ())
        if revocations is not None and parties is not None:
            for name in _revoked_parties(root, parties, revocations.serials):
                log.warning(
                    "party %r, one of the run's parties, holds a revoked certificate "
                    "(%s): it cannot join and is not awaited; `rengo certs add %s %s` "
                    "re-admits it",
                    name,
                    party_paths(root, name)[0],
                    root,
                    name,
                )
        return cls(
            server_cert=server_cert,
            server_key=server_key,
            ca_cert=ca_cert,
            tokens=tokens,
            parties=None if parties is None else frozenset(map(validate_party_name, parties)),
            revocations=revocations,
            certificates=None if tokens is not None else root,
            tokens_file=tokens_file,
        )

    def with_tokens_reread(self) -> HubSecurity:
        """This security with the tokens its :attr:`tokens_file` holds now (itself without a
        file), for no parties yet: the file is checked on its own (each entry, each token's
        length), not against the parties now in the run, since the request being applied may
        remove one whose line was taken out with it. Check it against the parties it will
        serve with ``dataclasses.replace(copy, parties=...)``, which refuses a file without a
        line for one of them (a half-saved file, or a token taken out of a party that stays).

        Returns
        -------
        HubSecurity
            A copy with the file's tokens and ``parties`` None.

        Raises
        ------
        ConfigError
            If the file cannot be read or holds a bad entry or a token shorter than
            :data:`~rengo.transport.tokens.MIN_TOKEN_CHARS`, naming what is wrong: the
            tokens in force stay.
        """
        if self.tokens_file is None:
            return self
        return replace(self, tokens=read_tokens_file(self.tokens_file), parties=None)

    @property
    def mode(self) -> str:
        """``"token"``, ``"insecure"`` or ``"mtls"``: how parties are authenticated."""
        if self.tokens is not None:
            return "token"
        return "insecure" if self.insecure else "mtls"

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """GRPC server credentials, or None for an insecure port."""
        """gRPC server credentials, or None for an insecure port."""
        if self.insecure:
            return None
        assert self.server_key is not None and self.server_cert is not None
        pair = [(self.server_key, self.server_cert)]
        if self.tokens is not None:
            return grpc.ssl_server_credentials(pair)
        return grpc.ssl_server_credentials(
            pair, root_certificates=self.ca_cert, require_client_auth=True
        )

    def authenticate(self, context: grpc.ServicerContext) -> str:
        """The caller's verified party name; raises AuthenticationError if it has none (or
        one that breaks the party-name rule, :func:`~rengo.core.roles.validate_party_name`)."""
        name = self._identify(context)
        try:
            return validate_party_name(name)
        except ConfigError as exc:
            raise AuthenticationError(str(exc)) from None

    def _identify(self, context: grpc.ServicerContext) -> str:
        metadata = dict(context.invocation_metadata() or ())
        claimed = str(metadata.get(NAME_HEADER, ""))
        if self.tokens is not None:
            token = str(metadata.get(TOKEN_HEADER, ""))
            expected = self.tokens.get(claimed)
            if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
                raise AuthenticationError(f"bad or missing token for party {claimed!r}")
            # the tokens file may name more parties than this run admits (--parties)
            if self.parties is not None and claimed not in self.parties:
                raise UnknownPartyError(
                    f"unknown party {claimed!r} (not in the allow-list)", claimed, self.parties
                )
            return claimed
        if self.insecure:
            if not claimed or claimed == COORDINATOR:
                raise AuthenticationError("no party name given")
            if self.parties is not None and claimed not in self.parties:
                raise UnknownPartyError(f"unknown party {claimed!r}", claimed, self.parties)
            return claimed
        auth = context.auth_context()
        names = auth.get("x509_common_name") or []
        if len(names) != 1:
            raise AuthenticationError("no client certificate presented")
        name = str(names[0].decode("utf-8", "replace"))
        if name == COORDINATOR:
            raise AuthenticationError("the coordinator's certificate cannot join as a party")
        if self.parties is not None and name not in self.parties:
            raise UnknownPartyError(
                f"unknown party {name!r} (not in the allow-list)", name, self.parties
            )
        if claimed and claimed != name:
            raise AuthenticationError(f"certificate is for {name!r}, not {claimed!r}")
        serial = self.peer_serial(context)
        if serial is None and self.revocations is not None:
            raise AuthenticationError(
                f"the certificate of party {name!r} could not be read to check revocation"
            )
        if serial is not None and self.is_revoked(serial):
            raise RevokedCertificateError(name, serial)
        return name

    def peer_serial(self, context: grpc.ServicerContext) -> int | None:
        """The serial number of the certificate the caller presented (mTLS), else None."""
        if self.tokens is not None or self.insecure:
            return None
        pems = context.auth_context().get("x509_pem_cert") or []
        if len(pems) != 1:
            return None
        try:
            return int(x509.load_pem_x509_certificate(bytes(pems[0])).serial_number)
        except ValueError:
            return None

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial number is on the revocation list now."""
        return serial in self.revoked_serials()

    def revoked_serials(self) -> frozenset[int]:
        """The serial numbers on the revocation list now (none without a list)."""
        return revoked_serials(self.revocations)

    def revoked_parties(
        self, names: Collection[str], revoked: frozenset[int] | None = None
    ) -> dict[str, int]:
        """Those of ``names`` whose latest certificate in :attr:`certificates` is revoked,
        each with its serial number, by name: parties that cannot join, known before they
        try (none without a certificate folder or a revocation list).

        Parameters
        ----------
        names
            The parties to look up.
        revoked
            The revoked serial numbers to check against (default: the list now).

        Returns
        -------
        dict[str, int]
            ``{party: serial}`` of the revoked ones.
        """
        if self.certificates is None or self.revocations is None:
            return {}
        serials = self.revoked_serials() if revoked is None else revoked
        return _revoked_parties(self.certificates, names, serials) if serials else {}


@dataclass(frozen=True)
class PartyCredentials:
    """A party's means to reach the hub: the CA that signed the hub's certificate, plus
    either its own certificate and key (mTLS) or a token."""

    ca_cert: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)  # never in a log or a traceback
    token: str | None = field(default=None, repr=False)
    insecure: bool = False
    server_name: str | None = None
    """The host name the coordinator's certificate must name, when it is not the host
    dialled (an IP address, or a name behind NAT): gRPC's ``grpc.ssl_target_name_override``."""
    extra_options: tuple[tuple[str, object], ...] = field(default_factory=tuple)
    revocations: RevocationList | None = field(default=None, compare=False)
    """The CA's revocation list, if the operator gave the party one (``revoked.crl`` beside
    ``ca.pem``): in signed secure aggregation the party refuses revoked certificates."""
    use_http_proxy: bool = True
    """Dial through the HTTP proxy the environment names, as gRPC does (``grpc_proxy``,
    ``https_proxy``, ``http_proxy``; not for hosts in ``no_grpc_proxy``/``no_proxy``: see
    :mod:`rengo.transport.proxies`); False: always dial the coordinator directly."""

    def __post_init__(self) -> None:
        if self.insecure:
            return
        if self.ca_cert is None:
            raise ConfigError("TLS needs the federation CA certificate (ca.pem) to trust the hub")
        if self.token is None and (self.cert is None or self.key is None):
            raise ConfigError("give the party's certificate and key (mTLS) or a token")

    @classmethod
    def from_directory(
        cls, directory: str | os.PathLike[str], name: str, *, server_name: str | None = None
    ) -> PartyCredentials:
        """Read ``ca.pem`` and ``parties/<name>.pem|.key`` from a certs folder, and follow its
        ``revoked.crl`` if the operator puts one there (read whenever it changes).

        Raises
        ------
        ConfigError
            If a file is missing or not PEM, the certificate is another party's (its name is
            not ``name``), the key is not the certificate's (a key of another party), or
            ``revoked.crl`` is not a list signed by the CA.
        """
        cert, key = party_paths(directory, name)
        fix = f"the federation's operator issues it with `rengo certs add DIR {name}`"
        ca_cert = read_certificate_file(
            Path(directory) / "ca.pem",
            "the federation's CA certificate",
            "copy ca.pem from the federation's operator",
        )
        cert_pem = read_certificate_file(cert, f"party {name}'s certificate", fix)
        key_pem = read_certificate_file(key, f"party {name}'s key", fix)
        certificate = _check_key_pair(cert_pem, key_pem, cert, key)
        if readable_by_others(key):
            log.warning("%s", owner_only_note(f"party {name}'s private key", key))
        # The coordinator knows a party by its certificate's name: another party's certificate
        # would be refused there as "unknown party" (or taken for that party), so say it here.
        owners = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        owner = str(owners[0].value) if owners else None
        if owner != name:
            raise ConfigError(
                f"{cert} is the certificate of "
                f"{f'party {owner!r}' if owner else 'no named party'}, not of party {name!r}: "
                f"put party {name!r}'s own certificate and key there ({fix})"
            )
        now = dt.datetime.now(dt.timezone.utc)
        for pem, whose in (
            (cert_pem, f"party {name}'s certificate ({cert})"),
            (ca_cert, f"the federation's CA certificate ({Path(directory) / 'ca.pem'})"),
        ):
            notice = expiry_notice(
                pem, whose, "ask the federation's operator for a new one before then", now
            )
            if notice is not None:
                log.warning("%s", notice)
        return cls(
            ca_cert=ca_cert,
            cert=cert_pem,
            key=key_pem,
            server_name=server_name,
            revocations=RevocationList(Path(directory) / REVOKED_FILE, ca_cert),
        )

    @classmethod
    def from_files(
        cls,
        ca_cert: str | os.PathLike[str] | None,
        cert: str | os.PathLike[str] | None = None,
        key: str | os.PathLike[str] | None = None,
        token: str | None = None,
        insecure: bool = False,
    ) -> PartyCredentials:
        """Credentials from PEM files (a party's certificate and key for mTLS)."""
        return cls(
            _read(ca_cert, "the CA certificate"),
            _read(cert, "the party's certificate"),
            _read(key, "the party's key"),
            token,
            insecure,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """The gRPC channel credentials (None for an insecure channel)."""
        if self.insecure:
            return None
        if self.token is not None:
            return grpc.ssl_channel_credentials(root_certificates=self.ca_cert)
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_cert, private_key=self.key, certificate_chain=self.cert
        )

    def metadata(self, name: str) -> list[tuple[str, str]]:
        """The call metadata naming the party (and carrying its token)."""
        items = [(NAME_HEADER, name)]
        if self.token is not None:
            items.append((TOKEN_HEADER, self.token))
        return items


def warn_insecure(role: str) -> None:
    """Log once that ``role`` runs without TLS."""
    log.warning(
        "%s runs WITHOUT TLS (insecure=True): traffic is plain text and party names are "
        "not verified by certificates; use only on a trusted network for testing",
        role,
    )


def _check_key_pair(
    cert_pem: bytes, key_pem: bytes, cert_path: Path, key_path: Path
) -> x509.Certificate:
    """Check that the private key in ``key_path`` belongs to the certificate in ``cert_path``
    (gRPC would otherwise fail each connection with a C-core error and a traceback), and
    return the certificate.

    Raises
    ------
    ConfigError
        If either file is not PEM of its kind, or the key is another certificate's.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise ConfigError(f"{cert_path} is not a PEM certificate ({exc})") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{key_path} is not an unencrypted PEM private key ({exc})") from None
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, spki) != certificate.public_key().public_bytes(der, spki):
        raise ConfigError(
            f"{key_path} is not the private key of the certificate {cert_path} (a key and a "
            "certificate of different parties?): use the key issued with that certificate"
        )
    return certificate

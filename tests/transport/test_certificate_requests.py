"""A party can make its own key: `rengo certs request` writes the key and a signing request,
the operator's `rengo certs sign` issues the certificate, only the request and the
certificate travel, and the party connects over mutual TLS with it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.transport.certs import (
    init_certificates,
    issued_by,
    request_certificate,
    revoke_party,
    sign_request,
)
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials


@pytest.fixture
def operator(tmp_path: Path) -> Path:
    directory = tmp_path / "operator"
    init_certificates(directory, ["alice"])
    return directory


def _hand_back(operator: Path, party: Path, name: str, cert: Path) -> None:
    """What the party does with what the operator sends back."""
    (party / "parties" / f"{name}.pem").write_bytes(cert.read_bytes())
    (party / "ca.pem").write_bytes((operator / "ca.pem").read_bytes())


@pytest.mark.timeout(60)
def test_a_party_with_its_own_key_is_certified_and_connects(operator: Path, tmp_path: Path):
    party = tmp_path / "bob"
    csr, key = request_certificate(party, "bob")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    name, cert = sign_request(operator, csr)
    assert name == "bob" and not (operator / "parties" / "bob.key").exists()  # never made there
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    ca = x509.load_pem_x509_certificate((operator / "ca.pem").read_bytes())
    assert issued_by(issued, ca)
    own = serialization.load_pem_private_key(key.read_bytes(), None)
    assert issued.public_key() == own.public_key()
    _hand_back(operator, party, "bob", cert)
    credentials = PartyCredentials.from_directory(party, "bob")
    fast = Backoff(initial=0.05, maximum=0.2, give_up_after=3.0)
    with GrpcHub(
        "127.0.0.1:0", HubSecurity.from_directory(operator), heartbeat_interval=0.2
    ) as hub:
        conn = PartyConnection(
            hub.address, "bob", credentials, heartbeat_interval=0.2, backoff=fast
        )
        conn.start()
        try:
            conn.wait_connected(20)
            assert hub.client_ids() == ["bob"]
        finally:
            conn.close()


def _request(path: Path, name: str, *, server: bool = False, ca: bool = False) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    )
    if server:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def test_a_request_gets_only_what_a_party_certificate_carries(operator: Path, tmp_path: Path):
    """Extensions a request asks for (CA, server authentication, other host names) are never
    copied: the operator signs a party's client certificate, nothing else."""
    _, cert = sign_request(operator, _request(tmp_path / "m.csr", "mallory", server=True, ca=True))
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    assert not issued.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["mallory"]


def test_bad_requests_and_a_second_certificate_are_refused(operator: Path, tmp_path: Path):
    request = x509.load_pem_x509_csr(_request(tmp_path / "a.csr", "carol").read_bytes())
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # a byte of the signature
    (tmp_path / "b.csr").write_bytes(
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bytes(der))
        + b"-----END CERTIFICATE REQUEST-----\n"
    )
    with pytest.raises(ConfigError, match="signature does not verify"):
        sign_request(operator, tmp_path / "b.csr")
    (tmp_path / "c.csr").write_text("hello")
    with pytest.raises(ConfigError, match="not a PEM certificate signing request"):
        sign_request(operator, tmp_path / "c.csr")
    with pytest.raises(ConfigError, match="common name"):
        sign_request(operator, _request(tmp_path / "d.csr", "../ca"))
    with pytest.raises(ConfigError, match="already holds a certificate from this CA"):
        sign_request(operator, _request(tmp_path / "e.csr", "alice"))
    revoke_party(operator, "alice")
    name, _ = sign_request(operator, _request(tmp_path / "f.csr", "alice"))
    assert name == "alice"
    party = tmp_path / "dave"
    request_certificate(party, "dave")
    with pytest.raises(ConfigError, match="would replace this party's key"):
        request_certificate(party, "dave")


def test_the_cli_requests_and_signs(operator: Path, tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    asked = runner.invoke(app, ["certs", "request", str(tmp_path / "erin"), "erin"])
    assert asked.exit_code == 0, asked.output
    assert "send the request to the federation's operator" in " ".join(asked.output.split())
    csr = tmp_path / "erin" / "parties" / "erin.csr"
    signed = runner.invoke(app, ["certs", "sign", str(operator), str(csr)])
    assert signed.exit_code == 0, signed.output
    said = " ".join(signed.output.split())
    assert "never ca.key" in said and "back to party erin" in said
    assert (operator / "parties" / "erin.pem").exists()


def test_a_missing_request_is_called_missing_not_a_bad_pem(operator: Path, tmp_path: Path):
    with pytest.raises(ConfigError) as missing:
        sign_request(operator, tmp_path / "nobody.csr")
    said = str(missing.value)
    assert "does not exist" in said and "not a PEM" not in said


def test_init_over_an_existing_ca_names_the_cli_flag(operator: Path) -> None:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["certs", "init", str(operator), "--parties", "alice"]
    )
    assert result.exit_code == 2
    assert "--overwrite" in result.output and "overwrite=True" not in result.output

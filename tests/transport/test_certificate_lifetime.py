"""Certificates over a federation's lifetime: the coordinator and each party say, at start,
which certificate expires within 30 days (whose, when, and the command that renews it), and
the coordinator's certificate is renewed - or issued for a new host - with the federation's
CA, the parties needing nothing new."""

from __future__ import annotations

import datetime as dt
import logging
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509

from rengo.transport.certs import (
    add_party,
    expiry_notice,
    init_certificates,
    renew_coordinator,
    revoke_party,
)
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

sys.path.insert(0, str(Path(__file__).parent))
from test_certificate_clocks import PARTIES, connect, issuer_clock

ALMOST_EXPIRED = dt.timedelta(days=825 - 10)
"""Made this long ago, a certificate of 825 days expires in 10."""


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings logged, but the revocation list's count (the tests revoke to reissue)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and not r.getMessage().startswith("revocation list")
    ]


def test_the_coordinator_names_each_certificate_about_to_expire_with_its_date_and_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    init_certificates(tmp_path, PARTIES)
    revoke_party(tmp_path, "alice")
    with issuer_clock(-ALMOST_EXPIRED):
        renew_coordinator(tmp_path)
        add_party(tmp_path, "alice")
    caplog.set_level(logging.WARNING, logger="rengo.transport")
    HubSecurity.from_directory(tmp_path, parties=PARTIES)
    said = warnings(caplog)
    coordinator = [w for w in said if "the coordinator's certificate" in w]
    alice = [w for w in said if "party alice's certificate" in w]
    assert len(coordinator) == 1 and len(alice) == 1, said
    assert "expires at " in coordinator[0] and "in 9 days" in coordinator[0]
    assert f"rengo certs coordinator {tmp_path}" in coordinator[0]
    assert f"rengo certs revoke {tmp_path} alice" in alice[0]
    assert f"rengo certs add {tmp_path} alice" in alice[0]
    assert not [w for w in said if "bob" in w or "CA certificate" in w]  # valid for years


def test_a_party_is_told_its_own_certificate_expires_soon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    init_certificates(tmp_path, PARTIES)
    revoke_party(tmp_path, "alice")
    with issuer_clock(-ALMOST_EXPIRED):
        add_party(tmp_path, "alice")
    caplog.set_level(logging.WARNING, logger="rengo.transport")
    PartyCredentials.from_directory(tmp_path, "bob")
    assert not warnings(caplog)
    PartyCredentials.from_directory(tmp_path, "alice")
    (said,) = warnings(caplog)
    assert said.startswith("party alice's certificate (") and "in 9 days" in said


def test_an_expired_certificate_is_named_with_the_moment_it_expired() -> None:
    folder_now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    from rengo.transport.certs import create_ca

    ca = create_ca(valid_days=1)
    said = expiry_notice(ca.cert_pem, "the CA", "renew it", folder_now)
    assert said is not None and said.startswith("the CA expired at ") and said.endswith("renew it")


def test_a_renewed_coordinator_certificate_serves_the_parties_old_files(tmp_path: Path) -> None:
    init_certificates(tmp_path, PARTIES)
    old = x509.load_pem_x509_certificate((tmp_path / "coordinator.pem").read_bytes())
    cert, key = renew_coordinator(tmp_path, hosts=["localhost", "127.0.0.1", "coord2.example.org"])
    new = x509.load_pem_x509_certificate(cert.read_bytes())
    assert new.serial_number != old.serial_number
    names = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "coord2.example.org" in names.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    connect(tmp_path)  # alice joins with her files from before the renewal

"""Certificate revocation: the operator's CA-signed list (``rengo certs revoke``) is refused
when another CA signed it, a revoked party cannot connect, a party revoked while connected is
dropped, and a new certificate for the same name is admitted again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rengo.core.errors import AuthenticationError, ConfigError
from rengo.transport.certs import (
    REVOKED_FILE,
    add_party,
    init_certificates,
    revoke_party,
)
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.revocation import RevocationList

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=3.0)


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    init_certificates(directory, ["alice", "bob"])
    return directory


def _serial(certs: Path, name: str) -> int:
    from cryptography import x509

    return int(
        x509.load_pem_x509_certificate(
            (certs / "parties" / f"{name}.pem").read_bytes()
        ).serial_number
    )


def test_a_revoked_serial_is_on_the_list_and_others_are_not(certs: Path) -> None:
    revocations = RevocationList(certs / REVOKED_FILE, (certs / "ca.pem").read_bytes())
    assert revocations.serials == frozenset()  # no file yet: nothing revoked
    serial = revoke_party(certs, "bob")
    assert serial == _serial(certs, "bob")
    assert revocations.is_revoked(serial)  # re-read because the file changed
    assert not revocations.is_revoked(_serial(certs, "alice"))
    revoke_party(certs, "alice")
    assert revocations.serials == {_serial(certs, "alice"), _serial(certs, "bob")}


def test_revoking_twice_or_a_party_without_a_certificate_is_a_clear_error(certs: Path) -> None:
    revoke_party(certs, "bob")
    with pytest.raises(ConfigError, match="revoked already; `rengo certs add"):
        revoke_party(certs, "bob")
    with pytest.raises(ConfigError, match=r"party carol's certificate .* does not exist"):
        revoke_party(certs, "carol")


def test_a_list_signed_by_another_ca_is_refused_at_start_and_ignored_later(
    certs: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    init_certificates(other, ["bob"])
    revoke_party(other, "bob")
    ca = (certs / "ca.pem").read_bytes()
    with pytest.raises(ConfigError, match="not signed by this federation's CA"):
        RevocationList(other / REVOKED_FILE, ca)
    revoke_party(certs, "bob")
    revocations = RevocationList(certs / REVOKED_FILE, ca)
    (certs / REVOKED_FILE).write_bytes((other / REVOKED_FILE).read_bytes() + b"\n")
    assert revocations.is_revoked(_serial(certs, "bob"))  # the last verified list holds
    (certs / REVOKED_FILE).write_bytes(b"not a list")
    assert revocations.is_revoked(_serial(certs, "bob"))
    with pytest.raises(ConfigError, match="is not a PEM CRL"):
        HubSecurity.from_directory(certs)


def _connect(hub: GrpcHub, certs: Path, name: str) -> PartyConnection:
    credentials = PartyCredentials.from_directory(certs, name)
    return PartyConnection(hub.address, name, credentials, heartbeat_interval=0.2, backoff=FAST)


@pytest.mark.timeout(60)
def test_a_revoked_party_is_refused_and_a_reissued_certificate_is_admitted(certs: Path) -> None:
    revoke_party(certs, "bob")
    with GrpcHub("127.0.0.1:0", HubSecurity.from_directory(certs), heartbeat_interval=0.2) as hub:
        with pytest.raises(AuthenticationError, match=r"'bob' .* was revoked"):
            _connect(hub, certs, "bob").run()
        assert hub.client_ids() == []
        add_party(certs, "bob")  # a new certificate, a new serial number
        conn = _connect(hub, certs, "bob").start()
        try:
            conn.wait_connected(20)
            assert hub.client_ids() == ["bob"]
        finally:
            conn.close()


@pytest.mark.timeout(60)
def test_a_party_revoked_while_connected_is_dropped_and_cannot_return(certs: Path) -> None:
    events: list[str] = []
    with GrpcHub(
        "127.0.0.1:0",
        HubSecurity.from_directory(certs),
        heartbeat_interval=0.2,
        on_event=lambda level, message: events.append(message),
    ) as hub:
        alice, bob = _connect(hub, certs, "alice").start(), _connect(hub, certs, "bob").start()
        try:
            alice.wait_connected(20)
            bob.wait_connected(20)
            revoke_party(certs, "bob")
            deadline = time.monotonic() + 10

            def told() -> bool:  # the hub reports a departure just after it takes the party off
                return any("party bob left" in m and "was revoked" in m for m in events)

            while ("bob" in hub.client_ids() or not told()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert hub.client_ids() == ["alice"]
            assert told()
            with pytest.raises(AuthenticationError, match=r"'bob' .* was revoked"):
                bob.join(10)  # told why; it does not retry
            with pytest.raises(AuthenticationError, match=r"'bob' .* was revoked"):
                _connect(hub, certs, "bob").run()
            assert hub.client_ids() == ["alice"]
        finally:
            alice.close()
            bob.close()


def test_a_partys_credentials_follow_the_list_and_it_survives_a_process_boundary(
    certs: Path,
) -> None:
    import pickle

    credentials = PartyCredentials.from_directory(certs, "alice")
    assert credentials.revocations is not None
    assert credentials.revocations.serials == frozenset()
    serial = revoke_party(certs, "bob")
    copy = pickle.loads(pickle.dumps(credentials.revocations))
    assert credentials.revocations.serials == copy.serials == {serial}
    revoke_party(certs, "alice")
    assert copy.serials == {serial, _serial(certs, "alice")}  # the copy re-reads it too


def test_a_party_gets_a_new_certificate_only_once_its_current_one_is_revoked(
    certs: Path,
) -> None:
    old = _serial(certs, "bob")
    with pytest.raises(ConfigError, match="already holds a certificate from this CA"):
        add_party(certs, "bob")  # the old one would stay valid, and nothing could revoke it
    assert _serial(certs, "bob") == old
    revoke_party(certs, "bob")
    add_party(certs, "bob")
    assert _serial(certs, "bob") != old
    with pytest.raises(ConfigError, match="already holds"):
        add_party(certs, "bob")


def test_removing_the_list_or_putting_an_older_one_back_lifts_no_revocation(
    certs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    path = certs / REVOKED_FILE
    revocations = RevocationList(path, (certs / "ca.pem").read_bytes())
    bob = revoke_party(certs, "bob")
    older = path.read_bytes()
    alice = revoke_party(certs, "alice")
    assert revocations.serials == {alice, bob}
    path.write_bytes(older)  # signed by the CA, but issued before the list in force
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert revocations.serials == {alice, bob}
    path.unlink()
    assert revocations.serials == {alice, bob}
    assert any("is older than the one in force" in r.message for r in caplog.records)
    assert sum("was removed" in r.message for r in caplog.records) == 1  # once, not per read
    assert revocations.serials == {alice, bob}
    assert sum("was removed" in r.message for r in caplog.records) == 1


def test_a_hub_on_tokens_has_no_revocation_list_to_follow(certs: Path) -> None:
    (certs / REVOKED_FILE).write_bytes(b"garbage")  # not read at all on tokens
    security = HubSecurity.from_directory(certs, tokens={"alice": "secret-of-alice-0123"})
    assert security.revocations is None and security.revoked_serials() == frozenset()
    with pytest.raises(ConfigError, match="is not a PEM CRL"):
        HubSecurity.from_directory(certs)


def test_a_coordinator_whose_run_names_a_revoked_party_says_so_at_start(
    certs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The run still names an expelled party: it could only be told 'parties missing' once
    the join timeout passed. A party re-admitted since (`rengo certs add`) is not named."""
    revoke_party(certs, "bob")
    with caplog.at_level("WARNING", logger="rengo.transport"):
        HubSecurity.from_directory(certs, parties=["alice", "bob"])
    said = [r.getMessage() for r in caplog.records if "revoked certificate" in r.getMessage()]
    assert len(said) == 1 and "party 'bob', one of the run's parties" in said[0]
    assert f"rengo certs add {certs} bob" in said[0]
    caplog.clear()
    add_party(certs, "bob")
    with caplog.at_level("WARNING", logger="rengo.transport"):
        HubSecurity.from_directory(certs, parties=["alice", "bob"])
    assert not [r for r in caplog.records if "revoked certificate" in r.getMessage()]


@pytest.mark.timeout(60)
def test_an_old_revoked_key_does_not_make_the_hub_give_up_on_the_reissued_party(
    certs: Path, tmp_path: Path
) -> None:
    """Revoke and reissue after a stolen key: whoever holds bob's OLD certificate is refused,
    and that refusal must not mark bob, connected with his new certificate, as revoked (the
    coordinator would stop waiting for him after a drop, and the run would record him
    revoked)."""
    import shutil

    stolen = tmp_path / "stolen"
    shutil.copytree(certs, stolen)  # bob's old key, taken before the revocation
    revoke_party(certs, "bob")
    add_party(certs, "bob")
    told: list[tuple[str, int]] = []
    with GrpcHub(
        "127.0.0.1:0",
        HubSecurity.from_directory(certs),
        heartbeat_interval=0.2,
        on_revoked=lambda party, serial: told.append((party, serial)),
    ) as hub:
        honest = _connect(hub, certs, "bob").start()
        try:
            honest.wait_connected(20)
            with pytest.raises(AuthenticationError, match=r"'bob' .* was revoked"):
                _connect(hub, stolen, "bob").run()
            assert hub.client_ids() == ["bob"]
            assert hub.revoked_parties() == frozenset()
            assert told == []
        finally:
            honest.close()

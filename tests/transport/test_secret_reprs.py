"""Objects holding a private key or a token print without it: users print and log the
credentials the docs tell them to build (the repr of a SigningIdentity or PartyCredentials
held the PEM private key)."""

from __future__ import annotations

from pathlib import Path

from rengo.crypto.pairwise import new_key_pair
from rengo.crypto.signatures import SigningIdentity
from rengo.transport.certs import create_ca, init_certificates, party_paths
from rengo.transport.grpc_security import HubSecurity, PartyCredentials


def test_credentials_and_identities_print_without_their_secrets(tmp_path: Path) -> None:
    init_certificates(tmp_path, ["bank"])
    cert, key = party_paths(tmp_path, "bank")
    key_pem = key.read_bytes()
    identity = SigningIdentity.from_pem(
        cert.read_bytes(), key_pem, (tmp_path / "ca.pem").read_bytes()
    )
    party = PartyCredentials.from_directory(tmp_path, "bank")
    hub = HubSecurity.from_directory(tmp_path)
    token_hub = HubSecurity.from_directory(tmp_path, tokens={"bank": "s3cret-token-of-bank"})
    token_party = PartyCredentials(
        ca_cert=(tmp_path / "ca.pem").read_bytes(), token="s3cret-token-of-bank"
    )
    for holder in (identity, party, hub, token_hub, token_party, create_ca()):
        text = repr(holder)
        assert "PRIVATE KEY" not in text and "s3cret-token-of-bank" not in text, type(
            holder
        ).__name__
    assert "bank" in repr(identity)  # still says whose it is
    pair = new_key_pair()
    assert pair.secret.hex() not in repr(pair) and str(pair.secret) not in repr(pair)

"""Key pairs shared by the crypto tests: generated once per session (seeded, small keys)."""

from __future__ import annotations

import pytest

from rengo.crypto import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair

KeyPair = tuple[PaillierPublicKey, PaillierPrivateKey]


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    """A 1024-bit key pair (insecure size, fast tests)."""
    return generate_paillier_keypair(1024, seed=20240601)


@pytest.fixture(scope="session")
def other_keypair() -> KeyPair:
    """A second, unrelated key pair for wrong-key tests."""
    return generate_paillier_keypair(512, seed=7)

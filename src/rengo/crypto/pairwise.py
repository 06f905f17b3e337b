"""X25519 pairwise key agreement and authenticated encryption between two clients.

Secure aggregation gives each client two X25519 key pairs (Bonawitz et al. CCS 2017, Fig. 4):
one to agree the pairwise *mask* seeds ``s_uv`` and one to agree *encryption* keys for the
shares routed through the coordinator. Agreement is X25519 (RFC 7748, ``cryptography``)
followed by HKDF-SHA256 bound to a context (the run's round and the pair), so one agreement
never yields the same key in two rounds or for two purposes. Shares travel sealed with
ChaCha20-Poly1305: the coordinator that routes them learns nothing and cannot alter one
unnoticed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

KEY_BYTES = 32


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair as raw 32-byte strings."""

    secret: bytes = field(repr=False)  # never in a log or a traceback
    public: bytes


def new_key_pair() -> KeyPair:
    """A fresh X25519 key pair from the OS CSPRNG."""
    key = X25519PrivateKey.generate()
    return KeyPair(
        key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


def public_key_of(secret: bytes) -> bytes:
    """The public key of a raw X25519 secret (to check a rebuilt secret against).

    Raises
    ------
    ValueError
        If ``secret`` is not 32 bytes.
    """
    key = X25519PrivateKey.from_private_bytes(secret)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def agree(secret: bytes | X25519PrivateKey, peer_public: bytes, context: bytes) -> bytes:
    """A 32-byte key both ends derive: HKDF-SHA256(X25519(secret, peer_public), info=context).

    Parameters
    ----------
    secret
        Our raw X25519 secret (or the loaded key, to agree with many peers).
    peer_public
        The peer's raw public key.
    context
        What the key is for (purpose, round, the pair in a fixed order).

    Returns
    -------
    bytes
        32 bytes.

    Raises
    ------
    ValueError
        If a key is malformed or the peer's is a low-order point (a hostile peer).
    """
    key = (
        secret
        if isinstance(secret, X25519PrivateKey)
        else X25519PrivateKey.from_private_bytes(secret)
    )
    shared = key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=context)
    return kdf.derive(shared)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """ChaCha20-Poly1305 encryption of ``plaintext`` bound to ``associated`` (nonce first)."""
    nonce = os.urandom(12)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Decrypt :func:`seal`'s output.

    Raises
    ------
    ValueError
        If the ciphertext was altered, sealed under another key or for another context.
    """
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:12], sealed[12:], associated)
    except InvalidTag as exc:
        raise ValueError("sealed message fails authentication") from exc

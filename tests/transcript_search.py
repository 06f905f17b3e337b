"""Searching recorded bus transcripts for what must not cross (importable by name: the
tests folder is on the path through its conftest): decoded payloads and their leaves, every
plaintext value in them, the encrypted arrays sent, and the Paillier randomness checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gmpy2
import numpy as np

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.crypto import EncryptedArray, PaillierPrivateKey
from rengo.transport.channel import TranscriptEntry

__all__ = [
    "decoded",
    "decoded_leaves",
    "leaves",
    "plain_arrays",
    "plain_numbers",
    "randomness",
    "randomness_problems",
    "sent_arrays",
]


def decoded(entry: TranscriptEntry) -> Any:
    """The entry's payload, decoded."""
    return decode(envelope_from_bytes(entry.payload).payload)


def leaves(value: Any) -> Iterator[Any]:
    """Every leaf value of a decoded payload (dicts and sequences walked)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def decoded_leaves(entry: TranscriptEntry) -> Iterator[Any]:
    """Every leaf value of the entry's decoded payload."""
    yield from leaves(decoded(entry))


def plain_arrays(value: Any) -> Iterator[np.ndarray]:
    """Every plaintext array (flattened, whatever its dtype) and number (as a one-element
    float array) inside a decoded payload; ciphertexts are not plaintext."""
    for leaf in leaves(value):
        if isinstance(leaf, np.ndarray):
            yield leaf.ravel()
        elif isinstance(leaf, (bool, int, float)):
            yield np.array([leaf], dtype=float)


def plain_numbers(entries: list[TranscriptEntry]) -> np.ndarray:
    """Every plaintext number the entries carry (numeric arrays and scalars), as float64."""
    out = [np.zeros(0)]
    for entry in entries:
        for leaf in decoded_leaves(entry):
            if isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf":
                out.append(leaf.astype(np.float64).ravel())
            elif isinstance(leaf, (bool, int, float, np.number)):
                out.append(np.array([float(leaf)]))
    return np.concatenate(out)


def sent_arrays(entries: list[TranscriptEntry]) -> Iterator[tuple[str, EncryptedArray]]:
    """Every encrypted array in the transcript, with the key it was sent under."""
    for entry in entries:
        for leaf in decoded_leaves(entry):
            if isinstance(leaf, EncryptedArray):
                yield entry.key, leaf


def randomness(ciphertext: gmpy2.mpz, private: PaillierPrivateKey) -> gmpy2.mpz:
    """``r^n mod n^2`` of ``c = (1 + m*n) r^n``: divide out ``g^m``, ``(1 + m n)^-1 = 1 - m n``."""
    n, nsquare = private.public_key.n, private.public_key.nsquare
    return ciphertext * (1 - private.raw_decrypt(ciphertext) * n) % nsquare


def randomness_problems(
    sent: list[tuple[str, EncryptedArray]], private_keys: list[PaillierPrivateKey]
) -> list[str]:
    """Ciphertexts sent without randomness (r^n = 1), or two different ciphertexts with the
    same randomness. The same ciphertext sent twice (to two parties) is one ciphertext."""
    by_modulus = {key.public_key.n: key for key in private_keys}
    problems, owner = [], {}
    for key, array in sent:
        private = by_modulus[array.public_key.n]
        for c in set(array.ciphertexts.ravel().tolist()):
            r = randomness(c, private)
            if r == 1:
                problems.append(f"{key}: a ciphertext of the form 1 + m*n")
            elif owner.setdefault((private.public_key.n, r), (key, c))[1] != c:
                problems.append(
                    f"{key} reuses the randomness of {owner[(private.public_key.n, r)][0]}"
                )
    return problems

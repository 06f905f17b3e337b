"""Paillier public keys and ciphertext arrays on the wire, through :mod:`rengo.core.codec`.

Ciphertexts travel as one bytes buffer of fixed-width big-endian integers (width = byte length
of n^2); a public key travels as n. Encoding refuses ciphertexts that are not freshly
randomised (see :mod:`rengo.crypto.encrypted_array`): safe by default. Decoding checks every
field and every ciphertext (``0 < c < n^2``) before building an object, which is not fresh:
the receiver cannot vouch for its randomness. Private keys are never registered here: see
:mod:`rengo.crypto.key_storage` for saving them to disk.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gmpy2 import mpz

from rengo.core.codec import register_type
from rengo.crypto.encrypted_array import EncryptedArray
from rengo.crypto.keys import MAX_WIRE_KEY_BITS, MIN_WIRE_KEY_BITS, PaillierPublicKey
from rengo.crypto.packing import PackedEncryptedVector, SlotLayout

MAX_WIRE_EXPONENT = 1 << 16


def ciphertexts_to_bytes(ciphertexts: np.ndarray, public_key: PaillierPublicKey) -> bytes:
    """Fixed-width big-endian concatenation of the ciphertexts (in C order)."""
    width = public_key.ciphertext_bytes
    return b"".join(mpz(c).to_bytes(width, "big") for c in ciphertexts.ravel().tolist())


def ciphertexts_from_bytes(
    data: bytes, public_key: PaillierPublicKey, shape: tuple[int, ...]
) -> np.ndarray:
    """Inverse of :func:`ciphertexts_to_bytes`; raises ``ValueError`` on any bad input."""
    width = public_key.ciphertext_bytes
    count = math.prod(shape)  # Python ints: a hostile shape cannot overflow int64
    if any(s < 0 for s in shape) or len(data) != count * width:
        raise ValueError(f"{count} ciphertexts need {count * width} bytes, got {len(data)}")
    nsquare = public_key.nsquare
    items = []
    for start in range(0, len(data), width):
        c = mpz.from_bytes(data[start : start + width], "big")
        if not 0 < c < nsquare:
            raise ValueError("a ciphertext is not in [1, n^2)")
        items.append(c)
    public_key.require_units(items)  # coprime to n: one gcd for all of them
    out = np.empty(count, dtype=object)
    out[:] = items
    return out.reshape(shape)


def _public_key_to_tree(key: PaillierPublicKey) -> dict[str, Any]:
    return {"n": int(key.n).to_bytes((key.bits + 7) // 8, "big")}


def _public_key_from_tree(tree: Any) -> PaillierPublicKey:
    raw = _field(tree, "n", bytes)
    n = mpz.from_bytes(raw, "big")
    if not MIN_WIRE_KEY_BITS <= n.bit_length() <= MAX_WIRE_KEY_BITS:
        raise ValueError(f"modulus of {n.bit_length()} bits is outside the accepted range")
    return PaillierPublicKey(n)


def _encrypted_array_to_tree(array: EncryptedArray) -> dict[str, Any]:
    array.require_sendable()
    return {
        "key": array.public_key,
        "shape": list(array.shape),
        "exponent": array.exponent,
        "ct": ciphertexts_to_bytes(array.ciphertexts, array.public_key),
    }


def _encrypted_array_from_tree(tree: Any) -> EncryptedArray:
    key = _field(tree, "key", PaillierPublicKey)
    shape = _shape(_field(tree, "shape", list))
    exponent = _small_int(tree, "exponent", MAX_WIRE_EXPONENT)
    ciphertexts = ciphertexts_from_bytes(_field(tree, "ct", bytes), key, shape)
    return EncryptedArray(key, ciphertexts, exponent)


def _packed_to_tree(packed: PackedEncryptedVector) -> dict[str, Any]:
    packed.require_sendable()
    layout = packed.layout
    return {
        "key": packed.public_key,
        "layout": [layout.precision_bits, layout.value_bits, layout.headroom_bits],
        "count": packed.count,
        "terms": packed.terms,
        "ct": ciphertexts_to_bytes(packed.ciphertexts, packed.public_key),
    }


def _packed_from_tree(tree: Any) -> PackedEncryptedVector:
    key = _field(tree, "key", PaillierPublicKey)
    raw_layout = _field(tree, "layout", list)
    if len(raw_layout) != 3 or not all(_is_int(v) and 0 <= v <= 4096 for v in raw_layout):
        raise ValueError("bad slot layout")
    layout = SlotLayout(*raw_layout)
    count = _small_int(tree, "count", 1 << 40)
    terms = _small_int(tree, "terms", layout.max_terms)
    if terms < 1:
        raise ValueError("a packed vector sums at least one packing")
    slots = layout.slots_per_plaintext(key)
    ciphertexts = ciphertexts_from_bytes(_field(tree, "ct", bytes), key, (-(-count // slots),))
    return PackedEncryptedVector(key, ciphertexts, layout, count, terms)


def _field(tree: Any, name: str, kind: type) -> Any:
    if not isinstance(tree, dict) or name not in tree:
        raise ValueError(f"missing field {name!r}")
    value = tree[name]
    if not isinstance(value, kind):
        raise TypeError(f"field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _small_int(tree: Any, name: str, limit: int) -> int:
    value = _field(tree, name, int)
    if not _is_int(value) or not 0 <= value <= limit:
        raise ValueError(f"field {name!r} must be an integer in [0, {limit}]")
    return int(value)


def _shape(raw: list[Any]) -> tuple[int, ...]:
    if len(raw) > 32 or not all(_is_int(s) and s >= 0 for s in raw):
        raise ValueError(f"bad shape {raw!r}")
    return tuple(raw)


def register_paillier_types() -> None:
    """Register the public key, encrypted arrays and packed vectors with the codec."""
    register_type(
        "rengo.paillier.PublicKey", PaillierPublicKey, _public_key_to_tree, _public_key_from_tree
    )
    register_type(
        "rengo.paillier.EncryptedArray",
        EncryptedArray,
        _encrypted_array_to_tree,
        _encrypted_array_from_tree,
    )
    register_type(
        "rengo.paillier.PackedEncryptedVector",
        PackedEncryptedVector,
        _packed_to_tree,
        _packed_from_tree,
    )


register_paillier_types()

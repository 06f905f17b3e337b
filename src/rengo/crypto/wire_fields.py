"""The checked pieces of Paillier payloads on the wire, shared by the modules that register
their types with :mod:`rengo.core.codec` (:mod:`rengo.crypto.keys`,
:mod:`rengo.crypto.encrypted_array`, :mod:`rengo.crypto.packing`).

Ciphertexts travel as one bytes buffer of fixed-width big-endian integers (width = byte length
of n^2). Every field is checked before an object is built: a hostile payload raises
``ValueError`` or ``TypeError``, which the codec turns into a ``CodecError``. This module
imports none of those classes, so each can register its own type as it is defined.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from gmpy2 import mpz

if TYPE_CHECKING:
    from rengo.crypto.keys import PaillierPublicKey

MAX_WIRE_EXPONENT = 1 << 16


def ciphertexts_to_bytes(ciphertexts: np.ndarray, public_key: PaillierPublicKey) -> bytes:
    """Fixed-width big-endian concatenation of the ciphertexts (in C order).

    Parameters
    ----------
    ciphertexts
        An object array of ciphertexts (``mpz`` or int), any shape.
    public_key
        Their key: each takes ``public_key.ciphertext_bytes`` bytes.

    Returns
    -------
    bytes
        The ciphertexts one after another.
    """
    width = public_key.ciphertext_bytes
    return b"".join(mpz(c).to_bytes(width, "big") for c in ciphertexts.ravel().tolist())


def ciphertexts_from_bytes(
    data: bytes, public_key: PaillierPublicKey, shape: tuple[int, ...]
) -> np.ndarray:
    """Inverse of :func:`ciphertexts_to_bytes`, checking every ciphertext.

    Parameters
    ----------
    data
        The bytes as received.
    public_key
        The key they were made under (fixes their width and range).
    shape
        The array's shape (its product is how many ciphertexts ``data`` holds).

    Returns
    -------
    numpy.ndarray
        An object array of ``mpz`` ciphertexts of ``shape``.

    Raises
    ------
    ValueError
        For a length that is not ``shape``'s count of ciphertexts, a ciphertext outside
        ``[1, n^2)`` or one that shares a factor with ``n``.
    """
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


def field(tree: Any, name: str, kind: type) -> Any:
    """``tree[name]``, which must exist and be a ``kind``."""
    if not isinstance(tree, dict) or name not in tree:
        raise ValueError(f"missing field {name!r}")
    value = tree[name]
    if not isinstance(value, kind):
        raise TypeError(f"field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def small_int(tree: Any, name: str, limit: int) -> int:
    """``tree[name]``, an integer in ``[0, limit]``."""
    value = field(tree, name, int)
    if not is_int(value) or not 0 <= value <= limit:
        raise ValueError(f"field {name!r} must be an integer in [0, {limit}]")
    return int(value)


def shape_field(raw: list[Any]) -> tuple[int, ...]:
    """An array shape: at most 32 non-negative ints."""
    if len(raw) > 32 or not all(is_int(s) and s >= 0 for s in raw):
        raise ValueError(f"bad shape {raw!r}")
    return tuple(raw)

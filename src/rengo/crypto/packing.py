"""Packing many fixed-point values into one Paillier plaintext (slots of B bits).

One 2048-bit plaintext has room for dozens of 30-60-bit values, so one encryption (and one
decryption) carries all of them, and one ciphertext multiplication adds every slot at once:
the batching used by BatchCrypt (Zhang et al., USENIX ATC 2020) and by DJN-style vector
encodings. Each v in ``[-2**value_bits, 2**value_bits)`` is stored as the non-negative slot
``round(v * 2**precision_bits) + offset`` with ``offset = 2**(precision_bits + value_bits)``;
``headroom_bits`` extra bits per slot let up to ``2**headroom_bits`` packed ciphertexts be
summed before a slot could carry into its neighbour. Only additions (and multiplication by
small non-negative integers) are supported on packed ciphertexts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz
from numpy.typing import ArrayLike

from rengo.core.codec import register_type
from rengo.core.errors import DataError
from rengo.crypto import wire_fields
from rengo.crypto.encrypted_array import UnrandomizedCiphertextError
from rengo.crypto.fixed_point import FixedPointOverflowError, scale_to_integers
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.parallel import map_chunks

_powmod = np.frompyfunc(gmpy2.powmod, 3, 1)


@dataclass(frozen=True)
class SlotLayout:
    """How values sit in a packed plaintext: fractional bits, magnitude bound, headroom."""

    precision_bits: int = 24
    value_bits: int = 8
    headroom_bits: int = 10

    def __post_init__(self) -> None:
        if min(self.precision_bits, self.value_bits, self.headroom_bits) < 0:
            raise ValueError("slot layout bit counts must be >= 0")

    @property
    def slot_bits(self) -> int:
        """B: bits per slot (sign offset bit and summation headroom included)."""
        return self.precision_bits + self.value_bits + 1 + self.headroom_bits

    @property
    def max_terms(self) -> int:
        """Most packed ciphertexts that may be summed: ``2**headroom_bits``."""
        return 1 << self.headroom_bits

    @property
    def offset(self) -> int:
        """Added to each encoded value so that slots hold non-negative integers."""
        return 1 << (self.precision_bits + self.value_bits)

    def slots_per_plaintext(self, public_key: PaillierPublicKey) -> int:
        """Slots that fit below n (the top bit of n is left unused)."""
        slots = (public_key.bits - 1) // self.slot_bits
        if slots < 1:
            raise ValueError(
                f"a {self.slot_bits}-bit slot does not fit a {public_key.bits}-bit key"
            )
        return slots


def pack(values: ArrayLike, layout: SlotLayout, public_key: PaillierPublicKey) -> np.ndarray:
    """Plaintext integers (object array) holding ``values`` (flattened) in slots."""
    flat = np.asarray(values).ravel()
    encoded = scale_to_integers(flat, layout.precision_bits) + layout.offset
    if encoded.size and (min(encoded) < 0 or max(encoded) >= 2 * layout.offset):
        raise FixedPointOverflowError(
            f"a value lies outside [-2**{layout.value_bits}, 2**{layout.value_bits}); "
            "raise value_bits in the slot layout"
        )
    slots, width = layout.slots_per_plaintext(public_key), layout.slot_bits
    plaintexts = []
    for start in range(0, len(encoded), slots):
        packed = mpz(0)
        for value in reversed(encoded[start : start + slots].tolist()):
            packed = (packed << width) | value
        plaintexts.append(packed)
    return _object_array(plaintexts)


def unpack(
    plaintexts: np.ndarray,
    layout: SlotLayout,
    public_key: PaillierPublicKey,
    count: int,
    terms: int = 1,
) -> np.ndarray:
    """The ``count`` floats held by packed plaintexts that each summed ``terms`` packings."""
    slots = layout.slots_per_plaintext(public_key)
    if len(plaintexts) != -(-count // slots):
        raise DataError(f"{len(plaintexts)} packed plaintexts cannot hold exactly {count} values")
    width, mask = layout.slot_bits, (mpz(1) << layout.slot_bits) - 1
    shift_back, scale = terms * layout.offset, 1 << layout.precision_bits
    out: list[float] = []
    for packed in plaintexts.tolist():
        value = mpz(packed)
        for _ in range(min(slots, count - len(out))):
            out.append(int((value & mask) - shift_back) / scale)
            value >>= width
        if value:
            raise FixedPointOverflowError("packed plaintext has bits beyond its slots (overflow)")
    return np.array(out, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PackedEncryptedVector:
    """Encrypted packed plaintexts: ``count`` values, each the sum of ``terms`` packings.

    Freshness works as for :class:`~rengo.crypto.EncryptedArray`: a new encryption or
    :meth:`rerandomize` is fresh and may be sent; a sum or multiple is not, until it is
    rerandomised (or the sender opts out with :meth:`insecure_unrandomized`).
    """

    public_key: PaillierPublicKey
    ciphertexts: np.ndarray
    layout: SlotLayout
    count: int
    terms: int = 1
    fresh: bool = False
    insecure_unrandomized_ok: bool = False

    def rerandomize(self, pool: ObfuscatorPool | None = None) -> PackedEncryptedVector:
        """The same packed plaintexts under fresh randomness (safe to send)."""
        pool = pool if pool is not None else ObfuscatorPool(self.public_key)
        self.public_key.require_same(pool.public_key, "obfuscators")
        product = self.ciphertexts * pool.take(len(self.ciphertexts)) % self.public_key.nsquare
        return replace(self, ciphertexts=product, fresh=True, insecure_unrandomized_ok=False)

    def insecure_unrandomized(self) -> PackedEncryptedVector:
        """Allowed on the wire although not freshly randomised: INSECURE unless no receiver
        knows a ciphertext it was computed from (see ``EncryptedArray.insecure_unrandomized``)."""
        return replace(self, insecure_unrandomized_ok=True)

    def require_sendable(self) -> None:
        """Raise :class:`UnrandomizedCiphertextError` (naming the fix) unless fresh or the
        sender opted out."""
        if not (self.fresh or self.insecure_unrandomized_ok):
            raise UnrandomizedCiphertextError(
                f"refusing to send {len(self.ciphertexts)} packed ciphertexts that are not "
                "freshly randomised (a sum or multiple of ciphertexts the receiver may hold); "
                "send packed.rerandomize(pool) instead, or packed.insecure_unrandomized() to "
                "opt out explicitly"
            )

    def __add__(self, other: PackedEncryptedVector) -> PackedEncryptedVector:
        if not isinstance(other, PackedEncryptedVector):
            return NotImplemented
        self.public_key.require_same(other.public_key)
        if other.layout != self.layout or other.count != self.count:
            raise ValueError("packed vectors must share layout and length to be added")
        terms = self.terms + other.terms
        self._check_terms(terms)
        product = self.ciphertexts * other.ciphertexts % self.public_key.nsquare
        return PackedEncryptedVector(self.public_key, product, self.layout, self.count, terms)

    def times(self, factor: int) -> PackedEncryptedVector:
        """Every slot multiplied by a small non-negative integer (``terms`` scales with it)."""
        if not isinstance(factor, (int, np.integer)) or factor < 0:
            raise ValueError("packed ciphertexts can only be multiplied by integers >= 0")
        self._check_terms(self.terms * int(factor))
        powers = _powmod(self.ciphertexts, int(factor), self.public_key.nsquare)
        return PackedEncryptedVector(
            self.public_key, powers, self.layout, self.count, self.terms * int(factor)
        )

    def _check_terms(self, terms: int) -> None:
        if terms > self.layout.max_terms:
            raise FixedPointOverflowError(
                f"{terms} summed packings exceed the layout's headroom of "
                f"{self.layout.max_terms}; raise headroom_bits"
            )


def encrypt_packed(
    values: ArrayLike,
    public_key: PaillierPublicKey,
    layout: SlotLayout,
    *,
    pool: ObfuscatorPool | None = None,
    private_key: PaillierPrivateKey | None = None,
    workers: int | None = None,
) -> PackedEncryptedVector:
    """Pack ``values`` (flattened) and encrypt each plaintext once."""
    plaintexts = pack(values, layout, public_key)
    if pool is None:
        pool = ObfuscatorPool(public_key, private_key=private_key, workers=workers)
    public_key.require_same(pool.public_key, "obfuscators")
    obfuscators = pool.take(len(plaintexts))
    ciphertexts = (1 + plaintexts * public_key.n) * obfuscators % public_key.nsquare
    count = int(np.asarray(values).size)
    return PackedEncryptedVector(public_key, ciphertexts, layout, count, fresh=True)


def decrypt_packed(
    packed: PackedEncryptedVector, private_key: PaillierPrivateKey, *, workers: int | None = None
) -> np.ndarray:
    """The float values of a packed vector (after any additions)."""
    private_key.require_matches(packed.public_key)
    plaintexts = map_chunks(private_key.raw_decrypt_array, packed.ciphertexts, workers=workers)
    return unpack(plaintexts, packed.layout, packed.public_key, packed.count, packed.terms)


def _object_array(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


# -- on the wire ---------------------------------------------------------------------------
# Registered here, where the class is defined (see rengo.crypto.wire).


def _packed_to_tree(packed: PackedEncryptedVector) -> dict[str, Any]:
    packed.require_sendable()
    layout = packed.layout
    return {
        "key": packed.public_key,
        "layout": [layout.precision_bits, layout.value_bits, layout.headroom_bits],
        "count": packed.count,
        "terms": packed.terms,
        "ct": wire_fields.ciphertexts_to_bytes(packed.ciphertexts, packed.public_key),
    }


def _packed_from_tree(tree: Any) -> PackedEncryptedVector:
    key = wire_fields.field(tree, "key", PaillierPublicKey)
    raw_layout = wire_fields.field(tree, "layout", list)
    if len(raw_layout) != 3 or not all(
        wire_fields.is_int(v) and 0 <= v <= 4096 for v in raw_layout
    ):
        raise ValueError("bad slot layout")
    layout = SlotLayout(*raw_layout)
    count = wire_fields.small_int(tree, "count", 1 << 40)
    terms = wire_fields.small_int(tree, "terms", layout.max_terms)
    if terms < 1:
        raise ValueError("a packed vector sums at least one packing")
    slots = layout.slots_per_plaintext(key)
    ciphertexts = wire_fields.ciphertexts_from_bytes(
        wire_fields.field(tree, "ct", bytes), key, (-(-count // slots),)
    )
    return PackedEncryptedVector(key, ciphertexts, layout, count, terms)


register_type(
    "rengo.paillier.PackedEncryptedVector",
    PackedEncryptedVector,
    _packed_to_tree,
    _packed_from_tree,
)

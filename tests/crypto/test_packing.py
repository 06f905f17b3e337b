from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import KeyMismatchError
from rengo.crypto import (
    FixedPointOverflowError,
    SlotLayout,
    decrypt_packed,
    encrypt_packed,
    pack,
    unpack,
)


def test_layout_sizes_slots_from_bits():
    layout = SlotLayout(precision_bits=20, value_bits=6, headroom_bits=5)
    assert layout.slot_bits == 32 and layout.max_terms == 32 and layout.offset == 2**26


def test_pack_unpack_round_trip_is_exact_on_scale(keypair):
    public_key, _ = keypair
    layout = SlotLayout(precision_bits=16, value_bits=4, headroom_bits=3)
    values = np.array([0.0, -15.5, 15.5, 2.0**-16, -(2.0**-16), 1.0, -1.0])
    plaintexts = pack(values, layout, public_key)
    assert len(plaintexts) == 1
    np.testing.assert_array_equal(unpack(plaintexts, layout, public_key, len(values)), values)


def test_encrypted_packing_round_trip_spans_several_plaintexts(keypair):
    public_key, private_key = keypair
    layout = SlotLayout(precision_bits=24, value_bits=8, headroom_bits=6)
    slots = layout.slots_per_plaintext(public_key)
    values = np.random.default_rng(0).uniform(-255, 255, size=3 * slots + 5)
    packed = encrypt_packed(values, public_key, layout, private_key=private_key)
    assert len(packed.ciphertexts) == 4
    decrypted = decrypt_packed(packed, private_key)
    np.testing.assert_allclose(decrypted, values, rtol=0, atol=2.0**-25)


def test_packed_additions_sum_every_slot(keypair):
    public_key, private_key = keypair
    layout = SlotLayout(precision_bits=20, value_bits=6, headroom_bits=2)
    rng = np.random.default_rng(1)
    parts = [rng.uniform(-63, 63, size=30) for _ in range(4)]
    total = encrypt_packed(parts[0], public_key, layout)
    for part in parts[1:]:
        total = total + encrypt_packed(part, public_key, layout)
    assert total.terms == 4
    np.testing.assert_allclose(decrypt_packed(total, private_key), sum(parts), atol=4 * 2.0**-20)
    doubled = encrypt_packed(parts[0], public_key, layout).times(3)
    np.testing.assert_allclose(decrypt_packed(doubled, private_key), 3 * parts[0], atol=2.0**-18)


def test_packed_additions_beyond_headroom_are_refused(keypair):
    public_key, _ = keypair
    layout = SlotLayout(precision_bits=8, value_bits=4, headroom_bits=1)
    packed = encrypt_packed(np.ones(3), public_key, layout)
    two = packed + packed
    with pytest.raises(FixedPointOverflowError, match="headroom"):
        _ = two + packed
    with pytest.raises(FixedPointOverflowError):
        packed.times(3)


def test_values_outside_the_slot_range_are_refused(keypair):
    public_key, _ = keypair
    layout = SlotLayout(precision_bits=8, value_bits=4, headroom_bits=1)
    with pytest.raises(FixedPointOverflowError):
        pack(np.array([16.0]), layout, public_key)
    with pytest.raises(FixedPointOverflowError):
        pack(np.array([-17]), layout, public_key)
    with pytest.raises(FixedPointOverflowError):
        pack(np.array([-16.01]), layout, public_key)
    assert unpack(pack(np.array([-16]), layout, public_key), layout, public_key, 1) == [-16.0]


def test_packed_vectors_under_different_keys_are_refused(keypair, other_keypair):
    public_key, private_key = keypair
    layout = SlotLayout()
    mine = encrypt_packed(np.ones(3), public_key, layout)
    theirs = encrypt_packed(np.ones(3), other_keypair[0], layout)
    with pytest.raises(KeyMismatchError):
        _ = mine + theirs
    with pytest.raises(KeyMismatchError):
        decrypt_packed(theirs, private_key)

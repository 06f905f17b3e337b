"""One-time-pad masking for the key holder: exact round trips, uniform residues, fresh
ciphertexts."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from rengo.core.errors import KeyMismatchError, ProtocolError
from rengo.crypto import ObfuscatorPool, encrypt_array, generate_paillier_keypair
from rengo.crypto.masking import decrypt_masked, mask_encrypted, residues_from_bytes, unmask
from rengo.crypto.randomness import random_source

PUBLIC, PRIVATE = generate_paillier_keypair(512, seed=11)


def _pool() -> ObfuscatorPool:
    return ObfuscatorPool(PUBLIC, seed=5)


def test_mask_round_trip_is_exact_and_key_holder_sees_uniform_residues() -> None:
    values = np.array([0.25, -3.5, 1e-6, 0.0])
    enc = encrypt_array(values, PUBLIC, precision_bits=40, pool=_pool())
    masked, mask = mask_encrypted(enc, random_source(3), _pool())
    returned = decrypt_masked(masked, PRIVATE)
    seen = residues_from_bytes(returned, PUBLIC, 4)
    truth = enc.decrypt(PRIVATE)
    np.testing.assert_array_equal(unmask(returned, mask, PUBLIC), truth)
    half = gmpy2.mpz(1) << (PUBLIC.bits // 2)
    assert all(min(r, PUBLIC.n - r) > half for r in seen)  # nowhere near a small value


def test_masked_ciphertexts_are_fresh() -> None:
    enc = encrypt_array(np.ones(3), PUBLIC, pool=_pool())
    masked, _ = mask_encrypted(enc + 1.0, random_source(3), _pool())
    assert not set(masked.ciphertexts.tolist()) & set(enc.ciphertexts.tolist())
    assert masked.fresh  # safe to send, although enc + 1.0 was not


def test_unmask_rejects_wrong_length_and_out_of_range_residues() -> None:
    enc = encrypt_array(np.ones(2), PUBLIC, pool=_pool())
    _, mask = mask_encrypted(enc, random_source(3), _pool())
    width = (PUBLIC.bits + 7) // 8
    with pytest.raises(ProtocolError):
        unmask(b"\x00" * width, mask, PUBLIC)
    with pytest.raises(ProtocolError):
        unmask(b"\xff" * (2 * width), mask, PUBLIC)


def test_masking_refuses_a_pool_of_another_key() -> None:
    other_public, _ = generate_paillier_keypair(512, seed=12)
    enc = encrypt_array(np.ones(2), PUBLIC, pool=_pool())
    with pytest.raises(KeyMismatchError, match="obfuscators are under key"):
        mask_encrypted(enc, random_source(3), ObfuscatorPool(other_public, seed=5))

"""Bucketed ``Enc(d)^T X`` and one-time-pad masking for the key holder."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from rengo.core.errors import ProtocolError
from rengo.crypto import ObfuscatorPool, encrypt_array, generate_paillier_keypair
from rengo.crypto.randomness import random_source
from rengo.vfl.hetero_lr_gradient import encrypted_matmul
from rengo.vfl.hetero_lr_masking import decrypt_masked, mask_encrypted, residues_from_bytes, unmask

PUBLIC, PRIVATE = generate_paillier_keypair(512, seed=11)


def _pool() -> ObfuscatorPool:
    return ObfuscatorPool(PUBLIC, seed=5)


def test_encrypted_matmul_equals_exact_fixed_point_product() -> None:
    rng = np.random.default_rng(0)
    d = rng.normal(size=300)
    x = rng.normal(scale=3.0, size=(300, 4))
    x[:10, 0] = 0.0
    x[:, 3] = -np.abs(x[:, 3])  # an all-negative column
    enc = encrypt_array(d, PUBLIC, precision_bits=20, pool=_pool())
    out = encrypted_matmul(enc, x, precision_bits=12)
    assert out.exponent == 32 and out.shape == (4,)
    d_int = np.rint(d * 2**20).astype(np.int64).astype(object)
    x_int = np.rint(x * 2**12).astype(np.int64).astype(object)
    exact = (d_int @ x_int).astype(float) / 2**32
    np.testing.assert_array_equal(out.decrypt(PRIVATE), exact)


def test_encrypted_matmul_handles_one_row_and_zero_matrix() -> None:
    enc = encrypt_array(np.array([1.5]), PUBLIC, pool=_pool())
    np.testing.assert_array_equal(
        encrypted_matmul(enc, np.array([[2.0, -4.0]])).decrypt(PRIVATE), [3.0, -6.0]
    )
    np.testing.assert_array_equal(
        encrypted_matmul(enc, np.zeros((1, 2))).decrypt(PRIVATE), [0.0, 0.0]
    )


def test_encrypted_matmul_rejects_misaligned_shapes() -> None:
    enc = encrypt_array(np.ones(3), PUBLIC, pool=_pool())
    with pytest.raises(ValueError, match="mismatch"):
        encrypted_matmul(enc, np.ones((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        encrypted_matmul(enc, np.full((3, 1), np.nan))


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
    masked, _ = mask_encrypted(enc, random_source(3), _pool())
    assert not set(masked.ciphertexts.tolist()) & set(enc.ciphertexts.tolist())


def test_unmask_rejects_wrong_length_and_out_of_range_residues() -> None:
    enc = encrypt_array(np.ones(2), PUBLIC, pool=_pool())
    _, mask = mask_encrypted(enc, random_source(3), _pool())
    width = (PUBLIC.bits + 7) // 8
    with pytest.raises(ProtocolError):
        unmask(b"\x00" * width, mask, PUBLIC)
    with pytest.raises(ProtocolError):
        unmask(b"\xff" * (2 * width), mask, PUBLIC)

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import KeyMismatchError
from rengo.crypto import (
    EncryptedArray,
    FixedPointEncoder,
    FixedPointOverflowError,
    ObfuscatorPool,
    ScaleMismatchError,
    decrypt_array,
    encrypt_array,
)

TOL = 2.0**-30  # a few units of the 32-bit fixed-point scale


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    return np.random.default_rng(0).normal(scale=10.0, size=(3, 4))


@pytest.mark.parametrize("shape", [(), (5,), (2, 3)])
def test_round_trip_keeps_shape_and_values(keypair, shape):
    public_key, private_key = keypair
    plain = np.random.default_rng(1).uniform(-1e6, 1e6, size=shape)
    encrypted = encrypt_array(plain, public_key, pool=ObfuscatorPool(public_key, seed=1))
    assert encrypted.shape == shape
    decrypted = decrypt_array(encrypted, private_key)
    assert decrypted.shape == shape
    np.testing.assert_allclose(decrypted, plain, rtol=0, atol=2.0**-33)


def test_edge_values_round_trip_exactly(keypair):
    public_key, private_key = keypair
    edge = np.array([0.0, -0.0, 1.0, -1.0, 2.0**-32, -(2.0**-32), 2.0**400, -(2.0**400)])
    decrypted = encrypt_array(edge, public_key).decrypt(private_key)
    np.testing.assert_array_equal(decrypted, edge)


def test_key_holder_crt_encryption_decrypts_like_public_encryption(keypair, values):
    public_key, private_key = keypair
    by_crt = encrypt_array(values, public_key, private_key=private_key)
    np.testing.assert_allclose(by_crt.decrypt(private_key), values, atol=TOL)


def test_addition_of_ciphertexts_and_plaintexts(keypair, values):
    public_key, private_key = keypair
    a, b = values, values[::-1] * 3.0
    enc_a, enc_b = encrypt_array(a, public_key), encrypt_array(b, public_key)
    np.testing.assert_allclose((enc_a + enc_b).decrypt(private_key), a + b, atol=TOL)
    np.testing.assert_allclose((enc_a + b).decrypt(private_key), a + b, atol=TOL)
    np.testing.assert_allclose((b + enc_a).decrypt(private_key), a + b, atol=TOL)
    np.testing.assert_allclose((enc_a - enc_b).decrypt(private_key), a - b, atol=TOL)
    np.testing.assert_allclose((b - enc_a).decrypt(private_key), b - a, atol=TOL)
    np.testing.assert_allclose((-enc_a).decrypt(private_key), -a, atol=TOL)


@pytest.mark.parametrize(
    ("dtype", "subtrahend"),
    [
        (np.uint8, [1, 255]),
        (np.uint64, [1, 2**64 - 1]),
        (np.int64, [-(2**63), 2**63 - 1]),
        (np.bool_, [True, False]),
    ],
)
def test_subtracting_any_integer_dtype_is_exact(keypair, dtype, subtrahend):
    public_key, private_key = keypair
    encrypted = encrypt_array(np.array([10, 20]), public_key, precision_bits=0)
    plain = np.array(subtrahend, dtype=dtype)
    expected = [float(10 - int(subtrahend[0])), float(20 - int(subtrahend[1]))]
    np.testing.assert_array_equal((encrypted - plain).decrypt(private_key), expected)
    np.testing.assert_array_equal((encrypted - plain[0]).decrypt(private_key)[0], expected[0])


def test_addition_broadcasts_like_numpy(keypair, values):
    public_key, private_key = keypair
    row = np.array([1.0, -2.0, 3.0, -4.0])
    enc = encrypt_array(values, public_key)
    np.testing.assert_allclose(
        (enc + encrypt_array(row, public_key)).decrypt(private_key), values + row, atol=TOL
    )
    np.testing.assert_allclose((enc + 2.5).decrypt(private_key), values + 2.5, atol=TOL)


def test_plaintext_multiplication_scales_exponent_and_value(keypair, values):
    public_key, private_key = keypair
    enc = encrypt_array(values, public_key, precision_bits=20)
    factors = np.random.default_rng(2).normal(size=values.shape)
    product = enc * factors
    assert product.exponent == 20 + 32
    expected = np.rint(values * 2**20) / 2**20 * (np.rint(factors * 2**32) / 2**32)
    np.testing.assert_allclose(product.decrypt(private_key), expected, rtol=1e-15)
    exact = enc * np.array(-3)
    assert exact.exponent == 20
    np.testing.assert_allclose(exact.decrypt(private_key), -3 * np.rint(values * 2**20) / 2**20)
    assert (enc * 0).decrypt(private_key).tolist() == [[0.0] * 4] * 3


def test_sum_over_axes(keypair, values):
    public_key, private_key = keypair
    enc = encrypt_array(values, public_key)
    assert enc.sum().shape == ()
    np.testing.assert_allclose(enc.sum().decrypt(private_key), values.sum(), atol=TOL)
    np.testing.assert_allclose(enc.sum(axis=0).decrypt(private_key), values.sum(0), atol=TOL)
    np.testing.assert_allclose(enc.sum(axis=1).decrypt(private_key), values.sum(1), atol=TOL)
    assert enc[:0].sum().decrypt(private_key) == 0.0


def test_vector_matrix_product_matches_plaintext(keypair):
    public_key, private_key = keypair
    rng = np.random.default_rng(3)
    residual = rng.uniform(-1, 1, size=40)
    features = rng.normal(size=(40, 5))
    enc = encrypt_array(residual, public_key)
    gradient = enc.matmul(features)
    assert gradient.shape == (5,) and gradient.exponent == 64
    np.testing.assert_allclose(gradient.decrypt(private_key), residual @ features, atol=1e-8)
    np.testing.assert_allclose((features.T @ enc).decrypt(private_key), features.T @ residual)
    np.testing.assert_allclose(
        (enc @ features[:, 0]).decrypt(private_key), residual @ features[:, 0]
    )


def test_matrix_of_ciphertexts_times_plaintext_matrix(keypair, values):
    public_key, private_key = keypair
    weights = np.random.default_rng(4).normal(size=(4, 2))
    product = encrypt_array(values, public_key) @ weights
    assert product.shape == (3, 2)
    np.testing.assert_allclose(product.decrypt(private_key), values @ weights, atol=1e-7)


def test_parallel_decryption_equals_serial(keypair):
    public_key, private_key = keypair
    plain = np.linspace(-5, 5, 70)
    enc = encrypt_array(plain, public_key, private_key=private_key, workers=2)
    np.testing.assert_array_equal(enc.decrypt(private_key, workers=2), enc.decrypt(private_key))


def test_different_exponents_must_be_rescaled_before_adding(keypair, values):
    public_key, private_key = keypair
    coarse = encrypt_array(values, public_key, precision_bits=10)
    fine = encrypt_array(values, public_key, precision_bits=16)
    with pytest.raises(ScaleMismatchError, match="rescale"):
        _ = coarse + fine
    total = coarse.rescale(16) + fine
    expected = np.rint(values * 2**10) / 2**10 + np.rint(values * 2**16) / 2**16
    np.testing.assert_allclose(total.decrypt(private_key), expected, rtol=1e-15)
    with pytest.raises(ScaleMismatchError):
        fine.rescale(10)


def test_overflow_after_homomorphic_ops_is_detected_at_decryption(keypair):
    public_key, private_key = keypair
    near_limit = np.array([int(public_key.max_int) // 2 + 1], dtype=object)
    enc = encrypt_array(near_limit, public_key, precision_bits=0)
    np.testing.assert_array_equal(enc.decrypt(private_key), [float(near_limit[0])])
    with pytest.raises(FixedPointOverflowError):
        (enc + enc).decrypt(private_key)
    with pytest.raises(FixedPointOverflowError):
        (enc * 2).decrypt(private_key)


def test_values_too_large_for_the_key_are_refused_at_encryption(keypair):
    public_key, _ = keypair
    with pytest.raises(FixedPointOverflowError):
        encrypt_array(np.array([2.0**1000]), public_key)


def test_ciphertexts_under_different_keys_are_refused(keypair, other_keypair):
    public_key, _ = keypair
    other_public, other_private = other_keypair
    mine = encrypt_array(np.ones(2), public_key)
    theirs = encrypt_array(np.ones(2), other_public)
    with pytest.raises(KeyMismatchError):
        _ = mine + theirs
    with pytest.raises(KeyMismatchError):
        mine.decrypt(other_private)
    with pytest.raises(KeyMismatchError):
        encrypt_array(np.ones(2), public_key, pool=ObfuscatorPool(other_public))


def test_two_ciphertexts_cannot_be_multiplied(keypair):
    public_key, _ = keypair
    enc = encrypt_array(np.ones(2), public_key)
    with pytest.raises(TypeError):
        _ = enc * enc
    with pytest.raises(TypeError):
        _ = enc @ enc


def test_rerandomize_changes_ciphertexts_not_plaintexts(keypair, values):
    public_key, private_key = keypair
    enc = encrypt_array(values, public_key) * 2
    fresh = enc.rerandomize(ObfuscatorPool(public_key, seed=11))
    assert not set(map(int, enc.ciphertexts.ravel())) & set(map(int, fresh.ciphertexts.ravel()))
    np.testing.assert_array_equal(fresh.decrypt(private_key), enc.decrypt(private_key))


def test_indexing_and_reshaping_keep_key_and_exponent(keypair, values):
    public_key, private_key = keypair
    enc = encrypt_array(values, public_key, precision_bits=12)
    assert enc[1].shape == (4,) and enc[1, 2].shape == ()
    assert enc.T.shape == (4, 3) and enc.reshape(12).shape == (12,) and len(enc) == 3
    np.testing.assert_allclose(enc[1, 2].decrypt(private_key), values[1, 2], atol=2.0**-12)
    assert enc.ravel().exponent == 12


def test_from_ciphertexts_rejects_out_of_range_values(keypair):
    public_key, _ = keypair
    with pytest.raises(ValueError):
        EncryptedArray.from_ciphertexts(public_key, [0], 0)
    with pytest.raises(ValueError):
        EncryptedArray.from_ciphertexts(public_key, [int(public_key.nsquare)], 0)


def test_matmul_workers_argument_is_deprecated_and_changes_nothing(keypair):
    public_key, private_key = keypair
    enc = encrypt_array(np.array([1.0, -2.0]), public_key)
    with pytest.warns(DeprecationWarning, match="workers"):
        product = enc.matmul(np.array([[1.0], [3.0]]), workers=2)
    np.testing.assert_array_equal(product.decrypt(private_key), [-5.0])


@pytest.mark.parametrize("bits", [-4, 1025, 2.5])
def test_precision_bits_outside_0_to_1024_are_refused_like_the_encoder(keypair, bits):
    public_key, _ = keypair
    encrypted = encrypt_array([16.0], public_key)
    with pytest.raises(ValueError, match="precision_bits"):
        FixedPointEncoder(bits)
    with pytest.raises(ValueError, match="precision_bits"):
        encrypt_array([16.0], public_key, precision_bits=bits)
    with pytest.raises(ValueError, match="precision_bits"):
        encrypted.multiply(2.0, precision_bits=bits)
    with pytest.raises(ValueError, match="precision_bits"):
        encrypted.matmul(np.ones((1, 2)), precision_bits=bits)


@pytest.mark.parametrize(
    ("encrypted_shape", "matrix_shape", "out_shape"),
    [((0,), (0, 3), (3,)), ((0,), (0,), ()), ((2, 0), (0, 3), (2, 3)), ((0, 2), (2, 3), (0, 3))],
)
def test_matmul_over_an_empty_axis_gives_encryptions_of_zero(
    keypair, encrypted_shape, matrix_shape, out_shape
):
    public_key, private_key = keypair
    encrypted = encrypt_array(np.zeros(encrypted_shape), public_key)
    product = encrypted @ np.ones(matrix_shape)
    assert product.shape == out_shape
    np.testing.assert_array_equal(product.decrypt(private_key), np.zeros(out_shape))

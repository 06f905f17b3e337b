"""``enc @ X`` by bucketed multi-exponentiation: exact fixed-point products, any sign."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.crypto import ObfuscatorPool, encrypt_array, generate_paillier_keypair
from rengo.crypto.multiexp import group_equal_exponents, power_products

PUBLIC, PRIVATE = generate_paillier_keypair(512, seed=11)


def _pool() -> ObfuscatorPool:
    return ObfuscatorPool(PUBLIC, seed=5)


def test_matmul_equals_exact_fixed_point_product() -> None:
    rng = np.random.default_rng(0)
    d = rng.normal(size=300)
    x = rng.normal(scale=3.0, size=(300, 4))
    x[:10, 0] = 0.0
    x[:, 3] = -np.abs(x[:, 3])  # an all-negative column
    enc = encrypt_array(d, PUBLIC, precision_bits=20, pool=_pool())
    out = enc.matmul(x, precision_bits=12)
    assert out.exponent == 32 and out.shape == (4,)
    d_int = np.rint(d * 2**20).astype(np.int64).astype(object)
    x_int = np.rint(x * 2**12).astype(np.int64).astype(object)
    exact = (d_int @ x_int).astype(float) / 2**32
    np.testing.assert_array_equal(out.decrypt(PRIVATE), exact)


def test_matmul_handles_one_row_and_zero_matrix() -> None:
    enc = encrypt_array(np.array([1.5]), PUBLIC, pool=_pool())
    np.testing.assert_array_equal(
        enc.matmul(np.array([[2.0, -4.0]]), 16).decrypt(PRIVATE), [3.0, -6.0]
    )
    np.testing.assert_array_equal(enc.matmul(np.zeros((1, 2)), 16).decrypt(PRIVATE), [0.0, 0.0])


def test_matmul_rejects_misaligned_shapes() -> None:
    enc = encrypt_array(np.ones(3), PUBLIC, pool=_pool())
    with pytest.raises(ValueError, match="mismatch"):
        enc.matmul(np.ones((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        enc.matmul(np.full((3, 1), np.nan))


def test_matmul_with_exponents_beyond_int64_is_exact() -> None:
    enc = encrypt_array(np.array([0.5, -0.25]), PUBLIC, precision_bits=4, pool=_pool())
    big = np.array([[2.0**70], [-(2.0**65)]])  # 2**70 * 2**8 does not fit 62 bits
    out = enc.matmul(big, precision_bits=8)
    assert out.exponent == 12
    np.testing.assert_array_equal(out.decrypt(PRIVATE), [0.5 * 2.0**70 + 0.25 * 2.0**65])


def test_two_dimensional_ciphertexts_times_integer_matrix() -> None:
    values = np.arange(6.0).reshape(2, 3) - 2.5
    enc = encrypt_array(values, PUBLIC, precision_bits=1, pool=_pool())
    weights = np.array([[1, -2], [0, 3], [-4, 5]])
    out = enc @ weights
    assert out.shape == (2, 2) and out.exponent == 1
    np.testing.assert_array_equal(out.decrypt(PRIVATE), values @ weights)
    assert not out.fresh and enc.fresh


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(-40, 40), min_size=1, max_size=60),
    st.sampled_from([1, 3, 1 << 20]),
)
def test_power_product_of_grouped_exponents_equals_direct_powers(
    exponents: list[int], scale: int
) -> None:
    # few distinct values (the grouped path), repeated signs, zeros, one-value columns
    modulus = PUBLIC.nsquare
    bases = [gmpy2.mpz(7 + 13 * i) for i in range(len(exponents))]
    scaled = np.array(exponents, dtype=np.int64) * scale
    direct = gmpy2.mpz(1)
    for base, e in zip(bases, scaled.tolist(), strict=True):
        direct = direct * gmpy2.powmod(base, e, modulus) % modulus
    got = power_products(bases, scaled[:, None], modulus)
    assert got == [direct]


def test_group_equal_exponents_multiplies_bases_that_share_one() -> None:
    modulus = gmpy2.mpz(1009)
    bases = [gmpy2.mpz(b) for b in (2, 3, 5, 7)]
    products, values = group_equal_exponents(bases, np.array([4, 1, 4, 1]), modulus)
    assert values.tolist() == [1, 4]
    assert products == [gmpy2.mpz(21), gmpy2.mpz(10)]


def test_matmul_of_categorical_and_constant_columns_is_exact() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(size=400)
    x = np.column_stack(
        [rng.integers(-2, 9, size=400), np.ones(400), rng.choice([0.0, 1.0], size=400)]
    ).astype(float)
    enc = encrypt_array(d, PUBLIC, precision_bits=20, pool=_pool())
    out = enc.matmul(x, precision_bits=12)
    d_int = np.rint(d * 2**20).astype(np.int64).astype(object)
    x_int = np.rint(x * 2**12).astype(np.int64).astype(object)
    np.testing.assert_array_equal(out.decrypt(PRIVATE), (d_int @ x_int).astype(float) / 2**32)

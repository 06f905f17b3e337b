"""Paillier arithmetic is what it says: integers of any size multiply exactly (never as
floats with 32 fractional bits), and only valid ciphertexts and obfuscators are accepted
(integers in [1, n^2) sharing no factor with n) by the raw and the array paths alike."""

from __future__ import annotations

from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.crypto import (
    EncryptedArray,
    InvalidCiphertextError,
    ciphertexts_from_bytes,
    encrypt_array,
)
from rengo.crypto.fixed_point import from_residues


def exact(array: EncryptedArray, private_key) -> list[Fraction]:  # type: ignore[no-untyped-def]
    residues = private_key.raw_decrypt_array(array.ciphertexts.ravel())
    signed = from_residues(residues, private_key.public_key)
    return [Fraction(int(v), 1 << array.exponent) for v in signed.tolist()]


@pytest.mark.parametrize(
    "multiplier",
    [
        2**70,
        -(2**300) - 1,
        gmpy2.mpz(3) ** 150,
        np.uint64(2**63 + 1),
        np.array([2**100, -(2**90), 3], dtype=object),
        np.array([gmpy2.mpz(2) ** 64 + 7, 1, -1], dtype=object),
    ],
    ids=["python-int", "negative-big", "mpz", "uint64", "object-ints", "object-mpz"],
)
def test_integer_multipliers_of_any_size_multiply_exactly(keypair, multiplier) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    plain = [Fraction(3, 4), Fraction(-5, 2), Fraction(1, 1 << 20)]
    encrypted = encrypt_array(np.array([float(v) for v in plain]), public_key, precision_bits=32)
    product = encrypted * multiplier
    assert product.exponent == encrypted.exponent  # an integer adds no fractional bits
    factors = np.broadcast_to(np.asarray(multiplier, dtype=object), (3,)).tolist()
    assert exact(product, private_key) == [a * int(k) for a, k in zip(plain, factors, strict=True)]


def test_big_integer_matmul_and_addition_are_exact(keypair) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    vector = encrypt_array(np.array([1, -2, 3], dtype=np.int64), public_key, precision_bits=0)
    matrix = np.array([[2**80, 1], [-(2**75), 0], [5, 2**90]], dtype=object)
    product = vector @ matrix
    assert product.exponent == 0
    assert exact(product, private_key) == [
        2**80 + 2 * 2**75 + 15,
        1 + 3 * 2**90,
    ]
    shifted = vector + np.array([2**200, 0, -(2**199)], dtype=object)
    assert exact(shifted, private_key) == [1 + 2**200, -2, 3 - 2**199]
    # near the top of a 1024-bit key's range: 32 spurious fractional bits would overflow
    assert exact(vector * 2**1000, private_key) == [2**1000, -(2**1001), 3 * 2**1000]


@settings(max_examples=40, deadline=None)
@given(st.integers(-(2**200), 2**200), st.integers(-(2**250), 2**250))
def test_encrypted_integer_times_integer_is_the_exact_product(keypair, a, k) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    encrypted = encrypt_array(np.array([a], dtype=object), public_key, precision_bits=0)
    assert exact(encrypted.multiply(k), private_key) == [a * k]


def shares_a_factor(private_key) -> list[int]:  # type: ignore[no-untyped-def]
    p, q, n = int(private_key.p), int(private_key.q), int(private_key.public_key.n)
    return [p, q, 7 * p, q * (n + 1) % (n * n)]


def test_raw_decrypt_refuses_what_is_not_a_ciphertext(keypair) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    nsquare = int(public_key.nsquare)
    for bad in [0, -1, -nsquare + 1, nsquare, nsquare + 5, *shares_a_factor(private_key)]:
        with pytest.raises(InvalidCiphertextError):
            private_key.raw_decrypt(bad)
        with pytest.raises(InvalidCiphertextError):
            private_key.raw_decrypt_array(np.array([bad], dtype=object))
    with pytest.raises(InvalidCiphertextError):
        private_key.raw_decrypt(1.5)  # type: ignore[arg-type]
    assert private_key.raw_decrypt(1) == 0  # 1 = E(0) with obfuscator 1: valid


def test_raw_encrypt_refuses_bad_plaintexts_and_obfuscators(keypair) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    n = int(public_key.n)
    good = gmpy2.powmod(12345, public_key.n, public_key.nsquare)
    for plaintext in [-1, n, n + 1]:
        with pytest.raises(ValueError):
            public_key.raw_encrypt(plaintext, good)
    for obfuscator in [0, -5, int(public_key.nsquare), *shares_a_factor(private_key)]:
        with pytest.raises(InvalidCiphertextError):
            public_key.raw_encrypt(42, obfuscator)
    assert private_key.raw_decrypt(public_key.raw_encrypt(42, good)) == 42


def test_the_array_paths_refuse_ciphertexts_sharing_a_factor_with_n(keypair) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    for bad in shares_a_factor(private_key):
        with pytest.raises(InvalidCiphertextError, match="factor"):
            EncryptedArray.from_ciphertexts(public_key, [3, bad], 0)
        raw = int(bad).to_bytes(public_key.ciphertext_bytes, "big")
        with pytest.raises(ValueError):
            ciphertexts_from_bytes(raw, public_key, (1,))
    for bad in [0, int(public_key.nsquare)]:
        with pytest.raises(InvalidCiphertextError):
            EncryptedArray.from_ciphertexts(public_key, [bad], 0)
    with pytest.raises(InvalidCiphertextError):
        encrypt_array(
            np.array([1.0]), public_key, obfuscators=np.array([int(private_key.p)], dtype=object)
        )


def test_one_bad_ciphertext_among_many_good_is_refused_by_the_batch_checks(keypair) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    good = [gmpy2.powmod(7 + i, public_key.n, public_key.nsquare) for i in range(50)]
    for bad in shares_a_factor(private_key):
        values = [*good[:20], bad, *good[20:]]
        with pytest.raises(InvalidCiphertextError, match="factor"):
            public_key.require_ciphertexts(np.array(values, dtype=object))
        raw = b"".join(int(v).to_bytes(public_key.ciphertext_bytes, "big") for v in values)
        with pytest.raises(InvalidCiphertextError, match="factor"):
            ciphertexts_from_bytes(raw, public_key, (len(values),))
    public_key.require_ciphertexts(np.array(good, dtype=object))  # all good: no error
    with pytest.raises(InvalidCiphertextError, match="must be an integer"):
        public_key.require_ciphertexts(np.array([*good, 1.5], dtype=object))

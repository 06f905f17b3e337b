"""rengo's Paillier is bit-compatible with python-paillier (``phe``, a test dependency): the
same ciphertext for the same plaintext and randomness, the same signed range
(|m| <= n // 3 - 1), so every value one library encrypts the other decrypts, up to and
including the edge of the range, and both refuse the same overflow band."""

from __future__ import annotations

from fractions import Fraction

import gmpy2
import numpy as np
import pytest

from rengo.crypto import (
    EncryptedArray,
    FixedPointOverflowError,
    PaillierPrivateKey,
    PaillierPublicKey,
    encrypt_array,
)
from rengo.crypto.fixed_point import from_residues, to_residues

paillier = pytest.importorskip("phe.paillier")


@pytest.fixture(scope="module")
def both(keypair):  # type: ignore[no-untyped-def]
    public_key, private_key = keypair
    theirs_public = paillier.PaillierPublicKey(int(public_key.n))
    theirs_private = paillier.PaillierPrivateKey(
        theirs_public, int(private_key.p), int(private_key.q)
    )
    return public_key, private_key, theirs_public, theirs_private


def edge_values(public_key: PaillierPublicKey) -> list[int]:
    """130 signed integers at both edges of the range: ±(max_int - 64) .. ±(max_int + 1)."""
    limit = int(public_key.max_int)
    near = [limit - k for k in range(-1, 64)]
    return near + [-v for v in near]


def exact_plaintexts(array: EncryptedArray, private_key: PaillierPrivateKey) -> list[Fraction]:
    """Decrypt without going through floats: signed integers / 2**exponent, exactly."""
    residues = private_key.raw_decrypt_array(array.ciphertexts.ravel())
    signed = from_residues(residues, private_key.public_key)
    return [Fraction(int(v), 1 << array.exponent) for v in signed.tolist()]


def test_the_signed_range_is_python_pailliers(both) -> None:  # type: ignore[no-untyped-def]
    public_key, _, theirs_public, _ = both
    assert int(public_key.max_int) == theirs_public.max_int == int(public_key.n) // 3 - 1


def test_same_plaintext_and_randomness_give_the_same_ciphertext(both) -> None:  # type: ignore[no-untyped-def]
    public_key, _, theirs_public, _ = both
    rng = np.random.default_rng(0)
    for m in [0, 1, 12345, int(public_key.n) - 1, int(rng.integers(1, 2**62))]:
        r = int(rng.integers(2, 2**62))
        ours = public_key.raw_encrypt(m, gmpy2.powmod(r, public_key.n, public_key.nsquare))
        assert int(ours) == theirs_public.raw_encrypt(m, r_value=r)


def test_every_edge_value_rengo_encrypts_python_paillier_decrypts(both) -> None:  # type: ignore[no-untyped-def]
    public_key, _, theirs_public, theirs_private = both
    accepted = refused = 0
    for value in edge_values(public_key):
        plain = np.array([value], dtype=object)
        if abs(value) > int(public_key.max_int):
            with pytest.raises(FixedPointOverflowError):
                encrypt_array(plain, public_key, precision_bits=0)
            with pytest.raises(ValueError):  # python-paillier refuses it too
                theirs_public.encrypt(value)
            refused += 1
            continue
        ours = encrypt_array(plain, public_key, precision_bits=0)
        number = paillier.EncryptedNumber(theirs_public, int(ours.ciphertexts[0]), 0)
        assert theirs_private.decrypt(number) == value
        accepted += 1
    assert (accepted, refused) == (128, 2)


def test_every_edge_value_python_paillier_encrypts_rengo_decrypts(both) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key, theirs_public, _ = both
    for value in edge_values(public_key):
        if abs(value) > theirs_public.max_int:
            continue
        number = theirs_public.encrypt(value)
        assert number.exponent == 0
        ours = EncryptedArray.from_ciphertexts(public_key, [number.ciphertext()], 0)
        assert exact_plaintexts(ours, private_key) == [value]


def test_both_refuse_the_overflow_band(both) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key, theirs_public, theirs_private = both
    n = int(public_key.n)
    for residue in (int(public_key.max_int) + 1, n // 2, n - int(public_key.max_int) - 1):
        ciphertext = int(public_key.raw_encrypt(residue, 1))
        with pytest.raises(FixedPointOverflowError):
            from_residues(
                private_key.raw_decrypt_array(np.array([ciphertext], dtype=object)), public_key
            )
        with pytest.raises(OverflowError):
            theirs_private.decrypt(paillier.EncryptedNumber(theirs_public, ciphertext, 0))
    edge = to_residues(np.array([int(public_key.max_int)], dtype=object), public_key)
    assert int(edge[0]) == int(public_key.max_int)


def test_floats_and_sums_agree_across_libraries(both) -> None:  # type: ignore[no-untyped-def]
    public_key, private_key, theirs_public, theirs_private = both
    values = np.array([0.5, -1.25, 3.0e6, -7.0e-3, 0.0])
    ours = encrypt_array(values, public_key, precision_bits=32)  # 2**-32 = 16**-8
    total = ours.sum()
    decoded = [
        theirs_private.decrypt(paillier.EncryptedNumber(theirs_public, int(c), -8))
        for c in ours.ciphertexts.tolist()
    ]
    np.testing.assert_array_equal(decoded, ours.decrypt(private_key))
    their_total = theirs_private.decrypt(
        paillier.EncryptedNumber(theirs_public, int(total.ciphertexts[()]), -8)
    )
    assert their_total == float(total.decrypt(private_key))
    # and python-paillier's own floats, at its exponent -8, decrypt here
    theirs = [theirs_public.encrypt(float(v), precision=2.0**-32) for v in values]
    assert {t.exponent for t in theirs} == {-8}
    wrapped = EncryptedArray.from_ciphertexts(public_key, [t.ciphertext() for t in theirs], 32)
    # the same fixed-point encoding (nearest multiple of 2**-32, ties to even) in both
    assert exact_plaintexts(wrapped, private_key) == exact_plaintexts(ours, private_key)

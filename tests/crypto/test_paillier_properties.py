"""Property tests for the Paillier layer: the homomorphisms are exact on fixed-point
integers, encoding round-trips, and packing keeps every slot (Hypothesis)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.crypto import (
    FixedPointEncoder,
    ObfuscatorPool,
    SlotLayout,
    decrypt_packed,
    encrypt_array,
    encrypt_packed,
    generate_paillier_keypair,
    pack,
    unpack,
)

PUBLIC, PRIVATE = generate_paillier_keypair(512, seed=99)
POOL = ObfuscatorPool(PUBLIC, private_key=PRIVATE, seed=3)  # CRT obfuscators: fast tests
SETTINGS = settings(max_examples=40, deadline=None)

finite = st.floats(min_value=-(2.0**30), max_value=2.0**30, allow_nan=False)
vectors = st.lists(finite, min_size=1, max_size=6)
bits = st.integers(min_value=0, max_value=40)


def fixed(values: list[float] | np.ndarray, precision: int) -> list[int]:
    """The exact fixed-point integers the encoder makes (round half to even, as np.rint)."""
    return [int(np.rint(np.ldexp(v, precision))) for v in np.asarray(values, dtype=float)]


def exact(integers: list[int], exponent: int) -> np.ndarray:
    """Integers / 2**exponent, correctly rounded to float64."""
    return np.array([float(Fraction(i, 2**exponent)) for i in integers])


def enc(values: list[float] | np.ndarray, precision: int) -> object:
    return encrypt_array(
        np.asarray(values, dtype=float), PUBLIC, precision_bits=precision, pool=POOL
    )


@SETTINGS
@given(values=vectors, precision=bits)
def test_encrypt_decrypt_round_trips_the_fixed_point_value(values, precision):
    decrypted = enc(values, precision).decrypt(PRIVATE)
    np.testing.assert_array_equal(decrypted, exact(fixed(values, precision), precision))


@SETTINGS
@given(values=vectors, precision=bits)
def test_fixed_point_encoder_round_trips_without_encryption(values, precision):
    encoder = FixedPointEncoder(precision)
    decoded = encoder.decode(encoder.encode(np.array(values), PUBLIC), PUBLIC)
    np.testing.assert_array_equal(decoded, exact(fixed(values, precision), precision))


@SETTINGS
@given(pairs=st.lists(st.tuples(finite, finite), min_size=1, max_size=6), precision=bits)
def test_sum_of_ciphertexts_is_the_ciphertext_of_the_sum(pairs, precision):
    a, b = (np.array(side) for side in zip(*pairs, strict=True))
    ints = [x + y for x, y in zip(fixed(a, precision), fixed(b, precision), strict=True)]
    np.testing.assert_array_equal(
        (enc(a, precision) + enc(b, precision)).decrypt(PRIVATE), exact(ints, precision)
    )
    np.testing.assert_array_equal((enc(a, precision) + b).decrypt(PRIVATE), exact(ints, precision))
    diff = [x - y for x, y in zip(fixed(a, precision), fixed(b, precision), strict=True)]
    np.testing.assert_array_equal(
        (enc(a, precision) - enc(b, precision)).decrypt(PRIVATE), exact(diff, precision)
    )


@SETTINGS
@given(values=vectors, precision=bits)
def test_negation_negates_and_double_negation_is_identity(values, precision):
    ints = fixed(values, precision)
    np.testing.assert_array_equal(
        (-enc(values, precision)).decrypt(PRIVATE), exact([-i for i in ints], precision)
    )
    np.testing.assert_array_equal(
        (enc(values, precision).__neg__().__neg__()).decrypt(PRIVATE), exact(ints, precision)
    )


@SETTINGS
@given(
    values=vectors,
    factor=st.integers(min_value=-(2**20), max_value=2**20),
    scale=st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    precision=st.integers(min_value=0, max_value=24),
)
def test_plaintext_products_are_exact_on_fixed_point_integers(values, factor, scale, precision):
    ints = fixed(values, precision)
    by_int = enc(values, precision) * np.array(factor)
    np.testing.assert_array_equal(
        by_int.decrypt(PRIVATE), exact([i * factor for i in ints], precision)
    )
    by_float = enc(values, precision).multiply(np.full(len(values), scale), 16)
    scaled = fixed([scale], 16)[0]
    np.testing.assert_array_equal(
        by_float.decrypt(PRIVATE), exact([i * scaled for i in ints], precision + 16)
    )


@SETTINGS
@given(
    data=st.data(),
    rows=st.integers(min_value=1, max_value=5),
    columns=st.integers(min_value=1, max_value=3),
    precision=st.integers(min_value=0, max_value=20),
)
def test_vector_times_matrix_equals_the_exact_integer_product(data, rows, columns, precision):
    vector = data.draw(st.lists(finite, min_size=rows, max_size=rows))
    matrix = np.array(
        data.draw(
            st.lists(
                st.lists(
                    st.floats(-(2.0**12), 2.0**12, allow_nan=False),
                    min_size=columns,
                    max_size=columns,
                ),
                min_size=rows,
                max_size=rows,
            )
        )
    )
    product = enc(vector, precision).matmul(matrix, 12)
    v_int = fixed(vector, precision)
    m_int = [fixed(row, 12) for row in matrix]
    expected = [sum(v_int[i] * m_int[i][j] for i in range(rows)) for j in range(columns)]
    assert product.exponent == precision + 12
    np.testing.assert_array_equal(product.decrypt(PRIVATE), exact(expected, precision + 12))


LAYOUT = SlotLayout(precision_bits=20, value_bits=10, headroom_bits=6)
slot_value = st.floats(min_value=-(2.0**10) + 1, max_value=2.0**10 - 1, allow_nan=False)
slot_values = st.lists(slot_value, min_size=1, max_size=40)


@SETTINGS
@given(values=slot_values)
def test_pack_then_unpack_returns_every_value_at_slot_precision(values):
    plaintexts = pack(values, LAYOUT, PUBLIC)
    restored = unpack(plaintexts, LAYOUT, PUBLIC, len(values))
    np.testing.assert_array_equal(restored, exact(fixed(values, 20), 20))


@SETTINGS
@given(
    pairs=st.lists(
        st.tuples(slot_value, slot_value),
        min_size=1,
        max_size=30,
    ),
    factor=st.integers(0, 8),
)
def test_adding_packed_ciphertexts_adds_every_slot(pairs, factor):
    a, b = (list(side) for side in zip(*pairs, strict=True))
    total = encrypt_packed(a, PUBLIC, LAYOUT, pool=POOL) + encrypt_packed(
        b, PUBLIC, LAYOUT, pool=POOL
    )
    ints = [x + y for x, y in zip(fixed(a, 20), fixed(b, 20), strict=True)]
    np.testing.assert_array_equal(decrypt_packed(total, PRIVATE), exact(ints, 20))
    np.testing.assert_array_equal(
        decrypt_packed(total.times(factor), PRIVATE), exact([i * factor for i in ints], 20)
    )

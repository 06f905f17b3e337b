from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.crypto import FixedPointEncoder, FixedPointOverflowError
from rengo.crypto.fixed_point import from_residues, to_residues


def test_encoding_is_exact_for_dyadic_values_and_rounds_to_scale(keypair):
    public_key, _ = keypair
    encoder = FixedPointEncoder(precision_bits=8)
    values = np.array([0.0, 1.5, -2.25, 1 / 3, -1 / 3])
    signed = encoder.encode_signed(values)
    assert signed.tolist() == [0, 384, -576, 85, -85]
    residues = encoder.encode(values, public_key)
    assert residues[2] == public_key.n - 576
    np.testing.assert_array_equal(
        encoder.decode(residues, public_key), [0.0, 1.5, -2.25, 85 / 256, -85 / 256]
    )


def test_integers_encode_exactly_even_beyond_float_precision():
    encoder = FixedPointEncoder(precision_bits=3)
    big = np.array([2**70 + 1, -(2**70) - 1], dtype=object)
    assert encoder.encode_signed(big).tolist() == [(2**70 + 1) * 8, -(2**70 + 1) * 8]
    assert encoder.encode_signed(np.array([5, -5], dtype=np.int64)).tolist() == [40, -40]


def test_values_beyond_n_over_3_are_refused(keypair):
    public_key, _ = keypair
    limit = int(public_key.max_int)
    to_residues(np.array([limit, -limit], dtype=object), public_key)  # the edge is allowed
    with pytest.raises(FixedPointOverflowError, match="n // 3"):
        to_residues(np.array([limit + 1], dtype=object), public_key)
    with pytest.raises(FixedPointOverflowError):
        FixedPointEncoder(precision_bits=1000).encode(np.array([1e300]), public_key)


def test_residues_in_the_overflow_band_are_refused(keypair):
    public_key, _ = keypair
    middle = np.array([public_key.n // 2], dtype=object)
    with pytest.raises(FixedPointOverflowError, match="outside the fixed-point range"):
        from_residues(middle, public_key)


def test_nan_and_non_numeric_values_are_refused():
    encoder = FixedPointEncoder()
    with pytest.raises(DataError, match="NaN"):
        encoder.encode_signed(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="dtype"):
        encoder.encode_signed(np.array(["a"]))

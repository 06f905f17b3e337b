"""Fixed-base window tables: exact powers, uniform short exponents, bounded memory."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.crypto import FixedBaseTable
from rengo.crypto.fixed_base import DEFAULT_MAX_TABLE_BYTES, best_window_bits, table_bytes
from rengo.crypto.randomness import InsecureSeededSource

MODULUS = gmpy2.mpz(2**521 - 1) * gmpy2.mpz(2**127 - 1)  # odd, composite, 648 bits
BASE = gmpy2.mpz(0xC0FFEE) ** 7 % MODULUS


@pytest.fixture(scope="module")
def tables() -> dict[tuple[int, int], FixedBaseTable]:
    """Tables for a few (exponent bits, window bits), including ragged last windows."""
    shapes = [(64, 8), (61, 8), (100, 3), (37, 1), (96, 12), (200, 5)]
    return {
        (bits, w): FixedBaseTable.build(BASE, MODULUS, bits, window_bits=w) for bits, w in shapes
    }


@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_table_power_equals_pow_for_every_exponent_in_range(tables, data):
    bits, window = data.draw(st.sampled_from(sorted(tables)))
    exponent = data.draw(st.integers(min_value=0, max_value=2**bits - 1))
    table = tables[(bits, window)]
    assert table.power(exponent) == pow(int(BASE), exponent, int(MODULUS))


@given(exponents=st.lists(st.integers(min_value=0, max_value=2**200 - 1), max_size=20))
@settings(max_examples=50, deadline=None)
def test_table_powers_vectorised_match_pow_elementwise(tables, exponents):
    table = tables[(200, 5)]
    got = table.powers(exponents)
    assert got.dtype == object and got.shape == (len(exponents),)
    assert [int(v) for v in got] == [pow(int(BASE), e, int(MODULUS)) for e in exponents]


@pytest.mark.parametrize("shape", [(64, 8), (61, 8), (100, 3), (96, 12)])
def test_random_powers_are_powers_of_uniform_exponents_below_the_bound(tables, shape):
    """Replaying the seeded source gives the exponents: every output is base**a with the
    a drawn as little-endian blocks, cut to exponent_bits."""
    bits, window = shape
    table = tables[shape]
    count = 25
    powers = table.random_powers(count, InsecureSeededSource(42))
    stride = (table.windows * window + 7) // 8
    raw = int(InsecureSeededSource(42).randbits(8 * stride * count))
    blocks = raw.to_bytes(stride * count, "little")
    exponents = [
        int.from_bytes(blocks[k * stride : (k + 1) * stride], "little") % (1 << bits)
        for k in range(count)
    ]
    assert [int(v) for v in powers] == [pow(int(BASE), e, int(MODULUS)) for e in exponents]
    assert len(set(exponents)) == count
    assert max(e.bit_length() for e in exponents) == bits  # the top bit is drawn too


def test_exponents_outside_the_range_are_refused(tables):
    table = tables[(64, 8)]
    with pytest.raises(ValueError):
        table.power(2**64)
    with pytest.raises(ValueError):
        table.powers([1, -1])


@pytest.mark.parametrize("window", [0, 17])
def test_window_outside_one_to_sixteen_bits_is_refused(window):
    with pytest.raises(ConfigError):
        FixedBaseTable.build(BASE, MODULUS, 64, window_bits=window)


def test_table_larger_than_its_memory_bound_is_refused_before_building():
    needed = table_bytes(512, 8, int(MODULUS.bit_length()))
    with pytest.raises(ConfigError, match="MiB"):
        FixedBaseTable.build(BASE, MODULUS, 512, window_bits=8, max_bytes=needed // 2)


def test_table_memory_matches_its_estimate_and_default_bound(keypair):
    """A DJN table for a 1024-bit key (512-bit exponents, mod n^2) stays within the
    estimate used for the bound, and the default bound admits 2048-bit keys' tables."""
    public_key, _ = keypair
    table = FixedBaseTable.build(BASE, public_key.nsquare, 512)
    estimate = table_bytes(512, 8, int(public_key.nsquare.bit_length()))
    assert 0.5 * estimate <= table.nbytes <= 1.2 * estimate
    assert table.windows == 64 and table.multiplications_per_power == 63
    assert table_bytes(1024, 8, 4096) < DEFAULT_MAX_TABLE_BYTES


def test_zero_count_and_zero_exponent():
    table = FixedBaseTable.build(BASE, MODULUS, 16, window_bits=4)
    assert table.random_powers(0, InsecureSeededSource(1)).shape == (0,)
    assert table.power(0) == 1
    assert isinstance(table.powers(np.arange(3)), np.ndarray)


def test_best_window_is_none_for_few_powers_and_grows_with_their_number():
    assert best_window_bits(512, 2048, 0) is None
    assert best_window_bits(512, 2048, 5) is None  # exponentiations beat any table
    windows = [best_window_bits(512, 2048, count) for count in (30, 1_000, 10_000, 10**6)]
    assert all(w is not None for w in windows)
    assert windows == sorted(windows)  # type: ignore[type-var]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2048), st.integers(64, 8192), st.integers(0, 10**7), st.integers(16, 26))
def test_best_window_keeps_within_its_memory_bound(exponent_bits, modulus_bits, count, log_bytes):
    window = best_window_bits(exponent_bits, modulus_bits, count, max_bytes=1 << log_bytes)
    if window is not None:
        assert table_bytes(exponent_bits, window, modulus_bits) <= 1 << log_bytes

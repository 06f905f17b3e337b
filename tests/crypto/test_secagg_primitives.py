"""The secure-aggregation primitives: Shamir t-of-n sharing rebuilds from any t shares and
refuses fewer; the PRG is a deterministic function of its seed; quantised masked sums decode
to the plain sum within the stated rounding error (Hypothesis); sealed shares reject tampering."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rengo.crypto import (
    Quantisation,
    Share,
    add_masks,
    agree,
    combine_shares,
    dequantise_sum,
    new_key_pair,
    open_sealed,
    prg_mask,
    public_key_of,
    quantise,
    quantise_into,
    ring_bits_for,
    rounding_error_bound,
    seal,
    split_secret,
)
from rengo.crypto.shamir import PRIME


@settings(max_examples=25, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=64),
    n=st.integers(2, 7),
    data=st.data(),
)
def test_any_threshold_shares_rebuild_the_secret(secret: bytes, n: int, data) -> None:
    t = data.draw(st.integers(1, n))
    shares = split_secret(secret, t, list(range(1, n + 1)))
    for subset in itertools.islice(itertools.combinations(shares, t), 10):
        assert combine_shares(list(subset), t, len(secret)) == secret


def test_fewer_than_threshold_shares_are_refused_and_a_wrong_share_changes_the_secret() -> None:
    secret = os.urandom(32)
    shares = split_secret(secret, 3, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="2 shares given, 3 needed"):
        combine_shares(shares[:2], 3, 32)
    bad = Share(shares[0].x, (shares[0].y + 1))
    # Shamir alone cannot tell (hence SecAgg+'s share digests): the secret silently changes
    assert combine_shares([bad, *shares[1:3]], 3, 32) != secret
    assert Share.from_bytes(shares[1].to_bytes()) == shares[1]


def test_share_points_and_threshold_are_checked() -> None:
    with pytest.raises(ValueError, match="distinct and non-zero"):
        split_secret(b"x", 2, [1, 1, 2])
    with pytest.raises(ValueError, match="threshold 4"):
        split_secret(b"x", 4, [1, 2, 3])


@pytest.mark.parametrize("x", [0, 1.5, True, 2**32])
def test_split_refuses_points_that_are_not_integers_a_share_can_write(x) -> None:
    with pytest.raises(ValueError, match="integers below 2"):
        split_secret(b"x", 2, [x, 3])


def test_combine_refuses_a_threshold_below_one_and_shares_off_the_field_or_at_zero() -> None:
    shares = split_secret(os.urandom(32), 3, [1, 2, 3, 4, 5])
    for threshold in (0, -1):
        with pytest.raises(ValueError, match="threshold"):
            combine_shares(shares, threshold, 32)
    for bad in (Share(0, 12345), Share(PRIME + 1, 1), Share(1, PRIME), Share(1, -1)):
        with pytest.raises(ValueError, match="outside the field or at x = 0"):
            combine_shares([bad, *shares[1:3]], 3, 32)


def test_the_prg_is_a_function_of_its_seed_and_fills_the_ring() -> None:
    seed = os.urandom(32)
    a, b = prg_mask(seed, 10_000, 20), prg_mask(seed, 10_000, 20)
    assert a.tobytes() == b.tobytes()
    assert a.max() < 2**20 and a.max() > 2**19  # uses the top bit
    assert not np.array_equal(a, prg_mask(os.urandom(32), 10_000, 20))
    assert abs(a.mean() / 2**20 - 0.5) < 0.02


@settings(max_examples=30, deadline=None)
@given(
    signs=st.lists(st.sampled_from([1, -1]), min_size=1, max_size=6),
    bits=st.sampled_from([1, 16, 31, 32, 33, 48, 64]),
    size=st.integers(1, 300),
)
def test_adding_masks_in_bulk_equals_adding_each_prg_mask(
    signs: list[int], bits: int, size: int
) -> None:
    seeds = [os.urandom(32) for _ in signs]
    dtype = np.uint32 if bits <= 32 else np.uint64
    mod = dtype((1 << bits) - 1) if bits < 64 else dtype(2**64 - 1)
    start = np.arange(size, dtype=dtype) & mod
    bulk = start.copy()
    add_masks(bulk, zip(seeds, signs, strict=True))
    expected = start.copy()
    for seed, sign in zip(seeds, signs, strict=True):
        mask = prg_mask(seed, size, bits)
        expected = expected + mask if sign > 0 else expected - mask
    assert np.array_equal(bulk & mod, expected & mod)
    add_masks(bulk, [(seed, -sign) for seed, sign in zip(seeds, signs, strict=True)])
    assert np.array_equal(bulk, start)  # the same masks with the opposite sign cancel


@pytest.mark.parametrize("bits", [24, 40])
def test_masks_added_in_cache_sized_chunks_equal_whole_keystreams(bits: int) -> None:
    size = 300_001  # several 256 KiB chunks and a ragged tail
    seeds = [(os.urandom(32), 1), (os.urandom(32), -1), (os.urandom(32), 1)]
    bulk = np.zeros(size, dtype=np.uint32 if bits <= 32 else np.uint64)
    add_masks(bulk, seeds)
    expected = prg_mask(seeds[0][0], size, bits) - prg_mask(seeds[1][0], size, bits)
    expected += prg_mask(seeds[2][0], size, bits)
    mod = bulk.dtype.type((1 << bits) - 1)
    assert np.array_equal(bulk & mod, expected & mod)


def test_adding_masks_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="sign"):
        add_masks(np.zeros(3, np.uint32), [(os.urandom(32), 2)])
    with pytest.raises(ValueError, match="32 bytes"):
        add_masks(np.zeros(3, np.uint32), [(b"short", 1)])
    with pytest.raises(ValueError, match="uint32/uint64"):
        add_masks(np.zeros(3, np.float64), [(os.urandom(32), 1)])


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=5, max_size=5),
        min_size=2, max_size=6,
    ),
    weights=st.data(),
    bits=st.integers(4, 24),
)  # fmt: skip
def test_the_unmasked_sum_equals_the_plain_sum_to_the_quantisation_error(
    values, weights, bits: int
) -> None:
    quantisation = Quantisation(2.0, bits)
    xs = [np.array(v) for v in values]
    ms = [weights.draw(st.integers(1, 50)) for _ in xs]
    ring = ring_bits_for(len(xs) * 50, quantisation)
    mod = np.uint64((1 << ring) - 1)
    seeds = [os.urandom(32) for _ in xs]
    total = np.zeros(5, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, (x, m) in enumerate(zip(xs, ms, strict=True)):
            levels, _ = quantise(x, quantisation)
            masked = levels * np.uint64(m) + prg_mask(seeds[i], 5, ring)
            # pairwise masks that cancel: i adds PRG(s_ij) for j > i and subtracts for j < i
            for j in range(len(xs)):
                if j != i:
                    pair = bytes(
                        a ^ b for a, b in zip(seeds[min(i, j)], seeds[max(i, j)], strict=True)
                    )
                    mask = prg_mask(pair, 5, ring)
                    masked = masked + mask if i < j else masked - mask
            total = (total + (masked & mod)) & mod
        for seed in seeds:
            total = (total - prg_mask(seed, 5, ring)) & mod
    decoded = dequantise_sum(total, sum(ms), quantisation)
    plain = sum(m * np.clip(x, -2.0, 2.0) for x, m in zip(xs, ms, strict=True))
    bound = rounding_error_bound(sum(ms), quantisation)
    assert np.all(np.abs(decoded - plain) <= bound * (1 + 1e-9) + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    clip=st.floats(1e-3, 10.0),
    bits=st.integers(1, 32),
)
def test_quantisation_equals_rounding_the_clipped_value_in_any_wide_enough_dtype(
    values: list[float], clip: float, bits: int
) -> None:
    quantisation = Quantisation(clip, bits)
    x = np.array(values)
    reference = np.minimum(
        np.rint((np.clip(x, -clip, clip) + clip) * quantisation.scale), quantisation.top
    )
    wide, clipped = quantise(x, quantisation)
    narrow, clipped32 = quantise(x, quantisation, np.uint32)
    assert wide.dtype == np.uint64 and narrow.dtype == np.uint32
    assert np.array_equal(wide, reference) and np.array_equal(narrow, reference)
    assert clipped == clipped32 == int(np.count_nonzero(np.abs(x) > clip))


@settings(max_examples=10, deadline=None)
@given(
    size=st.integers(0, 3 * (1 << 15) + 7), multiplier=st.integers(1, 300), seed=st.integers(0, 9)
)
def test_quantising_into_a_vector_in_chunks_equals_quantising_then_multiplying(
    size: int, multiplier: int, seed: int
) -> None:
    quantisation = Quantisation(1.0, 16)
    x = np.random.default_rng(seed).normal(scale=0.6, size=size)  # some outside the range
    levels, clipped = quantise(x, quantisation, np.uint32)
    out = np.full(size, 7, dtype=np.uint32)
    assert quantise_into(x, quantisation, out, multiplier) == clipped
    assert np.array_equal(out, levels * np.uint32(multiplier))
    single = np.zeros(size, dtype=np.uint64)  # float32 values are quantised as float64
    quantise_into(x.astype(np.float32), quantisation, single)
    assert np.array_equal(single, quantise(x.astype(np.float32), quantisation)[0])


@settings(max_examples=60, deadline=None)
@given(
    clip=st.floats(1e-6, 1e6),
    bits=st.integers(1, 48),
    multiplier=st.sampled_from([1, 2, 255, 1 << 20]),
    seed=st.integers(0, 9),
)
def test_values_within_the_range_quantise_to_levels_within_the_range_at_any_multiplier(
    clip: float, bits: int, multiplier: int, seed: int
) -> None:
    # quantise_into clips only chunks with a value outside [-c, c], and multiplies in floats
    # when the product stays below 2^53: neither may change a level, down to the range's ends
    quantisation = Quantisation(clip, bits)
    ends = np.array([-clip, clip, np.nextafter(clip, 0.0), np.nextafter(-clip, 0.0), 0.0])
    x = np.r_[ends, np.random.default_rng(seed).uniform(-clip, clip, 200)]
    reference = np.clip(np.rint((x + clip) * quantisation.scale), 0, quantisation.top)
    assume(multiplier * quantisation.top < 1 << 64)  # what a uint64 holds
    out = np.zeros(x.size, np.uint64)
    assert quantise_into(x, quantisation, out, multiplier) == 0
    expected = [int(level) * multiplier for level in reference]
    assert out.tolist() == expected and max(expected) <= multiplier * quantisation.top


def test_quantising_into_a_vector_checks_its_room() -> None:
    with pytest.raises(ValueError, match="cannot hold 16-bit levels times 2"):
        quantise_into(np.zeros(3), Quantisation(1.0, 16), np.zeros(3, np.uint16), 2)
    with pytest.raises(ValueError, match="1-d, equal"):
        quantise_into(np.zeros(3), Quantisation(1.0, 8), np.zeros(4, np.uint32))
    with pytest.raises(ValueError, match="multiplier"):
        quantise_into(np.zeros(3), Quantisation(1.0, 8), np.zeros(3, np.uint32), 0)
    with pytest.raises(ValueError, match="NaN"):
        quantise_into(
            np.r_[np.zeros(1 << 15), np.nan],
            Quantisation(1.0, 8),
            np.zeros((1 << 15) + 1, np.uint32),
        )


def test_quantisation_refuses_a_dtype_too_narrow_for_its_levels() -> None:
    with pytest.raises(ValueError, match="cannot hold 20-bit levels"):
        quantise(np.zeros(3), Quantisation(1.0, 20), np.uint16)
    with pytest.raises(ValueError, match="infinity"):
        quantise(np.array([0.0, np.inf]), Quantisation(1.0, 8))


def test_values_outside_the_range_are_clipped_and_counted() -> None:
    levels, clipped = quantise(np.array([-5.0, 0.0, 5.0]), Quantisation(1.0, 8))
    assert clipped == 2 and levels.tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="NaN"):
        quantise(np.array([np.nan]), Quantisation(1.0, 8))
    with pytest.raises(ValueError, match="over 64"):
        ring_bits_for(2**40, Quantisation(1.0, 30))


def test_pairwise_agreement_is_symmetric_and_sealing_rejects_tampering() -> None:
    a, b = new_key_pair(), new_key_pair()
    assert public_key_of(a.secret) == a.public
    k1 = agree(a.secret, b.public, b"ctx")
    assert k1 == agree(b.secret, a.public, b"ctx") and k1 != agree(a.secret, b.public, b"other")
    sealed = seal(k1, b"share", b"a->b")
    assert open_sealed(k1, sealed, b"a->b") == b"share"
    with pytest.raises(ValueError, match="authentication"):
        open_sealed(k1, sealed, b"b->a")
    with pytest.raises(ValueError, match="authentication"):
        open_sealed(k1, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"a->b")


@pytest.mark.parametrize("multiplier", [2.5, 2.0, True])
def test_quantise_into_refuses_a_multiplier_that_is_not_an_integer(multiplier) -> None:
    out = np.empty(1, dtype=np.uint64)
    with pytest.raises(ValueError, match="multiplier must be an integer"):
        quantise_into(np.array([1.0]), Quantisation(1.0, 8), out, multiplier)


def test_quantise_refuses_complex_values_instead_of_dropping_the_imaginary_part() -> None:
    for values in (np.array([0.5 + 3j]), [0.5 + 3j], np.array([0.5 + 0j])):
        with pytest.raises(ValueError, match="complex"):
            quantise(values, Quantisation(1.0, 8))
    with pytest.raises(ValueError, match="complex"):
        quantise_into(np.array([0.5 + 3j]), Quantisation(1.0, 8), np.empty(1, dtype=np.uint64))
    assert (
        quantise_into(
            np.array([1.0]), Quantisation(1.0, 8), out := np.empty(1, np.uint64), np.int64(3)
        )
        == 0
    )
    assert out[0] == 3 * 255

"""What the coordinator does with each update of a big float32 model allocates O(a block),
not a float64 copy of the model: folding it into the weighted sum, taking its norm and its
largest value, and decoding it off the wire. A 25M-parameter model's update is 100 MB; each
float64 temporary of it was 200 MB more, for every client folded (benchmarks/big_model.py).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from rengo.core.codec import decode_owned, encode
from rengo.core.messages import EvaluateResult, FitResult
from rengo.core.parameters import BLOCK_VALUES, add_weighted
from rengo.hfl import FedAvg, simulate
from rengo.hfl.client import Client
from rengo.hfl.result_checks import largest_magnitude, update_norm
from rengo.hfl.strategy.base import WeightedSum
from rengo.hfl.update_codecs import int8_decode, int8_encode

BLOCK_BYTES = BLOCK_VALUES * 8


def _model(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((1000, 900), dtype=np.float32),
        rng.standard_normal((100_000,), dtype=np.float32),
    ]


def _peak_allocated(work: Callable[[], object]) -> int:
    """Bytes allocated at the peak of ``work()`` above what was allocated before it."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_folding_a_float32_update_allocates_one_block_not_a_float64_copy():
    update = _model()
    acc = WeightedSum(update)
    peak = _peak_allocated(lambda: acc.add(update, 37.0, {}))
    assert peak < 2 * BLOCK_BYTES, f"{peak / 2**20:.1f} MiB for a 4 MB update"


@pytest.mark.parametrize("weight", [1.0, 37.0, 0.3])
def test_the_blockwise_fold_is_the_whole_array_formula_to_the_last_bit(weight):
    update = _model(1)
    total = [np.random.default_rng(2).standard_normal(p.shape) for p in update]
    expected = [t + weight * p.astype(np.float64) for t, p in zip(total, update, strict=True)]
    for t, p in zip(total, update, strict=True):
        add_weighted(t, p, weight)
    for t, e in zip(total, expected, strict=True):
        np.testing.assert_array_equal(t, e)


def test_integer_arrays_fold_as_their_float64_values():
    total = np.zeros(5)
    add_weighted(total, np.array([-(2**31), -1, 0, 1, 2**31 - 1], dtype=np.int32), 2.0)
    np.testing.assert_array_equal(total, [-(2.0**32), -2.0, 0.0, 2.0, 2.0**32 - 2.0])


def test_a_running_sum_that_is_not_float64_is_refused():
    with pytest.raises(ValueError, match="float64"):
        add_weighted(np.zeros(3, dtype=np.float32), np.ones(3, dtype=np.float32), 1.0)
    with pytest.raises(ValueError, match="shape"):
        add_weighted(np.zeros(3), np.ones(4), 1.0)


def test_an_update_norm_allocates_one_block_and_matches_the_float64_norm():
    reference = _model(0)
    update = [p + np.float32(0.01) * q for p, q in zip(reference, _model(3), strict=True)]
    peak = _peak_allocated(lambda: update_norm(update, reference))
    assert peak < 2 * BLOCK_BYTES, f"{peak / 2**20:.1f} MiB for a 4 MB update"
    exact = np.sqrt(
        sum(
            float(np.sum((u.astype(np.float64) - r.astype(np.float64)) ** 2))
            for u, r in zip(update, reference, strict=True)
        )
    )
    assert update_norm(update, reference) == pytest.approx(exact, rel=1e-12)


def test_the_largest_magnitude_is_read_in_the_arrays_own_dtype():
    update = _model(4)
    update[1][7] = np.float32(-1e30)
    peak = _peak_allocated(lambda: largest_magnitude(update))
    assert peak < BLOCK_BYTES, f"{peak / 2**20:.1f} MiB for a 4 MB update"
    assert largest_magnitude(update) == float(np.float32(1e30))
    assert largest_magnitude([np.array([-(2**63)], dtype=np.int64)]) == 2.0**63


@pytest.mark.parametrize("buffer", [bytes, bytearray])
def test_an_array_kept_from_a_decoded_message_holds_its_own_bytes_not_the_message(buffer):
    update = _model(5)
    payload = buffer(encode(update))
    decoded = decode_owned(payload)
    for array, original in zip(decoded, update, strict=True):
        np.testing.assert_array_equal(array, original)
        assert array.flags.writeable
        assert not np.shares_memory(array, np.frombuffer(payload, dtype=np.uint8))

    def keep_the_small_array() -> None:
        nonlocal decoded
        decoded = [decode_owned(payload)[1]]  # a 400 kB array; the message is 4 MB

    # decode(bytearray(payload)) gave views of one message-sized copy: keeping any array
    # kept all of it
    tracemalloc.start()
    try:
        keep_the_small_array()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 2 * decoded[0].nbytes, f"{held / len(payload):.2f}x the message"


class _Float32Client(Client):
    """Returns the model it received plus one, in float32 (what a torch client sends)."""

    def fit(self, parameters, config):
        return FitResult([p + np.float32(1.0) for p in parameters], 10, {})

    def evaluate(self, parameters, config):
        return EvaluateResult(0.0, 10, {})


def test_a_round_of_a_float32_model_allocates_a_few_models_whatever_the_clients():
    model = _model(6)
    model_bytes = sum(p.nbytes for p in model)
    peaks = {}
    for clients in (3, 12):
        peaks[clients] = _peak_allocated(
            lambda n=clients: simulate(lambda cid: _Float32Client(), n, FedAvg(), model, 1)
        )
    # the global model, its float64 running sum (2 models), one client's request, decoded
    # model, result, encoded reply and decoded reply in flight: about 8 models. Each float64
    # temporary of an update (the fold's widened copy and product, the norm's differences,
    # the largest value's absolute copy) was 2 models more, at once: 13-15 models.
    for clients, peak in peaks.items():
        assert peak < 10 * model_bytes, f"{clients} clients: {peak / model_bytes:.1f} models"
    assert peaks[12] < peaks[3] + model_bytes, {k: v / model_bytes for k, v in peaks.items()}


def _int8_whole_vector(values: np.ndarray, chunk: int, rng: np.random.Generator):
    """int8 quantisation over the whole vector at once (docs/update-compression.md)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    count = -(-flat.size // chunk)
    padded = np.zeros(count * chunk)
    padded[: flat.size] = flat
    largest = np.max(np.abs(padded.reshape(count, chunk)), axis=1)
    scales = largest.astype(np.float32)
    low = scales.astype(np.float64) < largest
    scales[low] = np.nextafter(scales[low], np.float32(np.inf))
    per_value = np.repeat(scales.astype(np.float64), chunk)[: flat.size]
    level = np.divide(flat * 127, per_value, out=np.zeros_like(flat), where=per_value > 0)
    floor = np.floor(level)
    rounded = floor + (rng.random(flat.size) < level - floor)
    return np.clip(rounded, -127, 127).astype(np.int8), scales


@pytest.mark.parametrize(("size", "chunk"), [(1, 64), (300_001, 1024), (200_000, 100_000)])
def test_int8_by_blocks_sends_the_bytes_of_the_whole_vector_formula(size, chunk):
    values = (np.random.default_rng(size).standard_normal(size) * 3).astype(np.float32)
    q, scales = int8_encode(values, chunk, np.random.default_rng(7))
    q_whole, scales_whole = _int8_whole_vector(values, chunk, np.random.default_rng(7))
    np.testing.assert_array_equal(q, q_whole)
    np.testing.assert_array_equal(scales, scales_whole)
    per_value = np.repeat(scales_whole.astype(np.float64), chunk)[:size]
    decoded = int8_decode(q, scales, chunk)
    np.testing.assert_array_equal(decoded, q_whole.astype(np.float64) * per_value / 127)


def test_int8_coding_of_a_float32_update_allocates_blocks_not_float64_vectors():
    values = _model(8)[0].ravel()  # 900,000 float32 values: a float64 copy is 7.2 MB
    float64_copy = values.size * 8
    peak = _peak_allocated(lambda: int8_encode(values, 1024, np.random.default_rng(0)))
    # q itself (1 byte a value) and a few blocks; before, seven float64 vectors at once
    assert peak < float64_copy, f"encode: {peak / float64_copy:.2f} float64 copies"
    q, scales = int8_encode(values, 1024, np.random.default_rng(0))
    peak = _peak_allocated(lambda: int8_decode(q, scales, 1024))
    # the float64 result and a block; before, the widened q and the per-value scales besides
    assert peak < 1.5 * float64_copy, f"decode: {peak / float64_copy:.2f} float64 copies"

"""The arithmetic of update compression: plain functions over flat float64 vectors.

* **float16**: each value cast to IEEE half precision (relative error at most 2^-11 for
  values in float16's normal range, 6.1e-5 to 65504).
* **int8 with stochastic rounding** (Alistarh, Grubic, Li, Tomioka, Vojnovic 2017, "QSGD:
  Communication-Efficient SGD via Gradient Quantization and Encoding"; Konečný, McMahan, Yu,
  Richtárik, Suresh, Bacon 2016, "Federated Learning: Strategies for Improving
  Communication Efficiency", section 3.2): a chunk of values ``x`` with scale
  ``s = max |x|`` is sent as integers ``q`` in [-127, 127],

      q = floor(127 x / s) + Bernoulli(127 x / s - floor(127 x / s)),

  and read back as ``q s / 127``. Rounding up with probability equal to the fractional part
  makes the decoded value unbiased, ``E[q s / 127] = x``, with variance at most
  ``(s / 127)^2 / 4`` per value: averaged over many clients the errors cancel instead of
  adding up as nearest rounding's would.
* **top-k** (Stich, Cordonnier, Jaggi 2018, "Sparsified SGD with Memory"; Karimireddy,
  Rebjock, Stich, Jaggi 2019, "Error Feedback Fixes SignSGD and other Gradient Compression
  Schemes"): only the ``k`` values of largest magnitude travel, as ascending indices and
  their values. With error feedback the client adds what it did not send to its next
  update, so nothing is lost, only delayed: after any number of rounds, the sum of what was
  sent plus the residual the client holds equals the sum of its true updates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from rengo.core.parameters import BLOCK_VALUES

INT8_LEVELS = 127
"""Largest integer an int8 value takes (symmetric range; -128 is never written)."""


def float16_encode(values: np.ndarray) -> np.ndarray:
    """``values`` as float16.

    Raises
    ------
    ValueError
        If a value is beyond float16's largest finite value (65504): it would arrive as
        infinity.
    """
    largest = float16_overflow(values)
    if largest is not None:
        raise ValueError(
            f"an update value of magnitude {largest:.4g} exceeds float16's range (65504): "
            'use update = "int8" or "topk" for this model'
        )
    return np.asarray(values, dtype=np.float16)


def float16_overflow(values: np.ndarray) -> float | None:
    """The largest magnitude in ``values`` when float16 cannot hold it (beyond 65504, or
    not finite: it would arrive as infinity), else None. Read through the largest and
    smallest values in the array's own dtype: no model-sized copy of its magnitudes."""
    largest = 0.0
    if np.size(values):
        top, bottom = float(np.max(values)), float(np.min(values))
        largest = top if math.isnan(top) else max(abs(top), abs(bottom))
    return None if largest <= float(np.finfo(np.float16).max) else largest


def int8_chunks(size: int, chunk: int) -> int:
    """How many scales an array of ``size`` values has at ``chunk`` values per scale."""
    return math.ceil(size / chunk) if size else 0


def int8_encode(
    values: np.ndarray, chunk: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Quantise a flat vector to int8 with stochastic rounding, one scale per ``chunk``.

    The vector is read a block of whole chunks at a time (about
    :data:`~rengo.core.parameters.BLOCK_VALUES` values), widened to float64 there, so the
    float64 working arrays are a block's, never the vector's (a 25M-value update made seven
    200 MB ones). The rounding's draws come from ``rng`` in order, block after block: the
    same draws, so the same bytes, as one draw over the whole vector.

    Parameters
    ----------
    values
        The flat vector (any real dtype; each value is taken in float64).
    chunk
        Values per scale (the last chunk may be shorter).
    rng
        Draws the rounding.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        ``q`` (int8, ``values``' length, in [-127, 127]) and the scales (float32, one per
        chunk, each at least its chunk's largest magnitude).
    """
    flat = np.asarray(values).ravel()
    q = np.empty(flat.size, dtype=np.int8)
    scales = np.empty(int8_chunks(flat.size, chunk), dtype=np.float32)
    for first, last, start, stop in _chunk_blocks(flat.size, chunk):
        part = flat[start:stop].astype(np.float64)
        padded = np.zeros((last - first) * chunk)
        padded[: part.size] = part
        largest = np.max(np.abs(padded.reshape(last - first, chunk)), axis=1)
        block_scales = largest.astype(np.float32)
        low = block_scales.astype(np.float64) < largest  # float32 rounded below its max
        block_scales[low] = np.nextafter(block_scales[low], np.float32(np.inf))
        scales[first:last] = block_scales
        per_value = np.repeat(block_scales.astype(np.float64), chunk)[: part.size]
        level = np.divide(
            part * INT8_LEVELS, per_value, out=np.zeros_like(part), where=per_value > 0
        )
        floor = np.floor(level)
        rounded = floor + (rng.random(part.size) < level - floor)
        q[start:stop] = np.clip(rounded, -INT8_LEVELS, INT8_LEVELS)
    return q, scales


def _chunk_blocks(size: int, chunk: int) -> Iterator[tuple[int, int, int, int]]:
    """``(first, last, start, stop)`` of each block of whole int8 chunks of a ``size``-value
    vector: chunks ``first:last`` (about :data:`~rengo.core.parameters.BLOCK_VALUES` values),
    values ``start:stop``."""
    count = int8_chunks(size, chunk)
    per_block = max(1, BLOCK_VALUES // chunk)
    for first in range(0, count, per_block):
        last = min(count, first + per_block)
        yield first, last, first * chunk, min(size, last * chunk)


def int8_decode(q: np.ndarray, scales: np.ndarray, chunk: int) -> np.ndarray:
    """The float64 vector ``q * scale / 127`` (see :func:`int8_encode`), computed a block
    of whole chunks at a time into the result (no other vector-sized float64 array)."""
    flat = np.asarray(q).ravel()
    scales64 = np.asarray(scales, dtype=np.float64)
    decoded = np.empty(flat.size, dtype=np.float64)
    for first, last, start, stop in _chunk_blocks(flat.size, chunk):
        per_value = np.repeat(scales64[first:last], chunk)[: stop - start]
        decoded[start:stop] = flat[start:stop].astype(np.float64) * per_value / INT8_LEVELS
    return decoded


def topk_count(size: int, fraction: float) -> int:
    """How many values top-k keeps of ``size``: ``ceil(fraction * size)``, at least one
    (none of an empty update)."""
    return min(size, max(1, math.ceil(fraction * size))) if size else 0


def index_dtype(size: int) -> np.dtype[np.unsignedinteger]:
    """The index dtype top-k writes for an update of ``size`` values (uint32 where it
    suffices)."""
    return np.dtype(np.uint32) if size <= 2**32 else np.dtype(np.uint64)


def topk_encode(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` values of largest magnitude: their indices (ascending) and values.

    Ties at the k-th magnitude are broken by the lower index, so the choice depends on the
    values alone.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        Indices (:func:`index_dtype`) and their values (float32).
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    magnitude = np.abs(flat)
    if k <= 0:
        return np.zeros(0, index_dtype(flat.size)), np.zeros(0, np.float32)
    threshold = np.partition(magnitude, flat.size - k)[flat.size - k]  # the k-th largest
    above = np.flatnonzero(magnitude > threshold)
    tied = np.flatnonzero(magnitude == threshold)[: k - above.size]  # lowest indices first
    indices = np.sort(np.concatenate([above, tied]))
    return indices.astype(index_dtype(flat.size)), flat[indices].astype(np.float32)


def topk_decode(indices: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """The dense float64 vector of ``size`` values that top-k's ``indices`` and ``values``
    describe (zero elsewhere)."""
    dense = np.zeros(size)
    dense[np.asarray(indices, dtype=np.int64)] = np.asarray(values, dtype=np.float64)
    return dense

"""Quantisation of float vectors into the ring ``Z_{2^bits}`` for secure aggregation.

Masked sums need integers. A value is clipped to ``[-clip_range, clip_range]`` and mapped to
the nearest of ``levels = 2^quantisation_bits`` evenly spaced points:
``q(x) = round((clip(x) + c) * s)`` with step ``1 / s = 2c / (levels - 1)``. A weighted sum
``sum_i m_i q(x_i)`` over integers ``m_i >= 0`` decodes as
``S / s - c * sum_i m_i`` and differs from ``sum_i m_i clip(x_i)`` by at most
``sum_i m_i / (2 s)`` per coordinate (:func:`rounding_error_bound`). The ring must hold
``sum_i m_i (levels - 1)`` without wrapping: :func:`ring_bits_for` picks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike


@dataclass(frozen=True)
class Quantisation:
    """A clipping range and a number of levels.

    Attributes
    ----------
    clip_range
        ``c``: values are clipped to ``[-c, c]`` before rounding.
    quantisation_bits
        ``levels = 2^quantisation_bits`` points in the range.
    """

    clip_range: float
    quantisation_bits: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip_range) and self.clip_range > 0):
            raise ValueError(f"clip_range must be finite and > 0, got {self.clip_range}")
        if not 1 <= self.quantisation_bits <= 48:
            raise ValueError(f"quantisation_bits must lie in 1..48, got {self.quantisation_bits}")

    @property
    def top(self) -> int:
        """``levels - 1``: the largest quantised value."""
        return (1 << self.quantisation_bits) - 1

    @property
    def scale(self) -> float:
        """``s``: quantised units per unit of value."""
        return self.top / (2.0 * self.clip_range)


CHUNK_VALUES = 1 << 15
"""Values quantised per pass: a float64 chunk and its scratch stay in a core's L2 cache."""


def quantise(
    values: np.ndarray, quantisation: Quantisation, dtype: DTypeLike = np.uint64
) -> tuple[np.ndarray, int]:
    """``q(values)`` as unsigned integers and how many values had to be clipped.

    Computed as ``clip(rint((x + c) * s), 0, levels - 1)`` - equal to ``rint((clip(x) + c) * s)``
    because the map is monotone - by :func:`quantise_into`.

    Parameters
    ----------
    values
        Finite floats.
    quantisation
        The range and levels.
    dtype
        The unsigned integer type of the result (uint64; uint32 when the levels fit, as
        secure aggregation sends them in a 32-bit ring).

    Returns
    -------
    tuple[numpy.ndarray, int]
        Quantised values in ``[0, levels)`` (``values``' shape, of ``dtype``) and the count
        of clipped ones.

    Raises
    ------
    ValueError
        If a value is complex, NaN or infinite, or ``dtype`` is not an unsigned integer type
        that holds ``levels - 1``.
    """
    x = _real_floats(values)
    out = np.empty(x.shape, dtype=np.dtype(dtype))
    clipped = quantise_into(x.ravel(), quantisation, out.reshape(-1))
    return out, clipped


def quantise_into(
    values: np.ndarray, quantisation: Quantisation, out: np.ndarray, multiplier: int = 1
) -> int:
    """Write ``multiplier * q(values)`` into ``out``; return how many values were clipped.

    The client side of secure aggregation quantises its update straight into the vector it
    masks: chunk by chunk, so each chunk's clip test, scaling, rounding, cast and
    multiplication run in cache instead of as whole-vector passes and temporaries.

    Parameters
    ----------
    values
        A 1-d vector of finite real floats (computed in float64: other real dtypes are
        converted).
    quantisation
        The range and levels.
    out
        A 1-d unsigned integer vector of ``values``' length, written in place; its dtype
        must hold ``multiplier * (levels - 1)`` (checked).
    multiplier
        A positive integer weight (a client's example count in weighted FedAvg): an ``int``
        or numpy integer, never a float.

    Returns
    -------
    int
        How many values lay outside ``[-clip_range, clip_range]``.

    Raises
    ------
    ValueError
        If a value is complex, NaN or infinite, ``out`` is not an unsigned vector of
        ``values``' length that holds ``multiplier * (levels - 1)``, or ``multiplier`` is not
        an integer >= 1.
    """
    x = _real_floats(values)  # no copy for float64 input
    if x.ndim != 1 or out.ndim != 1 or out.shape != x.shape:
        raise ValueError(f"values of shape {x.shape} and out of shape {out.shape}: 1-d, equal")
    if (
        not isinstance(multiplier, (int, np.integer))
        or isinstance(multiplier, (bool, np.bool_))
        or multiplier < 1
    ):
        raise ValueError(f"multiplier must be an integer >= 1, got {multiplier!r}")
    multiplier = int(multiplier)
    if out.dtype.kind != "u" or multiplier * quantisation.top >= 1 << (8 * out.dtype.itemsize):
        times = f" times {multiplier}" if multiplier != 1 else ""
        raise ValueError(
            f"{out.dtype} cannot hold {quantisation.quantisation_bits}-bit levels{times}: use "
            "an unsigned type at least that wide"
        )
    c, scale, top = quantisation.clip_range, quantisation.scale, float(quantisation.top)
    clipped = 0
    scratch = np.empty(min(CHUNK_VALUES, x.size), dtype=np.float64)
    factor = out.dtype.type(multiplier)
    # multiplier * level below 2^53 is exact in float64: it is taken there, before the cast,
    # instead of as a pass over the integers; and what is written is cast through the signed
    # type of out's width when it fits (numpy's float -> signed cast is the faster loop; the
    # bits are the same for values below 2^(width - 1))
    in_floats = multiplier * quantisation.top < 1 << 53
    written = multiplier * quantisation.top if in_floats else quantisation.top
    signed = written < 1 << (8 * out.dtype.itemsize - 1)
    sink_dtype = np.dtype(f"i{out.dtype.itemsize}") if signed else out.dtype
    for start in range(0, x.size, CHUNK_VALUES):
        chunk, target = x[start : start + CHUNK_VALUES], out[start : start + CHUNK_VALUES]
        levels = scratch[: chunk.size]
        low, high = float(chunk.min()), float(chunk.max())  # NaN and infinities show here
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("cannot quantise NaN or infinity")
        outside = low < -c or high > c
        if outside:
            clipped += int(np.count_nonzero(chunk < -c)) + int(np.count_nonzero(chunk > c))
        np.add(chunk, c, out=levels)
        levels *= scale
        np.rint(levels, out=levels)
        if outside:
            np.clip(levels, 0.0, top, out=levels)
        # else the clip would change nothing: rounding is monotone, so x in [-c, c] gives
        # x + c in [0, 2c] and (x + c) * s in [0, top * (1 + 2^-52)] (s itself is rounded),
        # which rint takes into [0, top] (top < 2^48: the excess is below 1/2)
        if in_floats and multiplier != 1:
            levels *= multiplier
        target.view(sink_dtype)[...] = levels  # exact: integers below 2^53
        if not in_floats:  # the caller's dtype holds multiplier * top: no wrap
            target *= factor
    return clipped


def _real_floats(values: np.ndarray) -> np.ndarray:
    """``values`` as float64, refusing complex numbers (numpy would drop the imaginary part
    with only a warning)."""
    if np.iscomplexobj(values):
        raise ValueError("cannot quantise complex values: pass real floats")
    return np.asarray(values, dtype=np.float64)


def dequantise_sum(
    total: np.ndarray, multiplier_sum: int, quantisation: Quantisation
) -> np.ndarray:
    """``sum_i m_i clip(x_i)`` (to the rounding error) from ``S = sum_i m_i q(x_i)``.

    Parameters
    ----------
    total
        ``S`` as unsigned integers (already reduced: no wrap-around).
    multiplier_sum
        ``sum_i m_i``.
    quantisation
        The range and levels every client used.

    Returns
    -------
    numpy.ndarray
        float64 sums.
    """
    return (
        np.asarray(total, dtype=np.float64) / quantisation.scale
        - quantisation.clip_range * multiplier_sum
    )


def rounding_error_bound(multiplier_sum: int, quantisation: Quantisation) -> float:
    """The largest per-coordinate gap between the decoded sum and ``sum_i m_i clip(x_i)``:
    ``sum_i m_i / (2 s)`` (plus float64 rounding, far smaller)."""
    return multiplier_sum / (2.0 * quantisation.scale)


def ring_bits_for(largest_multiplier_sum: int, quantisation: Quantisation) -> int:
    """The smallest ``bits`` with ``largest_multiplier_sum * (levels - 1) < 2^bits``.

    Raises
    ------
    ValueError
        If that needs more than 64 bits (fewer quantisation bits or a smaller weight cap fix it).
    """
    bits = max(1, (largest_multiplier_sum * quantisation.top).bit_length())
    if bits > 64:
        raise ValueError(
            f"a sum of up to {largest_multiplier_sum} x {quantisation.top} needs {bits} bits, "
            "over 64: lower quantisation_bits or max_examples"
        )
    return bits

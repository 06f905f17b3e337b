"""Model parameters: a list of numpy arrays, and the few operations every layer needs on them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from rengo.core.errors import ClientFailure

Parameters = list[np.ndarray]
"""A model's parameters, in a fixed order agreed by coordinator and clients."""


def zeros_like(parameters: Sequence[np.ndarray], dtype: type | None = np.float64) -> Parameters:
    """Arrays of zeros with the shapes of ``parameters`` (float64 by default, for accumulators).

    Parameters
    ----------
    parameters
        The arrays whose shapes to copy.
    dtype
        The zeros' dtype; None: each array's own.

    Returns
    -------
    list[numpy.ndarray]
        One array of zeros per array of ``parameters``.
    """
    return [np.zeros(p.shape, dtype=dtype or p.dtype) for p in parameters]


def copy_parameters(parameters: Sequence[np.ndarray]) -> Parameters:
    """A deep copy, so that callers may mutate the result freely.

    Parameters
    ----------
    parameters
        The arrays to copy.

    Returns
    -------
    list[numpy.ndarray]
        New arrays, equal to the given ones and sharing no memory with them.
    """
    return [np.array(p, copy=True) for p in parameters]


def num_values(parameters: Sequence[np.ndarray]) -> int:
    """Total number of scalars across all arrays.

    Parameters
    ----------
    parameters
        The arrays.

    Returns
    -------
    int
        The sum of their sizes.
    """
    return int(sum(p.size for p in parameters))


def num_bytes(parameters: Sequence[np.ndarray]) -> int:
    """Total size in bytes of the raw array data.

    Parameters
    ----------
    parameters
        The arrays.

    Returns
    -------
    int
        The sum of their ``nbytes``.
    """
    return int(sum(p.nbytes for p in parameters))


def sum_of_squares(parameters: Sequence[np.ndarray]) -> float:
    """The sum of every value squared, in float64, rounded alike on every machine and
    executor (the square of an L2 norm).

    ``np.dot`` and ``np.vdot`` go through BLAS, whose multithreaded dot product (OpenBLAS's,
    from about 20,000 values) splits the sum among its threads, so its last digits followed
    the BLAS thread count: the serial pool runs clients and the coordinator's per-update
    checks with one thread, the process and Ray pools and a deployed coordinator with the
    machine's. ``np.einsum`` sums in numpy's own loop, whatever the thread count.

    Parameters
    ----------
    parameters
        The arrays (any real dtype; each is summed in float64).

    Returns
    -------
    float
        ``sum(x**2)`` over every value (``inf`` when it overflows).
    """
    total = 0.0
    for p in parameters:
        flat = np.asarray(p, dtype=np.float64).ravel()
        total += reproducible_dot(flat, flat)
    return total


def reproducible_dot(a: np.ndarray, b: np.ndarray) -> float:
    """The dot product of two vectors, summed in numpy's own loop (``np.einsum``), never
    BLAS's: rounded alike whatever the machine's BLAS thread count (see
    :func:`sum_of_squares`), for figures that must reproduce to the last bit (update norms,
    tournament scores and the payouts they set).

    Parameters
    ----------
    a, b
        1-D arrays of one length.

    Returns
    -------
    float
        ``sum(a * b)``.
    """
    return float(np.einsum("i,i->", a, b))


BLOCK_VALUES = 1 << 16
"""Values per block of :func:`add_weighted` (512 KiB of float64: its temporary stays in the
cache, and its memory does not grow with the model)."""


def add_weighted(total: np.ndarray, values: np.ndarray, weight: float) -> None:
    """``total += weight * values`` in float64, block by block, without a model-sized
    temporary.

    Each product is formed in float64 (``values`` widened first, as
    ``weight * values.astype(np.float64)`` does), so the sum is the same to the last bit;
    but the widened copy and the product of a whole array (two 200 MB temporaries for a
    25M-value float32 layer, for every client folded) become one reused block of
    :data:`BLOCK_VALUES`.

    Parameters
    ----------
    total
        The float64 running sum, C-contiguous; updated in place.
    values
        An array of ``total``'s shape (any real dtype).
    weight
        The factor (1.0 adds ``values`` as they are).

    Raises
    ------
    ValueError
        If ``total`` is not a C-contiguous float64 array or the shapes differ.
    """
    if total.dtype != np.float64 or not total.flags.c_contiguous:
        raise ValueError("the running sum must be a C-contiguous float64 array")
    if values.shape != total.shape:
        raise ValueError(f"values of shape {values.shape} cannot add to {total.shape}")
    flat_total = total.reshape(-1)
    flat = np.asarray(values).reshape(-1)
    block = np.empty(min(BLOCK_VALUES, flat.size), dtype=np.float64)
    for start in range(0, flat.size, BLOCK_VALUES):
        stop = min(start + BLOCK_VALUES, flat.size)
        product = block[: stop - start]
        np.multiply(flat[start:stop], weight, out=product, dtype=np.float64)
        np.add(flat_total[start:stop], product, out=flat_total[start:stop])


def difference_blocks(
    reference: Sequence[np.ndarray],
    trained: Sequence[np.ndarray],
    block_values: int = BLOCK_VALUES,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(offset, block)`` of ``flatten(trained) - flatten(reference)`` in float64, at most
    ``block_values`` values at a time into one reused scratch buffer (take each block before
    the next), so the difference never exists as a whole-model float64 array. The arrays'
    sizes must already match; a block never spans two arrays."""
    sizes = [int(np.size(p)) for p in reference]
    scratch = np.empty(min(block_values, max(sizes, default=0)), dtype=np.float64)
    offset = 0
    for ref, new, size in zip(reference, trained, sizes, strict=True):
        ref_flat, new_flat = np.asarray(ref).reshape(-1), np.asarray(new).reshape(-1)
        for start in range(0, size, block_values):
            stop = min(size, start + block_values)
            block = scratch[: stop - start]
            np.subtract(new_flat[start:stop], ref_flat[start:stop], out=block, dtype=np.float64)
            yield offset + start, block
        offset += size


def flatten(parameters: Sequence[np.ndarray]) -> np.ndarray:
    """All parameters as one float64 vector (for distances, Shapley, robust aggregators).

    Parameters
    ----------
    parameters
        The arrays, in order.

    Returns
    -------
    numpy.ndarray
        Every value of every array (each raveled in C order), as float64; empty for no arrays.
    """
    if not parameters:
        return np.zeros(0)
    return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parameters])


def unflatten(vector: np.ndarray, like: Sequence[np.ndarray]) -> Parameters:
    """Inverse of :func:`flatten`: split ``vector`` into arrays shaped and typed like ``like``.

    Parameters
    ----------
    vector
        A 1-D array of exactly as many values as ``like`` holds.
    like
        The arrays whose shapes and dtypes the result takes.

    Returns
    -------
    list[numpy.ndarray]
        One array per array of ``like``.

    Raises
    ------
    ValueError
        If ``vector`` holds more or fewer values than ``like``.
    """
    out: Parameters = []
    offset = 0
    for p in like:
        out.append(vector[offset : offset + p.size].reshape(p.shape).astype(p.dtype, copy=False))
        offset += p.size
    if offset != vector.size:
        raise ValueError(f"vector has {vector.size} values, parameters need {offset}")
    return out


def validate_update(
    cid: str, update: Sequence[np.ndarray], reference: Sequence[np.ndarray]
) -> None:
    """Raise :class:`ClientFailure` unless ``update`` matches ``reference`` in count, shape and
    is finite everywhere. Called on every client result before it touches the aggregate.

    Parameters
    ----------
    cid
        The client's id (named in the error).
    update
        The arrays the client sent.
    reference
        The global model they must match.

    Raises
    ------
    ClientFailure
        If the array count or a shape differs, an array is not a numeric numpy array, or a
        float array holds NaN or infinity.
    """
    if len(update) != len(reference):
        raise ClientFailure(cid, f"sent {len(update)} arrays, the model has {len(reference)}")
    for i, (u, r) in enumerate(zip(update, reference, strict=True)):
        if not isinstance(u, np.ndarray):
            raise ClientFailure(cid, f"array {i} is {type(u).__name__}, not a numpy array")
        if u.shape != r.shape:
            raise ClientFailure(cid, f"array {i} has shape {u.shape}, expected {r.shape}")
        if u.dtype.kind not in "fiub":
            raise ClientFailure(cid, f"array {i} has non-numeric dtype {u.dtype}")
        if u.dtype.kind == "f" and not np.all(np.isfinite(u)):
            raise ClientFailure(cid, f"array {i} contains NaN or Inf")

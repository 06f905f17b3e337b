"""Run big-integer work over all cores with threads: gmpy2 releases the GIL when asked.

gmpy2's ``allow_release_gil`` context flag lets ``powmod`` and friends run outside the GIL, so
plain threads scale over cores with no pickling or process start-up. Each worker thread sets
the flag in its own (thread-local) gmpy2 context.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import gmpy2
import numpy as np

MIN_CHUNK = 16
"""Smallest slice handed to one thread; smaller arrays are done inline."""


def _release_gil_in_this_thread() -> None:
    gmpy2.get_context().allow_release_gil = True


def resolve_workers(workers: int | None) -> int:
    """``None`` means every core; anything below 1 is refused."""
    if workers is None:
        return os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1 or None, got {workers}")
    return workers


def map_chunks(
    fn: Callable[..., np.ndarray],
    items: np.ndarray,
    workers: int | None = None,
    extra: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """``fn(items_slice, *extra_slices)`` over contiguous slices of equal-length 1-D arrays.

    ``fn`` must be elementwise (one output entry per input entry, in order); the outputs are
    concatenated. Arrays shorter than two chunks of :data:`MIN_CHUNK` are done inline.
    """
    arrays = [items, *extra]
    chunks = min(resolve_workers(workers), len(items) // MIN_CHUNK)
    if chunks <= 1:
        return fn(*arrays)
    bounds = np.linspace(0, len(items), chunks + 1).astype(int)
    pieces = [[a[lo:hi] for a in arrays] for lo, hi in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(chunks, initializer=_release_gil_in_this_thread) as pool:
        parts = list(pool.map(lambda args: fn(*args), pieces))
    return np.concatenate(parts)

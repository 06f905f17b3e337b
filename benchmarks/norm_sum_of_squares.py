"""What the thread-count-independent sum of squares costs: the update norm as it was
(BLAS dot products, ``np.dot`` / ``np.vdot``, whose rounding follows the BLAS thread count)
against :func:`rengo.core.parameters.sum_of_squares` (numpy's own ``einsum`` loop), on
float64 updates of several sizes, interleaved, ``--repeats`` rounds of ``--calls`` calls
each, with the BLAS pool at its default thread count. Prints the median and range of the
time per call of each, and the load average.

    python benchmarks/norm_sum_of_squares.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from rengo.core.parameters import sum_of_squares


def blas_dot(arrays: list[np.ndarray]) -> float:
    """The sum of squares as rengo took it before (a BLAS dot product per array)."""
    total = 0.0
    for a in arrays:
        flat = np.asarray(a, dtype=np.float64).ravel()
        total += float(np.dot(flat, flat))
    return total


def per_call(fn: object, arrays: list[np.ndarray], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(arrays)  # type: ignore[operator]
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    rng = np.random.default_rng(0)
    for size in (10_000, 1_000_000, 10_000_000):
        arrays = [rng.standard_normal(size)]
        times: dict[str, list[float]] = {"blas dot": [], "sum_of_squares": []}
        for _ in range(args.repeats):
            times["blas dot"].append(per_call(blas_dot, arrays, args.calls))
            times["sum_of_squares"].append(per_call(sum_of_squares, arrays, args.calls))
        for name, values in times.items():
            print(
                f"{size:>10,} values  {name:15s} median {statistics.median(values) * 1e3:8.3f} ms"
                f"  range {min(values) * 1e3:.3f}-{max(values) * 1e3:.3f} ms"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

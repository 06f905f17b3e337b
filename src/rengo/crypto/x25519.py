"""Hash-to-point and batched commutative blinding on Curve25519 (X25519), for ECDH-PSI.

Hash. ``H_ctx(id)`` is BLAKE2b-256 keyed with a digest of the run's context string (domain
separation: hashes of one run are useless in another), with bit 255 cleared as RFC 7748 does
for every u-coordinate. A 255-bit string is the u-coordinate of a point P on Curve25519 E or on
its quadratic twist E' (about half land on each); nobody knows its discrete logarithm.

Blinding. ``X25519(k, u)`` (RFC 7748) runs the x-only Montgomery ladder and returns x([k]P) for
either point P with x(P) = u (x(-P) = x(P) and [k](-P) = -[k]P, so the answer does not depend
on the sign). Hence for scalars a, b (clamped: 2^254 + 8·c)::

    X25519(a, X25519(b, u)) = x([a](±[b]P)) = x([ab]P) = x([b](±[a]P)) = X25519(b, X25519(a, u))

The same holds on the twist E'(F_p), where the ladder computes the twist's group law: the
formulas only use u and the curve constant A, which E and E' share. Points of E and E' never
mix, so an ID hashed onto the twist only ever meets values from the twist. Clamping makes the
scalar a multiple of the cofactor (8 on E, 4 on E'), so results lie in the prime-order
subgroups, where DDH is believed hard on both (Curve25519 is twist-secure, Bernstein 2006).
A low-order input gives the all-zero output; ``cryptography`` refuses it (RFC 7748 §6.1) and we
report those positions so the protocol can reject a hostile peer.

Big batches go to worker processes (the ``cryptography`` ladder holds the GIL); raw bytes go
in and out, the secret only crosses a local pipe. Workers are forked when the pool starts in
a single-threaded process (:func:`~rengo.vfl.psi.private_set_intersection` starts it before
its role threads), and spawned otherwise, which needs the usual ``if __name__ ==
"__main__":`` guard in the calling script.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

POINT_BYTES = 32
_HASH_PERSON = b"rengo-psi-h2c-v1"
_CONTEXT_PERSON = b"rengo-psi-ctx-v1"
_ZERO = bytes(POINT_BYTES)


def new_secret() -> bytes:
    """A fresh X25519 secret scalar (32 bytes from the OS CSPRNG); never derived from a seed."""
    return X25519PrivateKey.generate().private_bytes_raw()


def hash_to_points(ids: list[bytes], context: bytes) -> bytes:
    """Hash each ID to a u-coordinate: keyed BLAKE2b-256 under ``context``, top bit cleared.

    Returns the points concatenated (32 bytes each, in the order of ``ids``).
    """
    key = hashlib.blake2b(context, digest_size=32, person=_CONTEXT_PERSON).digest()
    blake = hashlib.blake2b
    joined = bytearray()  # 32 bytes a digest, not a bytes object (~70) and a list slot
    for v in ids:
        joined += blake(v, digest_size=POINT_BYTES, key=key, person=_HASH_PERSON).digest()
    points = np.frombuffer(joined, dtype=np.uint8).reshape(-1, POINT_BYTES)
    points[:, -1] &= 0x7F
    del points  # a view of joined, which is returned
    return bytes(joined)


def exchange_chunk(secret: bytes, points: bytes) -> tuple[bytes, list[int]]:
    """X25519 of ``secret`` with every 32-byte u-coordinate in ``points``.

    Returns the results concatenated, and the indices of low-order inputs (their result slot
    holds 32 zero bytes). Runs in worker processes, so it takes and returns only bytes.
    """
    exchange = X25519PrivateKey.from_private_bytes(secret).exchange
    load = X25519PublicKey.from_public_bytes
    out = bytearray(len(points))  # 32 bytes a result, not a bytes object (~70) and a slot
    bad: list[int] = []
    for index, start in enumerate(range(0, len(points), POINT_BYTES)):
        try:
            out[start : start + POINT_BYTES] = exchange(load(points[start : start + POINT_BYTES]))
        except ValueError:  # all-zero shared secret: the input was a low-order point
            out[start : start + POINT_BYTES] = _ZERO
            bad.append(index)
    return bytes(out), bad


def split_points(points: bytes) -> list[bytes]:
    """Cut concatenated 32-byte values into a list of ``bytes`` (for set/dict matching)."""
    return [points[i : i + POINT_BYTES] for i in range(0, len(points), POINT_BYTES)]


class BlindingPool:
    """Raises batches of points to secret scalars: in the calling thread for small batches, over
    ``workers`` processes (started on first need, shared by every thread that uses the pool)
    from ``min_parallel`` points up, in tasks of ``chunk`` points.
    """

    def __init__(
        self, workers: int | None = None, *, min_parallel: int = 20_000, chunk: int = 8_192
    ) -> None:
        self.workers = max(1, workers if workers is not None else _available_cores())
        self.min_parallel = min_parallel
        self.chunk = chunk
        self._executor: Executor | None = None
        self._lock = threading.Lock()

    def exponentiate(self, secret: bytes, points: bytes) -> tuple[bytes, list[int]]:
        """X25519(``secret``, u) for each u in ``points``; see :func:`exchange_chunk`."""
        if len(points) % POINT_BYTES:
            raise ValueError(f"points must be a multiple of {POINT_BYTES} bytes")
        count = len(points) // POINT_BYTES
        executor = None if count < self.min_parallel else self._ensure_executor()
        if executor is None:
            return exchange_chunk(secret, points)
        step = self.chunk * POINT_BYTES
        futures = [
            executor.submit(exchange_chunk, secret, points[start : start + step])
            for start in range(0, len(points), step)
        ]
        parts: list[bytes] = []
        bad: list[int] = []
        for number, future in enumerate(futures):
            part, part_bad = future.result()
            parts.append(part)
            bad.extend(number * self.chunk + i for i in part_bad)
        return b"".join(parts), bad

    def start(self) -> None:
        """Start the worker processes now (they start on first need otherwise). Call it from a
        single-threaded process to get cheap ``fork`` workers; see :func:`_start_method`."""
        self._ensure_executor()

    def _ensure_executor(self) -> Executor | None:
        """The worker pool, started on first call; ``None`` means: compute in this thread."""
        with self._lock:
            if self._executor is None and self.workers > 1:
                method = _start_method()
                executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context(method)
                )
                try:
                    executor.submit(int).result()  # launch the workers now
                except BrokenProcessPool:
                    executor.shutdown(wait=False, cancel_futures=True)
                    self.workers = 1
                    warnings.warn(
                        f"PSI worker processes ({method}) failed to start, blinding on one core; "
                        "with 'spawn', guard the calling script with if __name__ == '__main__':",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    return None
                self._executor = executor
            return self._executor

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def __enter__(self) -> BlindingPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _start_method() -> str:
    """``fork`` while this process has a single thread (fast, and no ``__main__`` guard needed
    in the caller's script), else ``spawn``: forking a threaded process can copy locks that
    other threads hold into the child."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1

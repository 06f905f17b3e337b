"""Make obfuscators in worker processes, so that table lookups use every core.

Fixed-base tables (:class:`~rengo.crypto.fixed_base.FixedBaseTable`) turn an obfuscator into
many small multiplications, which hold Python's GIL: threads do not help, processes do.
:class:`ObfuscatorProcesses` wraps a public-key scheme (full ``r^n`` or DJN short
exponents), starts ``processes`` spawned workers that each rebuild the scheme (and its
table) once from plain numbers, and splits every ``generate`` call between them. Results
come back as fixed-width bytes; nothing is pickled but integers and bytes. The key holder's
CRT scheme is not offered: its batch exponentiations already release the GIL, so threads
suffice and the private key stays in one process.

Workers are plain ``python -m rengo.crypto.obfuscator_worker`` subprocesses fed over
pipes (a JSON description once, then fixed-size requests), so nothing depends on how the
caller's main module is written and nothing is unpickled.

Randomness: each chunk is drawn in its worker from the OS CSPRNG, or — when the caller
passes an :class:`~rengo.crypto.randomness.InsecureSeededSource` (tests) — from a seed drawn
from it, so seeded runs stay reproducible.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import numpy as np
from gmpy2 import mpz

from rengo.core.errors import ConfigError
from rengo.crypto.fixed_base import check_table
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.obfuscator_schemes import (
    FullExponentObfuscators,
    ObfuscatorAssumption,
    ShortExponentObfuscators,
)
from rengo.crypto.parallel import resolve_workers
from rengo.crypto.randomness import InsecureSeededSource, RandomSource, random_source

CHUNKS_PER_PROCESS = 4
"""Each ``generate`` call is cut into this many chunks per worker (load balance)."""

_REQUEST = struct.Struct("<qq")  # count, seed (-1: the OS CSPRNG)
_LENGTH = struct.Struct("<q")


def describe(
    scheme: FullExponentObfuscators | ShortExponentObfuscators, window_bits: int | None = None
) -> dict[str, Any]:
    """Plain numbers from which a worker rebuilds ``scheme`` (JSON-safe); a short-exponent
    scheme's table window is ``window_bits`` when given, else its own table's (if any)."""
    if isinstance(scheme, ShortExponentObfuscators):
        if window_bits is None and scheme.table is not None:
            window_bits = scheme.table.window_bits
        return {
            "kind": "short-exponent",
            "n": str(int(scheme.public_key.n)),
            "base": str(int(scheme.base)),
            "exponent_bits": scheme.exponent_bits,
            "window_bits": window_bits,
        }
    return {"kind": "full-exponent", "n": str(int(scheme.public_key.n))}


def rebuild(description: dict[str, Any]) -> FullExponentObfuscators | ShortExponentObfuscators:
    """The scheme :func:`describe` described (its table rebuilt, not copied)."""
    from rengo.crypto.fixed_base import FixedBaseTable

    public_key = PaillierPublicKey(mpz(description["n"]))
    if description["kind"] == "full-exponent":
        return FullExponentObfuscators(public_key)
    if description["kind"] != "short-exponent":
        raise ConfigError(f"unknown obfuscator scheme {description['kind']!r}")
    base, bits = mpz(description["base"]), int(description["exponent_bits"])
    window = description["window_bits"]
    table = (
        None
        if window is None
        else FixedBaseTable.build(base, public_key.nsquare, bits, window_bits=int(window))
    )
    return ShortExponentObfuscators(public_key, base, bits, table)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker's loop: one JSON line describing the scheme, then fixed-size requests
    ``(count, seed)`` answered with a length-prefixed block of fixed-width obfuscators."""
    scheme = rebuild(json.loads(stdin.readline()))
    width = scheme.public_key.ciphertext_bytes
    while True:
        request = stdin.read(_REQUEST.size)
        if len(request) < _REQUEST.size:
            return
        count, seed = _REQUEST.unpack(request)
        values = scheme.generate(count, random_source(None if seed < 0 else seed), workers=1)
        blob = b"".join(int(v).to_bytes(width, "big") for v in values.tolist())
        stdout.write(_LENGTH.pack(len(blob)) + blob)
        stdout.flush()


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rengo.crypto.obfuscator_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.stdin.write(json.dumps(description).encode() + b"\n")
        self.stdin.flush()

    def generate(self, count: int, seed: int | None) -> bytes:
        self.stdin.write(_REQUEST.pack(count, -1 if seed is None else seed))
        self.stdin.flush()
        header = self.stdout.read(_LENGTH.size)
        if len(header) < _LENGTH.size:
            raise ConfigError(f"obfuscator worker exited with code {self.process.wait()}")
        (length,) = _LENGTH.unpack(header)
        return self.stdout.read(length)

    def close(self) -> None:
        self.stdin.close()
        self.process.wait()
        self.stdout.close()


def _stop_workers(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.close()


class ObfuscatorProcesses:
    """An :class:`~rengo.crypto.obfuscator_schemes.ObfuscatorScheme` that runs another
    public-key scheme in ``processes`` worker processes (same values' distribution, same
    assumption). Call :meth:`close` (or :meth:`ObfuscatorPool.close`) to stop the workers.

    Parameters
    ----------
    scheme
        The scheme the workers rebuild (full ``r^n`` or DJN short exponents).
    processes
        How many workers (default: every core).
    window_bits
        For a short-exponent ``scheme`` made without a table
        (``ShortExponentObfuscators.create(..., fixed_base_table=False)``): the window of
        the fixed-base table each worker builds, so that this process builds none (it
        never uses one). ``None``: the workers build the table ``scheme`` has, if any.

    Raises
    ------
    ConfigError
        On the key holder's CRT scheme, on ``window_bits`` for a full-exponent scheme or a
        scheme that already has a table, or on a table that
        :meth:`~rengo.crypto.fixed_base.FixedBaseTable.build` would refuse.
    """

    def __init__(
        self,
        scheme: FullExponentObfuscators | ShortExponentObfuscators,
        processes: int | None = None,
        *,
        window_bits: int | None = None,
    ) -> None:
        if not isinstance(scheme, (FullExponentObfuscators, ShortExponentObfuscators)):
            raise ConfigError(
                "worker processes serve public-key schemes (full or short exponent); the key "
                "holder's CRT obfuscators release the GIL and run on threads"
            )
        if window_bits is not None:
            if not isinstance(scheme, ShortExponentObfuscators) or scheme.table is not None:
                raise ConfigError(
                    "window_bits is for a short-exponent scheme made without a table "
                    "(fixed_base_table=False): the workers build it"
                )
            check_table(scheme.public_key.nsquare, scheme.exponent_bits, window_bits)
        self.inner = scheme
        self.processes = resolve_workers(processes)
        self._lock = threading.Lock()
        description = describe(scheme, window_bits)
        self._workers_have_table = description.get("window_bits") is not None
        started = [_Worker(description) for _ in range(self.processes)]
        self._workers: list[_Worker] | None = started
        # a pool dropped without close() still stops its workers when it is collected
        self._stop = weakref.finalize(self, _stop_workers, started)

    @property
    def public_key(self) -> PaillierPublicKey:
        """The key whose obfuscators it makes."""
        return self.inner.public_key

    @property
    def name(self) -> str:
        """The workers' scheme's name and the process count."""
        inner = "djn-fixed-base" if self._workers_have_table else self.inner.name
        return f"{inner} (in {self.processes} processes)"

    @property
    def assumption(self) -> ObfuscatorAssumption:
        """The inner scheme's assumption."""
        return self.inner.assumption

    def generate(self, count: int, rng: RandomSource, workers: int | None = None) -> np.ndarray:
        """``count`` obfuscators made by the workers (``workers`` is ignored: the process
        count was fixed at construction)."""
        if count <= 0:
            return np.empty(0, dtype=object)
        with self._lock:
            running = self._workers
            if running is None:
                raise ConfigError("these obfuscator worker processes were closed")
            sizes = [
                len(part)
                for part in np.array_split(np.arange(count), self.processes * CHUNKS_PER_PROCESS)
                if len(part)
            ]
            seeded = isinstance(rng, InsecureSeededSource)
            seeds = [int(rng.randbits(62)) if seeded else None for _ in sizes]
            per_worker = [list(range(k, len(sizes), len(running))) for k in range(len(running))]

            def run(k: int) -> list[tuple[int, bytes]]:
                return [(j, running[k].generate(sizes[j], seeds[j])) for j in per_worker[k]]

            with ThreadPoolExecutor(len(running)) as threads:
                answers = sorted(
                    (pair for part in threads.map(run, range(len(running))) for pair in part),
                    key=lambda pair: pair[0],
                )
            blobs = [blob for _, blob in answers]
        width = self.public_key.ciphertext_bytes
        out = np.empty(count, dtype=object)
        out[:] = [
            mpz.from_bytes(blob[i : i + width], "big")
            for blob in blobs
            for i in range(0, len(blob), width)
        ]
        return out

    def close(self) -> None:
        """Stop the worker processes (idempotent)."""
        with self._lock:
            self._workers = None
        self._stop()

    def __enter__(self) -> ObfuscatorProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

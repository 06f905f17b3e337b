"""The speed levers of vertical training, measured (run through ``paillier.py --levers``).

Each figure is microseconds per item (obfuscator, decryption, score) of wall time and of CPU
time (this process's threads plus any worker processes, which are started and reaped
inside the measurement), so that "uses both cores" shows as wall < CPU. Ratios to
python-paillier compare CPU time (its encryption includes making its obfuscator): on a
shared machine wall time mostly measures the other jobs.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from rengo.crypto import (
    FullExponentObfuscators,
    KeyHolderObfuscators,
    ObfuscatorPool,
    ObfuscatorProcesses,
    ShortExponentObfuscators,
    SlotLayout,
    decrypt_array,
    decrypt_packed,
    encrypt_array,
    encrypt_packed,
    generate_paillier_keypair,
    kangaroo_exponent_bits,
)
from rengo.crypto.parallel import map_chunks
from rengo.crypto.randomness import SystemRandomSource

CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Figure:
    """Microseconds per item: wall and CPU (threads and reaped worker processes)."""

    wall_us: float
    cpu_us: float


def measure(count: int, fn: Callable[[], object]) -> Figure:
    """Wall and CPU microseconds per item of ``fn``, which handles ``count`` items."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return Figure(wall / count * 1e6, (time.process_time() - cpu + child_cpu) / count * 1e6)


# ------------------------------------------------------------- worker processes
def _decrypt_chunk(args: tuple[int, int, list[bytes]]) -> list[tuple[int, int]]:
    """The CRT halves ``c^(p-1) mod p^2`` and ``c^(q-1) mod q^2`` (a worker's answer)."""
    p, q, blobs = args
    p2, q2 = mpz(p) ** 2, mpz(q) ** 2
    cs = [mpz.from_bytes(b, "big") for b in blobs]
    halves_p = gmpy2.powmod_base_list(cs, mpz(p) - 1, p2)
    halves_q = gmpy2.powmod_base_list(cs, mpz(q) - 1, q2)
    return [(int(a), int(b)) for a, b in zip(halves_p, halves_q, strict=True)]


def _in_processes(scheme: ShortExponentObfuscators, count: int) -> np.ndarray:
    with ObfuscatorProcesses(scheme, CORES) as workers:
        return workers.generate(count, SystemRandomSource())


def _threads(fn: Callable[[list[Any]], Any], items: list[Any], threads: int) -> list[Any]:
    bounds = np.linspace(0, len(items), threads + 1).astype(int)
    parts = [items[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(threads) as pool:
        return [v for part in pool.map(fn, parts) for v in part]


# ------------------------------------------------------------------ the levers
def obfuscator_figures(bits: int, count: int) -> tuple[dict[str, Figure], dict[str, float]]:
    public, private = generate_paillier_keypair(bits, seed=3)
    n, n2 = public.n, public.nsquare
    rng = SystemRandomSource()
    rs = [rng.randbelow(n - 1) + 1 for _ in range(count)]
    powmod = np.frompyfunc(gmpy2.powmod, 3, 1)
    rs_array = np.empty(count, dtype=object)
    rs_array[:] = rs
    out: dict[str, Figure] = {}
    out["standard r^n: numpy frompyfunc powmod, 1 thread (before)"] = measure(
        count, lambda: map_chunks(lambda r: powmod(r, n, n2), rs_array, workers=1)
    )
    out["standard r^n: gmpy2 powmod_base_list, 1 thread"] = measure(
        count, lambda: gmpy2.powmod_base_list(rs, n, n2)
    )
    out[f"standard r^n: powmod_base_list, {CORES} threads"] = measure(
        count, lambda: FullExponentObfuscators(public).generate(count, rng, workers=CORES)
    )
    out[f"key holder CRT: powmod_base_list, {CORES} threads"] = measure(
        count, lambda: KeyHolderObfuscators(private).generate(count, rng, workers=CORES)
    )
    info: dict[str, float] = {}
    lengths = {"l=k/2": -(-bits // 2), "l=2*security": kangaroo_exponent_bits(public)}
    for label, length in lengths.items():
        start = time.perf_counter()
        scheme = ShortExponentObfuscators.create(public, rng, exponent_bits=length)
        info[f"{label} ({length} bits) table build s"] = time.perf_counter() - start
        assert scheme.table is not None
        info[f"{label} ({length} bits) table MiB"] = scheme.table.nbytes / 2**20
        plain = ShortExponentObfuscators(public, scheme.base, length)
        out[f"DJN {label}: powmod_exp_list, 1 thread"] = measure(
            count, lambda plain=plain: plain.generate(count, rng, workers=1)
        )
        out[f"DJN {label}: powmod_exp_list, {CORES} threads"] = measure(
            count, lambda plain=plain: plain.generate(count, rng, workers=CORES)
        )
        out[f"DJN {label}: fixed-base table, 1 thread"] = measure(
            count, lambda scheme=scheme: scheme.generate(count, rng)
        )
        out[f"DJN {label}: fixed-base table, {CORES} worker processes (incl. start)"] = measure(
            count, lambda scheme=scheme: _in_processes(scheme, count)
        )
    return out, info


def decryption_figures(bits: int, count: int) -> dict[str, Figure]:
    public, private = generate_paillier_keypair(bits, seed=3)
    encrypted = encrypt_array(np.linspace(-5, 5, count), public, private_key=private)
    cs = list(encrypted.ciphertexts)
    p, q = private.p, private.q
    out: dict[str, Figure] = {}
    out["numpy frompyfunc powmod, 1 thread (before)"] = measure(
        count, lambda: decrypt_array(encrypted, private, workers=1)
    )
    out[f"numpy frompyfunc powmod, {CORES} threads (before)"] = measure(
        count, lambda: decrypt_array(encrypted, private, workers=CORES)
    )

    def batch(chunk: list[Any]) -> list[Any]:
        return list(
            zip(
                gmpy2.powmod_base_list(chunk, p - 1, private.psquare),
                gmpy2.powmod_base_list(chunk, q - 1, private.qsquare),
                strict=True,
            )
        )

    out["gmpy2 powmod_base_list (CRT halves), 1 thread"] = measure(count, lambda: batch(cs))
    out[f"gmpy2 powmod_base_list (CRT halves), {CORES} threads"] = measure(
        count, lambda: _threads(batch, cs, CORES)
    )
    width = public.ciphertext_bytes
    blobs = [int(c).to_bytes(width, "big") for c in cs]
    parts = [list(part) for part in np.array_split(np.array(blobs, dtype=object), CORES)]

    def processes() -> None:
        with ProcessPoolExecutor(CORES, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_decrypt_chunk, [(int(p), int(q), part) for part in parts]))

    out[f"{CORES} spawned processes, powmod_base_list (incl. start)"] = measure(count, processes)
    return out


def offline_figures(bits: int, count: int) -> dict[str, Figure]:
    """A party must encrypt ``count`` values once another party answers.

    Without an offline phase it makes the obfuscators after the wait; with one it starts a
    background fill before waiting. The wait (a sleep: the other party's work, which leaves
    this party's core and the GIL free) lasts 1.5x the time the fill took when measured
    alone, so the fill can finish. Online = the encryption after the wait; total = start to
    finished encryption, CPU including the background thread."""
    public, _ = generate_paillier_keypair(bits, seed=3)
    values = np.linspace(-3, 3, count)
    out: dict[str, Figure] = {}
    for label, short in [("standard r^n", None), ("DJN fixed-base l=k/2", -(-bits // 2))]:
        probe = ObfuscatorPool(public, short_exponent_bits=short)
        start = time.perf_counter()
        probe.fill(count)
        wait_s = 1.5 * (time.perf_counter() - start)
        for offline in (False, True):
            pool = ObfuscatorPool(public, short_exponent_bits=short)
            cpu, start = time.process_time(), time.perf_counter()
            if offline:
                pool.fill_in_background(count)
            time.sleep(wait_s)
            online_start = time.perf_counter()
            encrypt_array(values, public, pool=pool)
            end = time.perf_counter()
            pool.close()
            name = f"{label}, {'offline phase' if offline else 'no offline phase'}"
            out[f"{name}: online"] = Figure((end - online_start) / count * 1e6, float("nan"))
            out[f"{name}: total, wait excluded"] = Figure(
                (end - start - wait_s) / count * 1e6, (time.process_time() - cpu) / count * 1e6
            )
    return out


def packing_figures(bits: int, count: int) -> tuple[dict[str, Figure], int]:
    """Scores summed over two hosts and decrypted: one ciphertext per score vs packed."""
    public, private = generate_paillier_keypair(bits, seed=3)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=count), rng.normal(size=count)
    djn = ObfuscatorPool(public, short_exponent_bits=-(-bits // 2))
    layout = SlotLayout(precision_bits=32, value_bits=8, headroom_bits=2)
    out: dict[str, Figure] = {}

    def one_per_score() -> None:
        total = encrypt_array(a, public, pool=djn) + encrypt_array(b, public, pool=djn)
        decrypt_array(total, private)

    def packed() -> None:
        total = encrypt_packed(a, public, layout, pool=djn) + encrypt_packed(
            b, public, layout, pool=djn
        )
        decrypt_packed(total, private)

    out["one ciphertext per score (2 hosts encrypt, key holder decrypts)"] = measure(
        count, one_per_score
    )
    out[f"packed, {layout.slots_per_plaintext(public)} scores per ciphertext"] = measure(
        count, packed
    )
    return out, layout.slots_per_plaintext(public)


def multiexp_figures(bits: int, rows: int, columns: int = 10) -> dict[str, Figure]:
    """``Enc(d)^T X`` per term (row x column): the gradient step of every party."""

    def encrypted_matmul(enc: Any, x: np.ndarray, bits: int) -> Any:
        return enc.matmul(x, bits)  # the bucketed multi-exponentiation

    public, private = generate_paillier_keypair(bits, seed=3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, columns))
    enc = encrypt_array(rng.normal(size=rows), public, private_key=private)
    out: dict[str, Figure] = {}
    for precision in (16, 8):
        out[f"bucketed multi-exponentiation, features at {precision} fractional bits"] = measure(
            rows * columns, lambda p=precision: encrypted_matmul(enc, x, p)
        )
    return out


def report_levers(bits: int, count: int, phe: dict[str, float]) -> None:
    """Print every lever's figures for one key size (phe's from the same invocation)."""
    print(f"\n== levers at {bits}-bit keys ({count} items each; us per item, wall / CPU) ==")
    # CPU-time rates for phe too: steadier than wall time on a shared machine
    phe_encrypt, phe_decrypt = 1e6 / phe["encrypt_cpu"], 1e6 / phe["decrypt_cpu"]
    figures, info = obfuscator_figures(bits, count)
    print(
        f"obfuscators (python-paillier: {phe_encrypt:.0f} us CPU per encryption; "
        "phe/this compares CPU time)"
    )
    for name, fig in figures.items():
        print(
            f"  {name:66s} {fig.wall_us:9.1f} / {fig.cpu_us:9.1f}   "
            f"phe/this {phe_encrypt / fig.cpu_us:6.1f}x"
        )
    for name, value in info.items():
        print(f"  {name}: {value:.2f}")
    print(f"decryption (python-paillier: {phe_decrypt:.0f} us CPU per decryption)")
    for name, fig in decryption_figures(bits, count).items():
        print(
            f"  {name:66s} {fig.wall_us:9.1f} / {fig.cpu_us:9.1f}   "
            f"phe/this {phe_decrypt / fig.cpu_us:6.1f}x"
        )
    print(f"offline phase (encrypt {count} values after waiting for another party)")
    for name, fig in offline_figures(bits, count).items():
        print(f"  {name:66s} {fig.wall_us:9.1f} / {fig.cpu_us:9.1f}")
    rows = max(count, 200)
    print(
        f"multi-exponentiation Enc(d)^T X ({rows} rows x 10 columns; python-paillier: "
        f"{1e6 / phe['scalar_multiply_cpu']:.0f} us CPU per ciphertext * float, before adding)"
    )
    for name, fig in multiexp_figures(bits, rows).items():
        print(f"  {name:66s} {fig.wall_us:9.1f} / {fig.cpu_us:9.1f}")
    figures, slots = packing_figures(bits, count)
    print(f"packing scores ({slots} per {bits}-bit plaintext; DJN obfuscators for both)")
    for name, fig in figures.items():
        print(f"  {name:66s} {fig.wall_us:9.1f} / {fig.cpu_us:9.1f}")


def report_windows(bits: int, count: int, runs: tuple[int, ...] = (30_000, 60_000)) -> None:
    """The DJN table's window: memory, build and per-power CPU against the obfuscators a run
    takes (one per row and epoch of 30,000 rows: 1 and 2 epochs), at DJN's ``ceil(k/2)``
    exponents; marks the window :func:`rengo.crypto.fixed_base.best_window_bits` picks
    within its memory budget and the one it would pick without a budget."""
    from rengo.crypto.fixed_base import DEFAULT_TABLE_BUDGET, FixedBaseTable, best_window_bits

    public, _ = generate_paillier_keypair(bits, seed=3)
    rng = SystemRandomSource()
    base = ShortExponentObfuscators.create(public, rng, fixed_base_table=False).base
    length, modulus_bits = -(-bits // 2), int(public.nsquare.bit_length())
    print(
        f"\n== DJN fixed-base table windows at {bits}-bit keys (l = {length} bits, "
        f"{count} powers timed; CPU seconds) =="
    )
    chosen = {r: best_window_bits(length, modulus_bits, r) for r in runs}
    unbounded = {r: best_window_bits(length, modulus_bits, r, max_bytes=1 << 40) for r in runs}
    print(f"  budget {DEFAULT_TABLE_BUDGET >> 20} MiB picks {chosen}; unbounded {unbounded}")
    header = " | ".join(f"{r:,} powers: total s" for r in runs)
    print(f"  | window | table MiB | build s | us per power | {header} |")
    for window in range(8, 14):
        start = time.process_time()
        table = FixedBaseTable.build(
            base, public.nsquare, length, window_bits=window, max_bytes=1 << 40
        )
        build = time.process_time() - start
        per_power = measure(count, lambda table=table: table.random_powers(count, rng)).cpu_us
        totals = " | ".join(f"{build + r * per_power / 1e6:.1f}" for r in runs)
        print(
            f"  | {window} | {table.nbytes / 2**20:.0f} | {build:.2f} | {per_power:.0f} | "
            f"{totals} |"
        )
        del table

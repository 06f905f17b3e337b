"""Paillier throughput: rengo vs python-paillier (``phe``) vs the raw gmpy2 floor, in one run.

Setup (once; the anchor lives in its own venv, never in .venv):

    .venv/bin/python benchmarks/paillier.py --setup

Run:

    .venv/bin/python benchmarks/paillier.py [--ops 200] [--bits 1024 2048]
    .venv/bin/python benchmarks/paillier.py --levers [--ops 2000] [--bits 1024 2048]
    .venv/bin/python benchmarks/paillier.py --backends [--bits 1024 2048]
    .venv/bin/python benchmarks/paillier.py --windows [--ops 2000] [--bits 1024 2048]

``--backends`` asks whether a faster big-integer backend would make obfuscators cheaper: in
the bench venv it times the multiplications mod n^2 of a DJN obfuscator's loop (one entry
of each row of a 9-bit fixed-base table, random entries, so the table's memory traffic
counts) with gmpy2 (rengo's backend) and with python-flint's ``fmpz_mod`` (FLINT, which
reduces with a precomputed inverse), and GMP's own ``powmod`` per exponent bit (Montgomery
multiplication inside GMP, no Python in the loop): 5 interleaved samples, median and range.

``--windows`` times DJN's fixed-base table (``ceil(k/2)``-bit exponents) per window size:
its memory, its build and one power (CPU seconds), and the total a party pays for the
obfuscators of one and two epochs of 30,000 rows.

``--levers`` measures the speed levers of vertical training instead (per obfuscator,
decryption and packed score, with ``phe``'s encryption and decryption in the same run):
how obfuscators are made (full ``r^n``, the key holder's CRT, DJN short exponents by
square-and-multiply or from a fixed-base table, at two exponent lengths), on one or all
cores (gmpy2's GIL-free batch functions on threads, or worker processes); decryption the
same ways; an offline phase (a pool filled in the background while the party waits) as
online vs total time; and packed scores vs one ciphertext per score.

rengo runs in this interpreter; the ``phe`` part runs in the bench venv through a subprocess
(``--phe-only``) and reports JSON. The floor is one gmpy2 ``powmod(r, n, n^2)`` per
encryption and the CRT pair ``c^(p-1) mod p^2``, ``c^(q-1) mod q^2`` per decryption.
All figures are per core (workers=1) unless the row says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH_VENV = Path(__file__).resolve().parents[1] / ".bench-venv-paillier"
PHE_REQUIREMENTS = ["phe", "gmpy2", "numpy", "python-flint"]


def setup() -> None:
    """Create the bench venv with python-paillier (never installed into .venv)."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PHE_REQUIREMENTS], check=True)
    print(f"python-paillier installed in {BENCH_VENV}")


def rate(
    count: int, fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter
) -> float:
    """Operations per second of ``fn`` that performs ``count`` operations (wall clock unless
    ``clock`` says otherwise: ``time.process_time`` gives CPU-time rates, steadier when the
    machine is shared)."""
    start = clock()
    fn()
    return count / (clock() - start)


def phe_rates(bits: int, ops: int) -> dict[str, float]:
    """python-paillier figures (runs inside the bench venv)."""
    from phe import paillier

    pk, sk = paillier.generate_paillier_keypair(n_length=bits)
    values = np.random.default_rng(0).normal(size=ops).tolist()
    scalars = np.random.default_rng(1).normal(size=ops).tolist()
    out: dict[str, float] = {}
    enc: list = []
    out["encrypt"] = rate(ops, lambda: enc.extend(pk.encrypt(v) for v in values))
    out["decrypt"] = rate(ops, lambda: [sk.decrypt(c) for c in enc])
    # a second, independent vector: phe aligns exponents when magnitudes differ, as in real use
    other = [pk.encrypt(v) for v in scalars]
    out["add"] = rate(ops, lambda: [a + b for a, b in zip(enc, other, strict=True)])
    out["scalar_multiply"] = rate(ops, lambda: [c * s for c, s in zip(enc, scalars, strict=True)])
    cpu = time.process_time
    out["encrypt_cpu"] = rate(ops, lambda: [pk.encrypt(v) for v in values], cpu)
    out["decrypt_cpu"] = rate(ops, lambda: [sk.decrypt(c) for c in enc], cpu)
    out["scalar_multiply_cpu"] = rate(
        ops, lambda: [c * s for c, s in zip(enc, scalars, strict=True)], cpu
    )
    return out


def floor_rates(bits: int, ops: int) -> dict[str, float]:
    """The raw gmpy2 floor: one powmod per encryption, the CRT pair per decryption."""
    import gmpy2

    from rengo.crypto import generate_paillier_keypair
    from rengo.crypto.randomness import SystemRandomSource

    pk, sk = generate_paillier_keypair(bits)
    rng = SystemRandomSource()
    rs = [rng.randbelow(pk.n) for _ in range(ops)]
    n, n2 = pk.n, pk.nsquare
    cts: list = []
    out = {"encrypt": rate(ops, lambda: cts.extend(gmpy2.powmod(r, n, n2) for r in rs))}
    p, q, p2, q2 = sk.p, sk.q, sk.psquare, sk.qsquare
    out["decrypt"] = rate(
        ops, lambda: [(gmpy2.powmod(c, p - 1, p2), gmpy2.powmod(c, q - 1, q2)) for c in cts]
    )
    return out


def rengo_rates(bits: int, ops: int) -> dict[str, float]:
    """rengo figures for the same operations (and the extras phe does not have)."""
    from rengo.crypto import (
        ObfuscatorPool,
        SlotLayout,
        decrypt_array,
        decrypt_packed,
        encrypt_array,
        encrypt_packed,
        generate_paillier_keypair,
    )

    pk, sk = generate_paillier_keypair(bits)
    values = np.random.default_rng(0).normal(size=ops)
    scalars = np.random.default_rng(1).normal(size=ops)
    out: dict[str, float] = {}
    box: dict[str, object] = {}

    def store(name: str, value: object) -> None:
        box[name] = value

    out["encrypt"] = rate(ops, lambda: store("a", encrypt_array(values, pk, workers=1)))
    out["encrypt_key_holder_crt"] = rate(
        ops, lambda: encrypt_array(values, pk, private_key=sk, workers=1)
    )
    pool = ObfuscatorPool(pk, workers=1)
    out["obfuscator_precompute"] = rate(ops, lambda: pool.fill(ops))
    out["encrypt_online_precomputed"] = rate(ops, lambda: encrypt_array(values, pk, pool=pool))
    djn = ObfuscatorPool(pk, short_exponent_bits=bits // 2, workers=1)
    out["encrypt_djn_short_exponent"] = rate(ops, lambda: encrypt_array(values, pk, pool=djn))
    a = box["a"]
    out["decrypt"] = rate(ops, lambda: decrypt_array(a, sk, workers=1))
    other = encrypt_array(scalars, pk, private_key=sk)
    out["add"] = rate(ops, lambda: a + other)
    out["scalar_multiply"] = rate(ops, lambda: a.multiply(scalars, workers=1))
    cores = os.cpu_count() or 1
    out[f"encrypt_key_holder_crt_{cores}cores"] = rate(
        ops, lambda: encrypt_array(values, pk, private_key=sk, workers=cores)
    )
    out[f"decrypt_{cores}cores"] = rate(ops, lambda: decrypt_array(a, sk, workers=cores))
    layout = SlotLayout(precision_bits=24, value_bits=8, headroom_bits=8)
    packed_values = np.random.default_rng(2).uniform(-100, 100, size=ops * 20)
    out["packed_values_encrypt_decrypt_key_holder"] = rate(
        packed_values.size,
        lambda: decrypt_packed(
            encrypt_packed(packed_values, pk, layout, private_key=sk, workers=1), sk, workers=1
        ),
    )
    out["packed_values_encrypt_decrypt_public"] = rate(
        packed_values.size,
        lambda: decrypt_packed(encrypt_packed(packed_values, pk, layout, workers=1), sk, workers=1),
    )
    out["packed_slots_per_ciphertext"] = float(layout.slots_per_plaintext(pk))
    return out


def backend_figures(bits: int, powers: int = 300, repeats: int = 5) -> dict[str, list[float]]:
    """Microseconds per multiplication mod n^2 for a ``bits``-bit n (runs in the bench venv),
    in the loop a DJN obfuscator runs: the product of one entry per row of a 9-bit fixed-base
    table for ``ceil(k/2)``-bit exponents (random entries: the table's memory traffic
    counts), with gmpy2 ``acc * t % m`` and with python-flint ``fmpz_mod`` ``acc * t``, and
    GMP's ``powmod`` per exponent bit; ``repeats`` interleaved CPU-time samples of each."""
    import random
    import secrets

    import flint
    import gmpy2

    width, window = 2 * bits, 9
    rows = -(-(bits // 2) // window)
    modulus = gmpy2.mpz(secrets.randbits(width) | (1 << (width - 1)) | 1)
    table = [[gmpy2.mpz(secrets.randbits(width)) % modulus for _ in range(1 << window)]
             for _ in range(rows)]  # fmt: skip
    context = flint.fmpz_mod_ctx(int(modulus))
    flint_table = [[context(int(v)) for v in row] for row in table]
    digits = [[random.randrange(1 << window) for _ in range(rows)] for _ in range(powers)]
    exponent = gmpy2.mpz(secrets.randbits(bits // 2))

    def with_gmpy2() -> None:
        for power in digits:
            acc = table[0][power[0]]
            for i in range(1, rows):
                acc = acc * table[i][power[i]] % modulus

    def with_flint() -> None:
        for power in digits:
            acc = flint_table[0][power[0]]
            for i in range(1, rows):
                acc = acc * flint_table[i][power[i]]

    def with_powmod() -> None:
        for _ in range(powers // 10):
            gmpy2.powmod(table[0][1], exponent, modulus)

    def per_unit(fn: Callable[[], None], units: int) -> float:
        start = time.process_time()
        fn()
        return (time.process_time() - start) / units * 1e6

    out: dict[str, list[float]] = {"gmpy2": [], "flint": [], "gmp_powmod_per_bit": []}
    for _ in range(repeats):  # interleaved
        out["gmpy2"].append(per_unit(with_gmpy2, powers * (rows - 1)))
        out["flint"].append(per_unit(with_flint, powers * (rows - 1)))
        out["gmp_powmod_per_bit"].append(per_unit(with_powmod, powers // 10 * (bits // 2)))
    return out


def run_phe_subprocess(bits: int, ops: int) -> dict[str, float]:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        sys.exit(f"missing {python}: create the bench venv as described at the top of this file")
    command = [str(python), __file__, "--phe-only", "--bits", str(bits), "--ops", str(ops)]
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(result.stdout)


def report_backends(bits: int) -> None:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        sys.exit(f"missing {python}: create the bench venv as described at the top of this file")
    command = [str(python), __file__, "--backends-only", "--bits", str(bits)]
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    figures = json.loads(done.stdout)

    def shown(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"

    print(
        f"{bits}-bit keys, microseconds per multiplication mod n^2 ({2 * bits} bits), median "
        f"[range] of 5 interleaved: DJN table loop with gmpy2 {shown(figures['gmpy2'])}, with "
        f"python-flint fmpz_mod {shown(figures['flint'])}; GMP powmod per exponent bit "
        f"{shown(figures['gmp_powmod_per_bit'])}"
    )


def report(bits: int, ops: int) -> None:
    phe = run_phe_subprocess(bits, ops)
    floor = floor_rates(bits, ops)
    ours = rengo_rates(bits, ops)
    packed = ours["packed_values_encrypt_decrypt_key_holder"]
    print(f"\n== {bits}-bit keys, {ops} ops per row (ops/s; higher is better) ==")
    print(f"{'operation':44s} {'rengo':>10s} {'phe':>10s} {'floor':>10s} {'rengo/phe':>10s}")

    def row(name: str, key: str, phe_key: str | None, floor_key: str | None) -> None:
        mine = ours[key]
        theirs = phe.get(phe_key) if phe_key else None
        base = floor.get(floor_key) if floor_key else None
        cells = [f"{mine:10.1f}", f"{theirs:10.1f}" if theirs else f"{'-':>10s}"]
        cells.append(f"{base:10.1f}" if base else f"{'-':>10s}")
        cells.append(f"{mine / theirs:9.2f}x" if theirs else f"{'-':>10s}")
        print(f"{name:44s} " + " ".join(cells))

    row("encrypt (public key)", "encrypt", "encrypt", "encrypt")
    row("encrypt (key holder, CRT)", "encrypt_key_holder_crt", "encrypt", "encrypt")
    row("obfuscator precompute r^n", "obfuscator_precompute", None, "encrypt")
    row("encrypt online (precomputed obfuscators)", "encrypt_online_precomputed", "encrypt", None)
    row("encrypt (DJN fixed-base table, opt-in)", "encrypt_djn_short_exponent", "encrypt", None)
    row("decrypt (CRT)", "decrypt", "decrypt", "decrypt")
    row("add ciphertext + ciphertext", "add", "add", None)
    row("multiply ciphertext * float", "scalar_multiply", "scalar_multiply", None)
    cores = os.cpu_count() or 1
    row(
        f"encrypt (key holder, CRT, {cores} cores)",
        f"encrypt_key_holder_crt_{cores}cores",
        "encrypt",
        None,
    )
    row(f"decrypt ({cores} cores)", f"decrypt_{cores}cores", "decrypt", None)
    print(
        f"per-ciphertext floor/rengo: encrypt {floor['encrypt'] / ours['encrypt']:.2f}x, "
        f"decrypt {floor['decrypt'] / ours['decrypt']:.2f}x (1.00 = at the floor)"
    )
    print(
        f"packed ({ours['packed_slots_per_ciphertext']:.0f} slots/ciphertext): values "
        f"encrypted+decrypted per second {packed:.0f} (key holder), "
        f"{ours['packed_values_encrypt_decrypt_public']:.0f} (public key) vs phe "
        f"{1 / (1 / phe['encrypt'] + 1 / phe['decrypt']):.1f} -> "
        f"{packed / (1 / (1 / phe['encrypt'] + 1 / phe['decrypt'])):.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--bits", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--levers", action="store_true", help="measure the speed levers")
    parser.add_argument("--setup", action="store_true", help="install phe into the bench venv")
    parser.add_argument(
        "--backends", action="store_true", help="time a multiplication mod n^2 per backend"
    )
    parser.add_argument(
        "--windows", action="store_true", help="DJN table windows: memory, build, per power"
    )
    parser.add_argument("--phe-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backends-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup()
        return
    if args.phe_only:
        print(json.dumps(phe_rates(args.bits[0], args.ops)))
        return
    if args.backends_only:
        print(json.dumps(backend_figures(args.bits[0])))
        return
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}"
    )
    for bits in args.bits:
        if args.windows:
            from paillier_levers import report_windows

            report_windows(bits, args.ops)
        elif args.backends:
            report_backends(bits)
        elif args.levers:
            from paillier_levers import report_levers

            report_levers(bits, args.ops, run_phe_subprocess(bits, min(args.ops, 200)))
        else:
            report(bits, args.ops)


if __name__ == "__main__":
    main()

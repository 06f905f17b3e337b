"""Benchmark: hetero SecureBoost, rengo vs FATE 2.2, side by side in one invocation.

Data: FATE's ``default_credit_hetero_{guest,host}`` (30,000 rows; guest 13 columns + label,
host 10 columns), or ``--rows N`` of it; ``--scale N ...`` adds synthetic tables of N rows
with the same columns (rows of default_credit drawn with replacement, every value jittered
by 1% of its column's spread) for the scaling in rows. Settings shared by both systems: 5
trees (``--trees``), depth 3 (``--depth``), 32 bins (``--bins``), learning rate 0.3, L2 1,
Paillier keys of ``--bits`` (1024 by default; 2048 too with ``--bits 1024 2048``).

Every run is its own OS process, started from here and measured alike (see
``benchmarks/fate_bench.py``): wall and CPU seconds of the whole process tree, peak summed
PSS, the load average when it started; each run reports the seconds of each tree and the
train AUC of its model. Systems are interleaved for ``--repeats`` rounds; medians and ranges
are printed, and ratios only between systems of this invocation.

* ``fate``: FATE 2.2 ``HeteroSecureBoost{Guest,Host}`` through FATE's standalone multiprocess
  launcher (``benchmarks/secureboost_fate.py``, run by the bench venv). FATE's guest
  encrypts (g, h) with ``obfuscate=True``, and the run counts, in FATE's worker processes,
  how many of those ciphertexts have the unrandomised form ``1 + n*m``. FATE's hosts send
  their histogram sums back without re-randomising them (``fate.arch.histogram`` has no
  obfuscation step: the sums are products of the guest's own ciphertexts), which rengo's
  codec refuses: rengo re-randomises every ciphertext that leaves a party.
* ``rengo``: :class:`rengo.vfl.secureboost.HeteroSecureBoost`, every role in one process on
  the in-process bus (as FATE's launcher runs every rank on this machine), the label party
  holding the key pair, rows already aligned (no PSI, as FATE's fit).

It also prints scikit-learn's ``HistGradientBoostingClassifier`` train AUC with the same
settings on the joined columns, and the floor of one tree: the key holder's encryptions
(with the default obfuscator scheme, as the label party makes them), the histogram additions
and the decryptions at this machine's single-core costs, divided by its cores.

Set-up (once; FATE lives in its own venv, never in .venv)::

    .venv/bin/python benchmarks/secureboost.py --setup

Run::

    .venv/bin/python benchmarks/secureboost.py                      # 1024 bits, 30,000 rows
    .venv/bin/python benchmarks/secureboost.py --bits 2048 --systems fate rengo
    .venv/bin/python benchmarks/secureboost.py --systems rengo --scale 100000 300000
    .venv/bin/python benchmarks/secureboost.py --rows 2000 --trees 2 --repeats 1  # smoke test
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from fate_bench import (
    FATE_VENV,
    ProcessRun,
    become_subreaper,
    encryption_counting_env,
    fate_python,
    run_process,
    setup,
    spread,
)

FATE_SCRIPT = Path(__file__).resolve().with_name("secureboost_fate.py")
SYSTEMS = ("fate", "rengo")
LEARNING_RATE = 0.3
L2 = 1.0


# ------------------------------------------------------------------------------- data
def data_files() -> tuple[Path, Path]:
    from rengo.data.shared import shared_data_dir

    folder = shared_data_dir("fate")
    return folder / "default_credit_hetero_guest.csv", folder / "default_credit_hetero_host.csv"


def load(
    rows: int | None, scale: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, guest columns, labels, host columns)``: the first ``rows`` of default_credit,
    or ``scale`` synthetic rows drawn from it."""
    from rengo.core.errors import DataError

    guest_file, host_file = data_files()
    guest = np.loadtxt(guest_file, delimiter=",", skiprows=1)
    host = np.loadtxt(host_file, delimiter=",", skiprows=1)
    if not np.array_equal(guest[:, 0], host[:, 0]):
        raise DataError("guest and host files are not row-aligned")
    if scale is None:
        keep = slice(None) if rows is None else slice(0, rows)
        return guest[keep, 0], guest[keep, 2:], guest[keep, 1], host[keep, 1:]
    rng = np.random.default_rng(scale)
    drawn = rng.integers(0, len(guest), size=scale)

    def jitter(x: np.ndarray) -> np.ndarray:
        noise = rng.normal(scale=0.01, size=(scale, x.shape[1])) * x.std(axis=0)
        return np.asarray(x[drawn] + noise)

    ids = np.arange(1, scale + 1, dtype=np.float64)
    return ids, jitter(guest[:, 2:]), guest[drawn, 1], jitter(host[:, 1:])


def write_fate_inputs(folder: Path, case: dict[str, Any]) -> tuple[Path, Path]:
    """CSV files in FATE's layout for this case (the shared files when nothing changes)."""
    if case["rows"] is None and case["scale"] is None:
        return data_files()
    ids, x_guest, y, x_host = load(case["rows"], case["scale"])
    guest_out, host_out = folder / "guest.csv", folder / "host.csv"
    header = "id,y," + ",".join(f"x{i}" for i in range(x_guest.shape[1]))
    np.savetxt(
        guest_out,
        np.column_stack([ids, y, x_guest]),
        delimiter=",",
        header=header,
        comments="",
        fmt=["%d", "%d", *["%.10g"] * x_guest.shape[1]],
    )
    header = "id," + ",".join(f"x{i}" for i in range(x_host.shape[1]))
    np.savetxt(
        host_out,
        np.column_stack([ids, x_host]),
        delimiter=",",
        header=header,
        comments="",
        fmt=["%d", *["%.10g"] * x_host.shape[1]],
    )
    return guest_out, host_out


# ---------------------------------------------------------------------------- rengo
class TreeTimes(logging.Handler):
    """Collects the seconds of each tree from the label party's log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg.startswith("tree %d/%d grown in") and isinstance(args, tuple):
            self.seconds.append(float(str(args[2])))


def run_rengo(case: dict[str, Any]) -> dict[str, Any]:
    """One rengo fit in this process (the child of :func:`rengo_run`)."""
    from rengo.metrics import roc_auc
    from rengo.vfl.secureboost import HeteroSecureBoost

    ids, x_guest, y, x_host = load(case["rows"], case["scale"])
    names = ids.astype(np.int64).astype(str)
    data = {"guest": (names, x_guest), "host": (names, x_host)}
    times = TreeTimes()
    logger = logging.getLogger("rengo.vfl.secureboost")
    logger.setLevel(logging.INFO)
    logger.addHandler(times)
    model = HeteroSecureBoost(
        n_trees=case["trees"],
        max_depth=case["depth"],
        max_bin=case["bins"],
        learning_rate=LEARNING_RATE,
        l2=L2,
        key_bits=case["bits"],
        use_psi=False,
        seed=1,
    )
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(data, "guest", y)
    fit_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    scored, proba = model.predict_raw(data)
    truth = dict(zip(names.tolist(), y.tolist(), strict=True))
    return {
        "fit_s": fit_s,
        "cpu_fit_s": cpu_s,
        "tree_s": times.seconds,
        "auc": roc_auc(np.array([truth[i] for i in scored.tolist()]), proba),
        "trees": model.n_trees_,
        "encryptions_per_tree": len(y),
        "decryptions_per_tree": model.guest_model_.decrypted_values / max(1, model.n_trees_),
    }


def rengo_run(case: dict[str, Any]) -> ProcessRun:
    from rengo.data.shared import shared_data_dir

    command = [sys.executable, __file__, "--child-rengo", json.dumps(case)]
    env = {**os.environ, "RENGO_SHARED_DATA": str(shared_data_dir())}
    with tempfile.TemporaryDirectory() as scratch:
        run = run_process("rengo", command, env, Path(scratch))
    lines = [line for line in run.log_tail.splitlines() if line.startswith("{")]
    if run.returncode == 0 and lines:
        run.report = json.loads(lines[-1])
    return run


# ----------------------------------------------------------------------------- FATE
def fate_run(case: dict[str, Any], venv: Path) -> ProcessRun:
    python = fate_python(venv)
    with tempfile.TemporaryDirectory(prefix="rengo-bench-sbt-fate-") as scratch:
        folder = Path(scratch)
        guest_csv, host_csv = write_fate_inputs(folder, case)
        out = folder / "out"
        out.mkdir()
        command = [
            str(python), "-B", str(FATE_SCRIPT),
            "--parties", "guest:9999", "host:10000",
            "--log_level", "WARNING",
            "--data_dir", str(folder / "fate-data"),
            "--guest_data", str(guest_csv),
            "--host_data", str(host_csv),
            "--out_dir", str(out),
            "--key_bits", str(case["bits"]),
            "--num_trees", str(case["trees"]),
            "--max_depth", str(case["depth"]),
            "--max_bin", str(case["bins"]),
            "--learning_rate", str(LEARNING_RATE),
            "--l2", str(L2),
        ]  # fmt: skip
        env = {**os.environ, **encryption_counting_env(folder / "site", out)}
        run = run_process("fate", command, env, folder)
        reports = [json.loads(p.read_text()) for p in out.glob("*-*.json")]
        counts = [json.loads(p.read_text()) for p in out.glob("encryptions-*.json")]
        ranks = [r for r in reports if "role" in r]
        guest = next((r for r in ranks if r["role"] == "guest"), None)
        if run.returncode == 0 and guest is not None:
            run.report = {
                "fit_s": guest["fit_s"],
                "cpu_fit_s": sum(r["cpu_fit_s"] for r in ranks),
                "tree_s": guest["tree_s"],
                "auc": guest["auc"],
                "trees": len(guest["tree_s"]),
                "gh_inspected": sum(c["ciphertexts"] for c in counts),
                "gh_obfuscate_requested": sum(c["obfuscate_requested"] for c in counts),
                "gh_unrandomised": sum(c["unrandomised"] for c in counts),
            }
    return run


# ---------------------------------------------------------------------------- floor
def floor_per_tree(
    bits: int, rows: int, host_columns: int, depth: int, decryptions: float, trees: int
) -> dict[str, Any]:
    """Single-core cost of one tree's unavoidable work, divided by the cores: the key
    holder's encryptions (one obfuscator per row, made as the label party makes them: the
    default scheme's pool for ``rows x trees`` obfuscators, its fixed-base table build
    spread over the trees), one homomorphic addition per row and host column at the root
    and (with histogram subtraction) half of that per deeper level, and the decryptions."""
    import gmpy2

    from rengo.crypto import ObfuscatorPool, generate_paillier_keypair
    from rengo.vfl.secureboost import SecureBoostConfig

    public, private = generate_paillier_keypair(bits, seed=3)
    start = time.perf_counter()
    pool = ObfuscatorPool.for_key_holder(
        public, private, SecureBoostConfig().obfuscator_scheme, expected_count=rows * trees
    )
    table = time.perf_counter() - start
    start = time.perf_counter()
    sample = pool.generate(200)
    obfuscator = (time.perf_counter() - start) / 200 + table / (rows * trees)
    a, b = sample[:100], sample[100:]
    start = time.perf_counter()
    for _ in range(20):
        _ = a * b % public.nsquare
    addition = (time.perf_counter() - start) / 2000
    start = time.perf_counter()
    for c in sample[:50].tolist():
        private.raw_decrypt(gmpy2.mpz(c))
    decryption = (time.perf_counter() - start) / 50
    additions = rows * host_columns * (1 + 0.5 * (depth - 1))
    cores = os.cpu_count() or 1
    total = rows * obfuscator + additions * addition + decryptions * decryption
    return {
        "seconds": total / cores,
        "scheme": pool.method,
        "obfuscator_ms": obfuscator * 1e3,
        "addition_us": addition * 1e6,
        "decryption_ms": decryption * 1e3,
        "cores": cores,
    }


def sklearn_auc(case: dict[str, Any]) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from rengo.metrics import roc_auc

    _, x_guest, y, x_host = load(case["rows"], case["scale"])
    x = np.hstack([x_guest, x_host])
    model = HistGradientBoostingClassifier(
        max_iter=case["trees"],
        max_depth=case["depth"],
        learning_rate=LEARNING_RATE,
        max_bins=case["bins"],
        l2_regularization=L2,
        min_samples_leaf=1,
        max_leaf_nodes=None,
        early_stopping=False,
    ).fit(x, y)
    return roc_auc(y, model.predict_proba(x)[:, 1])


# --------------------------------------------------------------------------- report
def print_case(case: dict[str, Any], runs: list[ProcessRun], reference_auc: float) -> None:
    rows = case["scale"] or case["rows"] or 30_000
    print(
        f"\n== {rows} rows{' (synthetic)' if case['scale'] else ''}, {case['bits']}-bit keys, "
        f"{case['trees']} trees of depth {case['depth']}, {case['bins']} bins =="
    )
    print(
        f"{'system':8s} {'s/tree':>24s} {'fit s':>22s} {'CPU s (tree)':>22s} "
        f"{'PSS MiB':>10s} {'train AUC':>10s} {'load':>6s}"
    )
    per_tree: dict[str, list[float]] = {}
    for system in SYSTEMS:
        mine = [r for r in runs if r.system == system and r.report]
        failed = [r for r in runs if r.system == system and not r.report]
        for run in failed:
            print(f"{system}: run failed (exit {run.returncode}):\n{run.log_tail[-1500:]}")
        if not mine:
            continue
        trees = [statistics.median(r.report["tree_s"]) for r in mine if r.report["tree_s"]]
        per_tree[system] = trees
        aucs = {round(r.report["auc"], 4) for r in mine}
        print(
            f"{system:8s} {spread(trees):>24s} {spread([r.report['fit_s'] for r in mine]):>22s} "
            f"{spread([r.cpu_s for r in mine]):>22s} "
            f"{spread([r.peak_memory_mib for r in mine], '{:.0f}'):>10s} "
            f"{'/'.join(f'{a:.4f}' for a in sorted(aucs)):>10s} "
            f"{spread([r.load_at_start for r in mine]):>6s}"
        )
        if system == "fate":
            report = mine[0].report
            print(
                f"         FATE's guest (g, h) encryptions inspected in its workers: "
                f"{report['gh_inspected']} ({report['gh_obfuscate_requested']} with "
                f"obfuscate=True), {report['gh_unrandomised']} of the unrandomised form 1 + n*m; "
                "its histogram sums go back without re-randomisation"
            )
    print(
        "scikit-learn HistGradientBoosting, same settings, joined columns: "
        f"train AUC {reference_auc:.4f}"
    )
    if "fate" in per_tree and "rengo" in per_tree and per_tree["rengo"]:
        ratio = statistics.median(per_tree["fate"]) / statistics.median(per_tree["rengo"])
        print(f"FATE / rengo seconds per tree (medians, this invocation): {ratio:.1f}x")
    rengo = [r for r in runs if r.system == "rengo" and r.report]
    if rengo:
        report = rengo[0].report
        floor = floor_per_tree(
            case["bits"], report["encryptions_per_tree"], 10, case["depth"],
            report["decryptions_per_tree"], report["trees"],
        )  # fmt: skip
        median = statistics.median(per_tree["rengo"]) if per_tree.get("rengo") else float("nan")
        print(
            f"floor of one tree: {report['encryptions_per_tree']} encryptions x "
            f"{floor['obfuscator_ms']:.3f} ms ({floor['scheme']} obfuscators) + histogram "
            f"additions x {floor['addition_us']:.2f} us + "
            f"{report['decryptions_per_tree']:.0f} decryptions x {floor['decryption_ms']:.3f} ms, "
            f"over {floor['cores']} cores = "
            f"{floor['seconds']:.1f} s -> rengo at "
            f"{median / floor['seconds']:.1f}x the floor"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="install FATE into the bench venv")
    parser.add_argument("--fate-venv", type=Path, default=FATE_VENV, help="FATE's bench venv")
    parser.add_argument("--bits", type=int, nargs="+", default=[1024])
    parser.add_argument("--trees", type=int, default=5)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--bins", type=int, default=32)
    parser.add_argument("--rows", type=int, default=None, help="first N rows (smoke tests)")
    parser.add_argument("--scale", type=int, nargs="*", default=[], help="synthetic row counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--child-rengo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rengo:
        print(json.dumps(run_rengo(json.loads(args.child_rengo))), flush=True)
        return
    if args.setup:
        setup(args.fate_venv)
        return
    subreaper = become_subreaper()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}, systems "
        f"interleaved {args.systems}; orphaned processes {'are' if subreaper else 'are NOT'} "
        "counted (child subreaper)"
    )
    cases = [
        {"rows": args.rows, "scale": None} if not scale else {"rows": None, "scale": scale}
        for scale in [None, *args.scale]
    ]
    everything = []
    for bits in args.bits:
        for shape in cases:
            case = {**shape, "bits": bits, "trees": args.trees, "depth": args.depth,
                    "bins": args.bins}  # fmt: skip
            runs: list[ProcessRun] = []
            for round_ in range(args.repeats):
                for system in args.systems:
                    run = fate_run(case, args.fate_venv) if system == "fate" else rengo_run(case)
                    runs.append(run)
                    fit = run.report.get("fit_s")
                    shown = "failed" if fit is None else f"{fit:.1f} s"
                    print(
                        f"  round {round_ + 1} {system}: process {run.wall_s:.1f} s wall, "
                        f"{run.cpu_s:.1f} s CPU, fit {shown}, load {run.load_at_start:.1f}",
                        flush=True,
                    )
            print_case(case, runs, sklearn_auc(case))
            everything.append({"case": case, "runs": [asdict(r) for r in runs]})
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, default=str))


if __name__ == "__main__":
    main()

"""Benchmark: coordinated hetero LR on FATE's default-credit split vs its floor and FATE.

Runs rengo's coordinator/guest/host roles on an in-process bus (all roles share this
machine's cores, as FATE's standalone launcher does) on ``default_credit_hetero_{guest,host}``
(30,000 rows; guest 13 features + label, host 10 features; batch 10,000 as in FATE's
example), times each epoch at 1024 and 2048 bits, and compares:

* the floor: (values encrypted per epoch x one obfuscator's single-core cost) / cores, for
  each source of obfuscators (public-key modexp, or the key holder's CRT halves);
* the train AUC of a central scikit-learn ``LogisticRegression`` with C = 1 / (n * l2), and
  the exact optimum of the Taylor surrogate every Paillier LR protocol trains (closed form);
* FATE 2.2's coordinated LR, measured by the project on this machine type (anchor figures
  below; FATE is not re-run here: ``pip install pyfate==2.2.0 torch==2.13.0 'pandas<3'``
  into ``.bench-venv-hetero_lr`` reproduces them, see /work/shared/bench/ANCHORS.md).

Usage: ``.venv/bin/python benchmarks/hetero_lr.py [--bits 1024 2048] [--epochs 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gmpy2
import numpy as np
from sklearn.linear_model import LogisticRegression

from rengo.core.errors import DataError
from rengo.crypto import generate_paillier_keypair
from rengo.data.shared import shared_data_dir
from rengo.metrics import roc_auc
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.roles import hetero_lr_coordinator, hetero_lr_guest, hetero_lr_host

FATE_SECONDS_PER_EPOCH_1024 = 68.0  # FATE 2.2 coordinated LR, batch 10,000, 1024-bit keys
FATE_TRAIN_AUC = 0.716  # after 2 epochs (ANCHORS.md); 0.719 in the task's earlier figure
L2 = 1e-3


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = shared_data_dir("fate")
    guest = np.loadtxt(folder / "default_credit_hetero_guest.csv", delimiter=",", skiprows=1)
    host = np.loadtxt(folder / "default_credit_hetero_host.csv", delimiter=",", skiprows=1)
    if not np.array_equal(guest[:, 0], host[:, 0]):
        raise DataError("guest and host files are not row-aligned")
    return guest[:, 2:], guest[:, 1], host[:, 1:]


def encryption_floor_seconds(bits: int, source: str, samples: int = 200) -> float:
    """Median single-core time of one obfuscator: ``r^n mod n^2`` (public key, "local") or
    the key holder's two CRT halves ``y^p mod p^2``, ``y^q mod q^2`` ("coordinator")."""
    public, private = generate_paillier_keypair(bits, seed=1)
    r = gmpy2.mpz(3) ** 500 % public.n
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        if source == "local":
            gmpy2.powmod(r, public.n, public.nsquare)
        else:
            gmpy2.powmod(r % private.p, private.p, private.psquare)
            gmpy2.powmod(r % private.q, private.q, private.qsquare)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train(
    bits: int, config: HeteroLRConfig, x_guest: np.ndarray, y: np.ndarray, x_host: np.ndarray
) -> tuple[float, float, dict]:
    keypair = generate_paillier_keypair(bits, seed=7)
    bus = LocalBus(["coordinator", "guest", "host"])
    start, cpu_start = time.perf_counter(), time.process_time()
    results = run_roles(
        bus,
        {
            "coordinator": lambda c: hetero_lr_coordinator(
                c, ["guest", "host"], "guest", keypair=keypair
            ),
            "guest": lambda c: hetero_lr_guest(c, x_guest, y, ["host"], config, seed=1),
            "host": lambda c: hetero_lr_host(c, x_host, "guest"),
        },
    )
    return time.perf_counter() - start, time.process_time() - cpu_start, results


def taylor_optimum_auc(x: np.ndarray, y: np.ndarray) -> float:
    """AUC of the exact minimiser of the Taylor loss + L2 (intercept unpenalised)."""
    xb = np.hstack([x, np.ones((len(y), 1))])
    penalty = np.eye(xb.shape[1]) * L2
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(xb.T @ xb / (4 * len(y)) + penalty, -xb.T @ (0.5 - y) / len(y))
    return roc_auc(y, xb @ w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--epochs", type=int, default=3, help="epochs at 1024 bits")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--sources",
        nargs="+",
        default=["coordinator", "local"],
        help="who makes encryption randomness (local is skipped above 1024 bits unless --all)",
    )
    parser.add_argument("--all", action="store_true", help="also run local sources at 2048")
    args = parser.parse_args()
    x_guest, y, x_host = load()
    rows = len(y)
    cores = os.cpu_count() or 1
    x_all = np.hstack([x_guest, x_host])
    start = time.perf_counter()
    central = LogisticRegression(C=1.0 / (rows * L2), max_iter=10_000).fit(x_all, y)
    central_seconds = time.perf_counter() - start
    central_auc = roc_auc(y, central.decision_function(x_all))
    surrogate_auc = taylor_optimum_auc(x_all, y)
    print(
        f"data: {rows} rows, guest {x_guest.shape[1]} + host {x_host.shape[1]} features, "
        f"{cores} cores"
    )
    print(
        f"scikit-learn central fit: AUC {central_auc:.4f} in {central_seconds:.2f} s; "
        f"exact Taylor-surrogate optimum: AUC {surrogate_auc:.4f}"
    )
    for bits in args.bits:
        for source in args.sources:
            if bits > 1024 and source == "local" and not args.all:
                continue
            run_one(bits, source, args, x_guest, y, x_host, central_auc, cores)


def run_one(
    bits: int,
    source: str,
    args: argparse.Namespace,
    x_guest: np.ndarray,
    y: np.ndarray,
    x_host: np.ndarray,
    central_auc: float,
    cores: int,
) -> None:
    epochs = args.epochs if bits <= 1024 else 1
    config = HeteroLRConfig(
        epochs=epochs,
        batch_size=args.batch_size,
        learning_rate=1.0,
        optimizer="sgd",
        l2=L2,
        tol=0.0,
        obfuscator_source=source,
    )
    single = encryption_floor_seconds(bits, source)
    encrypted = 2 * len(y)  # host Enc(u) + guest re-randomisation of Enc(d), per row
    floor = encrypted * single / cores
    load_before = os.getloadavg()[0]
    seconds, cpu_seconds, results = train(bits, config, x_guest, y, x_host)
    per_epoch, cpu_per_epoch = seconds / epochs, cpu_seconds / epochs
    guest = results["guest"]
    score = x_guest @ guest.weights + guest.intercept + x_host @ results["host"].weights
    auc = roc_auc(y, score)
    print(
        f"\n{bits} bits, obfuscators from {source}: {per_epoch:.1f} s/epoch over {epochs} "
        f"epoch(s); train AUC {auc:.4f} (sklearn {central_auc:.4f}, gap {central_auc - auc:+.4f})"
    )
    print(
        f"  floor: {encrypted} obfuscators x {single * 1e3:.3f} ms / {cores} cores = "
        f"{floor:.1f} s/epoch -> {per_epoch / floor:.2f}x the floor"
    )
    print(
        f"  CPU time of all roles {cpu_per_epoch:.1f} s/epoch / {cores} cores = "
        f"{cpu_per_epoch / cores / floor:.2f}x the floor; load average before the run "
        f"{load_before:.1f} (other processes on these cores slow the wall time)"
    )
    if bits == 1024:
        print(
            f"  FATE 2.2 anchor: {FATE_SECONDS_PER_EPOCH_1024:.0f} s/epoch, AUC "
            f"{FATE_TRAIN_AUC:.3f} -> rengo is {FATE_SECONDS_PER_EPOCH_1024 / per_epoch:.2f}x "
            "faster"
        )


if __name__ == "__main__":
    main()

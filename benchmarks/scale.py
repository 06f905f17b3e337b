"""1,000 simulated clients x 5 rounds of FedAvg: wall time and peak memory per executor.

Serial (one process) is the baseline; ``process`` forks one worker per core; ``ray`` runs
every client call as a Ray task on a local Ray instance (start-up included). Peak memory is
the sum of RSS over this process and all its descendants (Ray's raylet, GCS and workers
included), sampled every 50 ms with psutil (or /proc).

    .venv/bin/python benchmarks/scale.py                       # 1000 clients x 5 rounds
    .venv/bin/python benchmarks/scale.py --clients 200 --executors serial process

Ray comes from the ``ray`` extra (``pip install 'rengo[ray]'``, tested with ray==2.55.1).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from rengo.hfl import FedAvg, History, LogisticRegressionClient, simulate, softmax_init

FEATURES, CLASSES, ROWS = 20, 4, 32


def client_fn(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    X = rng.normal(size=(ROWS, FEATURES))
    y = (X[:, :CLASSES].argmax(axis=1)).astype(np.int64)
    return LogisticRegressionClient(X, y, lr=0.1, batch_size=16)


def tree_rss(pid: int) -> int:
    """Sum of RSS (bytes) over ``pid`` and all its descendants."""
    try:
        import psutil
    except ImportError:
        return _proc_tree_rss(pid)
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def communicate_with_peak_rss(proc: subprocess.Popen[str]) -> tuple[str, str, int]:
    """``proc.communicate()``'s stdout and stderr, and the largest :func:`tree_rss` (bytes)
    of ``proc``'s process tree, sampled every 50 ms until it ends."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    return out or "", err or "", peak[0]


def _proc_tree_rss(pid: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def simulate_clients(clients: int, rounds: int, **options: Any) -> History:
    """The benchmark's federation: ``clients`` tiny softmax clients, FedAvg, seed 0
    (``options`` go to :func:`simulate`: executor, workers, store, ...)."""
    return simulate(
        client_fn,
        clients,
        FedAvg(min_fit_clients=2, min_available_clients=2),
        softmax_init(FEATURES, CLASSES),
        rounds,
        seed=0,
        **options,
    )


def run_one(executor: str, clients: int, rounds: int, workers: int) -> None:
    """Child process: one simulation, reports wall time on stdout."""
    start = time.perf_counter()
    history = simulate_clients(clients, rounds, executor=executor, workers=workers)
    wall = time.perf_counter() - start
    checksum = float(sum(np.abs(p).sum() for p in history.parameters))
    print(f"RESULT {wall:.3f} {checksum:.12g}", flush=True)


def measure(executor: str, clients: int, rounds: int, workers: int) -> tuple[float, float, str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", executor, str(clients), str(rounds), str(workers)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"},
    )
    out, _, peak = communicate_with_peak_rss(proc)
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"{executor} run failed (exit {proc.returncode}): {out[-2000:]}")
    _, wall, checksum = line.split()
    return float(wall), peak / 1024**2, checksum


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--executors", nargs="+", default=["serial", "process", "ray"])
    args = parser.parse_args()
    print(
        f"{args.clients} clients x {args.rounds} rounds, softmax regression "
        f"{FEATURES}x{CLASSES}, {ROWS} rows per client, {args.workers} workers"
    )
    print(f"{'executor':>8} {'wall s':>8} {'peak RSS MiB':>13} {'vs serial':>9}  model checksum")
    base = None
    for executor in args.executors:
        wall, peak, checksum = measure(executor, args.clients, args.rounds, args.workers)
        base = base or wall
        print(f"{executor:>8} {wall:8.2f} {peak:13.0f} {wall / base:8.2f}x  {checksum}")


if __name__ == "__main__":
    main()

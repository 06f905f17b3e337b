"""Benchmark: rengo ECDH-PSI (X25519, all cores) vs OpenMined PSI (P-256, one core), end to end.

Both sides intersect two sets of ``n`` string IDs with 50% overlap and must find exactly the
``n / 2`` common IDs. rengo runs its leader and follower roles on the in-process bus (codec,
envelopes and worker-process start-up included) and both parties get aligned rows; OpenMined
PSI runs server setup, client request, server response and client intersection in one
process with ``DataStructure.RAW`` (exact, as row alignment needs), messages serialised.

The anchor lives in its own venv (it pins protobuf exactly)::

    python3 -m venv /work/main/.bench-venv-psi
    /work/main/.bench-venv-psi/bin/pip install openmined-psi

Run (from the repository root)::

    .venv/bin/python benchmarks/psi.py                      # 100k x 100k
    .venv/bin/python benchmarks/psi.py --sizes 100000 1000000   # adds 1M x 1M (anchor: long)

It prints wall and CPU seconds of both and the wall-time speed-up (rengo uses every core,
the anchor one; on a machine shared with other jobs, compare the CPU columns too).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rengo.vfl.psi import private_set_intersection

DEFAULT_VENV = Path(__file__).resolve().parent.parent / ".bench-venv-psi"

ANCHOR_SCRIPT = r"""
import json, sys, time
import numpy as np
import private_set_intersection.python as psi
from private_set_intersection.python import Request, Response, ServerSetup

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(seed)
server_items = [f"user-{i:010d}" for i in rng.permutation(n)]
client_items = [f"user-{i:010d}" for i in rng.permutation(np.arange(n // 2, n + n // 2))]

start, cpu_start = time.perf_counter(), time.process_time()
server = psi.server.CreateWithNewKey(True)
client = psi.client.CreateWithNewKey(True)
setup = ServerSetup.FromString(
    server.CreateSetupMessage(0.0, len(client_items), server_items, psi.DataStructure.RAW)
    .SerializeToString()
)
request = Request.FromString(client.CreateRequest(client_items).SerializeToString())
response = Response.FromString(server.ProcessRequest(request).SerializeToString())
found = client.GetIntersection(setup, response)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({"seconds": seconds, "cpu": cpu, "size": len(found)}))
"""


def make_ids(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Two parties' IDs: ``n`` each, the upper half of one equal to the lower half of the
    other, both in a random order (the same generator as the anchor script)."""
    rng = np.random.default_rng(seed)
    leader = [f"user-{i:010d}" for i in rng.permutation(n)]
    follower = [f"user-{i:010d}" for i in rng.permutation(np.arange(n // 2, n + n // 2))]
    return leader, follower


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the blinding workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_rengo(n: int, seed: int, workers: int | None) -> tuple[float, float]:
    """Wall and CPU seconds of one full rengo PSI run; checks the join against plaintext."""
    leader_ids, follower_ids = make_ids(n, seed)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = private_set_intersection(
        {"leader": leader_ids, "follower": follower_ids}, leader="leader", workers=workers
    )
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    left = [leader_ids[i] for i in result.rows("leader")]
    right = [follower_ids[i] for i in result.rows("follower")]
    expected = set(leader_ids) & set(follower_ids)
    if left != right or set(left) != expected or result.size != n // 2:
        raise SystemExit(f"rengo PSI gave a wrong join at n={n}")
    return seconds, cpu


def run_anchor(n: int, seed: int, venv: Path, timeout: float) -> tuple[float, float] | None:
    """Wall and CPU seconds of OpenMined PSI in its own venv (None: missing or too slow)."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"  anchor venv {venv} missing: see this script's docstring to install it")
        return None
    try:
        done = subprocess.run(
            [str(python), "-c", ANCHOR_SCRIPT, str(n), str(seed)],
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        print(f"  anchor exceeded {timeout:.0f} s at n={n}")
        return None
    except subprocess.CalledProcessError as exc:
        print(f"  anchor failed: {exc.stderr.strip()[-500:]}")
        return None
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["size"] != n // 2:
        raise SystemExit(f"anchor found {report['size']} common IDs, expected {n // 2}")
    return float(report["seconds"]), float(report["cpu"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="rengo processes (all cores)")
    parser.add_argument("--anchor-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--anchor-timeout", type=float, default=1200.0, help="seconds per size")
    parser.add_argument("--skip-anchor", action="store_true")
    args = parser.parse_args()

    print(
        f"{'n x n':>22} {'rengo wall s':>13} {'(cpu s)':>8} {'openmined wall s':>17} "
        f"{'(cpu s)':>8} {'speed-up':>9}"
    )
    for n in args.sizes:
        ours, ours_cpu = run_rengo(n, args.seed, args.workers)
        theirs = (
            None
            if args.skip_anchor
            else run_anchor(n, args.seed, args.anchor_venv, args.anchor_timeout)
        )
        if theirs is None:
            anchor, ratio = f"{'-':>17} {'-':>8}", f"{'-':>9}"
        else:
            anchor = f"{theirs[0]:17.2f} {theirs[1]:8.2f}"
            ratio = f"{theirs[0] / ours:8.2f}x"
        print(f"{f'{n:,} x {n:,}':>22} {ours:13.2f} {ours_cpu:8.2f} {anchor} {ratio}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

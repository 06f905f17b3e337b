"""How long a small simulated run takes when its live MLflow mirror points at a tracking server
that is down, source trees side by side.

Each repeat runs, as a fresh process per tree (trees interleaved), a 3-round iris FedAvg
simulation (3 clients, logistic model) through ``MirroringStore`` with
``MlflowMirror("http://127.0.0.1:<a port nobody listens on>")`` and MLflow's default retry
settings, and the same run with no mirror; prints the median and range of the wall time and
of the child's CPU seconds (``getrusage(RUSAGE_CHILDREN)`` deltas), how many warning lines
the ``rengo.tracking`` logger wrote, and the load average before and after.

    git archive main src | tar -x -C /tmp/old
    .venv/bin/python benchmarks/mirror_down.py --src /tmp/old/src src --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = {
    "job": {"name": "offline", "seed": 4, "rounds": 3},
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 3},
    "model": {"type": "logistic"},
}


def child(folder: str, mirrored: bool) -> None:
    """One run (in the child process): print its status and the warnings said."""
    import logging

    from rengo.hfl import simulate
    from rengo.jobs import build_hfl_job, parse_job
    from rengo.tracking import RunStore
    from rengo.tracking.mirrors import MirroringStore, MlflowMirror

    said: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logging.getLogger("rengo.tracking").addHandler(Count(logging.WARNING))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    path = Path(folder) / "runs.db"
    store = (
        MirroringStore(path, mirrors=[MlflowMirror(f"http://127.0.0.1:{port}")])
        if mirrored
        else RunStore(path)
    )
    job = build_hfl_job(parse_job(JOB))
    with store:
        history = simulate(
            job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 3, store=store
        )
        status = store.get_run(history.run_id).status  # type: ignore[arg-type]
    print(json.dumps({"status": status, "warnings": len(said)}))


def measure(tree: str, mirrored: bool) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, CPU seconds and the child's report of one run with ``tree``."""
    env = {**os.environ, "PYTHONPATH": tree}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child", folder, *(["--mirrored"] if mirrored else [])],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f} - {max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", nargs="+", default=["src"], help="source trees to compare")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mirrored", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mirrored)
        return
    print(f"load average before: {os.getloadavg()}")
    results: dict[tuple[str, bool], list[tuple[float, float, dict[str, object]]]] = {}
    for _ in range(args.repeats):
        for tree in args.src:
            for mirrored in (False, True):
                results.setdefault((tree, mirrored), []).append(measure(tree, mirrored))
    print(f"load average after: {os.getloadavg()}")
    print("| tree | mirror | wall s | CPU s | warnings | status |")
    print("|---|---|---|---|---|---|")
    for (tree, mirrored), runs in results.items():
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        warnings = sorted({int(str(r[2]["warnings"])) for r in runs})
        statuses = sorted({str(r[2]["status"]) for r in runs})
        mirror = "MLflow server down" if mirrored else "none"
        print(f"| {tree} | {mirror} | {spread(walls)} | {spread(cpus)} | {warnings} | {statuses} |")


if __name__ == "__main__":
    main()

"""Several processes writing one run store at once while a dashboard reads it: how many
writers a new store loses, how fast the rounds go in, and how many dashboard pages mix
moments of the store, for source trees side by side.

Each measurement runs in its own process (``--child``) with ``PYTHONPATH`` set to one tree:

1. ``--writers`` processes open a store that does not exist yet, all released by one barrier
   (a Slurm array of ``rengo run``), and record a short run each: how many failed;
2. as many processes record ``--rounds`` rounds each (``--clients`` client records, the
   round, an event) into one existing store as fast as they can, while a reader process
   requests the dashboard's run page (``/api/runs/RUN``) of one of those runs over and over:
   the writers' wall time from release to the last one done, the CPU seconds of every
   process, the pages served, and the pages whose rows disagree with their round count or
   whose metric chart runs past their last row.

``--src`` compares trees (e.g. the old sources unpacked with ``git archive``); the trees take
turns, every repeat, in the order given. Medians and [min-max] over the repeats.

    .venv/bin/python benchmarks/store_concurrency.py --src /tmp/old/src src --repeats 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from child_timing import child_json
from fate_bench import spread
from store_rounds import fit_records

HERE = Path(__file__).resolve().parent


def _writer(path: str, rounds: int, clients: int, barrier: Barrier, out: Queue[Any]) -> None:
    """One process: a run of ``rounds`` rounds, released with the others; reports its end
    time and error (None)."""
    try:
        from rengo.tracking import RunStore

        barrier.wait()
        with RunStore(path) as store, store.run("hfl", {}, name="bench") as run:
            assert run.run_id is not None
            for number in range(1, rounds + 1):
                store.log_clients(run.run_id, fit_records(number, clients))
                store.log_round(run.run_id, number, {"accuracy": number / rounds}, 0.0, 1, 0)
                store.log_event(run.run_id, "info", f"round {number}", number)
        out.put((time.perf_counter(), None))
    except BaseException:
        out.put((time.perf_counter(), traceback.format_exc(limit=1).strip().splitlines()[-1]))


def _reader(path: str, ready: Event, stop: Event, out: Queue[Any]) -> None:
    """One process: the dashboard's run page of the first run, from ``ready`` (set once it
    is set up) until ``stop``; reports (pages, pages that mix moments)."""
    from fastapi.testclient import TestClient

    from rengo.ui import create_app

    pages = mixed = 0
    with TestClient(create_app(path)) as client:
        ready.set()
        found: list[dict[str, Any]] = []
        while not found and not stop.is_set():
            found = client.get("/api/runs", params={"limit": 1}).json()["runs"]
        while found and not stop.is_set():
            page = client.get(f"/api/runs/{found[0]['run_id']}").json()
            rows = [r["round"] for r in page["rounds"]]
            chart = [point[0] for point in page["series"].get("accuracy", [])]
            pages += 1
            mixed += len(rows) != min(page["rounds_total"], 1000) or chart[-1:] != rows[-1:]
    out.put((pages, mixed))


def _writers(path: Path, count: int, rounds: int, clients: int) -> tuple[float, list[str]]:
    """Run ``count`` writers released together; (seconds to the last one done, errors)."""
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(count + 1), context.Queue()
    procs = [
        context.Process(target=_writer, args=(str(path), rounds, clients, barrier, out))
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    barrier.wait()
    released = time.perf_counter()
    done = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return max(end for end, _ in done) - released, [e for _, e in done if e is not None]


def measure(writers: int, rounds: int, clients: int) -> dict[str, Any]:
    """Child process: both phases; prints one JSON line."""
    import json

    from rengo.tracking import RunStore

    with tempfile.TemporaryDirectory() as folder:
        _, fresh_errors = _writers(Path(folder) / "new" / "runs.db", writers, 5, clients)
        path = Path(folder) / "runs.db"
        RunStore(path).close()
        context = multiprocessing.get_context("spawn")
        ready, stop, pages = context.Event(), context.Event(), context.Queue()
        reader = context.Process(target=_reader, args=(str(path), ready, stop, pages))
        reader.start()
        ready.wait()
        wall, errors = _writers(path, writers, rounds, clients)
        stop.set()
        served, mixed = pages.get()
        reader.join()
        with RunStore(path, read_only=True) as store:
            kept = sum(store.round_span(r.run_id)[0] for r in store.list_runs(limit=None))
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {
        "new_store_failures": len(fresh_errors),
        "new_store_error": fresh_errors[0] if fresh_errors else "",
        "wall": wall,
        "cpu": used.ru_utime + used.ru_stime,
        "rounds_kept": kept,
        "write_errors": len(errors),
        "pages": served,
        "mixed_pages": mixed,
    }
    print(json.dumps(figures), flush=True)
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        measure(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    srcs = [str(Path(s).resolve()) for s in args.src]
    print(
        f"{args.writers} writer processes x {args.rounds} rounds x {args.clients} client "
        f"records, one dashboard reader; {args.repeats} repeats; "
        f"load average at start {os.getloadavg()}"
    )
    runs: dict[str, list[dict[str, Any]]] = {src: [] for src in srcs}
    child = [str(args.writers), str(args.rounds), str(args.clients)]
    for _ in range(args.repeats):
        for src in srcs:
            runs[src].append(child_json(__file__, child, src))
    print(f"load average at end {os.getloadavg()}")
    print(
        "| sources | writers lost opening a new store | writers' wall s | CPU s (all processes) "
        "| rounds kept | write errors | dashboard pages | pages/s | pages mixing moments |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for src in srcs:
        got = runs[src]
        print(
            f"| {src} | {spread([r['new_store_failures'] for r in got], '{:.0f}')} "
            f"of {args.writers} | {spread([r['wall'] for r in got], '{:.2f}')} "
            f"| {spread([r['cpu'] for r in got], '{:.2f}')} "
            f"| {spread([r['rounds_kept'] for r in got], '{:.0f}')} "
            f"| {spread([r['write_errors'] for r in got], '{:.0f}')} "
            f"| {spread([r['pages'] for r in got], '{:.0f}')} "
            f"| {spread([r['pages'] / r['wall'] for r in got], '{:.0f}')} "
            f"| {spread([r['mixed_pages'] for r in got], '{:.0f}')} |"
        )
        errors = {r["new_store_error"] for r in got if r["new_store_error"]}
        for error in sorted(errors):
            print(f"  {src}: {error[:200]}")


if __name__ == "__main__":
    main()

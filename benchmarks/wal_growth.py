"""How large a run store's write-ahead log (``runs.db-wal``) grows while a run writes and a
dashboard reads without pause, for source trees side by side.

SQLite appends every commit to the WAL and copies it back into the database at a checkpoint,
but it can start the WAL over only at a moment when no reader holds a snapshot in it; a
reader that begins its next read as soon as the last ends (``rengo ui`` refreshing a live
page, a notebook polling) may leave no such moment, and the WAL then grows for as long as
the writer goes on (and, by default, keeps its largest size on disk afterwards).

Each measurement runs in its own process (``--child``) with ``PYTHONPATH`` set to one tree:
one process records ``--rounds`` rounds (``--clients`` client records, the round's metrics
and a checkpoint each) into a new store, ``--pause-ms`` apart (0: as fast as it can), while
``--readers`` processes each read the run's rounds and metric series in a snapshot, over and
over (a read-only
``RunStore``, as ``rengo ui`` has). Every ``--every`` rounds the writer notes the WAL's size;
reported: the WAL's largest size, its size at the end (the writer still open), the database's
size, the writer's wall time and every process's CPU seconds. The trees take turns, every
repeat, in the order given; medians and [min-max] over the repeats.

    .venv/bin/python benchmarks/wal_growth.py --src /tmp/old/src src --repeats 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from child_timing import child_json
from fate_bench import spread
from store_rounds import fit_records

HERE = Path(__file__).resolve().parent
MB = 1e6


def _wal_size(path: str) -> int:
    try:
        return os.path.getsize(f"{path}-wal")
    except FileNotFoundError:
        return 0


def _reader(path: str, ready: Event, stop: Event, out: Queue[int]) -> None:
    """One process: the run's rounds and metric series in one snapshot, back to back, until
    ``stop``; reports how many it read."""
    from rengo.tracking import RunStore

    reads = 0
    with RunStore(path, read_only=True) as store:
        ready.set()
        while not stop.is_set():
            runs = store.list_runs(limit=1)
            if not runs:
                continue
            with store.snapshot():
                store.rounds(runs[0].run_id)
                store.round_metrics(runs[0].run_id)
            reads += 1
    out.put(reads)


def measure(rounds: int, clients: int, readers: int, every: int, pause_ms: int) -> dict[str, Any]:
    """Child process: one soak; prints one JSON line."""
    import json

    from rengo.tracking import RunStore

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "runs.db")
        RunStore(path).close()
        context = multiprocessing.get_context("spawn")
        stop, reads = context.Event(), context.Queue()
        readies = [context.Event() for _ in range(readers)]
        procs = [
            context.Process(target=_reader, args=(path, ready, stop, reads)) for ready in readies
        ]
        for proc in procs:
            proc.start()
        for ready in readies:
            ready.wait()
        sizes = []
        started = time.perf_counter()
        with RunStore(path) as store, store.run("hfl", {}, name="soak") as run:
            assert run.run_id is not None
            for number in range(1, rounds + 1):
                store.log_clients(run.run_id, fit_records(number, clients))
                store.log_round(run.run_id, number, {"accuracy": 0.5, "loss": 1.0}, 0.0, 1, 0)
                store.save_checkpoint(run.run_id, number, bytes(2000))
                if pause_ms:
                    time.sleep(pause_ms / 1000)  # a round's training
                if number % every == 0:
                    sizes.append(_wal_size(path))
            wall = time.perf_counter() - started
            at_end = _wal_size(path)
            database = os.path.getsize(path)
        stop.set()
        done = sum(reads.get() for _ in procs)
        for proc in procs:
            proc.join()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "wal_max": max(sizes, default=0),
        "wal_end": at_end,
        "database": database,
        "sizes": sizes,
        "wall": wall,
        "cpu": used.ru_utime + used.ru_stime + mine.ru_utime + mine.ru_stime,
        "reads": done,
    }
    print(json.dumps(figures), flush=True)
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        measure(*(int(a) for a in sys.argv[2:7]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--readers", type=int, default=1)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--pause-ms", type=int, default=0, help="between rounds (training)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    srcs = [str(Path(s).resolve()) for s in args.src]
    print(
        f"1 writer x {args.rounds} rounds x {args.clients} client records + a 2000-byte "
        f"checkpoint, {args.pause_ms} ms between rounds, {args.readers} reader process(es) "
        "reading back to back; "
        f"{args.repeats} repeats; load average at start {os.getloadavg()}"
    )
    runs: dict[str, list[dict[str, Any]]] = {src: [] for src in srcs}
    child = [str(args.rounds), str(args.clients), str(args.readers), str(args.every)]
    child.append(str(args.pause_ms))
    for _ in range(args.repeats):
        for src in srcs:
            runs[src].append(child_json(__file__, child, src))
    print(f"load average at end {os.getloadavg()}")
    print(
        "| sources | largest WAL MB | WAL at end MB | database MB | writer's wall s "
        "| CPU s (all processes) | reads | reads/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for src in srcs:
        got = runs[src]
        print(
            f"| {src} | {spread([r['wal_max'] / MB for r in got], '{:.1f}')} "
            f"| {spread([r['wal_end'] / MB for r in got], '{:.1f}')} "
            f"| {spread([r['database'] / MB for r in got], '{:.1f}')} "
            f"| {spread([r['wall'] for r in got], '{:.2f}')} "
            f"| {spread([r['cpu'] for r in got], '{:.2f}')} "
            f"| {spread([r['reads'] for r in got], '{:.0f}')} "
            f"| {spread([r['reads'] / r['wall'] for r in got], '{:.0f}')} |"
        )
        trace = got[-1]["sizes"]
        step = max(1, len(trace) // 10)
        shown = ", ".join(f"{s / MB:.0f}" for s in trace[::step])
        print(f"  {src}: WAL MB every {args.every * step} rounds (last repeat): {shown}")


if __name__ == "__main__":
    main()

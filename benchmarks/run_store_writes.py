"""What recording a simulation in the run store costs: hundreds of tiny clients, with a
store and without, interleaved, each run in its own process.

Every client's fit (and evaluate) outcome becomes a row of the store's ``client_rounds``
table, so for tiny clients the writes can weigh as much as the training. This script times
``simulate`` serially with ``store=None`` and with a fresh on-disk :class:`RunStore`,
alternating the two, and reports medians and ranges of wall and CPU seconds (the child
process's own CPU; the serial executor starts no other process) and the store's overhead.

``--src`` compares source trees in the same invocation (e.g. an older checkout unpacked with
``git archive``): each tree's pair runs in turn, every repeat, in the order given.

    .venv/bin/python benchmarks/run_store_writes.py                    # 500 clients x 5 rounds
    .venv/bin/python benchmarks/run_store_writes.py --src /tmp/old/src src --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from child_timing import child_json
from fate_bench import spread

HERE = Path(__file__).resolve().parent
FMT = "{:.3f}"


def run_one(clients: int, rounds: int, with_store: bool) -> None:
    """Child process: one serial simulation; prints its wall and CPU seconds as JSON."""
    sys.path.insert(0, str(HERE))
    from scale import simulate_clients

    from rengo.tracking import RunStore

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs.db") if with_store else None
        wall, cpu = time.perf_counter(), time.process_time()
        simulate_clients(clients, rounds, store=store, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows = 0
        if store is not None:
            run_id = store.list_runs(limit=1)[0].run_id
            rows = len(store.client_records(run_id))
            store.close()
    print(json.dumps({"wall": wall, "cpu": cpu, "client_rows": rows}), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_one(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    srcs = [str(Path(s).resolve()) for s in args.src]
    print(
        f"{args.clients} clients x {args.rounds} rounds, serial, every client fits every round; "
        f"{args.repeats} repeats; load average at start {os.getloadavg()}"
    )
    runs: dict[tuple[str, bool], list[dict[str, float]]] = {}
    for _ in range(args.repeats):
        for src in srcs:
            for with_store in (False, True):
                child = [str(args.clients), str(args.rounds), str(int(with_store))]
                runs.setdefault((src, with_store), []).append(child_json(__file__, child, src))
    print(f"load average at end {os.getloadavg()}")
    print("| sources | store | wall s | CPU s | client rows | store's wall overhead |")
    print("|---|---|---|---|---|---|")
    for src in srcs:
        bare = statistics.median(r["wall"] for r in runs[(src, False)])
        for with_store in (False, True):
            got = runs[(src, with_store)]
            walls = [r["wall"] for r in got]
            extra = f"{statistics.median(walls) / bare - 1:+.0%}" if with_store else ""
            print(
                f"| {src} | {'on disk' if with_store else 'none'} | {spread(walls, FMT)} | "
                f"{spread([r['cpu'] for r in got], FMT)} | {int(got[0]['client_rows'])} | {extra} |"
            )


if __name__ == "__main__":
    main()

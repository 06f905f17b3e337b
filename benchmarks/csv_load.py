"""Loading a numeric CSV table: rengo's ``load_csv`` beside numpy's C reader
(``numpy.loadtxt``) and, when installed, ``pandas.read_csv``, a wide table and a tall one
(``--million``: also 1,000,000 rows x 20; ``--party``: also a vertical party's
``load_party_data``), interleaved, each load in its own process, its
wall and CPU seconds and its peak memory (the process's maximum resident set) reported.

``load_csv`` checks every cell (a name for each malformed one, plain ASCII numbers only,
finite values) and ``numpy.loadtxt`` checks almost nothing, so numpy is the floor, not a
competitor. ``--src`` adds source trees to compare (e.g. an older checkout unpacked with
``git archive``); every repeat loads each table with each tree and with numpy in turn.

    .venv/bin/python benchmarks/csv_load.py
    .venv/bin/python benchmarks/csv_load.py --src /tmp/old/src src --repeats 5
    .venv/bin/python benchmarks/csv_load.py --src /tmp/old/src src --million --party
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from child_timing import child_json
from fate_bench import spread

HERE = Path(__file__).resolve().parent
FMT = "{:.2f}"
TABLES = {"wide": (1_000, 5_000), "tall": (100_000, 20)}
MILLION = {"million": (1_000_000, 20)}


def write_table(path: Path, rows: int, columns: int) -> None:
    """An ID column ``id`` (``c0000000``...), a label column ``y`` (0/1) and ``columns``
    features with 6 significant digits."""
    rng = np.random.default_rng(0)
    with path.open("w") as f:
        f.write(",".join(["id", "y", *(f"f{j}" for j in range(columns))]) + "\n")
        for start in range(0, rows, 1000):
            block = rng.normal(size=(min(1000, rows - start), columns))
            for i, row in enumerate(block):
                n = start + i
                f.write(f"c{n:07d},{n % 2}," + ",".join(f"{v:.6g}" for v in row) + "\n")


def load_one(reader: str, path: str) -> None:
    """Child process: one load; prints its wall and CPU seconds as JSON."""
    wall, cpu = time.perf_counter(), time.process_time()
    if reader == "numpy":
        with open(path) as f:
            width = len(f.readline().split(","))
        table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, width))
        shape = (table.shape[0], table.shape[1] - 1)
    elif reader == "pandas":
        import pandas

        frame = pandas.read_csv(path, dtype={"id": str})
        shape = (frame.shape[0], frame.shape[1] - 2)
    elif reader == "party":
        from rengo.deploy.vertical_data import load_party_data

        party = load_party_data(path, "id", label="y", standardize=False)
        assert party.table is not None
        shape = party.table.features.shape
    else:
        from rengo.data import load_csv

        shape = load_csv(path, id_column="id").X.shape
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"wall": wall, "cpu": cpu, "mib": peak, "shape": list(shape)}), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        load_one(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    parser.add_argument("--million", action="store_true", help="also a 1,000,000-row table")
    parser.add_argument(
        "--party", action="store_true", help="also a vertical party's load_party_data"
    )
    args = parser.parse_args()
    tables = {**TABLES, **(MILLION if args.million else {})}
    readers = [(f"rengo load_csv ({Path(s).resolve()})", str(Path(s).resolve())) for s in args.src]
    if args.party:
        readers += [
            (f"rengo load_party_data ({Path(s).resolve()})", str(Path(s).resolve()))
            for s in args.src
        ]
    readers.append(("numpy.loadtxt", readers[0][1]))
    if importlib.util.find_spec("pandas") is not None:
        readers.append(("pandas.read_csv", readers[0][1]))
    kinds = {"numpy.loadtxt": "numpy", "pandas.read_csv": "pandas"}
    kinds.update({label: "party" for label, _ in readers if "load_party_data" in label})
    print(f"load average at start {os.getloadavg()}; {args.repeats} repeats")
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, (rows, columns) in tables.items():
            paths[name] = Path(folder) / f"{name}.csv"
            write_table(paths[name], rows, columns)
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for name, path in paths.items():
                for label, src in readers:
                    got = child_json(__file__, [kinds.get(label, "rengo"), str(path)], src)
                    runs.setdefault((name, label), []).append(got)
    print(f"load average at end {os.getloadavg()}")
    print("| table | reader | wall s | CPU s | peak MiB | vs numpy (wall) |")
    print("|---|---|---|---|---|---|")
    for name, (rows, columns) in tables.items():
        floor = statistics.median(r["wall"] for r in runs[(name, "numpy.loadtxt")])
        for label, _ in readers:
            got = runs[(name, label)]
            walls = [r["wall"] for r in got]
            print(
                f"| {name} {rows:,} x {columns:,} | {label} | {spread(walls, FMT)} | "
                f"{spread([r['cpu'] for r in got], FMT)} | "
                f"{spread([r['mib'] for r in got], '{:.0f}')} | "
                f"{statistics.median(walls) / floor:.2f}x |"
            )


if __name__ == "__main__":
    main()

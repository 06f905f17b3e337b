"""What recording a run's data file digest costs: ``file_sha256`` (the SHA-256 a horizontal
run records of each data file, computed once when the job is built, right after the load)
beside ``load_csv`` of the same table, interleaved in one process, ``--repeats`` times.

The digest runs after the load, as ``build_hfl_job`` runs it, so the file's bytes come from
the page cache, not the disk: what a run pays on top of reading its table. Default table: the
largest CSV under the shared data folder (``$RENGO_SHARED_DATA``, FATE's credit guest table).

    RENGO_SHARED_DATA=../shared/data .venv/bin/python benchmarks/data_digest.py --repeats 5
    .venv/bin/python benchmarks/data_digest.py --path TABLE.csv --label y --id-column id
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from fate_bench import spread

from rengo.data import file_sha256, load_csv
from rengo.data.shared import shared_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--label", default="y")
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    path = args.path or shared_data_dir() / "fate" / "default_credit_hetero_guest.csv"
    size = path.stat().st_size
    print(f"{path} ({size / 1e6:.1f} MB), load average {os.getloadavg()[0]:.2f} at start")
    loads: list[float] = []
    digests: list[float] = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        table = load_csv(path, label=args.label, id_column=args.id_column)
        loads.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        file_sha256(path)
        digests.append((time.perf_counter() - start) * 1e3)
    shares = [100 * d / lo for d, lo in zip(digests, loads, strict=True)]
    print(f"rows {len(table)}, columns {table.num_features}")
    print(f"load_csv ms:         {spread(loads)}")
    print(f"file_sha256 ms:      {spread(digests, '{:.2f}')}")
    print(f"digest / load (%):   {spread(shares, '{:.2f}')}")
    print(f"digest MB/s:         {spread([size / 1e3 / d for d in digests], '{:.0f}')}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""``rengo tournament submit`` and ``score`` on a tournament that already holds many
submissions, with source trees side by side: the state each tree writes (format 1: one JSON
file; format 2: a JSON file and content-named ``.npy`` arrays), interleaved, each command a
fresh ``rengo`` process on a fresh copy of the prepared state; every tree must print the same
scores and payouts.

Compare this tree with the release before format 2 (d736e07) unpacked with ``git archive``:

    git archive d736e07 src | tar -x -C /tmp/old
    .venv/bin/python benchmarks/tournament_state.py --src /tmp/old/src src
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fate_bench import spread

HERE = Path(__file__).resolve().parent
FMT = "{:.2f}"


def prepare(folder: Path, rows: int, participants: int) -> None:
    """Child process (``PYTHONPATH`` = the tree): open a round of ``rows`` live rows with this
    tree's CLI and add ``participants`` seeded submissions, saved as this tree saves a state;
    writes the next participant's predictions and the targets beside it."""
    from typer.testing import CliRunner

    from rengo.cli.main import app

    rng = np.random.default_rng(0)
    ids = [f"id{i:07d}" for i in range(rows)]
    with (folder / "rows.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "era", "x", "target"])
        for i, row in enumerate(ids):
            writer.writerow([row, f"era{i * 4 // rows}", i % 7, int(rng.integers(0, 5)) / 4])
    state, store = folder / "t.json", folder / "r.db"
    opened = CliRunner().invoke(
        app,
        ["tournament", "open", "--csv", str(folder / "rows.csv"), "--id-column", "id",
         "--era-column", "era", "--target-column", "target", "--train-share", "0",
         "--state", str(state), "--store", str(store)],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    try:  # format 2
        from rengo.cli.tournament_state import load_state, save_state

        arrays = True
    except ImportError:  # format 1
        from rengo.cli.tournament import load_state, save_state  # type: ignore[attr-defined,no-redef]

        arrays = False
    from rengo.tournament import Tournament

    saved = load_state(state)
    tournament = Tournament.from_dict(saved["tournament"])
    for k in range(participants):
        tournament.submit(f"p{k:04d}", rng.random(rows), 1000)
    saved["tournament"] = tournament.to_dict(arrays=True) if arrays else tournament.to_dict()
    save_state(state, saved)
    with (folder / "next.csv").open("w", newline="") as out:
        csv.writer(out).writerows(
            [["id", "prediction"], *zip(ids, rng.random(rows).tolist(), strict=True)]
        )


def timed(command: list[str], src: str, cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds (this child's process tree) of one ``rengo`` command, and its
    output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rengo", *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": src, "COLUMNS": "200"},
        check=False,
    )
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f"{command} failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    return wall, cpu, out.stdout


def state_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != "rows.csv")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        prepare(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    args = parser.parse_args()
    trees = [str(Path(s).resolve()) for s in args.src]
    work = Path(tempfile.mkdtemp(prefix="tournament-state-"))
    prepared: dict[str, Path] = {}
    for k, tree in enumerate(trees):  # the state remembers its store: each run uses the same
        live = work / f"tree{k}"
        live.mkdir()
        subprocess.run(
            [sys.executable, __file__, "--child", str(live), str(args.rows),
             str(args.participants)],
            env={**os.environ, "PYTHONPATH": tree},
            check=True,
        )  # fmt: skip
        prepared[tree] = shutil.copytree(live, work / f"pristine{k}")
    print(
        f"load average at start {os.getloadavg()}; {args.rows:,} live rows in 4 eras, "
        f"{args.participants} submissions already in, {args.repeats} repeats"
    )
    steps = ("submit", "score")
    runs = {(tree, step): [] for tree in trees for step in steps}  # (wall, cpu)
    sizes: dict[str, int] = {}
    digests: set[str] = set()
    for _ in range(args.repeats):
        for k, tree in enumerate(trees):
            copy = work / f"tree{k}"
            shutil.rmtree(copy)
            shutil.copytree(prepared[tree], copy)
            s = ["--state", str(copy / "t.json"), "--store", str(copy / "r.db")]
            submit = ["tournament", "submit", "--participant", "next", "--predictions",
                      str(copy / "next.csv"), "--stake", "10", *s]  # fmt: skip
            wall, cpu, _ = timed(submit, tree, copy)
            runs[tree, "submit"].append((wall, cpu))
            sizes[tree] = state_bytes(copy)
            targets = ["--targets", str(copy / "t-round1-targets.csv")]
            wall, cpu, said = timed(["tournament", "score", *targets, *s], tree, copy)
            runs[tree, "score"].append((wall, cpu))
            table = [line for line in said.splitlines() if line.startswith("│")]
            digests.add(hashlib.sha256("\n".join(table).encode()).hexdigest())
    print(f"load average at end {os.getloadavg()}")
    print(f"scores and payouts printed: {'equal in every tree' if len(digests) == 1 else 'DIFFER'}")
    print("| tree | state MB | step | wall s | CPU s (process tree) | vs first tree (wall) |")
    print("|---|---|---|---|---|---|")
    for step in steps:
        first = statistics.median(w for w, _ in runs[trees[0], step])
        for tree in trees:
            walls = [w for w, _ in runs[tree, step]]
            cpus = [c for _, c in runs[tree, step]]
            print(
                f"| {tree} | {sizes[tree] / 1e6:.1f} | {step} | {spread(walls, FMT)} | "
                f"{spread(cpus, FMT)} | {statistics.median(walls) / first:.2f}x |"
            )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

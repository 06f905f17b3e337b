"""Start-up of the ``rengo`` command and of ``import rengo.<area>``, source trees side by side:
each command of a fixed list runs as a fresh process with ``PYTHONPATH`` set to each tree,
the trees interleaved, ``--repeats`` times; prints the median and range of the wall time and
of the CPU seconds of each (the child's, from ``getrusage(RUSAGE_CHILDREN)`` deltas), and the
load average before the runs and after them.

Python compiles every module it imports unless its bytecode is cached; an installed rengo
has it cached, a machine with ``PYTHONDONTWRITEBYTECODE`` set (this one, CI) never does. So
each command runs both ways: "cached" with a bytecode folder per tree
(``PYTHONPYCACHEPREFIX``, filled by one unmeasured warm-up run of each command) and "none"
with ``PYTHONDONTWRITEBYTECODE=1`` and no cache. Each tree gets a tiny tournament (8 rows,
opened by that tree's ``rengo tournament open``), whose run store ``rengo runs list`` reads.

Compare this tree with main unpacked with ``git archive``:

    git archive main src | tar -x -C /tmp/old
    .venv/bin/python benchmarks/cli_startup.py --src /tmp/old/src src --repeats 5
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fate_bench import spread

HERE = Path(__file__).resolve().parent
FMT = "{:.3f}"
ROWS = "id,era,x,target\n" + "".join(f"r{i},era{i // 4},{i % 3},{(i % 5) / 4}\n" for i in range(8))


def commands(folder: Path) -> dict[str, list[str]]:
    """The measured commands (arguments of ``python``) against the tournament in ``folder``."""
    state, store = str(folder / "t.json"), str(folder / "r.db")
    return {
        "rengo --help": ["-m", "rengo", "--help"],
        "rengo runs list": ["-m", "rengo", "runs", "list", "--store", store],
        "rengo tournament leaderboard": [
            "-m", "rengo", "tournament", "leaderboard", "--state", state, "--store", store,
        ],
        "import rengo.hfl": ["-c", "import rengo.hfl"],
        "import rengo.vfl": ["-c", "import rengo.vfl"],
    }  # fmt: skip


def environment(tree: str, cache: Path | None) -> dict[str, str]:
    """The child's environment: ``tree`` on ``PYTHONPATH``, bytecode cached in ``cache`` or
    not written at all."""
    env = {**os.environ, "PYTHONPATH": tree, "COLUMNS": "120"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``python args`` (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{args} failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def open_tournament(tree: str, folder: Path) -> None:
    """A tiny tournament (and its run store) in ``folder``, opened by ``tree``'s CLI."""
    folder.mkdir(parents=True)
    (folder / "rows.csv").write_text(ROWS, encoding="utf-8")
    args = ["-m", "rengo", "tournament", "open", "--csv", str(folder / "rows.csv"),
            "--id-column", "id", "--era-column", "era", "--target-column", "target",
            "--train-share", "0", "--state", str(folder / "t.json"),
            "--store", str(folder / "r.db")]  # fmt: skip
    timed(args, environment(tree, None), folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    parser.add_argument("--bytecode", choices=("cached", "none", "both"), default="both")
    args = parser.parse_args()
    trees = [str(Path(s).resolve()) for s in args.src]
    modes = ("cached", "none") if args.bytecode == "both" else (args.bytecode,)
    work = Path(tempfile.mkdtemp(prefix="cli-startup-"))
    try:
        for k, tree in enumerate(trees):
            open_tournament(tree, work / f"tree{k}")
            for argv in commands(work / f"tree{k}").values():  # warm-up: fills the cache
                timed(argv, environment(tree, work / f"pyc{k}"), work / f"tree{k}")
        names = list(commands(work))
        runs: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
        print(f"load average at start {os.getloadavg()}; {args.repeats} repeats, interleaved")
        for _ in range(args.repeats):
            for name in names:
                for mode in modes:
                    for k, tree in enumerate(trees):
                        cache = work / f"pyc{k}" if mode == "cached" else None
                        argv = commands(work / f"tree{k}")[name]
                        measured = timed(argv, environment(tree, cache), work / f"tree{k}")
                        runs.setdefault((name, mode, tree), []).append(measured)
        print(f"load average at end {os.getloadavg()}")
    finally:
        shutil.rmtree(work)
    print("| command | bytecode | tree | wall s | CPU s | vs first tree (wall) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        for mode in modes:
            first = statistics.median(w for w, _ in runs[name, mode, trees[0]])
            for tree in trees:
                walls = [w for w, _ in runs[name, mode, tree]]
                cpus = [c for _, c in runs[name, mode, tree]]
                print(
                    f"| `{name}` | {mode} | {tree} | {spread(walls, FMT)} | "
                    f"{spread(cpus, FMT)} | {statistics.median(walls) / first:.2f}x |"
                )


if __name__ == "__main__":
    main()

"""What cached bytecode saves the test suite: test commands run with and without it.

The venv is installed by uv, which writes no ``.pyc`` files, and where
``PYTHONDONTWRITEBYTECODE`` is set (as on the CI machine) Python never caches what it
compiles: every pytest worker and every process a test starts (``rengo vfl party``, the
deployment scripts, ``rengo demo``) compiles each module it imports, torch's included.
``make test`` now compiles the venv and the checkout once (``compileall``); this script
measures that change without writing into the venv: the bytecode goes to a cache folder
(``PYTHONPYCACHEPREFIX``, which Python reads exactly as it reads ``__pycache__``), compiled
once before the runs (its cost is printed), and each command runs without and with it,
interleaved, ``--repeats`` times. Prints the median and range of the wall time of each,
and the load average before each run.

    python benchmarks/bytecode_cache.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "collect the suite": [
        "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "tests",
    ],
    "deployed FTL scoring test": [
        "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "tests/deploy/test_nn_deployed_scoring.py::"
        "test_a_deployed_network_kept_in_its_files_scores_next_month_bit_for_bit[ftl]",
    ],
}  # fmt: skip


def compile_into(cache: Path) -> float:
    """Compile the venv's packages and the checkout's src/ and tests/ into ``cache``;
    seconds taken."""
    start = time.perf_counter()
    folders = [sysconfig.get_path("purelib"), str(ROOT / "src"), str(ROOT / "tests")]
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    # one torch file is Python 3.12 syntax: compileall reports it and goes on
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *folders],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return time.perf_counter() - start


def timed(args: list[str], cache: Path | None) -> float:
    """Wall seconds of ``python args`` from the checkout (it must succeed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        print(f"compiled the venv, src/ and tests/ once in {compile_into(cache):.1f} s")
        times: dict[tuple[str, str], list[float]] = {}
        for repeat in range(repeats):
            for name, args in COMMANDS.items():
                for label, prefix in (("no bytecode", None), ("cached bytecode", cache)):
                    load = os.getloadavg()[0]
                    seconds = timed(args, prefix)
                    times.setdefault((name, label), []).append(seconds)
                    print(f"  run {repeat + 1} {name:<26} {label:<16} {seconds:6.1f} s", end="")
                    print(f"  load {load:.1f}")
        print(f"\n{'command':<26} {'bytecode':<16} median   range")
        for (name, label), values in times.items():
            print(f"{name:<26} {label:<16} {statistics.median(values):6.1f}  "
                  f"{min(values):.1f}-{max(values):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

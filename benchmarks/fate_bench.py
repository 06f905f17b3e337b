"""What every FATE side-by-side benchmark shares: FATE's bench venv and measuring a run.

FATE lives in its own virtual environment, never in ``.venv`` (see
/work/shared/bench/ANCHORS.md): :func:`setup` creates ``.bench-venv-fate`` and installs
FATE 2.2 (pandas 3 breaks its message deserialisation; torch is pinned as in
constraints.txt). :func:`run_process` runs one system as a child process tree and measures
it the same way for every system: wall time, CPU seconds (user + system) of every
descendant (``wait4`` plus a child subreaper, so orphans count too), the peak summed PSS of
the tree (summed PSS, sampled from /proc), the load average when it started. Used by
``benchmarks/secureboost.py`` and ``benchmarks/hetero_lr.py``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FATE_VENV = ROOT / ".bench-venv-fate"
FATE_REQUIREMENTS = ["pyfate==2.2.0", "torch==2.13.0", "pandas<3", "psutil", "scikit-learn"]
HELPERS = Path(__file__).resolve().parent


def setup(venv: Path = FATE_VENV) -> None:
    """Create the bench venv and install FATE 2.2 into it."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *FATE_REQUIREMENTS], check=True)
    print(f"FATE installed in {venv}")


def fate_python(venv: Path = FATE_VENV) -> Path:
    """The bench venv's interpreter; exits with the set-up command when it is missing."""
    python = venv / "bin" / "python"
    if not python.exists():
        sys.exit(f"missing {python}: run `{sys.argv[0]} --setup` first (or pass --fate-venv)")
    return python


@dataclass
class ProcessRun:
    """One measured run of one system: the process tree's figures and the run's report."""

    system: str
    wall_s: float
    cpu_s: float
    peak_memory_mib: float
    load_at_start: float
    returncode: int
    report: dict[str, Any] = field(default_factory=dict)
    log_tail: str = ""


def _children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _memory_bytes(pid: int, page: int) -> int:
    """A process's proportional set size (its private pages plus its share of pages shared
    with other processes, so forked workers are not counted twice); RSS where the kernel
    gives no ``smaps_rollup``."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * page
    except (OSError, IndexError, ValueError):
        return 0


def tree_memory_bytes(pid: int) -> int:
    """Memory of ``pid`` and all its descendants (Linux /proc): summed PSS, so pages that
    forked processes share count once."""
    if not Path("/proc").is_dir():
        return 0
    tree, total, stack = _children_map(), 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        current = stack.pop()
        stack.extend(tree.get(current, []))
        total += _memory_bytes(current, page)
    return total


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``) so that their CPU time
    is counted when they are reaped, even when their parent exited first."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_descendants(grace_s: float = 30.0) -> None:
    """Wait for every remaining descendant, killing those alive after ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.monotonic() > deadline:
            for child in _children_map().get(os.getpid(), []):
                with contextlib.suppress(OSError):
                    os.kill(child, 9)
            deadline = float("inf")
        time.sleep(0.2)


def run_process(system: str, command: list[str], env: dict[str, str], cwd: Path) -> ProcessRun:
    """Run ``command`` as a child process tree and measure it (see the module docstring)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile(mode="w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        peak, done = 0, threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.5):
                peak = max(peak, tree_memory_bytes(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        reap_descendants()
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        tail = log.read()[-4000:]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
    return ProcessRun(system, wall, cpu, peak / 2**20, load, proc.returncode, log_tail=tail)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """``median [min - max]`` of the values (``-`` when there are none)."""
    if not values:
        return "-"
    middle = fmt.format(statistics.median(values))
    if len(values) == 1:
        return middle
    return f"{middle} [{fmt.format(min(values))} - {fmt.format(max(values))}]"


def encryption_counting_env(site: Path, out_dir: Path) -> dict[str, str]:
    """Environment for a FATE run whose every process counts its Paillier encryptions
    (see ``fate_ciphertexts.count_encryptions``): a ``sitecustomize`` in ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('RENGO_FATE_COUNT_ENCRYPTIONS'):\n"
        "    import sys\n"
        "    sys.path.insert(0, os.environ['RENGO_FATE_HELPERS'])\n"
        "    from fate_ciphertexts import count_encryptions\n"
        "    count_encryptions(os.environ['RENGO_FATE_COUNT_ENCRYPTIONS'])\n"
    )
    return {
        "PYTHONPATH": str(site),
        "RENGO_FATE_COUNT_ENCRYPTIONS": str(out_dir),
        "RENGO_FATE_HELPERS": str(HELPERS),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
    }

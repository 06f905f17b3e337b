"""Horizontal FL: rengo vs Flower vs a framework-free loop, on the same task, in one run.

Task (identical on every side): sklearn digits, standardised, 80/20 stratified split (seed
0); Dirichlet(0.5) label-skew partition over N clients (``rengo.data.dirichlet_partition``,
seed 0, index arrays shipped to every side in one ``.npz``); MLP 64-64-10 with the same
initial weights; 1 local epoch, batch 32, SGD lr 0.05; every client every round; FedAvg;
centralised evaluation on the test split after every round. Client (round, id) seeds come
from ``rengo.hfl.client_seed`` and seed torch before each local epoch on every side, and every
process runs torch with one thread, so all sides compute the same thing. Sizes: 10 clients x
20 rounds and 100 clients x 5 rounds.

Systems, each in its own subprocess so its whole process tree is measured alone:
  floor            plain PyTorch loop, no framework, no serialisation (the compute floor)
  rengo-serial     rengo.hfl.simulate(executor="serial")
  rengo-process-2  rengo.hfl.simulate(executor="process", workers=2)
  flower           Flower 1.42 run_simulation (Ray backend), client_resources num_cpus=1

Measured per run: wall time of the whole subprocess (interpreter start to exit, imports and
framework start-up included), the federated part alone (``rounds_s``, as the runner times
it), CPU time of the process tree (user + system, from the kernel's accounting of every
reaped descendant; this process is a child subreaper so orphans are reaped here too) and
peak memory of the process tree: summed PSS (sampled every 250 ms; forked copy-on-write
pages and shared libraries counted once) and summed RSS (every 50 ms), from /proc, by a
nice-19 thread. The final model's fingerprint shows which sides computed the same bits.

Setup (once): the Flower side runs in its own venv, never rengo's. ``flwr[simulation]==1.42.0``
does not install as-is here (it requires a certifi newer than the registry holds), so
``--setup`` does what /work/shared/bench/ANCHORS.md describes:

    python3.11 -m venv .bench-venv-flower
    pip download --no-deps flwr==1.42.0           # read its Requires-Dist lines (no extras)
    pip install <those lines minus certifi> ray==2.55.1 torch==2.13.0
    pip install --no-deps flwr==1.42.0

Run:  .venv/bin/python benchmarks/hfl_vs_flower.py --setup     (first time only)
      .venv/bin/python benchmarks/hfl_vs_flower.py             (2-4 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLOWER_VENV = REPO / ".bench-venv-flower"
FLWR_VERSION = "1.42.0"
RAY_PIN = "ray==2.55.1"  # flwr 1.42.0's `simulation` extra
TORCH_PIN = "torch==2.13.0"  # the CPU wheel; any other spec pulls a CUDA build here
SIZES = ((10, 20), (100, 5))
SYSTEMS = ("floor", "rengo-serial", "rengo-process-2", "flower")
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36


# -- setup ----------------------------------------------------------------------------------
def setup_flower_venv(venv: Path = FLOWER_VENV) -> None:
    """Build the Flower bench venv with the certifi work-around from ANCHORS.md."""
    python = venv / "bin" / "python"
    if not python.exists():
        base = Path(sys.base_prefix) / "bin" / "python3"
        subprocess.run([str(base), "-m", "venv", str(venv)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [str(python), "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
             f"flwr=={FLWR_VERSION}"],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("flwr-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            meta = zf.read(f"flwr-{FLWR_VERSION}.dist-info/METADATA").decode()
        requires = [
            line.split(":", 1)[1].strip()
            for line in meta.splitlines()
            if line.startswith("Requires-Dist:")
        ]
        deps = [r for r in requires if "extra ==" not in r and not r.startswith("certifi")]
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *deps, RAY_PIN, TORCH_PIN], check=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True
        )
    subprocess.run(
        [str(python), "-c", "import flwr, ray, torch; print('flwr', flwr.__version__, "
         "'ray', ray.__version__, 'torch', torch.__version__)"],
        check=True,
    )  # fmt: skip


# -- the task -------------------------------------------------------------------------------
def write_task(
    path: Path, num_clients: int, rounds: int, seed: int, local_epochs: int = 1
) -> dict[str, object]:
    """Data, partition, initial weights and per-(round, client) seeds, shared by every side."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from rengo.data import dirichlet_partition
    from rengo.hfl import client_seed
    from rengo.hfl.torch_client import get_parameters, make_mlp

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    x_train = scaler.transform(x_train).astype(np.float32)
    x_test = scaler.transform(x_test).astype(np.float32)
    parts = dirichlet_partition(y_train, num_clients, alpha=0.5, seed=seed)
    offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    torch.manual_seed(seed)
    initial = get_parameters(make_mlp(x.shape[1], 10))
    seeds = np.array(
        [[client_seed(seed, r, str(c)) for c in range(num_clients)] for r in range(1, rounds + 1)],
        dtype=np.uint32,
    )
    np.savez(
        path,
        x_train=x_train,
        y_train=y_train.astype(np.int64),
        x_test=x_test,
        y_test=y_test.astype(np.int64),
        part_rows=np.concatenate(parts).astype(np.int64),
        part_offsets=offsets,
        num_initial=len(initial),
        seeds=seeds,
        lr=0.05,
        batch_size=32,
        local_epochs=local_epochs,
        **{f"init_{i}": a for i, a in enumerate(initial)},
    )
    sizes = [len(p) for p in parts]
    return {"train_rows": len(y_train), "test_rows": len(y_test), "min": min(sizes),
            "max": max(sizes)}  # fmt: skip


# -- measuring a process tree -----------------------------------------------------------------
def _descendants(root: int) -> dict[int, int]:
    """Every descendant of ``root`` mapped to its own CPU time so far (clock ticks)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()  # fields[0] is field 3, "state"
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    out: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out[pid] = ticks[pid]
        todo.extend(children.get(pid, []))
    return out


def _rss(pid: int) -> int:
    """Resident set size of one process in bytes (0 if it is gone); cheap (statm)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _pss(pid: int) -> int:
    """Proportional set size of one process in bytes (0 if it is gone).

    PSS splits each shared page among the processes mapping it, so summing it over a tree
    counts forked copy-on-write pages and shared libraries once. Reading it makes the kernel
    walk the page tables (about 2 ms for a process with torch loaded), hence sampled sparser.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class TreeSampler:
    """Peak summed RSS (every ``interval_s``) and PSS (every ``pss_every``-th sample) of every
    descendant of this process. The sampling thread runs at nice 19 so that, on a busy
    machine, it yields the CPU to the processes it measures."""

    interval_s: float = 0.05
    pss_every: int = 5
    cpu_ticks: dict[int, int] = field(default_factory=dict)
    peak_rss: int = 0
    peak_pss: int = 0
    peak_procs: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def sample(self, with_pss: bool = True) -> None:
        pids = _descendants(os.getpid())
        for pid, ticks in pids.items():
            self.cpu_ticks[pid] = max(ticks, self.cpu_ticks.get(pid, 0))
        self.peak_rss = max(self.peak_rss, sum(_rss(p) for p in pids))
        if with_pss:
            self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in pids))
        self.peak_procs = max(self.peak_procs, len(pids))

    def _loop(self) -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        tick = 0
        while not self._stop.is_set():
            self.sample(with_pss=tick % self.pss_every == 0)
            tick += 1
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def cpu_s(self) -> float:
        """CPU time of every process seen, as of its last sample (misses < one interval each)."""
        return sum(self.cpu_ticks.values()) / CLK_TCK


def _wait_tree(main_pid: int, linger_s: float = 30.0) -> tuple[int, float]:
    """Reap the runner and every orphan re-parented to us (so their CPU time is counted).

    Returns the runner's exit code and when it exited; descendants still alive ``linger_s``
    after that are killed (they are this benchmark's own processes).
    """
    status: int | None = None
    exited_at = 0.0
    killed = False
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            assert status is not None
            return status, exited_at
        if pid == main_pid:
            status, exited_at = os.waitstatus_to_exitcode(st), time.perf_counter()
        if pid:
            continue
        if status is not None and not killed and time.perf_counter() - exited_at > linger_s:
            for stray in _descendants(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stray, signal.SIGKILL)
            killed = True
        time.sleep(0.01)


@dataclass
class Measured:
    """One run of one system: wall and CPU time, peak memory, and what the runner returned.

    ``cpu_s`` is the larger of two lower bounds: the kernel's account of reaped descendants
    (misses processes whose parent ignores SIGCHLD) and the sum of every process's last
    sampled CPU time (misses the final < 50 ms of each process)."""

    system: str
    wall_s: float
    cpu_s: float
    cpu_reaped_s: float
    cpu_sampled_s: float
    peak_pss_mib: float
    peak_rss_mib: float
    peak_procs: int
    sampler_cpu_s: float
    result: dict[str, object]


def measure(system: str, argv: list[str], out: Path, env: dict[str, str], log: Path) -> Measured:
    """Run ``argv`` (which writes its JSON result to ``out``) and measure its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_before = time.process_time()
    sampler = TreeSampler()
    sampler.start()
    with open(log, "ab") as logf:
        logf.write(f"\n==== {system}: {' '.join(argv)}\n".encode())
        logf.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=logf, stderr=subprocess.STDOUT)
        status, exited_at = _wait_tree(proc.pid)
        proc.returncode = status
    sampler.stop()
    sampler_cpu = time.process_time() - own_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if status != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{system} exited with {status}; end of {log}:\n{tail}")
    result = json.loads(out.read_text())
    return Measured(
        system,
        exited_at - start,
        max(cpu, sampler.cpu_s()),
        cpu,
        sampler.cpu_s(),
        sampler.peak_pss / 2**20,
        sampler.peak_rss / 2**20,
        sampler.peak_procs,
        sampler_cpu,
        result,
    )


# -- orchestration ---------------------------------------------------------------------------
def system_command(
    system: str, task: Path, out: Path, seed: int, workers: int, flower_cpus: float
) -> list[str]:
    py = sys.executable
    if system == "floor":
        return [py, str(HERE / "hfl_task.py"), str(task), str(out)]
    if system == "rengo-serial":
        return [py, str(HERE / "hfl_rengo_run.py"), str(task), str(out), "serial",
                "1", str(seed)]  # fmt: skip
    if system.startswith("rengo-process"):
        return [py, str(HERE / "hfl_rengo_run.py"), str(task), str(out), "process",
                str(workers), str(seed)]  # fmt: skip
    if system == "flower":
        fpy = FLOWER_VENV / "bin" / "python"
        if not fpy.exists():
            raise SystemExit(f"{fpy} missing: run this script with --setup first")
        return [str(fpy), str(HERE / "hfl_flower_app.py"), str(task), str(out),
                str(flower_cpus)]  # fmt: skip
    raise ValueError(system)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=str(HERE),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )
    return env


def median_run(runs: list[Measured]) -> Measured:
    """The run with the median wall time (its own CPU, memory and result)."""
    ordered = sorted(runs, key=lambda m: m.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b > 0 else "  n/a"


def _fl(m: Measured) -> float:
    return float(m.result["rounds_s"])  # type: ignore[arg-type]


def report(size: tuple[int, int], runs: dict[str, list[Measured]]) -> list[str]:
    """One table per size: the median-wall run of each system, and its ratios."""
    n, r = size
    best = {s: median_run(m) for s, m in runs.items()}
    floor = best.get("floor")
    flower = best.get("flower")
    lines = [
        f"\n== {n} clients x {r} rounds (median of runs by wall time) ==",
        f"{'system':<16} {'wall s':>7} {'(min)':>6} {'fl s':>6} {'cpu s':>6} {'PSS MiB':>8} "
        f"{'RSS MiB':>8} {'procs':>5} {'acc %':>6} | {'vs floor: wall':>14} {'fl':>6} "
        f"{'cpu':>6} {'PSS':>6} | {'Flower / this: wall':>19} {'fl':>6} {'PSS':>6}",
    ]
    for system, m in best.items():
        acc = 100 * float(m.result["final_accuracy"])  # type: ignore[arg-type]
        wmin = min(x.wall_s for x in runs[system])
        vs_floor = (
            f"{fmt_ratio(m.wall_s, floor.wall_s):>14} {fmt_ratio(_fl(m), _fl(floor)):>6} "
            f"{fmt_ratio(m.cpu_s, floor.cpu_s):>6} "
            f"{fmt_ratio(m.peak_pss_mib, floor.peak_pss_mib):>6}"
            if floor
            else " " * 35
        )
        vs_flower = (
            f"{fmt_ratio(flower.wall_s, m.wall_s):>19} {fmt_ratio(_fl(flower), _fl(m)):>6} "
            f"{fmt_ratio(flower.peak_pss_mib, m.peak_pss_mib):>6}"
            if flower
            else ""
        )
        lines.append(
            f"{system:<16} {m.wall_s:7.2f} {wmin:6.2f} {_fl(m):6.2f} {m.cpu_s:6.2f} "
            f"{m.peak_pss_mib:8.1f} {m.peak_rss_mib:8.1f} {m.peak_procs:5d} {acc:6.2f} | "
            f"{vs_floor} | {vs_flower}"
        )
    shas = {s: m.result.get("model_sha") for s, m in best.items()}
    lines.append("final-model fingerprints: " + ", ".join(f"{s}={h}" for s, h in shas.items()))
    if flower is not None:
        extra = float(flower.result["simulation_s"])  # type: ignore[arg-type]
        lines.append(f"flower run_simulation() incl. Ray start/stop: {extra:.2f} s")
    lines += check_targets(runs)
    return lines


def check_targets(runs: dict[str, list[Measured]]) -> list[str]:
    """The issue's targets, each marked PASS or MISS.

    Times are compared on each system's fastest run (least disturbed by other load on the
    machine), with the median-run ratio and the CPU-time ratio shown beside it; memory and
    accuracy on the median run."""
    out: list[str] = []
    best = {s: median_run(m) for s, m in runs.items()}
    fastest = {s: min(m, key=lambda x: x.wall_s) for s, m in runs.items()}

    def mark(ok: bool, text: str) -> None:
        out.append(f"  [{'PASS' if ok else 'MISS'}] {text}")

    def times(a: str, b: str) -> tuple[float, str]:
        """wall(a) / wall(b) on fastest runs, and a note with median-wall and CPU ratios."""
        ratio = fastest[a].wall_s / fastest[b].wall_s
        note = (
            f"(median runs {best[a].wall_s / best[b].wall_s:.2f}x, "
            f"CPU {best[a].cpu_s / best[b].cpu_s:.2f}x)"
        )
        return ratio, note

    rengo = [s for s in runs if s.startswith("rengo")]
    if "floor" in runs and "rengo-serial" in runs:
        ratio, note = times("rengo-serial", "floor")
        mark(ratio <= 1.15, f"rengo-serial wall <= 1.15x floor: {ratio:.2f}x {note}")
        mem = best["rengo-serial"].peak_pss_mib / best["floor"].peak_pss_mib
        mark(mem <= 1.3, f"rengo-serial memory (PSS) <= 1.3x floor: {mem:.2f}x")
    for s in rengo:
        if s.startswith("rengo-process") and "floor" in runs:
            ratio, note = times(s, "floor")
            mark(ratio < 1.0, f"{s} faster than floor: wall {ratio:.2f}x floor {note}")
    if "flower" in runs:
        for s in rengo:
            ratio, note = times("flower", s)
            mark(ratio >= 3.0, f"{s} >= 3x faster than Flower: {ratio:.2f}x {note}")
    accs = {s: 100 * float(m.result["final_accuracy"]) for s, m in best.items()}  # type: ignore[arg-type]
    if "floor" in runs:
        for s in rengo:
            same = best[s].result["model_sha"] == best["floor"].result["model_sha"]
            mark(same, f"{s} final model bit-identical to the floor's")
    for s in rengo:
        for ref in ("floor", "flower"):
            if ref in accs:
                d = abs(accs[s] - accs[ref])
                mark(d <= 0.5, f"{s} accuracy within 0.5 pt of {ref}: {d:.2f} pt")
    return out


def run_line(m: Measured, i: int) -> str:
    """One progress line per measured run."""
    return (
        f"  {m.system:<16} run {i + 1}: wall {m.wall_s:6.2f} s  fl {_fl(m):6.2f} s  "
        f"cpu {m.cpu_s:6.2f} s (reaped {m.cpu_reaped_s:.2f}, sampled {m.cpu_sampled_s:.2f})  "
        f"PSS {m.peak_pss_mib:7.1f} MiB  "
        f"acc {100 * float(m.result['final_accuracy']):.2f}%  "  # type: ignore[arg-type]
        f"(sampler cpu {m.sampler_cpu_s:.2f} s, load {os.getloadavg()[0]:.1f})"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--setup", action="store_true", help="build the Flower venv and exit")
    add("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + str(SYSTEMS))
    add("--sizes", default=",".join(f"{n}x{r}" for n, r in SIZES), help="CLIENTSxROUNDS,...")
    add("--repeats", type=int, default=3, help="runs per system and size (median kept)")
    add("--flower-repeats", type=int, default=2, help="runs of Flower per size")
    add("--workers", type=int, default=2, help="rengo process-pool workers")
    add("--flower-cpus", type=float, default=1.0, help="Flower client_resources num_cpus")
    add("--local-epochs", type=int, default=1, help="the issue's task uses 1; more shows "
        "how the executors scale once training outweighs start-up")  # fmt: skip
    add("--seed", type=int, default=0)
    add("--json", type=Path, help="also write every measurement here")
    add("--log", type=Path, default=Path(tempfile.gettempdir()) / "hfl_vs_flower.log",
        help="the runners' stdout and stderr")  # fmt: skip
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.setup:
        setup_flower_venv()
        return
    systems = [s.replace("-2", f"-{args.workers}") if s.startswith("rengo-process") else s
               for s in args.systems.split(",")]  # fmt: skip
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    env = child_env()
    args.log.write_text("")
    print(
        f"hfl_vs_flower: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"torch threads per process 1; Flower client_resources num_cpus {args.flower_cpus}; "
        f"rengo process workers {args.workers}; repeats {args.repeats} (Flower "
        f"{args.flower_repeats}), interleaved; local epochs {args.local_epochs}; "
        f"runner output in {args.log}",
        flush=True,
    )
    all_lines: list[str] = []
    dump: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="hfl_bench_") as tmp:
        for n, r in sizes:
            task = Path(tmp) / f"task_{n}x{r}.npz"
            info = write_task(task, n, r, args.seed, args.local_epochs)
            print(f"\n{n} clients x {r} rounds: {info}", flush=True)
            runs: dict[str, list[Measured]] = {s: [] for s in systems}
            for i in range(max(args.repeats, args.flower_repeats)):
                for system in systems:
                    reps = args.flower_repeats if system == "flower" else args.repeats
                    if i >= reps:
                        continue
                    out = Path(tmp) / f"{system}_{n}x{r}_{i}.json"
                    cmd = system_command(system, task, out, args.seed, args.workers,
                                         args.flower_cpus)  # fmt: skip
                    m = measure(system, cmd, out, env, args.log)
                    runs[system].append(m)
                    print(run_line(m, i), flush=True)
            lines = report((n, r), {s: ms for s, ms in runs.items() if ms})
            print("\n".join(lines), flush=True)
            all_lines += lines
            dump[f"{n}x{r}"] = {s: [m.__dict__ for m in ms] for s, ms in runs.items()}
    print("\n==== summary ====" + "\n".join(all_lines))
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()

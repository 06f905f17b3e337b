"""Soak a deployed horizontal coordinator: many short rounds, parties that come and go.

The coordinator (:func:`rengo.deploy.serve_coordinator`, gRPC + mTLS, an on-disk run store,
a log file) runs in this process; each party is its own OS process. Every ``--churn``
rounds one party, in turn, does one of three things a week of real parties does:

* ``drop``: its link breaks (the call is cancelled; the process reconnects, same instance),
* ``leave``: it says goodbye and connects again as a new connection (a restart of the
  client code in the same process),
* ``kill``: its process is killed (a laptop closed) and a new process is started.

Every ``--sample`` rounds the coordinator's process is measured: RSS, threads, open file
descriptors, gRPC servers and channels and hub sessions alive (counted with ``gc``), the run
store's size on disk, the log's size, and (with ``--trace``) tracemalloc's top growing
allocation sites since the first sample. ``--runs K`` serves K runs one after another in
this one process (the parties stay and join each); ``--ui`` also serves the dashboard on the
store and keeps one viewer polling it and holding its event stream.

    python benchmarks/soak_coordinator.py --rounds 300 --churn 3 --sample 50 --runs 2

Prints one table row per sample, then the growth from the first sample to the last.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED = 11
FEATURES, CLASSES = 8, 2


# -- a party process --------------------------------------------------------------------
def client_fn(cid: str) -> Any:
    from rengo.hfl import LogisticRegressionClient

    rng = np.random.default_rng(abs(hash(cid)) % 2**32)
    X = rng.normal(size=(40, FEATURES))
    y = (X[:, 0] > 0).astype(np.int64)
    return LogisticRegressionClient(X, y, lr=0.2, local_epochs=1, batch_size=20)


def party_main(address: str, name: str, certs: str) -> None:
    """One party's process: stays connected (a new connection after each run's goodbye)
    and obeys ``drop`` / ``leave`` lines on stdin."""
    from rengo.hfl.client import client_handler
    from rengo.transport.grpc_party import Backoff, PartyConnection
    from rengo.transport.grpc_security import PartyCredentials

    logging.basicConfig(level=logging.WARNING)
    credentials = PartyCredentials.from_directory(certs, name)
    backoff = Backoff(initial=0.05, maximum=0.5, give_up_after=None)
    handler = client_handler(client_fn)
    lock = threading.Lock()
    current: list[PartyConnection] = []

    def connect() -> PartyConnection:
        conn = PartyConnection(
            address, name, credentials, handler=handler, heartbeat_interval=0.5, backoff=backoff
        )
        return conn.start()

    def commands() -> None:
        for line in sys.stdin:
            with lock:
                conn = current[0]
                if line.strip() == "drop":
                    call = conn._call  # the link breaks; the connection reconnects by itself
                    if call is not None:
                        call.cancel()
                elif line.strip() == "leave":
                    conn.close()
                    current[0] = connect()
        os._exit(0)  # the driver went away

    with lock:
        current.append(connect())
    threading.Thread(target=commands, daemon=True).start()
    while True:
        with lock:
            conn = current[0]
        if conn._thread is not None:
            conn._thread.join(0.5)
        with lock:
            if current[0] is conn and conn.ended:  # the run is over: join the next one
                current[0] = connect()


# -- the driver ---------------------------------------------------------------------------
@dataclass
class Sample:
    run: int
    round: int
    rss_mb: float
    threads: int
    fds: int
    servers: int
    channels: int
    sessions: int
    store_mb: float
    log_kb: float
    history_rounds: int
    traced_mb: float
    peak_threads: int


class Parties:
    """The party processes, and the churn actions on them."""

    ACTIONS = ("drop", "leave", "kill")

    def __init__(self, names: list[str], address: str, certs: Path) -> None:
        self.names, self.address, self.certs = names, address, certs
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.turn = 0
        self.done: dict[str, int] = dict.fromkeys(self.ACTIONS, 0)
        for name in names:
            self._start(name)

    def _start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(
            [sys.executable, __file__, "--party", name, self.address, str(self.certs)],
            stdin=subprocess.PIPE,
            text=True,
        )

    def churn(self) -> None:
        name = self.names[self.turn % len(self.names)]
        action = self.ACTIONS[(self.turn // len(self.names)) % len(self.ACTIONS)]
        self.turn += 1
        proc = self.procs[name]
        if action == "kill":
            proc.kill()
            proc.wait()
            self._start(name)
        else:
            assert proc.stdin is not None
            proc.stdin.write(action + "\n")
            proc.stdin.flush()
        self.done[action] += 1

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _alive(type_names: set[str]) -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys(type_names, 0)
    for obj in gc.get_objects():
        kind = type(obj)
        label = f"{kind.__module__}.{kind.__qualname__}"
        if label in counts:
            counts[label] += 1
    return counts


SERVER = "grpc._server._Server"
CHANNEL = "grpc._channel.Channel"
SESSION = "rengo.transport.grpc_hub._Session"


def _thread_kinds() -> str:
    kinds = Counter(re.sub(r"[-_]?\d+$", "", t.name) for t in threading.enumerate())
    return ", ".join(f"{name} {n}" for name, n in sorted(kinds.items()))


def _size(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def soak_folder(prefix: str, names: list[str]) -> tuple[Path, Path, str, Path, list[Path]]:
    """A new work folder with certificates for ``names``, rengo's log going to a file in it,
    a free local address, and the run store's path and files (the database, its WAL).

    Returns
    -------
    tuple
        The folder, the log's path, ``HOST:PORT``, the store's path, the store's files.
    """
    from rengo.transport.certs import init_certificates

    work = Path(tempfile.mkdtemp(prefix=prefix))
    init_certificates(work / "certs", names)
    log_path = work / "coordinator.log"
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger("rengo").addHandler(handler)
    logging.getLogger("rengo").setLevel(logging.INFO)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store_path = work / "runs.db"
    store_files = [store_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm")]
    return work, log_path, f"127.0.0.1:{port}", store_path, store_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="rounds per run")
    parser.add_argument("--runs", type=int, default=1, help="runs served one after another")
    parser.add_argument("--parties", type=int, default=5)
    parser.add_argument("--churn", type=int, default=3, help="one party churns every N rounds")
    parser.add_argument("--sample", type=int, default=50, help="measure every N rounds")
    parser.add_argument("--trace", action="store_true", help="tracemalloc's growing sites")
    parser.add_argument("--ui", action="store_true", help="serve and view the dashboard")
    parser.add_argument("--threads", action="store_true", help="name the threads alive")
    parser.add_argument(
        "--rounds-in-memory",
        type=int,
        help="serve_coordinator's rounds_in_memory (ignored by releases without it)",
    )
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()

    from rengo.deploy import serve_coordinator
    from rengo.hfl import FedAvg, softmax_init
    from rengo.tracking import RunStore
    from rengo.transport.grpc_security import HubSecurity

    names = [f"party{i}" for i in range(args.parties)]
    work, log_path, address, store_path, store_files = soak_folder("rengo-soak-", names)
    store = RunStore(store_path)
    viewer_stop = threading.Event()
    ui = None
    if args.ui:
        from rengo.ui import DashboardServer

        ui = DashboardServer(store_path, "127.0.0.1:0")
        url = ui.start()

        def view() -> None:  # one open page: its event stream, and a poll of the pages
            def stream() -> None:
                while not viewer_stop.is_set():
                    try:
                        with urllib.request.urlopen(f"{url}api/stream", timeout=30) as r:
                            while not viewer_stop.is_set() and r.readline():
                                pass
                    except Exception:
                        time.sleep(0.5)

            threading.Thread(target=stream, daemon=True).start()
            while not viewer_stop.wait(1.0):
                try:
                    runs = json.load(urllib.request.urlopen(f"{url}api/runs", timeout=10))
                    for run in runs.get("runs", [])[:1]:
                        for page in ("", "/clients", "/events", "/presence"):
                            urllib.request.urlopen(
                                f"{url}api/runs/{run['run_id']}{page}", timeout=10
                            ).read()
                except Exception as exc:  # a viewer retries
                    logging.getLogger("soak").debug("viewer: %s", exc)

        threading.Thread(target=view, daemon=True).start()

    parties = Parties(names, address, work / "certs")
    samples: list[Sample] = []
    histories: list[Any] = []
    done = [0]
    snapshots: list[Any] = []
    if args.trace:
        tracemalloc.start(14)
    current_run = [0]
    peak = [threading.active_count()]

    def watch_threads() -> None:  # the most threads alive between two samples
        while not viewer_stop.wait(0.05):
            peak[0] = max(peak[0], threading.active_count())

    threading.Thread(target=watch_threads, daemon=True).start()
    extra: dict[str, Any] = {}
    accepted = inspect.signature(serve_coordinator).parameters
    if args.rounds_in_memory is not None and "rounds_in_memory" in accepted:
        extra["rounds_in_memory"] = args.rounds_in_memory

    def sample(server_round: int) -> None:
        alive = _alive({SERVER, CHANNEL, SESSION})
        traced = tracemalloc.get_traced_memory()[0] / 1e6 if args.trace else 0.0
        if args.trace and server_round > 0 and done[0] % args.sample == 0:
            snapshots.append(tracemalloc.take_snapshot())  # in a run, after the warm-up
            del snapshots[1:-1]  # the first and the latest
        held = sum(len(h.rounds) for h in histories)
        samples.append(
            Sample(
                current_run[0],
                server_round,
                _rss_mb(),
                threading.active_count(),
                len(os.listdir("/proc/self/fd")),
                alive[SERVER],
                alive[CHANNEL],
                alive[SESSION],
                _size(*store_files) / 1e6,
                _size(log_path) / 1e3,
                held,
                traced,
                peak[0],
            )
        )
        peak[0] = threading.active_count()
        print(_row(samples[-1]), flush=True)
        if args.threads:
            print("    threads:", _thread_kinds(), flush=True)

    def on_round(record: Any) -> None:
        done[0] += 1
        if done[0] % args.sample == 0:
            sample(record.server_round)
        if done[0] % args.churn == 0:
            parties.churn()

    print(_header(), flush=True)
    started = time.perf_counter()
    try:
        for run in range(args.runs):
            current_run[0] = run + 1
            if run == 0:
                sample(0)
            history = serve_coordinator(
                FedAvg(min_fit_clients=2, min_available_clients=2, min_evaluate_clients=2),
                softmax_init(FEATURES, CLASSES),
                args.rounds,
                address,
                HubSecurity.from_directory(work / "certs"),
                parties=names,
                min_parties=2,
                join_timeout=120.0,
                rejoin_wait=30.0,
                round_timeout=30.0,
                seed=SEED + run,
                store=store,
                heartbeat_interval=0.5,
                progress=on_round,
                farewell=2.0,
                **extra,
            )
            histories.append(history)  # what a service serving run after run would hold
        time.sleep(6.0)  # stopped sessions' grace timers end
        sample(args.rounds)
    finally:
        viewer_stop.set()
        parties.stop()
        if ui is not None:
            ui.stop()
        store.close()
    seconds = time.perf_counter() - started
    first, last = samples[0], samples[-1]
    print(
        f"\n{done[0]} rounds in {args.runs} run(s), {seconds:.0f} s; churn: "
        + ", ".join(f"{k} {v}" for k, v in parties.done.items())
        + f"; load average {os.getloadavg()[0]:.2f}; work dir {work}"
    )
    print(
        f"growth first->last sample: RSS {last.rss_mb - first.rss_mb:+.1f} MB, threads "
        f"{last.threads - first.threads:+d}, fds {last.fds - first.fds:+d}, sessions alive "
        f"{last.sessions - first.sessions:+d}, store {last.store_mb - first.store_mb:+.2f} MB, "
        f"log {last.log_kb - first.log_kb:+.0f} kB; most threads at once "
        f"{max(x.peak_threads for x in samples)}"
    )
    if args.trace and len(snapshots) == 2:
        print("\ntracemalloc: top growing sites between the first and last sample in a run")
        print_growing_sites(snapshots[0], snapshots[1], 8)
    if args.json is not None:
        args.json.write_text(json.dumps([s.__dict__ for s in samples], indent=1))


COLUMNS = (
    ("run", 3, "{:3d}"),
    ("round", 5, "{:5d}"),
    ("rss_mb", 7, "{:7.1f}"),
    ("threads", 7, "{:7d}"),
    ("fds", 5, "{:5d}"),
    ("servers", 7, "{:7d}"),
    ("channels", 8, "{:8d}"),
    ("sessions", 8, "{:8d}"),
    ("store_mb", 8, "{:8.2f}"),
    ("log_kb", 7, "{:7.0f}"),
    ("history_rounds", 14, "{:14d}"),
    ("traced_mb", 9, "{:9.2f}"),
    ("peak_threads", 12, "{:12d}"),
)


def print_growing_sites(first: Any, last: Any, most: int) -> None:
    """Print tracemalloc's ``most`` top growing allocation sites from ``first`` to ``last``."""
    for stat in last.compare_to(first, "traceback")[:most]:
        frames = " <- ".join(
            f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback)
        )
        print(f"  {stat.size_diff / 1e3:+9.1f} kB {stat.count_diff:+7d} blocks  {frames}")


def _header(columns: tuple[tuple[str, int, str], ...] = COLUMNS) -> str:
    return " ".join(name.rjust(width) for name, width, _ in columns)


def _row(s: Any, columns: tuple[tuple[str, int, str], ...] = COLUMNS) -> str:
    return " ".join(fmt.format(getattr(s, name)) for name, _, fmt in columns)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        party_main(sys.argv[3], sys.argv[2], sys.argv[4])
    else:
        main()

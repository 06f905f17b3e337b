"""Soak a deployed vertical coordinator: run after run of many epochs, links that drop,
parties that are killed and come back.

The coordinator (:func:`rengo.deploy.serve_vertical_coordinator`: hetero LR over gRPC + mTLS,
a small Paillier key, an on-disk run store, checkpoints and ``rejoin_grace``, a log file)
runs in this process, ``--runs`` runs one after another; each party (a label party and
``--hosts`` hosts, small synthetic tables) is its own OS process that joins run after run
(:func:`rengo.deploy.run_vertical_party` in a loop, its own checkpoint folder) and reaches
the coordinator through a relay process the driver can cut. Every ``--churn`` epochs one
disruption, in turn:

* ``drop``: a party's relay cuts its link (both processes keep running; it reconnects),
* ``kill``: a host's process is killed and a new one started on the same checkpoint folder.

Each disruption makes the coordinator take its parties back (a new hub on the same port,
every role resumes from its checkpoints). Every ``--sample`` epochs, and after each run, the
coordinator's process is measured (RSS, threads, open fds, gRPC servers / channels, hub
sessions, hubs and Paillier private keys alive, counted with ``gc``; the run store with its
write-ahead log, the checkpoint folders' files and bytes, the log's lines; with ``--trace``
tracemalloc's heap and its top growing sites) and so is the label party's process, which is
never killed (RSS, threads, fds). After each run the driver checks that the run's recorded
status is ``completed`` (or, past ``max_rejoins``, ``interrupted``), never ``running``, and at
every epoch's end that it is ``running`` (the epochs after each disruption included).

    python benchmarks/soak_vertical.py --runs 3 --epochs 30 --churn 6 --sample 10

Prints one row per sample, then the growth from the sample after run 1 to the last.
``--compare OLD_SRC`` runs the soak ``--repeats`` times on OLD_SRC (``git archive main src``
unpacked) and on this checkout's ``src``, interleaved, each in its own process, and prints
each measure's median [min - max]; ``SOAK_TRACE_PARTY=1`` has the label party print its
traced heap and top growing sites after each run.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED = 5
LABEL = "guest"
ROWS, FEATURES = 120, 4
PASSPHRASE = "a soak passphrase kept apart"
TRACE_PARTY = "SOAK_TRACE_PARTY"
"""Set: the label party prints tracemalloc's heap and top growing sites after each run."""
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "deploy"))  # the tests' cuttable TCP relay

from soak_coordinator import _alive as soak_alive  # noqa: E402
from soak_coordinator import _header, _row, print_growing_sites, soak_folder  # noqa: E402


# -- a party's table --------------------------------------------------------------------
def party_table(name: str, hosts: list[str]) -> tuple[Any, Any]:
    """This party's slice of one synthetic table (every party holds every row)."""
    from rengo.vfl.common import PartyTable

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(ROWS, FEATURES * (1 + len(hosts))))
    y = (x.sum(axis=1) + 0.3 * rng.normal(size=ROWS) > 0).astype(np.int64)
    index = ([LABEL, *hosts]).index(name)
    cols = slice(index * FEATURES, (index + 1) * FEATURES)
    ids = [f"c{i:04d}" for i in range(ROWS)]
    return PartyTable(ids, x[:, cols]), (y if name == LABEL else None)


# -- a party process ----------------------------------------------------------------------
def party_main(name: str, address: str, certs: str, folder: str, hosts: str) -> None:
    """Join run after run as ``name`` (each run's checkpoints under ``folder``)."""
    from rengo.deploy.vertical import run_vertical_party
    from rengo.transport.grpc_party import Backoff
    from rengo.transport.grpc_security import PartyCredentials

    logging.basicConfig(level=logging.ERROR)
    table, labels = party_table(name, hosts.split(","))
    credentials = PartyCredentials.from_directory(certs, name)
    trace = bool(os.environ.get(TRACE_PARTY)) and name == LABEL
    if trace:
        tracemalloc.start(12)
    first: Any = None
    while True:
        if trace:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            first = first or snapshot
            print(f"{name}: traced {tracemalloc.get_traced_memory()[0] / 1e6:.2f} MB", flush=True)
            print_growing_sites(first, snapshot, 6)
        try:
            run_vertical_party(
                address,
                name,
                table,
                credentials,
                labels=labels,
                heartbeat_interval=0.5,
                backoff=Backoff(initial=0.05, maximum=0.3, give_up_after=None),
                linger=5.0,
                connect_timeout=120.0,
                checkpoint_dir=folder,
                rejoin_grace=30.0,
                psi_workers=1,
            )
        except Exception as exc:  # an interrupted run: join the next one
            logging.getLogger("soak").warning("%s: %s", name, exc)
            time.sleep(0.2)


def relay_main(target: str) -> None:
    """A relay process: prints its address; ``cut`` on stdin drops its links for a moment."""
    from link_proxy import Proxy

    proxy = Proxy(target)
    print(proxy.address, flush=True)
    for line in sys.stdin:
        if line.strip() == "cut":
            proxy.cut()
            time.sleep(0.3)
            proxy.restore()
    os._exit(0)


# -- the driver ---------------------------------------------------------------------------
class Parties:
    """The party and relay processes, and the disruptions on them."""

    def __init__(self, names: list[str], hub: str, certs: Path, work: Path) -> None:
        self.names, self.certs, self.work = names, certs, work
        self.relays: dict[str, subprocess.Popen[str]] = {}
        self.addresses: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.turn = 0
        self.done = {"drop": 0, "kill": 0}
        for name in names:
            relay = subprocess.Popen(
                [sys.executable, __file__, "--relay", hub],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert relay.stdout is not None
            self.addresses[name] = relay.stdout.readline().strip()
            self.relays[name] = relay
            self._start(name)

    def _start(self, name: str) -> None:
        hosts = ",".join(n for n in self.names if n != LABEL)
        self.procs[name] = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--party",
                name,
                self.addresses[name],
                str(self.certs),
                str(self.work / name),
                hosts,
            ],
            stdin=subprocess.DEVNULL,
        )

    def disrupt(self) -> str:
        """In turn: drop the label party's link, drop a host's, kill and restart a host
        (the hosts take turns)."""
        hosts = [n for n in self.names if n != LABEL]
        host = hosts[(self.turn // 3) % len(hosts)]
        action, name = (("drop", LABEL), ("drop", host), ("kill", host))[self.turn % 3]
        self.turn += 1
        if action == "kill":
            self.procs[name].kill()
            self.procs[name].wait()
            self._start(name)
        else:
            relay = self.relays[name]
            assert relay.stdin is not None
            relay.stdin.write("cut\n")
            relay.stdin.flush()
        self.done[action] += 1
        return f"{action} {name}"

    def stop(self) -> None:
        for proc in [*self.procs.values(), *self.relays.values()]:
            proc.kill()
            proc.wait()


@dataclass
class Sample:
    run: int
    epochs: int
    rss_mb: float
    threads: int
    fds: int
    servers: int
    channels: int
    sessions: int
    hubs: int
    keys: int
    store_mb: float
    ckpt_files: int
    ckpt_kb: float
    log_lines: int
    traced_mb: float
    party_rss_mb: float
    party_threads: int
    party_fds: int
    after_run: bool
    status: str


def _proc_status(pid: int | str) -> tuple[float, int, int]:
    """RSS MB, threads and open fds of process ``pid``."""
    rss, threads = float("nan"), 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return float("nan"), 0, 0
    return rss, threads, fds


ALIVE = {
    "servers": "grpc._server._Server",
    "channels": "grpc._channel.Channel",
    "sessions": "rengo.transport.grpc_hub._Session",
    "hubs": "rengo.transport.grpc_hub.GrpcHub",
    "keys": "rengo.crypto.keys.PaillierPrivateKey",
}


def _alive() -> dict[str, int]:
    counts = soak_alive(set(ALIVE.values()))
    return {field: counts[label] for field, label in ALIVE.items()}


def _files(folder: Path) -> tuple[int, int]:
    found = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(found), sum(p.stat().st_size for p in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs served one after another")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run")
    parser.add_argument("--hosts", type=int, default=1, help="feature parties (1 or 2)")
    parser.add_argument("--churn", type=int, default=6, help="one disruption every N epochs")
    parser.add_argument("--sample", type=int, default=10, help="measure every N epochs")
    parser.add_argument("--key-bits", type=int, default=512)
    parser.add_argument("--max-rejoins", type=int, default=10)
    parser.add_argument("--trace", action="store_true", help="tracemalloc's growing sites")
    parser.add_argument("--json", type=Path, help="also write the samples here")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_SRC",
        help="run the soak on OLD_SRC (e.g. `git archive main src` unpacked) and on this "
        "checkout's src, interleaved, --repeats times each, and print medians [min - max]",
    )
    parser.add_argument("--repeats", type=int, default=3, help="with --compare")
    args = parser.parse_args()
    if args.compare is not None:
        compare(args)
        return

    from rengo.core.errors import PeerFailure
    from rengo.deploy.vertical import serve_vertical_coordinator
    from rengo.tracking import RunStore
    from rengo.transport.grpc_security import HubSecurity
    from rengo.vfl import HeteroLRConfig

    hosts = [f"host{i}" for i in range(1, args.hosts + 1)]
    names = [LABEL, *hosts]
    work, log_path, listen, store_path, store_files = soak_folder("rengo-vsoak-", names)
    store = RunStore(store_path)
    config = HeteroLRConfig(
        key_bits=args.key_bits, epochs=args.epochs, batch_size=ROWS, learning_rate=0.1, tol=0.0
    )
    parties = Parties(names, listen, work / "certs", work)
    samples: list[Sample] = []
    snapshots: list[Any] = []
    epochs_done = [0]
    current_run = [0]
    statuses: list[str] = []
    in_run: Counter[str] = Counter()
    disruptions: list[str] = []
    if args.trace:
        tracemalloc.start(12)

    def sample(after_run: bool = False) -> None:
        alive = _alive()
        traced = tracemalloc.get_traced_memory()[0] / 1e6 if args.trace else 0.0
        if args.trace and current_run[0] > 1:
            snapshots.append(tracemalloc.take_snapshot())
            del snapshots[1:-1]  # the first after run 1 and the latest
        files, size = _files(work / "checkpoints")
        party_files = [_files(work / name) for name in names]
        rss, threads, fds = _proc_status("self")
        prss, pthreads, pfds = _proc_status(parties.procs[LABEL].pid)
        samples.append(
            Sample(
                current_run[0],
                epochs_done[0],
                rss,
                threads,
                fds,
                alive["servers"],
                alive["channels"],
                alive["sessions"],
                alive["hubs"],
                alive["keys"],
                sum(p.stat().st_size for p in store_files if p.exists()) / 1e6,
                files + sum(f for f, _ in party_files),
                (size + sum(s for _, s in party_files)) / 1e3,
                len(log_path.read_text().splitlines()),
                traced,
                prss,
                pthreads,
                pfds,
                after_run,
                store.list_runs(limit=1)[0].status,  # the current run's, as recorded now
            )
        )
        print(_row(samples[-1], COLUMNS), flush=True)

    def on_progress(event: Any) -> None:
        if event.party != "coordinator" or not event.ends_epoch:
            return
        epochs_done[0] += 1
        in_run[store.list_runs(limit=1)[0].status] += 1
        if epochs_done[0] % args.churn == 0:
            disruptions.append(parties.disrupt())
        if epochs_done[0] % args.sample == 0:
            sample()

    def serve_run(run: int) -> None:
        serve_vertical_coordinator(
            listen,
            HubSecurity.from_directory(work / "certs"),
            names,
            LABEL,
            config=config,
            seed=SEED + run,
            score=False,
            join_timeout=120.0,
            rejoin_wait=2.0,
            rejoin_grace=30.0,
            max_rejoins=args.max_rejoins,
            heartbeat_interval=0.5,
            store=store,
            progress=on_progress,
            checkpoint_dir=work / "checkpoints",
            passphrase=PASSPHRASE,
        )

    print(_header(COLUMNS), flush=True)
    started = time.perf_counter()
    try:
        for run in range(args.runs):
            current_run[0] = run + 1
            try:
                serve_run(run)
            except PeerFailure as exc:  # past max_rejoins: the run is interrupted
                print(f"run {run + 1} stopped: {exc}", flush=True)
            statuses.append(store.list_runs(limit=1)[0].status)
            sample(after_run=True)
        time.sleep(6.0)  # the hubs' and parties' timers end
        sample()
    finally:
        parties.stop()
        store.close()
    seconds = time.perf_counter() - started
    base, last = samples[0], samples[-1]
    base = next((s for s in samples if s.after_run), base)  # after run 1: imports made
    print(
        f"\n{epochs_done[0]} epochs served in {args.runs} run(s), {seconds:.0f} s; "
        f"disruptions: {', '.join(f'{k} {v}' for k, v in parties.done.items())}; recorded "
        f"statuses: {', '.join(statuses)} (at epochs' ends: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(in_run.items()))}); "
        f"load average {os.getloadavg()[0]:.2f}; "
        f"work dir {work}"
    )
    print(
        f"growth after run 1 -> end: RSS {last.rss_mb - base.rss_mb:+.1f} MB, threads "
        f"{last.threads - base.threads:+d}, fds {last.fds - base.fds:+d}, sessions "
        f"{last.sessions - base.sessions:+d}, hubs {last.hubs - base.hubs:+d}, private keys "
        f"{last.keys - base.keys:+d}, checkpoint files {last.ckpt_files - base.ckpt_files:+d}, "
        f"store {last.store_mb - base.store_mb:+.2f} MB, log lines "
        f"{last.log_lines - base.log_lines:+d}; label party: RSS "
        f"{last.party_rss_mb - base.party_rss_mb:+.1f} MB, threads "
        f"{last.party_threads - base.party_threads:+d}, fds {last.party_fds - base.party_fds:+d}"
    )
    if args.trace and len(snapshots) == 2:
        print("\ntracemalloc: top growing sites from the end of run 1 to the last sample")
        print_growing_sites(snapshots[0], snapshots[1], 8)
    if args.json is not None:
        summary = {
            "statuses": statuses,
            "in_run": dict(in_run),
            "disruptions": disruptions,
            "seconds": seconds,
        }
        args.json.write_text(
            json.dumps({"samples": [s.__dict__ for s in samples], **summary}, indent=1)
        )


SOAK_OPTIONS = ("runs", "epochs", "hosts", "churn", "sample", "key_bits", "max_rejoins")
MEASURES: tuple[tuple[str, str], ...] = (
    ("checkpoint files at the end", "{:.0f}"),
    ("checkpoint kB at the end", "{:.0f}"),
    ("coordinator RSS MB at the end", "{:.1f}"),
    ("coordinator threads at samples (max)", "{:.0f}"),
    ("hub sessions alive at samples (max)", "{:.0f}"),
    ("private keys alive at samples (max)", "{:.0f}"),
    ("coordinator fds at the end", "{:.0f}"),
    ("log lines at the end", "{:.0f}"),
    ("label party RSS MB, last run's end", "{:.1f}"),
    ("label party threads at samples (max)", "{:.0f}"),
    ("wall s", "{:.0f}"),
    ("CPU s (driver and its processes)", "{:.0f}"),
)


def _measures(result: dict[str, Any]) -> dict[str, float]:
    samples = result["samples"]
    last = samples[-1]
    ended = [s for s in samples if s["after_run"]]
    return dict(
        zip(
            (name for name, _ in MEASURES),
            (
                last["ckpt_files"],
                last["ckpt_kb"],
                last["rss_mb"],
                max(s["threads"] for s in samples),
                max(s["sessions"] for s in samples),
                max(s["keys"] for s in samples),
                last["fds"],
                last["log_lines"],
                (ended or samples)[-1]["party_rss_mb"],
                max(s["party_threads"] for s in samples),
                result["seconds"],
                result["cpu_s"],
            ),
            strict=True,
        )
    )


def compare(args: argparse.Namespace) -> None:
    """The soak on the old sources and on this checkout's, interleaved, each in its own
    process; prints each measure's median [min - max] for both."""
    import resource
    import statistics

    sources = {"old": args.compare.resolve(), "new": HERE.parent / "src"}
    forwarded = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in SOAK_OPTIONS]
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in sources}
    folder = Path(tempfile.mkdtemp(prefix="rengo-vsoak-compare-"))
    for repeat in range(args.repeats):
        for label, src in sources.items():
            out = folder / f"{label}-{repeat}.json"
            load = os.getloadavg()[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                [sys.executable, __file__, *forwarded, "--json", str(out)],
                env={**os.environ, "PYTHONPATH": str(src)},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = json.loads(out.read_text())
            result["cpu_s"] = (after.ru_utime - before.ru_utime) + (
                after.ru_stime - before.ru_stime
            )
            results[label].append(result)
            print(
                f"{label} #{repeat + 1}: load average {load:.2f} at the start; recorded "
                f"statuses {', '.join(result['statuses'])}; {len(result['disruptions'])} "
                f"disruptions",
                flush=True,
            )
    print(f"\n| measure | old ({sources['old']}) | new ({sources['new']}) |\n|---|---|---|")
    table = {label: [_measures(r) for r in runs] for label, runs in results.items()}
    for name, fmt in MEASURES:
        cells = []
        for label in sources:
            values = [m[name] for m in table[label]]
            cells.append(
                f"{fmt.format(statistics.median(values))} "
                f"[{fmt.format(min(values))} - {fmt.format(max(values))}]"
            )
        print(f"| {name} | {cells[0]} | {cells[1]} |")


COLUMNS = (
    ("run", 3, "{:3d}"),
    ("epochs", 6, "{:6d}"),
    ("rss_mb", 6, "{:6.1f}"),
    ("threads", 7, "{:7d}"),
    ("fds", 4, "{:4d}"),
    ("servers", 7, "{:7d}"),
    ("channels", 8, "{:8d}"),
    ("sessions", 8, "{:8d}"),
    ("hubs", 4, "{:4d}"),
    ("keys", 4, "{:4d}"),
    ("store_mb", 8, "{:8.2f}"),
    ("ckpt_files", 10, "{:10d}"),
    ("ckpt_kb", 7, "{:7.0f}"),
    ("log_lines", 9, "{:9d}"),
    ("traced_mb", 9, "{:9.2f}"),
    ("party_rss_mb", 12, "{:12.1f}"),
    ("party_threads", 13, "{:13d}"),
    ("party_fds", 9, "{:9d}"),
    ("status", 10, "{:>10}"),
)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        party_main(*sys.argv[2:7])
    elif len(sys.argv) > 1 and sys.argv[1] == "--relay":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        relay_main(sys.argv[2])
    else:
        main()

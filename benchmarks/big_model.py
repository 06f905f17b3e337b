"""A 25M-parameter PyTorch model over many simulated clients: wall time per round and peak
memory, beside the floor (the same local steps in a plain loop, plus one weighted average).

The model is an MLP 1024-4096-4096-1024-10 (25.2M float32 parameters, 96 MiB); each client
holds 64 random rows and takes ``--steps`` SGD steps of 32 rows a round. Every case runs in
its own process; peak memory is the RSS summed over it and its children (worker processes,
Ray's, deployed parties), sampled every 50 ms. ``CPU s/round`` is the case process's own CPU
time per round (not its workers' or parties'): on a shared machine it moves less than the
wall time, which other processes' load stretches.

    .venv/bin/python benchmarks/big_model.py --quick                      # 4 clients, 1 round
    .venv/bin/python benchmarks/big_model.py --clients 20 --rounds 2
    .venv/bin/python benchmarks/big_model.py --clients 100 --rounds 2 --cases floor fedavg
    .venv/bin/python benchmarks/big_model.py --cases fedmedian int8 process --clients 20

Cases: ``floor`` (plain loop), ``fedavg`` (serial executor), ``process`` (FedAvg on the
process pool), ``ray`` (FedAvg on Ray, when installed), ``fedmedian``, ``trimmed``
(FedTrimmedAvg, beta 0.1), ``int8`` (FedAvg with int8 update compression), ``secagg``
(FedAvg under SecAgg+), ``grpc`` (FedAvg deployed: the coordinator serving ``--clients``
party processes over gRPC with mTLS on loopback; its own RSS peak is printed apart, its
first round includes the parties' start-up). With ``--quick`` the model is
1024-512-512-1024-10 (1.3M).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import communicate_with_peak_rss

ROWS, BATCH, FEATURES, CLASSES = 64, 32, 1024, 10
CPU_MARKS: list[float] = []
"""This process's CPU seconds in each round (its own: a worker's or party's not counted)."""


def make_model(hidden: int) -> Any:
    """The benchmark's MLP, seeded (every process builds the same initial model)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(FEATURES, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, FEATURES),
        nn.ReLU(),
        nn.Linear(FEATURES, CLASSES),
    )


def client_loader(cid: str) -> Any:
    """Client ``cid``'s 64 random rows, in batches of 32."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(int(cid))
    X = torch.randn(ROWS, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (ROWS,), generator=g)
    return DataLoader(TensorDataset(X, y), batch_size=BATCH)


def run_floor(clients: int, rounds: int, steps: int, hidden: int) -> list[float]:
    """The same local steps in a plain loop with one model, and one weighted average a
    round (float64 running sum, as rengo's): the seconds of each round (its CPU seconds in
    :data:`CPU_MARKS`)."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    model = make_model(hidden)
    params = [t.detach().numpy().copy() for t in model.state_dict().values()]
    marks = []
    for _ in range(rounds):
        start, cpu = time.perf_counter(), time.process_time()
        sums = [np.zeros(p.shape) for p in params]
        for c in range(clients):
            model.load_state_dict(
                {k: torch.from_numpy(v) for k, v in zip(model.state_dict(), params, strict=True)}
            )
            opt = torch.optim.SGD(model.parameters(), 0.01)
            for _, (xb, yb) in zip(range(steps), client_loader(str(c)), strict=False):
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(xb), yb).backward()
                opt.step()
            for s, t in zip(sums, model.state_dict().values(), strict=True):
                s += ROWS * t.detach().numpy().astype(np.float64)
        params = [(s / (ROWS * clients)).astype(p.dtype) for s, p in zip(sums, params, strict=True)]
        marks.append(time.perf_counter() - start)
        CPU_MARKS.append(time.process_time() - cpu)
    return marks


def run_rengo(case: str, clients: int, rounds: int, steps: int, hidden: int) -> list[float]:
    """One rengo simulation of ``case``: the seconds of each round."""
    from rengo.hfl import (
        CompressedUpdates,
        FedAvg,
        FedMedian,
        FedTrimmedAvg,
        SecAggPlus,
        TorchClient,
        get_parameters,
        simulate,
    )

    model: list[Any] = []  # one model per process, built on first use, reloaded every fit

    def client_fn(cid: str) -> TorchClient:
        if not model:
            model.append(make_model(hidden))
        loader = client_loader(cid)
        return TorchClient(model[0], loader, lr=0.01, local_epochs=1)

    strategies = {"fedmedian": FedMedian, "trimmed": FedTrimmedAvg}
    strategy = strategies.get(case, FedAvg)(min_fit_clients=2, min_available_clients=2)
    options: dict[str, Any] = {}
    if case in ("process", "ray"):
        options["executor"] = case
    if case == "int8":
        options["workflow"] = CompressedUpdates("int8")
    if case == "secagg":
        options["workflow"] = SecAggPlus(neighbours=min(8, clients - 1), clip_range=8.0)
    marks: list[float] = []
    last = [time.perf_counter(), time.process_time()]

    def progress(record: Any) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        marks.append(now - last[0])
        CPU_MARKS.append(cpu - last[1])
        last[:] = [now, cpu]

    if steps != ROWS // BATCH:
        raise SystemExit(f"--steps {steps}: each client holds {ROWS // BATCH} batches")
    init = get_parameters(make_model(hidden))
    last[:] = [time.perf_counter(), time.process_time()]
    simulate(client_fn, clients, strategy, init, rounds, seed=0, progress=progress, **options)
    return marks


def party_client_fn(hidden: int) -> Any:
    """A deployed party's ``client_fn``: party ``pK`` holds client ``K``'s rows."""
    from rengo.hfl import TorchClient

    model = make_model(hidden)
    return lambda cid: TorchClient(model, client_loader(cid.lstrip("p")), lr=0.01)


def run_party_process(name: str, address: str, certs: str, hidden: int) -> None:
    """One deployed party (its own process), until the run ends."""
    from rengo.deploy import run_party
    from rengo.transport.grpc_security import PartyCredentials

    credentials = PartyCredentials.from_directory(certs, name)
    run_party(address, name, party_client_fn(hidden), credentials)


def run_deployed(clients: int, rounds: int, hidden: int) -> list[float]:
    """FedAvg served over gRPC with mTLS on loopback to ``clients`` party processes: the
    seconds of each round (the coordinator's RSS peak is printed apart)."""
    import tempfile

    from rengo.deploy import serve_coordinator
    from rengo.hfl import FedAvg, get_parameters
    from rengo.transport.certs import init_certificates
    from rengo.transport.grpc_security import HubSecurity

    certs = tempfile.mkdtemp(prefix="big-model-certs-")
    names = [f"p{i}" for i in range(clients)]
    init_certificates(certs, names)
    parties: list[subprocess.Popen[bytes]] = []

    def listening(hub: Any) -> None:
        address = f"127.0.0.1:{hub.port}"
        for name in names:
            command = [sys.executable, __file__, "--party", name, address, certs, str(hidden)]
            parties.append(subprocess.Popen(command))

    marks: list[float] = []
    last = [time.perf_counter(), time.process_time()]

    def progress(record: Any) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        marks.append(now - last[0])
        CPU_MARKS.append(cpu - last[1])
        last[:] = [now, cpu]

    strategy = FedAvg(min_fit_clients=clients, min_available_clients=clients)
    init = get_parameters(make_model(hidden))

    def started(hub: Any) -> None:
        listening(hub)
        last[:] = [time.perf_counter(), time.process_time()]

    try:
        serve_coordinator(
            strategy, init, rounds, "127.0.0.1:0", HubSecurity.from_directory(certs),
            parties=names, join_timeout=600.0, seed=0, progress=progress,
            on_listening=started,
        )  # fmt: skip
    finally:
        for party in parties:
            party.wait(60)
    return marks


def child(case: str, clients: int, rounds: int, steps: int, hidden: int) -> None:
    """Run one case in this process; print its round times."""
    if case == "floor":
        marks = run_floor(clients, rounds, steps, hidden)
    elif case == "grpc":
        marks = run_deployed(clients, rounds, hidden)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"coordinator peak RSS {own:.0f} MiB", flush=True)
    else:
        marks = run_rengo(case, clients, rounds, steps, hidden)
    print("CPU " + " ".join(f"{m:.3f}" for m in CPU_MARKS), flush=True)
    print("RESULT " + " ".join(f"{m:.3f}" for m in marks), flush=True)


def measure(case: str, args: argparse.Namespace) -> tuple[list[float], list[float], float, str]:
    """Run ``case`` in a child process: its round times, its own CPU seconds in each round,
    the peak RSS (MiB) of it and its children, and an exit note."""
    command = [sys.executable, __file__, "--child", case, str(args.clients), str(args.rounds)]
    command += [str(args.steps), str(args.hidden)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err, peak_bytes = communicate_with_peak_rss(proc)
    out_lines = out.splitlines()
    lines = {x.split(" ", 1)[0]: x for x in out_lines if x.startswith(("RESULT", "CPU"))}
    for extra in out_lines:
        if extra.startswith("coordinator peak RSS"):
            print(f"{'':>10} ({case}: {extra})")
    if proc.returncode != 0 or "RESULT" not in lines:
        tail = (err.strip().splitlines() or ["(no output)"])[-1]
        return [], [], peak_bytes / 2**20, f"failed (exit {proc.returncode}): {tail[:300]}"
    marks = [float(x) for x in lines["RESULT"].split()[1:]]
    cpu = [float(x) for x in lines.get("CPU", "CPU").split()[1:]]
    return marks, cpu, peak_bytes / 2**20, ""


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        run_party_process(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        case, clients, rounds, steps, hidden = sys.argv[2:7]
        child(case, int(clients), int(rounds), int(steps), int(hidden))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="local SGD steps (2: one epoch)")
    parser.add_argument("--hidden", type=int, default=4096, help="hidden width (4096: 25.2M)")
    parser.add_argument("--cases", nargs="+", default=["floor", "fedavg"])
    parser.add_argument("--quick", action="store_true", help="4 clients, 1 round, 1.3M model")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.rounds, args.hidden = 4, 1, 512
    params = sum(p.numel() for p in make_model(args.hidden).parameters())
    print(
        f"{args.clients} clients x {args.rounds} rounds x {args.steps} steps, MLP "
        f"{FEATURES}-{args.hidden}-{args.hidden}-{FEATURES}-{CLASSES} ({params / 1e6:.1f}M "
        f"float32 parameters, {params * 4 / 2**20:.0f} MiB), {os.cpu_count()} CPUs"
    )
    print(
        f"{'case':>10} {'s/round':>8} {'CPU s/round':>11} {'rounds (s)':>18} {'peak MiB':>9} "
        f"{'wall/floor':>10} {'CPU/floor':>9}"
    )
    floor: tuple[float, float] | None = None
    for case in args.cases:
        marks, cpu, peak, note = measure(case, args)
        if note:
            print(f"{case:>10} {'-':>8} {'-':>11} {'-':>18} {peak:9.0f}  {note}")
            continue
        per_round = sum(marks) / len(marks)
        cpu_round = sum(cpu) / len(cpu) if cpu else float("nan")
        floor = (per_round, cpu_round) if case == "floor" else floor
        ratios = (
            f"{per_round / floor[0]:9.2f}x {cpu_round / floor[1]:8.2f}x"
            if floor
            else f"{'-':>10} {'-':>9}"
        )
        shown = " ".join(f"{m:.2f}" for m in marks)
        print(f"{case:>10} {per_round:8.2f} {cpu_round:11.2f} {shown:>18} {peak:9.0f} {ratios}")


if __name__ == "__main__":
    main()

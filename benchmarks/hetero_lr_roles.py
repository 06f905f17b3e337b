"""Where one hetero LR training run spends its CPU, role by role (rengo only, no FATE).

Runs coordinator, guest and hosts as threads on a :class:`~rengo.transport.LocalBus` (as
``benchmarks/hetero_lr.py`` does) and prints, per role: thread CPU seconds, the
ciphertext operation counts per epoch (obfuscators made ahead / on demand / used,
multi-exponentiation terms, decryptions; the counters of ``hetero_lr.py``) and, with
``--profile``, the role's top functions by own time (one :mod:`cProfile` profiler per
role thread). A design tool for removing work the protocol does not need; the side-by-side
figures against FATE come from ``benchmarks/hetero_lr.py``.

Run::

    .venv/bin/python benchmarks/hetero_lr_roles.py --rows 3000 --profile
    .venv/bin/python benchmarks/hetero_lr_roles.py --epochs 2          # 30,000 rows
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import time
from collections.abc import Callable
from typing import Any

from hetero_lr import L2, LEARNING_RATE, OperationCounts, host_column_groups, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=1024)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=None, help="first N rows")
    parser.add_argument("--source", choices=("local", "coordinator"), default="local")
    parser.add_argument("--scheme", choices=("djn", "full"), default="djn")
    parser.add_argument("--processes", type=int, default=0, help="obfuscator_processes")
    parser.add_argument("--profile", action="store_true", help="print each role's top functions")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    from rengo.crypto import generate_paillier_keypair
    from rengo.transport.channel import LocalBus, run_roles
    from rengo.vfl.hetero_lr.config import HeteroLRConfig
    from rengo.vfl.hetero_lr.roles import hetero_lr_coordinator, hetero_lr_guest, hetero_lr_host

    _, x_guest, y, x_host = load(args.rows)
    groups = host_column_groups(args.hosts, x_host.shape[1])
    hosts = [f"host{k}" for k in range(args.hosts)]
    host_x = {name: x_host[:, cols] for name, cols in zip(hosts, groups, strict=True)}
    counts = OperationCounts()
    counts.install()
    config = HeteroLRConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=LEARNING_RATE,
        optimizer="sgd",
        l2=L2,
        tol=0.0,
        obfuscator_source=args.source,
        obfuscator_scheme=args.scheme,
        obfuscator_processes=args.processes,
    )
    parties = ["guest", *hosts]
    keypair = generate_paillier_keypair(args.bits)
    cpu: dict[str, float] = {}
    profiles: dict[str, cProfile.Profile] = {}

    def measured(name: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(channel: Any) -> Any:
            profile = cProfile.Profile(time.thread_time) if args.profile else None
            start = time.thread_time()
            if profile is not None:
                profile.enable()
            try:
                return fn(channel)
            finally:
                if profile is not None:
                    profile.disable()
                    profiles[name] = profile
                cpu[name] = time.thread_time() - start

        return run

    roles: dict[str, Callable[[Any], Any]] = {
        "coordinator": lambda c: hetero_lr_coordinator(c, parties, "guest", keypair=keypair),
        "guest": lambda c: hetero_lr_guest(c, x_guest, y, hosts, config, seed=1),
    }
    for name in hosts:
        roles[name] = lambda c, name=name: hetero_lr_host(c, host_x[name], "guest")
    bus = LocalBus(["coordinator", *parties])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, process = time.perf_counter(), time.process_time()
    results = run_roles(bus, {name: measured(name, fn) for name, fn in roles.items()})
    counts.close_pools()  # worker processes, if any, are reaped and counted below
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - wall
    process = (
        time.process_time()
        - process
        + sum(getattr(after, f) - getattr(children, f) for f in ("ru_utime", "ru_stime"))
    )
    epochs = results["guest"].epochs_run
    print(
        f"rows {len(y)}, {args.bits}-bit, {args.hosts} host(s), {epochs} epoch(s), "
        f"{args.source}/{args.scheme}, {args.processes} worker process(es) per party; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"wall {wall:.2f} s, CPU incl. workers {process:.2f} s ({process / epochs:.2f} s/epoch)")
    operations = counts.per_role(epochs)
    for name in roles:
        ops = ", ".join(
            f"{k} {v:,.0f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in operations.get(name, {}).items()
        )
        print(f"  {name:12s} thread CPU {cpu.get(name, 0.0):7.2f} s   per epoch: {ops}")
    for name, profile in profiles.items():
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
        print(f"\n=== {name} ===")
        print("\n".join(out.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main()

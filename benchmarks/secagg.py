"""Secure aggregation's cost: rengo SecAgg+ against plain FedAvg, round time and bytes.

Task: ``--clients`` clients (50) and a model of ``--params`` float64 parameters (100k, one
array). Each client's "training" is a fixed, seeded perturbation of the global model (a few
milliseconds), so the round time is the protocol's: FedAvg's one exchange against SecAgg+'s
five stages (keys, sealed Shamir shares, their delivery, masked inputs, unmasking; signed
rounds add a consistency check). Both run through the same
``Coordinator`` on the serial executor, every client every round. ``--neighbours`` lists the
SecAgg+ graph degrees to run, each a system of its own: ``all`` (complete graph, i.e. SecAgg),
``log`` (Bell et al.'s k = O(log n), here ``2 * ceil(log2 n)``: 12 at 50 clients, 14 at 100) or
a number. ``--dropouts`` clients drop in the masked-input stage (their masks are rebuilt from
shares). ``--signed`` adds each degree again as a signed system (``SecAgg(signed=True)``:
clients sign their keys and the survivor set with certificates from a throwaway CA made
before the timing, and check each other's; one more stage). ``--max-examples`` is the
public bound on a client's example count (the clients hold 10 to ``clients + 9``); with the
16-bit quantisation it sizes the ring: ``clients *
max_examples * (2^16 - 1)`` must fit, so the default 256 keeps 100 clients in a 32-bit ring
(uint32 masks and words on the wire), 1024 needs 33 bits (uint64). Bytes are everything the
coordinator sent (down) and received (up), codec payloads. The systems are interleaved for
``--repeats`` repeats (>= 3); medians with ranges are printed, with CPU seconds of this process
(it runs every client) and the load average. The unmasked mean is checked against FedAvg's to
the quantisation error on every repeat without dropouts. For each SecAgg+ system it also prints
the cryptography any SecAgg+ round of that size must do, timed here on one core (two X25519
key pairs, ``2k`` agreements and ``k + 1`` mask keystreams per client, one self-mask keystream
per survivor at the coordinator): the round can be no faster than FedAvg's plus that.

``--stages`` also prints each system's wall seconds per stage (an exchange, from its start
to its last reply checked: encoding, the clients' work, the coordinator's checks), median
over the repeats, with its share of the round.

``--task digits-mlp`` replaces the stand-in with real training: scikit-learn's digits (1,797
rows, standardised, shipped with scikit-learn) split evenly over the clients, each a
``TorchClient`` training an MLP 64-768-64-10 (99,786 float32 parameters, ``--params`` is
ignored) for ``--local-epochs`` (1) epochs of SGD, batch 32, lr 0.05, one torch thread. Its
rows say what secure aggregation costs a round that trains (at 50 clients each holds ~36
rows: still a small amount of training per client).

Flower (``--flower``): the same task under Flower 1.42, plain FedAvg and its SecAgg+ workflow
at each listed degree (``num_shares = k + 1``, threshold 0.5), one Ray simulation per system
with ``repeats + 1`` rounds, the first dropped (it starts the client actors), run in the same
invocation after rengo's repeats (a Ray start-up per system makes per-repeat interleaving
impractical). Its rows give wall round times (CPU over Ray's process tree is not measured) and
the bytes its clients' messages carry. The Flower side runs in its own venv:
``--setup`` builds it (``hfl_vs_flower.setup_flower_venv``, the certifi work-around from
/work/shared/bench/ANCHORS.md).

Run:  .venv/bin/python benchmarks/secagg.py --setup                (once, for --flower)
      .venv/bin/python benchmarks/secagg.py                     (50 clients, 100k)
      .venv/bin/python benchmarks/secagg.py --clients 100 --params 1100000
      .venv/bin/python benchmarks/secagg.py --clients 20 --params 20000 --neighbours log
      .venv/bin/python benchmarks/secagg.py --clients 50 --params 1100000 --flower
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.crypto.signatures import SigningIdentity, simulated_identities
from rengo.hfl import Client, Coordinator, FedAvg, SecAggMod, SecAggPlus, make_pool
from rengo.hfl.mods.chain import ClientCall
from rengo.transport.pool import ClientPool, Reply, Request


class PerturbClient(Client):
    """Returns the global model plus a small seeded perturbation (stands in for training)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        rng = np.random.default_rng(self.index)
        new = [p + rng.normal(scale=0.01, size=p.shape) for p in parameters]
        return FitResult(new, 10 + self.index, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


class DropInMaskedInput(SecAggMod):
    """The secagg mod, installed in its place, with the first ``k`` clients disconnecting in
    the masked-input stage."""

    def __init__(self, dropped: set[str], identities: Mapping[str, SigningIdentity]) -> None:
        super().__init__(identities)
        self.dropped = dropped

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if call.key == "secagg.masked_input" and call.client_id in self.dropped:
            raise ConnectionError("dropped")
        return super().__call__(call, call_next)


class CountingPool:
    """Wraps a pool and counts the bytes each way, and the wall seconds of each stage: from
    the exchange's start to its last reply consumed (encoding, the clients' work, the
    coordinator's checks of the replies)."""

    def __init__(self, inner: ClientPool) -> None:
        self.inner = inner
        self.down = 0
        self.up = 0
        self.stage_s: dict[str, float] = {}

    def client_ids(self) -> list[str]:
        return self.inner.client_ids()

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        start, key = time.perf_counter(), None
        for reply in self.inner.request(requests, timeout):
            self.down += reply.bytes_sent
            self.up += reply.bytes_received
            key = reply.key
            yield reply
        if key is not None:
            self.stage_s[key] = self.stage_s.get(key, 0.0) + time.perf_counter() - start

    def close(self) -> None:
        self.inner.close()


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
FLOWER_VENV = HERE.parent / ".bench-venv-flower"

RING_BITS: dict[str, int] = {}
"""The ring each SecAgg+ system ran in (``SecAggPlus.last.ring_bits``)."""
STAGE_S: dict[str, list[tuple[float, dict[str, float]]]] = {}
"""System -> (round s, stage key -> s) of each timed round (``--stages``)."""


def degree(name: str, clients: int) -> int:
    """The ``neighbours`` setting of a ``--neighbours`` entry (0: complete graph)."""
    if name == "all":
        return 0
    if name == "log":
        return 2 * math.ceil(math.log2(clients))
    return int(name)


def shown_degree(name: str, clients: int) -> int:
    """The graph degree SecAgg+ runs with for a ``--neighbours`` entry."""
    k = degree(name, clients)
    return clients - 1 if k == 0 or k >= clients - 1 else k + k % 2


def variant_of(system: str) -> str:
    """The ``--neighbours`` entry of ``secagg-<entry>`` or ``secagg-<entry>-signed``."""
    return system.split("-")[1]


@functools.cache
def signing_identities(clients: int) -> tuple[bytes, Mapping[str, SigningIdentity]]:
    """A throwaway CA and one certificate per client (made once, outside the timing)."""
    return simulated_identities([f"c{i:03d}" for i in range(clients)])


def one_round(system: str, args: argparse.Namespace) -> tuple[float, float, int, int, np.ndarray]:
    """(wall s, CPU s, bytes down, bytes up, new model) of one round of ``system``:
    ``fedavg``, ``secagg-<neighbours>`` or ``secagg-<neighbours>-signed``."""
    secagg, signed = system.startswith("secagg"), system.endswith("-signed")
    ids = [f"c{i:03d}" for i in range(args.clients)]
    dropped = set(ids[: args.dropouts]) if secagg else set()
    ca, identities = signing_identities(args.clients) if signed else (None, {})
    mods = [DropInMaskedInput(dropped, identities)] if secagg else []
    build = digits_client(args) if args.task == "digits-mlp" else perturb_client
    pool = CountingPool(make_pool(build, ids, mods=mods))
    workflow = (
        SecAggPlus(
            neighbours=degree(variant_of(system), args.clients),
            max_examples=args.max_examples,
            signed=signed,
            ca=ca,
        )
        if secagg
        else None
    )
    init = digits_initial() if args.task == "digits-mlp" else [np.zeros(args.params)]
    strategy = FedAvg(min_fit_clients=args.clients - args.dropouts, fraction_evaluate=0.0)
    coordinator = Coordinator(strategy, pool, init, seed=1, workflow=workflow)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    coordinator.run_round(1)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    pool.close()
    if workflow is not None:
        RING_BITS[system] = workflow.last.ring_bits
    STAGE_S.setdefault(system, []).append((wall, pool.stage_s))
    return wall, cpu, pool.down, pool.up, coordinator.parameters[0]


def perturb_client(cid: str) -> Client:
    return PerturbClient(int(cid[1:]))


def digits_initial() -> list[np.ndarray]:
    """The MLP 64-768-64-10's seeded initial weights (99,786 parameters)."""
    import torch

    from rengo.hfl.torch_client import get_parameters, make_mlp

    torch.manual_seed(0)
    return get_parameters(make_mlp(64, 10, hidden=(768, 64)))


@functools.cache
def digits_shares(clients: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Standardised digits and each client's rows (read once per run, not per round)."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return X, y, np.array_split(np.random.default_rng(0).permutation(len(y)), clients)


def digits_client(args: argparse.Namespace) -> Any:
    """Builds client ``cNNN``'s TorchClient over its even share of standardised digits."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl import TorchClient
    from rengo.hfl.torch_client import make_mlp

    torch.set_num_threads(1)
    X, y, parts = digits_shares(args.clients)

    def build(cid: str) -> Client:
        rows = parts[int(cid[1:])]
        data = TensorDataset(torch.from_numpy(X[rows]), torch.from_numpy(y[rows]))
        loader = DataLoader(data, batch_size=32, shuffle=True)
        model = make_mlp(64, 10, hidden=(768, 64))
        return TorchClient(model, loader, lr=0.05, local_epochs=args.local_epochs)

    return build


def crypto_floor_s(clients: int, degree: int, params: int, ring_bits: int) -> float:
    """Seconds of the cryptography that any SecAgg+ round of this size does on one core,
    measured here with the same primitives (``cryptography``'s X25519 and AES-256-CTR):
    per client two key pairs, ``2k`` agreements and ``k + 1`` mask keystreams of the
    masked vector's length, and the coordinator's one self-mask keystream per survivor.
    Not counted: training, quantisation, Shamir shares, sealing, adding masks, messages."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from rengo.crypto.prg import prg_mask
    from rengo.hfl.secagg.protocol import EXTRA

    def best(fn: Any, number: int) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
        return min(times)

    peer = X25519PrivateKey.generate().public_key()
    mine = X25519PrivateKey.generate()
    keygen = best(X25519PrivateKey.generate, 200)
    exchange = best(lambda: mine.exchange(peer), 200)
    seed = os.urandom(32)
    keystream = best(lambda: prg_mask(seed, params + EXTRA, ring_bits), 5)
    per_client = 2 * keygen + 2 * degree * exchange + (degree + 1) * keystream
    return clients * (per_client + keystream)


def run_flower(system: str, args: argparse.Namespace, shares: int) -> dict[str, Any]:
    """One Flower simulation (``secagg_flower_app.py``) of ``repeats + 1`` rounds."""
    from hfl_vs_flower import child_env

    python = FLOWER_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: run this script with --setup first")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = child_env()  # telemetry, update checks and Ray usage stats off, 1 BLAS thread
        argv = [str(python), str(HERE / "secagg_flower_app.py"), system, str(args.clients),
                str(args.params), str(shares), str(args.repeats + 1), str(out)]  # fmt: skip
        log = Path(tmp) / "log.txt"
        with log.open("w") as sink:
            done = subprocess.run(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise SystemExit(f"Flower {system} failed:\n{log.read_text()[-4000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
    rounds = result["round_s"][1:]
    # Flower quantises weight * params (clip 8, 2^22 levels, weights up to 1000): it errs
    # by about 1e-4 per round here, against rengo's 1e-5
    tolerance = 1e-3 * (args.repeats + 1)
    if len(rounds) != args.repeats or result["gap"] is None or result["gap"] > tolerance:
        raise SystemExit(
            f"Flower {system} did not finish its rounds with the expected model: {result} "
            "(its SecAgg+ halts silently when it cannot unmask)"
        )
    result["round_s"] = rounds
    return result


def print_stages(systems: Sequence[str]) -> None:
    """Median wall seconds of each stage of each system's timed rounds, and its share of the
    round."""
    print("\n| system | stage | s (median, range) | share of the round |")
    print("|---|---|---|---|")
    for system in systems:
        rounds = STAGE_S[system]
        keys = list(dict.fromkeys(key for _, stages in rounds for key in stages))
        for key in keys:
            times = [stages.get(key, 0.0) for _, stages in rounds]
            share = statistics.median(stages.get(key, 0.0) / wall for wall, stages in rounds)
            print(
                f"| {system} | {key} | {statistics.median(times):.4f} "
                f"({min(times):.4f}-{max(times):.4f}) | {100 * share:.1f}% |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument(
        "--neighbours",
        default="all,log",
        help="comma-separated SecAgg+ graph degrees: all, log or a number (default all,log)",
    )
    parser.add_argument("--dropouts", type=int, default=0)
    parser.add_argument(
        "--task",
        choices=["perturb", "digits-mlp"],
        default="perturb",
        help="perturb: a seeded stand-in for training (the protocol's cost alone); "
        "digits-mlp: TorchClients train an MLP of 99,786 parameters on digits",
    )
    parser.add_argument("--local-epochs", type=int, default=1, help="digits-mlp epochs")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=256,
        help="SecAgg+ max_examples: the public bound on a client's example count (the "
        "clients hold 10 to clients + 9); it sizes the ring (default 256)",
    )
    parser.add_argument(
        "--signed", action="store_true", help="also run each degree as a signed system"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also print each system's wall seconds per stage (median over the repeats)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flower", action="store_true", help="add Flower 1.42's rows")
    parser.add_argument("--setup", action="store_true", help="build the Flower venv and exit")
    args = parser.parse_args()
    if args.setup:
        from hfl_vs_flower import setup_flower_venv

        setup_flower_venv(FLOWER_VENV)
        return
    if args.repeats < 3:
        parser.error("--repeats must be >= 3 (medians with ranges)")
    if args.task == "digits-mlp":
        if args.flower:
            parser.error("--flower runs the stand-in task only")
        args.params = sum(a.size for a in digits_initial())
    variants = [v.strip() for v in args.neighbours.split(",") if v.strip()]
    for v in variants:
        if v not in ("all", "log") and not v.isdigit():
            parser.error(f"--neighbours entry {v!r}: use all, log or a number")
    systems = ["fedavg", *(f"secagg-{v}" for v in variants)]
    if args.signed:
        systems += [f"secagg-{v}-signed" for v in variants]
    load = os.getloadavg()
    runs: dict[str, list[tuple[float, float, int, int]]] = {s: [] for s in systems}
    if args.task == "digits-mlp":
        one_round("fedavg", args)  # untimed: torch's first optimiser step imports its compiler
        STAGE_S.clear()
    for _ in range(args.repeats):
        models = {}
        for system in systems:  # interleaved
            wall, cpu, down, up, model = one_round(system, args)
            runs[system].append((wall, cpu, down, up))
            models[system] = model
        for system in systems[1:]:
            if args.dropouts == 0:
                gap = float(np.max(np.abs(models[system] - models["fedavg"])))
                assert gap < 1e-4, f"{system} mean differs from FedAvg's by {gap}"
    flower: dict[str, dict[str, Any]] = {}
    if args.flower:
        flower["FedAvg"] = run_flower("plain", args, 0)
        for v in variants:
            k = shown_degree(v, args.clients)
            flower[f"SecAgg+ ({v}: k = {k})"] = run_flower("secagg", args, k + 1)
    load_end = os.getloadavg()
    print(
        f"{args.clients} clients, {args.params} parameters (task {args.task}), dropouts "
        f"{args.dropouts}, "
        f"{args.repeats} repeats; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at "
        f"the start, {load_end[0]:.2f} at the end"
    )
    print(
        "| system | round s (median, range) | CPU s | MB down | MB up | time vs FedAvg "
        "| CPU vs FedAvg | bytes vs FedAvg | up vs FedAvg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    base = runs["fedavg"]
    base_wall = statistics.median(r[0] for r in base)
    base_cpu = statistics.median(r[1] for r in base)
    base_bytes = statistics.median(r[2] + r[3] for r in base)
    base_up = statistics.median(r[3] for r in base)
    for system, rows in runs.items():
        walls = [r[0] for r in rows]
        wall = statistics.median(walls)
        cpu = statistics.median(r[1] for r in rows)
        down = statistics.median(r[2] for r in rows)
        up = statistics.median(r[3] for r in rows)
        if system == "fedavg":
            label = "rengo FedAvg"
        else:
            name = variant_of(system)
            k = shown_degree(name, args.clients)
            signed = ", signed" if system.endswith("-signed") else ""
            label = f"rengo SecAgg+ ({name}: k = {k}, {RING_BITS[system]}-bit ring{signed})"
        print(
            f"| {label} | {wall:.3f} ({min(walls):.3f}-{max(walls):.3f}) | {cpu:.3f} | "
            f"{down / 1e6:.2f} | {up / 1e6:.2f} | {wall / base_wall:.2f}x | "
            f"{cpu / base_cpu:.2f}x | {(down + up) / base_bytes:.2f}x | {up / base_up:.2f}x |"
        )
    for system in systems[1:]:
        if system.endswith("-signed"):
            continue  # the same floor as the unsigned system of its degree
        k = shown_degree(variant_of(system), args.clients)
        floor = crypto_floor_s(args.clients, k, args.params, RING_BITS[system])
        print(
            f"{system}: the cryptography any SecAgg+ round at k = {k} does (keys, agreements, "
            f"mask keystreams; measured here on one core) takes {floor:.3f} s = "
            f"{floor / base_wall:.2f}x FedAvg's round, so such a round takes at least "
            f"{1 + floor / base_wall:.2f}x FedAvg's here"
        )
    if args.stages:
        print_stages(systems)
    if flower:
        plain = flower["FedAvg"]
        plain_wall = statistics.median(plain["round_s"])
        plain_bytes = plain["bytes_down"] + plain["bytes_up"]
        print(
            "\nFlower 1.42 (wall round time after the warm-up round; bytes are what the "
            "clients' messages carry; ratios against Flower's own FedAvg):"
        )
        print("| system | round s (median, range) | MB down | MB up | time vs FedAvg "
              "| bytes vs FedAvg | up vs FedAvg |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for name, result in flower.items():
            walls = result["round_s"]
            wall = statistics.median(walls)
            down, up = result["bytes_down"], result["bytes_up"]
            print(
                f"| Flower {name} | {wall:.3f} ({min(walls):.3f}-{max(walls):.3f}) | "
                f"{down / 1e6:.2f} | {up / 1e6:.2f} | {wall / plain_wall:.2f}x | "
                f"{(down + up) / plain_bytes:.2f}x | {up / plain['bytes_up']:.2f}x |"
            )


if __name__ == "__main__":
    main()

"""Where a SecAgg+ round's time goes: CPU milliseconds per round by category, beside FedAvg's.

Runs rounds of ``benchmarks/secagg.py`` (the seeded stand-in for training, serial executor:
this one process runs every client and the coordinator), FedAvg and SecAgg+ interleaved,
with the functions below wrapped by timers. Each category gets the CPU time (thread time) its
functions spent minus what the wrapped functions they called spent, so the rows add up to
the round. Medians over ``--rounds`` rounds with their ranges, and the load average.

What the categories hold: the cryptography any SecAgg+ round does (AES-CTR masks, X25519
agreements with their HKDF, key generation and loading), the codec (encoding and decoding
every message, reply and client state), quantisation, Shamir sharing, sealing, digests,
the clients' and the coordinator's stage code. "coordinator stage code" also holds the
serial transport the stages drive (requests, replies, copies of payloads), which FedAvg's
"harness, round loop and aggregation" row holds for its one exchange.

The timers cost a little per call (about a microsecond); the totals are a few percent above
an untimed round's CPU time.

Run:  .venv/bin/python benchmarks/secagg_profile.py                  (50 clients, 100k, k = 12)
      .venv/bin/python benchmarks/secagg_profile.py --clients 100 --neighbours all
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import secagg as bench
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import rengo.crypto.shamir as shamir
import rengo.hfl.client as client
import rengo.hfl.secagg.client_mod as client_mod
import rengo.hfl.secagg.protocol as protocol
import rengo.hfl.secagg.workflow as secagg_workflow
import rengo.hfl.workflow as workflow

OWN: dict[str, float] = {}
"""Category -> CPU seconds of the current round, its functions' own time."""
_STACK: list[list[Any]] = []  # [category, start, time of wrapped callees]


def timed(category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, charging its own CPU time (less its wrapped callees') to ``category``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _STACK.append([category, time.thread_time(), 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            name, start, inner = _STACK.pop()
            spent = time.thread_time() - start
            OWN[name] = OWN.get(name, 0.0) + spent - inner
            if _STACK:
                _STACK[-1][2] += spent

    return wrapper


def wrap(owner: Any, names: str, category: str, *, optional: bool = False) -> None:
    """Wrap ``owner``'s attributes ``names`` (space-separated) into ``category``; an
    ``optional`` name that ``owner`` lacks is skipped (it exists in some versions only: the
    script also profiles other copies of the sources, ``PYTHONPATH=<copy>/src``), any other
    fails loudly."""
    for name in names.split():
        if optional and not hasattr(owner, name):
            continue
        setattr(owner, name, timed(category, getattr(owner, name)))


def wrap_checker(name: str) -> None:
    """Wrap the reply checks a checker factory of the workflow module makes."""
    factory = getattr(secagg_workflow, name)

    def made(*args: Any, **kwargs: Any) -> Any:
        return timed("coordinator reply checks", factory(*args, **kwargs))

    setattr(secagg_workflow, name, made)


def install() -> None:
    """Wrap every category's functions (where the modules that call them look them up)."""
    for module in (client, workflow):
        wrap(module, "encode", "codec: encode")
        wrap(module, "decode", "codec: decode")
    wrap(bench.PerturbClient, "fit", "training (stand-in)")
    for module in (client_mod, secagg_workflow):
        wrap(module, "add_masks", "crypto: AES-CTR masks")
        wrap(module, "agree", "crypto: X25519 agreement + HKDF")
        wrap(module, "open_dealt_shares", "opening and checking dealt shares")
        wrap(module, "neighbour_graph", "graph")
        wrap(module, "seed_commitment", "share digests")
        wrap(module, "share_digest", "share digests", optional=True)  # before 2026-12-05
    wrap(protocol, "share_digest", "share digests")  # what the protocol's helpers call
    wrap(secagg_workflow, "public_key_of", "crypto: public key of a rebuilt secret")
    wrap(protocol, "open_sealed", "ChaCha20-Poly1305 seal/open")
    wrap(client_mod, "seal", "ChaCha20-Poly1305 seal/open")
    wrap(client_mod, "new_key_pair", "crypto: X25519 key generation")
    load = timed("crypto: X25519 private key loading", X25519PrivateKey.from_private_bytes)
    X25519PrivateKey.from_private_bytes = staticmethod(load)  # type: ignore[method-assign]
    wrap(client_mod, "split_secret", "Shamir: split")
    wrap(secagg_workflow, "combine_shares", "Shamir: combine")
    wrap(shamir.Share, "from_bytes to_bytes", "Shamir: share (de)serialisation")
    wrap(client_mod, "_quantise_update rounding_room", "quantising the update")
    for name in ("_keys_checker", "_share_checker", "_delivery_checker", "_masked_checker",
                 "_unmask_checker"):  # fmt: skip
        wrap_checker(name)
    wrap(secagg_workflow.SecAggPlus, "_fold", "dequantising and folding the sum")
    wrap(secagg_workflow.SecAggPlus, "_start", "coordinator stage code (+ transport)")
    wrap(secagg_workflow._Rebuild, "__call__", "coordinator unmasking code")
    wrap(client_mod.SecAggMod, "_advertise _share_keys _deliver _masked_input _unmask",
         "client stage code")  # fmt: skip
    wrap(bench, "one_round", "harness, round loop and aggregation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--neighbours", default="log", help="all, log or a number (one)")
    parser.add_argument("--max-examples", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds of each (>= 3)")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be >= 3 (medians with ranges)")
    options = argparse.Namespace(
        clients=args.clients, params=args.params, dropouts=0, task="perturb", local_epochs=1,
        max_examples=args.max_examples, repeats=args.rounds,
    )  # fmt: skip
    systems = ["fedavg", f"secagg-{args.neighbours}"]
    install()
    for system in systems:  # untimed: first calls import and warm caches
        bench.one_round(system, options)
    load = os.getloadavg()
    rounds: dict[str, list[dict[str, float]]] = {system: [] for system in systems}
    for _ in range(args.rounds):
        for system in systems:  # interleaved
            OWN.clear()
            bench.one_round(system, options)
            rounds[system].append(dict(OWN))
    load_end = os.getloadavg()
    k = bench.shown_degree(args.neighbours, args.clients)
    print(
        f"{args.clients} clients, {args.params} parameters, SecAgg+ k = {k}; CPU ms of one "
        f"round (thread time, each category's own), median (range) of {args.rounds} rounds; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start, "
        f"{load_end[0]:.2f} at the end"
    )
    print(f"| category | FedAvg | SecAgg+ k = {k} |")
    print("|---|---|---|")

    def cell(system: str, category: str | None) -> str:
        values = [
            1e3 * (sum(r.values()) if category is None else r.get(category, 0.0))
            for r in rounds[system]
        ]
        if not any(values):
            return "-"
        return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"

    secure = rounds[systems[1]]
    categories = sorted(
        {c for rows in rounds.values() for r in rows for c in r},
        key=lambda c: -statistics.median(r.get(c, 0.0) for r in secure),
    )
    for category in categories:
        print(f"| {category} | {cell(systems[0], category)} | {cell(systems[1], category)} |")
    print(f"| **round** | {cell(systems[0], None)} | {cell(systems[1], None)} |")


if __name__ == "__main__":
    main()

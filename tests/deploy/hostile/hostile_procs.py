"""Processes of the hostile-party suite: a deployed coordinator, honest and lying parties, a
bare routing hub.

``python hostile_procs.py coordinator CERTS STORE ROUNDS PARTIES [options]`` prints
``PORT <n>`` and ``RUN <id>``, serves the digits run (tests/deploy/digits_app.py) and writes
the final model to ``--out``. ``python hostile_procs.py party ADDRESS NAME CERTS [--lie
MODE]`` serves that party's shard, honestly or lying (see :class:`Liar`).
``python hostile_procs.py hub CERTS [--routing] [--budget B]`` is a hub that routes party
messages (as a vertical run's does), printing ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from digits_app import client_fn, initial_parameters, strategy  # noqa: E402

from rengo.core.codec import encode  # noqa: E402
from rengo.core.messages import Config, EvaluateResult, FitResult  # noqa: E402
from rengo.core.parameters import Parameters  # noqa: E402
from rengo.hfl import CheckpointRetention, EarlyStopping, ResultChecks  # noqa: E402

SEED = 7


class Liar:
    """A party's client that lies in its fit results, by ``mode``:

    * ``claim``: returns the global model unchanged (a free rider) claiming ``claim``
      examples;
    * ``flip``: returns its honest update reversed (``2 w - x``: same norm, opposite
      direction) claiming ``claim`` examples;
    * ``count``: trains honestly but claims ``claim`` examples;
    * ``cycle``: round 1 values x 1e300, round 2 int64 arrays of 2**62, round 3 booleans,
      then honest; each claiming ``claim`` examples;
    * ``evaluation``: trains honestly, but evaluates at loss 3 (within 10x the honest
      parties' median loss) and accuracy 0 claiming
      ``claim`` evaluation examples;
    * ``nan-loss`` / ``huge-loss``: honest but in round ``at_round``'s evaluation, which
      reports a NaN loss (and metric), or a loss and metric of 1e140.
    """

    def __init__(self, name: str, mode: str, claim: int, at_round: int = 0) -> None:
        self.inner = client_fn(name)
        self.mode = mode
        self.claim = claim
        self.at_round = at_round

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        honest = self.inner.fit(parameters, config)
        if self.mode in ("evaluation", "nan-loss", "huge-loss"):
            return honest
        if self.mode == "claim":
            return FitResult([np.array(p, copy=True) for p in parameters], self.claim, {})
        if self.mode == "count":
            return FitResult(honest.parameters, self.claim, honest.metrics)
        if self.mode == "flip":
            flipped = [2 * w - x for w, x in zip(parameters, honest.parameters, strict=True)]
            return FitResult(flipped, self.claim, honest.metrics)
        server_round = int(config.get("server_round", 0))  # type: ignore[arg-type]
        arrays = honest.parameters
        if server_round == 1:
            arrays = [np.asarray(a, dtype=np.float64) * 1e300 for a in arrays]
        elif server_round == 2:
            arrays = [np.full(a.shape, 2**62, dtype=np.int64) for a in arrays]
        elif server_round == 3:
            arrays = [np.asarray(a) > 0 for a in arrays]
        return FitResult(arrays, self.claim, honest.metrics)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        if self.mode == "evaluation":
            return EvaluateResult(3.0, self.claim, {"accuracy": 0.0})
        honest = self.inner.evaluate(parameters, config)
        if self.mode in ("nan-loss", "huge-loss") and config.get("server_round") == self.at_round:
            lie = math.nan if self.mode == "nan-loss" else 1e140
            return EvaluateResult(lie, honest.num_examples, {"accuracy": lie})
        return honest


class Sleepy:
    """An honest client that takes ``seconds`` longer over every fit."""

    def __init__(self, name: str, seconds: float) -> None:
        self.inner = client_fn(name)
        self.seconds = seconds

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        time.sleep(self.seconds)
        return self.inner.fit(parameters, config)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return self.inner.evaluate(parameters, config)


def party(args: argparse.Namespace) -> None:
    from rengo.deploy import run_party
    from rengo.transport.grpc_party import Backoff
    from rengo.transport.grpc_security import PartyCredentials

    def make(name: str) -> Any:
        if args.lie:
            return Liar(name, args.lie, args.claim, args.lie_round)
        if args.sleep:
            return Sleepy(name, args.sleep)
        return client_fn(name)

    credentials = PartyCredentials.from_directory(args.certs, args.name)
    backoff = Backoff(initial=0.05, maximum=0.5, give_up_after=args.give_up)
    try:
        run_party(
            args.address,
            args.name,
            make,
            credentials,
            heartbeat_interval=0.5,
            backoff=backoff,
            on_finished=lambda text: print(f"FINISHED {text}", flush=True),
        )
    except Exception as exc:  # the suite reads the reason from the output
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)


def coordinator(args: argparse.Namespace) -> None:
    from rengo.deploy import serve_coordinator
    from rengo.tracking import RunStore
    from rengo.transport.grpc_security import HubSecurity
    from rengo.transport.straggler import StragglerWait

    names = args.parties.split(",")

    def on_listening(hub: Any) -> None:
        print(f"PORT {hub.port}", flush=True)
        print(f"RUN {hub.run_id}", flush=True)

    served = strategy(len(names))
    if args.evaluate:  # every party also evaluates each round's model
        served = replace(served, fraction_evaluate=1.0)
    observers = []
    if args.early_stopping:
        metric, patience, min_delta = args.early_stopping.split(",")
        observers.append(EarlyStopping(metric, int(patience), float(min_delta)))
    retention = (  # by default the suite reads every round's model
        CheckpointRetention(every=1)
        if args.keep_last is None
        else CheckpointRetention(keep_last=args.keep_last)
    )
    with RunStore(args.store) as store:
        history = serve_coordinator(
            served,
            initial_parameters(),
            args.rounds,
            "127.0.0.1:0",
            HubSecurity.from_directory(args.certs),
            parties=names,
            min_parties=args.quorum,
            join_timeout=args.join_timeout,
            round_timeout=args.round_timeout or None,
            stragglers=(
                StragglerWait(factor=args.straggler_factor, grace=args.straggler_grace)
                if args.straggler_factor
                else None
            ),
            seed=SEED,
            store=store,
            heartbeat_interval=0.5,
            on_listening=on_listening,
            checks=ResultChecks.streaming() if args.no_median_rules else None,
            slow_after=args.slow_after,
            slow_rounds=args.slow_rounds,
            farewell=args.farewell,
            checkpoints=retention,
            observers=observers,
            rejoin_wait=args.rejoin_wait,
        )
    if args.out:
        Path(args.out).write_bytes(encode(history.parameters))
    print(f"DONE {len(history.rounds)}", flush=True)
    if history.stopped:
        print(f"STOPPED {history.stopped}", flush=True)


def hub(args: argparse.Namespace) -> None:
    from rengo.transport.grpc_hub import GrpcHub
    from rengo.transport.grpc_security import HubSecurity

    server = GrpcHub(
        "127.0.0.1:0",
        HubSecurity.from_directory(args.certs),
        heartbeat_interval=0.5,
        routing=args.routing,
        max_message_bytes=args.max_message,
        party_memory_budget=args.budget,
    )
    server.start()
    print(f"PORT {server.port}", flush=True)
    while True:  # until the suite kills it
        time.sleep(1)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("party")
    p.add_argument("address")
    p.add_argument("name")
    p.add_argument("certs")
    p.add_argument(
        "--lie", choices=["claim", "count", "flip", "cycle", "evaluation", "nan-loss", "huge-loss"]
    )
    p.add_argument("--claim", type=int, default=1)
    p.add_argument("--lie-round", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--give-up", type=float, default=60.0)
    c = sub.add_parser("coordinator")
    c.add_argument("certs")
    c.add_argument("store")
    c.add_argument("rounds", type=int)
    c.add_argument("parties")
    c.add_argument("--quorum", type=int)
    c.add_argument("--join-timeout", type=float, default=120.0)
    c.add_argument("--round-timeout", type=float, default=30.0)  # 0: none
    c.add_argument("--straggler-factor", type=float, default=10.0)  # 0: no straggler rule
    c.add_argument("--straggler-grace", type=float, default=60.0)
    c.add_argument("--slow-after", type=int, default=3)
    c.add_argument("--slow-rounds", type=int, default=5)
    c.add_argument("--farewell", type=float, default=10.0)
    c.add_argument("--no-median-rules", action="store_true")
    c.add_argument("--evaluate", action="store_true")
    c.add_argument("--early-stopping", help="METRIC,PATIENCE,MIN_DELTA")
    c.add_argument("--keep-last", type=int)
    c.add_argument("--rejoin-wait", type=float, default=0.0)
    c.add_argument("--out")
    h = sub.add_parser("hub")
    h.add_argument("certs")
    h.add_argument("--routing", action="store_true")
    h.add_argument("--budget", type=int)
    h.add_argument("--max-message", type=int, default=64 * 1024**2)
    args = parser.parse_args()
    {"party": party, "coordinator": coordinator, "hub": hub}[args.role](args)


if __name__ == "__main__":
    main()

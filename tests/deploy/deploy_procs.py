"""Entry points the deployment tests start as separate OS processes.

``python deploy_procs.py party ADDRESS NAME CERTS`` and
``python deploy_procs.py coordinator LISTEN CERTS STORE ROUNDS PARTIES [--resume ID]
[--crash-after N] [--out FILE] [--min-parties N] [--join-timeout S] [--rejoin-wait S]``.
The coordinator prints ``PORT <n>`` and ``RUN <id>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from rengo.core.codec import encode
from rengo.deploy import load_app, run_party, serve_coordinator
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

HERE = Path(__file__).parent


def party(args: argparse.Namespace) -> None:
    client_fn = load_app("digits_app:client_fn", search_path=HERE)
    credentials = PartyCredentials.from_directory(args.certs, args.name)
    backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)
    run_party(
        args.address, args.name, client_fn, credentials, heartbeat_interval=0.5, backoff=backoff
    )


def coordinator(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    import digits_app

    names = args.parties.split(",")
    store = RunStore(args.store)

    def on_listening(hub: object) -> None:
        print(f"PORT {hub.port}", flush=True)  # type: ignore[attr-defined]
        print(f"RUN {hub.run_id}", flush=True)  # type: ignore[attr-defined]

    def crash(record: object) -> None:
        if args.crash_after is not None and record.server_round == args.crash_after:  # type: ignore[attr-defined]
            os._exit(1)

    history = serve_coordinator(
        digits_app.strategy(len(names)),
        digits_app.initial_parameters(),
        args.rounds,
        args.listen,
        HubSecurity.from_directory(args.certs, parties=names),  # as `rengo coordinator`
        parties=names,
        min_parties=args.min_parties,
        join_timeout=args.join_timeout,
        rejoin_wait=args.rejoin_wait,
        round_timeout=20.0,
        seed=digits_app.SEED,
        store=store,
        resume=args.resume,
        heartbeat_interval=0.5,
        on_listening=on_listening,
        progress=crash,
    )
    if args.out:
        Path(args.out).write_bytes(encode(history.parameters))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("party")
    p.add_argument("address")
    p.add_argument("name")
    p.add_argument("certs")
    c = sub.add_parser("coordinator")
    c.add_argument("listen")
    c.add_argument("certs")
    c.add_argument("store")
    c.add_argument("rounds", type=int)
    c.add_argument("parties")
    c.add_argument("--resume")
    c.add_argument("--crash-after", type=int)
    c.add_argument("--out")
    c.add_argument("--min-parties", type=int)
    c.add_argument("--join-timeout", type=float, default=120.0)
    c.add_argument("--rejoin-wait", type=float, default=10.0)
    args = parser.parse_args()
    party(args) if args.role == "party" else coordinator(args)


if __name__ == "__main__":
    main()

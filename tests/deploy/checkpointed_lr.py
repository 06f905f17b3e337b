"""A small checkpointed, deployed hetero LR run over two parties (card, bank), its roles in
threads of the test's process: shared by the tests of what such a run leaves behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from background import run_all, serve

from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import HeteroLRConfig, PartyData, PartyTable

PARTIES = ["card", "bank"]
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=5.0)


def two_parties(folder: Path) -> dict[str, PartyData]:
    """The parties' data (60 customers, 2 columns each, the card's labels), and their
    certificates made in ``folder / "certs"``."""
    init_certificates(folder / "certs", PARTIES)
    rng = np.random.default_rng(0)
    ids = np.array([f"c{i:02d}" for i in range(60)])
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 2] > 0).astype(float)
    return {
        "card": PartyData(PartyTable(ids, x[:, :2]), y),
        "bank": PartyData(PartyTable(ids, x[:, 2:])),
    }


def checkpointed_run(
    folder: Path,
    data: dict[str, PartyData],
    store: RunStore,
    epochs: int,
    resume: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Serve one run (``resume``: continue that one) with checkpoints in ``folder /
    "coordinator"`` and ``folder / PARTY``: the coordinator's outcome and each party's."""
    certs = folder / "certs"
    hub, address = serve(
        lambda listening: serve_vertical_coordinator(
            "127.0.0.1:0", HubSecurity.from_directory(certs), PARTIES, "card",
            algorithm="hetero_lr",
            config=HeteroLRConfig(key_bits=512, epochs=epochs, batch_size=30, tol=0.0),
            score=False, join_timeout=20.0, heartbeat_interval=0.5,
            on_listening=listening, store=store, checkpoint_dir=folder / "coordinator",
            seed=1, passphrase="a passphrase kept apart", resume=resume,
        )
    )  # fmt: skip
    roles = {
        name: (
            lambda n=name: run_vertical_party(
                address, n, data[n], PartyCredentials.from_directory(certs, n),
                heartbeat_interval=0.5, backoff=FAST, linger=2.0,
                checkpoint_dir=folder / n,
            )
        )
        for name in PARTIES
    }  # fmt: skip
    parties = run_all(roles, timeout=90)
    return hub.outcome(90), parties

"""A scoring-only deployed run (serve_vertical_coordinator(train=False), parties with kept
models over the gRPC hub with mTLS) records what it scored and with which training run's
models, not the 0 rows it trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from background import run_all, serve

from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import HeteroLRConfig, PartyData, PartyTable
from rengo.vfl.hetero_lr import GuestModel, HostModel
from rengo.vfl.party_model_file import ModelOrigin, new_training_run

PARTIES = ["card", "bank"]
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)


@pytest.mark.timeout(120)
def test_a_scoring_only_run_records_its_scored_rows_and_the_kept_models_training_run(
    tmp_path: Path,
) -> None:
    """Before, `rengo runs show` of a scoring-only run gave 'common_rows 0' and named no
    training run: nothing in the store tied the scores to the run whose models made them."""
    certs = tmp_path / "certs"
    init_certificates(certs, PARTIES)
    rng = np.random.default_rng(0)
    ids = np.array([f"c{i:02d}" for i in range(40)])
    x = rng.normal(size=(40, 6))
    data = {
        "card": PartyData(None, None, PartyTable(ids, x[:, :3])),
        "bank": PartyData(None, None, PartyTable(ids[::-1], x[::-1, 3:])),
    }
    models = {"card": GuestModel(rng.normal(size=3), 0.5), "bank": HostModel(rng.normal(size=3), 1)}
    token = new_training_run()
    origins = {
        name: ModelOrigin(f"{name}.json", "hetero_lr", "card", tuple(PARTIES), token)
        for name in PARTIES
    }
    store = RunStore(tmp_path / "runs.db")
    hub, address = serve(
        lambda listening: serve_vertical_coordinator(
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            PARTIES,
            "card",
            algorithm="hetero_lr",
            config=HeteroLRConfig(key_bits=512, predict_mode="plain"),
            train=False,
            join_timeout=20.0,
            heartbeat_interval=0.5,
            on_listening=listening,
            store=store,
        )
    )
    roles = {
        name: (
            lambda n=name: run_vertical_party(
                address, n, data[n], PartyCredentials.from_directory(certs, n),
                heartbeat_interval=0.5, backoff=FAST, linger=5.0, model=models[n],
                origin=origins[n],
            )
        )
        for name in PARTIES
    }  # fmt: skip
    outcome = run_all(roles, timeout=60)
    report = hub.outcome(60)
    for name, value in outcome.items():
        assert not isinstance(value, BaseException), (name, value)
    assert report.describe() == (
        f"scored 40 rows with the models the parties kept (training run {token[:8]})"
    )
    with store:
        run = store.get_run(report.run_id)
    assert run.summary is not None
    assert run.summary["scored_rows"] == 40 and run.summary["training_run"] == token
    assert "common_rows" not in run.summary
    # the settings this run was given, not defaults that would read as the kept model's
    assert run.config["train"] is False and run.config["key_bits"] == 512
    assert "epochs" not in run.config and "learning_rate" not in run.config

"""SplitNN deployed: the same role functions over the gRPC hub (mTLS, one connection per
party) give exactly the simulated model and predictions; a party that fails stops all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve
from sklearn.datasets import load_breast_cancer

from rengo.core.errors import DataError, PeerFailure
from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import PartyData, PartyTable, SplitNNConfig, VerticalPlan, simulate_vertical
from rengo.vfl.splitnn import SplitNNReport

pytest.importorskip("torch", reason="SplitNN needs the torch extra")

PARTIES = ["card", "bank", "telecom"]
COLUMNS = {"card": slice(0, 10), "bank": slice(10, 20), "telecom": slice(20, 30)}
CONFIG = SplitNNConfig(epochs=2, batch_size=48, learning_rate=0.01, defense="gaussian")
SEED = 9
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)


@pytest.fixture(scope="module")
def data() -> dict[str, PartyData]:
    """Each party misses different customers; 40 held out to score."""
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    rng = np.random.default_rng(3)
    ids = np.array([f"c{i:03d}" for i in range(240)])
    out = {}
    for name, cols in COLUMNS.items():
        train = np.sort(rng.choice(200, 190, replace=False))
        score = 200 + np.sort(rng.choice(40, 36, replace=False))
        labels = y[train] if name == "card" else None
        out[name] = PartyData(
            PartyTable(ids[train], x[train, cols]), labels, PartyTable(ids[score], x[score, cols])
        )
    return out


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("splitnn-certs")
    init_certificates(directory, PARTIES)
    return directory


def deploy(
    certs: Path,
    data: dict[str, PartyData],
    store: RunStore | None = None,
    config: SplitNNConfig = CONFIG,
) -> dict[str, Any]:
    """The run deployed: a hub and one connection per party, in threads."""
    hub, address = serve(
        lambda listening: serve_vertical_coordinator(
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            PARTIES,
            "card",
            algorithm="splitnn",
            config=config,
            seed=SEED,
            join_timeout=20.0,
            heartbeat_interval=0.5,
            on_listening=listening,
            store=store,
        )
    )

    def join(name: str) -> Any:
        return run_vertical_party(
            address,
            name,
            data[name],
            PartyCredentials.from_directory(certs, name),
            heartbeat_interval=0.5,
            backoff=FAST,
            linger=5.0,
            own_seed=SEED,  # the simulation's initial weights (each party's own, unsent)
        )

    outcome = run_all({name: (lambda n=name: join(n)) for name in PARTIES}, timeout=120.0)
    return {**outcome, "coordinator": hub.outcome(120.0)}


@pytest.mark.timeout(240)
def test_splitnn_over_the_grpc_hub_equals_the_simulation(
    data: dict[str, PartyData], certs: Path, tmp_path: Path
) -> None:
    plan = VerticalPlan("card", ("bank", "telecom"), CONFIG, SEED, algorithm="splitnn")
    simulated = simulate_vertical(plan, data).parties
    store = RunStore(tmp_path / "runs.db")
    outcome = deploy(certs, data, store)
    for name in PARTIES:
        assert not isinstance(outcome[name], BaseException), outcome[name]
    deployed = outcome["card"]
    np.testing.assert_array_equal(deployed.score_ids, simulated["card"].score_ids)
    np.testing.assert_array_equal(deployed.scores, simulated["card"].scores)
    assert deployed.model.losses == simulated["card"].model.losses
    for name in ("bank", "telecom"):
        for a, b in zip(outcome[name].model.bottom, simulated[name].model.bottom, strict=True):
            np.testing.assert_array_equal(a, b)
    report = outcome["coordinator"]
    assert report.plan.algorithm == "splitnn"
    assert report.outcome.training == SplitNNReport(CONFIG.epochs)
    # the coordinator recorded each epoch as the label party ended it (before, a deployed
    # split-learning run's record held none: the dashboard showed no progress), no loss
    with store:
        kept = store.rounds(report.run_id)
        assert [r.round for r in kept] == list(range(1, CONFIG.epochs + 1))
        assert store.round_metrics(report.run_id) == {}
        assert store.get_run(report.run_id).summary["epochs_run"] == CONFIG.epochs


@pytest.mark.timeout(240)
def test_a_feature_party_with_a_missing_value_stops_everyone_naming_it(
    data: dict[str, PartyData], certs: Path
) -> None:
    broken = dict(data)
    table = data["telecom"].table
    assert table is not None
    x = table.features.copy()
    x[0, 2] = np.nan
    broken["telecom"] = PartyData(PartyTable(table.ids, x), None, data["telecom"].score_table)
    outcome = deploy(certs, broken)
    assert isinstance(outcome["telecom"], DataError)
    assert "telecom: column 2" in str(outcome["telecom"])
    for name in ("coordinator", "card", "bank"):
        failure = outcome[name]
        assert isinstance(failure, PeerFailure), (name, failure)
        assert failure.role == "telecom"


EARLY = SplitNNConfig(
    epochs=6,
    batch_size=48,
    validation_fraction=0.25,
    n_iter_no_change=1,
    tol=10.0,  # the second epoch cannot beat the first by 10: it stops there
    class_weight="balanced",
)


@pytest.mark.timeout(240)
def test_an_early_stopped_class_weighted_run_deployed_equals_the_simulation(
    data: dict[str, PartyData], certs: Path
) -> None:
    plan = VerticalPlan("card", ("bank", "telecom"), EARLY, SEED, algorithm="splitnn")
    simulated = simulate_vertical(plan, data).parties
    outcome = deploy(certs, data, config=EARLY)
    for name in PARTIES:
        assert not isinstance(outcome[name], BaseException), outcome[name]
    deployed = outcome["card"]
    assert deployed.model.epochs_run == 2 and len(deployed.model.validation_losses) == 2
    assert deployed.model.validation_losses == simulated["card"].model.validation_losses
    np.testing.assert_array_equal(deployed.scores, simulated["card"].scores)
    for name in ("bank", "telecom"):
        assert outcome[name].model.epochs_run == 2
        for a, b in zip(outcome[name].model.bottom, simulated[name].model.bottom, strict=True):
            np.testing.assert_array_equal(a, b)
    assert outcome["coordinator"].outcome.training == SplitNNReport(2)

"""A vertical algorithm registered in a test runs through the one vertical runner, in
simulation and over the gRPC hub, with identical results: the registry and runner express
algorithms without a coordinator role, with the key at the label party, and with
multi-column predictions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve
from sklearn.datasets import load_breast_cancer
from toy_vertical import TOY, ToyConfig, ToyGuestModel

from rengo.core.errors import ConfigError, PeerFailure
from rengo.crypto import PaillierPrivateKey
from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import (
    PartyData,
    PartyTable,
    VerticalEstimator,
    VerticalPlan,
    register,
    simulate_vertical,
    unregister,
)

PARTIES = ["card", "bank", "telecom"]
COLUMNS = {"card": slice(0, 3), "bank": slice(3, 6), "telecom": slice(6, 9)}
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)


@pytest.fixture(autouse=True)
def toy() -> Iterator[None]:
    register(TOY)
    yield
    unregister(TOY.name)


@pytest.fixture(scope="module")
def data() -> dict[str, PartyData]:
    """Each party misses different customers; 40 held out to score."""
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    rng = np.random.default_rng(3)
    ids = np.array([f"c{i:03d}" for i in range(200)])
    out = {}
    for name, cols in COLUMNS.items():
        train = np.sort(rng.choice(160, 150, replace=False))
        score = 160 + np.sort(rng.choice(40, 36, replace=False))
        labels = y[train] if name == "card" else None
        out[name] = PartyData(
            PartyTable(ids[train], x[train, cols]), labels, PartyTable(ids[score], x[score, cols])
        )
    return out


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("toy-certs")
    init_certificates(directory, PARTIES)
    return directory


def plan(**changes: Any) -> VerticalPlan:
    return VerticalPlan(
        "card", ("bank", "telecom"), ToyConfig(scale=0.5), 11, algorithm="toy_sum", **changes
    )


def test_a_registered_algorithm_runs_in_simulation_without_a_coordinator_role(
    data: dict[str, PartyData],
) -> None:
    run = simulate_vertical(plan(), data)
    card = run.parties["card"]
    assert isinstance(card.model, ToyGuestModel)
    assert isinstance(card.keys[1], PaillierPrivateKey)  # the label party made and kept it
    assert all(run.parties[h].keys is None for h in ("bank", "telecom"))
    assert run.coordinator.training is None and run.coordinator.keys is None
    assert card.scores is not None and card.scores.shape == (len(card.score_ids), 2)
    np.testing.assert_allclose(card.scores.sum(axis=1), 1.0)
    keys = {e.key for e in run.transcript}
    assert {"run/plan", "train/psi/hello", "train/toy/sums", "score/toy/sums", "run/done"} <= keys
    assert not any(e.sender == "coordinator" and "toy" in e.key for e in run.transcript)


def test_the_generic_estimator_fits_and_predicts_a_registered_algorithm(
    data: dict[str, PartyData],
) -> None:
    run = simulate_vertical(plan(), data)
    estimator = VerticalEstimator.for_algorithm(TOY)(scale=0.5, seed=11)
    assert type(estimator).__name__ == "ToySumEstimator" and estimator.scale == 0.5
    tables = {name: d.table for name, d in data.items()}
    estimator.fit({n: t for n, t in tables.items() if t is not None}, "card", data["card"].labels)
    ids, predictions = estimator.predict_raw({n: d.score_table for n, d in data.items()})  # type: ignore[misc]
    card = run.parties["card"]
    np.testing.assert_array_equal(ids, card.score_ids)
    np.testing.assert_array_equal(predictions, card.scores)
    with pytest.raises(ConfigError, match="did you mean 'scale'"):
        VerticalEstimator.for_algorithm(TOY)(scael=2.0)


def deploy(certs: Path, data: dict[str, PartyData]) -> dict[str, Any]:
    """The toy run deployed: a hub and one connection per party, in threads."""
    hub, address = serve(
        lambda listening: serve_vertical_coordinator(
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            PARTIES,
            "card",
            algorithm="toy_sum",
            config=ToyConfig(scale=0.5),
            seed=11,
            join_timeout=20.0,
            heartbeat_interval=0.5,
            on_listening=listening,
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
        )

    outcome = run_all({name: (lambda n=name: join(n)) for name in PARTIES})
    return {**outcome, "coordinator": hub.outcome()}


@pytest.mark.timeout(90)
def test_the_same_algorithm_over_the_grpc_hub_equals_the_simulation(
    data: dict[str, PartyData], certs: Path
) -> None:
    simulated = simulate_vertical(plan(), data).parties["card"]
    outcome = deploy(certs, data)
    for name in PARTIES:
        assert not isinstance(outcome[name], BaseException), outcome[name]
    deployed = outcome["card"]
    np.testing.assert_array_equal(deployed.score_ids, simulated.score_ids)
    np.testing.assert_array_equal(deployed.scores, simulated.scores)
    np.testing.assert_array_equal(deployed.model.means, simulated.model.means)
    report = outcome["coordinator"]
    assert report.plan.algorithm == "toy_sum" and report.outcome.training is None
    assert (
        report.describe() == "trained on 144 common rows; scored 32 rows"
        or "trained on" in report.describe()
    )


@pytest.mark.timeout(90)
def test_a_feature_party_failing_over_the_hub_stops_everyone_naming_it(
    data: dict[str, PartyData], certs: Path
) -> None:
    broken = dict(data)
    broken["telecom"] = PartyData(data["telecom"].table, np.zeros(150), data["telecom"].score_table)
    outcome = deploy(certs, broken)
    assert isinstance(outcome["telecom"], ConfigError)  # it was given labels it must not hold
    for name in ("coordinator", "card", "bank"):
        failure = outcome[name]
        assert isinstance(failure, PeerFailure), (name, failure)
        assert (failure.role, failure.reason) == ("telecom", "ConfigError")

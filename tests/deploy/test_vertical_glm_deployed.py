"""Hetero linear and Poisson regression deployed over the gRPC hub (coordinator and every
party in their own connection) equal the in-process simulation exactly: same models, same
predictions (the vertical runner is the same code; masks and keys cancel) - also with the
default settings, where the label party stops training early and cuts the learning rate at
plateaus (its verdicts cross the hub each epoch), and with the label party's exposure, whose
held-out evaluation weighs the frequencies by it as ``rengo run`` does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve

from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import (
    HeteroLinearConfig,
    HeteroPoissonConfig,
    PartyData,
    PartyTable,
    VerticalPlan,
    simulate_vertical,
)
from rengo.vfl.hetero_lr.math import adaptive_lr_scale
from rengo.vfl.hetero_poisson.algorithm import exposure_metrics

PARTIES = ["shop", "bank", "telco"]
COLUMNS = {"shop": slice(0, 3), "bank": slice(3, 5), "telco": slice(5, 7)}
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)
SEED = 13
CONFIGS = {
    "hetero_linear": HeteroLinearConfig(key_bits=512, epochs=2, batch_size=64, tol=0.0),
    "hetero_poisson": HeteroPoissonConfig(
        key_bits=512, epochs=2, batch_size=64, tol=0.0, obfuscator_source="coordinator"
    ),
    "hetero_poisson defaults": HeteroPoissonConfig(key_bits=1024),
    # the label party brings an exposure per row (its own, never sent)
    "hetero_poisson exposure": HeteroPoissonConfig(key_bits=512, epochs=2, batch_size=64, tol=0.0),
    # with L2 each host adds Enc(1/mean count) * (rows l2 w) to its encrypted gradient
    "hetero_poisson l2": HeteroPoissonConfig(
        key_bits=512, epochs=2, batch_size=64, tol=0.0, l2=0.05
    ),
}


def _data(algorithm: str, exposed: bool = False) -> dict[str, PartyData]:
    """Each party misses different customers; 40 held out to score (``exposed``: the label
    party has each row's exposure and the held-out rows' counts)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 7))
    u = x @ np.array([0.3, -0.2, 0.1, 0.25, -0.15, 0.2, 0.1])
    exposure = 1.0 - rng.uniform(0.0, 0.9, 200)
    y = (
        u + rng.normal(0, 0.2, 200)
        if algorithm == "hetero_linear"
        else rng.poisson(exposure * np.exp(u) if exposed else np.exp(u))
    )
    ids = np.array([f"c{i:03d}" for i in range(200)])
    out = {}
    for name, cols in COLUMNS.items():
        train = np.sort(rng.choice(160, 150, replace=False))
        score = 160 + np.sort(rng.choice(40, 36, replace=False))
        labels = y[train].astype(float) if name == "shop" else None
        out[name] = PartyData(
            PartyTable(ids[train], x[train, cols]), labels, PartyTable(ids[score], x[score, cols])
        )
        if exposed and name == "shop":
            out[name] = replace(
                out[name],
                score_labels=y[score].astype(float),
                exposure=exposure[train],
                score_exposure=exposure[score],
            )
    return out


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("glm-certs")
    init_certificates(directory, PARTIES)
    return directory


def deploy(
    certs: Path, data: dict[str, PartyData], algorithm: str, config: Any, store: Any = None
) -> dict[str, Any]:
    hub, address = serve(
        lambda listening: serve_vertical_coordinator(
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            PARTIES,
            "shop",
            algorithm=algorithm,
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
        )

    outcome = run_all({name: (lambda n=name: join(n)) for name in PARTIES}, timeout=120)
    return {**outcome, "coordinator": hub.outcome(120)}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("setting", list(CONFIGS))
def test_deployed_over_the_grpc_hub_equals_the_simulation(certs: Path, setting: str) -> None:
    algorithm, config = setting.split()[0], CONFIGS[setting]
    exposed = setting.endswith("exposure")
    data = _data(algorithm, exposed)
    plan = VerticalPlan("shop", ("bank", "telco"), config, SEED, algorithm=algorithm)
    simulated = simulate_vertical(plan, data)
    outcome = deploy(certs, data, algorithm, config)
    for name in PARTIES:
        assert not isinstance(outcome[name], BaseException), outcome[name]
        np.testing.assert_array_equal(
            outcome[name].model.weights, simulated.parties[name].model.weights
        )
    deployed, expected = outcome["shop"], simulated.parties["shop"]
    assert deployed.model.intercept == expected.model.intercept
    assert deployed.model.losses == expected.model.losses
    np.testing.assert_array_equal(deployed.score_ids, expected.score_ids)
    np.testing.assert_array_equal(deployed.scores, expected.scores)
    assert np.all(np.isfinite(deployed.scores)) and len(deployed.scores) > 20
    if exposed:  # its evaluation: the rates against counts over their exposures
        shop = data["shop"]
        assert shop.score_table is not None and shop.score_exposure is not None
        by_id = dict(zip(shop.score_table.ids, shop.score_exposure, strict=True))
        counts = dict(zip(shop.score_table.ids, np.asarray(shop.score_labels), strict=True))
        ids = list(deployed.score_ids)
        expected_metrics = exposure_metrics(
            np.array([counts[i] for i in ids]), deployed.scores, np.array([by_id[i] for i in ids])
        )
        assert deployed.held_out.metrics == pytest.approx(expected_metrics)
        assert set(expected_metrics) >= {"poisson_deviance", "d2_poisson", "gini"}
    report = outcome["coordinator"]
    assert report.plan.algorithm == algorithm
    epochs = deployed.model.epochs_run
    assert f"trained {epochs} epochs" in report.describe()
    if config.tol == 0:
        assert epochs == 2
    else:  # the defaults: it cut the rate at least once and stopped once converged
        scale, stopped = adaptive_lr_scale(
            deployed.model.losses, config.tol, config.n_iter_no_change, config.lr_decay
        )
        assert scale < 1 and stopped and deployed.model.converged and epochs < config.epochs


@pytest.mark.timeout(240)
def test_a_last_epoch_the_store_refused_is_recorded_with_the_held_out_metrics(
    certs: Path, tmp_path: Path
) -> None:
    """A deployed coordinator whose store refused the last epoch's record (busy past its
    lock wait) never wrote that epoch - no later epoch took it along - and put the run's
    held-out metrics onto the epoch before it. It now writes refused epochs as the run ends,
    before the held-out metrics go onto the last one."""
    from rengo.tracking import RunStore
    from rengo.tracking.errors import StoreBusyError

    config = CONFIGS["hetero_poisson exposure"]
    with RunStore(tmp_path / "runs.db") as store:
        log_round, refused = store.log_round, []

        def busy_once_at_epoch_2(run_id: str, number: int, *args: Any, **kwargs: Any) -> None:
            if number == 2 and not refused:
                refused.append(number)
                raise StoreBusyError("the run store is busy (test)")
            log_round(run_id, number, *args, **kwargs)

        store.log_round = busy_once_at_epoch_2  # type: ignore[method-assign]
        outcome = deploy(
            certs, _data("hetero_poisson", exposed=True), "hetero_poisson", config, store
        )
        assert not isinstance(outcome["shop"], BaseException), outcome["shop"]
        (run,) = store.list_runs()
        rounds = store.rounds(run.run_id)
    assert refused == [2] and run.status == "completed"
    assert [r.round for r in rounds] == [1, 2]
    assert {k for k in rounds[1].metrics if k.startswith("test_")} >= {"test_d2_poisson"}
    assert not any(k.startswith("test_") for k in rounds[0].metrics)

"""A job's ``[train]`` optimiser settings: the learning rate decays per round as told to every
client, an MLP's clients train with the optimiser named (SGD with momentum, Adam, weight
decay), and settings a model cannot train with are refused naming the key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.jobs import build_hfl_job
from rengo.jobs.build import build_strategy, job_settings
from rengo.jobs.spec import parse_job

torch = pytest.importorskip("torch")

BASE: dict[str, dict[str, object]] = {
    "job": {"name": "train-options", "rounds": 2, "seed": 0},
    "data": {"dataset": "wine"},
    "partition": {"scheme": "iid", "num_clients": 3},
    "model": {"type": "mlp", "hidden": [8]},
}


def _job(**train: object) -> dict[str, dict[str, object]]:
    return {**BASE, "train": {"lr": 0.1, **train}}


@given(st.floats(0.5, 1.0), st.integers(1, 200))
def test_every_client_is_told_the_decayed_learning_rate(decay: float, server_round: int) -> None:
    strategy = build_strategy(parse_job(_job(lr_decay=decay), "job.toml"))
    assert strategy.on_fit_config is not None
    config = strategy.on_fit_config(server_round)
    assert config["lr"] == pytest.approx(0.1 * decay ** (server_round - 1), rel=1e-12)
    assert config["local_epochs"] == 1 and config["batch_size"] == 32


def test_a_constant_learning_rate_is_the_default() -> None:
    strategy = build_strategy(parse_job(_job(), "job.toml"))
    assert strategy.on_fit_config is not None
    assert {strategy.on_fit_config(r)["lr"] for r in (1, 10, 100)} == {0.1}


@pytest.mark.parametrize(
    ("train", "kind", "settings"),
    [
        ({}, torch.optim.SGD, {"momentum": 0.0, "weight_decay": 0.0}),
        ({"momentum": 0.9, "weight_decay": 1e-4}, torch.optim.SGD, {"momentum": 0.9}),
        ({"optimizer": "adam", "weight_decay": 1e-3}, torch.optim.Adam, {"weight_decay": 1e-3}),
    ],
)
def test_mlp_clients_train_with_the_optimiser_the_job_names(
    train: dict[str, object], kind: type, settings: dict[str, float]
) -> None:
    job = build_hfl_job(parse_job(_job(**train), "job.toml"))
    client = job.client_fn(job.client_ids[0])
    optimizer = client.optimizer(list(client.model.parameters()), 0.05)  # type: ignore[attr-defined]
    assert isinstance(optimizer, kind)
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.05
    for key, value in settings.items():
        assert group[key] == value


def test_an_adam_job_learns(tmp_path: object) -> None:
    """Adam with weight decay fits the wine data in a few rounds (it is not silently SGD)."""
    from rengo.hfl import simulate

    text = _job(optimizer="adam", lr=0.01, weight_decay=1e-4, local_epochs=3)
    text["job"] = {**text["job"], "rounds": 4}
    job = build_hfl_job(parse_job(text, "job.toml"))
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, rounds=4, seed=0
    )
    assert history.rounds[-1].metrics["central_accuracy"] > 0.8


@pytest.mark.parametrize(
    ("model", "train", "key"),
    [
        ("mlp", {"optimizer": "adam", "momentum": 0.9}, "train.momentum"),
        ("logistic", {"optimizer": "adam"}, "train.optimizer"),
        ("logistic", {"momentum": 0.5}, "train.momentum"),
        ("logistic", {"weight_decay": 0.01}, "train.weight_decay"),
        ("mlp", {"lr_decay": 0.0}, "train.lr_decay"),
        ("mlp", {"lr_decay": 1.5}, "train.lr_decay"),
        ("mlp", {"optimizer": "rmsprop"}, "train.optimizer"),
        ("mlp", {"momentum": 1.0}, "train.momentum"),
    ],
)
def test_settings_the_model_cannot_train_with_are_refused(
    model: str, train: dict[str, object], key: str
) -> None:
    raw = {**_job(**train), "model": {"type": model}}
    with pytest.raises(ConfigError, match=key):
        parse_job(raw, "job.toml")


def test_settings_at_their_defaults_are_not_recorded() -> None:
    """A run recorded before these settings existed still resumes with a job that leaves
    them out; one that sets them records them, so a resume with others is refused."""
    assert set(job_settings(parse_job(_job(), "job.toml"))["train"]) == {
        "lr",
        "local_epochs",
        "batch_size",
        "device",
    }
    recorded = job_settings(parse_job(_job(optimizer="adam", lr_decay=0.99), "job.toml"))
    assert recorded["train"]["optimizer"] == "adam" and recorded["train"]["lr_decay"] == 0.99


def test_scaffold_refuses_an_optimiser_other_than_plain_sgd() -> None:
    for train in ({"optimizer": "adam"}, {"momentum": 0.9}):
        raw = {**_job(**train), "strategy": {"name": "scaffold"}}
        with pytest.raises(ConfigError, match="scaffold"):
            parse_job(raw, "job.toml")
    parse_job({**_job(weight_decay=1e-4), "strategy": {"name": "scaffold"}}, "job.toml")


def test_a_served_model_refuses_optimiser_settings_it_would_never_send() -> None:
    import numpy as np

    from rengo.jobs.build import build_served_job

    served = {"model": {"app": "m:init"}, "train": {"optimizer": "adam"}}
    with pytest.raises(ConfigError, match=r"train.optimizer is not sent"):
        build_served_job(parse_job(served, "served.toml"), [np.zeros(3)], ["p0", "p1"])
    served["train"] = {"lr_decay": 0.9}  # sent every round: fine
    build_served_job(parse_job(served, "served.toml"), [np.zeros(3)], ["p0", "p1"])

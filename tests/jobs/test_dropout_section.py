"""[dropout] job section: keys are SimulatedDropout's fields, errors name the key, the built
job loses clients before any attack runs, and the run records (and writes back) the rates."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import SimulatedDropout, simulate
from rengo.hfl.mods.attacks import ForClients
from rengo.jobs import build_hfl_job, parse_job
from rengo.jobs.build import job_settings

BASE = {
    "job": {"rounds": 3, "seed": 2},
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 12},
    "model": {"type": "logistic"},
    "strategy": {"fraction_fit": 0.5, "min_fit_clients": 2},
}


def test_dropout_section_installs_simulated_losses_outside_any_attack() -> None:
    spec = parse_job(
        {
            **BASE,
            "dropout": {"dropout": 0.25, "stragglers": 0.1},
            "robust": {"attack": "sign_flip", "attackers": 2},
        }
    )
    job = build_hfl_job(spec)
    first, second = job.client_mods
    assert first == SimulatedDropout(dropout=0.25, stragglers=0.1)
    assert isinstance(second, ForClients)


def test_a_job_with_dropout_loses_clients_with_their_reason() -> None:
    job = build_hfl_job(parse_job({**BASE, "dropout": {"dropout": 0.4}}))
    history = simulate(
        job.client_fn,
        job.client_ids,
        job.strategy,
        job.initial_parameters,
        job.spec.job.rounds,
        seed=job.spec.job.seed,
        client_mods=job.client_mods,
    )
    lost = [why for r in history.rounds for why in r.failures.values()]
    assert lost
    assert all(w.startswith("raised rengo.hfl.SimulatedClientLoss: dropped out") for w in lost)


def test_dropout_rates_are_recorded_as_job_settings() -> None:
    spec = parse_job({**BASE, "dropout": {"stragglers": 0.2}})
    settings = job_settings(spec)
    assert settings["dropout"] == {"dropout": 0.0, "stragglers": 0.2, "evaluate": True}
    assert "dropout" not in job_settings(parse_job(BASE))


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"droput": 0.1}, "did you mean 'dropout'"),
        ({"dropout": 1.2}, "dropout.dropout"),
        ({"dropout": 0.8, "stragglers": 0.3}, r"dropout\.stragglers.*at most 1"),
        ("0.1", r"\[dropout\] must be a table"),
    ],
)
def test_bad_dropout_sections_name_the_key(section, match) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_job({**BASE, "dropout": section})

"""Personalisation from a job file: a personalising strategy by name, each client's own
held-out rows (``client_test_size``), and every client's accuracy of its personalised model
in the run."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import FedAvg, FedRep, simulate
from rengo.jobs import build_hfl_job, parse_job


def job(strategy: dict[str, object], **data: object) -> dict[str, object]:
    return {
        "job": {"name": "personal", "seed": 1, "rounds": 2},
        "data": {"dataset": "digits", "test_size": 0.2, "client_test_size": 0.25, **data},
        "partition": {"scheme": "dirichlet", "num_clients": 4, "alpha": 0.1},
        "model": {"type": "logistic"},
        "train": {"lr": 0.1, "local_epochs": 1, "batch_size": 32},
        "strategy": strategy,
    }


def test_a_personalising_job_evaluates_every_client_on_its_own_rows() -> None:
    built = build_hfl_job(parse_job(job({"name": "FedRep", "personal_arrays": "-1"})))
    assert isinstance(built.strategy, FedRep) and built.strategy.fraction_evaluate == 1.0
    fed = built.federation
    assert fed.client_tests is not None and set(fed.client_tests) == set(fed.client_ids)
    for cid in fed.client_ids:
        assert len(fed.client_tests[cid]) == round(
            0.25 * (len(fed.clients[cid]) + len(fed.client_tests[cid]))
        )
    history = simulate(
        built.client_fn, built.client_ids, built.strategy, built.initial_parameters, 2, seed=1
    )
    assert "eval_accuracy" in history.rounds[-1].metrics


def test_unset_evaluation_options_keep_the_strategys_own_defaults() -> None:
    plain = build_hfl_job(parse_job(job({"name": "FedAvg"}))).strategy
    assert isinstance(plain, FedAvg) and plain.fraction_evaluate == 0.0
    chosen = build_hfl_job(parse_job(job({"name": "Ditto", "fraction_evaluate": 0.5}))).strategy
    assert chosen.fraction_evaluate == 0.5
    with pytest.raises(ConfigError, match="fraction_evaluate must be in"):
        parse_job(job({"name": "Ditto", "fraction_evaluate": 2}))
    with pytest.raises(ConfigError, match="client_test_size must be in"):
        parse_job(job({"name": "Ditto"}, client_test_size=1.0))


def test_a_personalising_job_with_contribution_warns_what_the_values_measure() -> None:
    """[contribution] values the coordinator's model, whose personal head never trains under
    FedPer: the job (the audit's fedper + mr, which paid client-1 +0.18 by that model's
    accuracy) used to be accepted and valued silently."""
    from rengo.hfl.observer_fit import check_observers_fit
    from rengo.jobs.contribution import contribution_tracker

    raw = {**job({"name": "FedPer", "personal_arrays": "-1"}), "contribution": {"method": "mr"}}
    spec = parse_job(raw)
    built = build_hfl_job(spec)
    assert spec.contribution is not None
    tracker = contribution_tracker(spec.contribution, built.evaluate, 1)
    with pytest.warns(UserWarning, match="contribution values") as caught:
        check_observers_fit(built.strategy, built.workflow, [tracker])
    message = " ".join(str(w.message) for w in caught)
    assert "FedPer keeps arrays -1" in message
    assert "not on the personalised models the clients use" in message
    plain = build_hfl_job(parse_job({**raw, "strategy": {"name": "FedAvg"}}))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        check_observers_fit(plain.strategy, plain.workflow, [tracker])

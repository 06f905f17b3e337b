"""Federated evaluation: sampled clients evaluate the new global model; loss and metrics are
example-weighted means, and a client that fails evaluation is dropped with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, FedAvg, RoundRecord, simulate
from rengo.tracking import RunStore

# client id -> (examples, evaluation loss, accuracy); dyadic values keep the means exact.
EVALS = {"0": (10, 1.0, 0.5), "1": (30, 0.5, 0.75), "2": (20, 2.0, 0.25), "3": (4, 0.0, 1.0)}


class FixedEvaluationClient(Client):
    """Fits by adding one to the model; evaluates to the fixed numbers of EVALS."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1.0 for p in parameters], EVALS[self.cid][0])

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        n, loss, accuracy = EVALS[self.cid]
        if self.cid == "3" and config.get("break_client_3"):
            loss = float("nan")
        if self.cid == "3" and config.get("client_3_lies"):
            n = 10**30  # would outweigh everyone in the federated loss
        return EvaluateResult(loss, n, {"accuracy": accuracy, "label": "ignored"})


def _expected(ids: list[str]) -> tuple[float, float]:
    total = sum(EVALS[c][0] for c in ids)
    loss = sum(EVALS[c][0] * EVALS[c][1] for c in ids) / total
    accuracy = sum(EVALS[c][0] * EVALS[c][2] for c in ids) / total
    return loss, accuracy


def test_federated_evaluation_weights_loss_and_accuracy_by_examples() -> None:
    strategy = FedAvg(fraction_evaluate=1.0, min_evaluate_clients=2)
    history = simulate(FixedEvaluationClient, 4, strategy, [np.zeros(2)], 2, seed=0)
    loss, accuracy = _expected(["0", "1", "2", "3"])
    assert (loss, accuracy) == (65 / 64, 36.5 / 64)
    for record in history.rounds:
        assert record.metrics["eval_loss"] == loss
        assert record.metrics["eval_accuracy"] == accuracy
        assert "eval_label" not in record.metrics
        assert record.failures == {}
    np.testing.assert_array_equal(history.parameters[0], [2.0, 2.0])


def test_federated_evaluation_samples_a_fraction_of_clients() -> None:
    strategy = FedAvg(fraction_evaluate=0.5, min_evaluate_clients=1)
    history = simulate(FixedEvaluationClient, 4, strategy, [np.zeros(2)], 3, seed=4)
    for record in history.rounds:
        # Two of four clients evaluated: the value is one of the six pairwise means.
        pairs = {_expected([a, b]) for a in EVALS for b in EVALS if a < b}
        assert (record.metrics["eval_loss"], record.metrics["eval_accuracy"]) in pairs


def test_no_federated_evaluation_when_fraction_is_zero() -> None:
    history = simulate(FixedEvaluationClient, 4, FedAvg(), [np.zeros(2)], 1)
    assert not any(k.startswith("eval_") for k in history.rounds[0].metrics)


def _one_round_evaluated_with(config: Config) -> RoundRecord:
    """One round in which every client evaluates, each with ``config``."""
    strategy = FedAvg(
        fraction_evaluate=1.0, min_evaluate_clients=2, on_evaluate_config=lambda r: config
    )
    return simulate(FixedEvaluationClient, 4, strategy, [np.zeros(2)], 1).rounds[0]


def test_client_with_nan_evaluation_loss_is_left_out_with_its_reason() -> None:
    record = _one_round_evaluated_with({"break_client_3": True})
    assert record.failures == {"3": "evaluate: evaluation loss is NaN or Inf"}
    loss, accuracy = _expected(["0", "1", "2"])
    assert record.metrics["eval_loss"] == loss
    assert record.metrics["eval_accuracy"] == accuracy


def test_an_evaluation_example_count_above_the_claim_limit_is_left_out_with_its_reason() -> None:
    """As fit results are: a claimed count weighs the federated loss, and one above what the
    run store holds (2**63) ended a deployed run."""
    record = _one_round_evaluated_with({"client_3_lies": True})
    assert record.failures == {
        "3": "evaluate: claimed 10"
        + "0" * 29
        + " evaluation examples, above the limit of 1000000000000 "
        "(result_checks.max_claimed_examples)"
    }
    assert record.metrics["eval_loss"] == _expected(["0", "1", "2"])[0]


SEEN: list[tuple[str, object]] = []
"""The round each request's config named, as RoundReportingClient saw it."""


class RoundReportingClient(FixedEvaluationClient):
    """Keeps the round each request's config names (a deployed party prints it)."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        SEEN.append(("fit", config.get("server_round")))
        return super().fit(parameters, config)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        SEEN.append(("evaluate", config.get("server_round")))
        return super().evaluate(parameters, config)


def test_an_evaluation_request_names_its_round_as_a_fit_request_does() -> None:
    SEEN.clear()
    strategy = FedAvg(fraction_evaluate=1.0, min_available_clients=2)
    simulate(RoundReportingClient, 2, strategy, [np.zeros(2)], 2, seed=0)
    assert sorted(SEEN, key=str) == sorted(
        [(phase, r) for r in (1, 2) for phase in ("fit", "evaluate") for _ in range(2)], key=str
    )


def test_each_clients_evaluation_loss_is_kept_with_its_record(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        strategy = FedAvg(fraction_evaluate=1.0, min_evaluate_clients=2)
        history = simulate(FixedEvaluationClient, 4, strategy, [np.zeros(2)], 1, store=store)
        assert history.run_id is not None
        evaluated = [r for r in store.client_records(history.run_id) if r.phase == "evaluate"]
    assert {r.client_id: (r.metrics or {}).get("loss") for r in evaluated} == {
        cid: loss for cid, (_, loss, _) in EVALS.items()
    }


class LossMetricClient(FixedEvaluationClient):
    """Client "3" also reports a metric named "loss", far from its evaluation loss."""

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        result = super().evaluate(parameters, config)
        if self.cid == "3":
            result.metrics["loss"] = -1e100
        return result


def test_a_metric_named_loss_cannot_stand_in_for_the_federated_evaluation_loss() -> None:
    strategy = FedAvg(fraction_evaluate=1.0, min_evaluate_clients=2)
    history = simulate(LossMetricClient, 4, strategy, [np.zeros(2)], 1, seed=0)
    loss, accuracy = _expected(["0", "1", "2", "3"])
    assert history.rounds[0].metrics["eval_loss"] == loss
    assert history.rounds[0].metrics["eval_accuracy"] == accuracy

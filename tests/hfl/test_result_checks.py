"""The coordinator's checks of fit results, in one process: the lower median cannot be
moved by one value, a result that could overflow the sum is refused, a non-finite new model
never replaces the old one (and the result that could cause it is named), and a client that
keeps missing the round timeout sits out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.errors import RoundFailure
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg, History, ResultChecks, make_pool, simulate
from rengo.hfl.client import client_handler
from rengo.hfl.result_checks import low_median, screen_metrics, update_norm
from rengo.tracking import RunStore
from rengo.transport.simulation import SerialPool


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_the_lower_median_is_a_value_with_half_the_values_on_each_side(values: list[float]) -> None:
    median = low_median(values)
    assert median in values
    assert sum(v <= median for v in values) >= (len(values) + 1) // 2
    assert sum(v >= median for v in values) >= len(values) // 2 + 1


@given(
    st.lists(st.floats(0, 1e6), min_size=3, max_size=30),
    st.sampled_from([0.0, 1e300, np.inf]),
)
def test_one_outlier_moves_the_lower_median_at_most_to_a_neighbour(
    values: list[float], outlier: float
) -> None:
    ordered = sorted(values)
    changed = [*values[:-1], outlier]
    k = (len(values) - 1) // 2
    assert ordered[max(k - 1, 0)] <= low_median(changed) <= ordered[min(k + 1, len(values) - 1)]


def test_update_norms_are_float64_and_overflow_to_inf() -> None:
    w = [np.zeros(3, dtype=np.float32)]
    assert update_norm([np.array([3.0, 4.0, 0.0], dtype=np.float32)], w) == 5.0
    assert update_norm([np.full(3, 1e300)], w) == np.inf


@dataclass
class Scripted:
    """A client whose fit returns ``values(parameters)`` claiming ``claim`` examples."""

    claim: int
    scale: float = 1.0
    delay: float = 0.0

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        time.sleep(self.delay)
        return FitResult([p + self.scale for p in parameters], self.claim, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def clients(**special: Scripted) -> Any:
    def make(cid: str) -> Scripted:
        return special.get(cid, Scripted(10))

    return make


def test_a_result_whose_weight_times_values_could_overflow_is_refused() -> None:
    history = simulate(
        clients(c=Scripted(10**11, scale=1e300)),
        ["a", "b", "c"],
        FedAvg(),
        [np.zeros(4)],
        2,
        checks=ResultChecks.streaming(),
    )
    assert all(
        r.failures["c"].startswith("weight 100000000000 x values up to") for r in history.rounds
    )
    assert all("would overflow the aggregate" in r.failures["c"] for r in history.rounds)
    np.testing.assert_array_equal(history.parameters[0], np.full(4, 2.0))


class Exploding(FedAvg):
    """FedAvg whose server step overflows (as an unstable server optimiser could)."""

    def aggregate_fit(self, server_round, parameters, acc, rng=None):  # type: ignore[no-untyped-def]
        return [m * np.inf for m in acc.mean()]


def test_a_non_finite_new_model_is_never_kept_or_checkpointed_and_its_cause_is_named(
    tmp_path: Any,
) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RoundFailure) as failure:
        simulate(
            clients(b=Scripted(500)),
            ["a", "b", "c"],
            Exploding(),
            [np.zeros(4)],
            2,
            store=store,
        )
    message = str(failure.value)
    assert "the new model is not finite (array 0 has NaN or Inf)" in message
    assert "the largest contribution came from client b (weight 500" in message
    assert "the model of round 0 is kept and nothing was checkpointed" in message
    (run,) = store.list_runs()
    assert run.status == "failed" and store.checkpoint_rounds(run.run_id) == []


class Misshaping(FedAvg):
    """A custom strategy whose aggregate drops an array, or reshapes one, or is no array."""

    change: ClassVar[str] = "drop"

    def aggregate_fit(self, server_round, parameters, acc, rng=None):  # type: ignore[no-untyped-def]
        mean = [np.asarray(m) for m in acc.mean()]
        if self.change == "drop":
            return mean[:-1]
        if self.change == "reshape":
            return [mean[0].reshape(2, 2), *mean[1:]]
        return [mean[0].tolist(), *mean[1:]]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("drop", "(1 arrays, the model has 2)"),
        ("reshape", "(array 0 has shape (2, 2), the model's is (4,))"),
        ("list", "(array 0 is a list, not a numpy array)"),
    ],
)
def test_a_strategy_returning_a_model_of_other_shapes_fails_its_round_naming_itself(
    tmp_path: Any, change: str, named: str
) -> None:
    """Kept, the model failed every client at the next round ("model has 6 tensors, got 5
    arrays", as if the clients were at fault); the round fails instead, naming the strategy."""
    store = RunStore(tmp_path / "runs.db")
    strategy = type("Custom", (Misshaping,), {"change": change})()
    with pytest.raises(RoundFailure) as failure:
        simulate(clients(), ["a", "b", "c"], strategy, [np.zeros(4), np.zeros(2)], 2, store=store)
    message = str(failure.value)
    assert message.startswith("round 1 failed: Custom.aggregate_fit returned a model unlike")
    assert named in message and "nothing was checkpointed" in message
    (run,) = store.list_runs()
    assert run.status == "failed" and store.checkpoint_rounds(run.run_id) == []


def test_a_client_that_keeps_missing_the_timeout_sits_out_then_is_tried_again() -> None:
    ids = ["a", "b", "c"]
    pool = make_pool(clients(c=Scripted(10, delay=0.3)), ids, "serial")
    strategy = FedAvg(min_fit_clients=2, min_available_clients=2)
    coordinator = Coordinator(
        strategy, pool, [np.zeros(2)], round_timeout=0.1, slow_after=2, slow_rounds=3
    )
    history = coordinator.run(7)
    sampled = [sorted(r.clients) for r in history.rounds]
    assert sampled == [ids, ids, ["a", "b"], ["a", "b"], ["a", "b"], ids, ["a", "b"]]
    assert all(history.rounds[i].failures["c"].startswith("timed out") for i in (0, 1, 5))
    assert coordinator.slow_clients(7) == ["c"]


@dataclass
class Reporting:
    """A client that trains honestly and reports ``fit_metrics`` / ``eval_metrics``."""

    fit_metrics: dict[str, Any]
    eval_metrics: dict[str, Any]

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1 for p in parameters], 10, dict(self.fit_metrics))

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.25, 10, dict(self.eval_metrics))


def with_party_c(
    party_c: Reporting, honest: Reporting, store: RunStore, evaluate: bool = False
) -> History:
    """Two rounds of FedAvg over parties a and b (``honest``) and c (``party_c``), recorded
    in ``store``; every party evaluates too when ``evaluate``."""
    return simulate(
        lambda cid: party_c if cid == "c" else honest,
        ["a", "b", "c"],
        FedAvg(fraction_evaluate=1.0 if evaluate else 0.0),
        [np.zeros(4)],
        2,
        store=store,
    )


def test_a_non_finite_client_metric_is_dropped_with_a_warning_and_never_poisons_the_mean(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    honest = Reporting({"loss": 0.5, "accuracy": 0.8}, {"auc": 0.7})
    lying = Reporting({"loss": float("nan"), "accuracy": 0.6}, {"auc": float("inf")})
    store = RunStore(tmp_path / "runs.db")
    history = with_party_c(lying, honest, store, evaluate=True)
    for record in history.rounds:
        assert record.metrics["train_loss"] == 0.5  # not nan: c's loss is dropped
        assert record.metrics["train_accuracy"] == pytest.approx((0.8 + 0.8 + 0.6) / 3)
        assert record.metrics["eval_auc"] == pytest.approx(0.7)  # not inf
        assert not record.failures  # c's update still counts
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "round 1: client c: metric 'loss' is nan: dropped" in warned
    assert "round 1: client c: evaluate: metric 'auc' is inf: dropped" in warned
    c_records = store.client_records(history.run_id, "c")
    assert [r.reason for r in c_records if r.round == 1] == [
        "metric 'loss' is nan: dropped",
        "metric 'auc' is inf: dropped",
    ]
    assert all("loss" not in (r.metrics or {}) for r in c_records if r.phase == "fit")


def test_client_metrics_are_bounded_to_numbers_and_short_strings_and_the_rest_refused(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    most = 32  # result_checks.MAX_METRICS; strings of at most MAX_METRIC_TEXT = 256
    honest = Reporting({"loss": 0.5, "note": "ok"}, {})
    flooding = Reporting(
        {
            "loss": 0.25,
            "blob": "x" * 2_000_000,  # 2 MB a round into the run store
            "raw": b"\x00" * 100,
            "n" * 1000: 1.0,
            **{f"m{i}": float(i) for i in range(most + 10)},
        },
        {},
    )
    store = RunStore(tmp_path / "runs.db")
    history = with_party_c(flooding, honest, store)
    assert history.rounds[0].metrics["train_loss"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    assert not history.rounds[0].failures  # the update counts; the flood does not
    (record,) = [r for r in store.client_records(history.run_id, "c") if r.round == 1]
    kept = record.metrics or {}
    assert "blob" not in kept and "raw" not in kept and "n" * 1000 not in kept
    assert len(kept) <= most + 1  # + the update norm the coordinator measures
    assert len(json.dumps(kept)) < 4_000
    assert record.reason is not None
    assert "metric 'blob' is a string of 2000000 characters (at most 256)" in record.reason
    assert "metric 'raw' is a bytes, not a number or a short string" in record.reason
    assert len(record.reason) < 1_000
    assert any("client c: metric 'blob'" in r.getMessage() for r in caplog.records)
    (ok,) = [r for r in store.client_records(history.run_id, "a") if r.round == 1]
    assert ok.reason is None and (ok.metrics or {})["note"] == "ok"  # short strings stay


def test_one_party_cannot_add_metric_names_to_the_rounds_record(tmp_path: Any) -> None:
    """A party that reports 32 new names a round (the most a result may carry) added them
    all to every round's record: 40 rounds made 2,560 series, and ``rengo runs plot`` ran
    out of minutes and memory drawing them. Its own record keeps what it reported."""
    honest = Reporting({"loss": 0.5}, {"accuracy": 0.9})
    inventing = Reporting(
        {"loss": 0.5, **{f"fit{i}": 1.0 for i in range(31)}},
        {"accuracy": 0.9, **{f"eval{i}": 1.0 for i in range(31)}},
    )
    store = RunStore(tmp_path / "runs.db")
    history = with_party_c(inventing, honest, store, evaluate=True)
    assert history.run_id is not None
    for record in history.rounds:
        assert set(record.metrics) == {"train_loss", "eval_loss", "eval_accuracy"}
    assert set(store.round_metrics(history.run_id)) == {
        "train_loss",
        "eval_loss",
        "eval_accuracy",
    }
    evaluated = [r for r in store.client_records(history.run_id, "c") if r.phase == "evaluate"]
    assert all("eval30" in (r.metrics or {}) for r in evaluated)  # c's own record keeps them


def test_metric_names_with_control_characters_are_refused_naming_the_party(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "accuracy\n\x1b[2Jround 9: 5 of 5 clients reported"
    honest = Reporting({"loss": 0.5}, {"accuracy": 0.9})
    forging = Reporting({"loss": 0.5, forged: 1.0, "": 2.0}, {"accuracy": 0.9, forged: 1.0})
    store = RunStore(tmp_path / "runs.db")
    history = simulate(
        lambda cid: forging if cid != "c" else honest,  # a majority reports them
        ["a", "b", "c"],
        FedAvg(fraction_evaluate=1.0),
        [np.zeros(4)],
        1,
        store=store,
    )
    assert history.run_id is not None
    assert set(store.round_metrics(history.run_id)) == {
        "train_loss",
        "eval_loss",
        "eval_accuracy",
    }
    (fit,) = [r for r in store.client_records(history.run_id, "a") if r.phase == "fit"]
    assert fit.reason is not None and "has control characters" in fit.reason
    assert "metric name '' is not a name of 1 to 64 characters" in fit.reason
    assert forged not in (fit.metrics or {})
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(m.startswith("round 1: client a: evaluate: metric name") for m in warned)


@pytest.mark.parametrize("lie", [7.0, -1.0, 1e149])
def test_a_rate_outside_zero_to_one_is_refused_and_cannot_make_the_rounds_accuracy(
    tmp_path: Any, lie: float
) -> None:
    """One party of three saying accuracy 7.0 made the round's ``eval_accuracy`` 2.1 (and
    1e149 made it 4e148), the run's best round by its headline metric; its loss still
    counts, its accuracy does not."""
    honest = Reporting({"loss": 0.5, "accuracy": 0.8}, {"accuracy": 0.9})
    lying = Reporting({"loss": 0.5, "accuracy": lie}, {"accuracy": lie, "val_auc": -0.5})
    store = RunStore(tmp_path / "runs.db")
    history = simulate(
        lambda cid: lying if cid == "c" else honest,
        ["a", "b", "c"],
        FedAvg(fraction_evaluate=1.0),
        [np.zeros(4)],
        1,
        store=store,
        checks=ResultChecks(),  # deployment's defaults
    )
    (record,) = history.rounds
    assert record.metrics["eval_accuracy"] == pytest.approx(0.9)
    assert record.metrics["train_accuracy"] == pytest.approx(0.8)
    assert record.metrics["eval_loss"] == pytest.approx(0.25)  # c's loss still counts
    assert not record.failures
    assert history.run_id is not None
    reasons = [r.reason for r in store.client_records(history.run_id, "c")]
    assert all(f"metric 'accuracy' is {lie:g}" in (why or "") for why in reasons)
    assert all("outside [0, 1] (a rate)" in (why or "") for why in reasons)
    assert "metric 'val_auc' is -0.5, outside [0, 1] (a rate)" in (reasons[-1] or "")


def test_rates_are_named_by_their_last_token_and_kept_inside_zero_to_one() -> None:
    reported = {"accuracy": 1.0, "top5_acc": 0.0, "F1": 0.5, "auc_gain": 3.0, "accuracy_pct": 91}
    kept, refused = screen_metrics({**reported, "val_precision": 1.5})
    assert kept == reported  # a percentage under a name that is no rate stays
    assert refused == ["metric 'val_precision' is 1.5, outside [0, 1] (a rate)"]


def test_an_r2_above_one_or_a_negative_error_is_refused_and_a_poor_fit_kept() -> None:
    """A party saying eval_r2 = 40 made the round's mean R^2 (what a regression run's best
    round is picked by) its own; a negative RMSE lowered the round's mean error."""
    reported = {"r2": -3.5, "eval_r2": 1.0, "rmse": 0.0, "mae": 12.5, "r2_gain": 4.0}
    kept, refused = screen_metrics({**reported, "val_r2": 40.0, "eval_rmse": -1.0})
    assert kept == reported
    assert refused == [
        "metric 'val_r2' is 40.0, above 1 (an R^2 is at most 1)",
        "metric 'eval_rmse' is -1.0, below 0 (an error is never negative)",
    ]


def test_a_party_is_told_why_its_results_were_not_counted_without_the_others_figures() -> None:
    class Reporter(Client):
        """Trains honestly; ``"nan"`` reports a NaN evaluation loss, ``"big"`` a far-off update."""

        def __init__(self, cid: str) -> None:
            super().__init__()
            self.cid = cid

        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            step = 1e6 if self.cid == "big" else 0.1
            return FitResult([p + step for p in parameters], 10)

        def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
            return EvaluateResult(float("nan") if self.cid == "nan" else 0.5, 10)

    class TellingPool(SerialPool):
        """A pool that, like a deployed hub, can tell a party something."""

        told: ClassVar[list[tuple[str, str]]] = []

        def notify(self, name: str, text: str) -> bool:
            self.told.append((name, text))
            return True

    ids = ["a", "b", "nan", "big"]
    pool = TellingPool(client_handler(Reporter), ids)
    strategy = FedAvg(fraction_evaluate=1.0, min_fit_clients=3, min_available_clients=4)
    coordinator = Coordinator(
        strategy, pool, [np.zeros(3)], checks=ResultChecks(max_update_norm_ratio=10)
    )
    coordinator.run(1)
    assert sorted(pool.told) == [
        (
            "big",
            "round 1: your fit result was not counted: its update norm 1.732e+06 is more than "
            "result_checks.max_update_norm_ratio = 10 times the round's median",
        ),
        ("nan", "round 1: your evaluation result was not counted: evaluation loss is NaN or Inf"),
    ]


def test_a_finite_metric_too_large_to_average_is_dropped_and_the_round_mean_stays_finite(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """1.5e308 is finite, but weighted by 10 examples the round's mean of it was ``inf``
    (the deployed audit saw ``train_loss inf`` every round from one party's metric)."""
    honest = Reporting({"loss": 0.5}, {"auc": 0.7})
    lying = Reporting({"loss": 1.5e308}, {"auc": -1e200})
    store = RunStore(tmp_path / "runs.db")
    history = with_party_c(lying, honest, store, evaluate=True)
    for record in history.rounds:
        assert record.metrics["train_loss"] == 0.5  # c's loss is dropped, not inf
        assert record.metrics["eval_auc"] == pytest.approx(0.7)
        assert not record.failures  # c's update and evaluation loss still count
    (fit, evaluation) = [r for r in store.client_records(history.run_id, "c") if r.round == 1]
    assert fit.reason is not None and fit.reason.startswith("metric 'loss' is 1.5e+308, beyond")
    assert evaluation.reason is not None and "metric 'auc' is -1e+200" in evaluation.reason
    assert any("client c: metric 'loss' is 1.5e+308" in r.getMessage() for r in caplog.records)

"""The coordinator's checks of evaluation results, in one process: a party's claimed
evaluation count is capped at the round's median rule as its fit claims are, so it cannot
make the federated evaluation its own; a result whose count times its loss would overflow
the weighted mean is refused, so ``eval_loss`` stays finite; and so is one whose loss is far
beyond the round's median, so one party's word cannot make ``eval_loss`` its own."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg, ResultChecks
from rengo.hfl.client import client_handler
from rengo.tracking import RunStore
from rengo.transport.simulation import SerialPool

HONEST = ["a", "b", "c", "d", "e"]
LIAR = "mallory"
CLAIM = 10**12


class Evaluator(Client):
    """Trains a small step; evaluates on 10 examples at loss 0.5, accuracy 0.9 - except
    the liar, which claims ``CLAIM`` examples at the loss and accuracy of ``lie``."""

    lie: ClassVar[tuple[float, float]] = (4.0, 0.0)  # within 10x the median loss 0.5

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 0.1 for p in parameters], 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        if self.cid == LIAR:
            loss, accuracy = self.lie
            return EvaluateResult(loss, CLAIM, {"accuracy": accuracy})
        return EvaluateResult(0.5, 10, {"accuracy": 0.9})


class TellingPool(SerialPool):
    """A pool that, like a deployed hub, can tell a party something."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[tuple[str, str]] = []

    def notify(self, name: str, text: str) -> bool:
        self.told.append((name, text))
        return True


def run_one_round(checks: ResultChecks | None, tmp_path: Any) -> tuple[Any, TellingPool, Any]:
    ids = [*HONEST, LIAR]
    pool = TellingPool(client_handler(Evaluator), ids)
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="evaluation-checks")
    coordinator = Coordinator(
        FedAvg(fraction_evaluate=1.0, min_available_clients=len(ids)),
        pool,
        [np.zeros(3)],
        checks=checks,
        store=store,
        run_id=run_id,
    )
    history = coordinator.run(1)
    (record,) = [r for r in store.client_records(run_id, LIAR) if r.phase == "evaluate"]
    return history.rounds[0], pool, record


def test_a_trillion_claimed_evaluation_examples_count_as_three_median_parties(
    tmp_path: Any,
) -> None:
    # Without the median rule the liar's claim holds all but 5e-11 of the weight: the
    # federated evaluation is its own (eval_accuracy ~0, eval_loss ~4).
    uncapped, _, _ = run_one_round(ResultChecks.streaming(), tmp_path / "uncapped")
    assert uncapped.metrics["eval_accuracy"] < 1e-9
    # With it (a deployment's default), its claim counts as 3 x the median claim of 10.
    capped, pool, record = run_one_round(ResultChecks(), tmp_path / "capped")
    honest_weight = 10 * len(HONEST)
    assert capped.metrics["eval_accuracy"] == pytest.approx(
        0.9 * honest_weight / (honest_weight + 30)
    )
    assert capped.metrics["eval_loss"] == pytest.approx(
        (0.5 * honest_weight + 4.0 * 30) / (honest_weight + 30)
    )
    assert record.status == "ok" and record.num_examples == 30
    assert record.reason == (
        f"weight capped: claimed {CLAIM} evaluation examples, counted as 30 (3x the round's "
        "median claim 10; result_checks.max_evaluation_weight_ratio)"
    )
    assert pool.told == [
        (
            LIAR,
            f"round 1: your claim of {CLAIM} evaluation examples was counted as fewer: "
            "result_checks.max_evaluation_weight_ratio = 3 caps a claim at that many times the "
            "round's median claim",
        )
    ]


def test_an_evaluation_whose_weighted_loss_would_overflow_is_refused_and_eval_loss_stays_finite(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Evaluator, "lie", (1e300, 0.5))  # finite, but x 1e12 is not
    record_round, pool, record = run_one_round(ResultChecks.streaming(), tmp_path)
    assert record_round.metrics["eval_loss"] == 0.5  # the honest parties' own, not inf
    assert record_round.metrics["eval_accuracy"] == pytest.approx(0.9)
    reason = f"evaluation weight {CLAIM} x values up to 1e+300 would overflow the federated mean"
    assert record.status == "failed" and record.reason == reason
    assert record_round.failures == {LIAR: f"evaluate: {reason}"}
    assert pool.told == [(LIAR, f"round 1: your evaluation result was not counted: {reason}")]


def test_results_within_the_cap_and_far_from_overflow_count_as_sent() -> None:
    from rengo.hfl.evaluation_checks import screen_evaluations

    results = [(cid, EvaluateResult(0.5, 10 + i, {"accuracy": 0.9})) for i, cid in enumerate("abc")]
    verdicts = screen_evaluations(results, 3.0)
    assert [(v.client_id, v.result, v.note, v.told) for v in verdicts] == [
        (cid, result, None, None) for cid, result in results
    ]


def test_the_evaluation_cap_stays_where_the_fit_median_rules_go() -> None:
    """Secure aggregation hides each update and central DP forbids the median rules on fit
    results, so both drop them; evaluation results still arrive one by one, uncovered by DP,
    so their cap stays (it went with max_weight_ratio, and one party could again make a
    SecAgg or DP deployment's eval_accuracy its own)."""
    from rengo.hfl import DifferentialPrivacy, SecAggPlus
    from rengo.hfl.privacy_fit import checks_under_dp
    from rengo.hfl.workflow import default_checks

    under_secagg = default_checks(SecAggPlus())
    assert under_secagg.max_weight_ratio is None and under_secagg.max_update_norm_ratio is None
    assert under_secagg.max_evaluation_weight_ratio == 3.0
    under_dp = checks_under_dp(DifferentialPrivacy(FedAvg()), ResultChecks())
    assert under_dp.max_weight_ratio is None
    assert under_dp.max_evaluation_weight_ratio == 3.0
    assert ResultChecks.streaming().max_evaluation_weight_ratio is None  # simulation default
    for checks in (under_secagg, under_dp):  # the loss bound stays with the cap
        assert checks.max_evaluation_loss_ratio == 10.0
    assert ResultChecks.streaming().max_evaluation_loss_ratio is None


def test_checks_without_the_median_rules_still_cap_a_lying_evaluation_claim(
    tmp_path: Any,
) -> None:
    """What a secure-aggregation or central-DP deployment runs with."""
    capped, _, record = run_one_round(ResultChecks().without_median_rules(), tmp_path)
    assert record.num_examples == 30  # 3 x the median claim of 10
    honest_weight = 10 * len(HONEST)
    assert capped.metrics["eval_accuracy"] == pytest.approx(
        0.9 * honest_weight / (honest_weight + 30)
    )


@pytest.mark.parametrize("lie", [1e140, -1e140, 5.01])
def test_an_evaluation_loss_beyond_ten_medians_is_refused_and_eval_loss_is_the_honest_one(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, lie: float
) -> None:
    """A deployment's default: one party's loss of 1e140 (or -1e140: "better" than any)
    made the round's eval_loss its own, and early stopping watching it stopped the run
    there (or kept that round as the best)."""
    monkeypatch.setattr(Evaluator, "lie", (lie, 0.5))
    record_round, pool, record = run_one_round(ResultChecks(), tmp_path)
    assert record_round.metrics["eval_loss"] == 0.5
    reason = (
        f"evaluation loss {lie:.3g} is more than 10x the round's median evaluation loss 0.5 "
        "(result_checks.max_evaluation_loss_ratio)"
    )
    assert record.status == "failed" and record.reason == reason
    assert pool.told == [(LIAR, f"round 1: your evaluation result was not counted: {reason}")]


def test_a_loss_within_the_bound_or_a_round_of_zero_losses_counts_as_sent() -> None:
    from rengo.hfl.evaluation_checks import screen_evaluations

    within = [(c, EvaluateResult(0.5, 10, {})) for c in "abc"] + [
        ("d", EvaluateResult(5.0, 10, {}))
    ]
    zeros = [(c, EvaluateResult(0.0, 10, {})) for c in "abc"] + [("d", EvaluateResult(7.0, 10, {}))]
    for results in (within, zeros):  # a median of 0 bounds nothing
        assert all(v.result is not None for v in screen_evaluations(results, None, 10.0))
    beyond = [*within[:3], ("d", EvaluateResult(5.01, 10, {}))]
    assert [v.result is None for v in screen_evaluations(beyond, None, 10.0)] == [
        False,
        False,
        False,
        True,
    ]
    assert all(v.result is not None for v in screen_evaluations(beyond, None, None))


def test_a_tiny_lying_loss_cannot_have_the_honest_losses_refused() -> None:
    """The bound is the upper median over the results with examples, and needs three: one
    party saying 1e-300 (or two honest parties whose losses differ by more than 10x) has no
    honest result refused; a party without examples does not count."""
    from rengo.hfl.evaluation_checks import screen_evaluations, typical_loss

    def refused(losses: list[float], counts: list[int] | None = None) -> list[bool]:
        counts = counts or [10] * len(losses)
        results = [
            (str(i), EvaluateResult(loss, n, {}))
            for i, (loss, n) in enumerate(zip(losses, counts, strict=True))
        ]
        return [v.result is None for v in screen_evaluations(results, None, 10.0)]

    assert refused([1e-300, 0.5]) == [False, False]  # two parties: neither outweighs
    assert refused([0.04, 0.5]) == [False, False]
    assert refused([1e-300, 0.1, 0.5]) == [False, False, False]
    assert refused([1e-300, 0.1, 0.5, 1.2]) == [False, False, False, False]
    assert refused([0.1, 0.5, 1e140]) == [False, False, True]
    assert refused([0.1, 0.5, 1e140], [10, 0, 10]) == [False, False, False]  # two count
    results = [(c, EvaluateResult(v, 10, {})) for c, v in zip("abc", [3.0, 1.0, 2.0], strict=True)]
    assert typical_loss(results) == 2.0

"""Early stopping (:class:`rengo.hfl.EarlyStopping`): the patience rule, the run it ends, the
best round's checkpoint it keeps, and a resumed run that stops where an uninterrupted one
does. The central loss is scripted per round, so every expected round is known exactly."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.core.options import OptionError
from rengo.hfl import (
    CheckpointRetention,
    Client,
    Coordinator,
    EarlyStopping,
    FedAvg,
    make_pool,
    simulate,
    softmax_init,
)
from rengo.hfl.early_stopping import best_round, improves
from rengo.tracking import RunStore

IDS = [str(i) for i in range(6)]
# best 0.7 in round 3; rounds 4-6 do not beat it; round 7 would (never reached with patience 3)
LOSSES = [1.0, 0.8, 0.7, 0.75, 0.71, 0.72, 0.5, 0.4, 0.3, 0.2]


def _scripted(losses: Sequence[float]) -> Callable[[int, object], tuple[float, dict[str, float]]]:
    def evaluate(server_round: int, _parameters: object) -> tuple[float, dict[str, float]]:
        return losses[server_round - 1], {"accuracy": 1.0 - losses[server_round - 1]}

    return evaluate


def _strategy(losses: Sequence[float] = LOSSES) -> FedAvg:
    return FedAvg(fraction_fit=0.5, min_fit_clients=3, evaluate_fn=_scripted(losses))


def _fed(stopper: EarlyStopping, metrics: dict[str, float], server_round: int) -> str | None:
    stopper.on_round_end(server_round, [], [], metrics)
    return stopper.stop_reason()


def test_the_run_stops_once_patience_rounds_have_not_improved_on_the_best() -> None:
    stopper = EarlyStopping(patience=3)
    reasons = [_fed(stopper, {"central_loss": v}, r) for r, v in enumerate(LOSSES[:6], 1)]
    assert reasons[:5] == [None] * 5
    assert reasons[5] is not None and "round 3" in reasons[5] and "0.7" in reasons[5]
    assert (stopper.best_round, stopper.best) == (3, 0.7)


def test_min_delta_asks_for_a_real_improvement() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.15)
    # 0.8 improves on 1.0 by 0.2; 0.7 only by 0.1 and 0.68 by 0.12: two rounds without
    assert [_fed(stopper, {"central_loss": v}, r) for r, v in enumerate([1.0, 0.8], 1)] == [
        None,
        None,
    ]
    assert _fed(stopper, {"central_loss": 0.7}, 3) is None
    assert _fed(stopper, {"central_loss": 0.68}, 4) is not None
    assert stopper.best_round == 2


def test_direction_follows_the_metric_name_unless_given() -> None:
    assert EarlyStopping(metric="central_loss").lower_is_better
    assert not EarlyStopping(metric="central_accuracy").lower_is_better
    assert not EarlyStopping(metric="eval_r2").lower_is_better
    assert EarlyStopping(metric="central_accuracy", mode="min").lower_is_better
    stopper = EarlyStopping(metric="central_accuracy", patience=1)
    assert _fed(stopper, {"central_accuracy": 0.5}, 1) is None
    assert _fed(stopper, {"central_accuracy": 0.6}, 2) is None  # higher: better
    assert _fed(stopper, {"central_accuracy": 0.55}, 3) is not None
    assert stopper.best_round == 2


def test_a_non_finite_value_never_improves() -> None:
    stopper = EarlyStopping(patience=2)
    assert _fed(stopper, {"central_loss": math.nan}, 1) is None
    reason = _fed(stopper, {"central_loss": math.inf}, 2)
    assert reason is not None and "not been finite" in reason
    assert stopper.best_round is None and stopper.pinned_rounds() == ()


def test_a_metric_no_round_has_is_refused_naming_those_it_has() -> None:
    stopper = EarlyStopping(metric="central_acc")
    with pytest.raises(ConfigError, match=r"central_acc.*central_accuracy, central_loss"):
        stopper.on_round_end(1, [], [], {"central_loss": 1.0, "central_accuracy": 0.3})


def test_a_round_missing_a_metric_seen_before_counts_as_no_improvement() -> None:
    stopper = EarlyStopping(metric="eval_loss", patience=2)
    assert _fed(stopper, {"eval_loss": 1.0}, 1) is None
    assert _fed(stopper, {"central_loss": 0.1}, 2) is None  # every evaluation failed
    assert _fed(stopper, {"eval_loss": 1.5}, 3) is not None


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"patience": 0}, "patience"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"min_delta": math.inf}, "min_delta"),
        ({"metric": " "}, "metric"),
        ({"mode": "lowest"}, "mode"),
    ],
)
def test_bad_settings_are_refused_naming_the_option(settings: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=key):
        EarlyStopping(**settings)  # type: ignore[arg-type]


curves = st.lists(
    st.one_of(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.just(math.nan),
    ),
    min_size=1,
    max_size=30,
)


@given(curves, st.booleans(), st.sampled_from([0.0, 0.01, 1.0]))
def test_the_kept_round_is_the_one_the_watch_ends_on(
    values: list[float], lower: bool, min_delta: float
) -> None:
    """The export's :func:`best_round` over the recorded curve names the round the run's
    watch kept, in any direction and with any ``min_delta``."""
    stopper = EarlyStopping(patience=1_000_000, min_delta=min_delta, mode="min" if lower else "max")
    for server_round, value in enumerate(values, 1):
        stopper.on_round_end(server_round, [], [], {"central_loss": value})
    kept = best_round(enumerate(values, 1), lower, min_delta)
    assert (None if kept is None else kept[0]) == stopper.best_round


@given(curves, st.booleans())
def test_without_min_delta_the_best_round_is_the_first_to_reach_the_best_value(
    values: list[float], lower: bool
) -> None:
    finite = [v for v in values if math.isfinite(v)]
    kept = best_round(enumerate(values, 1), lower)
    if not finite:
        assert kept is None
        return
    target = min(finite) if lower else max(finite)
    assert kept == (values.index(target) + 1, target)
    assert not improves(target, target, lower, 0.0)


def test_simulate_stops_after_the_patience_rounds_keeping_the_best_checkpoint(
    tmp_path: Path, logistic_client_fn: Callable[[str], Client]
) -> None:
    stopper = EarlyStopping(patience=3)
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            logistic_client_fn,
            IDS,
            _strategy(),
            softmax_init(4, 3),
            rounds=len(LOSSES),
            seed=3,
            store=store,
            observers=[stopper],
            checkpoints=CheckpointRetention(keep_last=1),
        )
        assert history.run_id is not None
        run = store.get_run(history.run_id)
        kept = store.checkpoint_rounds(history.run_id)
        recorded = [r.round for r in store.rounds(history.run_id)]
        events = [e.message for e in store.events(history.run_id)]
    assert [r.server_round for r in history.rounds] == [1, 2, 3, 4, 5, 6]
    assert recorded == [1, 2, 3, 4, 5, 6] and run.status == "completed"
    assert history.stopped is not None and "round 3" in history.stopped
    assert events[-1] == history.stopped
    assert sorted(kept) == [3, 6]  # the best round's stays beside the latest


def test_a_resumed_run_stops_where_an_uninterrupted_one_does(
    logistic_client_fn: Callable[[str], Client],
) -> None:
    def coordinator(stopper: EarlyStopping) -> Coordinator:
        return Coordinator(
            _strategy(), make_pool(logistic_client_fn, IDS), softmax_init(4, 3), seed=3,
            observers=[stopper],
        )  # fmt: skip

    straight = coordinator(EarlyStopping(patience=3)).run(len(LOSSES))
    first = coordinator(EarlyStopping(patience=3))
    first.run(5)  # interrupted after round 5, one round before the stop
    blob = first.checkpoint_blob(5)
    resumed_stopper = EarlyStopping(patience=3)
    second = coordinator(resumed_stopper)
    assert second.restore(blob) == 5
    rest = second.run(len(LOSSES))
    assert [r.server_round for r in straight.rounds] == [1, 2, 3, 4, 5, 6]
    assert [r.server_round for r in rest.rounds] == [6]
    assert rest.stopped == straight.stopped and resumed_stopper.best_round == 3
    for a, b in zip(straight.parameters, rest.parameters, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_run_resumed_after_its_stop_runs_no_more_rounds(
    logistic_client_fn: Callable[[str], Client],
) -> None:
    """Interrupted between the checkpoint of the stopping round and the run's end: the
    resumed run ends at once, as the uninterrupted one did."""

    def coordinator() -> Coordinator:
        return Coordinator(
            _strategy(), make_pool(logistic_client_fn, IDS), softmax_init(4, 3), seed=3,
            observers=[EarlyStopping(patience=3)],
        )  # fmt: skip

    first = coordinator()
    straight = first.run(len(LOSSES))
    second = coordinator()
    assert second.restore(first.checkpoint_blob(6)) == 6
    rest = second.run(len(LOSSES))
    assert rest.rounds == [] and rest.stopped == straight.stopped is not None


def test_a_run_resumed_after_its_stop_records_the_stop_event_once(
    logistic_client_fn: Callable[[str], Client], tmp_path: Path
) -> None:
    """The first run recorded why it stopped; the resumed one, which runs no round, does
    not record it a second time."""
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {})

        def coordinator() -> Coordinator:
            return Coordinator(
                _strategy(), make_pool(logistic_client_fn, IDS), softmax_init(4, 3), seed=3,
                observers=[EarlyStopping(patience=3)], store=store, run_id=run_id,
            )  # fmt: skip

        first = coordinator()
        straight = first.run(len(LOSSES))
        second = coordinator()
        assert second.restore(first.checkpoint_blob(6)) == 6
        assert second.run(len(LOSSES)).stopped == straight.stopped is not None
        events = [e.message for e in store.events(run_id)]
    assert events.count(straight.stopped) == 1


def test_the_last_round_ends_the_run_without_a_stop(
    logistic_client_fn: Callable[[str], Client],
) -> None:
    history = Coordinator(
        _strategy(), make_pool(logistic_client_fn, IDS), softmax_init(4, 3), seed=3,
        observers=[EarlyStopping(patience=3)],
    ).run(6)  # fmt: skip
    assert len(history.rounds) == 6 and history.stopped is None


def test_a_first_round_whose_evaluations_all_failed_is_not_a_misspelt_metric() -> None:
    """No eval_* metric at all in round 1 (every client's evaluation failed): a round
    without improvement, not a ConfigError naming the metric."""
    stopper = EarlyStopping(metric="eval_loss", patience=2)
    assert _fed(stopper, {"central_loss": 1.0, "train_loss": 1.0}, 1) is None
    assert _fed(stopper, {"eval_loss": 0.5, "eval_accuracy": 0.7}, 2) is None
    assert stopper.best_round == 2
    with pytest.raises(ConfigError, match="eval_los"):
        EarlyStopping(metric="eval_los").on_round_end(1, [], [], {"eval_loss": 1.0})


def test_an_instance_used_for_a_second_run_watches_it_afresh(
    logistic_client_fn: Callable[[str], Client],
) -> None:
    stopper = EarlyStopping(patience=3)

    def run() -> list[int]:
        history = Coordinator(
            _strategy(), make_pool(logistic_client_fn, IDS), softmax_init(4, 3), seed=3,
            observers=[stopper],
        ).run(len(LOSSES))  # fmt: skip
        return [r.server_round for r in history.rounds]

    assert run() == [1, 2, 3, 4, 5, 6]
    assert run() == [1, 2, 3, 4, 5, 6]  # not stopped before round 1 by the first run's watch

"""``on_short_round = "skip"``: a round fewer than ``min_fit_clients`` report in keeps the model
of the round before, is recorded as skipped with who was sampled, who dropped and what it
needed, and the run goes on - true in the run store and its status, the round line, the
progress bar, ``rengo runs show``, the mirrors, checkpoints and resume (same seed, same
result on every executor), early stopping, central DP accounting and the skip limit;
``"fail"`` (the default) still ends the run."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from rengo.core.errors import ConfigError, RoundFailure
from rengo.core.messages import FitResult
from rengo.hfl import (
    Client,
    Coordinator,
    DifferentialPrivacy,
    EarlyStopping,
    FedAvg,
    History,
    LogisticRegressionClient,
    make_pool,
    simulate,
)
from rengo.hfl.coordinator import RoundRecord, RoundShortOfClients, round_summary
from rengo.hfl.progress_bar import RoundProgressBar
from rengo.hfl.strategy.base import Aggregate
from rengo.privacy import CentralDP, epsilon_after
from rengo.tracking import RunStore, round_clients_table, run_detail
from rengo.tracking.mirrors.base import MirroringStore

ROUND_SKIPPED = "round_skipped"
"""The metric that marks a skipped round (rengo.core.skipped_round)."""

N = 6
INIT = [np.zeros((4, 3)), np.zeros(3)]
REPORTERS = ("0", "1")
"""The clients that report in a short round: 2 of 6, under min_fit_clients=4."""


class LinkLost(LogisticRegressionClient):
    """A client that loses its link in the rounds of ``short`` unless it is a reporter."""

    def __init__(self, cid: str, short: Set[int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cid, self.short = cid, short

    def fit(self, parameters: Any, config: Any) -> FitResult:
        if int(config["server_round"]) in self.short and self.cid not in REPORTERS:
            raise ConnectionError("lost its link (test)")
        return super().fit(parameters, config)


def _client_fn(client_data: Any, short: set[int]) -> Callable[[str], Client]:
    frozen = frozenset(short)

    def build(cid: str) -> Client:
        X, y = client_data[cid]
        return LinkLost(cid, frozen, X, y, lr=0.1, local_epochs=2, batch_size=8)

    return build


def _run(
    client_data: Any,
    short: set[int],
    rounds: int,
    *,
    strategy: Any = None,
    mode: str = "skip",
    **options: Any,
) -> History:
    return simulate(
        _client_fn(client_data, short),
        N,
        strategy if strategy is not None else FedAvg(min_fit_clients=4, fraction_evaluate=0.0),
        INIT,
        rounds,
        seed=5,
        on_short_round=mode,
        **options,
    )


def _same(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> bool:
    return all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


def test_under_fail_the_default_a_short_round_still_ends_the_run(client_data, tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RoundShortOfClients, match="only 2 of 6 clients reported"):
        _run(client_data, {2}, 3, mode="fail", store=store)
    run = store.list_runs()[0]
    assert run.status == "failed"
    assert [r.round for r in store.rounds(run.run_id)] == [1]


def test_a_skipped_round_keeps_the_model_and_records_who_was_sampled_dropped_and_needed(
    client_data, tmp_path
) -> None:
    store = RunStore(tmp_path / "runs.db")
    history = _run(client_data, {2, 3}, 4, store=store)
    after_one = _run(client_data, set(), 1).parameters
    assert [r.skipped is not None for r in history.rounds] == [False, True, True, False]
    skipped = history.rounds[1]
    assert skipped.clients == [str(i) for i in range(N)]
    assert set(skipped.failures) == {"2", "3", "4", "5"}
    assert "only 2 of 6 clients reported, min_fit_clients=4" in (skipped.skipped or "")
    assert skipped.metrics == {ROUND_SKIPPED: 1.0}
    assert not _same(history.parameters, after_one)  # round 4 ran
    run = store.get_run(history.run_id or "")
    assert run.status == "completed"
    recorded = store.rounds(run.run_id)
    assert [r.metrics.get(ROUND_SKIPPED) for r in recorded] == [None, 1.0, 1.0, None]
    assert [(r.num_clients, r.num_failures) for r in recorded][1:3] == [(6, 4), (6, 4)]
    warnings = [e.message for e in store.events(run.run_id, "warning") if e.round == 2]
    note = next(m for m in warnings if m.startswith("round 2 skipped:"))
    assert "min_fit_clients=4" in note and "sampled 6 (0, 1, 2, 3, 4, 5)" in note
    assert "lost its link (test)" in note
    assert "the model of round 1 is kept" in note
    assert not store.events(run.run_id, "error")  # a skipped round is no failure
    line = round_summary(skipped, 4)
    assert line.startswith("round 2/4: skipped, 2 of 6 clients reported (the model before kept)")


def test_two_skipped_rounds_leave_the_model_of_round_one(client_data) -> None:
    """Rounds 2 and 3 skipped: the model after them is round 1's, byte for byte (the
    skipped rounds moved nothing; that the strategy state is kept too is checked through
    resume, below)."""
    skipping = _run(client_data, {2, 3}, 3)
    assert _same(skipping.parameters, _run(client_data, set(), 1).parameters)


class Configured(FedAvg):
    """FedAvg whose state counts the rounds it configured, and which counts its snapshots."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.configured, self.snapshots = 0, 0

    def configure_fit(self, server_round: int, *args: Any, **kwargs: Any) -> Any:
        self.configured += 1
        return super().configure_fit(server_round, *args, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        self.snapshots += 1
        return {**super().state_dict(), "configured": self.configured}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.configured = state.pop("configured")
        super().load_state_dict(state)


def test_a_round_snapshots_the_strategy_once_and_a_skip_restores_that_snapshot(
    client_data,
) -> None:
    """Under "skip" a round took the strategy's state twice before it ran (once to restore
    on a skip, once for its attempt); one snapshot serves both, and the skipped round 2
    still leaves the state of round 1."""
    strategy = Configured(min_fit_clients=4, fraction_evaluate=0.0)
    history = _run(client_data, {2}, 3, strategy=strategy)
    assert [r.skipped is not None for r in history.rounds] == [False, True, False]
    assert strategy.snapshots == 3
    assert strategy.configured == 2  # round 2's configure_fit undone by the skip


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_a_retried_round_runs_again_from_the_strategy_state_before_its_short_attempt(
    client_data, mode: str
) -> None:
    """Round 2 falls short once and ``retry_round`` runs it again: the attempt that fell
    short configured the round, and that is undone, so the strategy configured each of the
    3 rounds once (4 would mean the retry ran from the short attempt's state)."""
    short = {2}  # round 2 is short until the retry clears it

    def build(cid: str) -> Client:
        X, y = client_data[cid]
        return LinkLost(cid, short, X, y, lr=0.1, local_epochs=2, batch_size=8)

    def retry(server_round: int, exc: RoundShortOfClients) -> bool:
        retries.append(server_round)
        short.discard(server_round)
        return True

    retries: list[int] = []
    strategy = Configured(min_fit_clients=4, fraction_evaluate=0.0)
    pool = make_pool(build, [str(i) for i in range(N)])
    history = Coordinator(strategy, pool, INIT, on_short_round=mode).run(3, retry_round=retry)
    assert retries == [2]
    assert [r.skipped for r in history.rounds] == [None, None, None]
    assert strategy.configured == 3
    assert strategy.snapshots == 4  # one per attempt: 3 rounds and round 2's retry


def test_runs_show_marks_skipped_rounds_and_round_k_says_why(client_data, tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    history = _run(client_data, {2}, 3, store=store)
    run_id = history.run_id or ""
    console = Console(width=250, record=True, color_system=None)
    console.print(run_detail(store, run_id))
    console.print(round_clients_table(store, run_id, 2))
    text = " ".join(console.export_text().split())  # titles wrap at the table's width
    assert "1 skipped, short of clients: model kept; --round K says why" in text
    assert "skipped" in text.split("round_skipped")[1]
    assert "SKIPPED, nothing of it aggregated: round 2 skipped: only 2 of 6 clients" in text
    console = Console(width=250, record=True, color_system=None)
    console.print(round_clients_table(store, run_id, 1))
    assert "SKIPPED" not in console.export_text()


def test_the_progress_bar_says_skipped_not_dropped() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    bar = RoundProgressBar(True, 10, "hfl", console=console)
    failures = {c: "lost its link" for c in ("c", "d", "e")}
    with bar as report:
        assert report is not None
        report(RoundRecord(1, ["a", "b", "c", "d", "e"], failures, {ROUND_SKIPPED: 1.0}, 0.1, "x"))
        status = bar._bar.tasks[0].fields["status"]
    assert "skipped: 2 of 5 reported" in status and "dropped" not in status


class _Recording:
    """A mirror that keeps what it is given."""

    def __init__(self) -> None:
        self.rounds: dict[int, dict[str, float]] = {}

    def open(self, store: Any, run: Any) -> None:
        pass

    def round(self, store: Any, run: Any, record: Any, clients: Any) -> None:
        from rengo.tracking.mirrors.base import round_scalars

        self.rounds[record.round] = round_scalars(record, clients)

    def close(self, store: Any, run: Any) -> None:
        pass


def test_the_mirrors_get_the_skipped_round_with_its_drops(client_data, tmp_path) -> None:
    mirror = _Recording()
    store = MirroringStore(tmp_path / "runs.db", mirrors=[mirror])
    _run(client_data, {2}, 3, store=store)
    assert mirror.rounds[2][ROUND_SKIPPED] == 1.0
    assert mirror.rounds[2]["clients/failed"] == 4.0 and mirror.rounds[2]["clients/ok"] == 2.0
    assert ROUND_SKIPPED not in mirror.rounds[1] and "train_loss" in mirror.rounds[3]


class _StopAfter:
    def __init__(self, server_round: int) -> None:
        self.server_round = server_round

    def __call__(self, record: RoundRecord) -> None:
        if record.server_round == self.server_round:
            raise KeyboardInterrupt


@pytest.mark.parametrize("executor", ["serial", "process"])
@pytest.mark.parametrize("cut_after", [2, 3])
def test_a_resumed_run_skips_the_same_rounds_and_ends_bit_identical(
    client_data, tmp_path, executor: str, cut_after: int
) -> None:
    """Cut after the skipped round 2 (its checkpoint holds the kept model) or after round 3
    (which ran after it); resumed, the run records the same rounds and ends on the same
    model as an uninterrupted one, on the serial and the process executor."""
    whole = _run(client_data, {2, 4}, 5, executor="serial")
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        _run(client_data, {2, 4}, 5, store=store, progress=_StopAfter(cut_after))
    run_id = store.list_runs()[0].run_id
    assert store.get_run(run_id).status == "interrupted"
    resumed = _run(client_data, {2, 4}, 5, store=store, resume=run_id, executor=executor, workers=2)
    assert resumed.rounds[0].server_round == cut_after + 1
    assert _same(resumed.parameters, whole.parameters)
    recorded = store.rounds(run_id)
    assert [r.metrics for r in recorded] == [r.metrics for r in whole.rounds]
    assert store.get_run(run_id).status == "completed"


@pytest.mark.parametrize(("first", "then"), [("skip", "fail"), ("fail", "skip")])
def test_a_resume_under_another_on_short_round_is_refused_either_way(
    client_data, tmp_path, first: str, then: str
) -> None:
    """The settings are recorded only under "skip": a run started under "skip" resumed
    under the default "fail" failed at a round it would have skipped, and one started under
    "fail" resumed under "skip" skipped a round its record says it would fail. Both are
    refused, and the run stays interrupted."""
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        _run(client_data, {3}, 4, mode=first, store=store, progress=_StopAfter(2))
    run_id = store.list_runs()[0].run_id
    with pytest.raises(ConfigError, match=f"on_short_round '{first}', now '{then}'"):
        _run(client_data, {3}, 4, mode=then, store=store, resume=run_id)
    assert store.get_run(run_id).status == "interrupted"
    if first == "skip":  # with the settings it started with, it resumes and skips round 3
        resumed = _run(client_data, {3}, 4, mode=first, store=store, resume=run_id)
        assert [r.skipped is not None for r in resumed.rounds] == [True, False]


def test_a_run_recorded_without_the_settings_resumes_as_fail(client_data, tmp_path) -> None:
    """A run recorded before the option (no on_short_round in its config) resumes under
    the default "fail" as before."""
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        _run(client_data, set(), 3, mode="fail", store=store, progress=_StopAfter(1))
    run_id = store.list_runs()[0].run_id
    assert "on_short_round" not in store.get_run(run_id).config
    resumed = _run(client_data, set(), 3, mode="fail", store=store, resume=run_id)
    assert [r.server_round for r in resumed.rounds] == [2, 3]


def test_one_short_round_more_than_max_skipped_rounds_fails_the_run(client_data, tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RoundShortOfClients, match="max_skipped_rounds=2, so the run ends"):
        _run(client_data, set(range(1, 9)), 8, store=store, max_skipped_rounds=2)
    run = store.list_runs()[0]
    assert run.status == "failed"
    assert [r.metrics for r in store.rounds(run.run_id)] == [{ROUND_SKIPPED: 1.0}] * 2
    errors = [e.message for e in store.events(run.run_id, "error")]
    assert errors[0].startswith("round 3 failed: only 2 of 6 clients")  # then "run failed"
    assert sum(m.startswith("round ") for m in errors) == 1


def test_the_skip_streak_survives_a_resume_and_a_round_that_runs_resets_it(
    client_data, tmp_path
) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        _run(
            client_data, set(range(1, 9)), 8, store=store, max_skipped_rounds=2,
            progress=_StopAfter(1),
        )  # fmt: skip
    run_id = store.list_runs()[0].run_id
    with pytest.raises(RoundShortOfClients, match="round 3 failed"):  # not round 4
        _run(client_data, set(range(1, 9)), 8, store=store, max_skipped_rounds=2, resume=run_id)
    # two skips, a round that runs, two skips: never three in a row
    history = _run(client_data, {1, 2, 4, 5}, 5, max_skipped_rounds=2)
    assert [r.skipped is not None for r in history.rounds] == [True, True, False, True, True]


def test_a_skipped_round_is_not_a_round_without_improvement_for_early_stopping(
    client_data,
) -> None:
    """patience=1: had the skipped round 2 counted as a round without improvement, the run
    would have stopped after it; it stops only on a round that ran and did not improve."""
    stopping = EarlyStopping(metric="train_loss", patience=1)
    history = _run(client_data, {2, 3}, 5, observers=[stopping])
    assert history.stopped is None
    assert [r.server_round for r in history.rounds] == [1, 2, 3, 4, 5]
    assert stopping.best_round in (4, 5)


def _dp(target: float = 0.0) -> DifferentialPrivacy:
    dp = CentralDP(noise_multiplier=2.0, clip_norm=1.0, accountant="rdp", target_epsilon=target)
    return DifferentialPrivacy(FedAvg(min_fit_clients=4, fraction_evaluate=0.0), dp)


def test_under_central_dp_a_short_round_is_released_and_accounted_never_skipped(
    client_data, tmp_path
) -> None:
    """A skip would depend on the un-noised count of replies and show it every round, so
    under central DP "skip" releases the noised sum of the 2 that replied and counts the
    round: no round's skip-or-release decision is left out of what epsilon covers."""
    store = RunStore(tmp_path / "runs.db")
    strategy = _dp()
    history = _run(client_data, {2, 3}, 5, strategy=strategy, store=store)
    assert [r.skipped for r in history.rounds] == [None] * 5
    assert all(ROUND_SKIPPED not in r.metrics for r in history.rounds)
    assert [r.metrics["dp_rounds_accounted"] for r in history.rounds] == [1, 2, 3, 4, 5]
    assert strategy.accountant.rounds == 5
    assert history.last("dp_epsilon") == pytest.approx(epsilon_after(5, 2.0, 1e-5, 1.0, "rdp"))
    run_id = history.run_id or ""
    assert store.get_run(run_id).status == "completed"
    events = store.events(run_id, "warning")
    released = [e.round for e in events if e.message.startswith(f"round {e.round} released short")]
    assert released == [2, 3]
    assert all("only 2 of 6 clients reported" in e.message for e in events if "short:" in e.message)


def test_under_central_dp_epsilon_is_never_below_that_of_every_round_run(client_data) -> None:
    """Every round run, short or not, is composed: the epsilon a round shows is at least
    the accountant's epsilon for as many rounds as ran up to it."""
    history = _run(client_data, {1, 2, 4}, 5, strategy=_dp())
    for record in history.rounds:
        floor = epsilon_after(record.server_round, 2.0, 1e-5, 1.0, "rdp")
        assert record.metrics["dp_epsilon"] >= floor - 1e-9


def test_a_target_epsilon_still_stops_the_run_after_the_releases_it_allows(client_data) -> None:
    assert epsilon_after(3, 2.0, 1e-5, 1.0, "rdp") <= 4.5 < epsilon_after(4, 2.0, 1e-5, 1.0, "rdp")
    history = _run(client_data, {2, 3}, 10, strategy=_dp(4.5))
    assert [r.server_round for r in history.rounds] == [1, 2, 3]
    assert history.stopped is not None and "target_epsilon = 4.5" in history.stopped
    assert max(v for _, v in history.metric("dp_epsilon")) <= 4.5


@pytest.mark.parametrize(
    ("on_short_round", "max_skipped_rounds"), [("skip ", 3), ("Skip", 3), ("skip", -1)]
)
def test_bad_settings_are_refused_before_a_run_is_recorded(
    client_data, tmp_path, on_short_round: str, max_skipped_rounds: int
) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(ConfigError, match=r"on_short_round|max_skipped_rounds"):
        _run(
            client_data, set(), 1, mode=on_short_round, max_skipped_rounds=max_skipped_rounds,
            store=store,
        )  # fmt: skip
    assert store.list_runs() == []


class _Misshapen(FedAvg):
    """Aggregates to a model of another shape (a strategy bug)."""

    def aggregate_fit(self, server_round: int, parameters: Any, acc: Any, rng: Any = None) -> Any:
        return [np.zeros(2)]


def test_a_failure_that_is_no_shortfall_still_fails_under_skip(client_data) -> None:
    """A strategy returning a model unlike the one the round started from is no shortage of
    clients: skipping it would hide a bug."""
    strategy = _Misshapen(min_fit_clients=2, fraction_evaluate=0.0)
    with pytest.raises(RoundFailure, match="unlike the one the round started from") as caught:
        _run(client_data, set(), 2, strategy=strategy)
    assert not isinstance(caught.value, RoundShortOfClients)


def test_the_store_round_record_carries_the_skip_for_a_reader(client_data, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    history = _run(client_data, {1}, 2, store=store)
    from rengo.tracking.skipped_rounds import skipped_rounds

    why = skipped_rounds(store, history.run_id or "")
    assert list(why) == [1] and why[1].startswith("round 1 skipped: only 2 of 6")
    assert "the initial model is kept" in why[1]


class _Abandoned:
    """An observer that keeps why each abandoned attempt was abandoned."""

    def __init__(self) -> None:
        self.reasons: list[tuple[int, str]] = []

    def on_fit_result(self, *args: Any) -> None:
        pass

    def on_round_end(self, *args: Any) -> None:
        pass

    def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
        self.reasons.append((server_round, reason))


def test_observers_and_the_log_hear_a_skipped_round_was_skipped_not_failed(
    client_data, caplog
) -> None:
    """Observers were told "the round failed" for a round the run skipped (so `rengo run -v`
    logged it as failed in a completed run), and the round's "N more client(s) dropped as
    client X was" line never came, its bookkeeping never cleared."""
    observer = _Abandoned()
    with caplog.at_level("WARNING", logger="rengo.hfl"):
        _run(client_data, {2}, 3, observers=[observer])
    assert observer.reasons == [(2, "the round was skipped, short of clients")]
    assert any(m.startswith("round 2: 3 more client(s) dropped as client") for m in caplog.messages)


def test_the_shortfall_past_max_skipped_rounds_is_heard_as_failed(client_data) -> None:
    observer = _Abandoned()
    with pytest.raises(RoundShortOfClients):
        _run(client_data, {2, 3}, 3, observers=[observer], max_skipped_rounds=1)
    assert observer.reasons == [
        (2, "the round was skipped, short of clients"),
        (3, "the round failed"),
    ]


class _Flagging(FedAvg):
    """A strategy whose own metric is named like the skip mark."""

    def aggregate_fit(self, server_round: int, parameters: Any, acc: Any, rng: Any = None) -> Any:
        new = super().aggregate_fit(server_round, parameters, acc, rng)
        return Aggregate(new.parameters if isinstance(new, Aggregate) else new, {ROUND_SKIPPED: 1})


def test_a_strategy_metric_named_round_skipped_is_refused_naming_the_reserved_key(
    client_data, tmp_path
) -> None:
    """A strategy returning round_skipped = 1 made rounds that ran read as skipped in
    `rengo runs show` and the rewards notes; the name is the round loop's."""
    store = RunStore(tmp_path / "runs.db")
    strategy = _Flagging(min_fit_clients=4, fraction_evaluate=0.0)
    with pytest.raises(ValueError, match="'round_skipped', the name the round loop reserves"):
        _run(client_data, set(), 2, strategy=strategy, mode="fail", store=store)
    assert store.rounds(store.list_runs()[0].run_id) == []  # no round recorded as skipped


def test_the_history_repr_shows_the_last_round_that_ran_not_the_skip_mark(client_data) -> None:
    history = _run(client_data, {3}, 3)
    shown = repr(history)
    assert "round_skipped" not in shown
    assert "last round run 2 (1 skipped after it): train_loss=" in shown

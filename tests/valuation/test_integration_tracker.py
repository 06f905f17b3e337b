"""End to end: a real simulate() run with a ContributionTracker, recorded in the run store,
paid from a budget into the ledger and exported as CSV."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.data import load_dataset
from rengo.hfl import Client, FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.hfl.numpy_client import softmax_loss_grad
from rengo.rewards import format_minor, to_minor_units
from rengo.tracking import RunStore
from rengo.tracking.contrib_records import (
    contribution_notes,
    pay_rewards,
    record_contributions,
    run_contributions,
    write_ledger_csv,
)
from rengo.valuation import ContributionTracker, GTGConfig, MaxEvaluations, MaxSamples

ROWS = 60
"""Rows of a normal-size client; "big" holds twice as many."""


class FreeRider(Client):
    """Sends back the global model (``copy``) or the global model plus noise (``noise``),
    claiming as many examples as a normal client: it trains on nothing."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        rng = np.random.default_rng(int(config.get("seed", 0)))  # type: ignore[arg-type]
        if self.kind == "copy":
            out = [np.array(p, copy=True) for p in parameters]
        else:
            out = [p + rng.normal(scale=1.0, size=p.shape) for p in parameters]
        return FitResult(out, ROWS, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


class DigitsWorld:
    """Standardised digits: a 360-row held-out set and disjoint IID client slices."""

    def __init__(self, sizes: dict[str, int], seed: int = 0) -> None:
        data = load_dataset("digits")
        x = (data.X - data.X.mean(0)) / (data.X.std(0) + 1e-9)
        y = data.labels()
        order = np.random.default_rng(seed).permutation(len(y))
        self.x, self.y = x, y
        self.test = order[:360]
        start = 360
        self.parts: dict[str, np.ndarray] = {}
        for cid, n in sizes.items():
            self.parts[cid] = order[start : start + n]
            start += n

    def client_fn(  # type: ignore[no-untyped-def]
        self,
        riders: dict[str, str] | None = None,
        *,
        lr: float = 0.05,
        local_epochs: int = 5,
        batch_size: int | None = 20,
    ):
        """Honest clients train softmax regression locally (several small-batch epochs,
        so more data makes a better local model); ``riders`` name the free-riders."""
        riders = riders or {}

        def make(cid: str) -> Client:
            if cid in riders:
                return FreeRider(riders[cid])
            idx = self.parts[cid]
            return LogisticRegressionClient(
                self.x[idx], self.y[idx], lr=lr, local_epochs=local_epochs, batch_size=batch_size
            )

        return make

    def score(self, params: Parameters) -> float:
        """The coordinator's validation score: minus the held-out log loss."""
        loss, _ = softmax_loss_grad(params, self.x[self.test], self.y[self.test], 0.0)
        return -loss


HONEST = {"big": 2 * ROWS, "mid": ROWS, "small": ROWS}


def run_with_tracker(
    method: str,
    riders: dict[str, str],
    store: RunStore | None = None,
    rounds: int = 4,
    **tracker_options: object,
) -> tuple[ContributionTracker, str | None]:
    world = DigitsWorld(HONEST)
    tracker = ContributionTracker(world.score, method, seed=1, **tracker_options)  # type: ignore[arg-type]
    history = simulate(
        world.client_fn(riders),
        [*HONEST, *riders],
        FedAvg(fraction_evaluate=0.0),
        softmax_init(64, 10),
        rounds,
        seed=0,
        store=store,
        observers=[tracker],
    )
    return tracker, history.run_id


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with RunStore(tmp_path / "runs.db") as s:
        yield s


@pytest.mark.parametrize("kind", ["copy", "noise"])
@pytest.mark.parametrize("method", ["mr", "gtg"])
def test_free_rider_ranks_last_and_is_paid_nothing(store: RunStore, kind: str, method: str):
    tracker, run_id = run_with_tracker(method, {"rider": kind}, store)
    assert run_id is not None
    report = tracker.report()
    assert report.ranking()[-1][0] == "rider"
    assert report.values["rider"] < 0
    record_contributions(store, run_id, report)
    stored = run_contributions(store, run_id)
    assert set(stored.stderr) == set(report.values) == set(stored.intervals)
    for player, (low, high) in stored.intervals.items():  # each value inside its interval
        assert low <= report.values[player] <= high
    budget = to_minor_units("1000.00")
    payouts = pay_rewards(store, run_id, "proportional", budget, "EUR")
    assert {p.participant: p.amount_minor for p in payouts}["rider"] == 0
    ledger = store.ledger(run_id)
    assert sum(int(e.amount) for e in ledger) == budget
    assert next(e for e in ledger if e.participant == "rider").amount == 0


def test_client_with_twice_the_data_is_valued_above_the_half_size_clients():
    tracker, _ = run_with_tracker("mr", {})
    values = tracker.report().values
    assert values["big"] > values["mid"] > 0
    assert values["big"] > values["small"] > 0


def test_per_round_values_sum_to_the_run_totals_and_read_back_from_the_store(store: RunStore):
    tracker, run_id = run_with_tracker("loo", {"rider": "copy"}, store, rounds=3)
    assert run_id is not None
    report = tracker.report()
    assert [r.round for r in report.rounds] == [1, 2, 3]
    for player, total in report.values.items():
        assert total == pytest.approx(sum(r.values[player] for r in report.rounds))
    assert record_contributions(store, run_id, report) == 4 * 3 + 4
    found = run_contributions(store, run_id[:12])
    assert found.method == "loo"
    assert found.totals == pytest.approx(report.values)
    assert found.per_round[2] == pytest.approx(report.rounds[1].values)


class ScoreRecorder:
    """An observer that scores each round's start and end models."""

    def __init__(self, score) -> None:  # type: ignore[no-untyped-def]
        self.score = score
        self.gains: dict[int, float] = {}

    def on_fit_result(self, *args: object) -> None:
        pass

    def on_round_end(self, server_round, old, new, metrics) -> None:  # type: ignore[no-untyped-def]
        self.gains[server_round] = self.score(new) - self.score(old)


def test_exact_round_values_add_up_to_each_round_gain_and_or_ranks_the_rider_last():
    world = DigitsWorld(HONEST)
    tracker = ContributionTracker(world.score, "mr")
    recorder = ScoreRecorder(world.score)
    simulate(
        world.client_fn({"rider": "copy"}),
        [*HONEST, "rider"],
        FedAvg(fraction_evaluate=0.0),
        softmax_init(64, 10),
        2,
        observers=[tracker, recorder],
    )
    report = tracker.report()
    assert report.evaluations == 2 * 2**4  # every coalition of 4 clients, each round
    for r in report.rounds:  # efficiency: v(everyone) - v(no one) = the round's gain
        assert sum(r.values.values()) == pytest.approx(recorder.gains[r.round], abs=1e-6)
    loo, _ = run_with_tracker("loo", {"rider": "copy"}, rounds=2)
    assert loo.report().evaluations == 2 * (4 + 1)
    whole, _ = run_with_tracker("or", {"rider": "copy"}, rounds=2)
    assert whole.report().method == "or"
    assert whole.report().ranking()[-1][0] == "rider"


def test_tracker_holds_one_round_of_updates_and_caps_memory():
    tracker, _ = run_with_tracker("gtg", {}, rounds=2)
    assert tracker._pending == {} and tracker._stored_values == 0
    params = (64 + 1) * 10
    with pytest.raises(ConfigError, match="max_stored_values"):
        run_with_tracker("gtg", {}, rounds=1, max_stored_values=3 * params)
    # "or" keeps every round: two rounds of 3 clients (+ the global model) exceed 1.5 rounds.
    with pytest.raises(ConfigError, match="keeps every round"):
        run_with_tracker("or", {}, rounds=2, max_stored_values=6 * params)


def test_gtg_skips_rounds_that_did_not_move_the_score():
    config = GTGConfig(between_round_eps=1e9)
    tracker, _ = run_with_tracker("gtg", {}, rounds=2, gtg=config)
    # each skip is confirmed by v(all), v(empty) and every solo and leave-one-out coalition
    for r in tracker.report().rounds:
        assert r.truncated and r.evaluations == 2 + 2 * len(r.values)
        assert all(se == 0.0 for se in r.stderr.values())


def test_identity_groups_merge_members_into_one_player():
    tracker, _ = run_with_tracker("mr", {}, rounds=2, entity_of={"mid": "acme", "small": "acme"})
    assert tracker.report().players == ("acme", "big")


def test_an_unregistered_client_named_like_a_registered_entity_is_refused_not_merged():
    """The tracker grouped identities itself and merged "big" (registered to no entity) into
    the entity "big" that "mid" is registered to; the reward functions refuse that posing."""
    with pytest.raises(ConfigError, match=r"\['big'\] are not registered to an entity"):
        run_with_tracker("mr", {}, rounds=1, entity_of={"mid": "big"})


def test_unknown_method_and_empty_report_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown contribution method"):
        ContributionTracker(lambda p: 0.0, "banzhaf")
    with pytest.raises(DataError, match="no completed round"):
        ContributionTracker(lambda p: 0.0).report()


@pytest.fixture(scope="module")
def paid_store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A run valued per round and paid 1000.01 credits, proportionally, once per round:
    each test that uses it sees it paid, whichever pytest worker runs it (the ledger test
    found an unpaid run when it ran on another worker than the paying test)."""
    path = tmp_path_factory.mktemp("paid") / "runs.db"
    with RunStore(path) as s:
        tracker, run_id = run_with_tracker("mr", {"rider": "noise"}, s, rounds=3)
        assert run_id is not None
        record_contributions(s, run_id, tracker.report())
        payouts = pay_rewards(s, run_id, "proportional", 100_001, per_round=True)
        yield s, run_id, payouts


def test_payouts_sum_exactly_to_the_budget_and_a_second_payment_is_refused(paid_store):
    store, run_id, payouts = paid_store
    ledger = store.ledger(run_id)
    assert len(ledger) == 3 * 4  # one line per client per round
    assert sum(int(e.amount) for e in ledger) == 100_001
    assert {e.round for e in ledger} == {1, 2, 3}
    assert all(e.amount == 0 for e in ledger if e.participant == "rider")
    assert sum(p.amount_minor for p in payouts) == 100_001
    assert all("policy=proportional method=mr budget=1000.01 credits" in e.reason for e in ledger)
    with pytest.raises(ConfigError, match="already paid"):
        pay_rewards(store, run_id, "equal", 100)


def test_ledger_csv_opens_with_the_csv_module_and_sums_to_the_budget(paid_store, tmp_path: Path):
    store, run_id, _ = paid_store
    out = tmp_path / "ledger.csv"
    assert write_ledger_csv(store, [run_id], out) == 12
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:8] == [
        "run",
        "round",
        "participant",
        "kind",
        "amount",
        "currency",
        "reason",
        "timestamp",
    ]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("1000.01")
    assert all(len(r["amount"].split(".")[1]) == 2 for r in rows)
    assert {r["run"] for r in rows} == {run_id}


def test_equal_and_stake_policies(tmp_path: Path):
    with RunStore(tmp_path / "runs.db") as s:
        run = s.start_run("hfl", {})
        for who, value in {"a": 0.04, "b": -0.02, "c": 0.0}.items():
            s.log_contribution(run, None, who, "gtg", value)
        equal = pay_rewards(s, run, "equal", 100)
        assert [p.amount_minor for p in equal] == [34, 33, 33]
        run2 = s.start_run("hfl", {})
        for who, value in {"a": 0.04, "b": -0.02}.items():
            s.log_contribution(run2, None, who, "gtg", value)
        staked = pay_rewards(s, run2, "stake", 10_000, stakes_minor={"a": 1000, "b": 1000})
        assert {p.participant: p.amount_minor for p in staked} == {"a": 40, "b": -20}
        assert [e.kind for e in s.ledger(run2)] == ["reward", "burn"]
        run3 = s.start_run("hfl", {})
        s.log_contribution(run3, None, "a", "gtg", 0.1)
        with pytest.raises(ConfigError, match="needs each participant's stake"):
            pay_rewards(s, run3, "stake", 1)


def test_money_round_trips_exactly_and_refuses_sub_unit_amounts():
    assert to_minor_units("1000.00") == 100_000
    assert to_minor_units("12.5", 3) == 12_500
    assert format_minor(100_001) == "1000.01"
    assert format_minor(-5) == "-0.05"
    assert format_minor(7, 0) == "7"
    with pytest.raises(ConfigError, match="more than 2 decimals"):
        to_minor_units("0.005")
    with pytest.raises(ConfigError, match="not float"):
        to_minor_units(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["mr", "gtg", "loo"])
def test_a_coalition_scoring_nan_falls_back_to_group_level_and_training_goes_on(
    store: RunStore, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One coalition model scoring NaN (a diverged coalition under a log-loss score) ended
    the whole run as failed with none of its rounds logged, the completed round 1 too."""
    world = DigitsWorld(HONEST)
    calls = {"n": 0}

    def score(params: Parameters) -> float:
        calls["n"] += 1
        return float("nan") if calls["n"] == 3 else world.score(params)

    tracker = ContributionTracker(score, method, seed=1)
    history = simulate(
        world.client_fn(),
        list(HONEST),
        FedAvg(fraction_evaluate=0.0),
        softmax_init(64, 10),
        2,
        seed=0,
        store=store,
        observers=[tracker],
    )
    assert history.run_id is not None
    assert store.get_run(history.run_id).status == "completed"
    assert len(store.rounds(history.run_id)) == 2
    report = tracker.report()
    assert report.group_level_rounds == (1,)
    first = report.rounds[0]
    assert "scored nan" in first.stopped_by
    assert len(set(first.values.values())) == 1  # an equal share each
    assert all(np.isfinite(v) for v in report.values.values())
    assert "falls back to group level" in caplog.text


@pytest.mark.parametrize("method", ["gtg", "or"])
def test_a_resumed_run_values_every_round_as_an_uninterrupted_one(
    store: RunStore, method: str
) -> None:
    """A resumed run's fresh tracker valued (and its budget paid) only the rounds after the
    resume: the checkpoint now keeps the tracker's rounds and its sampling generator, so the
    resumed values equal the uninterrupted run's exactly."""
    from rengo.hfl import Coordinator, make_pool

    world = DigitsWorld(HONEST)
    clients = list(HONEST)

    def tracker() -> ContributionTracker:
        return ContributionTracker(world.score, method, seed=1)

    def run(rounds: int, observer: ContributionTracker, **options: object):  # type: ignore[no-untyped-def]
        return simulate(
            world.client_fn(), clients, FedAvg(fraction_evaluate=0.0), softmax_init(64, 10),
            rounds, seed=0, observers=[observer], **options,
        )  # fmt: skip

    whole = tracker()
    run(3, whole)
    first = tracker()
    interrupted = run(2, first, store=store)
    assert interrupted.run_id is not None
    checkpoint = store.latest_checkpoint(interrupted.run_id)
    assert checkpoint is not None and checkpoint[0] == 2
    resumed = tracker()
    coordinator = Coordinator(
        FedAvg(fraction_evaluate=0.0),
        make_pool(world.client_fn(), clients, "serial"),
        softmax_init(64, 10),
        seed=0,
        observers=[resumed],
        start_round=3,
    )
    coordinator.restore(checkpoint[1])
    coordinator.run(3)
    assert [r.round for r in resumed.report().rounds] == [r.round for r in whole.report().rounds]
    assert resumed.report().values == whole.report().values


def test_values_without_a_standard_error_carry_a_note_to_whoever_reads_them(store: RunStore):
    """A round whose sampling stopped on its budget before a second sample has no standard
    error; the run store keeps that as unknown, and ``rengo rewards show`` printed such
    values without any error column, as it prints values never given one."""
    weights = np.random.default_rng(0).uniform(1, 10, 30)

    def score(params: Parameters) -> float:
        return float(np.log1p(params[0].sum()))

    def one_round(rule: object) -> ContributionTracker:
        tracker = ContributionTracker(score, "tmc", tmc_rule=rule)  # type: ignore[arg-type]
        start = [np.zeros(1)]
        for i, w in enumerate(weights):
            tracker.on_fit_result(1, start, f"c{i}", FitResult([np.full(1, w)], 1))
        tracker.on_round_end(1, start, [np.full(1, weights.mean())], {})
        return tracker

    capped = one_round(MaxEvaluations(100)).report()
    assert all(np.isinf(e) for e in capped.stderr.values())
    (note,) = capped.notes
    assert note.startswith("rounds [1] have sampled values without a standard error (of c0, ")
    run_id = store.start_run("capped", {})
    record_contributions(store, run_id, capped)
    assert any(note in line for line in contribution_notes(store, run_id))
    assert one_round(MaxSamples(2)).report().notes == ()  # two samples: an error exists

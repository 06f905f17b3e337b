"""Central DP-FedAvg: the noise has the configured scale, no client moves the model by more
than its clip norm allows (whatever it claims), the budget stops training before it is
exceeded, and DP-FedAvg still learns digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dp_accounting")

from rengo.core import Config, EvaluateResult, FitResult, Parameters
from rengo.core.errors import ConfigError
from rengo.hfl import (
    Client,
    Coordinator,
    DifferentialPrivacy,
    FedAdam,
    FedAvg,
    FedMedian,
    LogisticRegressionClient,
    make_pool,
    simulate,
    softmax_init,
)
from rengo.privacy import CentralDP, epsilon_after, update_noise_multiplier
from rengo.tracking.tables import epsilon_shown


class Step(Client):
    """Returns the global model plus ``step`` in every coordinate, claiming ``examples``."""

    def __init__(self, step: float = 0.0, examples: int = 10) -> None:
        super().__init__()
        self.step = step
        self.examples = examples

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + self.step for p in parameters], self.examples)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def _one_round(strategy: DifferentialPrivacy, client_fn, n: int, model: Parameters, seed=0):
    return simulate(client_fn, n, strategy, model, 1, seed=seed)


@pytest.mark.parametrize("adaptive", [False, True])
def test_released_update_has_the_configured_noise_scale(adaptive: bool) -> None:
    # Ten clients send no change: the new model is pure noise of std z_d * C / N per
    # coordinate. 60,000 coordinates estimate it to 0.3% (a wrong denominator, a noise on
    # the mean instead of the sum, or a forgotten adaptive correction all fail this).
    dp = CentralDP(noise_multiplier=0.8, clip_norm=2.0, adaptive_clipping=adaptive)
    strategy = DifferentialPrivacy(FedAvg(min_fit_clients=10), dp)
    history = _one_round(strategy, lambda cid: Step(0.0), 10, [np.zeros((300, 200))])
    z = update_noise_multiplier(0.8, 10 / 20) if adaptive else 0.8
    expected = z * 2.0 / 10
    assert history.parameters[0].std() == pytest.approx(expected, rel=0.015)
    assert history.last("dp_noise_stddev") == pytest.approx(expected)
    # the record names the update noise's own multiplier, so an auditor can check the split
    assert history.last("dp_update_noise_multiplier") == pytest.approx(z)


@pytest.mark.parametrize("weighting", ["uniform", "bounded"])
def test_no_client_moves_the_model_more_than_the_clip_norm_allows(weighting: str) -> None:
    # One client sends a huge update and claims a million examples; nine send nothing. With
    # (almost) no noise, the model moves by the attacker's clipped update over q N: C / 10.
    dp = CentralDP(noise_multiplier=1e-9, clip_norm=0.5, weighting=weighting, weight_cap=100)
    strategy = DifferentialPrivacy(FedAvg(min_fit_clients=10), dp)

    def client_fn(cid: str) -> Client:
        return Step(1e3, 1_000_000) if cid == "0" else Step(0.0, 10)

    history = _one_round(strategy, client_fn, 10, [np.zeros(50), np.zeros(3)])
    moved = np.sqrt(sum(float(np.sum(p * p)) for p in history.parameters))
    assert moved == pytest.approx(0.5 / 10, rel=1e-6)
    # plain example-weighted FedAvg lets the same client take the model where it likes
    plain = simulate(client_fn, 10, FedAvg(min_fit_clients=10), [np.zeros(50), np.zeros(3)], 1)
    assert np.allclose(plain.parameters[0], 1e3, rtol=1e-4)


def test_bounded_weights_count_small_clients_less() -> None:
    dp = CentralDP(noise_multiplier=1e-9, clip_norm=10.0, weighting="bounded", weight_cap=100)
    strategy = DifferentialPrivacy(FedAvg(min_fit_clients=2), dp)
    history = _one_round(
        strategy, lambda cid: Step(1.0, 25 if cid == "0" else 100), 2, [np.zeros(4)]
    )
    # (0.25 * 1 + 1.0 * 1) / 2 in every coordinate
    np.testing.assert_allclose(history.parameters[0], 0.625, rtol=1e-6)


def test_client_side_clipping_bounds_what_the_coordinator_receives() -> None:
    seen: list[float] = []

    class Norms:
        def on_fit_result(self, server_round, global_parameters, client_id, result) -> None:
            d = [r - g for r, g in zip(result.parameters, global_parameters, strict=True)]
            seen.append(float(np.sqrt(sum(np.sum(x * x) for x in d))))
            assert result.metrics["dp_unclipped"] == 0.0

        def on_round_end(self, server_round, old, new, metrics) -> None:
            pass

    with pytest.warns(UserWarning, match="seeded_noise"):  # the seed's count noise: no flakes
        dp = CentralDP(
            noise_multiplier=0.5,
            clip_norm=0.3,
            clip_at="client",
            adaptive_clipping=True,
            clipped_count_stddev=2.0,
            seeded_noise=True,
        )
    strategy = DifferentialPrivacy(FedAvg(min_fit_clients=4), dp)
    history = simulate(
        lambda cid: Step(5.0), 4, strategy, [np.zeros((3, 3))], 3, observers=[Norms()]
    )
    clip = [v for _, v in history.metric("dp_clip_norm")]
    assert len(seen) == 12  # each round, every update arrives clipped to that round's C
    np.testing.assert_allclose(seen, np.repeat(clip, 4), rtol=1e-9)
    assert clip[0] == 0.3 and clip[-1] > clip[0]  # every update clipped: C grows
    assert "train_dp_unclipped" not in history.metric_names()  # never released un-noised


def test_budget_stops_training_before_it_is_exceeded(tmp_path: Path) -> None:
    from rich.console import Console

    from rengo.tracking import RunStore, run_detail

    dp = CentralDP(noise_multiplier=2.0, clip_norm=1.0, target_epsilon=4.5, accountant="rdp")
    fits = epsilon_after(3, 2.0, 1e-5, 1.0, "rdp") <= 4.5 < epsilon_after(4, 2.0, 1e-5, 1.0, "rdp")
    assert fits  # so exactly three rounds fit in the budget
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: Step(0.1),
            3,
            DifferentialPrivacy(FedAvg(), dp),
            [np.zeros(5)],
            10,
            store=store,
        )
        assert history.run_id is not None
        events = store.events(history.run_id)
        rounds = store.rounds(history.run_id)
        console = Console(width=200, record=True, color_system=None)
        console.print(run_detail(store, history.run_id))
        recorded = store.get_run(history.run_id).config["dp"]  # the epsilon can be audited
    assert recorded["kind"] == "central" and recorded["noise_multiplier"] == 2.0
    assert recorded["target_epsilon"] == 4.5 and recorded["accountant"] == "rdp"
    assert recorded["delta"] == 1e-5 and recorded["sampling_rate"] == 1.0
    spent = history.last("dp_epsilon")
    assert f"epsilon {epsilon_shown(spent)} at delta 1e-05 after 3 rounds" in console.export_text()
    assert len(history.rounds) == 3
    assert history.stopped is not None and "target_epsilon = 4.5" in history.stopped
    assert max(v for _, v in history.metric("dp_epsilon")) <= 4.5
    assert any("privacy budget reached" in e.message for e in events)
    assert [r.metrics["dp_epsilon"] for r in rounds] == [v for _, v in history.metric("dp_epsilon")]


def test_poisson_sampling_varies_the_cohort_around_q_n() -> None:
    dp = CentralDP(noise_multiplier=1.0, sampling_rate=0.3)
    strategy = DifferentialPrivacy(FedAvg(), dp)
    history = simulate(lambda cid: Step(0.0), 40, strategy, [np.zeros(3)], 12, seed=4)
    sizes = [len(r.clients) for r in history.rounds]
    assert len(set(sizes)) > 1  # not a fixed-size sample
    assert np.mean(sizes) == pytest.approx(12, abs=3.5)
    assert history.last("dp_epsilon") == pytest.approx(
        epsilon_after(12, 1.0, 1e-5, 0.3, "pld"), rel=1e-9
    )


def test_a_round_whose_poisson_sample_is_empty_releases_noise_and_is_accounted(
    tmp_path: Path,
) -> None:
    """At q = 0.1 over 5 clients about 59% of rounds sample nobody: each is still a round of
    the mechanism (the noised empty sum moves the model, the accountant counts it), recorded
    with a warning, never a failure of the run."""
    from rengo.tracking import RunStore

    with pytest.warns(UserWarning, match="seeded_noise"):  # the seed's sample: no flakes
        dp = CentralDP(
            noise_multiplier=1.0,
            clip_norm=1.0,
            sampling_rate=0.1,
            adaptive_clipping=True,
            clipped_count_stddev=1.0,
            seeded_noise=True,
        )
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: Step(0.1),
            5,
            DifferentialPrivacy(FedAvg(), dp),
            [np.zeros(3)],
            8,
            seed=3,
            store=store,
        )
        assert history.run_id is not None
        events = store.events(history.run_id)
        status = store.get_run(history.run_id).status
    sizes = [len(r.clients) for r in history.rounds]
    assert len(sizes) == 8 and 0 in sizes and any(sizes), sizes
    assert status == "completed"
    empty = [r.server_round for r in history.rounds if not r.clients]
    noted = {e.round for e in events if "holds no client" in e.message}
    assert noted == set(empty)
    assert history.last("dp_epsilon") == pytest.approx(
        epsilon_after(8, 1.0, 1e-5, 0.1, "pld"), rel=1e-9
    )
    assert "dp_clients" not in history.metric_names()  # the sampled count is not released


def test_checkpoint_resumes_the_accountant_and_the_clip_norm() -> None:
    dp = CentralDP(
        noise_multiplier=1.0, adaptive_clipping=True, accountant="rdp", clipped_count_stddev=1.0
    )
    first = DifferentialPrivacy(FedAdam(min_fit_clients=3), dp)
    pool = make_pool(lambda cid: Step(0.2), ["0", "1", "2"])
    try:
        coordinator = Coordinator(first, pool, [np.zeros(4)], seed=1)
        coordinator.run(2)
        blob = coordinator.checkpoint_blob(2)
        resumed_strategy = DifferentialPrivacy(FedAdam(min_fit_clients=3), dp)
        resumed = Coordinator(resumed_strategy, pool, [np.zeros(4)], seed=1, start_round=3)
        assert resumed.restore(blob) == 2
        assert resumed_strategy.accountant.rounds == 2
        assert resumed_strategy.clip_norm == first.clip_norm
        history = resumed.run(3)
    finally:
        pool.close()
    assert history.last("dp_epsilon") == pytest.approx(epsilon_after(3, 1.0, 1e-5, 1.0, "rdp"))


def test_strategies_whose_sensitivity_is_not_the_clip_norm_are_refused(tmp_path) -> None:
    from rengo.tracking import RunStore

    with pytest.raises(ConfigError, match=r"sampling_rate = 0\.5"):
        DifferentialPrivacy(FedAvg(fraction_fit=0.5))
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(ConfigError, match="averaging strategy"):
            simulate(
                lambda cid: Step(), 3, DifferentialPrivacy(FedMedian()), [np.zeros(2)], 1,
                store=store,
            )  # fmt: skip
        assert store.list_runs() == []  # refused before the run is recorded
    with pytest.raises(ConfigError, match="must exceed"):  # before any client trains
        simulate(
            lambda cid: Step(), 4,
            DifferentialPrivacy(noise_multiplier=0.5, adaptive_clipping=True), [np.zeros(2)], 1,
        )  # fmt: skip
    with pytest.raises(TypeError, match="not both"):
        DifferentialPrivacy(FedAvg(), CentralDP(), clip_norm=2.0)


@pytest.mark.slow
def test_dp_fedavg_learns_digits_at_a_stated_epsilon() -> None:
    # 100 clients hold 14-15 digits each (IID); softmax regression, 20 rounds of every
    # client, z = 1, C = 1, delta = 1e-5: epsilon = 28.4 (PLD). Measured (seed 0): 0.900
    # private, 0.892 without DP (clipping at C = 1 costs nothing here; the noise little).
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    parts = np.array_split(np.random.default_rng(0).permutation(len(y_train)), 100)

    def client_fn(cid: str) -> Client:
        idx = parts[int(cid)]
        return LogisticRegressionClient(X_train[idx], y_train[idx], lr=0.5, batch_size=16)

    def accuracy(strategy) -> tuple[float, float | None]:
        h = simulate(client_fn, 100, strategy, softmax_init(64, 10), 20, seed=0)
        w, b = h.parameters
        eps = h.last("dp_epsilon") if "dp_epsilon" in h.metric_names() else None
        return float(np.mean(np.argmax(X_test @ w + b, axis=1) == y_test)), eps

    with pytest.warns(UserWarning, match="seeded_noise"):  # the seed's noise: one outcome
        dp = CentralDP(noise_multiplier=1.0, clip_norm=1.0, seeded_noise=True)
    private, eps = accuracy(DifferentialPrivacy(FedAvg(), dp))
    plain, _ = accuracy(FedAvg())
    assert eps == pytest.approx(28.37, abs=0.01)
    assert private >= 0.87  # measured 0.900
    assert plain - private < 0.05  # measured 0.892 without DP


def test_the_noise_and_the_sample_are_not_a_function_of_the_run_seed() -> None:
    """The run seed is no secret (job file, run record, ``rengo runs show``). The noise was
    drawn from it: replaying a run with the same seed and every client silent, then
    subtracting, gave client 0's contribution to the last bit (0.02 per coordinate under
    z = 5), i.e. no privacy. The noise and the Poisson sample now come from OS entropy."""

    def run(step: float, **options: object):
        dp = CentralDP(noise_multiplier=5.0, clip_norm=1.0, sampling_rate=0.5, **options)
        return simulate(
            lambda cid: Step(step if cid == "0" else 0.0), 10,
            DifferentialPrivacy(FedAvg(), dp), [np.zeros(4)], 3, seed=7,
        )  # fmt: skip

    released, replayed = run(0.1), run(0.0)
    recovered = released.parameters[0] - replayed.parameters[0]
    # what the attacker recovers is noise of std z C / (q N) = 1 per round, not the 0.1 steps
    assert np.abs(recovered).max() > 0.1
    samples = [[r.clients for r in run(0.0).rounds] for _ in range(3)]
    assert len({str(s) for s in samples}) > 1  # the sample is not the seed's either
    with pytest.warns(UserWarning, match="seeded_noise"):
        seeded = run(0.1, seeded_noise=True), run(0.0, seeded_noise=True)
    np.testing.assert_allclose(seeded[0].parameters[0] - seeded[1].parameters[0], 0.02)


def test_runs_show_says_a_seeded_noise_epsilon_does_not_hold(tmp_path: Path) -> None:
    from rich.console import Console

    from rengo.tracking import RunStore, run_detail

    with pytest.warns(UserWarning, match="seeded_noise"):
        dp = CentralDP(noise_multiplier=2.0, seeded_noise=True)
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: Step(0.1), 3, DifferentialPrivacy(FedAvg(), dp), [np.zeros(2)], 1,
            store=store,
        )  # fmt: skip
        assert history.run_id is not None
        console = Console(width=300, record=True, color_system=None)
        console.print(run_detail(store, history.run_id))
    assert "seeded_noise: noise drawn from the run seed, so this guarantee does not hold" in (
        console.export_text()
    )


def test_one_client_moves_the_released_sum_by_at_most_c_under_the_default_result_checks() -> None:
    """A deployed coordinator's default checks refuse an update above 10x the round's
    median norm. Under DP that let one client decide which others count: with norms 1, 1,
    20, 20 the two 20s were refused (sum of norm 2); adding a third 20 moved the median and
    all five counted (sum of norm 5), 3C where the accountant assumes C."""
    from rengo.hfl.workflow import default_checks

    norms = {"a0": 1.0, "a1": 1.0, "b0": 20.0, "b1": 20.0, "x": 20.0}

    def released_sum(ids: list[str]) -> np.ndarray:
        dp = CentralDP(noise_multiplier=1e-9, clip_norm=1.0)
        history = simulate(
            lambda cid: Step(norms[cid] / 2.0), ids, DifferentialPrivacy(FedAvg(), dp),
            [np.zeros(4)], 1, checks=default_checks(None),
        )  # fmt: skip
        return history.parameters[0] * len(ids)  # the denominator q N with q = 1

    without, with_x = released_sum(["a0", "a1", "b0", "b1"]), released_sum([*norms])
    assert np.linalg.norm(with_x - without) == pytest.approx(1.0, rel=1e-6)  # C, not 3C


def test_a_delta_not_below_one_over_the_clients_is_refused_before_anyone_trains() -> None:
    """delta = 0.5 over 4 clients was accepted and reported beside epsilon, a guarantee that
    holds for a mechanism publishing one client's data outright."""
    trained: list[str] = []

    class Tell(Step):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            trained.append("fit")
            return super().fit(parameters, config)

    with pytest.raises(ConfigError, match=r"delta = 0\.3 is not below 1/n = 0\.25 for n = 4 cl"):
        simulate(lambda cid: Tell(), 4, DifferentialPrivacy(delta=0.3), [np.zeros(2)], 1)
    assert trained == []
    history = simulate(lambda cid: Tell(), 4, DifferentialPrivacy(delta=0.2), [np.zeros(2)], 1)
    assert len(history.rounds) == 1 and trained


def test_a_dp_run_is_checkpointed_every_round_or_not_at_all() -> None:
    """Coordinator(checkpoint_every=3) under central DP was accepted: a run stopped in round 5
    resumed from round 3's checkpoint ran rounds 4 and 5 again with fresh noise, and the
    restored accountant counted them once, though their first models were released."""
    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    pool = make_pool(lambda cid: Step(0.2), ["0", "1", "2"])
    try:
        with pytest.raises(ConfigError, match="checkpoint_every=3"):
            Coordinator(DifferentialPrivacy(FedAvg(), dp), pool, [np.zeros(4)], checkpoint_every=3)
        for every in (0, 1):
            Coordinator(
                DifferentialPrivacy(FedAvg(), dp), pool, [np.zeros(4)], checkpoint_every=every
            )
        Coordinator(FedAvg(), pool, [np.zeros(4)], checkpoint_every=3)  # no DP: any interval
    finally:
        pool.close()


class StopsInEvaluation(DifferentialPrivacy):
    """DP-FedAvg whose coordinator is stopped (Ctrl-C) while it aggregates round 2's
    federated evaluation: after the clients were shown round 2's model, before its
    checkpoint."""

    def aggregate_evaluate(self, server_round: int, results: list) -> tuple[float, dict]:
        if server_round == 2:
            raise KeyboardInterrupt
        return super().aggregate_evaluate(server_round, results)


def test_a_round_shown_to_clients_before_a_stop_stays_counted_after_the_resume(
    tmp_path: Path,
) -> None:
    """The coordinator checkpointed round 2 after its federated evaluation; stopped in
    between, the resumed run ran round 2 again from round 1's checkpoint and its accountant
    counted one release of round 2 where clients had been shown two."""
    from rengo.tracking import RunStore

    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    inner = {"fraction_evaluate": 1.0, "min_fit_clients": 3, "min_available_clients": 3}
    model = [np.zeros(4)]
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(
                lambda cid: Step(0.2), 3, StopsInEvaluation(FedAvg(**inner), dp), model, 3,
                store=store, seed=0,
            )  # fmt: skip
        (run,) = store.list_runs()
        assert store.latest_checkpoint(run.run_id)[0] == 1
        history = simulate(
            lambda cid: Step(0.2), 3, DifferentialPrivacy(FedAvg(**inner), dp), model, 3,
            store=store, seed=0, resume=run.run_id,
        )  # fmt: skip
    assert [r.server_round for r in history.rounds] == [2, 3]
    # rounds 1, 2 (shown, then stopped), 2 again and 3: four releases
    assert history.last("dp_epsilon") == pytest.approx(epsilon_after(4, 1.0, 1e-5, 1.0, "rdp"))


def test_runs_show_names_the_rounds_accounted_when_a_round_counted_twice(
    tmp_path: Path,
) -> None:
    """After the stop and resume above the run reported epsilon(4) "after 3 rounds": an
    auditor recomputing epsilon from the recorded settings and 3 rounds got a smaller number
    and no reason for the difference. The record now says 4 rounds were accounted."""
    from rengo.tracking import RunStore
    from rengo.tracking.tables import privacy_spent

    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    inner = {"fraction_evaluate": 1.0, "min_fit_clients": 3, "min_available_clients": 3}
    model = [np.zeros(4)]
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(
                lambda cid: Step(0.2), 3, StopsInEvaluation(FedAvg(**inner), dp), model, 3,
                store=store, seed=0,
            )  # fmt: skip
        (run,) = store.list_runs()
        history = simulate(
            lambda cid: Step(0.2), 3, DifferentialPrivacy(FedAvg(**inner), dp), model, 3,
            store=store, seed=0, resume=run.run_id,
        )  # fmt: skip
        line = privacy_spent(store, run.run_id)
    assert [v for _, v in history.metric("dp_rounds_accounted")] == [3, 4]
    spent = epsilon_after(4, 1.0, 1e-5, 1.0, "rdp")
    assert line is not None and line.startswith(
        f"epsilon {epsilon_shown(spent)} at delta 1e-05 after 3 "
    )
    assert "(4 rounds accounted: " in line


def test_a_run_stopped_after_clients_were_shown_a_round_reports_that_rounds_epsilon(
    tmp_path: Path,
) -> None:
    """Stopped while clients evaluated round 2's model, the run recorded round 1's epsilon
    ("after 1 rounds") and kept it if it was never resumed: the officer signed a number
    below what the released models spend. The record now carries the spend of the release."""
    from rengo.tracking import RunStore, model_card
    from rengo.tracking.tables import privacy_spent

    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    inner = {"fraction_evaluate": 1.0, "min_fit_clients": 3, "min_available_clients": 3}
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(
                lambda cid: Step(0.2), 3, StopsInEvaluation(FedAvg(**inner), dp), [np.zeros(4)],
                3, store=store, seed=0,
            )  # fmt: skip
        (run,) = store.list_runs()
        assert [r.round for r in store.rounds(run.run_id)] == [1]
        line = privacy_spent(store, run.run_id)
        card = model_card(store, run.run_id)
    spent = epsilon_after(2, 1.0, 1e-5, 1.0, "rdp")
    assert line is not None and line.startswith(
        f"epsilon {epsilon_shown(spent)} at delta 1e-05 after 2 "
    )
    assert "round 2's model was shown to clients" in line
    assert f"epsilon {epsilon_shown(spent)}" in card
    assert "| central DP: rounds accounted | 2 over 2 rounds (round 2's model was shown" in card

"""q-FedAvg (Li, Sanjabi, Beirami, Smith 2020, "Fair Resource Allocation in Federated
Learning", Algorithm 2): the client's ``delta_k`` and ``h_k`` written out by hand, the server
step's weights ``F_k^q``, ``q = 0`` as the unweighted mean of the clients' models, the
fairness it buys on a federation with one unlike client, and the replies it refuses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import (
    FedAvg,
    LogisticRegressionClient,
    QFedAvg,
    QFFLMod,
    get_strategy,
    simulate,
    softmax_init,
    softmax_loss_grad,
    with_mods,
)
from rengo.hfl.mods.qffl import LIPSCHITZ_KEY, LOSS_OFFSET, Q_KEY, qffl_terms
from rengo.hfl.strategy.qfedavg import qffl_step

from .conftest import gaussian_blobs


def test_a_clients_delta_and_h_are_the_papers() -> None:
    w = [np.array([1.0, 2.0]), np.array([[0.5]])]
    wk = [np.array([0.5, 2.5]), np.array([[0.25]])]
    loss, q, lipschitz = 0.4, 2.0, 10.0
    delta, h = qffl_terms(w, wk, loss, q, lipschitz)
    f = loss + LOSS_OFFSET
    g = [np.array([5.0, -5.0]), np.array([[2.5]])]  # L (w - w_k)
    for got, want in zip(delta, g, strict=True):
        np.testing.assert_allclose(got, f**q * want, rtol=1e-15)
    assert h == pytest.approx(q * f ** (q - 1) * (25 + 25 + 6.25) + lipschitz * f**q, rel=1e-15)


def test_delta_keeps_a_float32_models_dtype_and_turns_integer_arrays_into_float64() -> None:
    w = [np.zeros(3, np.float32), np.array(7, np.int64)]
    delta, _ = qffl_terms(w, [np.ones(3, np.float32), np.array(9, np.int64)], 1.0, 1.0, 1.0)
    assert [d.dtype for d in delta] == [np.float32, np.float64]
    assert float(delta[1]) == pytest.approx(-2.0, rel=1e-9)


@pytest.mark.parametrize("loss", [-0.1, float("nan"), float("inf")])
def test_a_loss_that_is_negative_or_not_finite_is_refused(loss: float) -> None:
    with pytest.raises(ValueError, match="finite local loss >= 0"):
        qffl_terms([np.zeros(2)], [np.ones(2)], loss, 1.0, 1.0)


def _step(
    w: Parameters, models: list[Parameters], losses: list[float], q: float, lipschitz: float
) -> Parameters:
    strategy = QFedAvg(q_param=q, qffl_learning_rate=1 / lipschitz)
    acc = strategy.accumulator(1, w)
    for k, (model, loss) in enumerate(zip(models, losses, strict=True)):
        delta, h = qffl_terms(w, model, loss, q, lipschitz)
        # example counts must not matter: every client counts once
        strategy.add_result(acc, str(k), FitResult([*delta, np.asarray(h)], 10 ** (k + 1)))
    return strategy.aggregate_fit(1, w, acc)


finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=6),
    st.lists(st.floats(0, 5), min_size=6, max_size=6),
    st.floats(0.1, 100),
)
def test_with_q_zero_the_step_is_the_unweighted_mean_of_the_clients_models(
    rows: list[list[float]], losses: list[float], lipschitz: float
) -> None:
    w = [np.array([0.5, -1.0, 2.0])]
    models = [[np.array(r)] for r in rows]
    (new,) = _step(w, models, losses[: len(models)], 0.0, lipschitz)
    np.testing.assert_allclose(new, np.mean(rows, axis=0), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 3.0])
def test_each_clients_share_of_the_step_grows_as_its_loss_to_the_power_q(q: float) -> None:
    w = [np.zeros(2)]
    models = [[np.array([1.0, 0.0])], [np.array([0.0, 1.0])]]  # independent updates
    losses = [0.2, 1.6]
    (new,) = _step(w, models, losses, q, 5.0)
    # new = a_1 w_1 + a_2 w_2, with a_k = L F_k^q / sum h: their ratio is (F_2 / F_1)^q
    a1, a2 = new
    f1, f2 = (x + LOSS_OFFSET for x in losses)
    assert a2 / a1 == pytest.approx((f2 / f1) ** q, rel=1e-12)


def test_the_step_is_refused_nothing_and_keeps_the_models_dtypes() -> None:
    w = [np.zeros((2, 2), np.float32), np.array(3, np.int64)]
    models = [[np.ones((2, 2), np.float32), np.array(5, np.int64)]] * 2
    new = _step(w, models, [1.0, 1.0], 1.0, 1.0)
    assert [a.dtype for a in new] == [np.float32, np.int64]
    assert qffl_step(w, [np.zeros((2, 2)), np.zeros(())], 1.0)[1] == 3


def test_qfedavg_is_a_job_file_strategy_with_flowers_option_names() -> None:
    registered = get_strategy("QFedAvg")
    assert registered.cls is QFedAvg
    assert set(registered.options) == {"q_param", "qffl_learning_rate"}
    strategy = registered.cls(q_param=1.0, qffl_learning_rate=0.05)
    assert isinstance(strategy, QFedAvg) and strategy.client_mods() == ("qffl",)
    config = strategy.fit_config(1)
    assert config[Q_KEY] == 1.0 and config[LIPSCHITZ_KEY] == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"q_param": -0.5}, "q_param must be a finite number >= 0"),
        ({"qffl_learning_rate": 0.0}, "qffl_learning_rate must be > 0"),
    ],
)
def test_settings_outside_their_range_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QFedAvg(**options)


def test_the_mod_measures_the_loss_at_the_model_received_and_replies_delta_and_h() -> None:
    rng = np.random.default_rng(3)
    X, y = gaussian_blobs(rng, 40)
    w = softmax_init(4, 3)
    w = [p + rng.normal(scale=0.3, size=p.shape) for p in w]
    config: Config = {Q_KEY: 1.5, LIPSCHITZ_KEY: 4.0, "seed": 2}
    trained = LogisticRegressionClient(X, y, lr=0.25, batch_size=8).fit(w, {"seed": 2})
    reply = with_mods(LogisticRegressionClient(X, y, lr=0.25, batch_size=8), [QFFLMod()]).fit(
        w, config
    )
    loss, _ = softmax_loss_grad(w, X, y, 0.0)
    assert reply.metrics["initial_loss"] == pytest.approx(loss, rel=1e-15)
    delta, h = qffl_terms(w, trained.parameters, loss, 1.5, 4.0)
    assert len(reply.parameters) == len(w) + 1
    for got, want in zip(reply.parameters, [*delta, np.asarray(h)], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def _two_populations(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Five alike clients and one whose classes sit elsewhere (its labels rotated)."""
    rng = np.random.default_rng(seed)
    data = {str(i): gaussian_blobs(rng, 60) for i in range(5)}
    X, y = gaussian_blobs(rng, 60)
    data["odd"] = (X, (y + 1) % 3)
    return data


def _client_losses(data: dict[str, tuple[np.ndarray, np.ndarray]], w: Parameters) -> list[float]:
    return [softmax_loss_grad(list(w), X, y, 0.0)[0] for X, y in data.values()]


def test_a_larger_q_lowers_the_worst_clients_loss_and_spreads_the_losses_less() -> None:
    data = _two_populations(11)

    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = data[cid]
        return LogisticRegressionClient(X, y, lr=0.1, local_epochs=1, batch_size=20)

    worst, spread = [], []
    for q in (0.0, 5.0):
        strategy = QFedAvg(q_param=q, qffl_learning_rate=0.1, min_fit_clients=6)
        history = simulate(client_fn, list(data), strategy, softmax_init(4, 3), 30, seed=4)
        losses = _client_losses(data, history.parameters)
        worst.append(max(losses))
        spread.append(float(np.std(losses)))
    assert worst[1] < worst[0]
    assert spread[1] < spread[0]


def test_with_q_zero_a_run_equals_fedavg_over_clients_of_equal_size(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    data = {cid: (X[:20], y[:20]) for cid, (X, y) in client_data.items()}

    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = data[cid]
        return LogisticRegressionClient(X, y, lr=0.1, local_epochs=2, batch_size=5)

    init = softmax_init(4, 3)
    runs = [
        simulate(client_fn, list(data), strategy, init, 3, seed=9).parameters
        for strategy in (QFedAvg(q_param=0.0, qffl_learning_rate=0.1), FedAvg())
    ]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


class Unmeasured:
    """A client of its own that trains but does not report its initial loss."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 0.5 for p in parameters], 10, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def test_a_client_that_does_not_measure_its_loss_fails_alone_saying_how_to(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    def client_fn(cid: str) -> Any:
        if cid == "own":
            return Unmeasured()
        X, y = client_data[cid]
        return LogisticRegressionClient(X, y)

    history = simulate(client_fn, ["0", "1", "own"], QFedAvg(), softmax_init(4, 3), 2)
    for record in history.rounds:
        assert set(record.failures) == {"own"}
        assert "local_training.initial_loss" in record.failures["own"]


class WithoutMods(QFedAvg):
    """q-FedAvg whose clients run no mod: what a deployed client running its own code is."""

    def client_mods(self) -> tuple[str, ...]:
        return ()


class Replying:
    """A client that replies ``delta = 1`` and an ``h`` of its choosing."""

    def __init__(self, h: float) -> None:
        self.h = h

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([*(np.ones_like(p) for p in parameters), np.asarray(self.h)], 10, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


@pytest.mark.parametrize(
    ("h", "reason"), [(-3.0, "h_k"), (0.0, "h_k"), (float("inf"), "array 1 contains NaN or Inf")]
)
def test_an_h_that_is_not_a_positive_finite_number_is_that_clients_failure(
    h: float, reason: str
) -> None:
    def client_fn(cid: str) -> Replying:
        return Replying(h if cid == "liar" else 2.0)

    history = simulate(client_fn, ["a", "b", "liar"], WithoutMods(), [np.zeros(3)], 1)
    (record,) = history.rounds
    assert set(record.failures) == {"liar"}
    assert reason in record.failures["liar"]
    # the two honest replies alone: w - mean(delta) / mean(h) = 0 - 1 / 2
    np.testing.assert_allclose(history.parameters[0], np.full(3, -0.5))


def test_a_job_file_runs_qfedavg_and_records_each_clients_initial_loss(tmp_path: Any) -> None:
    from rengo.jobs import build_hfl_job, load_job

    job_file = tmp_path / "job.toml"
    job_file.write_text(
        '[job]\nname = "fair"\nseed = 3\nrounds = 2\n[data]\ndataset = "iris"\n'
        '[partition]\nscheme = "dirichlet"\nnum_clients = 3\nalpha = 1.0\n'
        '[model]\ntype = "logistic"\n[train]\nlr = 0.1\nbatch_size = 16\n'
        '[strategy]\nname = "qfedavg"\nq_param = 1.0\nqffl_learning_rate = 0.1\n'
    )
    job = build_hfl_job(load_job(job_file))
    assert isinstance(job.strategy, QFedAvg) and job.strategy.q_param == 1.0
    history = simulate(job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 2)
    assert all(not r.failures for r in history.rounds)
    assert all(r.metrics["train_initial_loss"] > 0 for r in history.rounds)
    assert 0.0 <= history.last("central_accuracy") <= 1.0

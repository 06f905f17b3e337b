"""Poisson regression of counts over an exposure (:class:`rengo.hfl.PoissonRegressionClient`):
its gradient is the loss's, federated training reaches scikit-learn's ``PoissonRegressor``
fitted on the pooled frequencies with the exposure as weight, one full-batch FedAvg round is
one gradient step on the pooled rows, and bad counts or exposures are refused by name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.hfl import (
    Client,
    FedAvg,
    PoissonRegressionClient,
    linear_init,
    poisson_loss_grad,
    poisson_predict,
    simulate,
)
from rengo.hfl.poisson_client import MAX_LINEAR_PREDICTOR

TRUE_W = np.array([0.3, -0.2, 0.1])
TRUE_B = -1.5
L2 = 0.01


def _table(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic frequency table: features, exposures uniform in (0.1, 1], and counts
    Poisson(e * exp(x w + b)) with known ``w``, ``b``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    exposure = 1.0 - 0.9 * rng.random(rows)  # (0.1, 1]
    counts = rng.poisson(exposure * np.exp(X @ TRUE_W + TRUE_B)).astype(np.float64)
    return X, counts, exposure


def _sklearn_fit(
    X: np.ndarray, counts: np.ndarray, exposure: np.ndarray, l2: float
) -> tuple[np.ndarray, float]:
    """scikit-learn's Poisson GLM of the frequencies ``y / e`` weighted by ``e``, with the
    penalty matching ours: ``alpha = l2 / mean(e)`` (our loss is a mean over rows,
    scikit-learn's a mean over exposure)."""
    from sklearn.linear_model import PoissonRegressor

    model = PoissonRegressor(alpha=l2 / exposure.mean(), tol=1e-12, max_iter=10_000)
    model.fit(X, counts / exposure, sample_weight=exposure)
    return model.coef_, float(model.intercept_)


def test_the_gradient_is_the_losss_with_an_exposure() -> None:
    X, y, e = _table(200, seed=1)
    rng = np.random.default_rng(2)
    params = [rng.normal(size=(3, 1)) * 0.3, np.array([-0.7])]
    _, (grad_w, grad_b) = poisson_loss_grad(params, X, y, L2, e)
    step = 1e-6
    for j in range(3):
        up = [params[0].copy(), params[1]]
        down = [params[0].copy(), params[1]]
        up[0][j, 0] += step
        down[0][j, 0] -= step
        slope = poisson_loss_grad(up, X, y, L2, e)[0] - poisson_loss_grad(down, X, y, L2, e)[0]
        assert slope / (2 * step) == pytest.approx(grad_w[j, 0], rel=1e-6)
    up_b = poisson_loss_grad([params[0], params[1] + step], X, y, L2, e)[0]
    down_b = poisson_loss_grad([params[0], params[1] - step], X, y, L2, e)[0]
    assert (up_b - down_b) / (2 * step) == pytest.approx(grad_b[0], rel=1e-6)


def test_the_loss_is_half_the_mean_poisson_deviance_of_the_counts() -> None:
    from sklearn.metrics import mean_poisson_deviance

    X, y, e = _table(300, seed=3)
    params = [np.array([[0.1], [0.0], [-0.1]]), np.array([-1.0])]
    loss, _ = poisson_loss_grad(params, X, y, 0.0, e)
    expected = poisson_predict(params, X, e)
    assert loss == pytest.approx(0.5 * mean_poisson_deviance(y, expected), rel=1e-12)


def test_predictions_are_rates_or_expected_counts_never_negative() -> None:
    X, _, e = _table(50, seed=4)
    params = [np.array([[5.0], [-5.0], [1.0]]), np.array([-3.0])]
    rate = poisson_predict(params, X)
    assert np.all(rate > 0)
    np.testing.assert_allclose(rate, np.exp(X @ params[0][:, 0] + params[1][0]))
    np.testing.assert_allclose(poisson_predict(params, X, e), e * rate)


def test_a_model_beyond_the_bound_predicts_finite_rates_silently() -> None:
    """The linear predictor is clipped to +-40 before exp: a huge model (an attacker's update
    averaged in) predicts exp(+-40) per unit of exposure, never inf or 0, and numpy warns of
    nothing."""
    X, y, e = _table(50, seed=5)
    huge = [np.zeros((3, 1)), np.array([1e6])]
    tiny = [np.zeros((3, 1)), np.array([-1e6])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(poisson_predict(huge, X, e), e * np.exp(MAX_LINEAR_PREDICTOR))
        np.testing.assert_allclose(poisson_predict(tiny, X), np.exp(-MAX_LINEAR_PREDICTOR))
        loss, grads = poisson_loss_grad(huge, X, y, L2, e)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads)
    assert grads[1][0] > 0  # the clipped mean still pulls the intercept down


def _large_counts(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A table whose mean count is about 250 (an intercept of 6): the Poisson loss's
    curvature is about the mean count, so lr 0.05 (the job's default) is too long a step."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 2))
    exposure = 0.1 + rng.random(rows)
    counts = rng.poisson(exposure * np.exp(X @ [0.3, -0.2] + 6.0)).astype(np.float64)
    return X, counts, exposure


def test_too_long_a_step_for_large_counts_stops_naming_train_lr() -> None:
    """Diverged local training is refused with an error naming the client and ``train.lr``
    (it sent inf/NaN, which the coordinator dropped as 'array contains NaN or Inf', with
    numpy's overflow warnings); a step short enough fits the same rows."""
    X, y, e = _large_counts(600, seed=6)
    client = PoissonRegressionClient(X, y, exposure=e, lr=0.05, name="insurer 2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ConfigError, match=r"insurer 2: Poisson training diverged.*train.lr = 0.05.*lower"
        ):
            client.fit(linear_init(2), {})
        params = linear_init(2)
        for epoch in range(20):
            params = client.fit(params, {"lr": 0.002, "seed": epoch}).parameters
    assert params[1][0] == pytest.approx(6.0, abs=0.1)


def test_a_client_sent_a_huge_model_returns_a_finite_update_pulled_back() -> None:
    """An honest client given a model far beyond the bound (an attacker's scaled update
    averaged in by FedAvg) trains from it with clipped predictions: its update is finite
    and moves the intercept towards its data, if past it (it was NaN, dropped, and the
    round failed for want of clients)."""
    X, y, e = _table(300, seed=7)
    client = PoissonRegressionClient(X, y, exposure=e, lr=0.05, batch_size=None)
    for intercept in (1e4, -1e4):
        start = [np.full((3, 1), 0.5), np.array([intercept])]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            update = client.fit(start, {}).parameters
        assert all(np.isfinite(p).all() for p in update)
        assert np.sign(update[1][0] - intercept) == np.sign(TRUE_B - intercept)


SIZES = (150, 900, 3950)
"""Three insurers of very different sizes (rows)."""
COEF_TOL = 1e-4
"""Full-batch FedAvg with one local step a round is gradient descent on the pooled loss (the
next test checks one round exactly) of a convex problem, so the only gap to scikit-learn's
fit (lbfgs to tol 1e-12) is how far 400 steps of lr 1 descend: seen 3e-11 after 300. 1e-4
still fails a wrong penalty or weighting: alpha = l2 instead of l2 / mean(e) moves these
coefficients by up to 0.01 here (the penalty differs by the factor mean(e), about 0.55)."""


def _clients(seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [_table(n, seed=seed + k) for k, n in enumerate(SIZES)]


def test_fedavg_reaches_sklearns_poisson_regressor_on_the_pooled_frequencies() -> None:
    tables = _clients(seed=10)

    def client_fn(cid: str) -> Client:
        X, y, e = tables[int(cid)]
        return PoissonRegressionClient(X, y, exposure=e, lr=1.0, batch_size=None, l2=L2)

    history = simulate(
        client_fn, ["0", "1", "2"], FedAvg(min_fit_clients=3), linear_init(3), rounds=400
    )
    X = np.concatenate([t[0] for t in tables])
    y = np.concatenate([t[1] for t in tables])
    e = np.concatenate([t[2] for t in tables])
    coef, intercept = _sklearn_fit(X, y, e, L2)
    w, b = history.parameters
    np.testing.assert_allclose(w[:, 0], coef, atol=COEF_TOL)
    assert b[0] == pytest.approx(intercept, abs=COEF_TOL)
    # and found the table's truth: 668 claims, standard errors about 0.04
    np.testing.assert_allclose(w[:, 0], TRUE_W, atol=0.1)


def test_one_full_batch_fedavg_round_is_one_gradient_step_on_the_pooled_rows() -> None:
    """A client's weight is its row count: the row-weighted mean of the clients' one-step
    models is the pooled table's gradient step (weighting by total exposure is not)."""
    tables = _clients(seed=20)
    start = [np.array([[0.05], [0.1], [-0.2]]), np.array([-1.0])]
    lr = 0.5

    def client_fn(cid: str) -> Client:
        X, y, e = tables[int(cid)]
        return PoissonRegressionClient(X, y, exposure=e, lr=lr, batch_size=None, l2=L2)

    history = simulate(client_fn, ["0", "1", "2"], FedAvg(min_fit_clients=3), start, rounds=1)
    X = np.concatenate([t[0] for t in tables])
    y = np.concatenate([t[1] for t in tables])
    e = np.concatenate([t[2] for t in tables])
    _, (gw, gb) = poisson_loss_grad(start, X, y, L2, e)
    np.testing.assert_allclose(history.parameters[0], start[0] - lr * gw, rtol=1e-10)
    np.testing.assert_allclose(history.parameters[1], start[1] - lr * gb, rtol=1e-10)
    stepped = [client_fn(str(k)).fit(start, {}).parameters[0] for k in range(3)]
    by_exposure = sum(t[2].sum() * p for t, p in zip(tables, stepped, strict=True))
    by_exposure = by_exposure / e.sum()
    assert not np.allclose(by_exposure, start[0] - lr * gw, rtol=1e-6)


def test_each_minibatch_step_is_the_gradient_step_on_its_own_rows_and_exposure() -> None:
    """One epoch of minibatch SGD is exactly the sequence of gradient steps on each batch's
    own rows, each with its own exposure: a batch that took other rows' exposure (a shuffled
    or misaligned index) steps elsewhere, which the statistical test below, whose exposure
    is independent of the features, cannot see."""
    X, y, e = _table(200, seed=31)
    lr, size, seed = 0.05, 50, 3
    client = PoissonRegressionClient(X, y, exposure=e, lr=lr, batch_size=size, l2=L2)
    start = [np.array([[0.1], [-0.1], [0.2]]), np.array([-1.0])]
    fitted = client.fit(start, {"seed": seed}).parameters
    # MinibatchSgdClient's epoch: batches of a permutation drawn from the round's seed
    order = np.random.default_rng(seed).permutation(len(y))
    params = start
    for first in range(0, len(y), size):
        rows = order[first : first + size]
        _, grads = poisson_loss_grad(params, X[rows], y[rows], L2, e[rows])
        params = [p - lr * g for p, g in zip(params, grads, strict=True)]
    np.testing.assert_allclose(fitted[0], params[0], rtol=1e-12)
    np.testing.assert_allclose(fitted[1], params[1], rtol=1e-12)
    rows = order[:size]
    _, other = poisson_loss_grad(start, X[rows], y[rows], L2, e[order[size : 2 * size]])
    _, own = poisson_loss_grad(start, X[rows], y[rows], L2, e[rows])
    assert not np.allclose(other[0], own[0], rtol=1e-3)  # another batch's exposure is seen


def test_minibatches_use_their_own_rows_exposure() -> None:
    """Each minibatch step takes its rows' exposure: minibatch SGD with a small rate ends
    near the full-batch optimum (a client that ignored the exposure fits another model: the
    rate of a row observed 0.1 years read as one of 1 year)."""
    X, y, e = _table(3000, seed=30)
    client = PoissonRegressionClient(X, y, exposure=e, lr=0.05, batch_size=50, l2=L2)
    params = linear_init(3)
    for epoch in range(40):
        params = client.fit(params, {"seed": epoch}).parameters
    coef, intercept = _sklearn_fit(X, y, e, L2)
    np.testing.assert_allclose(params[0][:, 0], coef, atol=0.03)
    assert params[1][0] == pytest.approx(intercept, abs=0.03)
    ignored = PoissonRegressionClient(X, y, lr=0.05, batch_size=50, l2=L2)
    params = linear_init(3)
    for epoch in range(40):
        params = ignored.fit(params, {"seed": epoch}).parameters
    assert abs(params[1][0] - intercept) > 0.3  # without it the intercept is off by log(mean e)


def test_evaluation_reports_the_frequency_metrics_over_the_test_exposure() -> None:
    from sklearn.metrics import d2_tweedie_score, mean_poisson_deviance

    X, y, e = _table(400, seed=40)
    Xt, yt, et = _table(300, seed=41)
    client = PoissonRegressionClient(X, y, Xt, yt, exposure=e, exposure_test=et)
    params = [TRUE_W[:, None].copy(), np.array([TRUE_B])]
    result = client.evaluate(params, {})
    rate = poisson_predict(params, Xt)
    assert result.num_examples == 300
    assert result.metrics["poisson_deviance"] == pytest.approx(
        mean_poisson_deviance(yt / et, rate, sample_weight=et)
    )
    assert result.metrics["d2_poisson"] == pytest.approx(
        d2_tweedie_score(yt / et, rate, sample_weight=et, power=1)
    )
    assert {"gini", "rmse", "mae"} <= set(result.metrics)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_a_negative_or_missing_count_is_refused_naming_the_client_and_row(bad: float) -> None:
    X, y, e = _table(20, seed=50)
    y[7] = bad
    with pytest.raises(DataError, match=r"client 3 \(training rows\).*row 7"):
        PoissonRegressionClient(X, y, exposure=e, name="client 3")


def test_fractional_counts_are_taken() -> None:
    X, y, e = _table(20, seed=51)
    client = PoissonRegressionClient(X, y + 0.5, exposure=e)
    assert client.fit(linear_init(3), {}).metrics["loss"] > 0


@pytest.mark.parametrize("bad", [0.0, -0.5, np.nan])
def test_a_bad_exposure_is_refused_naming_the_client_and_row(bad: float) -> None:
    X, y, e = _table(20, seed=52)
    e[4] = bad
    with pytest.raises(DataError, match=r"client 1: exposure .*row 4"):
        PoissonRegressionClient(X, y, exposure=e, name="client 1")

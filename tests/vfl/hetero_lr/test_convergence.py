"""Small tables converge by default: hetero LR's defaults (and the Newton-CG option) reach
scikit-learn's train AUC within 0.005 on breast cancer and a small synthetic table; tables of
a few batches (Adam) and Poisson regression get there too, through the adaptive learning-rate
schedule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.preprocessing import StandardScaler

from rengo.core.errors import ConfigError
from rengo.metrics import poisson_deviance, roc_auc
from rengo.vfl import HeteroLogisticRegression, HeteroPoissonRegression
from rengo.vfl.hetero_linear.config import HeteroLinearConfig
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.estimator import convergence_problem
from rengo.vfl.hetero_lr.local import train_guest_alone
from rengo.vfl.hetero_lr.math import MIN_ADAPTIVE_SCALE, adaptive_lr_scale, base_rate_shift
from rengo.vfl.hetero_lr.newton import resolve_optimizer
from rengo.vfl.hetero_lr.objective import SQUARED
from rengo.vfl.hetero_lr.roles import GuestModel, loss_converged
from rengo.vfl.hetero_poisson.config import HeteroPoissonConfig
from rengo.vfl.hetero_poisson.roles import POISSON

L2 = 0.01


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(x), y.astype(float)


def _synthetic() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(300, 16, n_informative=8, n_redundant=4, flip_y=0.05, random_state=2)
    return StandardScaler().fit_transform(x), y.astype(float)


def _gap_to_sklearn(x: np.ndarray, y: np.ndarray, **options: object) -> tuple[float, int]:
    """Train AUC of scikit-learn (same L2) minus ours, and the epochs we ran."""
    half = x.shape[1] // 2
    ids = np.arange(len(y))
    data = {"guest": (ids, x[:, :half]), "host": (ids, x[:, half:])}
    model = HeteroLogisticRegression(
        key_bits=512, l2=L2, seed=0, key_seed=1, use_psi=False, **options
    )
    model.fit(data, label_party="guest", y=y)
    _, proba = model.predict_scores(data)
    central = LogisticRegression(C=1.0 / (len(y) * L2), max_iter=10_000).fit(x, y)
    return roc_auc(y, central.decision_function(x)) - roc_auc(y, proba), model.n_epochs_


@pytest.mark.parametrize("table", [_breast_cancer, _synthetic], ids=["breast_cancer", "synthetic"])
def test_default_settings_reach_sklearn_train_auc_within_half_a_point(table: object) -> None:
    x, y = table()  # type: ignore[operator]
    gap, epochs = _gap_to_sklearn(x, y)
    assert abs(gap) < 0.005, gap
    assert epochs < HeteroLRConfig().epochs  # stopped because the loss stopped improving


def test_newton_option_on_a_table_larger_than_a_batch_reaches_sklearn() -> None:
    x, y = _synthetic()
    gap, epochs = _gap_to_sklearn(x, y, optimizer="newton", batch_size=64)
    assert abs(gap) < 0.005, gap
    assert epochs <= 16


def test_ten_full_batch_adam_steps_do_not_converge_which_the_default_fixes() -> None:
    """The issue's failure, reproduced in the plaintext twin: ten full-batch Adam steps stop
    short of the Taylor optimum's loss, the default gets there."""
    x, y = _breast_cancer()
    rows = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.eye(rows.shape[1])
    penalty[-1, -1] = 0.0
    optimum = np.linalg.solve(
        rows.T @ rows / (4 * len(y)) + L2 * penalty, rows.T @ (y - 0.5) / len(y)
    )

    def objective(model: object) -> float:
        # the Taylor loss at 0 is what trains; the label party moves the intercept after
        trained = model.intercept - base_rate_shift(y)  # type: ignore[attr-defined]
        w = np.r_[model.weights, trained]  # type: ignore[attr-defined]
        u = rows @ w
        return float(np.mean((0.5 - y) * u + u * u / 8) + L2 / 2 * w[:-1] @ w[:-1])

    at_optimum = {"weights": optimum[:-1], "intercept": optimum[-1] + base_rate_shift(y)}
    best = objective(type("M", (), at_optimum)())
    old = train_guest_alone(x, y, HeteroLRConfig(l2=L2, epochs=10, optimizer="adam"), 0)
    new = train_guest_alone(x, y, HeteroLRConfig(l2=L2), 0)
    assert objective(old) - best > 1e-2
    assert objective(new) - best < 1e-6


def test_auto_picks_newton_only_for_one_batch_tables_with_a_quadratic_loss() -> None:
    config = HeteroLRConfig(batch_size=100)
    assert resolve_optimizer(config, 100) == "newton"
    assert resolve_optimizer(config, 101) == "adam"
    assert resolve_optimizer(config, 50, quadratic=False) == "adam"
    assert resolve_optimizer(HeteroLRConfig(optimizer="sgd"), 10) == "sgd"
    with pytest.raises(ConfigError, match=r"optimizer.*quadratic"):
        HeteroPoissonConfig(optimizer="newton")


def test_linear_regression_twin_with_newton_equals_least_squares() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5))
    y = x @ rng.normal(size=5) + 0.3 + rng.normal(scale=0.1, size=80)
    model = train_guest_alone(x, y, HeteroLinearConfig(optimizer="newton"), 0, SQUARED)
    solution, *_ = np.linalg.lstsq(np.hstack([x, np.ones((80, 1))]), y, rcond=None)
    np.testing.assert_allclose(np.r_[model.weights, model.intercept], solution, atol=1e-8)


def test_early_stopping_waits_n_iter_no_change_epochs_without_improvement() -> None:
    assert not loss_converged([1.0, 0.5], 1e-3)
    assert loss_converged([1.0, 0.5, 0.4999], 1e-3)
    assert loss_converged([1.0, 0.5, 0.6], 1e-3)  # worse counts as not improving
    assert not loss_converged([1.0, 0.5, 0.6], 1e-3, patience=2)
    assert loss_converged([1.0, 0.5, 0.6, 0.5], 1e-3, patience=2)
    assert not loss_converged([1.0, 1.0, 1.0], 0.0)  # tol = 0 never stops


def _more_than_a_batch() -> tuple[np.ndarray, np.ndarray]:
    """1,500 rows: more than the default batch of 1,024, so ``auto`` trains with Adam (in one
    whole batch of 1,500: the remainder joins the last batch)."""
    x, y = make_classification(1500, 16, n_informative=8, flip_y=0.05, random_state=4)
    return StandardScaler().fit_transform(x), y.astype(float)


def _counts(log_mean: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    beta = np.array([0.5, -0.4, 0.3, 0.2, 0.0, 0.0, 0.1, -0.1])
    return x, rng.poisson(np.exp(log_mean + x @ beta)).astype(float)


@pytest.mark.timeout(120)
def test_default_adam_on_a_table_larger_than_a_batch_reaches_sklearn_train_auc() -> None:
    """Adam at a constant rate circles the optimum and early stopping ends it 0.013 short
    (the plaintext twin, 14 epochs); the default adaptive schedule cuts the rate instead and
    gets within 0.005 (the twin: 0.0014 in 62 epochs, when written)."""
    x, y = _more_than_a_batch()
    central = roc_auc(y, LogisticRegression(C=1e6, max_iter=10_000).fit(x, y).decision_function(x))
    constant = train_guest_alone(x, y, HeteroLRConfig(lr_schedule="constant"), 0)
    assert central - roc_auc(y, x @ constant.weights + constant.intercept) > 0.005
    ids = np.arange(len(y))
    data = {"guest": (ids, x[:, :8]), "host": (ids, x[:, 8:])}
    model = HeteroLogisticRegression(key_bits=512, seed=0, key_seed=1, use_psi=False)
    model.fit(data, label_party="guest", y=y)
    _, proba = model.predict_scores(data)
    assert abs(central - roc_auc(y, proba)) < 0.005
    assert model.n_epochs_ < HeteroLRConfig().epochs  # it stopped: converged


@pytest.mark.timeout(120)
@pytest.mark.parametrize("log_mean", [0.5, 6.0], ids=["mean_count_2", "mean_count_535"])
def test_default_poisson_regression_reaches_sklearns_deviance_at_any_count_scale(
    log_mean: float,
) -> None:
    """Adam from the zero model (the old default) ended this encrypted run 6.3x above
    scikit-learn's ``PoissonRegressor`` deviance on counts near 500, and Adam's steps of
    about ``learning_rate`` still end 32x above from ``log(mean y)``: the loss's
    curvature grows with the counts. Gradient descent on the loss divided by the mean count
    (the default) gets within 1% at both scales, and stops on its own."""
    x, y = _counts(log_mean)
    central = poisson_deviance(y, PoissonRegressor(alpha=0, max_iter=1000).fit(x, y).predict(x))
    if log_mean > 1:
        adam = train_guest_alone(
            x, y, HeteroPoissonConfig(optimizer="adam", learning_rate=0.1), 0, POISSON
        )
        assert poisson_deviance(y, np.exp(x @ adam.weights + adam.intercept)) > 2 * central
    ids = np.arange(len(y))
    data = {"guest": (ids, x[:, :4]), "host": (ids, x[:, 4:])}
    model = HeteroPoissonRegression(key_bits=1024, seed=0, key_seed=1, use_psi=False)
    model.fit(data, label_party="guest", y=y)
    _, mean = model.predict(data)
    assert poisson_deviance(y, mean) < 1.01 * central
    assert model.n_epochs_ < HeteroPoissonConfig().epochs


def test_adaptive_schedule_halves_the_rate_at_each_plateau_and_stops_at_the_floor() -> None:
    assert adaptive_lr_scale([1.0, 0.5, 0.4], 1e-3, 2, 0.5) == (1.0, False)
    assert adaptive_lr_scale([1.0, 0.5, 0.6], 1e-3, 2, 0.5) == (1.0, False)  # one stale epoch
    assert adaptive_lr_scale([1.0, 0.5, 0.6, 0.4995], 1e-3, 2, 0.5) == (0.5, False)
    assert adaptive_lr_scale([1.0, 0.5, 0.6, 0.4995, 0.3], 1e-3, 2, 0.5) == (0.5, False)
    assert adaptive_lr_scale([1.0, 2.0, 3.0, 4.0], 0.0, 1, 0.5) == (1.0, False)  # tol 0: off
    # a flat loss: a cut every 2 epochs until the rate is at 1/100 (0.5^7), then a stop
    cuts = 7
    assert 0.5**cuts <= MIN_ADAPTIVE_SCALE < 0.5 ** (cuts - 1)
    assert adaptive_lr_scale([1.0] * (1 + 2 * cuts + 1), 1e-4, 2, 0.5) == (0.5**cuts, False)
    assert adaptive_lr_scale([1.0] * (1 + 2 * cuts + 2), 1e-4, 2, 0.5) == (0.5**cuts, True)


@given(
    losses=st.lists(st.floats(0.0, 10.0), max_size=40),
    tol=st.floats(1e-6, 1.0),
    patience=st.integers(1, 4),
    decay=st.floats(0.05, 0.95),
)
def test_adaptive_rate_only_falls_and_never_restarts_a_stopped_run(
    losses: list[float], tol: float, patience: int, decay: float
) -> None:
    scale, stop = adaptive_lr_scale(losses, tol, patience, decay)
    cuts = round(np.log(scale) / np.log(decay)) if scale < 1 else 0
    assert scale == pytest.approx(decay**cuts) and 0 < scale <= 1
    if losses:
        before, stopped_before = adaptive_lr_scale(losses[:-1], tol, patience, decay)
        assert scale <= before  # a longer history never raises the rate
        if stopped_before:  # the rule reads a prefix: once stopped, stopped at that rate
            assert (scale, stop) == (before, True)
    better = (min(losses) if losses else 10.0) - 2 * tol
    assert adaptive_lr_scale([*losses, better], tol, patience, decay)[0] == scale or stop


def _model(losses: list[float], epochs_run: int, converged: bool) -> GuestModel:
    return GuestModel(np.zeros(2), 0.0, losses, epochs_run, converged)


def test_a_run_stopped_by_its_epoch_budget_is_named_and_a_converged_one_is_not() -> None:
    config = HeteroLRConfig(epochs=3)
    falling = [0.69, 0.5, 0.45]
    problem = convergence_problem(_model(falling, 3, False), config)
    assert problem is not None and "had not converged after epochs=3" in problem
    assert "raise epochs" in problem
    assert convergence_problem(_model(falling, 3, True), config) is None
    assert convergence_problem(_model(falling[:2], 2, True), config) is None
    # tol = 0 trains every epoch on purpose; no loss computed: nothing to judge
    assert convergence_problem(_model(falling, 3, False), HeteroLRConfig(epochs=3, tol=0)) is None
    no_loss = HeteroLRConfig(epochs=3, compute_loss=False, tol=0)
    assert convergence_problem(_model([], 3, False), no_loss) is None


@given(st.lists(st.floats(0.01, 100.0), min_size=2, max_size=8))
def test_a_loss_that_ends_higher_than_it_began_is_called_divergence(losses: list[float]) -> None:
    problem = convergence_problem(_model(losses, len(losses), True), HeteroLRConfig())
    if losses[-1] > losses[0]:
        assert problem is not None and "is too high for this data" in problem
    else:
        assert problem is None


def test_fit_warns_like_scikit_learn_when_the_epochs_ran_out_first() -> None:
    x, y = _synthetic()
    ids = np.arange(len(y))
    data = {"guest": (ids, x[:, :8]), "host": (ids, x[:, 8:])}
    options = {"key_bits": 512, "seed": 0, "key_seed": 1, "use_psi": False, "batch_size": 100}
    with pytest.warns(ConvergenceWarning, match="had not converged after epochs=2"):
        HeteroLogisticRegression(epochs=2, **options).fit(data, "guest", y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = HeteroLogisticRegression(**options).fit(data, "guest", y)  # the default converges
    assert model.guest_model_.converged

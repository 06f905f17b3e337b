"""Hetero Poisson regression with the label party's exposure: ``E[y] = e exp(x w + b)``
(the GLM with offset ``log e``). Its coefficients are scikit-learn's ``PoissonRegressor``
fitted on the frequencies ``y / e`` with ``sample_weight = e`` (the same likelihood up to a
constant) and ``alpha = l2 / mean(e)``; predictions are rates, or expected counts given an
exposure; bad exposures are refused naming the party and row."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import PoissonRegressor
from transcript_search import plain_numbers

from rengo.core.errors import ConfigError, DataError
from rengo.data import shared_data_dir
from rengo.metrics import poisson_deviance
from rengo.vfl import (
    HeteroLinearRegression,
    HeteroPoissonConfig,
    HeteroPoissonRegression,
    PartyData,
    PartyTable,
    VerticalDataset,
    VerticalPlan,
    simulate_vertical,
)
from rengo.vfl.hetero_poisson.algorithm import exposure_metrics

ROWS, L2 = 400, 0.01
TRUE, INTERCEPT = np.array([0.3, -0.2, 0.25, 0.1]), -0.5
# Stopping once the epoch's loss improves by under 1e-10 (full batch, so the loss is the
# objective) leaves the coefficients within about sqrt(2 * 1e-10 / curvature) ~ 1e-5 of
# the optimum (curvature ~ the mean count, 0.4 here); the fixed-point error of the chain is
# about 1e-10 (32 fractional bits). 1e-4 keeps a margin of ten over the first.
TOLERANCE = 1e-4


def _table(rows: int = ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, exposures uniform in (0.1, 1] and counts ``Poisson(e exp(x w + b))``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    exposure = 1.0 - rng.uniform(0.0, 0.9, rows)
    counts = rng.poisson(exposure * np.exp(x @ TRUE + INTERCEPT)).astype(float)
    return np.array([f"policy-{i:05d}" for i in range(rows)]), x, exposure, counts


def _parties(ids: np.ndarray, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"insurer": (ids, x[:, :2]), "telematics": (ids, x[:, 2:])}


def _fit(x: np.ndarray, counts: np.ndarray, exposure: np.ndarray) -> HeteroPoissonRegression:
    ids = np.arange(len(counts))
    model = HeteroPoissonRegression(
        key_bits=512, epochs=400, seed=0, l2=L2, tol=1e-10, batch_size=len(counts)
    )
    split = x.shape[1] // 2
    parties = {"insurer": (ids, x[:, :split]), "telematics": (ids, x[:, split:])}
    return model.fit(parties, "insurer", y=counts, exposure=exposure)


def _reference(x: np.ndarray, counts: np.ndarray, exposure: np.ndarray) -> PoissonRegressor:
    return PoissonRegressor(alpha=L2 / exposure.mean(), tol=1e-12, max_iter=10_000).fit(
        x, counts / exposure, sample_weight=exposure
    )


def _coefficients(model: HeteroPoissonRegression) -> np.ndarray:
    weights = model.coefficients()
    return np.concatenate([weights["insurer"], weights["telematics"]])


def test_coefficients_equal_scikit_learns_frequency_model_weighted_by_exposure() -> None:
    _, x, exposure, counts = _table()
    model = _fit(x, counts, exposure)
    best = _reference(x, counts, exposure)
    np.testing.assert_allclose(_coefficients(model), best.coef_, atol=TOLERANCE)
    assert model.guest_model_.intercept == pytest.approx(best.intercept_, abs=TOLERANCE)
    # the exposure matters: the model without it is another one
    plain = PoissonRegressor(alpha=L2, tol=1e-12, max_iter=10_000).fit(x, counts)
    assert np.abs(plain.coef_ - best.coef_).max() > 10 * TOLERANCE


def test_coefficients_equal_scikit_learns_on_a_real_table() -> None:
    """FATE's student table (real features, grades 0-20 as counts) with seeded exposures."""
    try:
        folder = shared_data_dir("fate")
    except DataError as exc:
        pytest.skip(f"the FATE student table is not here: {exc}")
    guest = np.loadtxt(folder / "student_hetero_guest.csv", delimiter=",", skiprows=1)
    host = np.loadtxt(folder / "student_hetero_host.csv", delimiter=",", skiprows=1)
    assert np.array_equal(guest[:, 0], host[:, 0])
    counts = guest[:, 1]
    x = np.hstack([guest[:, 2:], host[:, 1:]])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    x = np.hstack([x[:, :6], x[:, 6:]])  # 6 guest columns, 7 host columns
    exposure = 1.0 - np.random.default_rng(1).uniform(0.0, 0.9, len(counts))
    ids = np.arange(len(counts))
    model = HeteroPoissonRegression(
        key_bits=512, epochs=600, seed=0, l2=L2, tol=1e-10, batch_size=len(counts)
    )
    parties = {"school": (ids, x[:, :6]), "family": (ids, x[:, 6:])}
    model.fit(parties, "school", y=counts, exposure=exposure)
    best = _reference(x, counts, exposure)
    weights = model.coefficients()
    ours = np.concatenate([weights["school"], weights["family"]])
    np.testing.assert_allclose(ours, best.coef_, atol=TOLERANCE)
    assert model.guest_model_.intercept == pytest.approx(best.intercept_, abs=TOLERANCE)


def test_predict_gives_the_rate_and_with_an_exposure_the_expected_count() -> None:
    _, x, exposure, counts = _table(200)
    model = _fit(x, counts, exposure)
    weights = _coefficients(model)
    rate = np.exp(x @ weights + model.guest_model_.intercept)
    parties = _parties(np.arange(len(counts)), x)
    scored_ids, rates = model.predict(parties)
    np.testing.assert_allclose(rates, rate[scored_ids], rtol=1e-8)
    # the scoring party's rows in another order: each exposure follows its own row's ID
    order = np.arange(len(counts))[::-1]
    shuffled = {"insurer": (order, x[order, :2]), "telematics": parties["telematics"]}
    scored_ids, expected = model.predict(shuffled, exposure=exposure[order])
    np.testing.assert_allclose(expected, exposure[scored_ids] * rate[scored_ids], rtol=1e-8)


def test_score_is_the_runs_held_out_deviance_per_unit_of_exposure() -> None:
    """One Poisson deviance for one model: ``score`` divided the counts' deviance by the
    rows (``-mean d(y, e r)``), a run's held-out ``poisson_deviance`` by the exposure; they
    differ by ``mean(e)``, 0.55 here. Both are now ``sum d / sum e``."""
    _, x, exposure, counts = _table(200)
    model = _fit(x, counts, exposure)
    rate = np.exp(x @ _coefficients(model) + model.guest_model_.intercept)
    score = model.score(_parties(np.arange(len(counts)), x), counts, exposure=exposure)
    run_metric = exposure_metrics(counts, rate, exposure)["poisson_deviance"]
    assert score == pytest.approx(-run_metric, rel=1e-8)
    total = poisson_deviance(counts, exposure * rate) * len(counts)
    assert score == pytest.approx(-total / exposure.sum(), rel=1e-8)
    assert abs(score + poisson_deviance(counts, exposure * rate)) > 0.1 * abs(score)
    # without an exposure every row is one unit: the plain mean deviance
    plain = model.score(_parties(np.arange(len(counts)), x), counts)
    assert plain == pytest.approx(-poisson_deviance(counts, rate), rel=1e-8)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (0.0, "row 7 .counting from 0. is 0.0"),
        (-1.0, "row 7 .counting from 0. is -1.0"),
        (np.nan, "row 7 .counting from 0. is nan"),
    ],
)
def test_an_exposure_that_is_not_positive_is_refused_naming_party_and_row(
    bad: float, message: str
) -> None:
    ids, x, exposure, counts = _table(40)
    exposure[7] = bad
    with pytest.raises(DataError, match=f"insurer: exposure 'exposure' .*{message}"):
        HeteroPoissonRegression(key_bits=512).fit(
            _parties(ids, x), "insurer", y=counts, exposure=exposure
        )


def test_an_exposure_of_another_length_is_refused() -> None:
    ids, x, exposure, counts = _table(40)
    with pytest.raises(DataError, match=r"insurer: exposure .* one value per row \(40\)"):
        HeteroPoissonRegression(key_bits=512).fit(
            _parties(ids, x), "insurer", y=counts, exposure=exposure[:-1]
        )


def test_an_exposure_with_a_model_that_takes_none_is_refused() -> None:
    ids, x, exposure, counts = _table(40)
    tables = {name: PartyTable(*table) for name, table in _parties(ids, x).items()}
    dataset = VerticalDataset(tables, "insurer", counts, exposure=exposure)
    with pytest.raises(ConfigError, match="insurer: hetero_linear takes no exposure"):
        HeteroLinearRegression(key_bits=512).fit(dataset)


def test_an_exposure_at_a_feature_party_is_refused_naming_it() -> None:
    ids, x, exposure, counts = _table(40)
    data = {
        "insurer": PartyData(PartyTable(ids, x[:, :2]), counts),
        "telematics": PartyData(PartyTable(ids, x[:, 2:]), exposure=exposure),
    }
    config = HeteroPoissonConfig(key_bits=512)
    plan = VerticalPlan(
        "insurer", ("telematics",), config, 0, score=False, algorithm="hetero_poisson"
    )
    with pytest.raises(ConfigError, match="telematics was given an exposure, but it is a feature"):
        simulate_vertical(plan, data, timeout=60)


def test_an_exposure_a_billionth_of_the_mean_is_refused_naming_the_row_and_the_floor() -> None:
    """1e-300 was taken and stopped training with 'a partial linear predictor reached 691
    ... standardise the features'; the floor is a share of the mean, so any unit works."""
    ids, x, exposure, counts = _table(40)
    exposure[5] = 1e-300
    with pytest.raises(
        DataError, match=r"insurer: exposure 'exposure' row 5 .* is 1e-300, under 1e-09 of the mean"
    ):
        HeteroPoissonRegression(key_bits=512).fit(
            _parties(ids, x), "insurer", y=counts, exposure=exposure
        )
    # at the floor, in days as in years, it trains
    exposure[5] = 2e-9 * exposure.mean()
    for unit in (1.0, 365.0):
        model = HeteroPoissonRegression(key_bits=512, epochs=3, seed=0)
        model.fit(_parties(ids, x), "insurer", y=counts, exposure=unit * exposure)
        assert np.isfinite(model.guest_model_.intercept)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 3 epochs
def test_no_exposure_nor_its_log_crosses_the_bus_in_training_or_scoring() -> None:
    """The exposure is the label party's, like its counts: it multiplies its own factor of
    the encrypted chain, so no party's transcript holds an exposure (or ``log e``, the
    offset) as a plain number or as raw float64 bytes."""
    ids, x, exposure, counts = _table(120)
    model = HeteroPoissonRegression(key_bits=512, epochs=3, seed=0, batch_size=40)
    model.fit(_parties(ids, x), "insurer", y=counts, exposure=exposure)
    model.predict(_parties(ids, x), exposure=exposure)
    transcripts = [model.psi_.transcript, model.transcript_, model.predict_bus_.transcript]  # type: ignore[union-attr]
    entries = [e for t in transcripts if t for e in t]
    assert {e.sender for e in entries} >= {"insurer", "telematics"}
    wire = b"".join(e.payload for e in entries)
    sent = set(plain_numbers(entries).astype(np.float64).tolist())
    for value in (*exposure, *np.log(exposure)):
        assert np.float64(value).tobytes() not in wire
        assert float(value) not in sent


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 3 epochs
def test_scoring_a_model_fitted_with_an_exposure_without_one_warns_and_names_the_fix() -> None:
    """Before, ``score(data, y)`` of a model fitted with ``exposure=`` silently compared
    each count with one unit's rate: a user measured -0.92 where the fitted deviance per
    unit of exposure was -0.72 (800 policies, exposures in (0.2, 2))."""
    ids, x, exposure, counts = _table(120)
    model = HeteroPoissonRegression(key_bits=512, epochs=3, seed=0)
    model.fit(_parties(ids, x), "insurer", y=counts, exposure=exposure)
    with pytest.warns(UserWarning, match="fitted with an exposure.*pass exposure="):
        model.score(_parties(ids, x), counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.score(_parties(ids, x), counts, exposure=exposure)
        unexposed = HeteroPoissonRegression(key_bits=512, epochs=3, seed=0, tol=0)
        unexposed.fit(_parties(ids, x), "insurer", y=counts)
        unexposed.score(_parties(ids, x), counts)

"""Empty cells in the coordinated linear models: refused by default with an error naming the
party, the column, the count and the ``missing`` option; filled locally with ``"zero"`` or
``"mean"``, the same fill at training and at scoring."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.hetero_linear.estimator import HeteroLinearRegression
from rengo.vfl.hetero_poisson.estimator import HeteroPoissonRegression

ROWS = 60


def _tables(seed: int = 0) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, 6))
    y = (x @ rng.normal(size=6) + rng.normal(size=ROWS) > 0).astype(float)
    ids = np.arange(ROWS)
    guest, host = x[:, :3].copy(), x[:, 3:].copy()
    guest[[1, 5], 2] = np.nan
    host[[0, 7, 9], 1] = np.nan
    return {"guest": (ids, guest), "host": (ids, host)}, y


SMALL = {"key_bits": 512, "epochs": 2, "seed": 0, "key_seed": 1, "use_psi": False}


def test_empty_cells_are_refused_by_default_naming_party_column_count_and_option() -> None:
    data, y = _tables()
    # the guest's empty cells only: with both parties' tables holding some, the two check
    # theirs at the same time and either may be named first (seen under pytest -n 2)
    ids, host = data["host"]
    data["host"] = (ids, np.nan_to_num(host, nan=0.0))
    expected = r"guest: column 2 .* 2 empty cells \(the first at ID \S+, row \d+\); .*missing="
    expected += "'mean'"
    with pytest.raises(DataError, match=expected):
        HeteroLogisticRegression(**SMALL).fit(data, "guest", y)


def test_mean_fill_uses_each_partys_own_training_means_and_scores_alike() -> None:
    data, y = _tables()
    model = HeteroLogisticRegression(missing="mean", **SMALL).fit(data, "guest", y)
    guest, host = data["guest"][1], data["host"][1]
    np.testing.assert_allclose(model.guest_model_.fill, np.nanmean(guest, axis=0))
    np.testing.assert_allclose(model.host_models_["host"].fill, np.nanmean(host, axis=0))
    _, proba = model.predict_scores(data)
    filled = {
        "guest": np.where(np.isnan(guest), np.nanmean(guest, axis=0), guest),
        "host": np.where(np.isnan(host), np.nanmean(host, axis=0), host),
    }
    w = model.coefficients()
    u = filled["guest"] @ w["guest"] + filled["host"] @ w["host"] + model.guest_model_.intercept
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-u)), atol=1e-6)


def test_zero_fill_equals_training_on_zero_filled_tables() -> None:
    data, y = _tables()
    zeroed = {name: (ids, np.nan_to_num(x, nan=0.0)) for name, (ids, x) in data.items()}
    filled = HeteroLogisticRegression(missing="zero", **SMALL).fit(data, "guest", y)
    plain = HeteroLogisticRegression(**SMALL).fit(zeroed, "guest", y)
    for name, weights in plain.coefficients().items():
        np.testing.assert_allclose(filled.coefficients()[name], weights, atol=1e-9)
    np.testing.assert_array_equal(filled.host_models_["host"].fill, np.zeros(3))


@pytest.mark.parametrize("estimator", [HeteroLinearRegression, HeteroPoissonRegression])
def test_linear_and_poisson_regression_fill_too(estimator: type) -> None:
    data, y = _tables()
    counts = y * 2  # non-negative integers serve both
    with pytest.raises(DataError, match="missing="):
        estimator(**SMALL).fit(data, "guest", counts)
    model = estimator(missing="mean", **SMALL).fit(data, "guest", counts)
    predictions = model.predict(data)
    assert np.isfinite(np.asarray(predictions.values, dtype=float)).all()
    assert model.host_models_["host"].fill is not None

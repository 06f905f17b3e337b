"""A party is warned when its peer's encoder can solve the gradient the peer decrypts for the
party's per-row terms (a batch's ``n x dim`` unknowns against the encoder's parameters), and
that danger is real: with enough parameters a least-squares solve recovers the source's
per-row terms from the target's gradient alone. Scoring, too, tells the target the source's
translator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rengo.ftl import GradientExposureWarning, TransferClassifier
from rengo.ftl import encoders as enc
from rengo.ftl.exposure import mlp_parameter_count
from rengo.ftl.math import LossWeights, source_terms, target_gradient_matrices, translator
from rengo.ftl.roles import encoder_module
from rengo.vfl.common import batch_order, smallest_batch, standardised

ROWS = 200


def _fit(security: str = "homomorphic", **options: object) -> list[str]:
    """Train on 200 shared rows (bank: 5 columns, shop: 4), return the exposure warnings."""
    rng = np.random.default_rng(0)
    ids = np.array([f"customer-{i:04d}" for i in range(ROWS)])
    x_bank, x_shop = rng.normal(size=(ROWS, 5)), rng.normal(size=(ROWS, 4))
    y = (x_bank[:, 0] + x_shop[:, 0] > 0).astype(int)
    settings = {"dim": 4, "source_hidden": "8", "target_hidden": "8", "epochs": 1}
    if security == "homomorphic":
        settings["key_bits"] = 512
    model = TransferClassifier(security=security, seed=0, **{**settings, **options})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit({"bank": (ids, x_bank), "shop": (ids, x_shop)}, source="bank", y=y)
    return [str(w.message) for w in caught if issubclass(w.category, GradientExposureWarning)]


def test_a_peer_encoder_that_can_solve_the_gradient_for_a_partys_terms_is_warned() -> None:
    # bank's encoder 5 -> 8 -> 4 has 84 parameters >= 20 rows x dim 4; shop's has 76 < 80
    assert mlp_parameter_count(5, (8,), 4) == 84 and mlp_parameter_count(4, (8,), 4) == 76
    found = _fit(batch_size=20)
    assert len(found) == 1
    assert found[0].startswith("shop: bank's encoder has 84 parameters")
    assert "20 x 4 = 80" in found[0] and "more than 21 rows" in found[0]


def test_whole_batches_leave_no_small_remainder_to_expose() -> None:
    """200 rows in batches of 45 left a last batch of 20 rows (20 x 4 = 80 <= 84: bank's
    encoder could solve it); training cuts whole batches now, the remainder joining the last
    (45, 45, 45, 65), so the smallest holds 45 rows (180 > 84) and nobody is warned."""
    assert smallest_batch(ROWS, 45) == 45
    assert [len(b) for b in batch_order(0, 0, ROWS, 45, whole=True)] == [45, 45, 45, 65]
    assert _fit(batch_size=45) == []


def test_encoders_smaller_than_every_batchs_terms_are_not_warned() -> None:
    assert _fit(batch_size=40) == []  # 40 x 4 = 160 > 84 and > 76


def test_plaintext_parties_are_not_warned_they_see_each_others_terms_anyway() -> None:
    """Plaintext mode is for parties that trust each other: the warning there (the demo's
    transfer story) told them of a leak their own setting is."""
    assert _fit(security="plaintext", batch_size=20) == []


def _solve_for_c(hidden: tuple[int, ...], n: int = 6, dim: int = 2) -> float:
    """Relative error of the source's per-row terms recovered by least squares from the
    target's plaintext gradient and its own Jacobians (no labels at the target)."""
    rng = np.random.default_rng(1)
    f_a = enc.build_encoder(3, (4,), dim, "tanh", [1, 1])
    f_b = enc.build_encoder(3, hidden, dim, "tanh", [1, 2])
    x_a, x_b = rng.normal(size=(40, 3)), rng.normal(size=(n, 3))
    codes = np.where(rng.random((40, 1)) < 0.5, 1.0, -1.0)
    rows = rng.choice(40, n, replace=False)
    w = LossWeights(1.0, 1.0, 0.1, 1e-4, n, 0, True)
    u_all = enc.represent(f_a, x_a)
    phi = translator(codes, u_all)
    c, m = source_terms(phi, codes[rows], u_all[rows], w)
    u_b = enc.represent(f_b, x_b)
    theta = enc.flat_parameters(f_b)
    empty = np.empty((0, 3))
    mats = target_gradient_matrices(
        u_b,
        enc.row_jacobians(f_b, x_b),
        u_b[:0],
        enc.row_jacobians(f_b, empty),
        codes[:0],
        theta,
        w,
    )
    gradient = c.ravel() @ mats["jac_c"] + m.ravel() @ mats["k_m"] + mats["plain"]
    # the gradient is sum_j (c_j + alpha/n M u_j) . J_j: n x dim unknowns, the per-row
    # gradient of the loss at the target's representations (c_j carries the source's label)
    per_row = c + (w.alpha / n) * u_b @ m
    solution, *_ = np.linalg.lstsq(mats["jac_c"].T, gradient - mats["plain"], rcond=None)
    recovered = solution.reshape(n, dim)
    return float(np.abs(recovered - per_row).max() / np.abs(per_row).max())


def test_an_encoder_with_enough_parameters_recovers_the_sources_per_row_terms() -> None:
    n, dim = 6, 2
    large, small = (12,), ()
    assert mlp_parameter_count(3, large, dim) >= n * dim  # 74 >= 12
    assert mlp_parameter_count(3, small, dim) < n * dim  # 8 < 12
    assert _solve_for_c(large) < 1e-6
    assert _solve_for_c(small) > 0.05


@pytest.mark.parametrize(
    ("rows", "batch", "smallest"), [(5, 64, 5), (128, 64, 64), (130, 64, 64), (127, 64, 64)]
)
def test_smallest_batch(rows: int, batch: int, smallest: int) -> None:
    assert smallest_batch(rows, batch) == smallest


def test_the_target_computes_the_translator_from_dim_of_its_scored_rows() -> None:
    """What scoring tells the target (documented in rengo.ftl.predict): Phi is never sent,
    but the scores are Phi u for representations u the target knows."""
    rng = np.random.default_rng(0)
    ids = np.array([f"customer-{i:04d}" for i in range(ROWS)])
    x_bank, x_shop = rng.normal(size=(ROWS, 5)), rng.normal(size=(ROWS, 4))
    y = (x_bank[:, 0] + x_shop[:, 1] > 0).astype(int)
    model = TransferClassifier(
        seed=0, dim=3, source_hidden="4", target_hidden="4", epochs=2, batch_size=50, key_bits=512
    )
    model.fit({"bank": (ids, x_bank), "shop": (ids, x_shop)}, source="bank", y=y)
    p = model.predict_proba((ids[:3], x_shop[:3]))[:, 1]  # homomorphic scoring of 3 rows
    target = model.target_model_  # its encoder reads its columns z-scored (its own scaling)
    u = enc.represent(encoder_module(target), standardised(x_shop[:3], target.inputs))
    phi = np.linalg.solve(u, np.log(p / (1 - p)))
    np.testing.assert_allclose(phi, model.source_model_.phi[0], atol=1e-6)


def test_the_default_settings_are_not_warned_with_13_and_10_columns() -> None:
    """The defaults (32-wide encoders, dim 8, batches of 64 and a remainder) let the target
    solve for the source's per-row terms, carrying its labels: every default run warned.
    Batches of 128, whole: 1,024 terms a batch against 712 and 616 parameters."""
    rng = np.random.default_rng(1)
    rows = 300  # two whole batches: 128 and 172
    ids = np.array([f"customer-{i:04d}" for i in range(rows)])
    x_bank, x_shop = rng.normal(size=(rows, 13)), rng.normal(size=(rows, 10))
    y = (x_bank[:, 0] + x_shop[:, 0] > 0).astype(int)
    assert mlp_parameter_count(13, (32,), 8) == 712 and mlp_parameter_count(10, (32,), 8) == 616
    model = TransferClassifier(key_bits=512, epochs=1, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit({"bank": (ids, x_bank), "shop": (ids, x_shop)}, source="bank", y=y)
    assert [w for w in caught if issubclass(w.category, GradientExposureWarning)] == []

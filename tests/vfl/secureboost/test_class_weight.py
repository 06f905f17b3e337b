"""SecureBoost's class weights: a class weighted by k trains as its rows repeated k times,
balanced weights find more of a rare class, the weights never leave the label party, and
weights that cannot apply are refused by name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from transcript_search import plain_numbers

from rengo.core.errors import ConfigError, DataError
from rengo.data.class_weights import class_weights
from rengo.vfl.secureboost import HeteroSecureBoost


def table(rows: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued columns (fewer distinct values than bins: repeating rows keeps the
    bins) and rare positives that depend on them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, size=(rows, 4)).astype(float)
    logit = 0.8 * (x[:, 0] - 3.5) + 0.5 * (x[:, 2] - 3.5) + np.log(rate / (1 - rate))
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def fit(x: np.ndarray, y: np.ndarray, **settings: Any) -> HeteroSecureBoost:
    ids = np.array([f"c{i:05d}" for i in range(len(y))])
    data = {"hospital": (ids, x[:, :2]), "lab": (ids, x[:, 2:])}
    model = HeteroSecureBoost(
        key_bits=512, seed=1, key_seed=2, use_psi=False, n_trees=3, max_depth=2, **settings
    )
    model.fit(data, "hospital", y)
    return model


def scores(model: HeteroSecureBoost, x: np.ndarray) -> np.ndarray:
    ids = np.array([f"s{i:05d}" for i in range(len(x))])
    data = {"hospital": (ids, x[:, :2]), "lab": (ids, x[:, 2:])}
    _, probability = model.predict_proba(data)
    return np.asarray(probability)[:, 1]


def test_weighting_a_class_by_three_trains_as_its_rows_repeated_three_times() -> None:
    x, y = table(120, 0.15, seed=0)
    weighted = fit(x, y, class_weight={0: 1, 1: 3})
    repeat = np.where(y == 1, 3, 1)
    repeated = fit(np.repeat(x, repeat, axis=0), np.repeat(y, repeat))
    # the same trees: equal scores up to the fixed-point rounding of g and h
    assert np.allclose(scores(weighted, x), scores(repeated, x), atol=1e-6)
    assert not np.allclose(scores(weighted, x), scores(fit(x, y), x), atol=1e-3)


def test_balanced_weights_find_more_of_a_rare_class() -> None:
    x, y = table(400, 0.02, seed=1)
    assert 5 <= y.sum() <= 40
    plain = scores(fit(x, y), x) >= 0.5
    balanced = scores(fit(x, y, class_weight="balanced"), x) >= 0.5
    recall = lambda flagged: float(flagged[y == 1].mean())  # noqa: E731
    assert recall(balanced) > recall(plain) + 0.2


def test_the_balanced_weights_never_leave_the_label_party() -> None:
    x, y = table(200, 0.1, seed=2)
    model = fit(x, y, class_weight="balanced")
    weights = class_weights(y, "balanced", "hospital")
    assert weights is not None
    entries = list(model.transcript_)
    wire = b"".join(e.payload for e in entries)
    numbers = set(plain_numbers(entries).tolist())
    for value in weights.values():
        assert value not in numbers
        assert np.float64(value).tobytes() not in wire
        assert int(np.rint(value * 2**32)).to_bytes(8, "little", signed=True) not in wire


def test_a_weighted_class_the_labels_lack_is_refused_naming_the_party() -> None:
    x, y = table(60, 0.3, seed=3)
    with pytest.raises(DataError, match=r"hospital: class_weight names class 2.*0\.\.1"):
        fit(x, y, class_weight={0: 1, 2: 5})


def test_class_weights_on_a_regression_are_refused() -> None:
    with pytest.raises(ConfigError, match="objective 'regression' has none"):
        HeteroSecureBoost(objective="regression", class_weight="balanced")


def test_weighted_gradients_sum_exactly_in_the_slots_the_guest_sizes() -> None:
    """A weighted class's quantised gradients reach w 2^p: slots sized for |g| <= 1 (the
    unweighted bound) overflowed into the next slot when its rows' sums passed that bound,
    silently; the guest sizes them for the largest gradient present."""
    from rengo.crypto.signed_slots import pack_signed, unpack_signed
    from rengo.vfl.secureboost.encoding import gradient_bound, slot_width

    p_bits, rows, weight = 16, 400, 50
    rng = np.random.default_rng(3)
    y = (rng.random(rows) < 0.3).astype(float)
    residual = np.where(y == 1, -0.9, 0.1) * np.where(y == 1, weight, 1.0)
    g = np.rint(np.ldexp(residual, p_bits)).astype(np.int64)
    h = np.rint(np.ldexp(np.where(y == 1, 0.09 * weight, 0.09), p_bits)).astype(np.int64)
    slots = np.stack([g, h], axis=1)
    truth = slots.sum(axis=0).tolist()

    def summed(width: int) -> list[int]:
        total = sum(int(v) for v in pack_signed(slots, width))
        return [int(v) for v in unpack_signed(np.array([total], dtype=object), width, 2)[0]]

    assert summed(slot_width(rows, gradient_bound(g, h, p_bits))) == truth
    with pytest.raises(OverflowError):  # the unweighted bound: the sums spill past the slots
        summed(slot_width(rows, 1 << p_bits))


@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_the_host_s_pool_estimate_is_at_least_what_one_tree_re_randomises(
    class_weight: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``expected_rerandomisations`` says at most how many ciphertexts a feature party
    re-randomises per tree of one output: a one-node tree (every candidate of the root,
    over every row, with missing values in every column: two per value bin, less one) sends no more,
    weighted (63-bit slots) or not."""
    from transcript_search import sent_arrays

    from rengo.vfl.secureboost import host as host_module

    estimates: list[int] = []
    original = host_module.expected_rerandomisations

    def recording(*args: Any) -> int:
        estimates.append(original(*args))
        return estimates[-1]

    monkeypatch.setattr(host_module, "expected_rerandomisations", recording)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 6)), (np.arange(400) % 5 == 0).astype(int)
    x[::7, 2:] = np.nan  # missing values: every candidate is sent both ways
    ids = np.array([f"c{i:05d}" for i in range(len(y))])
    model = HeteroSecureBoost(
        key_bits=512,
        seed=1,
        key_seed=2,
        use_psi=False,
        n_trees=3,
        max_depth=1,
        class_weight=class_weight,
    ).fit({"hospital": (ids, x[:, :2]), "lab": (ids, x[:, 2:])}, "hospital", y)
    histograms = [
        sum(a.ciphertexts.size for _, a in sent_arrays([e]))
        for e in model.transcript_
        if e.sender == "lab" and e.key.endswith("/hist")
    ]
    assert len(estimates) == 1 and len(histograms) == 3 and min(histograms) > 0
    assert max(histograms) <= estimates[0], (histograms, estimates)

"""Tournament scores equal numerai-tools' (the installed library, a test dependency) to 1e-9:
CORR, MMC, the meta model, neutralisation and feature-neutral CORR, on random eras with
ties, a constant column, a submission equal to the meta model, a constant meta model and
stakes including zero."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rengo.tournament import (
    feature_neutral_corr,
    mmc,
    neutralize,
    numerai_corr,
    score_round,
    stake_weighted_meta_model,
)

pd = pytest.importorskip("pandas")
nt = pytest.importorskip("numerai_tools.scoring")

TOLERANCE = 1e-9
LEVELS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def same(ours: float, theirs: float) -> bool:
    """Equal to TOLERANCE, or both undefined (NaN)."""
    if math.isnan(theirs) or math.isnan(ours):
        return math.isnan(theirs) and math.isnan(ours)
    return abs(ours - theirs) <= TOLERANCE


def era(seed: int, rows: int = 200) -> dict[str, object]:
    """One era: submissions of several kinds with stakes (one of them zero), a Numerai
    five-level target, a returns-like target and features with a constant column."""
    rng = np.random.default_rng(seed)
    continuous = rng.random(rows)
    grid = rng.integers(0, 9, rows) / 8  # dyadic grid: many ties, exact stake sums
    coarse = rng.integers(0, 3, rows) / 2  # three levels only: huge ties
    noisy = np.clip(grid + rng.normal(scale=0.1, size=rows), 0, 1)
    constant = np.full(rows, 0.5)
    submissions = {
        "continuous": continuous,
        "grid": grid,
        "coarse": coarse,
        "noisy": noisy,
        "constant": constant,
    }
    stakes = {"continuous": 0, "grid": 3, "coarse": 1, "noisy": 7, "constant": 2}
    staked = [k for k, s in stakes.items() if s > 0]
    meta = stake_weighted_meta_model([submissions[k] for k in staked], [stakes[k] for k in staked])
    submissions["copy_of_meta"] = meta  # a zero-stake submission equal to the meta model
    stakes["copy_of_meta"] = 0
    features = np.column_stack(
        [
            rng.integers(0, 5, rows) / 4,
            rng.normal(size=rows),
            np.full(rows, 0.25),  # a constant feature
            rng.integers(0, 5, rows) / 4,
        ]
    )
    features[:, 3] = features[:, 0]  # and a duplicated one (collinear)
    return {
        "submissions": submissions,
        "stakes": stakes,
        "target": LEVELS[rng.integers(0, 5, rows)],
        "returns": rng.normal(scale=0.05, size=rows),
        "features": features,
        "index": pd.Index([f"id{i:05d}" for i in range(rows)]),
    }


SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("target_pow15", [True, False])
@pytest.mark.parametrize("target_kind", ["target", "returns"])
def test_numerai_corr_equals_numerai_tools(seed: int, target_pow15: bool, target_kind: str) -> None:
    e = era(seed)
    frame = pd.DataFrame(e["submissions"], index=e["index"])
    target = pd.Series(e[target_kind], index=e["index"], name="target")
    theirs = nt.numerai_corr(frame, target, target_pow15=target_pow15)
    for name, predictions in e["submissions"].items():
        ours = numerai_corr(predictions, e[target_kind], target_pow15=target_pow15)
        assert same(ours, float(theirs[name])), (name, ours, theirs[name])
    assert math.isnan(float(theirs["constant"]))  # the undefined case is covered


@pytest.mark.parametrize("seed", SEEDS)
def test_meta_model_equals_numerai_tools_stake_weight(seed: int) -> None:
    e = era(seed)
    names = list(e["submissions"])
    frame = pd.DataFrame(e["submissions"], index=e["index"])
    stakes = pd.Series({k: float(v) for k, v in e["stakes"].items()})
    theirs = nt.stake_weight(frame, stakes).to_numpy()
    ours = stake_weighted_meta_model(
        [e["submissions"][k] for k in names], [e["stakes"][k] for k in names]
    )
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)


def test_meta_model_rounds_as_numerai_tools_with_decimal_predictions_and_stakes() -> None:
    """Bit for bit, not to a tolerance: MMC ranks the meta model with ties kept, so a row
    rounded differently can break or make a tie. Predictions in steps of 0.01 and stakes
    like 0.1 are not exact in binary; twelve submissions (some unstaked) exercise the
    grouping of numpy's pairwise stake sum."""
    for seed in range(20):
        rng = np.random.default_rng(seed)
        rows = 300
        names = [f"s{k:02d}" for k in range(12)]
        predictions = {k: rng.integers(0, 101, rows) / 100 for k in names}
        stakes = {k: float(rng.integers(0, 4)) / 10 for k in names}
        stakes[names[0]] = 0.3
        index = pd.Index([f"id{i:04d}" for i in range(rows)])
        theirs = nt.stake_weight(pd.DataFrame(predictions, index=index), pd.Series(stakes))
        ours = stake_weighted_meta_model(
            [predictions[k] for k in names], [stakes[k] for k in names]
        )
        np.testing.assert_array_equal(ours, theirs.to_numpy())


def test_round_mmc_equals_numerai_tools_when_meta_model_rows_tie_in_exact_arithmetic() -> None:
    """score_round's MMC against numerai-tools given the staked submissions in the order
    score_round documents (sorted by name). Three equal stakes and predictions in steps of
    0.01: many rows' sums are equal in exact arithmetic; a correctly rounded sum ties them
    where numerai-tools' does not, and moved MMC by up to 1e-3 (and payouts by tens of
    minor units on a 100,000 stake)."""
    names = ["carol", "alice", "bob"]
    stakes = dict.fromkeys(names, 100_000)
    rows = 400
    row_ids = [f"r{i:04d}" for i in range(rows)]
    index = pd.Index(row_ids)
    for seed in range(30):
        rng = np.random.default_rng(seed)
        predictions = {k: rng.integers(0, 101, rows) / 100 for k in names}
        target = LEVELS[rng.integers(0, 5, rows)]
        result = score_round(
            {k: dict(zip(row_ids, p, strict=True)) for k, p in predictions.items()},
            stakes,
            dict.fromkeys(row_ids, "e0"),
            dict(zip(row_ids, target, strict=True)),
        )
        frame = pd.DataFrame({k: predictions[k] for k in sorted(names)}, index=index)
        meta = nt.stake_weight(frame, pd.Series({k: float(stakes[k]) for k in sorted(names)}))
        theirs = nt.correlation_contribution(
            frame, meta, pd.Series(target, index=index, name="target")
        )
        for k in names:
            assert abs(result.scores[k].mmc - float(theirs[k])) <= 1e-12, (seed, k)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("target_kind", ["target", "returns"])
def test_mmc_equals_numerai_tools_correlation_contribution(seed: int, target_kind: str) -> None:
    e = era(seed)
    names = list(e["submissions"])
    meta = stake_weighted_meta_model(
        [e["submissions"][k] for k in names], [e["stakes"][k] for k in names]
    )
    frame = pd.DataFrame(e["submissions"], index=e["index"])
    target = pd.Series(e[target_kind], index=e["index"], name="target")
    theirs = nt.correlation_contribution(frame, pd.Series(meta, index=e["index"]), target)
    for name, predictions in e["submissions"].items():
        ours = mmc(predictions, meta, e[target_kind])
        assert same(ours, float(theirs[name])), (name, ours, theirs[name])
    assert abs(float(theirs["copy_of_meta"])) < 1e-12  # the meta model's own MMC is 0


def test_mmc_against_a_constant_meta_model_is_undefined_in_both() -> None:
    rng = np.random.default_rng(7)
    index = pd.Index([f"id{i:04d}" for i in range(100)])
    p = rng.integers(0, 9, 100) / 8
    meta = stake_weighted_meta_model([p, 1 - p], [4, 4])  # exactly 0.5 everywhere
    assert np.all(meta == 0.5)
    target = LEVELS[rng.integers(0, 5, 100)]
    with np.errstate(invalid="ignore"):
        theirs = nt.correlation_contribution(
            pd.DataFrame({"p": p}, index=index),
            pd.Series(meta, index=index),
            pd.Series(target, index=index, name="target"),
        )
    assert math.isnan(float(theirs["p"])) and math.isnan(mmc(p, meta, target))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("proportion", [1.0, 0.5, 0.0])
def test_neutralize_equals_numerai_tools(seed: int, proportion: float) -> None:
    e = era(seed)
    names = list(e["submissions"])
    gaussianized = nt.gaussian(nt.tie_kept_rank(pd.DataFrame(e["submissions"], index=e["index"])))
    neutralizers = pd.DataFrame(e["features"], index=e["index"])
    theirs = nt.neutralize(gaussianized, neutralizers, proportion=proportion).to_numpy()
    ours = neutralize(gaussianized.to_numpy(), e["features"], proportion=proportion)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE, equal_nan=True)
    constant = names.index("constant")
    assert np.all(np.isnan(ours[:, constant]))  # numerai-tools leaves it undefined too
    one = neutralize(gaussianized["grid"].to_numpy(), e["features"], proportion=proportion)
    np.testing.assert_allclose(one, theirs[:, names.index("grid")], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("seed", SEEDS)
def test_feature_neutral_corr_equals_numerai_tools(seed: int) -> None:
    e = era(seed)
    target = pd.Series(e["target"], index=e["index"], name="target")
    features = pd.DataFrame(e["features"], index=e["index"])
    for name, predictions in e["submissions"].items():
        ours = feature_neutral_corr(predictions, e["features"], e["target"])
        if name == "constant":
            assert math.isnan(ours)  # numerai-tools cannot score it (all NaN after neutralising)
            continue
        frame = pd.DataFrame({name: predictions}, index=e["index"])
        theirs = float(nt.feature_neutral_corr(frame, features, target)[name])
        assert same(ours, theirs), (name, ours, theirs)


@pytest.mark.parametrize("published", ["sorted", "shuffled"])
def test_a_whole_round_scores_each_era_as_numerai_tools_does(published: str) -> None:
    """Per era, as numerai-tools scores it; a round that publishes its rows (and their
    features) out of id order scores them as numerai-tools does, sorted by id."""
    eras = [era(seed, rows=120) for seed in (10, 11, 12)]
    row_ids = [f"e{k}-{i:04d}" for k, e in enumerate(eras) for i in range(120)]
    names = list(eras[0]["submissions"])
    submissions = {
        name: dict(
            zip(row_ids, np.concatenate([e["submissions"][name] for e in eras]), strict=True)
        )
        for name in names
    }
    target = dict(zip(row_ids, np.concatenate([e["target"] for e in eras]), strict=True))
    era_of = {r: r.split("-")[0] for r in row_ids}
    stakes = eras[0]["stakes"]
    features = np.concatenate([e["features"] for e in eras])
    order = np.arange(len(row_ids))
    if published == "shuffled":
        order = np.random.default_rng(5).permutation(len(row_ids))
    in_order = [row_ids[i] for i in order]
    result = score_round(
        submissions,
        stakes,
        {r: era_of[r] for r in in_order},
        target,
        features=features[order],
    )
    for k, e in enumerate(eras):
        staked = {n: float(s) for n, s in stakes.items() if s > 0}
        frame = pd.DataFrame(
            {n: [submissions[n][r] for r in row_ids if era_of[r] == f"e{k}"] for n in names},
            index=e["index"],
        )
        t = pd.Series(e["target"], index=e["index"], name="target")
        meta = nt.stake_weight(frame, pd.Series(staked))
        corr = nt.numerai_corr(frame, t)
        contribution = nt.correlation_contribution(frame, meta, t)
        for name in names:
            score = result.scores[name].eras[k]
            expected_corr = float(corr[name])
            if math.isnan(expected_corr):
                assert score.corr == 0.0 and "corr" in score.undefined
            else:
                assert abs(score.corr - expected_corr) <= TOLERANCE
            assert abs(score.mmc - float(contribution[name])) <= TOLERANCE
            if name != "constant":
                fnc = nt.feature_neutral_corr(
                    frame[[name]], pd.DataFrame(e["features"], index=e["index"]), t
                )
                assert score.fnc is not None and abs(score.fnc - float(fnc[name])) <= TOLERANCE

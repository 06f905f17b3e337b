"""Party Shapley values of vertical models (hetero LR, SecureBoost) by retraining
coalitions of feature parties.

Synthetic consortium: the label party holds one weak column and the labels, ``informative``
holds the columns that drive the labels, ``noise`` holds columns independent of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.tracking import RunStore, pay_rewards, record_contributions, run_contributions
from rengo.valuation import VerticalContribution, vertical_party_contribution
from rengo.vfl import HeteroLogisticRegression, PartyTable, VerticalDataset
from rengo.vfl.hetero_contribution import CoalitionValue, train_guest_alone
from rengo.vfl.secureboost import SECUREBOOST, HeteroSecureBoost

GUEST = "label_party"


def _consortium(seed: int, rows: int) -> VerticalDataset:
    rng = np.random.default_rng(seed)
    weak = rng.normal(size=(rows, 1))
    informative = rng.normal(size=(rows, 2))
    noise = rng.normal(size=(rows, 2))
    logit = 0.8 * weak[:, 0] + 1.6 * informative[:, 0] - 1.2 * informative[:, 1]
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    ids = np.array([f"c{seed}-{i:05d}" for i in range(rows)])
    # each feature party misses a few customers, so PSI matters
    keep_a = np.sort(rng.choice(rows, rows - 20, replace=False))
    keep_b = np.sort(rng.choice(rows, rows - 20, replace=False))
    return VerticalDataset(
        {
            GUEST: PartyTable(ids, weak),
            "informative": PartyTable(ids[keep_a], informative[keep_a]),
            "noise": PartyTable(ids[keep_b], noise[keep_b]),
        },
        GUEST,
        labels,
    )


def _model() -> HeteroLogisticRegression:
    return HeteroLogisticRegression(
        key_bits=512,
        epochs=3,
        batch_size=128,
        learning_rate=0.3,
        optimizer="sgd",
        tol=0.0,
        obfuscator_source="coordinator",
        seed=5,
    )


@pytest.fixture(scope="module")
def data() -> tuple[VerticalDataset, VerticalDataset]:
    return _consortium(1, 500), _consortium(2, 300)


@pytest.fixture(scope="module")
def exact(data: tuple[VerticalDataset, VerticalDataset]) -> VerticalContribution:
    train, validation = data
    return vertical_party_contribution(train, validation, make_model=_model, seed=3)


def test_exact_values_sum_to_full_model_gain_over_label_party_alone(
    exact: VerticalContribution,
) -> None:
    assert exact.method == "vfl_exact"
    assert exact.permutations == 0 and exact.evaluations == 4
    assert sum(exact.values.values()) == pytest.approx(exact.full - exact.baseline, abs=1e-12)
    by_hosts = {c.hosts: c for c in exact.coalitions}
    assert set(by_hosts) == {(), ("informative",), ("noise",), ("informative", "noise")}
    assert exact.baseline == by_hosts[()].score and not by_hosts[()].federated
    assert exact.full == by_hosts[("informative", "noise")].score
    # every coalition is trained and scored on the customers all parties hold
    assert {c.train_rows for c in exact.coalitions} == {by_hosts[()].train_rows}
    assert {c.scored_rows for c in exact.coalitions} == {by_hosts[()].scored_rows}
    assert by_hosts[()].train_rows < 500 and by_hosts[()].scored_rows < 300


def test_noise_party_is_worth_nothing_or_less_and_far_below_informative_party(
    exact: VerticalContribution,
) -> None:
    assert exact.values["informative"] > 0.15
    assert exact.values["noise"] < 0.01  # its columns only add variance to a short training
    assert exact.ranking()[0][0] == "informative"


def test_same_seed_gives_identical_values(
    data: tuple[VerticalDataset, VerticalDataset], exact: VerticalContribution
) -> None:
    train, validation = data
    again = vertical_party_contribution(train, validation, make_model=_model, seed=3)
    assert again.values == exact.values
    assert [c.score for c in again.coalitions] == [c.score for c in exact.coalitions]


def test_sampled_estimate_above_exact_limit_states_its_method(
    data: tuple[VerticalDataset, VerticalDataset], exact: VerticalContribution
) -> None:
    train, validation = data
    sampled = vertical_party_contribution(
        train, validation, make_model=_model, seed=3, exact_max_parties=1
    )
    # two parties: 4 coalitions, so sampling turns exact and says so
    assert sampled.method == "vfl_tmc" and sampled.approximation.startswith("exact: sampling")
    assert sampled.values == pytest.approx(exact.values, abs=1e-12)
    forced = vertical_party_contribution(
        train,
        validation,
        make_model=_model,
        seed=3,
        exact_max_parties=1,
        exact_when_cheaper=False,
    )
    assert forced.permutations > 0 and forced.approximation.startswith("truncated Monte Carlo")
    for party, value in exact.values.items():
        assert forced.values[party] == pytest.approx(value, abs=0.02)
        assert forced.stderr[party] >= 0.0


def test_contribution_is_recorded_in_the_run_store_and_pays_by_shapley(
    tmp_path: Path, exact: VerticalContribution
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("vfl", {"parties": sorted(exact.values)}, seed=3)
        assert record_contributions(store, run_id, exact.report()) == 2
        stored = run_contributions(store, run_id)
        assert stored.method == "vfl_exact"
        # the job file's name for it finds it too (`rengo rewards show RUN --method shapley`)
        assert run_contributions(store, run_id, "shapley").totals == stored.totals
        assert stored.totals == pytest.approx(exact.values, abs=0)
        paid = {
            p.participant: p.amount_minor
            for p in pay_rewards(store, run_id, "proportional", 10_000)
        }
    assert sum(paid.values()) == 10_000
    assert paid["informative"] > paid["noise"]


def test_label_party_alone_trains_exactly_like_the_protocol_with_a_silent_host() -> None:
    """A host whose only column is zero never moves the model, so the protocol's guest
    weights equal the local twin's up to the fixed-point encoding."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 3))
    y = (rng.random(300) < 1 / (1 + np.exp(-x @ np.array([1.0, -0.5, 0.2])))).astype(float)
    ids = np.arange(300)
    model = HeteroLogisticRegression(
        key_bits=512,
        epochs=4,
        batch_size=64,
        learning_rate=0.2,
        l2=0.01,
        tol=0.0,
        obfuscator_source="coordinator",
        use_psi=False,
        seed=11,
    ).fit({GUEST: (ids, x), "silent": (ids, np.zeros((300, 1)))}, label_party=GUEST, y=y)
    alone = train_guest_alone(x, y, model.config, seed=11)
    assert alone.epochs_run == model.guest_model_.epochs_run == 4
    np.testing.assert_allclose(alone.weights, model.guest_model_.weights, atol=1e-6)
    assert alone.intercept == pytest.approx(model.guest_model_.intercept, abs=1e-6)
    np.testing.assert_allclose(alone.losses, model.losses_, atol=1e-6)


def test_unknown_metric_and_unlabelled_validation_are_refused(
    data: tuple[VerticalDataset, VerticalDataset],
) -> None:
    train, validation = data
    with pytest.raises(ConfigError, match="unknown metric"):
        CoalitionValue(train, validation, _model, metric="f1")
    unlabelled = VerticalDataset(validation.parties, GUEST)
    with pytest.raises(DataError, match="validation needs labels"):
        CoalitionValue(train, unlabelled, _model)
    with pytest.raises(ConfigError, match="names no host"):
        CoalitionValue(train, validation, _model)(frozenset({5}))


def test_secureboost_party_values_by_the_same_game(
    data: tuple[VerticalDataset, VerticalDataset],
) -> None:
    """Party valuation is generic over registered algorithms: SecureBoost's coalitions are
    retrained by its protocol, the label party alone by its plaintext twin."""
    train, validation = data

    def boosted() -> HeteroSecureBoost:
        return HeteroSecureBoost(key_bits=512, n_trees=3, max_depth=2, seed=5)

    result = vertical_party_contribution(train, validation, make_model=boosted, seed=3)
    assert result.method == "vfl_exact" and result.metric == "auc"
    assert sum(result.values.values()) == pytest.approx(result.full - result.baseline, abs=1e-12)
    assert result.values["informative"] > 0.1 > abs(result.values["noise"])
    alone = next(c for c in result.coalitions if not c.hosts)
    assert not alone.federated and 0.55 < alone.score < result.full


def test_secureboost_label_party_alone_equals_the_protocol_with_a_silent_host() -> None:
    """A host whose only column is constant never wins a split, so the protocol's trees are
    the local twin's: the empty coalition is valued by the same model class."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 3))
    y = (rng.random(300) < 1 / (1 + np.exp(-x @ np.array([1.0, -0.5, 0.2])))).astype(float)
    ids = np.arange(300)
    model = HeteroSecureBoost(key_bits=512, n_trees=3, use_psi=False, seed=11).fit(
        {GUEST: (ids, x), "silent": (ids, np.zeros((300, 1)))}, label_party=GUEST, y=y
    )
    predict = SECUREBOOST.alone
    assert predict is not None
    local = predict(model.config, x, y, 11)(x)
    _, federated = model.predict_raw({GUEST: (ids, x), "silent": (ids, np.zeros((300, 1)))})
    np.testing.assert_array_equal(local, federated)


def test_a_metric_that_does_not_fit_the_predictions_is_refused(
    data: tuple[VerticalDataset, VerticalDataset],
) -> None:
    train, validation = data
    with pytest.raises(
        ConfigError, match=r"unknown metric 'auc' for secureboost.*'neg_rmse', 'r2'\]"
    ):
        CoalitionValue(
            train,
            validation,
            lambda: HeteroSecureBoost(objective="regression", key_bits=512),
            metric="auc",
        )


def test_a_truncated_vertical_tmc_report_records_its_truncation_and_an_exact_one_none(
    data: tuple[VerticalDataset, VerticalDataset], exact: VerticalContribution
) -> None:
    train, validation = data
    forced = vertical_party_contribution(
        train,
        validation,
        make_model=_model,
        seed=3,
        exact_max_parties=1,
        truncation=0.05,
        exact_when_cheaper=False,
    )
    assert forced.method == "vfl_tmc" and forced.permutations > 0
    assert forced.report().approximation == {"truncation": 0.05}
    assert exact.report().approximation == {}
    # by default, sampling that had evaluated every coalition turns exact: nothing truncated
    turned = vertical_party_contribution(
        train, validation, make_model=_model, seed=3, exact_max_parties=1, truncation=0.05
    )
    assert turned.permutations > 0 and turned.approximation.startswith("exact: sampling")
    assert turned.report().approximation == {}

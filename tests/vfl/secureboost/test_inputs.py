"""Bad input to SecureBoost gets a clear error naming the party, the column and the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import (
    HeteroLogisticRegression,
    PartyData,
    PartyTable,
    VerticalDataset,
    VerticalPlan,
)
from rengo.vfl.early_stopping import validation_mask
from rengo.vfl.runner import simulate_vertical
from rengo.vfl.secureboost import HeteroSecureBoost, SecureBoostConfig

X, Y = load_breast_cancer(return_X_y=True)
IDS = np.array([f"c{i:03d}" for i in range(100)])


def data(card: np.ndarray | None = None, bank: np.ndarray | None = None) -> dict:
    return {
        "card": (IDS, X[:100, :5] if card is None else card),
        "bank": (IDS, X[:100, 5:10] if bank is None else bank),
    }


def model(**options: object) -> HeteroSecureBoost:
    return HeteroSecureBoost(key_bits=512, n_trees=1, seed=1, key_seed=1, **options)


def test_a_text_column_names_the_party_the_column_and_the_fix() -> None:
    bank = X[:100, 5:10].astype(object)
    bank[7, 2] = "high"
    with pytest.raises(DataError, match=r"bank: column 2 holds 'high'.*encode categories"):
        model().fit(data(bank=bank), "card", Y[:100])


def test_an_entirely_empty_column_names_the_party_and_the_column() -> None:
    bank = X[:100, 5:10].copy()
    bank[:, 3] = np.nan
    with pytest.raises(DataError, match=r"bank: column 3 of its training table is entirely empty"):
        model().fit(data(bank=bank), "card", Y[:100])


def test_a_column_empty_on_the_common_rows_is_caught_by_the_party_that_holds_it() -> None:
    ids = np.array([f"c{i:03d}" for i in range(120)])
    bank = X[:120, 5:10].copy()
    bank[:100, 1] = np.nan  # only the 20 rows the label party lacks have values
    tables = {"card": (ids[:100], X[:100, :5]), "bank": (ids, bank)}
    with pytest.raises(DataError, match=r"bank: column 1 is entirely empty; drop the column"):
        model().fit(tables, "card", Y[:100])


def test_a_label_that_is_not_binary_for_the_binary_objective_says_which_objective_fits() -> None:
    labels = np.arange(100) % 3
    with pytest.raises(DataError, match=r"card: objective 'binary' needs 0/1 labels.*multiclass"):
        model().fit(data(), "card", labels)
    with pytest.raises(DataError, match=r"card: objective 'multiclass' needs class codes"):
        model(objective="multiclass").fit(data(), "card", labels + 0.5)


@pytest.mark.parametrize("estimator", [model, lambda: HeteroLogisticRegression(key_bits=512)])
def test_aligned_rows_of_one_class_are_refused_not_fitted(estimator) -> None:
    """A feature party that shares one customer with the label party (IDs written another
    way) left one class to learn: both models fitted and predicted it for everyone."""
    bank_ids = np.array([f"C{i:03d}" for i in range(100)])  # only c000's twin matches
    bank_ids[0] = "c000"
    tables = {"card": (IDS, X[:100, :5]), "bank": (bank_ids, X[:100, 5:10])}
    with pytest.raises(DataError, match=r"card: .*needs both classes.*1 aligned row\(s\)"):
        estimator().fit(tables, "card", Y[:100])
    with pytest.raises(DataError, match=r"needs both classes.*100 aligned row\(s\).*\[1\.0\]"):
        estimator().fit(data(), "card", np.ones(100))


def test_multiclass_codes_without_training_rows_are_named_in_a_warning() -> None:
    """Codes 0, 2, 3 given to the label party's role train a 4-class model (class 1 has no
    rows): said, not refused, since a job's rare class can fall entirely into its
    held-out rows (a job codes the classes of the whole table). The estimator codes its
    labels first (classes_ [0, 2, 3], tests/vfl/test_label_classes.py)."""
    codes = np.array([0, 2, 3])[np.arange(100) % 3]
    config = SecureBoostConfig(key_bits=512, n_trees=1, objective="multiclass")
    plan = VerticalPlan("card", ("bank",), config, 1, score=False, algorithm="secureboost")
    inputs = {
        "card": PartyData(PartyTable(IDS, X[:100, :5]), codes),
        "bank": PartyData(PartyTable(IDS, X[:100, 5:10])),
    }
    with pytest.warns(UserWarning, match=r"card: multiclass codes 1 have no training rows"):
        simulate_vertical(plan, inputs)


def test_row_sets_that_differ_after_alignment_name_the_party_and_the_fix() -> None:
    plan = VerticalPlan(
        "card", ("bank",), SecureBoostConfig(key_bits=512, n_trees=1), 1,
        score=False, algorithm="secureboost", align="given",
    )  # fmt: skip
    inputs = {
        "card": PartyData(PartyTable(IDS, X[:100, :5]), Y[:100]),
        "bank": PartyData(PartyTable(IDS[:90], X[:90, 5:10])),
    }
    with pytest.raises(DataError, match=r"bank holds 90 aligned rows but the label party card"):
        simulate_vertical(plan, inputs)


def test_models_without_missing_value_support_refuse_empty_cells_and_point_to_secureboost() -> None:
    card = X[:100, :5].copy()
    card[3, 4] = np.nan
    lr = HeteroLogisticRegression(key_bits=512, epochs=1, seed=1, key_seed=1)
    expected = (  # the operator is told where the first empty cell is
        r"card: column 4 .* 1 empty cells \(the first at ID c003, row 4\); hetero_lr .*secureboost"
    )
    with pytest.raises(DataError, match=expected):
        lr.fit(data(card=card), "card", Y[:100])
    model().fit(data(card=card), "card", Y[:100])  # SecureBoost takes it


def test_bad_settings_name_the_option() -> None:
    with pytest.raises(ConfigError, match="max_bin must lie in"):
        HeteroSecureBoost(max_bin=1)
    with pytest.raises(ConfigError, match="objective"):
        HeteroSecureBoost(objective="poisson")
    with pytest.raises(ConfigError, match="subsample"):
        HeteroSecureBoost(subsample=0.0)
    with pytest.raises(ConfigError, match="not probabilities"):
        HeteroSecureBoost(objective="regression").predict_proba(data())


@pytest.mark.parametrize("scale", [1e6, 1e9])
def test_a_regression_target_too_large_for_exact_sums_names_the_precision_that_fits(
    scale: float,
) -> None:
    amounts = X[:100, 3] * scale  # "mean area" in the thousands, times scale
    with pytest.raises(DataError, match=r"^card: .*precision_bits = (\d+)") as caught:
        model(objective="regression").fit(data(), "card", amounts)
    message = str(caught.value)
    fits = int(message.split("set precision_bits = ")[1].split(" ")[0])
    factor = float(message.split("divide the target by ")[1].split(" ")[0])
    for advised, target in (({"precision_bits": fits}, amounts), ({}, amounts / factor)):
        fitted = model(objective="regression", **advised).fit(data(), "card", target)
        assert fitted.n_trees_ == 1


def test_a_validation_share_without_early_stopping_warns_that_its_rows_are_lost() -> None:
    with pytest.warns(UserWarning, match=r"^card: validation_fraction = 0.3 holds out \d+ of"):
        model(validation_fraction=0.3).fit(data(), "card", Y[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model(validation_fraction=0.3, n_iter_no_change=2).fit(data(), "card", Y[:100])


def test_a_class_whose_rows_are_all_held_out_trains_warns_and_keeps_its_column() -> None:
    """A rare class can land entirely in the validation share: the model still has one
    output per class code (its probability column in ``predict_proba``), says that it never
    learned it, and the validation loss counts its rows."""
    held_out = validation_mask(1, 100, 0.2)  # the rows model(seed=1) holds out, in IDS order
    labels = (X[:100, 0] > np.median(X[:100, 0])).astype(float)  # classes 0 and 1
    labels[np.flatnonzero(held_out)[0]] = 2.0  # one row of class 2, held out
    with pytest.warns(UserWarning, match=r"^card: multiclass codes 2 have rows only in the"):
        fitted = model(
            objective="multiclass", validation_fraction=0.2, n_iter_no_change=1, use_psi=False
        )
        fitted.fit(data(), "card", labels)
    np.testing.assert_array_equal(fitted.classes_, [0, 1, 2])
    _, proba = fitted.predict_raw(data())
    assert proba.shape == (100, 3) and np.isfinite(fitted.validation_losses_).all()


def test_a_missing_label_names_the_lowest_row_of_the_table_by_id_and_row_from_one() -> None:
    """The row named is the lowest of the label party's table (not the first in PSI's
    hashed order, where c060 comes before c002 and c007), counted from 1 with its ID, as
    an empty feature cell of the same row is named."""
    labels = Y[:100].astype(float)
    labels[[60, 7, 2]] = np.nan
    with pytest.raises(
        DataError,
        match=r"card: 3 of the 100 aligned rows have no label .* first at ID c002, row 3 of its",
    ):
        model().fit(data(), "card", labels)
    card = X[:100, :5].copy()
    card[2, 0] = np.nan
    with pytest.raises(DataError, match=r"card: column 0 .*first at ID c002, row 3\)"):
        HeteroLogisticRegression(key_bits=512, seed=1, key_seed=1).fit(
            data(card=card), "card", Y[:100]
        )


@pytest.fixture(scope="module")
def fitted_on_card_and_bank() -> HeteroSecureBoost:
    return model().fit(data(), "card", Y[:100])


@pytest.mark.parametrize(
    ("parties", "named"),
    [
        (["card"], r"no rows of \['bank'\]"),
        (["card", "telecom"], r"no rows of \['bank'\] and rows of \['telecom'\], which"),
        (["card", "bank", "telecom"], r"rows of \['telecom'\], which training did not have"),
    ],
)
def test_scoring_without_a_training_party_or_with_another_names_them(
    fitted_on_card_and_bank: HeteroSecureBoost, parties: list[str], named: str
) -> None:
    tables = {name: (IDS, X[:100, 5:10] if name != "card" else X[:100, :5]) for name in parties}
    with pytest.raises(ConfigError, match=named):
        fitted_on_card_and_bank.predict_proba(tables)


def test_labels_of_another_length_name_the_party_and_both_counts() -> None:
    with pytest.raises(DataError, match=r"card: .*got 97 labels for its 100 rows"):
        model().fit(data(), "card", Y[:97])


def test_scoring_a_dataset_built_with_another_label_party_says_how_to_build_it(
    fitted_on_card_and_bank: HeteroSecureBoost,
) -> None:
    """The caller left ``label_party`` out (a dataset carries its own), so the advice is to
    build the dataset with training's label party."""
    tables = {"card": PartyTable(IDS, X[:100, :5]), "bank": PartyTable(IDS, X[:100, 5:10])}
    with pytest.raises(
        ConfigError, match=r"the dataset names 'bank' .* build it with label_party='card'$"
    ):
        fitted_on_card_and_bank.predict_raw(VerticalDataset(tables, "bank"))
    with pytest.raises(ConfigError, match=r"scoring names 'bank' .* leave label_party out"):
        fitted_on_card_and_bank.predict_raw(data(), label_party="bank")


def test_a_validation_share_that_holds_out_no_row_is_refused_not_stopped_on_training_loss() -> None:
    """Before, 0.001 of 100 rows rounded to 0 held-out rows and early stopping silently
    followed the training loss (``validation_losses_`` empty)."""
    with pytest.raises(DataError, match=r"card: validation_fraction = 0.001 holds out none of"):
        model(validation_fraction=0.001, n_iter_no_change=1).fit(data(), "card", Y[:100])

"""Classifiers take labels as scikit-learn's do: text ("A", "B", "C") and codes with gaps
(1, 5, 9) train K classes, ``classes_`` lists them sorted in ``predict_proba``'s column
order, and ``predict`` gives labels back; coding changes nothing about the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import HeteroLogisticRegression, VerticalEstimator
from rengo.vfl.estimator import class_codes
from rengo.vfl.secureboost import HeteroSecureBoost, read_party_model, write_party_model

X, Y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X)
IDS = np.array([f"w{i:03d}" for i in range(len(Y))])
DATA = {"winery": (IDS, X[:, :6]), "lab": (IDS, X[:, 6:])}
TEXT = np.array(["grade A", "grade B", "grade C"])
GAPS = np.array([1, 5, 9])

ESTIMATORS: dict[str, Callable[[], VerticalEstimator]] = {
    "hetero_lr": lambda: HeteroLogisticRegression(
        key_bits=512, epochs=3, seed=1, key_seed=1, multi_class="ovr"
    ),
    "secureboost": lambda: HeteroSecureBoost(
        key_bits=512, n_trees=2, seed=1, key_seed=1, objective="multiclass"
    ),
}


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def coded(request: Any) -> tuple[str, VerticalEstimator, np.ndarray]:
    """An estimator fitted on codes 0..2, and its probabilities."""
    model = ESTIMATORS[request.param]().fit(DATA, "winery", Y)
    return request.param, model, model.predict_proba(DATA).values


@pytest.mark.parametrize("names", [TEXT, GAPS], ids=["text", "gaps"])
def test_labels_train_as_their_classes_and_predict_gives_them_back(
    coded: tuple[str, VerticalEstimator, np.ndarray], names: np.ndarray
) -> None:
    algorithm, by_code, proba = coded
    model = ESTIMATORS[algorithm]().fit(DATA, "winery", names[Y])
    np.testing.assert_array_equal(model.classes_, names)
    np.testing.assert_array_equal(model.predict_proba(DATA).values, proba)  # same model
    predicted = model.predict(DATA).values
    np.testing.assert_array_equal(predicted, names[np.argmax(proba, axis=1)])
    assert model.score(DATA, names[Y]) == by_code.score(DATA, Y) > 0.8
    if isinstance(model, HeteroSecureBoost):  # a copy of the first trees keeps the labels
        first = model.first_trees(1)
        np.testing.assert_array_equal(first.classes_, names)
        assert set(first.predict(DATA).values.tolist()) <= set(names.tolist())


def test_binary_text_labels_predict_text() -> None:
    labels = np.where(Y == 0, "yes", "no")
    model = HeteroLogisticRegression(key_bits=512, epochs=3, seed=1, key_seed=1)
    model.fit(DATA, "winery", labels)
    assert model.classes_.tolist() == ["no", "yes"]
    assert set(model.predict(DATA).values.tolist()) == {"no", "yes"}
    assert model.score(DATA, labels) > 0.9


def test_codes_and_labels_no_classifier_can_order_are_kept_or_refused() -> None:
    codes = np.array([2, 0, 1, 2])
    assert class_codes(codes)[0] is None  # already 0..K-1: trained as given
    assert class_codes(np.array([0.5, 1.5]))[0] is None  # the algorithm names the value
    assert class_codes(np.ones(3))[0] is None  # one class: the algorithm refuses it
    classes, coded = class_codes(np.array(["b", "a", "b"]))
    assert classes is not None and classes.tolist() == ["a", "b"] and coded.tolist() == [1, 0, 1]
    with pytest.raises(DataError, match="all numbers or all text"):
        class_codes(np.array(["a", None, "b"], dtype=object))
    with pytest.raises(DataError, match="must not be missing"):
        class_codes(np.array([1.0, float("nan"), 2.0], dtype=object))


def test_class_weights_go_by_position_in_classes_and_a_label_key_is_refused_saying_so() -> None:
    """A class weight names the class's position in ``classes_`` (deployed label parties
    read their CSV's labels as those positions too): text labels weighted ``{2: 5}`` train
    the model their codes do; a label as key is refused, naming the position to use."""

    def boost(**options: Any) -> HeteroSecureBoost:
        return HeteroSecureBoost(
            key_bits=512, n_trees=2, seed=1, key_seed=1, objective="multiclass", **options
        )

    by_code = boost(class_weight={2: 5}).fit(DATA, "winery", Y).predict_proba(DATA).values
    by_text = boost(class_weight={2: 5}).fit(DATA, "winery", TEXT[Y])
    np.testing.assert_array_equal(by_text.predict_proba(DATA).values, by_code)
    with pytest.raises(ConfigError, match=r"'grade C' is not a class code.*position among"):
        boost(class_weight={"grade C": 5})
    with pytest.raises(DataError, match=r"names class 9.*position among the sorted labels"):
        boost(class_weight={9: 5}).fit(DATA, "winery", GAPS[Y])


def test_a_model_read_back_from_its_files_predicts_the_labels_it_was_fitted_on(
    tmp_path: Path,
) -> None:
    """README's model files: labels 1/5/9 read back predicted codes 0/1/2 (score 0.017 for
    0.978). The label party's file keeps its labels; the feature party's holds none; a file
    written without them (before) still loads, predicting codes."""
    model = ESTIMATORS["secureboost"]().fit(DATA, "winery", GAPS[Y])
    assert isinstance(model, HeteroSecureBoost)
    write_party_model(tmp_path / "winery.json", model.guest_model_, "winery", "winery")
    write_party_model(tmp_path / "lab.json", model.host_models_["lab"], "lab", "winery")
    files = [tmp_path / "winery.json", tmp_path / "lab.json"]
    assert "classes" not in json.loads(files[1].read_text())
    scorer = HeteroSecureBoost.from_party_models(read_party_model(f) for f in files)
    np.testing.assert_array_equal(scorer.classes_, GAPS)
    np.testing.assert_array_equal(scorer.predict(DATA).values, model.predict(DATA).values)
    assert scorer.score(DATA, GAPS[Y]) == model.score(DATA, GAPS[Y]) > 0.8
    older = json.loads(files[0].read_text())
    del older["classes"]
    files[0].write_text(json.dumps(older))
    scorer = HeteroSecureBoost.from_party_models(read_party_model(f) for f in files)
    np.testing.assert_array_equal(scorer.classes_, [0, 1, 2])
    assert set(scorer.predict(DATA).values.tolist()) <= {0, 1, 2}


def test_a_class_weight_key_that_is_a_label_at_another_position_is_refused() -> None:
    """Labels 1/5/9 with ``{1: 5}`` (scikit-learn's meaning: label 1) weighed label 5
    (position 1) without a word; a key that is no label, or a label at its own position,
    still trains."""
    boost = ESTIMATORS["secureboost"]
    with pytest.raises(DataError, match=r"class 1, which is the label at position 0.*position"):
        HeteroSecureBoost(**{**boost().get_params(), "class_weight": {1: 5}}).fit(
            DATA, "winery", GAPS[Y]
        )
    texts = np.array(["1", "5", "9"])
    with pytest.raises(DataError, match=r"class 1, which is the label at position 0"):
        HeteroSecureBoost(**{**boost().get_params(), "class_weight": {1: 5}}).fit(
            DATA, "winery", texts[Y]
        )
    weighted = HeteroSecureBoost(**{**boost().get_params(), "class_weight": {2: 5}})
    np.testing.assert_array_equal(weighted.fit(DATA, "winery", GAPS[Y]).classes_, GAPS)


def test_secureboost_binary_refusal_of_three_labels_names_the_labels() -> None:
    """It named the codes (0, 1, 2) it made of them, which the user never gave."""
    model = HeteroSecureBoost(key_bits=512, n_trees=1, seed=1, key_seed=1, objective="binary")
    with pytest.raises(DataError, match=r"found 3 distinct labels \('grade A', 'grade B'"):
        model.fit(DATA, "winery", TEXT[Y])
    with pytest.raises(DataError, match=r"found 3 distinct labels \(1, 5, 9\)"):
        model.fit(DATA, "winery", GAPS[Y])


BINARY: dict[str, Callable[[], VerticalEstimator]] = {
    "hetero_lr": lambda: HeteroLogisticRegression(key_bits=512, epochs=2, seed=1, key_seed=1),
    "secureboost": lambda: HeteroSecureBoost(key_bits=512, n_trees=1, seed=1, key_seed=1),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("algorithm", sorted(BINARY))
@pytest.mark.parametrize("labels", [Y == 0, (Y == 0).astype(float)], ids=["bool", "float"])
def test_bool_and_float_labels_come_back_in_their_dtype(algorithm: str, labels: Any) -> None:
    """They came back as int codes 0/1, where scikit-learn and SplitNN give True/False
    (0.0/1.0)."""
    model = BINARY[algorithm]().fit(DATA, "winery", labels)
    assert model.classes_.dtype == labels.dtype and model.classes_.tolist() == [0, 1]
    assert model.predict(DATA).values.dtype == labels.dtype


def test_the_estimators_take_and_refuse_labels_as_a_job_does() -> None:
    """One coder's rules (rengo.data.labels): "Yes"/"yes" and "" trained as classes, and
    fractional numbers in an object array trained as classes where float64 is refused."""
    fractional = class_codes(np.array([0.5, 1, 0.5], dtype=object))
    assert fractional[0] is None and fractional[1].dtype == np.float64
    with pytest.raises(DataError, match=r"row 1: label 'yes' differs only in letter case"):
        class_codes(np.array(["Yes", "yes", "no"]))
    with pytest.raises(DataError, match=r"row 1: label is missing \(''\)"):
        class_codes(np.array(["a", "", "b"]))
    classes, codes = class_codes(np.array(["10", "9", "10"]))  # a job orders them as numbers
    assert classes is not None and classes.tolist() == ["9", "10"] and codes.tolist() == [1, 0, 1]


@pytest.mark.parametrize("names", [["1", "5", "9"], ["0", "1", "2"]])
def test_text_labels_of_digits_read_back_from_a_model_file_as_the_same_text(
    tmp_path: Path, names: list[str]
) -> None:
    """The file's number-text names were read as a deployed CSV column's, so a model fitted
    on '1', '5', '9' read back predicting ints 1, 5, 9 (and '0', '1', '2' predicting bare
    codes), and score() on the labels it was fitted on was refused (review of 6d2e72ad)."""
    labels = np.array(names)
    model = ESTIMATORS["secureboost"]().fit(DATA, "winery", labels[Y])
    assert isinstance(model, HeteroSecureBoost)
    write_party_model(tmp_path / "winery.json", model.guest_model_, "winery", "winery")
    write_party_model(tmp_path / "lab.json", model.host_models_["lab"], "lab", "winery")
    files = [tmp_path / "winery.json", tmp_path / "lab.json"]
    scorer = HeteroSecureBoost.from_party_models(read_party_model(f) for f in files)
    assert scorer.classes_.tolist() == names
    np.testing.assert_array_equal(scorer.predict(DATA).values, model.predict(DATA).values)
    assert scorer.score(DATA, labels[Y]) == model.score(DATA, labels[Y])


def test_labels_a_model_file_cannot_keep_are_refused_naming_them(tmp_path: Path) -> None:
    """Dates train as classes, but JSON keeps text, numbers and bools only: the label
    party's file is refused saying so, not written half (a TypeError from json)."""
    days = np.array(["2024-01-01", "2024-02-01", "2024-03-01"], dtype="datetime64[D]")
    model = ESTIMATORS["secureboost"]().fit(DATA, "winery", days[Y])
    assert isinstance(model, HeteroSecureBoost)
    with pytest.raises(DataError, match=r"winery: classes .* not distinct labels of one kind"):
        write_party_model(tmp_path / "winery.json", model.guest_model_, "winery", "winery")
    assert not (tmp_path / "winery.json").exists()

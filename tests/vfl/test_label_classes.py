"""Classifiers take labels as scikit-learn's do: text ("A", "B", "C") and codes with gaps
(1, 5, 9) train K classes, ``classes_`` lists them sorted in ``predict_proba``'s column
order, and ``predict`` gives labels back; coding changes nothing about the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import HeteroLogisticRegression, VerticalEstimator
from rengo.vfl.estimator import class_codes
from rengo.vfl.secureboost import HeteroSecureBoost

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

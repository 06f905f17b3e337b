"""Vertical estimators follow scikit-learn's conventions where vertical data allows: params,
clone, tags, fitted checks, score; their predictions carry the IDs they belong to (old bare
array use still works for a release, with a warning); progress is silent unless asked."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import (
    HeteroLinearRegression,
    HeteroLogisticRegression,
    HeteroPoissonRegression,
    HeteroSecureBoost,
    NotFittedError,
    VerticalPredictions,
    VerticalProgress,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 4))
Y = (X @ np.array([1.5, -1.0, 0.8, 0.5]) + 0.3 * RNG.normal(size=120) > 0).astype(float)
IDS = np.array([f"c{i:03d}" for i in range(120)])
SMALL = {"key_bits": 512, "epochs": 3, "batch_size": 40, "seed": 0, "key_seed": 1, "tol": 0.0}


def _data(rows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"card": (IDS[rows], X[rows, :2]), "bank": (IDS[rows[::-1]], X[rows[::-1], 2:])}


@pytest.fixture(scope="module")
def fitted() -> HeteroLogisticRegression:
    rows = np.arange(100)
    return HeteroLogisticRegression(learning_rate=0.3, **SMALL).fit(_data(rows), "card", Y[rows])


def test_get_params_names_every_constructor_argument() -> None:
    model = HeteroLogisticRegression(epochs=4, seed=3)
    signature = inspect.signature(HeteroLogisticRegression.__init__)
    assert set(model.get_params()) == set(signature.parameters) - {"self"}
    assert model.get_params()["epochs"] == 4 and model.get_params()["progress"] is False
    assert model.set_params(epochs=2, progress=True) is model
    assert model.epochs == 2 and model.progress is True
    with pytest.raises(ConfigError, match="no parameter 'epoch'"):
        model.set_params(epoch=2)
    with pytest.raises(ConfigError, match="epochs"):
        model.set_params(epochs=0)


def test_sklearn_clone_gives_an_equal_unfitted_estimator(fitted: HeteroLogisticRegression) -> None:
    copy = clone(fitted)
    assert type(copy) is HeteroLogisticRegression and copy is not fitted
    assert copy.get_params() == fitted.get_params()
    assert not copy.__sklearn_is_fitted__()
    assert is_classifier(copy)
    check_is_fitted(fitted)
    with pytest.raises(SklearnNotFittedError, match="not fitted"):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError, match="call fit") as caught:
        copy.predict(_data(np.arange(5)))
    assert isinstance(caught.value, (SklearnNotFittedError, ConfigError, AttributeError))
    assert repr(copy).startswith("HeteroLogisticRegression(") and "epochs=3" in repr(copy)


def test_an_estimator_loaded_from_a_pickle_can_be_cloned(fitted: HeteroLogisticRegression) -> None:
    """scikit-learn's clone checks that the constructor keeps each parameter it was given
    (the same object): a loaded estimator's strings are new objects, not the interned
    literals, so a setting stored as a constant of its own (``class_weight="none"``) made
    clone raise RuntimeError for an estimator loaded from a pickle."""
    import pickle

    loaded = pickle.loads(pickle.dumps(fitted))
    copy = clone(loaded)
    assert copy.get_params() == fitted.get_params()
    assert clone(HeteroLogisticRegression(class_weight="".join(["Bal", "anced"]))).class_weight


def test_predictions_carry_their_ids_in_the_label_partys_order(
    fitted: HeteroLogisticRegression,
) -> None:
    rows = np.array([110, 3, 57, 115, 9])
    data = _data(rows)
    data["bank"] = (IDS[rows[:-1]], X[rows[:-1], 2:])  # the bank lacks customer 9
    proba = fitted.predict_proba(data)
    assert isinstance(proba, VerticalPredictions)
    ids, p = proba
    np.testing.assert_array_equal(ids, IDS[[110, 3, 57, 115]])
    assert p.shape == (4, 2) and np.allclose(p.sum(axis=1), 1.0)
    scores_ids, scores = fitted.predict_scores(data)
    np.testing.assert_array_equal(scores_ids, ids)
    np.testing.assert_allclose(scores, p[:, 1])
    classes = fitted.predict(data)
    np.testing.assert_array_equal(classes.values, (p[:, 1] >= 0.5).astype(int))
    back = proba.aligned_to(IDS[[3, 110]])
    np.testing.assert_allclose(back, p[[1, 0]])
    with pytest.raises(DataError, match="not scored"):
        proba.aligned_to(IDS[[9]])


def test_bare_array_use_still_works_with_a_deprecation_warning(
    fitted: HeteroLogisticRegression,
) -> None:
    proba = fitted.predict_proba(_data(np.arange(100, 110)))
    with pytest.warns(DeprecationWarning, match="unpack them"):
        positive = proba[:, 1]
    np.testing.assert_allclose(positive, proba.values[:, 1])
    with pytest.warns(DeprecationWarning):
        assert np.asarray(proba).shape == (10, 2)
    classes = fitted.predict(_data(np.arange(100, 110)))
    with pytest.warns(DeprecationWarning):
        agree = float(np.mean(classes == Y[100:110]))
    assert agree == pytest.approx(float(np.mean(classes.values == Y[100:110])))


def test_score_matches_each_prediction_to_its_own_label(fitted: HeteroLogisticRegression) -> None:
    rows = np.arange(100, 120)
    data = _data(rows)
    ids, classes = fitted.predict(data)
    truth = dict(zip(IDS[rows], Y[rows], strict=True))
    expected = float(np.mean([classes[k] == truth[i] for k, i in enumerate(ids)]))
    assert fitted.score(data, Y[rows]) == pytest.approx(expected)
    assert fitted.score(data, Y[rows]) > 0.7
    with pytest.raises(DataError, match="labels"):
        fitted.score(data)


def test_score_refuses_labels_it_would_misread(fitted: HeteroLogisticRegression) -> None:
    rows = np.arange(100, 120)
    data = _data(rows)
    with pytest.raises(DataError, match=r"one value per row, got shape \(20, 1\)"):
        fitted.score(data, Y[rows].reshape(-1, 1))  # broadcast, it scored about 0.5
    with pytest.raises(DataError, match=r"labels are text .* model predicts numbers"):
        fitted.score(data, Y[rows].astype(int).astype(str))  # it scored exactly 0
    as_objects = np.array(Y[rows].tolist(), dtype=object)  # e.g. a pandas object column
    assert fitted.score(data, as_objects) == fitted.score(data, Y[rows])


def test_progress_reports_psi_count_batches_and_loss_only_when_asked() -> None:
    events: list[VerticalProgress] = []
    rows = np.arange(100)
    options = {**SMALL, "batch_size": 30}  # whole batches of 30, 30 and 40
    model = HeteroLogisticRegression(learning_rate=0.3, progress=events.append, **options)
    model.fit(_data(rows), "card", Y[rows])
    psi = [e for e in events if e.stage == "psi" and e.finished]
    assert [e.matched for e in psi] == [100]
    train = [e for e in events if e.stage == "train"]
    assert [e.done for e in train if not e.finished][:3] == [1, 2, 3]
    assert train[-1].finished and train[-1].done == train[-1].total == 9  # 3 epochs x 3
    assert all(e.loss is not None for e in train)
    assert train[-1].loss == pytest.approx(model.losses_[-1])
    assert {e.party for e in events} == {"card"}  # the label party's view only
    quiet = HeteroLogisticRegression(learning_rate=0.3, **SMALL)
    assert quiet.progress is False


def test_split_learning_reports_batches_and_loss_through_the_constructors_progress() -> None:
    """Before, SplitNN's constructor ``progress`` showed PSI only (training reported only
    to ``fit(progress=...)``)."""
    pytest.importorskip("torch")
    from rengo.vfl import SplitNNClassifier

    events: list[VerticalProgress] = []
    rows = np.arange(100)
    model = SplitNNClassifier(epochs=3, batch_size=40, seed=0, progress=events.append)
    model.fit(_data(rows), "card", Y[rows])
    train = [e for e in events if e.stage == "train"]
    assert [e.done for e in train if not e.finished][:3] == [1, 2, 3]
    assert train[-1].finished and train[-1].done == train[-1].total == 9  # 3 epochs x 3
    assert all(e.loss is not None for e in train)
    assert train[-1].loss == pytest.approx(model.losses_[-1])


@pytest.mark.parametrize("attribute", ["losses_", "guest_model_", "transcript_", "label_party_"])
def test_fitted_attributes_before_fit_raise_not_fitted(attribute: str) -> None:
    """Not "object has no attribute": Python hands a property's AttributeError (which
    NotFittedError is) to ``__getattr__``, which used to replace the message."""
    with pytest.raises(NotFittedError, match="not fitted yet; call fit first"):
        getattr(HeteroLogisticRegression(), attribute)
    assert not hasattr(HeteroLogisticRegression(), attribute)


def test_the_scoring_bus_before_any_scoring_says_to_predict_first(
    fitted: HeteroLogisticRegression,
) -> None:
    with pytest.raises(NotFittedError, match="call predict first"):
        _ = clone(fitted).fit(_data(np.arange(100)), "card", Y[:100]).predict_bus_


@pytest.mark.parametrize("estimator", [HeteroLinearRegression, HeteroPoissonRegression])
def test_regression_estimators_report_batches_and_loss_too(estimator: type) -> None:
    events: list[VerticalProgress] = []
    rows = np.arange(100)
    counts = np.round(np.exp(0.3 * X[rows, 0]) * 2)
    # mini-batches (whole: 30, 30 and 40): linear regression's "auto" is full-batch
    # Newton-CG on any table
    options = (
        {**SMALL, "batch_size": 30, "key_bits": 1024}
        if estimator is HeteroPoissonRegression
        else {**SMALL, "batch_size": 30, "optimizer": "adam"}
    )
    model = estimator(learning_rate=0.05, progress=events.append, **options)
    model.fit(_data(rows), "card", counts)
    train = [e for e in events if e.stage == "train"]
    assert [e.done for e in train if not e.finished][:3] == [1, 2, 3]
    assert train[-1].finished and train[-1].done == train[-1].total == 9  # 3 epochs x 3
    assert all(e.loss is not None for e in train)
    assert train[-1].loss == pytest.approx(model.losses_[-1])


def test_rich_progress_draws_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    rows = np.arange(60)
    HeteroLogisticRegression(learning_rate=0.3, progress=True, **SMALL).fit(
        _data(rows), "card", Y[rows]
    )
    out = capsys.readouterr().out
    assert "PSI" in out and "60 matched" in out and "training" in out


def _secureboost() -> Any:
    return HeteroSecureBoost(key_bits=512, n_trees=2, seed=1, key_seed=1)


def _split_nn() -> Any:
    pytest.importorskip("torch")
    from rengo.vfl import SplitNNClassifier

    return SplitNNClassifier(epochs=2, batch_size=40, seed=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: HeteroLogisticRegression(learning_rate=0.3, **SMALL),
        lambda: HeteroLinearRegression(learning_rate=0.05, **SMALL),
        _secureboost,
        _split_nn,
    ],
    ids=["logistic", "linear", "secureboost", "splitnn"],
)
def test_a_pickled_fitted_estimator_predicts_what_the_original_predicts(
    make: Callable[[], Any],
) -> None:
    """Pickling a fitted estimator (joblib.dump, as scikit-learn users save models) raised
    ``TypeError: cannot pickle '_thread.RLock' object`` (the last run's recording bus)."""
    rows, new = np.arange(100), np.arange(100, 120)
    model = make().fit(_data(rows), "card", Y[rows])
    expected = model.predict_raw(_data(new))
    copy = pickle.loads(pickle.dumps(model))
    got = copy.predict_raw(_data(new))
    np.testing.assert_array_equal(got.ids, expected.ids)
    np.testing.assert_array_equal(got.values, expected.values)
    assert copy.get_params() == model.get_params()
    with pytest.raises(AttributeError, match=r"not kept when a fitted .* is pickled"):
        _ = copy.transcript_
    assert len(model.transcript_) > 0  # the original keeps its run


def test_no_shared_rows_to_score_is_named_as_such(fitted: HeteroLogisticRegression) -> None:
    """The message said the parties share no IDs at all, after they had trained on shared
    rows; what was empty was the intersection of the rows to score."""
    rows = np.arange(100, 110)
    data = {"card": (IDS[rows], X[rows, :2]), "bank": (IDS[rows - 100], X[rows - 100, 2:])}
    with pytest.raises(DataError, match="share no IDs among their rows to score"):
        fitted.predict(data)


def test_a_numpy_integer_seed_is_the_same_seed_and_a_negative_one_is_refused(
    fitted: HeteroLogisticRegression,
) -> None:
    rows = np.arange(100)
    options = {**SMALL, "seed": np.int64(SMALL["seed"])}  # e.g. from a parameter grid
    same = HeteroLogisticRegression(learning_rate=0.3, **options).fit(_data(rows), "card", Y[rows])
    for name, weights in fitted.coefficients().items():
        np.testing.assert_array_equal(same.coefficients()[name], weights)
    with pytest.raises(ConfigError, match="seed must be >= 0, got -1"):  # before PSI starts
        HeteroLogisticRegression(**{**SMALL, "seed": -1}).fit(_data(rows), "card", Y[rows])


@pytest.mark.parametrize(
    "make, labels",
    [
        (lambda: HeteroLogisticRegression(learning_rate=0.3, **SMALL), Y),
        (_secureboost, Y),
        (
            lambda: HeteroSecureBoost(
                key_bits=512, n_trees=2, seed=1, key_seed=1, objective="multiclass"
            ),
            np.digitize(X[:, 0], [-0.5, 0.5]).astype(float),
        ),
    ],
    ids=["logistic", "secureboost-binary", "secureboost-multiclass"],
)
def test_classes_name_predict_probas_columns_and_predicts_values(
    make: Callable[[], Any], labels: np.ndarray
) -> None:
    """scikit-learn code (metrics, calibration, ``classes_[proba.argmax(1)]``) reads a
    classifier's ``classes_``; the vertical classifiers other than SplitNN had none."""
    rows, new = np.arange(100), np.arange(100, 120)
    model = make().fit(_data(rows), "card", labels[rows])
    np.testing.assert_array_equal(model.classes_, np.arange(len(np.unique(labels))))
    proba = model.predict_proba(_data(new))
    assert proba.values.shape[1] == len(model.classes_)
    np.testing.assert_array_equal(
        model.classes_[np.argmax(proba.values, axis=1)], model.predict(_data(new)).values
    )


def test_a_regressor_has_no_classes() -> None:
    rows = np.arange(60)
    model = HeteroSecureBoost(key_bits=512, n_trees=1, key_seed=1, objective="regression")
    model.fit(_data(rows), "card", X[rows, 0])
    with pytest.raises(AttributeError, match="predicts values and has no classes_"):
        _ = model.classes_
    assert not hasattr(model, "classes_")
    with pytest.raises(NotFittedError):
        _ = HeteroLogisticRegression().classes_

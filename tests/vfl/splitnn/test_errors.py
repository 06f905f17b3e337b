"""Bad input to SplitNN gets a clear error naming the party, the option or the fix."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from rengo.core.errors import ConfigError, DataError
from rengo.core.options import OptionError
from rengo.vfl import SplitNNClassifier, SplitNNConfig


def small(cancer: dict[str, Any]) -> dict[str, Any]:
    return {name: (ids[:80], x[:80]) for name, (ids, x) in cancer["parties"].items()}


def test_a_label_that_is_not_binary_names_the_party_and_the_fix(cancer: dict[str, Any]) -> None:
    labels = np.arange(80) % 3
    with pytest.raises(
        DataError, match="card: task='binary' needs labels of exactly two classes, found 3"
    ):
        SplitNNClassifier(epochs=1).fit(small(cancer), "card", labels)
    with pytest.raises(DataError, match="task='multiclass'"):
        SplitNNClassifier(epochs=1).fit(small(cancer), "card", labels)


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_a_missing_label_in_an_object_column_is_named_not_a_numpy_error(
    cancer: dict[str, Any], missing: Any
) -> None:
    """pandas' missing labels: None reached np.unique (a raw TypeError), and NaN among text
    labels became a class of its own."""
    labels = np.where(np.arange(80) % 2 == 0, "paid", "defaulted").astype(object)
    labels[5] = missing
    with pytest.raises(DataError, match=r"card: labels hold 1 missing value\(s\)"):
        SplitNNClassifier(epochs=1, task="multiclass").fit(small(cancer), "card", labels)
    labels[5] = 1
    with pytest.raises(DataError, match=r"card: labels mix kinds \(int, str\)"):
        SplitNNClassifier(epochs=1, task="multiclass").fit(small(cancer), "card", labels)


def test_a_missing_value_names_the_party_and_the_column(cancer: dict[str, Any]) -> None:
    data = small(cancer)
    ids, x = data["bank"]
    x = x.copy()
    x[5, 3] = np.nan
    data["bank"] = (ids, x)
    with pytest.raises(DataError, match="bank: column 3 of its training table has 1 empty cells"):
        SplitNNClassifier(epochs=1).fit(data, "card", cancer["labels"][:80])


def test_a_value_beyond_float32_names_the_party_and_the_column(cancer: dict[str, Any]) -> None:
    """Finite in float64, infinite once cast for the networks: before, this surfaced as a
    'malformed embedding' from the party, with two equal shapes in the message."""
    data = small(cancer)
    ids, x = data["bank"]
    x = x.copy()
    x[7, 2] = 1e39
    data["bank"] = (ids, x)
    with pytest.raises(DataError, match="bank: column 2 holds values beyond float32's range"):
        SplitNNClassifier(epochs=1).fit(data, "card", cancer["labels"][:80])


def test_received_arrays_say_what_is_wrong_with_them() -> None:
    from rengo.core.errors import ProtocolError
    from rengo.vfl.splitnn.roles import received_array

    good = np.zeros((4, 2), dtype=np.float32)
    assert received_array(good, "bank", 4, 2, "embedding") is good
    with pytest.raises(ProtocolError, match=r"expected float32 of shape \(4, 2\), got \(4, 3\)"):
        received_array(np.zeros((4, 3), dtype=np.float32), "bank", 4, 2, "embedding")
    with pytest.raises(ProtocolError, match="got \\(4, 2\\) float64"):
        received_array(np.zeros((4, 2)), "bank", 4, 2, "embedding")
    bad = good.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ProtocolError, match="bank sent non-finite values in its embedding"):
        received_array(bad, "bank", 4, 2, "embedding")


def test_a_feature_party_without_columns_is_refused(cancer: dict[str, Any]) -> None:
    data = small(cancer)
    data["bank"] = (data["bank"][0], np.empty((80, 0)))
    with pytest.raises(DataError, match="bank: a feature party needs at least one column"):
        SplitNNClassifier(epochs=1).fit(data, "card", cancer["labels"][:80])


def test_a_label_party_without_columns_trains_on_the_others(cancer: dict[str, Any]) -> None:
    data = small(cancer)
    data["card"] = (data["card"][0], np.empty((80, 0)))
    model = SplitNNClassifier(epochs=2, batch_size=40, seed=0)
    model.fit(data, "card", cancer["labels"][:80])
    assert model.label_model_.bottom is None
    ids, proba = model.predict_proba(data)
    assert proba.shape == (len(ids), 2) and len(proba) > 60


def test_bad_options_name_the_option() -> None:
    with pytest.raises(OptionError, match="embedding_dim must be >= 1"):
        SplitNNConfig(embedding_dim=0)
    with pytest.raises(OptionError, match="defense = 'laplace'; choose one of"):
        SplitNNConfig(defense="laplace")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        SplitNNClassifier(epoch=3)
    with pytest.raises(ConfigError, match="learning_rate"):
        SplitNNClassifier(learning_rate=0.0)


def test_scoring_with_other_columns_or_before_fit_is_refused(cancer: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="call fit"):
        SplitNNClassifier().predict(small(cancer))
    model = SplitNNClassifier(epochs=1, batch_size=80, seed=0)
    model.fit(small(cancer), "card", cancer["labels"][:80])
    data = small(cancer)
    data["telecom"] = (data["telecom"][0], data["telecom"][1][:, :4])
    with pytest.raises(DataError, match="telecom: 4 columns to score, trained on 10"):
        model.predict(data)
    with pytest.raises(DataError, match="one entry per row of the label party"):
        model.score(small(cancer), cancer["labels"][:10])


@pytest.mark.parametrize(
    ("learning_rate", "party", "what"),
    [(1e3, "card", "loss"), (1e30, "(bank|telecom)", "embeddings")],  # feature parties race
)
def test_divergence_names_the_party_what_stopped_being_finite_and_the_learning_rate(
    cancer: dict[str, Any], learning_rate: float, party: str, what: str
) -> None:
    model = SplitNNClassifier(
        epochs=3, batch_size=32, seed=0, optimizer="sgd", learning_rate=learning_rate
    )
    with pytest.raises(ConfigError, match=rf"^{party}: training diverged in epoch 1") as info:
        model.fit(cancer["parties"], "card", cancer["labels"])
    message = str(info.value)
    assert f"its {what} stopped being finite" in message
    assert f"learning_rate={learning_rate:g} is too high" in message


def test_a_learning_rate_float32_cannot_hold_is_refused_before_training() -> None:
    with pytest.raises(ConfigError, match="learning_rate must be in"):
        SplitNNClassifier(learning_rate=1e300)


def test_shared_rows_of_one_class_are_named_as_too_small_an_overlap() -> None:
    """One shared row: its label is one class. The message said 'set task=multiclass'."""
    rng = np.random.default_rng(0)
    card = np.array([f"c{i:03d}" for i in range(60)])
    bank = np.array([f"b{i:03d}" for i in range(60)])
    bank[0] = card[0]
    y = np.tile([0, 1], 30)
    model = SplitNNClassifier(epochs=1, seed=0)
    parties = {"card": (card, rng.normal(size=(60, 3))), "bank": (bank, rng.normal(size=(60, 3)))}
    with pytest.raises(DataError) as info:
        model.fit(parties, "card", y)
    message = str(info.value)
    assert message.startswith("card: all 1 labels are 0, a single class")
    assert "rows card shares with bank (after PSI)" in message
    assert "multiclass" not in message


def _convergence_warnings(cancer: dict[str, Any], learning_rate: float) -> list[str]:
    model = SplitNNClassifier(epochs=2, batch_size=32, seed=0, learning_rate=learning_rate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(cancer["parties"], "card", cancer["labels"])
    return [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_a_loss_no_better_than_the_class_frequencies_is_warned(cancer: dict[str, Any]) -> None:
    """learning_rate=1e6 (Adam) stayed finite: losses of about 1e25 and nothing said so."""
    found = _convergence_warnings(cancer, 1e6)
    assert len(found) == 1
    assert found[0].startswith("SplitNNClassifier: the last epoch's training loss")
    assert "the loss of predicting every row's class frequencies" in found[0]
    assert "learning_rate=1e+06" in found[0]


def test_a_model_that_learned_is_not_warned(cancer: dict[str, Any]) -> None:
    assert _convergence_warnings(cancer, 0.01) == []

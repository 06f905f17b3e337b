"""Class weights: "balanced" equals scikit-learn's, every way of writing a setting reads
the same, and a setting that cannot apply is refused naming who and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from rengo.core.errors import DataError
from rengo.data.class_weights import (
    class_weight_text,
    class_weights,
    parse_class_weight,
    sample_weights,
)


@settings(deadline=None)  # the first example imports scikit-learn
@given(st.lists(st.integers(0, 3), min_size=2, max_size=80).filter(lambda y: len(set(y)) > 1))
def test_balanced_weights_equal_scikit_learn(labels: list[int]) -> None:
    y = np.array(labels)
    weights = class_weights(y, "balanced", "client 1", classes=4)
    assert weights is not None
    present = np.unique(y)
    expected = compute_class_weight("balanced", classes=present, y=y)
    assert [weights[int(k)] for k in present] == pytest.approx(expected.tolist())
    # every present class then carries the same total weight
    rows = sample_weights(y, "balanced", "client 1", classes=4)
    assert rows is not None
    totals = [rows[y == k].sum() for k in present]
    assert totals == pytest.approx([len(y) / len(present)] * len(present))


@pytest.mark.parametrize(
    "written",
    [{0: 1, 1: 25}, {"0": 1.0, "1": 25.0}, "0:1,1:25", " 1 : 25 , 0:1 ", {1: 25.0, 0: 1}],
)
def test_every_way_of_writing_weights_reads_the_same(written: object) -> None:
    assert class_weight_text(written) == "0:1.0,1:25.0"
    assert parse_class_weight(class_weight_text(written)) == {0: 1.0, 1: 25.0}


def test_no_weights_and_balanced_read_as_themselves() -> None:
    for written in (None, "none", "None", {}):
        assert class_weight_text(written) == "none"
    assert parse_class_weight("none") is None
    assert parse_class_weight("Balanced") == "balanced"
    assert sample_weights([0, 1], "none", "guest") is None


def test_a_class_left_out_of_the_mapping_weighs_one() -> None:
    assert class_weights([0, 1, 1], {1: 4.0}, "guest") == {0: 1.0, 1: 4.0}
    assert sample_weights([0, 1, 1], {1: 4.0}, "guest") == pytest.approx([1.0, 4.0, 4.0])


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ({0: 0}, "weight of class 0 must be a positive number"),
        ({1: -2.5}, "weight of class 1 must be a positive number"),
        ({1: float("nan")}, "weight of class 1 must be a positive number"),
        ({1: "heavy"}, "weight of class 1 must be a number"),
        ({"fraud": 3}, "class 'fraud' is not a class code"),
        ({-1: 3}, "class -1 is not a class code"),
        ({True: 3}, "is not a class code"),
        ("heavy", "write none, balanced, or per class"),
        (3.0, "must be none, 'balanced' or a mapping"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(written: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        class_weight_text(written)


def test_a_weighted_class_that_is_not_a_class_is_refused_naming_who() -> None:
    with pytest.raises(DataError, match=r"guest: class_weight names class 2.*0\.\.1"):
        class_weights([0, 1, 0], {2: 5.0}, "guest")


def test_balanced_on_a_single_class_is_refused_naming_who() -> None:
    with pytest.raises(DataError, match=r"hospital_3: class_weight='balanced' needs rows of"):
        class_weights([0, 0, 0], "balanced", "hospital_3")


def test_a_job_file_table_of_bad_weights_is_refused_naming_the_key() -> None:
    from rengo.core.errors import ConfigError
    from rengo.core.options import options_from_mapping
    from rengo.vfl.secureboost import SecureBoostConfig

    config = options_from_mapping(SecureBoostConfig, {"class_weight": {"0": 1, "1": 25}})
    assert config.class_weight == "0:1.0,1:25.0"
    with pytest.raises(ConfigError, match=r"job.toml: vfl.class_weight = .*class 1 must be a"):
        options_from_mapping(
            SecureBoostConfig,
            {"class_weight": {"0": 1, "1": -1}},
            label=lambda key: f"vfl.{key}",
            where="job.toml: ",
        )

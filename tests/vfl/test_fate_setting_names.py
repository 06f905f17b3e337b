"""A FATE user's settings: FATE's names are refused naming rengo's counterpart and any
difference in meaning (job files, estimators), never accepted as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from rengo.core import ConfigError
from rengo.core.options import names_elsewhere, option_specs
from rengo.jobs import parse_job
from rengo.vfl import HeteroLogisticRegression, HeteroSecureBoost
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.secureboost.config import SecureBoostConfig

JOB = """
[job]
kind = "vfl"
name = "from-fate"
[vfl]
algorithm = "{algorithm}"
dataset = "breast_cancer"
num_parties = 2
label_party = "guest"
key_bits = 512
{key} = {value}
"""


def _job_error(algorithm: str, key: str, value: str) -> str:
    text = JOB.format(algorithm=algorithm, key=key, value=value)
    with pytest.raises(ConfigError) as caught:
        parse_job(tomllib.loads(text))
    return str(caught.value)


@pytest.mark.parametrize(
    ("algorithm", "fate_key", "value", "counterpart"),
    [
        ("hetero_lr", "max_iter", "10", "epochs"),
        ("hetero_lr", "alpha", "0.01", "l2"),
        ("hetero_lr", "early_stop", '"diff"', "n_iter_no_change"),
        ("hetero_linear", "max_iter", "10", "epochs"),
        ("secureboost", "min_impurity_split", "0.01", "gamma"),
        ("secureboost", "min_leaf_node", "1", "min_samples_leaf"),
        ("secureboost", "encrypt_key_length", "1024", "key_bits"),
    ],
)
def test_a_job_file_with_a_fate_setting_names_the_counterpart(
    algorithm: str, fate_key: str, value: str, counterpart: str
) -> None:
    """'max_iter' and 'alpha' were refused with a list of every valid key, and
    'min_leaf_node' with "did you mean 'min_samples_leaf'" but nothing on FATE's meaning."""
    message = _job_error(algorithm, fate_key, value)
    assert f"unknown key {fate_key!r}" in message
    assert f"FATE's {fate_key}" in message
    assert repr(counterpart) in message


def test_fate_min_impurity_split_says_gamma_is_half_of_it() -> None:
    """FATE's split gain has no 1/2, so its threshold is twice rengo's gamma: the advice
    must say so, or a ported 0.01 becomes a threshold twice as high."""
    message = _job_error("secureboost", "min_impurity_split", "0.01")
    assert "gamma = min_impurity_split / 2" in message


def test_an_estimator_given_a_fate_keyword_names_the_counterpart() -> None:
    with pytest.raises(ConfigError, match=r"FATE's max_iter is 'epochs'"):
        HeteroLogisticRegression(max_iter=10)
    with pytest.raises(ConfigError, match=r"FATE's num_trees is 'n_trees'"):
        HeteroSecureBoost(num_trees=3)


@pytest.mark.parametrize("config_type", [LinearModelConfig, SecureBoostConfig])
def test_every_fate_name_points_at_options_that_exist_and_is_not_one(
    config_type: type,
) -> None:
    """Advice that names a rengo option by a misspelt or renamed name would mislead; a
    FATE name that is also an option would never reach the advice."""
    options = {spec.name for spec in option_specs(config_type)}
    advice = names_elsewhere(config_type)
    assert advice
    for fate_name, text in advice.items():
        assert fate_name not in options
        named = set(re.findall(r"'([a-z_0-9]+)'", text))
        fate_values = {"l2", "diff", "weight_diff", "abs", "linear", "multiclass"}
        assert named - fate_values <= options, (fate_name, named - options)


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "coming-from-fate.md"


def test_the_guides_ported_job_file_is_a_valid_job_with_fates_settings() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    spec = parse_job(tomllib.loads(block.group(1)))
    assert spec.vfl is not None
    options = spec.vfl.options
    assert (options.epochs, options.batch_size, options.optimizer) == (20, 100, "sgd")
    assert (options.learning_rate, options.l2, options.lr_schedule) == (0.01, 1.0, "constant")


@pytest.mark.parametrize("config_type", [LinearModelConfig, SecureBoostConfig])
def test_the_guide_maps_every_fate_name_the_errors_advise_on(config_type: type) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    missing = [name for name in names_elsewhere(config_type) if f"`{name}" not in text]
    assert not missing


def test_a_fate_full_batch_size_says_how_to_ask_for_one_batch() -> None:
    """FATE reads batch_size -1 (or 0) as one batch of every row; rengo said only
    'must be >= 1, got -1'."""
    message = _job_error("hetero_lr", "batch_size", "-1")
    assert "must be >= 1, got -1" in message
    assert "at least the row count" in message


def test_a_fate_flag_on_the_coordinator_names_the_counterpart(tmp_path: Path) -> None:
    """--max-iter was refused by the flag parser with 'Possible options: --max-bin,
    --max-depth' (SecureBoost's flags, for a hetero LR run)."""
    from typer.testing import CliRunner

    from rengo.cli.main import app

    base = ["vfl", "coordinator", "--parties", "a,b", "--label-party", "a", "--insecure"]
    result = CliRunner().invoke(app, [*base, "--max-iter", "5", "--store", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "FATE's max_iter is 'epochs'" in result.output

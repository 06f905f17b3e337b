"""Reading a job file once and loading each set of overrides from that reading (what
`rengo sweep` does for its cells) gives exactly the job `load_job` gives for the file and the
same overrides, or the same ConfigError: the settings a sweep compares are those `rengo run
--set` records."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.jobs import load_job
from rengo.jobs.build import job_settings
from rengo.jobs.spec import job_from_document, read_job_document

HORIZONTAL = """
[job]
name = "h"
rounds = 2
[data]
dataset = "csv"
path = "table.csv"
label = "y"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[strategy]
name = "fedavg"
"""
VERTICAL = """
[job]
kind = "vfl"
name = "v"
[vfl]
label_party = "card"
label = "y"
key_bits = 512
[vfl.parties]
card = "card.csv"
bank = "bank.csv"
"""
OVERRIDES = {
    "h": [
        "train.lr=0.05",
        "train.lr=-1",
        "job.seed=3",
        "strategy.name=fedprox",
        "strategy.name=fedpox",
        "partition.scheme=dirichlet",
        "partition.alpha=0.1",
        "data.path=other.csv",
        "model.type=mlp",
        "job.rounds=0",
    ],
    "v": [
        "vfl.learning_rate=0.3",
        "vfl.max_depth=3",
        "vfl.algorithm=secureboost",
        "vfl.key_bits=768",
        "vfl.epochs=2",
        "job.seed=4",
        "vfl.parties.bank=bank2.csv",
        "vfl.label_party=bank",
    ],
}


@pytest.fixture(scope="module")
def job_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("jobs")
    for name in ("table.csv", "other.csv", "card.csv", "bank.csv", "bank2.csv"):
        (folder / name).write_text("id,a,y\nr1,0.5,1\n")
    (folder / "h.toml").write_text(HORIZONTAL)
    (folder / "v.toml").write_text(VERTICAL)
    return {"h": folder / "h.toml", "v": folder / "v.toml"}


def _loaded(load: object) -> object:
    """What a load gives: the job, or the ConfigError's text (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load()  # type: ignore[operator]
        except ConfigError as exc:
            return f"ConfigError: {exc}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), kind=st.sampled_from(["h", "v"]))
def test_a_job_loaded_from_one_reading_of_its_file_is_the_job_load_job_gives(
    job_files: dict[str, Path], data: st.DataObject, kind: str
) -> None:
    path = job_files[kind]
    overrides = data.draw(st.lists(st.sampled_from(OVERRIDES[kind]), max_size=3, unique=True))
    document = read_job_document(path)
    from_reading = _loaded(lambda: job_from_document(path, document, overrides))
    assert from_reading == _loaded(lambda: load_job(path, overrides))
    if not isinstance(from_reading, str):
        assert job_settings(from_reading) == job_settings(load_job(path, overrides))  # type: ignore[arg-type]
    assert document == read_job_document(path)  # the reading is left as it was read


def test_a_job_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[job\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        read_job_document(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        read_job_document(tmp_path / "none.toml")

"""A job file written back from a recorded run: TOML that reads back as written, and a
clear refusal for a run whose record cannot make one."""

from __future__ import annotations

import math
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import pytest

from rengo.core.errors import ConfigError
from rengo.jobs.job_file_text import job_file_text
from rengo.jobs.recorded_job import recorded_job_document
from rengo.jobs.spec import DataSection, parse_job
from rengo.tracking.records import RunInfo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _run(kind: str, config: dict[str, Any]) -> RunInfo:
    return RunInfo(
        "20261206-070000-abcdef",
        kind,
        "old",
        "completed",
        datetime(2026, 12, 6, tzinfo=timezone.utc),
        None,
        config,
        None,
        0,
    )


def test_written_toml_reads_back_as_the_document() -> None:
    document = {
        "job": {"name": 'a "quoted" name \\ with ünïcode\n', "seed": 3, "on": True},
        "privacy": {"delta": 1e-05, "big": 1e300, "neg": -0.5, "inf": math.inf},
        "strategy": {"hidden": [64, 32], "nested": {"a key": 1, "b": [1.5, "x"]}, "empty": {}},
        "dotted.section": {"k-1": "v"},
    }
    text = job_file_text(document, comments=["first line", "second"])
    assert text.startswith("# first line\n# second\n")
    assert tomllib.loads(text) == document


def test_a_value_toml_cannot_hold_is_refused_naming_its_key() -> None:
    with pytest.raises(TypeError, match=r"strategy\.options\[1\] = None"):
        job_file_text({"strategy": {"options": [1, None]}})


def test_a_deployed_vertical_run_is_refused_naming_what_its_record_lacks() -> None:
    plan = {
        "executor": "grpc",
        "algorithm": "hetero_lr",
        "label_party": "card",
        "hosts": ["bank"],
        "seed": 7,
        "epochs": 5,
    }
    with pytest.raises(ConfigError) as caught:
        recorded_job_document(_run("vfl-deployed", plan))
    said = str(caught.value)
    assert "deployed vertical run" in said and "card, bank" in said and "hetero_lr" in said
    assert "not each party's table (path, ID column, label column)" in said


def test_a_run_recorded_before_job_settings_is_refused() -> None:
    with pytest.raises(ConfigError, match="recorded no job settings"):
        recorded_job_document(_run("hfl", {"dataset": "wine", "rounds": 2}))


def test_settings_this_release_cannot_write_back_are_named() -> None:
    settings = {
        "job": {"rounds": 2, "seed": 0},
        "data": {"dataset": "wine"},
        "train": {"lr": 0.1, "retired_key": 1},  # a key of another release's [train]
    }
    with pytest.raises(ConfigError, match=r"\[train\] unknown key 'retired_key'"):
        recorded_job_document(_run("hfl", {"job_settings": settings}))


def test_a_written_job_whose_settings_would_differ_is_refused_naming_each() -> None:
    # a bundled dataset ignores data.label, so it is left out and would read back as "y"
    data = {**asdict(DataSection()), "dataset": "wine", "label": "target"}
    settings = {"job": {"rounds": 2, "seed": 0}, "data": data}
    with pytest.raises(ConfigError, match=r"job_settings\.data\.label 'target', now 'y'"):
        recorded_job_document(_run("hfl", {"job_settings": settings}))


DEPLOYED = """
[job]
name = "served"
rounds = 3
[data]
dataset = "iris"
[partition]
num_clients = 2
[model]
type = "logistic"
[strategy]
name = "fedavg"
[deploy]
parties = ["a", "b"]
"""


def test_a_deployed_runs_job_file_repeats_its_settings_without_the_grpc_executor() -> None:
    from rengo.jobs import build_hfl_job
    from rengo.jobs.build import JOB_SETTINGS

    spec = parse_job(tomllib.loads(DEPLOYED))
    config = {"executor": "grpc", **build_hfl_job(spec).run_config({"model": "logistic"})}
    document = recorded_job_document(_run("hfl-deployed", config))
    assert "executor" not in document["job"]  # "grpc" is where it ran, not a simulation's
    again = parse_job(document)
    assert build_hfl_job(again).run_config({})[JOB_SETTINGS] == config[JOB_SETTINGS]


def test_a_served_runs_job_file_keeps_its_app_and_leaves_out_the_data_it_never_read() -> None:
    import numpy as np

    from rengo.jobs.build import build_served_job

    raw = tomllib.loads(DEPLOYED)
    raw["model"] = {"app": "mymodel:initial"}
    del raw["data"], raw["partition"]
    served = build_served_job(parse_job(raw), [np.zeros((4, 3)), np.zeros(3)], ["a", "b"])
    document = recorded_job_document(_run("hfl-deployed", served.run_config({})))
    assert document["model"] == {"type": "mlp", "hidden": [64, 64], "app": "mymodel:initial"}
    assert "data" not in document and "partition" not in document

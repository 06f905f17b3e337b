"""The SplitNN example job file runs as written and records its run; its keys are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from rengo.core import ConfigError
from rengo.jobs import build_vertical_job, load_job, parse_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.vfl import SplitNNClassifier

pytest.importorskip("torch", reason="SplitNN needs the torch extra")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "splitnn" / "digits.toml"


def test_the_example_job_trains_scores_and_records(tmp_path: Path) -> None:
    spec = load_job(EXAMPLE)
    assert spec.vfl is not None and spec.vfl.algorithm == "splitnn"
    spec.vfl.options = type(spec.vfl.options)(
        **{**spec.vfl.options.__dict__, "epochs": 6}  # shorter than the example, same file
    )
    job = build_vertical_job(spec)
    assert isinstance(job.model, SplitNNClassifier)
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(job, store, log=lambda _m: None)
        assert result["accuracy"] > 0.85
        assert len(result["losses"]) == 6
        run = store.get_run(result["run_id"])
        assert run.kind == "vfl" and run.status == "completed"


def test_splitnn_job_keys_are_checked_and_named() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["vfl"]["embeding_dim"] = 8
    with pytest.raises(ConfigError, match="embedding_dim"):
        parse_job(raw)
    raw["vfl"].pop("embeding_dim")
    raw["vfl"]["defense"] = "marvell"
    with pytest.raises(ConfigError, match=r"vfl\.defense"):
        parse_job(raw)


def test_rengo_run_describes_a_splitnn_job_by_its_own_options(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rengo.cli.main import app

    text = EXAMPLE.read_text(encoding="utf-8").replace("epochs = 12", "epochs = 1")
    (tmp_path / "job.toml").write_text(text, encoding="utf-8")
    out = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), "--store", str(tmp_path / "r.db")]
    )
    assert out.exit_code == 0, out.output
    assert "split neural network" in out.output and "1 epochs" in out.output
    assert "Paillier" not in out.output and "ACCURACY" in out.output

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


CANCER_JOB = """
[job]
kind = "vfl"
name = "splitnn-epochs"
seed = 1

[vfl]
algorithm = "splitnn"
dataset = "breast_cancer"
num_parties = 2
label_party = "bank"
epochs = 4
batch_size = 64
bottom_hidden = 0
embedding_dim = 2
top_hidden = 0
"""


class _Halt(Exception):
    """Stands for whatever stops a run part-way (a crash, a diverging loss)."""


def test_a_run_records_each_epoch_as_it_ends_and_keeps_them_when_it_fails(
    tmp_path: Path,
) -> None:
    """`rengo run` recorded a vertical run's epochs only after training: a run that failed
    at epoch 3 of 4 was recorded failed with no epoch at all, and a live run showed none
    in `rengo runs show` or the dashboard until it ended."""
    from rengo.vfl import VerticalProgress

    seen: dict[int, list[int]] = {}
    store = RunStore(tmp_path / "r.db")

    def halt_at_epoch_3(event: VerticalProgress) -> None:
        if event.party != "bank" or not event.ends_epoch or event.epoch is None:
            return
        (run_id,) = [r.run_id for r in store.list_runs()]
        seen[event.epoch] = [r.round for r in store.rounds(run_id)]
        if event.epoch == 3:
            raise _Halt("stopped at epoch 3")

    job = build_vertical_job(parse_job(tomllib.loads(CANCER_JOB)))
    with store, pytest.raises(_Halt):
        run_vertical_job(job, store, log=lambda _m: None, progress=halt_at_epoch_3)
    assert seen == {1: [1], 2: [1, 2], 3: [1, 2, 3]}  # each epoch recorded as it ended
    with RunStore(tmp_path / "r.db") as again:
        (run,) = again.list_runs()
        assert run.status == "failed"
        rounds = again.rounds(run.run_id)
        assert [r.round for r in rounds] == [1, 2, 3]
        losses = again.round_metrics(run.run_id)["train_loss"]
        assert len(losses) == 3 and all(0 < loss < 1 for _, loss in losses), losses


def test_a_splitnn_job_that_stops_early_records_its_settings_and_validation_losses(
    tmp_path: Path,
) -> None:
    """SplitNN had no validation share, early stopping or class weights (SecureBoost and
    hetero LR had): the job keys were refused as unknown."""
    text = CANCER_JOB.replace("epochs = 4", "epochs = 40") + (
        "learning_rate = 0.05\nvalidation_fraction = 0.25\nn_iter_no_change = 2\n"
        'class_weight = "balanced"\n'
    )
    built = build_vertical_job(parse_job(tomllib.loads(text)))
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(built, store, log=lambda _m: None)
        metrics = store.round_metrics(result["run_id"])
        run = store.get_run(result["run_id"])
    model = built.model
    assert isinstance(model, SplitNNClassifier)
    assert model.n_epochs_ < 40 and len(model.losses_) == model.n_epochs_
    recorded = [value for _round, value in metrics["validation_loss"]]
    assert recorded == pytest.approx(model.validation_losses_)
    assert len(recorded) == model.n_epochs_
    settings = str(run.config)
    for key in ("validation_fraction", "n_iter_no_change", "class_weight", "balanced"):
        assert key in settings


def test_rengo_run_refuses_an_executor_for_a_vertical_job_before_training(
    tmp_path: Path,
) -> None:
    """Before, `rengo run vfl.toml --executor process` was accepted and ignored (the parties
    ran in threads of this process, as without it) where `rengo sweep` refused it."""
    from typer.testing import CliRunner

    from rengo.cli.main import app

    (tmp_path / "job.toml").write_text(CANCER_JOB, encoding="utf-8")
    store = tmp_path / "r.db"
    out = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), "--executor", "process", "--store", str(store)]
    )
    assert out.exit_code != 0, out.output
    assert "vertical job" in out.output and "leave --executor out" in out.output
    assert not store.exists() or RunStore(store).list_runs() == []


@pytest.mark.parametrize("where", ["file", "set"])
def test_rengo_run_refuses_job_executor_in_a_vertical_job_before_training(
    tmp_path: Path, where: str
) -> None:
    """Before, `[job] executor = "process"` (or `--set job.executor=process`) in a vertical
    job was accepted and ignored, as the --executor flag was; both are now refused."""
    from typer.testing import CliRunner

    from rengo.cli.main import app

    text = CANCER_JOB.replace("[job]", '[job]\nexecutor = "process"', 1)
    (tmp_path / "job.toml").write_text(text if where == "file" else CANCER_JOB, encoding="utf-8")
    store = tmp_path / "r.db"
    extra = [] if where == "file" else ["--set", "job.executor=process"]
    out = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), *extra, "--store", str(store)]
    )
    assert out.exit_code != 0, out.output
    assert "job.executor = 'process'" in out.output and "vertical job" in out.output
    assert not store.exists() or RunStore(store).list_runs() == []

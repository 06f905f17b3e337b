"""Found by review of the vertical sweeps: `runs compare --study` chose its default metric
across runs that logged nothing (an interrupted cell) and failed; a vertical run's recorded
job file made `runs mirror` / `runs export` refuse it; a cell whose valuation never finished
counted as completed, so the sweep's advised retry did nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rengo.cli.runs_export import model_namer
from rengo.tracking import RunStore
from rengo.tracking.compared_metric import compared_metric


def test_the_default_metric_ignores_runs_that_logged_nothing(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        done = store.start_run("vfl", {}, name="cell")
        store.log_round(done, 1, {"test_auc": 0.8, "test_accuracy": 0.7}, 1.0, 2, 0)
        store.finish_run(done, "completed")
        cut = store.start_run("vfl", {}, name="cell")
        store.finish_run(cut, "interrupted")
        assert compared_metric(store, [done, cut]) == "test_accuracy"


def test_a_vertical_runs_recorded_job_file_is_not_read_for_tensor_names(tmp_path: Path) -> None:
    job = tmp_path / "vfl.toml"
    job.write_text('[job]\nkind = "vfl"\nname = "v"\n[vfl]\ndataset = "breast_cancer"\n')
    run = SimpleNamespace(kind="vfl", config={"job_file": str(job)})
    _namer, source = model_namer(run, None)  # refused "is a vertical job" before
    assert "vfl.toml" not in source


def test_a_cell_whose_valuation_never_finished_is_run_again(tmp_path: Path) -> None:
    from rengo.cli.sweep import plan_sweep
    from rengo.jobs import load_job
    from rengo.jobs.build import JOB_SETTINGS, job_settings
    from rengo.tracking.study_tag import STUDY

    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "valued"\nrounds = 1\n[data]\ndataset = "wine"\n'
        '[partition]\nscheme = "iid"\nnum_clients = 3\n[model]\ntype = "logistic"\n'
        '[contribution]\nmethod = "loo"\n'
    )
    config = {JOB_SETTINGS: job_settings(load_job(job)), STUDY: "s"}
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", config, name="valued")
        store.finish_run(run_id, "completed")  # closed, its valuation then stopped
    [cell] = plan_sweep(job, [], "s", tmp_path / "runs.db")
    assert cell.recorded is None
    with RunStore(tmp_path / "runs.db") as store:
        store.log_contribution(run_id, None, "0", "loo", 0.1)
    [cell] = plan_sweep(job, [], "s", tmp_path / "runs.db")
    assert cell.recorded is not None and cell.recorded.run_id == run_id


def test_vertical_settings_leave_out_the_keys_only_a_deployed_run_reads() -> None:
    """A sweep over them would run the same simulation twice, and --same-as would refuse a
    job differing only in them."""
    from rengo.jobs.build import job_settings
    from rengo.jobs.spec import parse_job

    raw = {"job": {"kind": "vfl", "name": "v"}, "vfl": {"dataset": "breast_cancer"}}
    plain = job_settings(parse_job(raw, "j.toml"))
    raw["vfl"] = {**raw["vfl"], "max_message_mb": 64.0, "rejoin_grace": 5.0}
    assert job_settings(parse_job(raw, "j.toml")) == plain
    assert "max_message_mb" not in plain["vfl"] and plain["vfl"]["key_bits"] == 2048


def test_a_vertical_run_recorded_before_new_options_is_written_back() -> None:
    from rengo.jobs.recorded_vertical_job import vertical_job_document
    from rengo.jobs.spec import parse_job

    spec = parse_job(
        {"job": {"kind": "vfl", "name": "v"}, "vfl": {"dataset": "breast_cancer"}}, "j.toml"
    )
    assert spec.vfl is not None
    old = {k: v for k, v in spec.vfl.as_dict().items() if k not in ("class_weight", "categorical")}
    run = SimpleNamespace(config=old, name="v", run_id="r1", seed=0)
    document = vertical_job_document(run)  # type: ignore[arg-type]
    assert document["vfl"]["dataset"] == "breast_cancer"


def test_a_valued_vertical_runs_job_file_keeps_its_contribution_section() -> None:
    """Its comment says --same-as repeats it, and the run records [contribution]: written
    back without it, --same-as refused the file (job_settings.contribution differed)."""
    from rengo.jobs.build import JOB_SETTINGS, job_settings
    from rengo.jobs.recorded_vertical_job import vertical_job_document
    from rengo.jobs.spec import parse_job

    raw = {
        "job": {"kind": "vfl", "name": "v"},
        "vfl": {"dataset": "breast_cancer"},
        "contribution": {"method": "shapley", "metric": "auc"},
    }
    spec = parse_job(raw, "j.toml")
    assert spec.vfl is not None
    config = {**spec.vfl.as_dict(), JOB_SETTINGS: job_settings(spec)}
    run = SimpleNamespace(config=config, name="v", run_id="r1", seed=0)
    document = vertical_job_document(run)  # type: ignore[arg-type]
    again = parse_job(document, "back.toml")
    assert job_settings(again) == job_settings(spec)


def test_a_blank_study_is_refused_not_read_as_no_filter(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rengo.cli.main import app

    with RunStore(tmp_path / "runs.db") as store:
        store.finish_run(store.start_run("hfl", {}, name="x"), "completed")
    listed = CliRunner().invoke(
        app, ["runs", "list", "--study", " ", "--store", str(tmp_path / "runs.db")]
    )
    assert listed.exit_code != 0 and "--study needs a study's name" in listed.output

"""A run whose job values its participants ([contribution]) but whose values were never
recorded (its process stopped after the training, before it stored them) does not pass for a
run with values: `rengo runs show` says they are missing and `rengo rewards pay` refuses it,
each naming the command that computes them (a repeat of the run with --same-as), and so does
the dashboard's rewards JSON (values_missing)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from rengo.tracking.contrib_records import record_contributions
from rengo.ui.views import rewards_view
from rengo.valuation import ContributionReport

runner = CliRunner(env={"COLUMNS": "400"})


def _completed_without_values(db: Path, job: Path) -> str:
    """The store a stop between "completed" and the values' recording leaves: the run and its
    job settings, no contribution values, no ledger line."""
    with RunStore(db) as store:
        run_id = store.start_run(
            "hfl",
            {"job_settings": {"contribution": {"method": "gtg"}}, "job_file": str(job)},
            name="valued",
        )
        store.log_round(run_id, 1, {"train_loss": 0.5}, 0.1, 2, 0)
        store.finish_run(run_id, "completed", {"train_loss": 0.5})
    return run_id


def test_a_completed_run_whose_values_are_missing_is_shown_so_and_never_paid(
    tmp_path: Path,
) -> None:
    db, job = tmp_path / "runs.db", tmp_path / "job.toml"
    run_id = _completed_without_values(db, job)
    repeat = f"rengo run {job} --same-as {run_id} --store {db}"
    paid = runner.invoke(app, ["rewards", "pay", run_id, "--budget", "10", "--store", str(db)])
    said = " ".join(paid.output.split())
    assert paid.exit_code != 0 and "never recorded" in said and repeat in said, paid.output
    with RunStore(db) as store:
        assert store.ledger(run_id) == []
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(db)])
    assert shown.exit_code == 0, shown.output
    card = " ".join(shown.output.replace("│", " ").split())
    assert "values missing" in card and f"--same-as {run_id}" in card, shown.output
    with RunStore(db) as store:  # the dashboard's rewards JSON says so too
        said = rewards_view(store, run_id)["values_missing"]
    assert said is not None and "never recorded" in said and repeat in said


def test_a_run_whose_job_values_no_one_is_not_called_missing_values(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        run_id = store.start_run("hfl", {"job_settings": {"contribution": None}}, name="plain")
        store.finish_run(run_id, "completed", {})
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(db)])
    assert shown.exit_code == 0 and "values missing" not in shown.output, shown.output
    with RunStore(db) as store:
        assert rewards_view(store, run_id)["values_missing"] is None


def test_a_run_whose_recorded_valuation_valued_no_round_is_not_called_missing_values(
    tmp_path: Path,
) -> None:
    db, job = tmp_path / "runs.db", tmp_path / "job.toml"
    run_id = _completed_without_values(db, job)
    with RunStore(db) as store:  # recorded, with no round valued: no value rows
        report = ContributionReport(
            method="gtg", values={}, rounds=(), evaluations=0, permutations=0
        )
        record_contributions(store, run_id, report)
        assert store.contributions(run_id) == []
        assert rewards_view(store, run_id)["values_missing"] is None
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(db)])
    assert shown.exit_code == 0 and "values missing" not in shown.output, shown.output
    paid = runner.invoke(app, ["rewards", "pay", run_id, "--budget", "10", "--store", str(db)])
    said = " ".join(paid.output.split())
    assert paid.exit_code != 0 and "never recorded" not in said, paid.output
    assert "valued no round" in said, paid.output


def test_a_deployed_run_whose_values_are_missing_is_not_told_to_repeat_as_a_simulation(
    tmp_path: Path,
) -> None:
    """Only `rengo coordinator` (hfl-deployed) values a deployed run: `rengo vfl coordinator`
    refuses a job with [contribution] (tests/cli/test_vfl_cli.py), so no vfl-deployed run
    records job settings that value anyone."""
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        run_id = store.start_run(
            "hfl-deployed",
            {"job_settings": {"contribution": {"method": "gtg"}}, "job_file": "job.toml"},
            name="deployed",
        )
        store.log_round(run_id, 1, {"train_loss": 0.5}, 0.1, 2, 0)
        store.finish_run(run_id, "completed", {"train_loss": 0.5})
        said = rewards_view(store, run_id)["values_missing"]
    assert said is not None and "never recorded" in said
    assert "`rengo coordinator`" in said and f"rengo run job.toml --same-as {run_id}" not in said


def test_a_recording_stopped_after_its_summary_and_before_its_values_is_missing_values(
    tmp_path: Path,
) -> None:
    """The valuation's summary entry is written before its value rows: a stop in between left
    an entry naming valued rounds and no rows, which was taken for a valuation that valued
    no round ("nothing to read or pay"), with no word of the command that records them."""
    db, job = tmp_path / "runs.db", tmp_path / "job.toml"
    run_id = _completed_without_values(db, job)
    with RunStore(db) as store:  # what record_contributions writes first
        store.update_summary(
            run_id, {"contribution_valuation": {"gtg": {"score": "accuracy", "rounds": [1]}}}
        )
        said = rewards_view(store, run_id)["values_missing"]
    assert said is not None and "never recorded" in said
    paid = runner.invoke(app, ["rewards", "pay", run_id, "--budget", "10", "--store", str(db)])
    told = " ".join(paid.output.split())
    assert paid.exit_code != 0 and "never recorded" in told and "--same-as" in told, paid.output

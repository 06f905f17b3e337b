"""`rengo runs`: the per-client view of a run, deleting runs, and where the store lives."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore, resolve_store_path
from rengo.tracking.liveness import STALE_S

runner = CliRunner(env={"COLUMNS": "200"})

JOB = """
[job]
name = "spread"
rounds = 2
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 4
[model]
type = "logistic"
[strategy]
name = "fedavg"
fraction_evaluate = 1.0
"""


def _recorded_run(tmp_path: Path) -> tuple[Path, str]:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        return store, s.list_runs()[0].run_id


def test_runs_show_and_plot_clients_show_the_spread_over_clients(tmp_path: Path) -> None:
    store, run_id = _recorded_run(tmp_path)
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(store)])
    assert shown.exit_code == 0
    assert "client metrics (distribution over clients" in shown.output
    png = tmp_path / "clients.png"
    plotted = runner.invoke(
        app, ["runs", "plot", run_id, "--clients", "--store", str(store), "-o", str(png)]
    )
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    two = runner.invoke(app, ["runs", "plot", run_id, run_id, "--clients", "--store", str(store)])
    assert two.exit_code == 2 and "exactly one run" in two.output


def test_runs_show_without_an_id_shows_the_run_started_last(tmp_path: Path) -> None:
    store, run_id = _recorded_run(tmp_path)
    shown = runner.invoke(app, ["runs", "show", "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert run_id in shown.output
    exported = runner.invoke(
        app, ["runs", "export", "latest", "--store", str(store), "-o", str(tmp_path / "r.csv")]
    )
    assert exported.exit_code == 0, exported.output
    empty = runner.invoke(app, ["runs", "show", "--store", str(tmp_path / "none.db")])
    assert empty.exit_code != 0


def test_runs_delete_asks_unless_yes_and_keeps_paid_runs(tmp_path: Path) -> None:
    store, run_id = _recorded_run(tmp_path)
    declined = runner.invoke(app, ["runs", "delete", run_id, "--store", str(store)], input="n\n")
    assert declined.exit_code == 1 and "nothing deleted" in declined.output
    with RunStore(store) as s:
        paid = s.start_run("hfl", {}, name="paid")
        s.append_ledger(paid, None, "a", "reward", 100, "test", "credits")
        s.finish_run(paid, "completed")
        live = s.start_run("hfl", {}, name="live")
    refused = runner.invoke(app, ["runs", "delete", paid, "--yes", "--store", str(store)])
    assert refused.exit_code == 2 and "append-only" in refused.output
    running = runner.invoke(app, ["runs", "delete", live, "--yes", "--store", str(store)])
    assert running.exit_code == 2 and "--force" in running.output
    confirmed = runner.invoke(app, ["runs", "delete", run_id, "--store", str(store)], input="y\n")
    assert confirmed.exit_code == 0 and "deleted" in confirmed.output
    forced = runner.invoke(app, ["runs", "delete", live, "-y", "--force", "--store", str(store)])
    assert forced.exit_code == 0
    with RunStore(store) as s:
        assert [r.name for r in s.list_runs()] == ["paid"]


def test_one_store_for_every_folder_from_rengo_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-store"
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        result = CliRunner(env={"COLUMNS": "200", "RENGO_STORE": str(shared)}).invoke(
            app, ["run", str(job), "--no-progress"]
        )
        assert result.exit_code == 0, result.output
    assert not (tmp_path / "a" / "rengo-runs").exists()
    with RunStore(shared) as s:
        assert len(s.list_runs()) == 2


def test_rengo_runs_still_works_with_a_deprecation_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENGO_STORE", raising=False)
    monkeypatch.setenv("RENGO_RUNS", str(tmp_path / "old.db"))
    with pytest.warns(DeprecationWarning, match="RENGO_STORE"):
        assert resolve_store_path() == tmp_path / "old.db"
    monkeypatch.setenv("RENGO_STORE", str(tmp_path / "new.db"))
    assert resolve_store_path() == tmp_path / "new.db"  # the new name wins, silently


def test_a_command_line_user_is_told_rengo_runs_is_deprecated(tmp_path: Path) -> None:
    """Python's default filters hide the DeprecationWarning from a `rengo` command."""
    old = {"COLUMNS": "200", "RENGO_RUNS": str(tmp_path / "old.db"), "RENGO_STORE": ""}
    told = CliRunner(env=old).invoke(app, ["runs", "list"])
    assert "$RENGO_RUNS is deprecated" in told.output and "set $RENGO_STORE instead" in told.output
    new = {**old, "RENGO_STORE": str(tmp_path / "new.db")}
    assert "deprecated" not in CliRunner(env=new).invoke(app, ["runs", "list"]).output


def test_runs_list_fits_80_columns_without_cutting_names_or_status(tmp_path: Path) -> None:
    store, _ = _recorded_run(tmp_path)
    with RunStore(store) as s:
        failed = s.start_run("hfl-deployed", {}, name="credit-default-consortium")
        s.finish_run(failed, "interrupted")
    listed = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["runs", "list", "--store", str(store)])
    assert listed.exit_code == 0
    assert all(len(line) <= 80 for line in listed.output.splitlines())
    assert "…" not in listed.output
    for word in ("interrupted", "completed", "spread", "hfl-deployed", failed):
        assert word in listed.output


PNG = b"\x89PNG\r\n\x1a\n"


def test_a_folder_given_as_plot_out_gets_the_png_inside(tmp_path: Path) -> None:
    store, run_id = _recorded_run(tmp_path)
    folder = tmp_path / "plots"
    folder.mkdir()
    for extra, name in (
        ([run_id], f"{run_id}.png"),
        ([run_id, "--clients"], f"{run_id}-clients.png"),
        ([run_id, run_id], "compare-central_accuracy.png"),
    ):
        result = runner.invoke(
            app, ["runs", "plot", *extra, "--store", str(store), "-o", str(folder)]
        )
        assert result.exit_code == 0, result.output
        assert (folder / name).read_bytes()[:8] == PNG


def test_runs_plot_keeps_a_file_already_there_unless_overwrite(tmp_path: Path) -> None:
    """As runs card, job, export, metrics and compare do: a file already at --out is kept,
    the refusal naming it and --overwrite, unless --overwrite is given."""
    store, run_id = _recorded_run(tmp_path)
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"the user's own picture")
    args = ["runs", "plot", run_id, "--store", str(store), "-o", str(kept)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--overwrite" in " ".join(refused.output.split())
    assert kept.read_bytes() == b"the user's own picture"
    replaced = runner.invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert kept.read_bytes()[:8] == PNG


def test_run_plot_to_a_folder_writes_the_run_png_inside(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store, folder = tmp_path / "runs.db", tmp_path / "plots"
    folder.mkdir()
    args = ["run", str(job), "--store", str(store), "--no-progress", "--plot", str(folder)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        run_id = s.list_runs()[0].run_id
    assert (folder / f"{run_id}.png").read_bytes()[:8] == PNG


def test_run_plot_that_cannot_be_written_is_refused_before_the_run_trains(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    store = tmp_path / "runs.db"
    args = ["run", str(job), "--store", str(store), "--no-progress", "--plot"]
    result = runner.invoke(app, [*args, str(a_file / "run.png")])
    assert result.exit_code == 2, result.output
    assert "cannot write to" in result.output and "Traceback" not in result.output
    assert not store.exists() or not RunStore(store).list_runs()


def test_runs_list_of_a_kind_with_no_runs_names_the_kinds_there(tmp_path: Path) -> None:
    store, _ = _recorded_run(tmp_path)
    listed = runner.invoke(app, ["runs", "list", "--kind", "hlf", "--store", str(store)])
    assert listed.exit_code == 0, listed.output
    assert "no runs of kind 'hlf'; kinds in this store: hfl" in listed.output


def _runs_of_every_status(path: Path) -> dict[str, str]:
    """Runs named after how they ended, one of them left `running` by an owner on another
    host that stopped beating long ago (read as `interrupted`, though its row says running)."""
    with RunStore(path) as store:
        ids = {}
        for status in ("completed", "failed", "interrupted"):
            ids[status] = store.start_run("hfl", {}, name=f"ended-{status}")
            store.finish_run(ids[status], status)
        ids["gone"] = store.start_run("vfl", {}, name="owner-gone")
        ids["running"] = store.start_run("hfl", {}, name="still-running")
    stale = (datetime.now(timezone.utc) - timedelta(seconds=STALE_S + 60)).isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE runs SET hostname = 'elsewhere', heartbeat_at = ? WHERE run_id = ?",
            (stale, ids["gone"]),
        )
    return ids


def _listed(path: Path, *options: str) -> set[str]:
    result = runner.invoke(app, ["runs", "list", "--store", str(path), *options])
    assert result.exit_code == 0, result.output
    with RunStore(path, read_only=True) as store:
        return {r.run_id for r in store.list_runs(limit=None) if r.run_id in result.output}


def test_runs_list_filters_by_status_as_read_name_and_day(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    ids = _runs_of_every_status(path)
    assert _listed(path, "--status", "interrupted") == {ids["interrupted"], ids["gone"]}
    assert _listed(path, "--status", "running") == {ids["running"]}
    assert _listed(path, "--status", "failed") == {ids["failed"]}
    assert _listed(path, "--name", "ENDED", "--kind", "hfl") == {
        ids["completed"],
        ids["failed"],
        ids["interrupted"],
    }
    today = datetime.now().date()
    assert _listed(path, "--since", str(today)) == set(ids.values())
    assert _listed(path, "--until", str(today - timedelta(days=1))) == set()
    assert _listed(path, "--status", "failed", "--limit", "1") == {ids["failed"]}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--status", "runing"], "--status 'runing': choose one of completed, failed,"),
        (["--since", "yesterday"], "--since must be a date like 2026-11-30, got 'yesterday'"),
    ],
)
def test_runs_list_refuses_a_filter_value_it_cannot_match(
    tmp_path: Path, options: list[str], message: str
) -> None:
    path = tmp_path / "runs.db"
    _runs_of_every_status(path)
    result = runner.invoke(app, ["runs", "list", "--store", str(path), *options])
    assert result.exit_code == 2 and message in result.output, result.output


def _two_runs_with_metrics(path: Path) -> tuple[str, str]:
    with RunStore(path) as store:
        first = store.start_run("hfl", {"lr": 0.1}, name="first")
        store.log_round(first, 1, {"accuracy": 0.5, "loss": 1.25}, 0.5, 3, 0)
        store.log_round(first, 2, {"accuracy": 0.75, "loss": float("nan")}, 0.25, 3, 1)
        store.log_event(first, "error", "round 3 failed: client c2 raised", 3)
        store.finish_run(first, "failed")
        second = store.start_run("vfl", {}, name="second")
        store.log_round(second, 1, {"auc": 0.625}, 2.0, 2, 0)
        store.finish_run(second, "completed")
    return first, second


def test_runs_metrics_writes_every_rounds_metrics_as_csv_with_nan_left_empty(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    first, second = _two_runs_with_metrics(path)
    out = tmp_path / "rounds.csv"
    args = ["runs", "metrics", first, second, "--store", str(path), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "3 rounds of 2 runs" in result.output, result.output
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
        columns = list(rows[0])
    fixed = ["run_id", "run_name", "round", "duration_s", "num_clients", "num_failures"]
    assert columns[:6] == fixed
    assert sorted(columns[6:]) == ["accuracy", "auc", "loss"]
    assert [(r["run_id"], r["round"], r["accuracy"], r["loss"], r["auc"]) for r in rows] == [
        (first, "1", "0.5", "1.25", ""),
        (first, "2", "0.75", "", ""),  # NaN: an empty cell
        (second, "1", "", "", "0.625"),
    ]
    assert rows[1]["num_failures"] == "1" and rows[2]["run_name"] == "second"
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "give --overwrite" in again.output, again.output


def test_runs_metrics_writes_a_whole_run_as_json_with_why_it_failed(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    first, _ = _two_runs_with_metrics(path)
    out = tmp_path / "run.json"
    result = runner.invoke(app, ["runs", "metrics", first, "--store", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(out.read_text())
    assert record["run"]["status"] == "failed" and record["config"] == {"lr": 0.1}
    assert [r["metrics"] for r in record["rounds"]] == [
        {"accuracy": 0.5, "loss": 1.25},
        {"accuracy": 0.75, "loss": None},
    ]
    assert record["events"][-1]["message"] == "round 3 failed: client c2 raised"


@pytest.mark.parametrize(
    ("out", "extra", "message"),
    [
        ("rounds.txt", [], "rounds.txt': choose --format csv or json"),
        ("rounds.csv", ["--format", "xlsx"], "--format 'xlsx'"),
        ("runs.db", ["--format", "csv", "--overwrite"], "would destroy it"),
    ],
)
def test_runs_metrics_refuses_a_format_it_cannot_write_or_the_store_itself(
    tmp_path: Path, out: str, extra: list[str], message: str
) -> None:
    path = tmp_path / "runs.db"
    first, _ = _two_runs_with_metrics(path)
    size = path.stat().st_size
    args = ["runs", "metrics", first, "--store", str(path), "--out", str(tmp_path / out)]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2 and message in result.output, result.output
    assert path.stat().st_size == size and RunStore(path, read_only=True).get_run(first)


def _why(path: Path, run_id: str) -> str:
    result = runner.invoke(app, ["runs", "show", run_id, "--store", str(path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│ why " in line]
    return " ".join(" ".join(line.strip("│ ").split()) for line in lines)


def test_runs_show_says_why_a_run_did_not_complete_at_the_top(tmp_path: Path) -> None:
    """The reason was only in the events table at the end of a long listing, and a run whose
    process was killed (or stopped by Ctrl-C) had no reason at all."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        with pytest.raises(RuntimeError), store.run("hfl", {}, name="failed") as failed:
            raise RuntimeError("disk full")
        with pytest.raises(KeyboardInterrupt), store.run("hfl", {}, name="stopped") as stopped:
            raise KeyboardInterrupt
        done = store.start_run("hfl", {}, name="done")
        store.finish_run(done, "completed")
    gone = _runs_of_every_status(path)["gone"]
    assert _why(path, failed.run_id) == "why run failed: RuntimeError: disk full"
    assert _why(path, stopped.run_id).startswith("why run interrupted: KeyboardInterrupt;")
    assert _why(path, gone).startswith("why its process (pid ")
    assert "ended without recording how" in _why(path, gone)
    assert _why(path, done) == ""


def test_runs_delete_by_filter_prunes_the_matching_runs_and_keeps_paid_and_running_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    ids = _runs_of_every_status(path)
    with RunStore(path) as store:
        paid = store.start_run("hfl", {}, name="paid-failure")
        store.append_ledger(paid, None, "a", "reward", 100, "test", "credits")
        store.finish_run(paid, "failed")
    base = ["runs", "delete", "--store", str(path)]
    nothing = runner.invoke(app, [*base, "-y"])
    assert nothing.exit_code == 2 and "name the runs to delete, or select" in nothing.output
    declined = runner.invoke(app, [*base, "--status", "interrupted"], input="n\n")
    assert declined.exit_code == 1 and "delete 2 run(s)" in declined.output
    pruned = runner.invoke(app, [*base, "--status", "interrupted", "-y"])
    assert pruned.exit_code == 0, pruned.output
    failed = runner.invoke(app, [*base, "--status", "failed", "--yes"])
    assert failed.exit_code == 0 and "keeping 1 matching run(s)" in failed.output
    assert paid in failed.output, failed.output
    running = runner.invoke(app, [*base, "--name", "still", "--yes"])
    assert running.exit_code == 0 and "no run to delete" in running.output
    with RunStore(path, read_only=True) as store:
        left = {r.run_id for r in store.list_runs(limit=None)}
    assert left == {ids["completed"], ids["running"], paid}


def test_runs_delete_keeps_a_run_resumed_while_it_asked_for_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run was interrupted when listed, and `rengo run --resume` took it up while the
    prompt waited: answering yes must not delete it under its live process."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        left = store.start_run("hfl", {}, name="left")
        store.finish_run(left, "interrupted")

    def resumed_meanwhile(*args: object, **kwargs: object) -> bool:
        with RunStore(path) as store:
            store.resume_run(left)  # now owned by this (live) process
        return True

    monkeypatch.setattr("typer.confirm", resumed_meanwhile)
    result = runner.invoke(app, ["runs", "delete", left, "--store", str(path)])
    assert result.exit_code == 2, result.output
    assert "is still running" in result.output
    with RunStore(path, read_only=True) as store:
        assert store.get_run(left).status == "running"


def _run_with_checkpoint(store: RunStore, name: str, size: int) -> str:
    """A completed run holding one checkpoint of ``size`` random (incompressible) bytes."""
    run_id = store.start_run("hfl", {}, name=name)
    store.save_checkpoint(run_id, 1, np.random.default_rng(0).bytes(size))
    store.finish_run(run_id, "completed")
    return run_id


def test_runs_delete_gives_the_deleted_runs_space_back_to_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        old = _run_with_checkpoint(store, "old", 4_000_000)
        kept = _run_with_checkpoint(store, "kept", 10_000)
    before = path.stat().st_size
    result = runner.invoke(app, ["runs", "delete", old, "--yes", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert path.stat().st_size < before - 3_000_000
    assert "given back to the disk" in result.output
    with RunStore(path, read_only=True) as store:
        assert [r.run_id for r in store.list_runs()] == [kept]
        assert len(store.load_checkpoint(kept, 1)) == 10_000


def test_runs_delete_dry_run_names_what_it_would_delete_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        old = _run_with_checkpoint(store, "old", 1_000)
        live = store.start_run("hfl", {}, name="live")
    dry = runner.invoke(app, ["runs", "delete", "--kind", "hfl", "--dry-run", "--store", str(path)])
    assert dry.exit_code == 0, dry.output
    assert f"would delete 1 run(s) (--dry-run: none deleted): {old}" in dry.output
    assert "keeping 1 matching run(s) still running" in dry.output and live in dry.output
    with RunStore(path, read_only=True) as store:
        assert {r.run_id for r in store.list_runs()} == {old, live}


def test_runs_compact_waits_for_running_runs_and_delete_says_so(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        old = _run_with_checkpoint(store, "old", 2_000_000)
        live = store.start_run("hfl", {}, name="live")
        deleted = runner.invoke(app, ["runs", "delete", old, "--yes", "--store", str(path)])
        assert deleted.exit_code == 0, deleted.output
        assert "`rengo runs compact` gives it back" in " ".join(deleted.output.split())
        refused = runner.invoke(app, ["runs", "compact", "--store", str(path)])
        assert refused.exit_code == 2 and live in refused.output
        store.finish_run(live, "completed")
    before = path.stat().st_size
    compacted = runner.invoke(app, ["runs", "compact", "--store", str(path)])
    assert compacted.exit_code == 0 and "given back to the disk" in compacted.output
    assert path.stat().st_size < before - 1_500_000


def test_runs_close_takes_a_killed_run_out_of_the_interrupted_ones_with_the_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        killed = store.start_run("hfl", {}, name="killed")
    with sqlite3.connect(path) as conn:  # its process long gone: a pid no process has
        conn.execute("UPDATE runs SET owner_pid = ? WHERE run_id = ?", (2**22 + 1, killed))
    before = runner.invoke(app, ["runs", "list", "--status", "interrupted", "--store", str(path)])
    assert killed in before.output
    result = runner.invoke(
        app, ["runs", "close", killed, "--reason", "superseded", "--store", str(path)]
    )
    assert result.exit_code == 0, result.output
    after = runner.invoke(app, ["runs", "list", "--status", "interrupted", "--store", str(path)])
    assert killed not in after.output
    shown = runner.invoke(app, ["runs", "show", killed, "--store", str(path)])
    assert "closed by the operator, not to be resumed: superseded" in " ".join(shown.output.split())


def test_runs_delete_of_many_runs_lists_them_as_a_table_before_it_asks(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        ids = [_run_with_checkpoint(store, f"batch-{i}", 10) for i in range(7)]
    base = ["runs", "delete", "--name", "batch", "--store", str(path)]
    declined = runner.invoke(app, base, input="n\n")
    assert declined.exit_code == 1, declined.output
    prompt = next(line for line in declined.output.splitlines() if line.startswith("delete "))
    assert prompt.startswith("delete 7 run(s): the runs listed above?")
    table = declined.output[: declined.output.index(prompt)]
    assert all(run_id in table for run_id in ids)
    confirmed = runner.invoke(app, [*base, "--yes"])
    assert confirmed.exit_code == 0 and "deleted 7 run(s)" in confirmed.output

"""``[job] on_short_round`` / ``max_skipped_rounds`` in a job file: ``rengo run`` skips rounds
short of clients and says so in its round records, ``rengo runs show`` and ``rengo rewards
show`` (a skipped round has no contribution and is paid nothing); a bad value is a
ConfigError naming the key; ``rengo coordinator`` refuses the key, saying what a deployed
run does instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.jobs import parse_job
from rengo.jobs.build import job_settings
from rengo.tracking import RunStore

ROUND_SKIPPED = "round_skipped"
"""The metric that marks a skipped round (rengo.core.skipped_round)."""

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
name = "cross-device"
seed = 0
rounds = 6
on_short_round = "skip"
max_skipped_rounds = 6
[data]
dataset = "iris"
[partition]
scheme = "iid"
num_clients = 12
[model]
type = "logistic"
[strategy]
name = "fedavg"
fraction_fit = 0.5
min_fit_clients = 5
fraction_evaluate = 0.0
[dropout]
dropout = 0.3
[contribution]
method = "gtg"
budget = "100.00"
"""


def test_a_job_that_skips_rounds_says_so_in_runs_show_and_rewards_show(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        run = s.list_runs()[0]
        rounds = s.rounds(run.run_id)
    skipped = [r.round for r in rounds if r.metrics.get(ROUND_SKIPPED) == 1.0]
    ran = [r.round for r in rounds if r.round not in skipped]
    assert run.status == "completed" and run.config["on_short_round"] == "skip"
    assert skipped and ran, [r.metrics for r in rounds]  # the seed gives both
    shown = runner.invoke(app, ["runs", "show", run.run_id, "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.split())
    assert f"{len(skipped)} skipped, short of clients" in flat
    one = runner.invoke(
        app, ["runs", "show", run.run_id, "--store", str(store), "--round", str(skipped[0])]
    )
    assert f"round {skipped[0]} skipped: only" in " ".join(one.output.split())
    written = runner.invoke(app, ["runs", "job", run.run_id, "--store", str(store)])
    assert written.exit_code == 0, written.output  # a repeat skips as this run did
    assert 'on_short_round = "skip"' in written.output
    assert "max_skipped_rounds = 6" in written.output
    rewards = runner.invoke(app, ["rewards", "show", run.run_id, "--store", str(store)])
    assert rewards.exit_code == 0, rewards.output
    flat = " ".join(rewards.output.split())
    for number in skipped:
        assert f"round {number} has no contributions and earns nobody anything" in flat


def test_the_rounds_valued_are_those_that_ran(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    assert (
        runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"]).exit_code == 0
    )
    from rengo.tracking.contrib_records import run_contributions

    with RunStore(store) as s:
        run_id = s.list_runs()[0].run_id
        rounds = s.rounds(run_id)
        found = run_contributions(s, run_id, None)
        ledger = s.ledger(run_id)
    ran = {r.round for r in rounds if ROUND_SKIPPED not in r.metrics}
    assert found.per_round and set(found.per_round) <= ran  # no value for a skipped round
    assert ledger and all(e.round is None or e.round in ran for e in ledger)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("on_short_round", "drop", "job.on_short_round"),
        ("max_skipped_rounds", -1, "job.max_skipped_rounds"),
    ],
)
def test_a_bad_value_names_the_key(key: str, value: object, named: str) -> None:
    raw = {"job": {key: value}, "data": {"dataset": "iris"}, "model": {"type": "logistic"}}
    with pytest.raises(ConfigError, match=named):
        parse_job(raw)


def test_the_default_is_fail_and_skip_is_read_and_recorded_only_when_set() -> None:
    base = {"data": {"dataset": "iris"}, "model": {"type": "logistic"}}
    assert parse_job(base).job.on_short_round == "fail"
    assert job_settings(parse_job(base))["job"] == {"rounds": 10, "seed": 0}
    spec = parse_job({**base, "job": {"on_short_round": "skip", "max_skipped_rounds": 3}})
    assert (spec.job.on_short_round, spec.job.max_skipped_rounds) == ("skip", 3)
    recorded = job_settings(spec)["job"]
    assert recorded["on_short_round"] == "skip" and recorded["max_skipped_rounds"] == 3


def test_a_coordinator_refuses_on_short_round_skip_saying_what_it_does_instead(
    tmp_path: Path,
) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "deployed"\non_short_round = "skip"\n[data]\ndataset = "iris"\n'
        '[partition]\nnum_clients = 2\n[model]\ntype = "logistic"\n'
    )
    result = CliRunner().invoke(
        app, ["coordinator", "--job", str(job), "--insecure", "--store", str(tmp_path / "r")]
    )
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "job.on_short_round = 'skip' applies to simulations" in flat
    assert "never skips a round" in flat and "--rejoin-wait" in flat
    # a failed run cannot be resumed: the message says which shortfall leaves it resumable
    assert "the run fails (`--resume` continues it" not in flat
    assert "lost their link (or an admitted one never joined) leaves the run interrupted" in flat
    assert "answered wrongly or raised fails the run, which cannot be resumed" in flat


CROSS_DEVICE = """
[job]
name = "cross-device"
seed = 0
rounds = 18
on_short_round = "skip"
[data]
dataset = "digits"
[partition]
scheme = "iid"
num_clients = 200
[model]
type = "logistic"
[strategy]
name = "fedavg"
fraction_fit = 0.05
min_fit_clients = 8
[dropout]
dropout = 0.3
"""


def test_a_run_whose_last_round_is_skipped_ends_on_the_metrics_of_the_model_it_keeps(
    tmp_path: Path,
) -> None:
    """200 clients, 10 sampled, 30 % lost, 8 needed: seed 0 skips round 18 (and 3, 7-11,
    16). The closing line gave the last round's metrics: a skipped round has only
    round_skipped; the model the run keeps is round 17's."""
    job = tmp_path / "job.toml"
    job.write_text(CROSS_DEVICE)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        rounds = s.rounds(s.list_runs()[0].run_id)
    skipped = [r.round for r in rounds if ROUND_SKIPPED in r.metrics]
    assert skipped == [3, 7, 8, 9, 10, 11, 16, 18]
    flat = " ".join(result.output.split())
    assert "completed: central_accuracy=" in flat and "round_skipped" not in flat
    assert "(of round 17, whose model it keeps: the rounds after it were skipped" in flat


def test_same_as_an_identical_repeat_whose_last_round_was_skipped_is_the_same(
    tmp_path: Path,
) -> None:
    """`rengo run --same-as RUN` compared this run's last round run (17) with the stored
    run's last round, the skipped round 18 ({round_skipped: 1}), and called a bit-identical
    repeat "final metrics differ". Both sides now compare the last round each ran."""
    job = tmp_path / "job.toml"
    job.write_text(CROSS_DEVICE)
    store = tmp_path / "runs.db"
    first = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert first.exit_code == 0, first.output
    with RunStore(store) as s:
        run_id = s.list_runs()[0].run_id
    again = runner.invoke(
        app, ["run", str(job), "--store", str(store), "--no-progress", "--same-as", run_id]
    )
    assert again.exit_code == 0, again.output
    flat = " ".join(again.output.split())
    assert f"same final metrics as run {run_id}" in flat
    assert "differ" not in flat

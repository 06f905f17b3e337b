"""The rewards loop from the command line: a job's [contribution] section records who
contributed what in `rengo run` (horizontal and vertical), `rengo rewards pay` then pays
any such run, and every amount a person reads is in major units with its currency."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "250"})

HFL = """
[job]
name = "valued"
rounds = 3
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 4
[model]
type = "logistic"
[train]
lr = 0.2
[contribution]
method = "gtg"
"""

VFL = """
[job]
kind = "vfl"
name = "valued-vertical"
seed = 0
[vfl]
dataset = "breast_cancer"
num_parties = 3
label_party = "guest"
key_bits = 512
epochs = 2
batch_size = 100  # three whole batches of the 328 aligned rows, as 128 cut them before
learning_rate = 0.3
[contribution]
metric = "auc"
budget = 500
"""


def _run(tmp_path: Path, text: str, *extra: str) -> tuple[Path, str, str]:
    job = tmp_path / "job.toml"
    job.write_text(text)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        return store, s.list_runs()[0].run_id, result.output


def test_a_horizontal_run_records_contributions_that_rewards_pay_then_pays(tmp_path: Path):
    store, run_id, output = _run(tmp_path, HFL, "--set", "job.rounds=2")
    assert "Contribution (gtg" in output and "rengo rewards pay" in output
    with RunStore(store) as s:
        assert len(s.rounds(run_id)) == 2  # the --set override
        recorded = {c.participant for c in s.contributions(run_id) if c.round is None}
        assert recorded == {f"client-{k}" for k in range(4)}
        assert s.get_run(run_id).config["overrides"] == ["job.rounds=2"]
    paid = runner.invoke(
        app, ["rewards", "pay", run_id, "--budget", "1000.00", "--store", str(store)]
    )
    assert paid.exit_code == 0, paid.output
    assert "1000.00 of 1000.00 credits" in " ".join(paid.output.split())
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(store)])
    with RunStore(store) as s:
        ledger = s.ledger(run_id)
    assert all("budget=1000.00 credits" in e.reason for e in ledger)
    biggest = max(ledger, key=lambda e: int(e.amount))
    major = f"{int(biggest.amount) // 100}.{int(biggest.amount) % 100:02d}"
    assert major in shown.output  # runs show: major units
    assert f" {biggest.amount} " not in shown.output.replace(major, "")
    exported = tmp_path / "ledger.csv"
    runner.invoke(app, ["rewards", "export", run_id, "--csv", str(exported), "--store", str(store)])
    rows = list(csv.DictReader(exported.open()))
    assert {r["amount"] for r in rows} >= {major}
    assert all("budget=1000.00 credits" in r["reason"] for r in rows)


@pytest.mark.slow
def test_a_vertical_run_values_each_feature_party_and_pays_its_budget(tmp_path: Path):
    store, run_id, output = _run(tmp_path, VFL)
    flat = " ".join(output.split())
    assert "label party alone: auc" in flat and "from federating" in flat
    with RunStore(store) as s:
        values = {c.participant: c.value for c in s.contributions(run_id) if c.round is None}
        ledger = s.ledger(run_id)
    assert set(values) == {"party1", "party2"}
    assert sum(int(e.amount) for e in ledger) == 50_000  # budget = 500 credits, all paid
    assert "500.00 credits" in flat or "payout" in flat
    again = runner.invoke(app, ["rewards", "pay", run_id, "--budget", "1", "--store", str(store)])
    assert again.exit_code == 2 and "already paid" in again.output


VFL_REGRESSION = """
[job]
kind = "vfl"
name = "valued-regression"
seed = 0
[vfl]
algorithm = "hetero_linear"
dataset = "diabetes"
num_parties = 3
label_party = "clinic"
key_bits = 512
epochs = 2
batch_size = 128
learning_rate = 0.3
optimizer = "sgd"
[contribution]
method = "shapley"
"""


def test_a_vertical_regression_run_is_valued_on_a_regression_metric(tmp_path: Path):
    """The metric defaulted to AUC, refused only after training ('unknown metric auc for
    hetero_linear'), and r2 was refused by the job file: a regression job could not be
    valued. It takes R^2 by default and any regression metric; AUC is refused before the
    run starts."""
    store, run_id, output = _run(tmp_path, VFL_REGRESSION)
    assert "label party alone: r2" in " ".join(output.split())
    with RunStore(store) as s:
        valued = {c.participant for c in s.contributions(run_id) if c.round is None}
    assert valued == {"party1", "party2"}
    job = tmp_path / "auc.toml"
    job.write_text(VFL_REGRESSION + 'metric = "auc"\n')
    refused = runner.invoke(app, ["run", str(job), "--store", str(tmp_path / "other.db")])
    assert refused.exit_code == 2
    flat = " ".join(refused.output.split())
    assert "contribution.metric = 'auc'" in flat and "r2" in flat
    assert not (tmp_path / "other.db").exists()


DP = '[privacy]\ndp = "central"\nnoise_multiplier = 1.0\nclip_norm = 0.1\n'


def test_central_dp_with_contribution_is_refused_unless_accepted_then_warned(tmp_path: Path):
    """The job printed dp_epsilon=6.57 beside payouts computed from raw updates (norms ~0.55
    under clip norm 0.1), which no epsilon bounds; now it is refused, records no run, and
    with outside_dp = true it runs with one warning line (not Python's path:line format)."""
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(HFL + DP)
    refused = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert refused.exit_code == 2
    said = " ".join(refused.stderr.split())
    assert "the DP guarantee does not cover" in said and "outside_dp = true" in said
    with RunStore(store) as s:
        assert s.list_runs() == []
    job.write_text(HFL.replace('method = "gtg"', 'method = "gtg"\noutside_dp = true') + DP)
    accepted = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert accepted.exit_code == 0, accepted.output
    warned = " ".join(accepted.stderr.split())
    assert "warning: contribution values rebuild each coalition's model" in warned
    assert "(ValuedAsFedAvgWarning)" in warned and ".py:" not in warned


def test_a_run_of_many_participants_prints_the_most_valuable_and_counts_the_rest(tmp_path: Path):
    """A 300-client job printed a row per participant when it ended (1,000 clients: 1,000)."""
    many = HFL.replace("num_clients = 4", "num_clients = 26").replace('"gtg"', '"loo"')
    many = many.replace("rounds = 3", "rounds = 1")
    store, run_id, output = _run(tmp_path, many)
    ended = output.split("Contribution (")[1]
    assert len([line for line in ended.splitlines() if "│ client-" in line]) == 20
    words = " ".join(ended.split())
    assert f"... and 6 more participants: `rengo rewards show {run_id}` lists every one" in words
    with RunStore(store) as s:  # all 26 are still recorded
        assert len({r.participant for r in s.contributions(run_id) if r.round is None}) == 26


def test_exact_per_round_values_of_too_many_clients_are_refused_before_training(
    tmp_path: Path,
):
    """Method 'mr' with 14 clients a round trained round 1, then failed the run ('14
    clients is too many'); the job is refused before anything trains."""
    job = tmp_path / "job.toml"
    job.write_text(HFL.replace("num_clients = 4", "num_clients = 14").replace('"gtg"', '"mr"'))
    store = tmp_path / "runs.db"
    refused = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert refused.exit_code == 2, refused.output
    flat = " ".join(refused.output.split())
    assert "values at most 12 clients a round exactly" in flat and "up to 14" in flat
    assert not store.exists()
    half = runner.invoke(
        app, ["run", str(job), "--store", str(store), "--no-progress",
              "--set", "strategy.fraction_fit=0.5"],
    )  # fmt: skip
    assert half.exit_code == 0, half.output

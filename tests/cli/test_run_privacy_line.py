"""`rengo run` ends with the privacy the run spent, as `rengo runs show` states it: the line
above lists the last round's metrics, and under local DP its `train_dp_epsilon` is the
clients' weighted mean, below the epsilon of the client that spent most."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.privacy.epsilon_text import epsilon_shown
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
name = "privacy-line"
seed = 3
rounds = 2
[data]
dataset = "wine"
standardize = false
[partition]
scheme = "dirichlet"
num_clients = 4
alpha = 0.5
[model]
type = "{model}"
{hidden}
[train]
lr = 0.1
batch_size = 8
[strategy]
name = "fedavg"
[privacy]
{privacy}
"""


def _run(tmp_path: Path, model: str, privacy: str) -> tuple[str, RunStore, str]:
    job = tmp_path / "job.toml"
    hidden = "hidden = [8]" if model == "mlp" else ""
    job.write_text(JOB.format(model=model, hidden=hidden, privacy=privacy), encoding="utf-8")
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    opened = RunStore(store)
    return " ".join(result.output.split()), opened, opened.list_runs()[0].run_id


@pytest.mark.timeout(300)
def test_a_local_dp_run_ends_with_the_worst_clients_epsilon_not_the_mean(
    tmp_path: Path,
) -> None:
    pytest.importorskip("opacus")
    privacy = 'dp = "local"\nnoise_multiplier = 1.0\nmax_grad_norm = 1.0\ndelta = 1e-3'
    text, store, run_id = _run(tmp_path, "mlp", privacy)
    with store:
        peaks = store.client_metric_peaks(run_id, "dp_epsilon")
        mean = store.round_metrics(run_id)["train_dp_epsilon"][-1][1]
    worst = max(value for value, _ in peaks.values())
    assert worst > mean  # the clients' sizes differ, so their epsilons do
    assert f"train_dp_epsilon={epsilon_shown(mean)}" in text
    assert f"privacy: local DP: epsilon up to {epsilon_shown(worst)} at delta 0.001" in text


def test_a_central_dp_run_ends_with_the_accountants_epsilon(tmp_path: Path) -> None:
    pytest.importorskip("dp_accounting")
    from rengo.privacy import epsilon_after

    privacy = 'dp = "central"\nnoise_multiplier = 1.5\ndelta = 1e-3\naccountant = "rdp"'
    text, store, _ = _run(tmp_path, "logistic", privacy)
    store.close()
    spent = epsilon_shown(epsilon_after(2, 1.5, 1e-3, 1.0, "rdp"))
    assert f"privacy: epsilon {spent} at delta 0.001 after 2 rounds" in text


def test_a_run_without_dp_prints_no_privacy_line(tmp_path: Path) -> None:
    text, store, _ = _run(tmp_path, "logistic", 'dp = "none"')
    store.close()
    assert "privacy:" not in text


def test_runs_export_states_the_privacy_line_rengo_run_ended_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One place words the privacy line (`rengo.cli.privacy_line`): `rengo runs export`
    prints the line `rengo run` ended with, whatever that place says."""
    pytest.importorskip("dp_accounting")
    privacy = 'dp = "central"\nnoise_multiplier = 1.5\ndelta = 1e-3\naccountant = "rdp"'
    text, store, run_id = _run(tmp_path, "logistic", privacy)
    with store:
        from rengo.cli.privacy_line import privacy_line

        line = privacy_line(store, run_id)
    assert line is not None and line in text
    monkeypatch.setattr("rengo.cli.privacy_line.privacy_line", lambda s, r: f"{line} [one place]")
    out = tmp_path / "model.npz"
    result = runner.invoke(
        app, ["runs", "export", run_id, "--store", str(tmp_path / "runs.db"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"{line} [one place] - the run's spend" in " ".join(result.output.split())

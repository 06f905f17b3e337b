"""`rengo runs job RUN`: a recorded run's job file written back out, which `rengo run FILE
--same-as RUN` accepts from any folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "250"})

GUARDED = """
[job]
name = "guarded"
seed = 3
rounds = 2
[data]
dataset = "wine"
standardize = false
[partition]
scheme = "dirichlet"
num_clients = 5
alpha = 0.8
min_size = 4
[model]
type = "logistic"
[train]
lr = 0.2
batch_size = 16
[strategy]
name = "fedprox"
proximal_mu = 0.05
[privacy]
dp = "central"
noise_multiplier = 0.3
clip_norm = 2.0
clip_at = "client"
seeded_noise = true
secagg = true
secagg_neighbours = 4
[robust]
attack = "sign_flip"
attackers = 1
[result_checks]
max_claimed_examples = 5000
"""

ON_A_FILE = """
[job]
name = "on-a-file"
seed = 5
rounds = 2
[data]
dataset = "csv"
path = "tables/table.csv"
label = "y"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "mlp"
hidden = [8]
[strategy]
name = "fedavg"
"""

VERTICAL = """
[job]
kind = "vfl"
name = "columns"
seed = 9
[vfl]
label_party = "card"
label = "y"
key_bits = 512
epochs = 1
test_size = 0.25
[vfl.parties]
card = "card.csv"
bank = "bank.csv"
"""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _recorded(job: Path, store: Path) -> str:
    """Run ``job`` into ``store``; its run id."""
    ran = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store, read_only=True) as s:
        return s.list_runs()[0].run_id


def _repeat_from(
    folder: Path, written: Path, store: Path, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """`rengo run WRITTEN --same-as RUN` started in ``folder``; its output."""
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    again = runner.invoke(
        app, ["run", str(written), "--store", str(store), "--no-progress", "--same-as", run_id]
    )
    assert again.exit_code == 0, again.output
    return _flat(again.output)


def test_a_bundled_run_with_privacy_and_attackers_is_repeated_from_its_written_job_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "first").mkdir()
    job, store = tmp_path / "first" / "job.toml", tmp_path / "runs.db"
    job.write_text(GUARDED)
    run_id = _recorded(job, store)
    job.unlink()  # the operator lost it
    written = tmp_path / "elsewhere" / "again.toml"
    wrote = runner.invoke(app, ["runs", "job", run_id, "-o", str(written), "--store", str(store)])
    assert wrote.exit_code == 0, wrote.output
    assert f"--same-as {run_id}" in _flat(wrote.output)
    said = _repeat_from(tmp_path / "another", written, store, run_id, monkeypatch)
    assert f"same final metrics as run {run_id}" in said  # seeded noise: the very run again


def test_a_csv_run_is_repeated_from_any_folder_its_data_path_written_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    (tmp_path / "tables").mkdir()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    rows = [f"{a:.4f},{b:.4f},{int(a > 0)}" for a, b in X]
    (tmp_path / "tables" / "table.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(ON_A_FILE)  # data.path relative to the job file's folder
    run_id = _recorded(job, store)
    printed = runner.invoke(app, ["runs", "job", run_id[:15], "--store", str(store)])
    assert printed.exit_code == 0, printed.output
    table = (tmp_path / "tables" / "table.csv").resolve()
    assert f"path = {str(table)!r}".replace("'", '"') in printed.output
    written = tmp_path / "deep" / "er" / "again.toml"
    written.parent.mkdir(parents=True)
    written.write_text(printed.output)
    said = _repeat_from(tmp_path / "elsewhere", written, store, run_id, monkeypatch)
    assert f"same final metrics as run {run_id}" in said


def test_an_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(GUARDED)
    run_id = _recorded(job, store)
    target = tmp_path / "keep.toml"
    target.write_text("mine\n")
    refused = runner.invoke(app, ["runs", "job", run_id, "-o", str(target), "--store", str(store)])
    assert refused.exit_code != 0 and "--overwrite" in _flat(refused.output)
    assert target.read_text() == "mine\n"
    replaced = runner.invoke(
        app, ["runs", "job", run_id, "-o", str(target), "--store", str(store), "--overwrite"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert target.read_text().startswith(f"# Job file of run {run_id}")


def test_a_simulated_vertical_run_is_repeated_from_its_written_job_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    n = 160
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + b > 0).astype(int)
    (tmp_path / "card.csv").write_text(
        "id,a,y\n" + "".join(f"c{i},{a[i]:.4f},{y[i]}\n" for i in range(n))
    )
    (tmp_path / "bank.csv").write_text("id,b\n" + "".join(f"c{i},{b[i]:.4f}\n" for i in range(n)))
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(VERTICAL)
    run_id = _recorded(job, store)
    written = tmp_path / "elsewhere" / "again.toml"
    wrote = runner.invoke(app, ["runs", "job", run_id, "-o", str(written), "--store", str(store)])
    assert wrote.exit_code == 0, wrote.output
    (tmp_path / "another").mkdir()
    monkeypatch.chdir(tmp_path / "another")
    said = _repeat_from(tmp_path / "another", written, store, run_id, monkeypatch)
    assert f"same final metrics as run {run_id}" in said
    with RunStore(store, read_only=True) as s:
        new, old = s.list_runs()  # newest first
    assert (new.seed, new.name) == (old.seed, old.name)
    moved = {"job_file": str(written.resolve())}  # the settings and data, from another file
    assert new.config == {**old.config, **moved}


def test_a_bundled_vertical_run_is_repeated_from_its_written_job_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its config records the bundled dataset (``bundled_data``), which is no [vfl] key."""
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "bundled"\nseed = 2\n[vfl]\ndataset = "breast_cancer"\n'
        'num_parties = 2\nlabel_party = "hospital"\nkey_bits = 512\nepochs = 1\n'
    )
    run_id = _recorded(job, store)
    written = tmp_path / "again.toml"
    wrote = runner.invoke(app, ["runs", "job", run_id, "-o", str(written), "--store", str(store)])
    assert wrote.exit_code == 0, wrote.output
    assert "bundled_data" not in written.read_text()
    said = _repeat_from(tmp_path, written, store, run_id, monkeypatch)
    assert f"same final metrics as run {run_id}" in said

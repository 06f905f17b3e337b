"""SecureBoost deployed: ``rengo vfl coordinator`` and ``rengo vfl party`` processes over the
gRPC hub with mTLS grow exactly the trees the simulator grows and score exactly alike, from
CSV tables with empty cells, and each party's saved model scores alike again once read back;
a job file deployed equals ``rengo run`` of it."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_processes import Processes
from sklearn.datasets import load_breast_cancer

from rengo.deploy.vertical_data import PartyData, load_party_data
from rengo.jobs import build_vertical_job, load_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates
from rengo.vfl.secureboost import HeteroSecureBoost, read_party_model

LABEL_PARTY = "card"
HOSTS = ["bank", "telecom"]
COLUMNS = {"card": range(0, 10), "bank": range(10, 20), "telecom": range(20, 30)}
SEED = 7
SETTINGS: dict[str, Any] = {"n_trees": 2, "max_depth": 3, "key_bits": 512, "subsample": 0.9}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sbt-certs")
    init_certificates(directory, [LABEL_PARTY, *HOSTS])
    return directory


def write_csv(path: Path, ids: list[str], x: np.ndarray, y: np.ndarray | None) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", *(f"f{j}" for j in range(x.shape[1])), *(["y"] if y is not None else [])]
        )
        for k, row in enumerate(x):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in row]
            writer.writerow([ids[k], *cells, *([str(int(y[k]))] if y is not None else [])])


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """breast_cancer split by columns into three parties' CSVs with empty cells, each party
    missing different customers, rows in a different order per party."""
    folder = tmp_path_factory.mktemp("sbt-data")
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    x = x.copy()
    x[rng.random(x.shape) < 0.05] = np.nan
    ids = np.array([f"cust-{i:04d}" for i in range(len(x))])
    held_out = rng.random(len(x)) < 0.2
    paths: dict[str, dict[str, Path]] = {}
    for name, cols in COLUMNS.items():
        keep = rng.random(len(x)) > 0.06
        paths[name] = {}
        for part, rows in (("train", keep & ~held_out), ("score", keep & held_out)):
            order = rng.permutation(np.flatnonzero(rows))
            path = folder / f"{name}-{part}.csv"
            labels = y[order] if name == LABEL_PARTY else None
            write_csv(path, list(ids[order]), x[order][:, list(cols)], labels)
            paths[name][part] = path
    return paths


def party_data(tables: dict[str, dict[str, Path]], name: str) -> PartyData:
    return load_party_data(
        tables[name]["train"],
        "id",
        label="y" if name == LABEL_PARTY else None,
        score_csv=tables[name]["score"],
    )


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


def wait_for_port(proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("listening on "):
            return int(line.split()[2].rstrip(";").rsplit(":", 1)[1]), lines
    raise AssertionError("coordinator exited before listening:\n" + "".join(lines))


def finish(proc: subprocess.Popen[str], earlier: list[str] | None = None) -> str:
    out, _ = proc.communicate(timeout=240)
    text = "".join(earlier or []) + out
    assert proc.returncode == 0, text
    return text


def comparable(trees: Any) -> Any:
    """Trees as JSON without what differs by design between runs (a feature party's
    anonymous column ids are drawn afresh), NaN thresholds as text."""
    plain = json.loads(json.dumps(trees, default=lambda v: v.__dict__))
    return [
        [{k: str(v) if k == "threshold" else v for k, v in node.items() if k != "feature_label"}
         for node in tree]
        for tree in plain
    ]  # fmt: skip


@pytest.mark.timeout(420)
def test_deployed_secureboost_grows_the_simulated_trees_and_scores_alike(
    tables: dict[str, dict[str, Path]], certs: Path, cli: Processes, tmp_path: Path
) -> None:
    data = {name: party_data(tables, name) for name in [LABEL_PARTY, *HOSTS]}
    assert np.isnan(data["bank"].table.features).any()  # type: ignore[union-attr]
    model = HeteroSecureBoost(seed=SEED, **SETTINGS)
    model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)  # type: ignore[misc]
    ids, scores = model.predict_raw({n: d.score_table for n, d in data.items()})  # type: ignore[misc]

    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]
    coordinator = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--parties", ",".join([LABEL_PARTY, *HOSTS]),
        "--label-party", LABEL_PARTY,
        "--algorithm", "secureboost",
        *flags,
        "--seed", str(SEED),
        "--join-timeout", "120",
        "--store", str(tmp_path / "runs.db"),
    )  # fmt: skip
    port, early = wait_for_port(coordinator)
    parties = {}
    for name in [LABEL_PARTY, *HOSTS]:
        label = ["--label", "y"] if name == LABEL_PARTY else []
        parties[name] = cli.start(
            "party",
            "--coordinator", f"127.0.0.1:{port}",
            "--name", name,
            "--csv", str(tables[name]["train"]),
            "--id-column", "id",
            *label,
            "--score-csv", str(tables[name]["score"]),
            "--predictions", str(tmp_path / "scores.csv"),
            "--model", str(tmp_path / f"{name}.json"),
            "--certs", str(certs),
        )  # fmt: skip
    outputs = {name: finish(proc) for name, proc in parties.items()}
    summary = finish(coordinator, early)

    with (tmp_path / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in rows], ids)
    np.testing.assert_array_equal([float(r["score"]) for r in rows], scores)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["algorithm"] == "secureboost"
    assert comparable(card["trees"]) == comparable(model.guest_model_.trees)
    for host in HOSTS:
        saved = json.loads((tmp_path / f"{host}.json").read_text())
        splits = [[s[k] for k in ("tree", "node", "feature", "threshold", "missing_left")]
                  for s in saved["splits"]]  # fmt: skip
        assert splits == [
            [s.tree, s.node, s.feature, s.threshold, s.missing_left]
            for s in model.host_models_[host].splits
        ]
        assert "trees" not in saved  # a feature party never holds the tree shapes or leaves
    # each party's file reads back (versioned, strict JSON) and the three score alike again
    files = [read_party_model(tmp_path / f"{name}.json", name) for name in [LABEL_PARTY, *HOSTS]]
    again = HeteroSecureBoost.from_party_models(files, seed=SEED)
    rescored = again.predict_raw({n: d.score_table for n, d in data.items()})  # type: ignore[misc]
    np.testing.assert_array_equal(rescored[1], scores)

    # next month: a scoring-only deployed run, each party with the model file it kept and
    # no training table, scores the new rows as the training run did
    coordinator = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--parties", ",".join([LABEL_PARTY, *HOSTS]),
        "--label-party", LABEL_PARTY,
        "--algorithm", "secureboost",
        *flags,
        "--no-train",
        "--join-timeout", "120",
    )  # fmt: skip
    port, early = wait_for_port(coordinator)
    scorers = {}
    for name in [LABEL_PARTY, *HOSTS]:
        label = ["--label", "y"] if name == LABEL_PARTY else []
        scorers[name] = cli.start(
            "party",
            "--coordinator", f"127.0.0.1:{port}",
            "--name", name,
            *label,
            "--load-model", str(tmp_path / f"{name}.json"),
            "--score-csv", str(tables[name]["score"]),
            "--predictions", str(tmp_path / "next.csv"),
            "--certs", str(certs),
        )  # fmt: skip
    said = {name: finish(proc) for name, proc in scorers.items()}
    finish(coordinator, early)
    with (tmp_path / "next.csv").open(newline="") as handle:
        again_rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in again_rows], ids)
    np.testing.assert_array_equal([float(r["score"]) for r in again_rows], scores)
    assert f"scored with its model from {tmp_path / 'card.json'}" in said[LABEL_PARTY]
    # the new rows' known labels evaluate the kept model as the training run evaluated it
    auc = re.search(r"AUC \d\.\d{4}", outputs[LABEL_PARTY])
    assert auc is not None and auc.group(0) in said[LABEL_PARTY]
    assert "AUC" in outputs[LABEL_PARTY]
    assert f"trained {SETTINGS['n_trees']} trees on {len(model.train_ids_)} common rows" in summary
    # the coordinator recorded each tree as an epoch of the run, as it was grown (before,
    # a deployed SecureBoost run's record held none: the dashboard showed no progress)
    with RunStore(tmp_path / "runs.db", read_only=True) as reader:
        (run,) = reader.list_runs()
        kept = reader.rounds(run.run_id)
        assert [r.round for r in kept] == list(range(1, SETTINGS["n_trees"] + 1))
        assert all(r.num_clients == 3 for r in kept)


JOB = """
[job]
kind = "vfl"
name = "sbt-job"
seed = 7

[vfl]
algorithm = "secureboost"
label_party = "card"
label = "y"
key_bits = 512
n_trees = 2
max_depth = 2

[vfl.parties]
card = "{card}"
bank = "{bank}"
telecom = "{telecom}"
"""


@pytest.mark.timeout(420)
def test_a_secureboost_job_file_deployed_equals_rengo_run_of_it(
    tables: dict[str, dict[str, Path]], certs: Path, cli: Processes, tmp_path: Path
) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(**{n: tables[n]["train"] for n in [LABEL_PARTY, *HOSTS]}))
    simulated = build_vertical_job(load_job(job))
    result = run_vertical_job(simulated, log=lambda _: None)
    card = simulated.model.predict_run_.parties[LABEL_PARTY]

    coordinator = cli.start(
        "coordinator", "--job", str(job), "--listen", "127.0.0.1:0", "--certs", str(certs)
    )
    port, early = wait_for_port(coordinator)
    parties = {}
    for name in [LABEL_PARTY, *HOSTS]:
        parties[name] = cli.start(
            "party",
            "--coordinator", f"127.0.0.1:{port}",
            "--name", name,
            "--job", str(job),
            "--predictions", str(tmp_path / "scores.csv"),
            "--certs", str(certs),
        )  # fmt: skip
    outputs = {name: finish(proc) for name, proc in parties.items()}
    summary = finish(coordinator, early)
    with (tmp_path / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in rows], card.score_ids)
    np.testing.assert_array_equal([float(r["score"]) for r in rows], card.scores)
    assert f"AUC {result['auc']:.4f}" in outputs[LABEL_PARTY]
    assert f"trained 2 trees on {result['common_customers']} common rows" in summary

"""Deployed hetero LR, linear and Poisson regression keep their models: each party's
``rengo vfl party --model FILE`` is strict, versioned JSON, and next month a scoring-only
run (``rengo vfl coordinator --no-train``, ``rengo vfl party --load-model FILE --score-csv
NEW.csv``), with no training table and another PSI order, scores the new rows bit for bit
as the training run did and, with ``--label``, prints the same held-out metrics; files of
two training runs mixed are refused before any row is scored."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_processes import Processes
from vertical_cli import run_processes

from rengo.transport.certs import init_certificates

LABEL_PARTY = "bank"
HOSTS = ["telecom", "shop"]
COLUMNS = {"bank": range(0, 3), "telecom": range(3, 6), "shop": range(6, 8)}
TASKS = {"hetero_lr": "classification", "hetero_linear": "regression"}
TASKS["hetero_poisson"] = "regression"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("linear-certs")
    init_certificates(directory, [LABEL_PARTY, *HOSTS])
    return directory


def _write(path: Path, ids: np.ndarray, x: np.ndarray, y: np.ndarray | None) -> None:
    header = ["id", *(f"{path.stem}{j}" for j in range(x.shape[1]))]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header if y is None else [*header, "y"])
        for k, row in enumerate(x):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in row]
            writer.writerow([ids[k], *cells, *([repr(y[k].item())] if y is not None else [])])


def _tables(folder: Path, algorithm: str) -> dict[str, dict[str, Path]]:
    """Eight columns over three parties, 5% empty cells, each party missing other
    customers and listing them in its own order; 60 of 300 customers are next month's."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 8))
    u = x @ np.array([0.8, -0.5, 0.3, 0.6, -0.4, 0.2, 0.5, -0.3])
    y: np.ndarray = {
        "hetero_lr": (u + rng.logistic(size=300) > 0).astype(np.int64),
        "hetero_linear": u + rng.normal(0, 0.3, 300),
        "hetero_poisson": rng.poisson(np.exp(u / 3)).astype(np.int64),
    }[algorithm]
    x[rng.random(x.shape) < 0.05] = np.nan
    ids = np.array([f"cust-{i:03d}" for i in range(300)])
    paths: dict[str, dict[str, Path]] = {}
    for name, cols in COLUMNS.items():
        keep = rng.random(300) > 0.05
        paths[name] = {}
        for part, rows in (
            ("train", keep & (np.arange(300) < 240)),
            ("next", keep & (np.arange(300) >= 240)),
        ):
            order = rng.permutation(np.flatnonzero(rows))
            path = folder / part / f"{name}.csv"
            path.parent.mkdir(exist_ok=True)
            _write(
                path, ids[order], x[order][:, list(cols)], y[order] if name == LABEL_PARTY else None
            )
            paths[name][part] = path
    return paths


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


def _run(
    cli: Processes, certs: Path, algorithm: str, coordinator_flags: list[str],
    party_flags: dict[str, list[str]], refused: bool = False,
) -> tuple[str, dict[str, str]]:  # fmt: skip
    """Every process's output once each ended (``refused``: each with an error)."""
    return run_processes(
        cli, certs,
        [
            "--parties", ",".join([LABEL_PARTY, *HOSTS]), "--label-party", LABEL_PARTY,
            "--algorithm", algorithm, "--key-bits", "512", "--missing", "mean",
            *coordinator_flags,
        ],
        party_flags, refused,
    )  # fmt: skip


def _scores(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as handle:
        return [(row[0], row[1]) for row in list(csv.reader(handle))[1:]]


def _metrics(output: str) -> str:
    found = re.search(r"scored \d+ rows -> \S+; (.*)", output)
    assert found is not None, output
    return found.group(1)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("algorithm", sorted(TASKS))
def test_a_deployed_linear_model_kept_in_its_files_scores_next_month_bit_for_bit(
    algorithm: str, certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """Before, a linear party's --model file named no format or version and --load-model
    refused it ('not a SecureBoost party model'): scoring new customers meant training
    again."""
    tables = _tables(tmp_path, algorithm)
    label = ["--label", "y", "--task", TASKS[algorithm]]
    _, said = _run(
        cli, certs, algorithm, ["--epochs", "2", "--seed", "3"],
        {
            name: [
                "--csv", str(tables[name]["train"]), "--score-csv", str(tables[name]["next"]),
                "--model", str(tmp_path / f"{name}.json"),
                "--predictions", str(tmp_path / "scores.csv"),
                *(label if name == LABEL_PARTY else []),
            ]
            for name in [LABEL_PARTY, *HOSTS]
        },
    )  # fmt: skip
    kept = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in [LABEL_PARTY, *HOSTS]}
    assert {d["format"] for d in kept.values()} == {"rengo-linear-party-model"}
    assert all("intercept" not in kept[host] for host in HOSTS)
    # the label party's classes, null for a regression label (as files always named them)
    assert kept[LABEL_PARTY]["classes"] == (
        None if TASKS[algorithm] == "regression" else ["0", "1"]
    )
    assert all("classes" not in kept[host] for host in HOSTS)

    # next month: no training table, another PSI order (no seed), the kept files
    summary, again = _run(
        cli, certs, algorithm, ["--no-train"],
        {
            name: [
                "--load-model", str(tmp_path / f"{name}.json"),
                "--score-csv", str(tables[name]["next"]),
                "--predictions", str(tmp_path / "next.csv"),
                *(["--label", "y"] if name == LABEL_PARTY else []),
            ]
            for name in [LABEL_PARTY, *HOSTS]
        },
    )  # fmt: skip
    first = _scores(tmp_path / "scores.csv")
    assert len(first) > 40 and _scores(tmp_path / "next.csv") == first
    assert _metrics(again[LABEL_PARTY]) == _metrics(said[LABEL_PARTY])
    assert f"scored with its model from {tmp_path / 'telecom.json'}" in again["telecom"]
    # the coordinator said 'trained on 0 common rows; scored N rows' of a run that trained not
    assert f"scored {len(first)} rows with the models the parties kept" in summary
    assert "trained" not in summary


def _train(
    cli: Processes, certs: Path, tables: dict[str, dict[str, Path]], folder: Path, seed: str
) -> dict[str, str]:
    """One deployed hetero LR training run keeping every party's model in ``folder``; what
    each party said."""
    folder.mkdir()
    _, said = _run(
        cli, certs, "hetero_lr", ["--epochs", "1", "--seed", seed, "--no-score"],
        {
            name: [
                "--csv", str(tables[name]["train"]), "--model", str(folder / f"{name}.json"),
                *(["--label", "y"] if name == LABEL_PARTY else []),
            ]
            for name in [LABEL_PARTY, *HOSTS]
        },
    )  # fmt: skip
    return said


@pytest.mark.timeout(240)
def test_kept_models_of_two_training_runs_mixed_are_refused_naming_the_files_before_scoring(
    certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """Before, last month's bank and shop files scored beside this month's telecom file
    without a word: 51 rows written, each score off (0.10492 for 0.10449 of the bank and
    shop run), as the files named no training run."""
    tables = _tables(tmp_path, "hetero_lr")
    trained = _train(cli, certs, tables, tmp_path / "last", "3")
    _train(cli, certs, tables, tmp_path / "this", "4")
    kept = {"bank": "last", "telecom": "this", "shop": "last"}
    summary, said = _run(
        cli, certs, "hetero_lr", ["--no-train"],
        {
            name: [
                "--load-model", str(tmp_path / kept[name] / f"{name}.json"),
                "--score-csv", str(tables[name]["next"]),
                "--predictions", str(tmp_path / "next.csv"),
                *(["--label", "y"] if name == LABEL_PARTY else []),
            ]
            for name in [LABEL_PARTY, *HOSTS]
        },
        refused=True,
    )  # fmt: skip
    assert not (tmp_path / "next.csv").exists()  # no row scored
    # every party's file of one training run names its token, another run's another
    runs = {
        folder: {json.loads((tmp_path / folder / f"{n}.json").read_text())["training_run"]
                 for n in [LABEL_PARTY, *HOSTS]}
        for folder in ("last", "this")
    }  # fmt: skip
    assert all(len(tokens) == 1 for tokens in runs.values()) and runs["last"] != runs["this"]
    last, this = (next(iter(runs[f]))[:8] for f in ("last", "this"))
    # each party says which training run its kept file is of
    assert (
        f"telecom: model -> {tmp_path / 'last' / 'telecom.json'} (training run {last})"
        in (trained["telecom"])
    )
    telecom_file = str(tmp_path / "this" / "telecom.json")
    assert f"{telecom_file}: telecom's model is from training run {this}" in said["telecom"]
    assert f"bank (run {last}), shop (run {last})" in said["telecom"]
    for name in ("bank", "shop"):
        assert f"{tmp_path / 'last' / name}.json: {name}'s model is from training run" in said[name]
        assert f"telecom (run {this})" in said[name]
    assert f"different training runs (bank, shop: run {last}; telecom: run {this})" in summary

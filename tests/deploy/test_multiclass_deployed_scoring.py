"""A deployed one-vs-rest hetero LR (``--multi-class ovr``, the label party's ``--task
multiclass``: churn reasons of three classes) keeps each party's K class models in its
``--model`` file; next month a scoring-only run (``--no-train``, ``--load-model FILE
--score-csv NEW.csv``) writes one probability column per class, named by the class, the
same as the training run did."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_processes import Processes
from vertical_cli import run_processes

from rengo.transport.certs import init_certificates

LABEL_PARTY, HOST = "telecom", "bank"
REASONS = ["stayed", "price", "coverage"]


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


def _tables(folder: Path) -> dict[str, dict[str, Path]]:
    rng = np.random.default_rng(7)
    n = 260
    x = rng.normal(size=(n, 4))
    reason = (
        x @ np.array([[2, 0, -1], [0, 2, -1], [1, 0, 0], [0, -1, 1]]) + rng.gumbel(size=(n, 3))
    ).argmax(1)
    ids = np.array([f"sub-{i:03d}" for i in range(n)])
    columns = {LABEL_PARTY: [0, 1], HOST: [2, 3]}
    paths: dict[str, dict[str, Path]] = {}
    for name, cols in columns.items():
        paths[name] = {}
        for part, rows in (("train", np.arange(n) < 200), ("next", np.arange(n) >= 200)):
            path = folder / part / f"{name}.csv"
            path.parent.mkdir(exist_ok=True)
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                label = ["reason"] if name == LABEL_PARTY else []
                writer.writerow(["id", *(f"{name}{j}" for j in cols), *label])
                for i in rng.permutation(np.flatnonzero(rows)):
                    cells = [repr(float(v)) for v in x[i, cols]]
                    writer.writerow([ids[i], *cells, *([REASONS[reason[i]]] if label else [])])
            paths[name][part] = path
    return paths


def _run(
    cli: Processes,
    certs: Path,
    flags: list[str],
    party_flags: dict[str, list[str]],
    refused: bool = False,
) -> tuple[str, dict[str, str]]:
    return run_processes(
        cli, certs,
        ["--parties", f"{LABEL_PARTY},{HOST}", "--label-party", LABEL_PARTY,
         "--algorithm", "hetero_lr", "--key-bits", "512", *flags],
        party_flags, refused,
    )  # fmt: skip


def _read(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, {row[0]: row[1:] for row in rows}


@pytest.mark.timeout(240)
def test_kept_one_vs_rest_models_score_next_month_with_a_column_per_class(
    tmp_path: Path, cli: Processes
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, [LABEL_PARTY, HOST])
    tables = _tables(tmp_path)
    _, said = _run(
        cli, certs, ["--epochs", "3", "--seed", "3", "--multi-class", "ovr"],
        {
            name: [
                "--csv", str(tables[name]["train"]), "--score-csv", str(tables[name]["next"]),
                "--model", str(tmp_path / f"{name}.json"),
                "--predictions", str(tmp_path / "scores.csv"),
                *(["--label", "reason", "--task", "multiclass"] if name == LABEL_PARTY else []),
            ]
            for name in (LABEL_PARTY, HOST)
        },
    )  # fmt: skip
    kept = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in (LABEL_PARTY, HOST)}
    assert kept[LABEL_PARTY]["class_models"] == kept[HOST]["class_models"] == 3
    assert len(kept[LABEL_PARTY]["intercepts"]) == 3 and "intercepts" not in kept[HOST]
    assert "MACRO_AUC_OVR" in said[LABEL_PARTY], said[LABEL_PARTY]
    _run(
        cli, certs, ["--no-train", "--multi-class", "ovr"],
        {
            name: [
                "--load-model", str(tmp_path / f"{name}.json"),
                "--score-csv", str(tables[name]["next"]),
                "--predictions", str(tmp_path / "next.csv"),
            ]
            for name in (LABEL_PARTY, HOST)
        },
    )  # fmt: skip
    header, first = _read(tmp_path / "scores.csv")
    again_header, again = _read(tmp_path / "next.csv")
    classes = sorted(REASONS)  # the label's classes, in the order the model numbers them
    assert header == again_header == ["id", *(f"p_{name}" for name in classes)]
    assert len(first) > 40 and again == first
    sums = [sum(float(v) for v in row) for row in first.values()]
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)


@pytest.mark.timeout(240)
def test_a_binary_plan_refuses_a_label_of_three_classes_naming_the_option(
    tmp_path: Path, cli: Processes
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, [LABEL_PARTY, HOST])
    tables = _tables(tmp_path)
    _, said = _run(
        cli, certs, ["--epochs", "1", "--no-score"],
        {
            name: [
                "--csv", str(tables[name]["train"]),
                *(["--label", "reason", "--task", "multiclass"] if name == LABEL_PARTY else []),
            ]
            for name in (LABEL_PARTY, HOST)
        },
        refused=True,
    )  # fmt: skip
    refusal = " ".join(said[LABEL_PARTY].split())
    assert "holds 3 classes" in refusal and "--multi-class ovr" in refusal, refusal

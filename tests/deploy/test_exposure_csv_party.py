"""A deployed label party without a job file (``rengo vfl party --csv``) names its exposure
column with ``--exposure``: it had no way to, so a hetero Poisson run from CSV flags either
trained without the offset or, with the column in the table, trained on it as a feature."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_processes import Processes
from typer.testing import CliRunner
from vertical_cli import run_processes

from rengo.cli.main import app
from rengo.core.errors import ConfigError, DataError
from rengo.deploy.vertical_data import load_party_data, load_scoring_data
from rengo.transport.certs import init_certificates

ROWS = 240


def _tables(folder: Path) -> dict[str, Path]:
    """The insurer's policies (id, age, region, years, claims) and a telematics firm's
    columns, each split into training rows and next month's rows to score."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 4))
    years = 1.0 - rng.uniform(0.0, 0.9, ROWS)
    claims = rng.poisson(years * np.exp(x @ [0.3, -0.2, 0.25, 0.1] - 0.5))
    paths = {}
    for part, rows in (("train", range(200)), ("next", range(200, ROWS))):
        insurer = folder / f"insurer_{part}.csv"
        insurer.write_text(
            "id,age,region,years,claims\n"
            + "".join(
                f"p{i},{x[i, 0]:.6f},{x[i, 1]:.6f},{years[i]:.6f},{claims[i]}\n" for i in rows
            )
        )
        telematics = folder / f"telematics_{part}.csv"
        telematics.write_text(
            "id,speed,night\n" + "".join(f"p{i},{x[i, 2]:.6f},{x[i, 3]:.6f}\n" for i in rows)
        )
        paths[f"insurer_{part}"], paths[f"telematics_{part}"] = insurer, telematics
    return paths


def test_the_exposure_column_is_read_beside_the_labels_and_never_a_feature(
    tmp_path: Path,
) -> None:
    paths = _tables(tmp_path)
    for later in (False, True):
        data = load_party_data(
            paths["insurer_train"],
            "id",
            label="claims",
            task="regression",
            score_csv=paths["insurer_next"],
            exposure="years",
            shared_rows_later=later,
        )
        assert data.feature_names == ("age", "region")
        assert data.exposure is not None and data.score_exposure is not None
        with paths["insurer_train"].open() as handle:
            years = {row["id"]: float(row["years"]) for row in csv.DictReader(handle)}
        np.testing.assert_array_equal(data.exposure, [years[i] for i in data.table.ids])
        assert data.score_table is not None and len(data.score_exposure) == 40


def test_a_scoring_table_without_the_exposure_column_scores_rates_unweighted(
    tmp_path: Path,
) -> None:
    paths = _tables(tmp_path)
    lines = paths["insurer_next"].read_text().splitlines()
    paths["insurer_next"].write_text(
        "\n".join(",".join(line.split(",")[:3]) for line in lines) + "\n"
    )
    data = load_party_data(
        paths["insurer_train"],
        "id",
        label="claims",
        task="regression",
        score_csv=paths["insurer_next"],
        exposure="years",
    )
    assert data.score_exposure is None and data.exposure is not None


def test_a_bad_exposure_cell_is_refused_naming_the_file_line_row_and_column(
    tmp_path: Path,
) -> None:
    paths = _tables(tmp_path)
    lines = paths["insurer_train"].read_text().splitlines()
    cells = lines[5].split(",")
    cells[3] = "0"
    lines[5] = ",".join(cells)
    paths["insurer_train"].write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"exposure 'years' .* row 4 \(counting from 0; .*:6\) is 0.0"
    ):
        load_party_data(
            paths["insurer_train"], "id", label="claims", task="regression", exposure="years"
        )


def test_an_exposure_without_a_label_in_the_features_or_missing_is_refused(
    tmp_path: Path,
) -> None:
    paths = _tables(tmp_path)
    table = paths["insurer_train"]
    with pytest.raises(ConfigError, match=r"--exposure 'years' is the label party's"):
        load_party_data(table, "id", exposure="years")
    with pytest.raises(ConfigError, match=r"--features names the exposure column 'years'"):
        load_party_data(
            table, "id", label="claims", task="regression", features=["age", "years"],
            exposure="years",
        )  # fmt: skip
    with pytest.raises(DataError, match=r"no exposure column 'exposure'"):
        load_party_data(table, "id", label="claims", task="regression", exposure="exposure")
    with pytest.raises(ConfigError, match=r"--exposure 'claims' is also the label"):
        load_party_data(table, "id", label="claims", task="regression", exposure="claims")


def test_exposure_with_a_job_file_is_refused_naming_the_jobs_key(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text("[job]\nkind = 'vfl'\n")
    result = CliRunner().invoke(
        app,
        ["vfl", "party", "--coordinator", "127.0.0.1:1", "--name", "insurer", "--job",
         str(job), "--exposure", "years", "--insecure"],
    )  # fmt: skip
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert "--exposure 'years' is read with --csv" in said and "[vfl] exposure" in said


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


@pytest.mark.timeout(240)
def test_a_csv_label_party_trains_with_its_exposure_and_writes_rates(
    cli: Processes, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, ["insurer", "telematics"])
    paths = _tables(tmp_path)
    scores = tmp_path / "scores.csv"
    _, said = run_processes(
        cli,
        certs,
        ["--parties", "insurer,telematics", "--label-party", "insurer",
         "--algorithm", "hetero_poisson", "--key-bits", "512", "--epochs", "3", "--seed", "0",
         "--store", str(tmp_path / "deployed.db")],
        {
            "insurer": ["--csv", str(paths["insurer_train"]), "--score-csv",
                        str(paths["insurer_next"]), "--label", "claims", "--task",
                        "regression", "--exposure", "years", "--predictions", str(scores),
                        "--model", str(tmp_path / "insurer.json")],
            "telematics": ["--csv", str(paths["telematics_train"]), "--score-csv",
                           str(paths["telematics_next"]), "--model",
                           str(tmp_path / "telematics.json")],
        },
    )  # fmt: skip
    with scores.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "rate_per_years"]
    assert len(rows) == 41 and all(float(rate) > 0 for _, rate in rows[1:])
    flat = " ".join(said["insurer"].split())
    assert "(rates per unit of 'years': multiply by a row's 'years' for its expected count)" in flat
    assert "POISSON_DEVIANCE" in flat  # next month's claims evaluated against years * rate
    kept = json.loads((tmp_path / "insurer.json").read_text())
    assert kept["features"] == ["age", "region"]  # the exposure is no feature
    assert kept["exposure"] == "years"  # what a scorer with only this file needs to know

    # next month, from the kept files: the scores are still rates per unit of years (the
    # file named no exposure, and they were written as 'prediction', a row's count), and
    # with --label the held-out evaluation reads the score file's 'years' as training's did
    # (it compared counts with rates, as if every exposure were 1: deviance 1.2346, not 1.5947)
    _, again = run_processes(
        cli,
        certs,
        ["--parties", "insurer,telematics", "--label-party", "insurer",
         "--algorithm", "hetero_poisson", "--key-bits", "512", "--no-train"],
        {
            "insurer": ["--load-model", str(tmp_path / "insurer.json"), "--score-csv",
                        str(paths["insurer_next"]), "--label", "claims", "--predictions",
                        str(tmp_path / "next.csv")],
            "telematics": ["--load-model", str(tmp_path / "telematics.json"), "--score-csv",
                           str(paths["telematics_next"])],
        },
    )  # fmt: skip
    with (tmp_path / "next.csv").open(newline="") as handle:
        again_rows = list(csv.reader(handle))
    assert again_rows[0] == ["id", "rate_per_years"]
    assert sorted(again_rows[1:]) == sorted(rows[1:])
    assert "rates per unit of 'years'" in " ".join(again["insurer"].split())
    assert _held_out_metrics(again["insurer"]) == _held_out_metrics(said["insurer"])


def _held_out_metrics(said: str) -> str:
    """The held-out metrics a label party's scoring line prints (``POISSON_DEVIANCE ...``)."""
    found = re.search(
        r"POISSON_DEVIANCE \S+, D2_POISSON \S+, GINI \S+, RMSE \S+, MAE [0-9.e+-]+",
        " ".join(said.split()),
    )
    assert found is not None, said
    return found.group(0)


def test_a_kept_models_scoring_rows_are_evaluated_over_their_exposure(tmp_path: Path) -> None:
    """``--load-model`` scoring reads the exposure column its model file names from the rows
    it evaluates (it never read it: counts were compared with rates); rows with labels but
    without the column are refused, rows without labels need none (their scores are rates)."""
    paths = _tables(tmp_path)
    for later in (False, True):
        data = load_scoring_data(
            paths["insurer_next"],
            "id",
            ["age", "region"],
            label="claims",
            exposure="years",
            shared_rows_later=later,
        )
        with paths["insurer_next"].open() as handle:
            years = {row["id"]: float(row["years"]) for row in csv.DictReader(handle)}
        assert data.score_table is not None and data.score_exposure is not None
        np.testing.assert_array_equal(data.score_exposure, [years[i] for i in data.score_table.ids])
    lines = paths["insurer_next"].read_text().splitlines()
    without_years = tmp_path / "without_years.csv"
    without_years.write_text(
        "\n".join(",".join(c for k, c in enumerate(line.split(",")) if k != 3) for line in lines)
    )
    with pytest.raises(
        DataError, match=r"without_years.csv: has the label column 'claims' but no exposure "
        r"column 'years'"
    ):  # fmt: skip
        load_scoring_data(without_years, "id", ["age", "region"], label="claims", exposure="years")
    unlabelled = load_scoring_data(without_years, "id", ["age", "region"], exposure="years")
    assert unlabelled.score_exposure is None and unlabelled.score_labels is None


def test_a_labelled_scoring_table_without_the_exposure_column_is_refused(
    tmp_path: Path,
) -> None:
    paths = _tables(tmp_path)
    lines = paths["insurer_next"].read_text().splitlines()
    paths["insurer_next"].write_text(
        "\n".join(",".join(c for k, c in enumerate(line.split(",")) if k != 3) for line in lines)
    )
    with pytest.raises(DataError, match=r"has the label column 'claims' but no exposure column"):
        load_party_data(
            paths["insurer_train"],
            "id",
            label="claims",
            task="regression",
            score_csv=paths["insurer_next"],
            exposure="years",
        )

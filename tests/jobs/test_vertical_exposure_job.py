"""``[vfl] exposure = "column"``: the label party's exposure column in a hetero Poisson job
is read beside its labels (not as a feature), trains the offset model scikit-learn's
``PoissonRegressor`` fits on ``y / e`` weighted by ``e``, and gives the held-out metrics
of frequencies weighted by exposure; bad exposure settings and values are refused naming
the key, party, column and row."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib
from sklearn.linear_model import PoissonRegressor
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError, DataError
from rengo.jobs import build_vertical_job, load_job, parse_job, run_vertical_job
from rengo.metrics import d2_poisson_score, gini_coefficient, poisson_deviance
from rengo.tracking import RunStore

ROWS = 300
JOB = """
[job]
kind = "vfl"
seed = 0
[vfl]
algorithm = "{algorithm}"
label_party = "insurer"
label = "claims"
exposure = "{exposure}"
test_size = 0.2
key_bits = 512
epochs = 300
batch_size = 1000
tol = 1e-10
[vfl.parties]
insurer = "{folder}/insurer.csv"
telematics = "{folder}/telematics.csv"
"""


def _tables(folder: Path, bad_row: int | None = None, bad_cell: str = "0.0") -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 4))
    years = 1.0 - rng.uniform(0.0, 0.9, ROWS)
    claims = rng.poisson(years * np.exp(x @ [0.3, -0.2, 0.25, 0.1] - 0.5))
    cells = [f"{value:.6f}" for value in years]
    if bad_row is not None:
        cells[bad_row] = bad_cell
    with (folder / "insurer.csv").open("w") as handle:
        handle.write("id,age,region,years,claims\n")
        for i in range(ROWS):
            handle.write(f"p{i},{x[i, 0]:.6f},{x[i, 1]:.6f},{cells[i]},{claims[i]}\n")
    with (folder / "telematics.csv").open("w") as handle:
        handle.write("id,speed,night\n")
        for i in range(ROWS):
            handle.write(f"p{i},{x[i, 2]:.6f},{x[i, 3]:.6f}\n")


def _job(folder: Path, algorithm: str = "hetero_poisson", exposure: str = "years") -> Path:
    path = folder / "job.toml"
    path.write_text(JOB.format(algorithm=algorithm, exposure=exposure, folder=folder))
    return path


def test_the_exposure_column_trains_the_offset_model_and_weighs_the_metrics(
    tmp_path: Path,
) -> None:
    _tables(tmp_path)
    # every table read whole, so that the test can fit scikit-learn on the same columns
    job = build_vertical_job(load_job(_job(tmp_path)), shared_rows_later=False)
    insurer = job.train.parties["insurer"]
    assert job.train.feature_names["insurer"] == ("age", "region")  # not a feature
    assert insurer.features.shape[1] == 2 and job.train.exposure is not None
    result = run_vertical_job(job, log=lambda _m: None)
    # the same model as scikit-learn's on the training rows (both tables share row order)
    x = np.hstack([insurer.features, job.train.parties["telematics"].features])
    labels, years = np.asarray(job.train.labels, dtype=float), job.train.exposure
    best = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=10_000).fit(
        x, labels / years, sample_weight=years
    )
    weights = job.model.coefficients()
    ours = np.concatenate([weights["insurer"], weights["telematics"]])
    np.testing.assert_allclose(ours, best.coef_, atol=1e-4)
    # the held-out metrics: frequencies weighted by exposure, the Gini ranked by rate
    assert job.test_exposure is not None
    test_x = np.hstack(
        [job.test.parties["insurer"].features, job.test.parties["telematics"].features]
    )
    rate = np.exp(test_x @ ours + job.model.guest_model_.intercept)
    truth, exposure = np.asarray(job.test_labels, dtype=float), job.test_exposure
    assert result["poisson_deviance"] == pytest.approx(
        poisson_deviance(truth / exposure, rate, sample_weight=exposure), rel=1e-6
    )
    assert result["d2_poisson"] == pytest.approx(
        d2_poisson_score(truth / exposure, rate, sample_weight=exposure), rel=1e-6
    )
    assert result["gini"] == pytest.approx(
        gini_coefficient(truth / exposure, rate, sample_weight=exposure), rel=1e-6
    )


def test_a_non_positive_exposure_is_refused_naming_party_column_and_row(tmp_path: Path) -> None:
    _tables(tmp_path, bad_row=12)
    with pytest.raises(DataError, match=r"insurer: exposure 'years' .*row 12 .* is 0\.0"):
        build_vertical_job(load_job(_job(tmp_path)))


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("", "empty"), ("abc", "'abc'"), ("nan", "nan"), ("inf", "inf"), ("-0.5", "-0.5")],
)
def test_a_bad_exposure_cell_is_refused_naming_the_exposure_column_not_the_label(
    tmp_path: Path, cell: str, shown: str
) -> None:
    """The column was read as the label: '' said 'label is missing', 'abc' 'regression
    label 'abc' is not a number', an actuary sent to the claims column."""
    _tables(tmp_path, bad_row=12, bad_cell=cell)
    with pytest.raises(DataError) as refused:
        build_vertical_job(load_job(_job(tmp_path)))
    message = str(refused.value)
    assert message.startswith("insurer: exposure 'years' must be a positive finite number")
    assert f"row 12 (counting from 0; {tmp_path / 'insurer.csv'}:14) is {shown}" in message
    assert "label" not in message


def test_the_label_partys_table_and_exposure_are_read_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exposure column was read by a second pass over the label party's file, after
    the pass that read its features and labels."""
    import rengo.data.csv_table as csv_table

    _tables(tmp_path)
    real, passes = csv_table._load, []

    def counted(path: Path, *args: Any, **kwargs: Any) -> Any:
        passes.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(csv_table, "_load", counted)
    job = build_vertical_job(load_job(_job(tmp_path)))
    assert passes.count("insurer.csv") == 1
    assert job.train.exposure is not None and job.test_exposure is not None
    rows = len(job.train.exposure) + len(job.test_exposure)
    assert rows == ROWS and np.all(job.train.exposure > 0.09)


def test_an_exposure_under_the_floor_is_refused_naming_its_line_in_the_file(
    tmp_path: Path,
) -> None:
    _tables(tmp_path, bad_row=12, bad_cell="1e-300")
    with pytest.raises(DataError) as refused:
        build_vertical_job(load_job(_job(tmp_path)))
    assert (
        f"insurer: exposure 'years' row 12 (counting from 0; {tmp_path / 'insurer.csv'}:14) "
        "is 1e-300, under 1e-09 of the mean"
    ) in str(refused.value)


def test_a_missing_exposure_column_is_refused_naming_it(tmp_path: Path) -> None:
    _tables(tmp_path)
    with pytest.raises(DataError, match=r"vfl.exposure = 'tenure', but .*insurer.csv has no"):
        build_vertical_job(load_job(_job(tmp_path, exposure="tenure")))


def test_an_exposure_with_a_model_that_takes_none_is_refused(tmp_path: Path) -> None:
    _tables(tmp_path)
    raw = tomllib.loads(_job(tmp_path, algorithm="hetero_linear").read_text())
    with pytest.raises(ConfigError, match=r"vfl.exposure = 'years' .* hetero_linear takes none"):
        parse_job(raw, source="job.toml")


def test_the_frequency_example_job_reads_years_as_exposure_and_runs(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "vertical_regression"
    text = (example / "frequency.toml").read_text().replace("key_bits = 1024", "key_bits = 512")
    path = tmp_path / "frequency.toml"
    path.write_text(text.replace('"data/', f'"{example}/data/'))
    job = build_vertical_job(load_job(path))
    assert job.train.feature_names["insurer"] == ("age", "vehicle_age")
    assert job.train.exposure is not None and job.test_exposure is not None
    result = run_vertical_job(job, log=lambda _m: None)
    assert 0 < result["d2_poisson"] < 1 and 0 < result["gini"] < 1


def test_a_valued_exposure_job_scores_every_coalition_as_the_run_is(tmp_path: Path) -> None:
    """``[contribution]`` of an exposure job: the grand coalition is the run's own model
    (trained with the offset) scored as the run's held-out RMSE is, counts against
    ``e * rate`` (it retrained without the exposure and scored rates against counts)."""
    _tables(tmp_path)
    job = _job(tmp_path)
    job.write_text(job.read_text() + '[contribution]\nmethod = "shapley"\nmetric = "neg_rmse"\n')
    store = tmp_path / "runs.db"
    result = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["run", str(job), "--store", str(store), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    printed = re.search(r"every party: (-?[0-9.]+)", " ".join(result.output.split()))
    assert printed is not None, result.output
    with RunStore(store) as runs:
        run_id = runs.list_runs()[0].run_id
        summary = runs.get_run(run_id).summary
        assert summary is not None
        recorded = summary["rmse"]
    assert float(printed.group(1)) == pytest.approx(-recorded, abs=1e-4)


def test_the_exported_model_says_its_score_is_a_rate_per_unit_of_exposure(tmp_path: Path) -> None:
    """`rengo runs export` printed the generic 'the inverse link (sigmoid for logistic
    regression)' line: nothing said the score is a rate per year, not a policy's count."""
    _tables(tmp_path)
    store = tmp_path / "runs.db"
    cli = CliRunner(env={"COLUMNS": "250"})
    ran = cli.invoke(app, ["run", str(_job(tmp_path)), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as runs:
        run_id = runs.list_runs()[0].run_id
    exported = cli.invoke(
        app, ["runs", "export", run_id, "--store", str(store), "--out", str(tmp_path / "out")]
    )
    assert exported.exit_code == 0, exported.output
    said = " ".join(exported.output.split())
    assert "a row's score is exp of the sum of each party's" in said
    assert "the rate per unit of 'years'" in said
    assert "multiply by a row's 'years' for its expected count" in said
    # the label party's file names its exposure column: a scorer holding only that file
    # knows what to multiply by (it named none)
    assert "the label party's npz names it: 'exposure'" in said
    with np.load(tmp_path / "out" / "insurer.npz", allow_pickle=False) as insurer:
        assert str(insurer["exposure"]) == "years"
    with np.load(tmp_path / "out" / "telematics.npz", allow_pickle=False) as telematics:
        assert "exposure" not in telematics.files


def test_an_exposure_with_a_thousands_point_in_a_decimal_comma_table_is_refused(
    tmp_path: Path,
) -> None:
    """``1.500`` (1,500 days) in a table read with ``decimal = ","`` was read as 1.5."""
    _tables(tmp_path, bad_row=12, bad_cell="1.500")
    for name in ("insurer", "telematics"):
        path = tmp_path / f"{name}.csv"
        lines = path.read_text().splitlines()
        rows = [line.split(",") for line in lines]
        fixed = [";".join(c if c == "1.500" else c.replace(".", ",") for c in r) for r in rows]
        path.write_text("\n".join(fixed) + "\n")
    job = _job(tmp_path)
    job.write_text(
        job.read_text().replace(
            'exposure = "years"', 'exposure = "years"\ndelimiter = ";"\ndecimal = ","'
        )
    )
    with pytest.raises(DataError, match=r"insurer: exposure row 12 .*'1.500', which holds a '.'"):
        build_vertical_job(load_job(job))

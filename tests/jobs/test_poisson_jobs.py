"""Horizontal claim-frequency jobs (``model.type = "poisson"``, ``[data] exposure``): several
insurers with the same rating factors pool a Poisson GLM without sharing policies. The job
reaches scikit-learn's ``PoissonRegressor`` on the pooled frequencies, keeps each row's
exposure with it through every partitioner, records the actuary's held-out metrics with the
right direction, and refuses bad counts, bad exposures and misplaced keys by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError, DataError
from rengo.jobs import load_job
from rengo.jobs.build import build_federation, build_hfl_job
from rengo.metrics import better_direction
from rengo.tracking import RunStore
from rengo.tracking.model_export import load_model

TRUE_W = np.array([0.3, -0.2, 0.1])
TRUE_B = -1.5


def _write_table(path: Path, rows: int = 3000, seed: int = 0) -> dict[str, float]:
    """A synthetic frequency table (id, three rating factors, years, claims): exposures
    uniform in (0.1, 1], claims Poisson(years * exp(x w + b)); returns each id's years."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    years = 1.0 - 0.9 * rng.random(rows)
    claims = rng.poisson(years * np.exp(X @ TRUE_W + TRUE_B))
    lines = ["id,age,power,density,years,claims"]
    lines += [
        f"p{i},{X[i, 0]:.17g},{X[i, 1]:.17g},{X[i, 2]:.17g},{years[i]:.17g},{claims[i]}"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return {f"p{i}": float(years[i]) for i in range(rows)}


def _job(tmp_path: Path, data: str = "", partition: str = "", train: str = "", **keys: str) -> Path:
    job = tmp_path / "frequency.toml"
    rounds = keys.get("rounds", "20")
    job.write_text(
        f"""
[job]
name = "claim-frequency"
rounds = {rounds}
[data]
dataset = "csv"
path = "policies.csv"
label = "claims"
id_column = "id"
task = "regression"
exposure = "years"
{data}
[partition]
{partition or 'scheme = "iid"'}
num_clients = 3
[model]
type = "{keys.get("model", "poisson")}"
[train]
{train or "lr = 0.1"}
"""
    )
    return job


def _run(job: Path) -> str:
    result = CliRunner().invoke(
        app, ["run", str(job), "--store", str(job.parent / "runs.db"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    with RunStore(job.parent / "runs.db") as store:
        run = store.list_runs()[0]
        assert run.status == "completed"
        return run.run_id


COEF_TOL = 1e-3
"""Full-batch FedAvg, one local step a round, is gradient descent on the pooled clients'
loss (tests/hfl/test_poisson_client.py checks one round exactly); after 400 steps of lr 1
the gap to scikit-learn's lbfgs fit was under 1e-8 in the client-level test. The job adds
only its data path (split, partition, exposure kept with each row): a row that lost its
exposure or got another's moves the intercept by tenths (log of mean exposure ~ -0.6)."""


def test_a_full_batch_job_over_unequal_insurers_reaches_sklearns_pooled_fit(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import PoissonRegressor

    _write_table(tmp_path / "policies.csv")
    job = _job(
        tmp_path,
        data="standardize = false",
        partition='scheme = "quantity"\nalpha = 0.5\nmin_size = 50',
        train="lr = 1.0\nbatch_size = 100000",
        rounds="400",
    )
    fed = build_federation(load_job(job))
    sizes = sorted(len(fed.clients[c]) for c in fed.client_ids)
    assert sizes[-1] > 5 * sizes[0], sizes  # very different insurers
    run_id = _run(job)
    with RunStore(tmp_path / "runs.db") as store:
        w, b = load_model(store, run_id).parameters
    X = np.concatenate([fed.clients[c].X for c in fed.client_ids])
    y = np.concatenate([fed.clients[c].labels() for c in fed.client_ids])
    e = np.concatenate([fed.clients[c].exposure for c in fed.client_ids])  # type: ignore[misc]
    # the job's clients train without a penalty: alpha = l2 / mean(e) = 0
    reference = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=10_000)
    reference.fit(X, y / e, sample_weight=e)
    np.testing.assert_allclose(np.ravel(w), reference.coef_, atol=COEF_TOL)
    assert float(b[0]) == pytest.approx(reference.intercept_, abs=COEF_TOL)


def test_the_run_records_the_actuarys_held_out_metrics_each_better_its_own_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rengo.cli import runs as runs_command

    monkeypatch.setattr(runs_command.console, "width", 400)  # every column's name in full
    _write_table(tmp_path / "policies.csv")
    run_id = _run(_job(tmp_path, train="lr = 0.1\nbatch_size = 64"))
    with RunStore(tmp_path / "runs.db") as store:
        metrics = store.round_metrics(run_id)
    for name, direction in (
        ("central_poisson_deviance", "lower"),
        ("central_d2_poisson", "higher"),
        ("central_gini", "higher"),
        ("central_rmse", "lower"),
        ("central_mae", "lower"),
        ("central_loss", "lower"),
    ):
        assert name in metrics, sorted(metrics)
        assert better_direction(name) == direction
    assert "central_r2" not in metrics and "central_accuracy" not in metrics
    first, last = (
        metrics["central_poisson_deviance"][0][1],
        metrics["central_poisson_deviance"][-1][1],
    )
    assert last < first
    assert metrics["central_gini"][-1][1] > 0.1  # the factors rank risks (seen 0.18)
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "--store", str(tmp_path / "runs.db")])
    assert shown.exit_code == 0, shown.output
    assert "central_poisson_deviance" in shown.output and "central_gini" in shown.output
    card = tmp_path / "card.md"
    made = CliRunner().invoke(
        app, ["runs", "card", run_id, "--store", str(tmp_path / "runs.db"), "-o", str(card)]
    )
    assert made.exit_code == 0, made.output
    text = card.read_text()
    assert "| central_poisson_deviance |" in text
    for line in text.splitlines():
        if line.startswith(("| central_poisson_deviance |", "| central_d2_poisson |")):
            direction = "lower" if "deviance" in line else "higher"
            assert line.rstrip().endswith(f"| {direction} |"), line


def test_the_held_out_metrics_are_weighted_by_the_held_out_exposure(tmp_path: Path) -> None:
    from sklearn.metrics import mean_poisson_deviance

    _write_table(tmp_path / "policies.csv")
    job = build_hfl_job(load_job(_job(tmp_path)))
    test = job.federation.test
    assert test is not None and test.exposure is not None
    params = [np.full((3, 1), 0.1), np.array([-1.2])]
    _, metrics = job.evaluate(params)
    rate = np.exp(test.X @ params[0][:, 0] + params[1][0])
    assert metrics["poisson_deviance"] == pytest.approx(
        mean_poisson_deviance(test.labels() / test.exposure, rate, sample_weight=test.exposure)
    )


@pytest.mark.parametrize(
    "partition",
    [
        'scheme = "iid"',
        'scheme = "dirichlet"\nalpha = 0.5',
        'scheme = "shards"',
        'scheme = "quantity"\nalpha = 0.5\nmin_size = 20',
    ],
)
def test_every_partitioner_keeps_each_rows_exposure_with_it(tmp_path: Path, partition: str) -> None:
    years = _write_table(tmp_path / "policies.csv", rows=600)
    fed = build_federation(
        load_job(_job(tmp_path, partition=partition, data="client_test_size = 0.2"))
    )
    tables = [*fed.clients.values(), *(fed.client_tests or {}).values()]
    assert fed.test is not None
    for table in [*tables, fed.test]:
        assert table.ids is not None and table.exposure is not None
        assert table.feature_names == ("age", "power", "density")  # years is no feature
        np.testing.assert_array_equal(table.exposure, [years[i] for i in table.ids])
    assert sum(len(t) for t in tables) + len(fed.test) == 600


def test_a_client_returns_its_update_row_count_and_aggregates_only(tmp_path: Path) -> None:
    """What a client's fit and evaluate return (all it sends): the model's two arrays, its
    row count (its FedAvg weight, not its exposure total), its training loss, and its own
    test rows' aggregate metrics; no array of one value per row, no exposure total."""
    _write_table(tmp_path / "policies.csv", rows=600)
    job = _job(tmp_path, data="client_test_size = 0.2")
    built = build_hfl_job(load_job(job))
    client = built.client_fn("client-0")
    rows = len(built.federation.clients["client-0"])
    result = client.fit([np.zeros((3, 1)), np.zeros(1)], {})
    assert result.num_examples == rows
    assert [np.shape(p) for p in result.parameters] == [(3, 1), (1,)]
    assert set(result.metrics) == {"loss"}
    own = built.federation.client_tests["client-0"]  # type: ignore[index]
    evaluated = client.evaluate(result.parameters, {})
    assert evaluated.num_examples == len(own)
    assert set(evaluated.metrics) == {"poisson_deviance", "d2_poisson", "gini", "rmse", "mae"}
    assert all(np.ndim(value) == 0 for value in evaluated.metrics.values())


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("0", "0.0"), ("-0.5", "-0.5"), ("nan", "nan"), ("", "empty"), ("half", "'half'")],
)
def test_a_bad_exposure_cell_is_refused_naming_the_file_row_and_column(
    tmp_path: Path, cell: str, shown: str
) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    lines = (tmp_path / "policies.csv").read_text().splitlines()
    fields = lines[8].split(",")
    fields[4] = cell
    lines[8] = ",".join(fields)
    (tmp_path / "policies.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as caught:
        build_federation(load_job(_job(tmp_path)))
    message = str(caught.value)
    assert "policies.csv" in message and "'years'" in message
    assert "row 7 (counting from 0; " in message and "policies.csv:9)" in message
    assert f"policies.csv:9) is {shown}" in message  # and how many such rows, for a number


def test_a_missing_exposure_column_is_refused_naming_it(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    job = _job(tmp_path, data="")
    job.write_text(job.read_text().replace('exposure = "years"', 'exposure = "years_insured"'))
    with pytest.raises(DataError, match=r"policies.csv: no exposure column 'years_insured'"):
        build_federation(load_job(job))


@pytest.mark.parametrize(
    ("cell", "match"), [("-1", r"data row 8, id 'p7'.* is -1"), ("two", "two")]
)
def test_a_negative_or_text_count_is_refused_naming_the_file_and_row(
    tmp_path: Path, cell: str, match: str
) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    lines = (tmp_path / "policies.csv").read_text().splitlines()
    lines[8] = ",".join([*lines[8].split(",")[:5], cell])
    (tmp_path / "policies.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=match) as caught:
        build_federation(load_job(_job(tmp_path)))
    assert "policies.csv" in str(caught.value)


def test_fractional_counts_train(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=300)
    text = (tmp_path / "policies.csv").read_text().splitlines()
    text[1:] = [line + ".5" for line in text[1:]]
    (tmp_path / "policies.csv").write_text("\n".join(text) + "\n")
    _run(_job(tmp_path))


def test_poisson_without_an_exposure_reads_whole_counts_as_a_target(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=300)
    job = _job(tmp_path)
    text = job.read_text().replace('exposure = "years"\n', "").replace('task = "regression"\n', "")
    job.write_text(text)
    fed = build_federation(load_job(job))
    assert fed.test is not None and fed.test.exposure is None
    assert "years" in fed.test.feature_names  # without data.exposure it is a feature
    assert fed.target_scaling is None  # counts are never z-scored
    _run(job)


def test_an_exposure_with_another_model_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    with pytest.raises(ConfigError, match=r"data.exposure = 'years'.*model.type = 'linear'"):
        load_job(_job(tmp_path, model="linear"))


def test_an_exposure_that_is_the_label_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    job = _job(tmp_path)
    job.write_text(job.read_text().replace('exposure = "years"', 'exposure = "claims"'))
    with pytest.raises(ConfigError, match=r"data.exposure = 'claims' is also the label"):
        load_job(job)


def test_poisson_on_classes_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    job = _job(tmp_path)
    job.write_text(job.read_text().replace('"regression"', '"classification"'))
    with pytest.raises(ConfigError, match=r"model.type = 'poisson' fits counts"):
        load_job(job)


def test_the_export_says_the_output_is_a_log_rate_per_unit_of_exposure(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=300)
    run_id = _run(_job(tmp_path))
    result = CliRunner().invoke(
        app,
        ["runs", "export", run_id, "--store", str(tmp_path / "runs.db"), "-o", str(tmp_path / "m")],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "exp(X @ weight.T + bias) is the rate per unit of 'years'" in said
    with np.load(tmp_path / "m.npz") as exported:
        assert exported["weight"].shape == (1, 3)


def test_a_valued_poisson_job_values_its_insurers_by_held_out_d2(tmp_path: Path) -> None:
    """``[contribution]`` left at its default metric valued by R^2, which a count model does
    not record: the run stopped with 'evaluation has no metric r2'."""
    _write_table(tmp_path / "policies.csv", rows=900)
    job = _job(tmp_path, rounds="5")
    job.write_text(job.read_text() + '[contribution]\nmethod = "loo"\n')
    assert load_job(job).contribution.metric == "d2_poisson"  # type: ignore[union-attr]
    run_id = _run(job)
    with RunStore(tmp_path / "runs.db") as store:
        assert store.get_run(run_id).status == "completed"


def test_a_contribution_metric_of_r2_is_refused_for_a_poisson_job(tmp_path: Path) -> None:
    _write_table(tmp_path / "policies.csv", rows=50)
    job = _job(tmp_path)
    job.write_text(job.read_text() + '[contribution]\nmetric = "r2"\n')
    with pytest.raises(ConfigError, match=r"contribution.metric = 'r2'.*d2_poisson"):
        build_hfl_job(load_job(job))


def test_clients_evaluate_their_own_test_rows_over_their_own_exposure(tmp_path: Path) -> None:
    """``data.client_test_size``: each insurer scores its own held-out policies over their
    exposure (``eval_`` metrics), the exposure never leaving it."""
    _write_table(tmp_path / "policies.csv", rows=900)
    job = _job(tmp_path, data="client_test_size = 0.2", rounds="3")
    job.write_text(job.read_text() + "[strategy]\nfraction_evaluate = 1.0\n")
    built = build_hfl_job(load_job(job))
    client = built.client_fn("client-1")
    own = built.federation.client_tests["client-1"]  # type: ignore[index]
    params = [np.full((3, 1), 0.1), np.array([-1.2])]
    result = client.evaluate(params, {})
    rate = np.exp(own.X @ params[0][:, 0] + params[1][0])
    from sklearn.metrics import mean_poisson_deviance

    assert own.exposure is not None and result.num_examples == len(own)
    assert result.metrics["poisson_deviance"] == pytest.approx(
        mean_poisson_deviance(own.labels() / own.exposure, rate, sample_weight=own.exposure)
    )
    assert result.metrics["mae"] == pytest.approx(
        np.mean(np.abs(own.labels() - own.exposure * rate))
    )
    run_id = _run(job)
    with RunStore(tmp_path / "runs.db") as store:
        metrics = store.round_metrics(run_id)
    assert {"eval_poisson_deviance", "eval_d2_poisson", "eval_gini"} <= set(metrics)


def _write_large_counts(path: Path, rows: int = 600, intercept: float = 6.0) -> None:
    """A table of many claims per policy: about 250 per policy-year (an intercept of 6),
    or ``exp(intercept)``."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, 3))
    years = 0.1 + rng.random(rows)
    claims = rng.poisson(years * np.exp(X @ TRUE_W + intercept))
    lines = ["id,age,power,density,years,claims"]
    lines += [
        f"p{i},{X[i, 0]:.17g},{X[i, 1]:.17g},{X[i, 2]:.17g},{years[i]:.17g},{claims[i]}"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_too_long_a_step_for_large_counts_fails_naming_train_lr(tmp_path: Path) -> None:
    """The default lr on counts of about 250 diverges: the run fails saying to lower
    ``train.lr``, no numpy warning printed (it failed with 'array 0 contains NaN or Inf'
    after overflow warnings); a shorter step completes."""
    _write_large_counts(tmp_path / "policies.csv")
    job = _job(tmp_path, train="lr = 0.05", rounds="3")
    result = CliRunner().invoke(
        app, ["run", str(job), "--store", str(tmp_path / "runs.db"), "--no-progress"]
    )
    said = " ".join(result.output.split())
    assert result.exit_code != 0
    assert "Poisson training diverged" in said and "lower train.lr" in said, said
    assert "RuntimeWarning" not in said and "NaN or Inf" not in said
    job.write_text(job.read_text().replace("lr = 0.05", "lr = 0.002"))
    _run(job)


@pytest.mark.parametrize("strategy", ["fedavg", "fedmedian"])
def test_a_scaled_update_attacker_does_not_stop_the_run(tmp_path: Path, strategy: str) -> None:
    """One client sending its update x500: the honest clients train from whatever model they
    are sent (FedAvg's, the attacker's averaged in) with clipped predictions, so the run
    completes with finite metrics as a "linear" run does (it failed at round 2, every honest
    update NaN); a robust rule keeps the attacker out of the model."""
    _write_large_counts(tmp_path / "policies.csv", intercept=3.5)  # about 33 per year
    job = _job(tmp_path, rounds="3", train="lr = 0.01")
    honest = job.read_text() + f'[strategy]\nname = "{strategy}"\n'
    job.write_text(honest + '[robust]\nattack = "scaled_update"\nattackers = 1\nfactor = 500.0\n')
    with RunStore(tmp_path / "runs.db") as store:
        metrics = store.round_metrics(_run(job))
    deviance = [value for _, value in metrics["central_poisson_deviance"]]
    assert len(deviance) == 3 and np.all(np.isfinite(deviance))
    # FedAvg averages the attacker in (deviance 2932 here after 3 rounds); the median of
    # three keeps each coordinate within the honest ones' (25.9; 22.4 unattacked)
    if strategy == "fedmedian":
        alone = tmp_path / "unattacked"
        alone.mkdir()
        (alone / "policies.csv").write_text((tmp_path / "policies.csv").read_text())
        (alone / job.name).write_text(honest)
        _run(alone / job.name)
        with RunStore(alone / "runs.db") as store:
            run_id = store.list_runs()[0].run_id
            unattacked = store.round_metrics(run_id)["central_poisson_deviance"][-1][1]
        assert deviance[-1] < 1.5 * unattacked

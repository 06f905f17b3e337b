"""Horizontal jobs on a continuous target (``data.task = "regression"``): they train to
the R^2 of a centralised least-squares fit, record RMSE, MAE and R^2 each round in the
target's units, and refuse what only makes sense for classes, naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError, DataError
from rengo.data import TargetMoments, TargetScaling, load_diabetes
from rengo.jobs import build_hfl_job, load_job
from rengo.jobs.build import build_federation
from rengo.tracking import RunStore

JOB = """
[job]
name = "diabetes"
seed = 0
rounds = 20
[data]
dataset = "diabetes"
task = "regression"
[partition]
scheme = "iid"
num_clients = 5
[model]
type = "linear"
[train]
lr = 0.05
local_epochs = 2
batch_size = 16
"""

R2_MARGIN = 0.03
"""Federated least squares (20 rounds of FedAvg over 5 clients) ends within this much R^2
of scikit-learn's LinearRegression on the same training rows and held-out split (seen:
0.4916 against 0.5012)."""
MLP_R2_MARGIN = 0.1
"""The MLP (one hidden layer of 32) is non-convex and trained 20 rounds: within this."""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def _run(tmp_path: Path, text: str) -> tuple[str, dict[str, list[tuple[int, float]]]]:
    """``rengo run`` the job into a fresh store: the run's status and per-round metrics."""
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(
        app, ["run", str(_write(tmp_path, text)), "--store", str(store), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        run = s.list_runs()[0]
        return run.status, s.round_metrics(run.run_id)


def _centralised_r2(tmp_path: Path, text: str) -> float:
    """R^2 of scikit-learn's LinearRegression fitted on all clients' training rows and
    scored on the job's held-out split, in the target's units."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    fed = build_federation(load_job(_write(tmp_path, text)))
    scaling = fed.target_scaling
    assert scaling is not None and fed.test is not None
    X = np.concatenate([fed.clients[c].X for c in fed.client_ids])
    y = scaling.restore(np.concatenate([fed.clients[c].labels() for c in fed.client_ids]))
    model = LinearRegression().fit(X, y)
    return float(r2_score(scaling.restore(fed.test.labels()), model.predict(fed.test.X)))


def test_a_linear_regression_job_reaches_the_centralised_r2_and_records_each_round(
    tmp_path: Path,
) -> None:
    status, metrics = _run(tmp_path, JOB)
    assert status == "completed"
    for name in ("central_rmse", "central_mae", "central_r2", "central_loss", "train_loss"):
        assert [r for r, _ in metrics[name]] == list(range(1, 21)), name
    assert not any("accuracy" in name for name in metrics)
    final_r2 = metrics["central_r2"][-1][1]
    assert final_r2 >= _centralised_r2(tmp_path, JOB) - R2_MARGIN
    # RMSE in the target's units (diabetes progression: spread about 77), not in spreads
    assert 40 < metrics["central_rmse"][-1][1] < 70


@pytest.mark.timeout(300)
def test_an_mlp_regression_job_trains_on_the_mean_squared_error(tmp_path: Path) -> None:
    text = JOB.replace('type = "linear"', 'type = "mlp"\nhidden = [32]')
    status, metrics = _run(tmp_path, text)
    assert status == "completed"
    assert metrics["central_r2"][-1][1] >= _centralised_r2(tmp_path, text) - MLP_R2_MARGIN


def test_the_target_scale_is_the_pooled_training_targets_from_client_moments_alone() -> None:
    rng = np.random.default_rng(4)
    parts = [rng.normal(1e6, 3.0, size) for size in (1, 7, 40, 0, 3)]
    pooled = TargetScaling.pooled([TargetMoments.of(p) for p in parts])
    every = np.concatenate(parts)
    assert pooled.mean == pytest.approx(every.mean(), rel=1e-15)
    assert pooled.scale == pytest.approx(every.std(), rel=1e-9)
    assert np.allclose(pooled.restore(pooled.standardize(every)), every)


def test_a_constant_target_is_only_centred_whatever_its_mean_rounds_to() -> None:
    """Its mean's rounding gave a constant -59.98 a spread of 5.7e-15, and a held-out
    -59.97 was scaled to 1.75e12."""
    parts = [np.full(size, -59.98) for size in (3, 7, 11)]
    pooled = TargetScaling.pooled([TargetMoments.of(p) for p in parts])
    assert pooled.scale == 1.0 and pooled.mean == -59.98
    assert pooled.standardize(np.array([-59.97]))[0] == pytest.approx(0.01)


def test_the_federation_scales_the_target_with_the_training_clients_rows_only(
    tmp_path: Path,
) -> None:
    fed = build_federation(load_job(_write(tmp_path, JOB)))
    scaling = fed.target_scaling
    assert scaling is not None and fed.test is not None
    train = scaling.restore(np.concatenate([fed.clients[c].labels() for c in fed.client_ids]))
    assert scaling.mean == pytest.approx(train.mean()) and scaling.scale == pytest.approx(
        train.std()
    )
    raw = load_diabetes().labels()
    assert np.isin(np.round(scaling.restore(fed.test.labels()), 6), raw).all()


def test_a_whole_number_target_that_looks_continuous_suggests_task_regression(
    tmp_path: Path,
) -> None:
    """The refusal said "horizontal jobs train classifiers"; it now names the fix, and the
    fix trains."""
    diabetes = load_diabetes()
    rows = ["y,a,b,c"] + [
        f"{int(y)},{x[0]!r},{x[2]!r},{x[8]!r}"
        for y, x in zip(diabetes.labels(), diabetes.X.tolist(), strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace(
        'dataset = "diabetes"\ntask = "regression"', 'dataset = "csv"\npath = "d.csv"'
    )
    text = text.replace('type = "linear"', 'type = "mlp"')
    with pytest.raises(
        ConfigError, match=r'looks like a continuous target; set data.task = "regression"'
    ):
        build_hfl_job(load_job(_write(tmp_path, text)))
    fixed = text.replace('path = "d.csv"', 'path = "d.csv"\ntask = "regression"')
    fed = build_federation(load_job(_write(tmp_path, fixed)))
    assert fed.target_scaling is not None and not fed.client(0).is_classification


@pytest.mark.parametrize(
    ("cell", "error", "message"),
    [
        ("nan", DataError, r"t.csv:8: label is missing"),
        ("high", DataError, r"regression label 'high' is not a number"),
    ],
)
def test_a_bad_target_is_one_clear_error(
    tmp_path: Path, cell: str, error: type[Exception], message: str
) -> None:
    rows = ["a,y"] + [f"{i},{i * 0.5 + 1}" for i in range(40)]
    rows[7] = f"6,{cell}"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace('dataset = "diabetes"', 'dataset = "csv"\npath = "t.csv"')
    with pytest.raises(error, match=message):
        build_hfl_job(load_job(_write(tmp_path, text)))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('type = "linear"', 'type = "logistic"'), r"model.type = 'logistic' is a classifier"),
        (
            ('dataset = "diabetes"\ntask = "regression"', 'dataset = "iris"'),
            r"model.type = 'linear' fits a continuous target, and iris has class labels",
        ),
        (
            ('dataset = "diabetes"', 'dataset = "iris"'),
            r"data.task = 'regression', but iris has class labels",
        ),
        (
            ('task = "regression"', 'task = "classification"'),
            r"model.type = 'linear' fits a continuous target",
        ),
        (
            ("[train]", '[robust]\nattack = "label_flip"\nattackers = 1\n[train]'),
            r"robust.attack = 'label_flip' rewrites class labels",
        ),
        (
            ("[train]", '[contribution]\nmetric = "accuracy"\n[train]'),
            r"contribution.metric = 'accuracy' scores classes",
        ),
    ],
)
def test_what_does_not_fit_a_regression_is_refused_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = JOB.replace(*edit)
    with pytest.raises(ConfigError, match=message):
        build_hfl_job(load_job(_write(tmp_path, text)))


def test_dirichlet_skews_a_continuous_target_by_its_quantile_bins(tmp_path: Path) -> None:
    text = JOB.replace('scheme = "iid"', 'scheme = "dirichlet"\nalpha = 0.1')
    fed = build_federation(load_job(_write(tmp_path, text)))
    means = [float(fed.clients[c].labels().mean()) for c in fed.client_ids]
    iid = build_federation(load_job(_write(tmp_path, JOB)))
    iid_means = [float(iid.clients[c].labels().mean()) for c in iid.client_ids]
    assert np.std(means) > 3 * np.std(iid_means)  # the clients' targets differ


@pytest.mark.parametrize(
    "extra",
    [
        '[strategy]\nname = "fedprox"\nproximal_mu = 0.01\n',
        '[strategy]\nname = "scaffold"\n',
        '[strategy]\nname = "fedmedian"\n',
        '[privacy]\ndp = "central"\nnoise_multiplier = 0.1\nclip_norm = 5.0\n',
        "[privacy]\nsecagg = true\n",
        '[compression]\nupdate = "int8"\n',
        '[contribution]\nmethod = "gtg"\n',
        '[strategy]\nname = "krum"\nnum_byzantine = 1\n[robust]\nattack = "sign_flip"\n'
        "attackers = 1\n",
    ],
)
def test_strategies_privacy_and_valuation_compose_with_a_regression(
    tmp_path: Path, extra: str
) -> None:
    text = JOB.replace("rounds = 20", "rounds = 3") + extra
    status, metrics = _run(tmp_path, text)
    assert status == "completed"
    assert np.isfinite(metrics["central_r2"][-1][1])


def test_runs_plot_and_the_dashboard_judge_a_regression_by_r2(tmp_path: Path) -> None:
    """``rengo runs plot A B`` compared central_accuracy, which a regression never logs,
    and the dashboard summarised it by its loss; both now take R^2, the best round the
    highest."""
    from rengo.ui.views import run_overview

    store = tmp_path / "runs.db"
    for rounds in (2, 3):
        job = _write(tmp_path, JOB.replace("rounds = 20", f"rounds = {rounds}"))
        result = CliRunner().invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
        assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        ids = [r.run_id for r in s.list_runs()]
        overview = run_overview(s, ids[0])
        r2 = dict(s.round_metrics(ids[0])["central_r2"])
    assert overview["headline"]["metric"] == "central_r2"
    assert overview["headline"]["best"]["value"] == max(r2.values())
    out = tmp_path / "plots"
    out.mkdir()
    result = CliRunner().invoke(app, ["runs", "plot", *ids, "--store", str(store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "compare-central_r2.png").is_file()
    # and `rengo runs compare` (it said: no metric 'central_accuracy')
    compared = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["runs", "compare", *ids, "--store", str(store)]
    )
    assert compared.exit_code == 0, compared.output
    assert "central_r2 (best = max)" in compared.output


def test_an_exported_linear_model_scores_raw_rows_in_the_target_units(tmp_path: Path) -> None:
    """``rengo runs export`` refused ('unknown model type 'linear''); it now writes the
    nn.Linear(d, 1) state dict, the input scaling and the target scaling, which together
    give the run's last central RMSE on the raw held-out rows."""
    import torch

    text = JOB.replace("rounds = 20", "rounds = 3")
    store = tmp_path / "runs.db"
    job = _write(tmp_path, text)
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        run_id = s.list_runs()[0].run_id
        last_rmse = s.round_metrics(run_id)["central_rmse"][-1][1]
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(
        app, ["runs", "export", run_id, "--store", str(store), "-o", str(out), "--format", "torch"]
    )
    assert result.exit_code == 0, result.output
    inputs = np.load(f"{out}.inputs.npz")
    target = np.load(f"{out}.target.npz")
    model = torch.nn.Linear(10, 1).double()
    model.load_state_dict({k: torch.as_tensor(v) for k, v in torch.load(out).items()})
    # the job's raw held-out rows: the same split, without any scaling
    spec = load_job(job)
    raw = build_federation(
        dataclasses.replace(spec, data=dataclasses.replace(spec.data, standardize=False))
    )
    assert raw.test is not None
    X = (raw.test.X - inputs["mean"]) / inputs["scale"]
    with torch.no_grad():
        z = model(torch.as_tensor(X)).numpy().ravel()
    predicted = z * float(target["scale"]) + float(target["mean"])
    rmse = float(np.sqrt(np.mean((predicted - raw.test.labels()) ** 2)))
    assert rmse == pytest.approx(last_rmse, rel=1e-9)
    # with the job file gone, the run's recorded model type names the tensors (it gave
    # param_0, param_1 for a linear model)
    job.unlink()
    again = tmp_path / "again.pt"
    result = CliRunner().invoke(
        app,
        ["runs", "export", run_id, "--store", str(store), "-o", str(again), "--format", "torch"],
    )
    assert result.exit_code == 0, result.output
    assert set(torch.load(again)) == {"weight", "bias"}


def test_clients_record_regression_metrics_on_their_own_test_rows(tmp_path: Path) -> None:
    text = JOB.replace("rounds = 20", "rounds = 3").replace(
        'task = "regression"', 'task = "regression"\nclient_test_size = 0.2'
    )
    status, metrics = _run(tmp_path, text + "[strategy]\nfraction_evaluate = 1.0\n")
    assert status == "completed"
    for name in ("eval_rmse", "eval_mae", "eval_r2", "eval_loss"):
        assert [r for r, _ in metrics[name]] == [1, 2, 3], name
    assert 30 < metrics["eval_rmse"][-1][1] < 80  # the target's units


@pytest.mark.timeout(300)
def test_local_dp_sgd_trains_the_mlp_regressor(tmp_path: Path) -> None:
    text = JOB.replace("rounds = 20", "rounds = 2").replace('type = "linear"', 'type = "mlp"')
    extra = '[privacy]\ndp = "local"\nnoise_multiplier = 0.5\nmax_grad_norm = 1.0\ndelta = 1e-4\n'
    status, metrics = _run(tmp_path, text + extra)
    assert status == "completed"
    assert metrics["train_dp_epsilon"][-1][1] > 0 and np.isfinite(metrics["central_r2"][-1][1])


def test_with_task_auto_a_defaulted_contribution_metric_says_how_to_score_a_regression(
    tmp_path: Path,
) -> None:
    """With data.task = "auto" the [contribution] metric is settled (accuracy) when the file
    is read, before the table is: a regression table is refused, saying why and the fix
    (the setting keeps one value from reading to building, so --same-as, --resume and a
    sweep compare it as recorded)."""
    text = JOB.replace('task = "regression"\n', "")
    spec = load_job(_write(tmp_path, text + '[contribution]\nmethod = "loo"\n'))
    assert spec.contribution is not None and spec.contribution.metric == "accuracy"
    with pytest.raises(ConfigError, match=r'defaults to accuracy.*set data.task = "regression"'):
        build_hfl_job(spec)
    spec = load_job(_write(tmp_path, JOB + '[contribution]\nmethod = "loo"\n'))
    assert spec.contribution is not None and spec.contribution.metric == "r2"

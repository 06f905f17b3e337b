"""Federated transfer learning deployed: the vertical runner's roles over the gRPC hub (with
mTLS), and ``rengo vfl coordinator`` / ``rengo vfl party`` processes from a job file, give
exactly the simulation's models and predictions - the same FTL role code runs everywhere."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ftl_scenarios import Scenario, scenario

from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.ftl import TargetModel, TransferConfig
from rengo.ftl.model_file import read_party_model
from rengo.jobs import build_vertical_job, load_job, run_vertical_job
from rengo.jobs.vertical import held_out
from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import PartyData, PartyTable, VerticalPlan, simulate_vertical

HERE = Path(__file__).parent
DEPLOY = HERE.parent / "deploy"
CONFIG = TransferConfig(
    dim=4, source_hidden="8", target_hidden="6", epochs=2, batch_size=40, key_bits=512
)
EARLY_STOPPING = TransferConfig(
    dim=4,
    source_hidden="8",
    target_hidden="6",
    epochs=4,
    batch_size=40,
    key_bits=512,
    validation_fraction=0.3,
    n_iter_no_change=1,
)
SEED = 3
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)


@pytest.fixture(scope="module")
def small() -> Scenario:
    return scenario(rows=900, seed=4, target_labels=20)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ftl-certs")
    init_certificates(directory, ["bank", "shop"])
    return directory


def party_data(s: Scenario) -> dict[str, PartyData]:
    split = s.split
    return {
        "bank": PartyData(PartyTable(split.source.ids, split.source.X), split.source.labels),
        "shop": PartyData(
            PartyTable(split.target.ids, split.target.X),
            split.target.labels,
            PartyTable(split.test.ids, split.test.X),
        ),
    }


@pytest.mark.timeout(300)
@pytest.mark.parametrize("config", [CONFIG, EARLY_STOPPING], ids=["plain", "early-stopping"])
def test_deployed_over_the_hub_equals_the_simulation(
    small: Scenario, certs: Path, tmp_path: Path, config: TransferConfig
) -> None:
    data = party_data(small)
    plan = VerticalPlan("bank", ("shop",), config, SEED, algorithm="ftl")
    simulation = simulate_vertical(plan, data)
    simulated = simulation.parties["shop"]
    store = RunStore(tmp_path / "runs.db")

    ready, address, results = threading.Event(), [], {}

    def coordinator() -> None:
        def listening(hub: Any) -> None:
            address.append(hub.address)
            ready.set()

        try:
            results["coordinator"] = serve_vertical_coordinator(
                "127.0.0.1:0",
                HubSecurity.from_directory(certs),
                ["bank", "shop"],
                "bank",
                algorithm="ftl",
                config=config,
                seed=SEED,
                join_timeout=60.0,
                heartbeat_interval=0.5,
                on_listening=listening,
                store=store,
            )
        except BaseException as exc:
            results["coordinator"] = exc
            ready.set()

    def party(name: str) -> None:
        try:
            results[name] = run_vertical_party(
                address[0],
                name,
                data[name],
                PartyCredentials.from_directory(certs, name),
                heartbeat_interval=0.5,
                backoff=FAST,
                linger=5.0,
                own_seed=SEED,  # the simulation's initial encoders (each party's own, unsent)
            )
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=coordinator, daemon=True)]
    threads[0].start()
    assert ready.wait(30) and address, results.get("coordinator")
    threads += [threading.Thread(target=party, args=(n,), daemon=True) for n in ("bank", "shop")]
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(240)
    for name in ("coordinator", "bank", "shop"):
        assert not isinstance(results.get(name), BaseException), (name, results.get(name))
    deployed = results["shop"]
    assert isinstance(deployed.model, TargetModel)
    np.testing.assert_array_equal(deployed.score_ids, simulated.score_ids)
    np.testing.assert_array_equal(deployed.scores, simulated.scores)
    for a, b in zip(deployed.model.weights, simulated.model.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert deployed.model.validation == simulated.model.validation
    assert deployed.model.best_epoch == simulated.model.best_epoch
    report = results["coordinator"]
    training = simulation.coordinator.training
    assert report.plan.algorithm == "ftl"
    assert f"trained {training.epochs_run} epochs" in report.describe()
    # the run's record holds each epoch with the loss the source reported, and the
    # held-out loss the target reported
    recorded = store.round_metrics(report.run_id)
    summary = store.get_run(report.run_id).summary
    store.close()
    assert summary["epochs_run"] == training.epochs_run
    best = training.best_epoch if config.validation_fraction else None
    assert summary.get("best_epoch") == best
    assert recorded["train_loss"] == list(enumerate(training.losses, start=1))
    held = list(enumerate(training.validation_losses, start=1))
    assert recorded.get("validation_loss", []) == held
    if config.validation_fraction:
        assert len(held) == training.epochs_run > 0


JOB = """
[job]
kind = "vfl"
name = "transfer-job"
seed = {seed}

[vfl]
algorithm = "ftl"
label_party = "bank"
label = "y"
test_size = 0.3
dim = 4
source_hidden = "8"
target_hidden = "6"
epochs = 2
batch_size = 40
key_bits = 512

[vfl.parties]
bank = "{bank}"
shop = "{shop}"
"""


def write_tables(s: Scenario, folder: Path, seed: int) -> dict[str, Path]:
    """The bank's CSV with every label; the shop's with its few labels, and the labels of
    the rows the job holds out (to evaluate with), blank elsewhere."""
    split = s.split
    shop_ids = np.concatenate([split.target.ids, split.test.ids])
    shop_x = np.vstack([split.target.X, split.test.X])
    shop_labels = np.concatenate([split.target.labels, split.test.labels])
    evaluated = held_out(shop_ids, seed, 0.3)
    known = np.array([label is not None for label in shop_labels]) & (
        evaluated | (np.arange(len(shop_ids)) < len(split.target))
    )
    paths = {"bank": folder / "bank.csv", "shop": folder / "shop.csv"}
    for name, ids, x, labels, keep in (
        ("bank", split.source.ids, split.source.X, split.source.labels, None),
        ("shop", shop_ids, shop_x, shop_labels, known),
    ):
        with paths[name].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", *(f"f{j}" for j in range(x.shape[1])), "y"])
            for k, row in enumerate(x):
                label = labels[k] if keep is None or keep[k] else None
                writer.writerow(
                    [ids[k], *(repr(float(v)) for v in row), "" if label is None else label]
                )
    return paths


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(DEPLOY / "vertical_procs.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def finish(proc: subprocess.Popen[str], earlier: str = "") -> str:
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, earlier + out
    return earlier + out


def deploy(job: Path, certs: Path, tmp_path: Path) -> tuple[dict[str, str], str]:
    """Run ``job`` deployed: ``rengo vfl coordinator --job`` and each party's ``rengo vfl
    party --job`` (scores to ``tmp_path/PARTY-scores.csv``, models to ``PARTY.json``, each
    party's own seed the job's); each party's output and the coordinator's."""
    procs: list[subprocess.Popen[str]] = []
    try:
        coordinator = start(
            "coordinator", "--job", str(job), "--listen", "127.0.0.1:0", "--certs", str(certs)
        )
        procs.append(coordinator)
        assert coordinator.stdout is not None
        early = ""
        for line in coordinator.stdout:
            early += line
            if line.startswith("listening on "):
                port = int(line.split()[2].rstrip(";").rsplit(":", 1)[1])
                break
        else:
            raise AssertionError(early)
        for name in ("bank", "shop"):
            procs.append(
                start(
                    "party",
                    "--coordinator",
                    f"127.0.0.1:{port}",
                    "--name",
                    name,
                    "--job",
                    str(job),
                    "--predictions",
                    str(tmp_path / f"{name}-scores.csv"),
                    "--model",
                    str(tmp_path / f"{name}.json"),
                    "--certs",
                    str(certs),
                    "--own-seed",  # rengo run's initial encoders (each party's own, unsent)
                    str(SEED),
                )
            )
        outputs = {name: finish(p) for name, p in zip(("bank", "shop"), procs[1:], strict=True)}
        summary = finish(coordinator, early)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outputs, summary


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_transfer_job_deployed_equals_rengo_run_of_the_same_file(
    small: Scenario, certs: Path, tmp_path: Path
) -> None:
    paths = write_tables(small, tmp_path, SEED)
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(seed=SEED, **paths))
    simulated = build_vertical_job(load_job(job))
    result = run_vertical_job(simulated, log=lambda _: None)
    shop = simulated.model.predict_run_.parties["shop"]
    assert result["auc"] > 0.5 and result["scored_customers"] == len(shop.score_ids)

    outputs, summary = deploy(job, certs, tmp_path)
    with (tmp_path / "shop-scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in rows], shop.score_ids)
    np.testing.assert_array_equal([float(r["score"]) for r in rows], shop.scores)
    assert not (tmp_path / "bank-scores.csv").exists()  # the source gets no predictions
    saved = read_party_model(tmp_path / "shop.json", "shop").model
    assert isinstance(saved, TargetModel) and saved.encoder.dim == 4
    for a, b in zip(saved.weights, simulated.model.target_model_.weights, strict=True):  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a, b)
    assert f"AUC {result['auc']:.4f}" in outputs["shop"]
    # the metrics' rows: the held-out rows whose label the shop knows, as rengo run records
    assert 0 < result["test_rows"] < result["scored_customers"]
    evaluated = f"scored {len(shop.scores)} rows -> {tmp_path / 'shop-scores.csv'}; "
    assert evaluated + f"on the {result['test_rows']} with a known label: AUC" in outputs["shop"]
    assert "trained 2 epochs" in summary


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_unlabelled_target_deployed_scores_every_row_as_rengo_run_does(
    small: Scenario, certs: Path, tmp_path: Path
) -> None:
    """A target whose table has no label column (the usual transfer case) was refused by
    both: 'shop scores the held-out rows but its table has no 'y' column'. Now it trains on
    every row and gets a prediction for each, deployed as in rengo run."""
    paths = write_tables(small, tmp_path, SEED)
    rows = list(csv.reader(paths["shop"].open(newline="", encoding="utf-8")))
    with paths["shop"].open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(row[:-1] for row in rows)  # no 'y' column
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(seed=SEED, **paths))
    simulated = build_vertical_job(load_job(job))
    result = run_vertical_job(simulated, log=lambda _: None)
    shop = simulated.model.predict_run_.parties["shop"]
    assert result["scored_customers"] == len(rows) - 1 == len(shop.score_ids)
    assert result["test_rows"] == 0 and "auc" not in result

    outputs, _ = deploy(job, certs, tmp_path)
    with (tmp_path / "shop-scores.csv").open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in scored], shop.score_ids)
    np.testing.assert_array_equal([float(r["score"]) for r in scored], shop.scores)
    said = " ".join(outputs["shop"].split())
    assert f"scored {len(scored)} rows" in said
    assert "not evaluated: none of the" in said and "hold out more rows" not in said


def test_the_coordinator_reports_the_rows_the_target_scored() -> None:
    """Transfer learning is scored at the target, not at the label party (the source): the
    coordinator's line and run event said 'scored 0 rows' for a shop that scored 37."""
    from rengo.deploy.vertical import describe_run
    from rengo.ftl.roles import TransferReport
    from rengo.vfl.runner import VerticalCoordinatorOutcome, VerticalPlan

    plan = VerticalPlan("bank", ("shop",), None, 0, algorithm="ftl")
    done = {
        "bank": {"train_rows": 77, "scored_rows": 0},
        "shop": {"train_rows": 77, "scored_rows": 37},
    }
    outcome = VerticalCoordinatorOutcome(TransferReport([1.4], 2), None, done)
    assert describe_run(plan, outcome).endswith("on 77 common rows; scored 37 rows")


@pytest.mark.timeout(300)
def test_a_transfer_jobs_run_record_holds_each_epochs_held_out_loss(
    small: Scenario, tmp_path: Path
) -> None:
    """``rengo run`` of a job file with ``validation_fraction``: the record's epochs carry the
    held-out loss the target reported (it reaches the coordinator, not the source)."""
    paths = write_tables(small, tmp_path, SEED)
    job = tmp_path / "job.toml"
    text = JOB.format(seed=SEED, **paths).replace(
        "[vfl.parties]", 'security = "plaintext"\nvalidation_fraction = 0.3\n\n[vfl.parties]'
    )
    job.write_text(text)
    built = build_vertical_job(load_job(job))
    store = RunStore(tmp_path / "runs.db")
    result = run_vertical_job(built, store=store, log=lambda _: None)
    recorded = store.round_metrics(result["run_id"])
    store.close()
    report = built.model.report_
    assert len(report.validation_losses) == 2
    assert recorded["validation_loss"] == list(enumerate(report.validation_losses, start=1))
    assert built.model.models_["bank"].best_epoch == 0  # the source never hears the losses

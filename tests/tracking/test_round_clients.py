"""`rengo runs show RUN --round K`: one round's clients as recorded - every client sampled to
train or evaluate, which replied, and each failure's reason - and a round the run never
recorded is refused naming the rounds it did."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.hfl import FedAvg, LogisticRegressionClient, SimulatedDropout, simulate
from rengo.tracking import RunStore, round_clients_table


def _recorded_run(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    store = RunStore(tmp_path / "runs.db")
    history = simulate(
        lambda cid: LogisticRegressionClient(X, y, lr=0.1),
        [f"client-{i}" for i in range(30)],
        FedAvg(fraction_fit=0.5, min_fit_clients=2, fraction_evaluate=0.2, min_evaluate_clients=2),
        [np.zeros((4, 2)), np.zeros(2)],
        3,
        seed=1,
        store=store,
        client_mods=[SimulatedDropout(dropout=0.3)],
    )
    return store, history


def _text(table) -> str:
    console = Console(width=250, record=True)
    console.print(table)
    return console.export_text()


def test_each_sampled_client_of_the_round_is_listed_with_its_fate(tmp_path) -> None:
    store, history = _recorded_run(tmp_path)
    round2 = history.rounds[1]
    text = _text(round_clients_table(store, history.run_id, 2))
    fit = [r for r in store.client_records(history.run_id, rounds=[2]) if r.phase == "fit"]
    failed = [r for r in fit if r.status != "ok"]
    assert failed, "the seed should lose some clients in round 2"
    assert (
        f"{len(fit)} sampled to train: {len(fit) - len(failed)} replied, {len(failed)} failed"
        in (text)
    )
    for cid in round2.clients:
        assert cid in text
    for r in failed:
        line = next(line for line in text.splitlines() if f" {r.client_id} " in line)
        assert "dropped out (simulated, dropout=0.3)" in line
    rows = [[cell.strip() for cell in line.split("│")[1:3]] for line in text.splitlines()]
    fit_ids = [cid for cid, phase in (r for r in rows if len(r) == 2) if phase == "fit"]
    assert sorted(fit_ids) == sorted(r.client_id for r in fit)
    assert fit_ids == sorted(fit_ids, key=lambda c: int(c.split("-")[1]))  # client-9 before -10


def test_a_round_never_recorded_is_refused_naming_the_recorded_ones(tmp_path) -> None:
    store, history = _recorded_run(tmp_path)
    with pytest.raises(
        ConfigError, match="recorded no client in round 7; it recorded rounds 1 to 3"
    ):
        round_clients_table(store, history.run_id, 7)


def test_the_cli_shows_one_rounds_clients(tmp_path) -> None:
    _store, history = _recorded_run(tmp_path)
    result = CliRunner().invoke(
        app,
        ["runs", "show", history.run_id, "--store", str(tmp_path / "runs.db"), "--round", "1"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert f"round 1 of run {history.run_id}" in result.output
    assert "sampled to train" in result.output


def _rounds_rows(text: str) -> list[list[str]]:
    start = text.index("rounds")
    rows = []
    for line in text[start:].splitlines()[4:]:
        if not line.startswith("│"):
            break
        rows.append([cell.strip() for cell in line.split("│")[1:-1]])
    return rows


def test_the_rounds_table_tells_failed_training_from_failed_evaluation(tmp_path) -> None:
    """A round of 3 fit clients, 1 of which failed, and 2 clients that failed only their
    evaluation read "clients 3, failed 3" before: its failures counted both phases."""
    from rengo.tracking import run_detail

    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="phases")
    for cid, phase, status in [
        ("a", "fit", "ok"),
        ("b", "fit", "ok"),
        ("c", "fit", "failed"),
        ("d", "evaluate", "failed"),
        ("e", "evaluate", "failed"),
    ]:
        why = "down" if status == "failed" else None
        store.log_client(run_id, 1, cid, phase, status, 0, 0, 0, 0.1, why, None)
    store.log_round(run_id, 1, {"train_loss": 0.5}, 1.0, 3, 3)
    text = _text(run_detail(store, run_id))
    assert "fit failed" in text and "eval failed" in text
    assert _rounds_rows(text)[0][:5] == ["1", "1.0s", "3", "1", "2"]


def test_a_run_whose_evaluation_never_failed_keeps_one_failed_column(tmp_path) -> None:
    from rengo.tracking import run_detail

    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="fit only")
    store.log_client(run_id, 1, "a", "fit", "failed", 0, 0, 0, 0.1, "down", None)
    store.log_client(run_id, 1, "b", "fit", "ok", 0, 0, 0, 0.1, None, None)
    store.log_round(run_id, 1, {"train_loss": 0.5}, 1.0, 2, 1)
    text = _text(run_detail(store, run_id))
    assert "eval failed" not in text
    assert _rounds_rows(text)[0][:4] == ["1", "1.0s", "2", "1"]


def test_a_vertical_run_is_said_to_record_no_clients_per_round(tmp_path) -> None:
    """It said 'recorded no client in round 1; it recorded rounds 1 to 2' - recorded, and not."""
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("vfl", {"algorithm": "hetero_lr"})
    for epoch in (1, 2):
        store.log_round(run_id, epoch, {"loss": 0.5}, 0.1, 2, 0)
    with pytest.raises(ConfigError) as refused:
        round_clients_table(store, run_id, 1)
    message = str(refused.value)
    assert "vertical run" in message and "records no clients per round" in message
    assert "it recorded rounds" not in message


def test_a_round_recorded_without_clients_says_so(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {})
    store.log_round(run_id, 1, {}, 0.1, 0, 0)
    with pytest.raises(ConfigError, match="recorded round 1 with no client in it"):
        round_clients_table(store, run_id, 1)


def test_a_client_lost_from_both_phases_of_a_round_counts_one_failed_round(tmp_path) -> None:
    """The clients table gave client 9 '3 rounds, 4 failures': round 2 counted twice."""
    from rengo.core.client_record import ClientRecord

    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {})
    lost = "raised rengo.hfl.SimulatedClientLoss: dropped out"
    store.log_clients(
        run_id,
        [
            ClientRecord(1, "9", "evaluate", "failed", 0, 0, 0, 0.0, lost, None),
            ClientRecord(2, "9", "fit", "failed", 0, 0, 0, 0.0, lost, None),
            ClientRecord(2, "9", "evaluate", "failed", 0, 0, 0, 0.0, lost, None),
            ClientRecord(3, "9", "evaluate", "failed", 0, 0, 0, 0.0, lost, None),
            ClientRecord(3, "9", "fit", "ok", 5, 0, 0, 0.0, None, None),
        ],
    )
    (stats,) = store.client_stats(run_id)
    assert stats.rounds_participated == 3
    assert stats.failures == 3

"""``rengo tournament pay`` stopped partway (Ctrl-C, SIGTERM) and run again pays each
participant of a round exactly once."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.tracking import RunStore
from rengo.tracking import store as store_module
from tests.cli.tournament_steps import app, open_round, runner, submit_predictions


def _scored_round(tmp_path: Path) -> list[str]:
    """Open, submit (two participants) and score round 1; returns the ``--state`` option."""
    state, ids = open_round(tmp_path)
    with (tmp_path / "t-round1-live.csv").open(newline="", encoding="utf-8") as f:
        live = list(csv.DictReader(f))
    radius = np.array([float(r["mean radius"]) for r in live])
    good = 1.0 - (radius - radius.min()) / (radius.max() - radius.min())
    for name, values in (("alice", good), ("bob", 1.0 - good)):
        submitted = submit_predictions(tmp_path, state, name, ids, values.tolist(), "100.00")
        assert submitted.exit_code == 0, submitted.output
    targets = str(tmp_path / "t-round1-targets.csv")
    scored = runner.invoke(app, ["tournament", "score", "--targets", targets, *state])
    assert scored.exit_code == 0, scored.output
    return state


def _ledger(tmp_path: Path) -> list[Any]:
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        return store.ledger(run_id)


def test_pay_interrupted_after_the_first_ledger_line_pays_each_participant_once_when_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round's lines were one transaction per line: the rerun paid alice twice."""
    state = _scored_round(tmp_path)
    checked = {"amounts": 0}
    real_amount = store_module._amount

    def stop_at_the_second_line(value: Any) -> int | str:
        checked["amounts"] += 1
        if checked["amounts"] == 2:  # the first line is in the ledger (or its transaction)
            raise KeyboardInterrupt
        return real_amount(value)

    monkeypatch.setattr(store_module, "_amount", stop_at_the_second_line)
    stopped = runner.invoke(app, ["tournament", "pay", *state])
    assert stopped.exit_code == 130, stopped.output
    monkeypatch.setattr(store_module, "_amount", real_amount)
    assert _ledger(tmp_path) == []  # all of the round's lines or none
    rerun = runner.invoke(app, ["tournament", "pay", *state])
    assert rerun.exit_code == 0, rerun.output
    ledger = _ledger(tmp_path)
    assert Counter(e.participant for e in ledger) == {"alice": 1, "bob": 1}
    assert json.loads((tmp_path / "t.json").read_text())["paid_rounds"] == [1]


def test_pay_interrupted_after_the_round_was_written_marks_it_paid_without_paying_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after the round's lines were committed but before the state said so, the
    rerun found the round unpaid in the state and paid it a second time."""
    state = _scored_round(tmp_path)
    real_log_event = RunStore.log_event

    def stop_when_paid(
        self: RunStore, run_id: str, level: str, message: str, round: int | None = None
    ) -> None:
        if message.startswith("paid rounds"):  # the round's lines are committed by now
            raise KeyboardInterrupt
        real_log_event(self, run_id, level, message, round)

    monkeypatch.setattr(RunStore, "log_event", stop_when_paid)
    stopped = runner.invoke(app, ["tournament", "pay", *state])
    assert stopped.exit_code == 130, stopped.output
    monkeypatch.setattr(RunStore, "log_event", real_log_event)
    assert json.loads((tmp_path / "t.json").read_text())["paid_rounds"] == []
    rerun = runner.invoke(app, ["tournament", "pay", *state])
    assert rerun.exit_code == 0, rerun.output
    assert "already in the ledger" in rerun.output
    ledger = _ledger(tmp_path)
    assert Counter(e.participant for e in ledger) == {"alice": 1, "bob": 1}
    assert json.loads((tmp_path / "t.json").read_text())["paid_rounds"] == [1]
    again = runner.invoke(app, ["tournament", "pay", *state])
    assert again.exit_code == 0 and "nothing to pay" in again.output


def test_pay_refuses_rounds_of_a_run_paid_as_a_whole_and_keeps_the_run_resumable(
    tmp_path: Path,
) -> None:
    """A whole-run reward line pays every round: writing the rounds would pay them twice."""
    state = _scored_round(tmp_path)
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        store.append_ledger(run_id, None, "alice", "reward", 700)
    refused = runner.invoke(app, ["tournament", "pay", *state])
    assert refused.exit_code == 2 and "paid as a whole" in refused.output
    with RunStore(tmp_path / "runs.db") as store:
        assert [e.kind for e in store.ledger(run_id)] == ["reward"]
        assert store.get_run(run_id).status != "failed"


def test_a_tournament_with_its_own_decimals_reads_back_its_payouts_as_paid(tmp_path: Path):
    """A tournament opened with --decimals 4 paid 5.0000 tokens on a 100.0000 stake;
    `rengo rewards export` read the 50000 minor units with 2 decimals: 500.00."""
    from rengo.cli.main import app as rengo

    state = ["--state", str(tmp_path / "t.json")]
    store = ["--store", str(tmp_path / "runs.db")]
    opened = runner.invoke(
        app, ["tournament", "open", "--dataset", "breast_cancer", "--currency", "tokens",
              "--decimals", "4", *store, *state],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    with (tmp_path / "t-round1-targets.csv").open(newline="", encoding="utf-8") as f:
        truth = {r["id"]: float(r["target"]) for r in csv.DictReader(f)}
    predictions = tmp_path / "p.csv"
    predictions.write_text(
        "id,prediction\n" + "".join(f"{i},{0.1 + 0.8 * t}\n" for i, t in truth.items())
    )
    submit = ["tournament", "submit", "--participant", "a", "--predictions", str(predictions)]
    assert runner.invoke(app, [*submit, "--stake", "100", *state]).exit_code == 0
    targets = ["--targets", str(tmp_path / "t-round1-targets.csv")]
    assert runner.invoke(app, ["tournament", "score", *targets, *state]).exit_code == 0
    assert runner.invoke(app, ["tournament", "pay", *state]).exit_code == 0
    run = json.loads((tmp_path / "t.json").read_text())["run_id"]
    out = tmp_path / "ledger.csv"
    exported = runner.invoke(rengo, ["rewards", "export", run, "--csv", str(out), *store])
    assert exported.exit_code == 0, exported.output
    with out.open(newline="", encoding="utf-8") as f:
        assert [r["amount"] for r in csv.DictReader(f)] == ["5.0000"]


def test_each_ledger_line_names_the_corr_mmc_and_score_its_amount_comes_from(
    tmp_path: Path,
) -> None:
    """A participant's ledger line said only 'stake x clip(+0.05, ±0.05)': not the CORR and
    MMC it was paid on, which `score` printed once to the operator's terminal."""
    state = _scored_round(tmp_path)
    assert runner.invoke(app, ["tournament", "pay", *state]).exit_code == 0
    result = json.loads((tmp_path / "t.json").read_text())["tournament"]["rounds"][0]["result"]
    for line in _ledger(tmp_path):
        s = result["scores"][line.participant]
        assert line.reason.startswith(
            f"round 1, stake 100.00 credits, CORR {s['corr']:+.4f}, MMC {s['mmc']:+.4f}, "
            f"score {s['score']:+.4f}: stake x clip("
        ), line.reason


def test_score_names_participants_whose_predictions_are_copies(tmp_path: Path) -> None:
    """judy submitted alice's file exactly: the two were scored and paid alike and the
    operator was told nothing."""
    state, ids = open_round(tmp_path)
    rng = np.random.default_rng(0)
    own, other = rng.random(len(ids)), rng.random(len(ids))
    for name, values in (("alice", own), ("bob", other), ("judy", own)):
        submitted = submit_predictions(tmp_path, state, name, ids, values.tolist(), "10")
        assert submitted.exit_code == 0, submitted.output
    targets = str(tmp_path / "t-round1-targets.csv")
    scored = runner.invoke(app, ["tournament", "score", "--targets", targets, *state])
    assert scored.exit_code == 0, scored.output
    output = " ".join(scored.output.split())
    assert "note: alice, judy submitted the same predictions on every row" in output
    assert "bob" not in output.split("note:")[1]


def test_a_pay_stopped_before_its_ledger_lines_logs_each_score_once_when_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scores (contributions) were logged outside the ledger's transaction: a pay
    stopped between the two and run again left two score rows per participant."""
    state = _scored_round(tmp_path)

    def stopped(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(RunStore, "append_ledger_lines", stopped)
    assert runner.invoke(app, ["tournament", "pay", *state]).exit_code == 130
    monkeypatch.undo()
    assert runner.invoke(app, ["tournament", "pay", *state]).exit_code == 0
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        logged = Counter((c.round, c.participant) for c in store.contributions(run_id))
    assert logged == {(1, "alice"): 1, (1, "bob"): 1}
    assert {line.participant for line in _ledger(tmp_path)} == {"alice", "bob"}

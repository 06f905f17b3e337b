"""A central-DP run records the dp-accounting release its epsilons were computed with. A
resume under another release goes on, as under another rengo release (every epsilon is
recomposed over all rounds with the installed library): a warning, on the console and among
the run's events, names both releases and the first round the new one accounted, the run's
config names the new one, and the card names both. A run recorded before runs named the
release gets the installed one filled in on resume, with the same event."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from rengo.hfl import Client, DifferentialPrivacy, FedAvg, RoundRecord, simulate, softmax_init
from rengo.tracking import RunStore
from rengo.tracking.run_card import model_card

pytest.importorskip("dp_accounting")

IDS = [str(i) for i in range(6)]


def _dp() -> DifferentialPrivacy:
    from rengo.privacy import CentralDP

    return DifferentialPrivacy(FedAvg(), CentralDP(noise_multiplier=2.0, delta=1e-3))


def _interrupted_after_round_2(path: Path, client_fn: Callable[[str], Client]) -> str:
    def stop(record: RoundRecord) -> None:
        if record.server_round == 2:
            raise KeyboardInterrupt

    with RunStore(path) as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(
                client_fn, IDS, _dp(), softmax_init(4, 3), 4, seed=2, store=store, progress=stop
            )
        return store.list_runs()[0].run_id


def _accountant_row(card: str) -> str:
    (row,) = [line for line in card.splitlines() if line.startswith("| central DP: accountant")]
    return row


def test_a_resume_under_another_dp_accounting_release_goes_on_and_the_record_names_both(
    tmp_path: Path,
    logistic_client_fn: Callable[[str], Client],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_id = _interrupted_after_round_2(tmp_path / "runs.db", logistic_client_fn)
    with RunStore(tmp_path / "runs.db") as store:
        started = store.get_run(run_id).config["dp_accounting"]
        assert isinstance(started, str)
        monkeypatch.setattr("rengo.hfl.privacy_record.dp_accounting_version", lambda: "9.9.9")
        with caplog.at_level(logging.WARNING, logger="rengo"):
            history = simulate(
                logistic_client_fn, IDS, _dp(), softmax_init(4, 3), 4, seed=2, store=store,
                resume=run_id,
            )  # fmt: skip
        run = store.get_run(run_id)
        assert run.status == "completed" and history.last("dp_epsilon") is not None
        assert run.config["dp_accounting"] == "9.9.9"
        said = f"resumed under dp-accounting 9.9.9 (rounds 1-2 accounted with {started})"
        assert any(said in r.getMessage() for r in caplog.records)
        (event,) = [e for e in store.events(run_id, "warning") if said in e.message]
        assert "from round 3 on" in event.message and event.round == 2
        row = _accountant_row(model_card(store, run_id))
    assert "Google's dp-accounting 9.9.9" in row and f"accounted with {started}" in row


def test_a_run_recorded_before_runs_named_the_release_gets_it_on_resume(
    tmp_path: Path, logistic_client_fn: Callable[[str], Client]
) -> None:
    from rengo.privacy import dp_accounting_version

    path = tmp_path / "runs.db"
    run_id = _interrupted_after_round_2(path, logistic_client_fn)
    with sqlite3.connect(path) as conn:  # as an older release recorded it: no release
        (text,) = conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        config = json.loads(text)
        del config["dp_accounting"]
        conn.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config), run_id))
    conn.close()
    with RunStore(path) as store:
        simulate(
            logistic_client_fn, IDS, _dp(), softmax_init(4, 3), 4, seed=2, store=store,
            resume=run_id,
        )  # fmt: skip
        release = dp_accounting_version()
        assert store.get_run(run_id).config["dp_accounting"] == release
        (event,) = [
            e for e in store.events(run_id) if e.message.startswith("resumed under dp-accounting")
        ]
        assert f"every epsilon from round 3 on is {release}'s" in event.message
        row = _accountant_row(model_card(store, run_id))
    assert f"Google's dp-accounting {release}" in row and "release not recorded" not in row

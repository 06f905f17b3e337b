"""`rengo demo` on small settings: every part is a run in the store (horizontal, centralised,
vertical, tournament), Shapley time is shown apart from training time, and the vertical
story's federation beats the card issuer alone with the Shapley split paid into the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from rengo.tracking import RunStore

pytestmark = pytest.mark.slow


def test_every_part_of_the_demo_is_recorded(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from rengo.showcase import run_demo

    console = Console(width=120, record=True, color_system=None)
    store = tmp_path / "runs.db"
    results = run_demo(console, out=tmp_path, store_path=store, rounds=2, clients=4, seed=0)
    text = console.export_text()
    fedavg = results["hfl"]["FedAvg"]
    assert fedavg["contribution_s"] > 0 and fedavg["wall_time_s"] > 0
    assert "+ Shapley" in text and "shown apart" in text
    vertical = results["vertical"]
    assert vertical["auc"] > vertical["alone_auc"] + 0.05
    assert set(vertical["shapley"]) == {"bank", "telecom"}
    assert "Federating adds +" in text
    with RunStore(store) as s:
        runs = {r.name: r for r in s.list_runs()}
        assert {r.kind for r in runs.values()} == {"hfl", "centralised", "vfl", "tournament"}
        assert all(r.status == "completed" for r in runs.values())
        credit = runs["demo-credit"]
        assert {c.participant for c in s.contributions(credit.run_id)} == {"bank", "telecom"}
        assert sum(int(e.amount) for e in s.ledger(credit.run_id)) == 100_000
        assert credit.summary is not None and credit.summary["gain_auc"] > 0.05
        tournament = runs["demo-tournament"]
        assert len(s.ledger(tournament.run_id)) == 5 * 6
        assert runs["demo-centralised"].summary["central_accuracy"] > 0.5  # type: ignore[index]
        private = runs["demo-fedavg-dp"]  # apart from the plain FedAvg run it sits beside
        assert private.run_id != runs["demo-fedavg"].run_id
        assert s.round_metrics(private.run_id)["dp_epsilon"][-1][1] > 0
    assert "noised, eps" in text
    assert (tmp_path / "demo-hfl-accuracy.png").stat().st_size > 1000

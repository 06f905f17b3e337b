"""`runs show` of a run with a round cut short: the client-metrics table showed the clients
that answered before a deployed run was interrupted in round 2 (one party of three) as round
2's figures, and a round a party timed out of without saying whose metrics it held."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from rengo.core.errors import DataError
from rengo.tracking import RunStore, run_detail


def _render(renderable: object) -> str:
    console = Console(width=250, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _said(text: str) -> str:
    """The text with its line breaks and runs of spaces as single spaces."""
    return " ".join(text.split())


def _row(text: str, metric: str) -> list[str]:
    """The cells of ``metric``'s row of the client-metrics table."""
    line = next(line for line in text.splitlines() if line.startswith(f"│ {metric} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def _fit(store: RunStore, run_id: str, number: int, client: str, loss: float | None) -> None:
    if loss is None:
        store.log_client(
            run_id, number, client, "fit", "failed", 0, 10, 0, 5.0, "timed out (limit 5s)", None
        )
    else:
        store.log_client(run_id, number, client, "fit", "ok", 5, 10, 10, 0.1, None, {"loss": loss})


def _round_one_complete(store: RunStore) -> str:
    run_id = store.start_run("hfl-deployed", {}, name="consortium")
    for client, loss in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        _fit(store, run_id, 1, client, loss)
    store.log_round(run_id, 1, {"train_loss": 2.0}, 0.3, 3, 0)
    return run_id


def test_a_round_interrupted_midway_is_not_shown_as_the_rounds_client_metrics(
    store: RunStore,
) -> None:
    run_id = _round_one_complete(store)
    _fit(store, run_id, 2, "a", 0.5)  # round 2: only a answered before the interruption
    store.finish_run(run_id, "interrupted")
    text = _render(run_detail(store, run_id))
    # the table's figures are round 1's, all three clients: mean 2, not a's 0.5
    assert _row(text, "fit loss")[:4] == ["fit loss", "1", "3", "2"]
    assert (
        "round 2 was cut short (the run was interrupted during it): its fit metrics, of a "
        "(1 client), are not shown as that round's" in _said(text)
    )


def test_a_round_that_failed_names_whose_metrics_it_holds_and_who_gave_none(
    store: RunStore,
) -> None:
    run_id = _round_one_complete(store)
    _fit(store, run_id, 2, "a", 0.5)
    _fit(store, run_id, 2, "b", None)
    _fit(store, run_id, 2, "c", None)
    store.finish_run(run_id, "failed")
    text = _render(run_detail(store, run_id))
    assert (
        "round 2 was cut short (the run failed in it): its fit metrics, of a (1 client; no "
        "result from b, c), are not shown as that round's" in _said(text)
    )


def test_a_completed_round_a_party_timed_out_of_says_whose_metrics_it_holds(
    store: RunStore,
) -> None:
    run_id = _round_one_complete(store)
    _fit(store, run_id, 2, "a", 0.5)
    _fit(store, run_id, 2, "b", 1.5)
    _fit(store, run_id, 2, "c", None)
    store.log_round(run_id, 2, {"train_loss": 1.0}, 5.0, 3, 1)
    store.finish_run(run_id, "completed")
    text = _render(run_detail(store, run_id))
    assert _row(text, "fit loss")[:4] == ["fit loss", "2", "2", "1"]  # a's and b's
    assert (
        "round 2 fit: metrics of 2 of 3 clients (a, b); no result from c (c: timed out "
        "(limit 5s))" in _said(text)
    )


def test_coverage_splits_records_by_whether_their_round_completed(store: RunStore) -> None:
    from rengo.tracking.round_coverage import round_coverage

    run_id = _round_one_complete(store)
    _fit(store, run_id, 2, "b", 0.7)
    _fit(store, run_id, 2, "c", None)
    coverage = round_coverage(store.client_records(run_id), [1])
    assert sorted(r.client_id for r in coverage.completed) == ["a", "b", "c"]
    assert {r.round for r in coverage.completed} == {1}
    [cut] = coverage.cut_short
    assert (cut.round, cut.phase, cut.reported) == (2, "fit", ("b",))
    assert cut.failed == {"c": "timed out (limit 5s)"} and cut.asked == 2


def test_the_clients_plot_draws_completed_rounds_only(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rengo.tracking import plot_client_metrics, plots

    run_id = _round_one_complete(store)
    _fit(store, run_id, 2, "a", 0.5)  # round 2 cut short: a alone
    store.finish_run(run_id, "interrupted")
    figures: list[Any] = []
    drawn = plots._new_figure

    def kept(*args: Any) -> Any:
        figures.append(drawn(*args))
        return figures[-1]

    monkeypatch.setattr(plots, "_new_figure", kept)
    plot_client_metrics(store, run_id, tmp_path / "clients.png")
    assert figures[0].axes[0].get_title() == "fit loss (3 clients in round 1)"


def test_a_run_cut_short_in_its_first_round_has_no_client_plot_and_says_why(
    store: RunStore, tmp_path: Path
) -> None:
    from rengo.tracking import plot_client_metrics

    run_id = store.start_run("hfl-deployed", {}, name="early")
    _fit(store, run_id, 1, "a", 0.5)
    store.finish_run(run_id, "interrupted")
    with pytest.raises(
        DataError, match=re.escape("its only client metrics are of round(s) cut short: 1")
    ):
        plot_client_metrics(store, run_id, tmp_path / "clients.png")

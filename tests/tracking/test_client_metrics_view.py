"""`runs show` and `runs plot --clients` show how a run's client metrics spread over its
clients: hand-checked decile figures, the worst-served clients by name, and a real PNG."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from rengo.core.errors import DataError
from rengo.tracking import RunStore, client_metric_summary, plot_client_metrics, run_detail


def _render(renderable: object) -> str:
    console = Console(width=250, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _run_with_client_accuracy(store: RunStore) -> str:
    run_id = store.start_run("hfl", {}, name="fair")
    for number in (1, 2):
        for k in range(10):  # client-k has accuracy k/10 in round 1, (k+1)/11 in round 2
            value = k / 10 if number == 1 else (k + 1) / 11
            store.log_client(
                run_id,
                number,
                f"client-{k}",
                "evaluate",
                "ok",
                5,
                0,
                0,
                0.1,
                None,
                {"accuracy": value},
            )
            store.log_client(
                run_id,
                number,
                f"client-{k}",
                "fit",
                "ok",
                5,
                0,
                0,
                0.1,
                None,
                {"loss": float(k)},
            )
    store.log_client(run_id, 2, "client-x", "evaluate", "failed", 0, 0, 0, 0.1, "down", None)
    for number in (1, 2):  # both rounds completed
        store.log_round(run_id, number, {}, 0.1, 10, 0)
    return run_id


def test_summary_gives_last_rounds_mean_worst_decile_and_worst_clients(store: RunStore) -> None:
    run_id = _run_with_client_accuracy(store)
    summaries = {s.metric: s for s in client_metric_summary(store.client_records(run_id))}
    accuracy = summaries["evaluate accuracy"]
    assert accuracy.rounds == 2 and accuracy.last.round == 2 and accuracy.last.clients == 10
    assert accuracy.last.mean == pytest.approx(sum(range(1, 11)) / 110)
    assert accuracy.last.worst_decile == pytest.approx(1 / 11)  # one client of ten
    assert accuracy.first_worst_decile == pytest.approx(0.0)
    assert accuracy.worst_clients == ("client-0",)
    loss = summaries["fit loss"]  # a loss: the worst client has the highest value
    assert loss.worst_clients == ("client-9",) and loss.last.worst_decile == 9.0


def test_runs_show_prints_the_client_distribution(store: RunStore) -> None:
    run_id = _run_with_client_accuracy(store)
    text = _render(run_detail(store, run_id))
    assert "client metrics" in text and "worst 10 %" in text
    line = next(row for row in text.splitlines() if "evaluate accuracy" in row)
    assert "0.5" in line and "0.09091" in line and "client-0" in line


def test_no_client_metrics_no_table_and_no_plot(store: RunStore, tmp_path: Path) -> None:
    run_id = store.start_run("vfl", {})
    assert "client metrics" not in _render(run_detail(store, run_id))
    with pytest.raises(DataError, match="no per-client metrics"):
        plot_client_metrics(store, run_id, tmp_path / "c.png")


def test_clients_plot_is_a_png(store: RunStore, tmp_path: Path) -> None:
    run_id = _run_with_client_accuracy(store)
    path = plot_client_metrics(store, run_id, tmp_path / "clients.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_a_bytes_metric_is_kept_as_hex_text(store: RunStore) -> None:
    """Client metrics may be bytes (``rengo.core.messages.Scalar``); storing one ended a
    deployed run ('bytes is not JSON serialisable')."""
    run_id = store.start_run("hfl", {}, name="bytes-metric")
    store.log_client(run_id, 1, "c0", "fit", "ok", 5, 0, 0, 0.1, None, {"tag": b"\x01\xff"})
    (record,) = store.client_records(run_id)
    assert record.metrics == {"tag": "01ff"}


def test_runs_show_names_the_three_worst_clients_of_a_large_round_and_counts_the_rest(
    store: RunStore,
) -> None:
    """A round of 1,000 clients put its whole worst decile, 100 names, in one cell."""
    run_id = store.start_run("hfl", {})
    for k in range(1000):
        store.log_client(
            run_id, 1, f"c{k:04d}", "fit", "ok", 5, 0, 0, 0.1, None, {"loss": float(k)}
        )
    store.log_round(run_id, 1, {}, 1.0, 1000, 0)
    [loss] = client_metric_summary(store.client_records(run_id))
    assert len(loss.worst_clients) == 100  # the summary keeps the whole decile
    text = " ".join(_render(run_detail(store, run_id)).split())
    assert "c0999, c0998, c0997 (+97 more)" in text
    assert "c0996" not in text


def test_runs_show_reads_only_the_rounds_its_client_summary_shows(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read every client record of the run (200,000 for 2,000 rounds of 100 clients:
    8 s and every record in memory) to show two rounds of each metric."""
    from rengo.tracking.round_coverage import round_coverage

    run_id = store.start_run("hfl", {}, name="long")
    for number in range(1, 31):
        for k in range(6):
            metrics = {"loss": (k + number) / 7}
            if number >= 11:  # reported from round 11 on
                metrics["accuracy"] = ((k * number) % 5) / 5
            store.log_client(run_id, number, f"c{k}", "fit", "ok", 5, 0, 0, 0.1, None, metrics)
        if number < 30:  # round 30 is cut short: client records, no round record
            store.log_round(run_id, number, {"train_loss": 0.5}, 0.1, 6, 0)
    every = round_coverage(store.client_records(run_id), range(1, 30)).completed
    expected = client_metric_summary(every)
    read: list[int] = []
    client_records = store.client_records

    def counted(*args: object, **kwargs: object) -> list[object]:
        records = client_records(*args, **kwargs)  # type: ignore[arg-type]
        read.extend(record.round for record in records)
        return records  # type: ignore[return-value]

    monkeypatch.setattr(store, "client_records", counted)
    text = _render(run_detail(store, run_id))
    assert sorted(set(read)) == [1, 11, 29, 30]  # first and last of each metric, cut short
    for summary in expected:
        assert summary.metric in text and f"{summary.first_worst_decile:.4g}" in text
    assert "round 30" in text  # the cut-short round is still named


def test_a_round_whose_records_hold_nan_is_read_for_the_summary(store: RunStore) -> None:
    """Rounds are picked in SQL, whose JSON functions refuse NaN: a last round where every
    client's loss diverged to NaN was left out, and the table showed round 2's accuracy as
    the last though every client reported one in round 3."""
    from rengo.tracking.round_coverage import round_coverage

    run_id = store.start_run("hfl", {}, name="diverged")
    for number in (1, 2, 3):
        for k in range(4):
            loss = float("nan") if number == 3 else (k + 1) / number
            metrics = {"loss": loss, "accuracy": (k + number) / 10}
            store.log_client(run_id, number, f"c{k}", "fit", "ok", 5, 0, 0, 0.1, None, metrics)
        store.log_round(run_id, number, {"train_loss": 0.5}, 0.1, 4, 0)
    every = round_coverage(store.client_records(run_id), [1, 2, 3]).completed
    summaries = {s.metric: s for s in client_metric_summary(every)}
    assert summaries["fit accuracy"].last.round == 3
    text = _render(run_detail(store, run_id))
    assert f"{summaries['fit accuracy'].last.mean:.4g}" in text
    assert 3 in store.client_summary_rounds(run_id)

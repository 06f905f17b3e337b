"""Rich renderers show every recorded part of a run."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from rengo.tracking import RunStore, model_card, run_detail, runs_table
from rengo.tracking.tables import epsilon_shown, privacy_spent


def _render(renderable: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_runs_table_lists_each_run(store: RunStore) -> None:
    first = store.start_run("horizontal", {}, name="fedavg", seed=3)
    second = store.start_run("vertical", {})
    store.finish_run(first, "completed")
    text = _render(runs_table(store.list_runs()))
    assert first in text and second in text
    assert "fedavg" in text and "completed" in text and "running" in text
    assert text.index(second) < text.index(first)  # newest first


def test_run_detail_shows_config_summary_rounds_clients_and_events(store: RunStore) -> None:
    run_id = store.start_run("horizontal", {"strategy": "fedadam"}, name="adam")
    for number in range(1, 4):
        store.log_round(run_id, number, {"eval_accuracy": 0.25 * number}, 1.0, 2, 0)
    store.log_client(run_id, 1, "hospital-a", "fit", "failed", 0, 2048, 0, 1.0, "timeout", None)
    store.log_event(run_id, "warning", "hospital-a dropped", 1)
    store.log_contribution(run_id, None, "hospital-a", "shapley_mc", 0.125)
    store.append_ledger(run_id, None, "hospital-a", "reward", "3.25", "share", "EUR")
    store.save_checkpoint(run_id, 3, b"x")
    store.finish_run(run_id, "completed", {"final_accuracy": 0.75})
    text = _render(run_detail(store, run_id, max_rounds=2))
    for expected in (
        run_id,
        "fedadam",
        "final_accuracy",
        "rounds (last 2 of 3)",
        "eval_accuracy",
        "0.75",
        "hospital-a",
        "2.0 KiB",
        "timeout",
        "hospital-a dropped",
        "shapley_mc",
        "3.25",
        "latest round 3",
    ):
        assert expected in text, expected


def test_a_capped_claim_shows_as_the_clients_last_note(store: RunStore) -> None:
    """The coordinator capped a claim of 10^9 examples at 1,500 and recorded why on the kept
    result, but `runs show` listed the client with 'last failure -' only: the cap was
    visible in SQLite alone."""
    run_id = store.start_run("hfl-deployed", {})
    note = "weight capped: claimed 1000000000 examples, counted as 1500"
    store.log_client(run_id, 1, "hospA", "fit", "ok", 1500, 10, 10, 0.1, note, None)
    store.log_client(run_id, 1, "hospB", "fit", "ok", 500, 10, 10, 0.1, None, None)
    [capped, plain] = store.client_stats(run_id)
    assert capped.last_note == note and capped.last_failure is None
    assert plain.last_note is None
    text = " ".join(_render(run_detail(store, run_id)).split())
    assert "last note" in text and "counted as 1500" in text
    quiet = store.start_run("hfl", {})
    store.log_client(quiet, 1, "hospB", "fit", "ok", 500, 10, 10, 0.1, None, None)
    assert "last note" not in _render(run_detail(store, quiet))  # no column for nothing


def test_a_vertical_runs_rounds_show_as_epochs_of_parties_without_a_failed_column(
    store: RunStore,
) -> None:
    """A vertical run logs epochs, every party in each (a failing party ends the run): the
    table said "round", "clients" and a column of zeros under "failed"."""
    run_id = store.start_run("vfl", {"algorithm": "hetero_lr"}, name="credit")
    for epoch in (1, 2):
        store.log_round(run_id, epoch, {"train_loss": 0.6 / epoch}, 0.5, 3, 0)
    text = _render(run_detail(store, run_id))
    header = next(line for line in text.splitlines() if "train_loss" in line)
    assert header.split()[1:4] == ["epoch", "┃", "time"], header
    assert "parties" in header and "clients" not in header and "failed" not in header
    assert "epochs" in text.split()


def test_a_secureboost_runs_rounds_show_as_trees(store: RunStore) -> None:
    """SecureBoost's epochs are boosting rounds: the table said "epochs" and "epoch"."""
    run_id = store.start_run("vfl", {"algorithm": "secureboost"}, name="sbt")
    for tree in (1, 2):
        store.log_round(run_id, tree, {"train_loss": 0.6 / tree}, 0.5, 2, 0)
    text = _render(run_detail(store, run_id))
    header = next(line for line in text.splitlines() if "train_loss" in line)
    assert header.split()[1:4] == ["tree", "┃", "time"], header
    assert "trees" in text.split() and "epochs" not in text.split()


def test_nested_settings_show_as_dotted_keys_and_long_number_lists_as_a_count(
    store: RunStore,
) -> None:
    """A job's settings were one JSON blob cut at 300 characters ("... (892 characters)"),
    hiding most of them, and its 64-feature scaling a run of 16-digit floats."""
    settings = {"train": {"lr": 0.05, "batch_size": 32}, "strategy": {"options": {"eta": 0.03}}}
    scaling = {"mean": [0.1 * i for i in range(64)]}
    run_id = store.start_run("hfl", {"job_settings": settings, "scaling": scaling})
    text = " ".join(_render(run_detail(store, run_id)).split())
    for shown in (
        "job_settings.train.lr │ 0.05",
        "job_settings.train.batch_size │ 32",
        "job_settings.strategy.options.eta │ 0.03",
        "scaling.mean │ 64 numbers: 0, 0.1, 0.2, 0.3, 0.4, 0.5, ...",
    ):
        assert shown in text, shown
    assert "characters)" not in text


def test_a_runs_summary_shows_floats_to_four_digits_as_its_rounds_do(store: RunStore) -> None:
    """The summary printed ``wall_time_s 5.2020013090004795`` beside rounds at 4 digits."""
    run_id = store.start_run("hfl", {"lr": 0.123456789})
    store.finish_run(run_id, "completed", {"wall_time_s": 5.2020013090004795, "rows": 397})
    text = " ".join(_render(run_detail(store, run_id)).split())
    assert "wall_time_s │ 5.202 │" in text and "rows │ 397 │" in text
    assert "lr │ 0.123456789 │" in text  # settings show as they were given


def test_a_run_of_many_clients_lists_a_few_the_failing_first_and_counts_the_rest(
    store: RunStore,
) -> None:
    """A 1,000-client run's `rengo runs show` listed every client that took part: 923 lines
    for 407 clients at 80 columns."""
    run_id = store.start_run("hfl", {})
    for i in range(300):
        failed = i in (7, 250)
        status, reason = ("failed", f"raised KeyError: 'c{i:03d}'") if failed else ("ok", None)
        store.log_client(run_id, 1, f"c{i:03d}", "fit", status, 5, 10, 10, 0.1, reason, None)
    text = _render(run_detail(store, run_id))
    assert "clients (20 of 300, most failures first; 2 failed at least once" in text
    listed = sorted((text.index(f"│ c{i:03d} "), i) for i in range(300) if f"│ c{i:03d} " in text)
    assert len(listed) == 20 and [i for _, i in listed[:2]] == [7, 250]
    assert len(text.splitlines()) < 80
    every = _render(run_detail(store, run_id, max_clients=None))
    assert all(f"c{i:03d} " in every for i in range(300))


def test_a_run_of_many_participants_shows_their_top_contributions_and_last_ledger_lines(
    store: RunStore,
) -> None:
    """300 clients valued over 5 rounds and paid printed 1,500 + 300 contribution rows and
    300 ledger lines in `rengo runs show` (1,242 lines for 125 participants)."""
    run_id = store.start_run("hfl", {})
    for i in range(300):
        for round_ in range(1, 6):
            store.log_contribution(run_id, round_, f"p{i:03d}", "loo", i / 1000)
        store.log_contribution(run_id, None, f"p{i:03d}", "loo", (i * 37 % 300) / 100)
        store.append_ledger(run_id, None, f"p{i:03d}", "reward", f"{i}.00", "share", "EUR")
    text = _render(run_detail(store, run_id))
    words = " ".join(text.split())
    assert "contributions (20 of 300 participants' run totals, highest first" in words
    assert "ledger (last 20 of 300; rengo rewards show RUN lists every one)" in words
    best = max(range(300), key=lambda i: i * 37 % 300)
    assert f"│   run │ p{best:03d} " in text
    assert text.count("│ loo ") == 20 and "│     1 │" not in text  # no per-round rows
    assert "p299" in text.split("ledger (")[1] and "p000" not in text.split("ledger (")[1]
    every = _render(run_detail(store, run_id, max_clients=None))
    assert every.count("│ loo ") == 1800


def test_rounds_shorter_than_a_tenth_of_a_second_show_their_milliseconds(
    store: RunStore,
) -> None:
    """500 simulated rounds of 15 ms each all read '0.0s' in `runs show`."""
    run_id = store.start_run("hfl", {})
    store.log_round(run_id, 1, {"train_loss": 0.5}, 0.0152, 30, 0)
    store.log_round(run_id, 2, {"train_loss": 0.4}, 2.43, 30, 0)
    store.finish_run(run_id, "completed")
    text = _render(run_detail(store, run_id))
    assert "15ms" in text and "2.4s" in text and "0.0s" not in text


def test_a_run_whose_client_reported_a_nan_or_infinite_metric_shows_its_local_epsilon(
    store: RunStore,
) -> None:
    """A client's diverged loss (NaN, or inf) made `rengo runs show` (and the dashboard's
    run page) call the whole store damaged: SQLite's JSON functions refuse NaN and
    Infinity, and the local-privacy line read every fit record's metrics with them."""
    run_id = store.start_run("horizontal", {})
    store.log_client(run_id, 1, "a", "fit", "ok", 5, 1, 1, 0.1, None, {"dp_epsilon": 2.0})
    store.log_client(
        run_id, 2, "a", "fit", "ok", 5, 1, 1, 0.1, None, {"dp_epsilon": 3.0, "loss": float("nan")}
    )
    store.log_client(
        run_id, 2, "b", "fit", "ok", 5, 1, 1, 0.1, None, {"dp_epsilon": 1.0, "loss": float("inf")}
    )
    store.log_client(run_id, 3, "c", "fit", "ok", 5, 1, 1, 0.1, None, {"dp_epsilon": float("nan")})
    store.log_round(run_id, 1, {"loss": 1.0}, 1.0, 3, 0)
    assert store.client_metric_peaks(run_id, "dp_epsilon") == {"a": (3.0, 2), "b": (1.0, 2)}
    text = _render(run_detail(store, run_id))
    assert "local DP: epsilon up to 3 (client a, the worst of 2) after 2 rounds" in text


def test_a_run_s_detail_displays_in_a_notebook_as_a_runs_table_does(store: RunStore) -> None:
    """A notebook shows a cell's last value through ``_repr_mimebundle_``: rich's Table has
    one, its Group did not, so ``run_detail(store, run)`` showed ``<rich.console.Group at
    0x...>``."""
    run_id = store.start_run("horizontal", {"strategy": "fedadam"}, name="adam")
    store.log_round(run_id, 1, {"eval_accuracy": 0.5}, 1.0, 2, 0)
    store.finish_run(run_id, "completed")
    for shown in (run_detail(store, run_id), runs_table(store.list_runs())):
        bundle = shown._repr_mimebundle_(include=[], exclude=[])  # type: ignore[union-attr]
        assert run_id in bundle["text/plain"] and run_id in bundle["text/html"]


def test_what_parties_wrote_is_shown_as_written_never_read_as_console_markup(
    tmp_path: Path,
) -> None:
    """A deployed party names its own metrics and writes why it failed a request: rich read
    ``[/x]`` in one as a closing tag and ``rengo runs show`` failed with MarkupError."""
    store = RunStore(tmp_path / "runs.db")
    with store.run("hfl-deployed", {}, name="consortium") as run:
        store.log_round(run.run_id, 1, {"loss": 0.5, "[/x]": 1.0}, 1.0, 2, 1)
        store.log_client(run.run_id, 1, "bank", "fit", "ok", 10, 1, 1, 0.1, metrics={"[/x]": 1.0})
        store.log_client(
            run.run_id, 1, "card", "fit", "failed", 0, 1, 1, 0.1, reason="[bold]no[/bold] [/y]"
        )
        store.log_event(run.run_id, "warning", "party card says [link=https://evil.example]hi")
    console = Console(width=250, record=True, color_system=None)
    console.print(run_detail(store, run.run_id))
    text = console.export_text()
    for written in ("[/x]", "[bold]no[/bold] [/y]", "[link=https://evil.example]hi"):
        assert written in text


@pytest.fixture
def in_berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone is Europe/Berlin (a coordinator in Köln)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("in_berlin")
def test_a_runs_times_show_with_their_utc_offset(store: RunStore) -> None:
    # local wall-clock times without a zone read as another moment on a machine elsewhere
    run_id = store.start_run("horizontal", {}, name="Studie Köln")
    store.log_event(run_id, "info", "Universitätsklinikum Köln joined", None)
    store.finish_run(run_id, "completed")
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "UPDATE runs SET started_at = ?, finished_at = ? WHERE run_id = ?",
            ("2026-12-06T08:00:00+00:00", "2026-07-01T08:00:00+00:00", run_id),
        )
    text = _render(run_detail(store, run_id))
    assert "2026-12-06 09:00:00+01:00" in text  # CET
    assert "2026-07-01 10:00:00+02:00" in text  # CEST
    assert "Studie Köln" in text and "Universitätsklinikum Köln joined" in text


def test_a_local_dp_run_under_secure_aggregation_says_where_its_epsilon_is(
    store: RunStore,
) -> None:
    """Local DP with secure aggregation: the clients' dp_epsilon fit metrics stay with them,
    and `rengo runs show` (and the model card) said nothing about privacy at all, as if the
    run had none. The line now says the job's DP-SGD settings and why no epsilon is here."""
    local = {"noise_multiplier": 1.1, "max_grad_norm": 0.5, "delta": 1e-3, "accountant": "rdp"}
    privacy = {"dp": "local", "local": local, "secagg": {"neighbours": 0}, "central": None}
    run_id = store.start_run("horizontal", {"job_settings": {"privacy": privacy}})
    store.log_client(run_id, 1, "a", "fit", "ok", 0, 1, 1, 0.1, None, {})
    store.log_round(run_id, 1, {"central_loss": 1.0}, 1.0, 1, 0)
    assert privacy_spent(store, run_id) == (
        "local DP (DP-SGD: noise multiplier 1.1, max_grad_norm 0.5, delta 0.001, accountant "
        "rdp): no client's epsilon reached the coordinator: secure aggregation keeps each "
        "client's fit metrics, its dp_epsilon among them, at the client"
    )
    assert "no client's epsilon reached the coordinator" in model_card(store, run_id)
    plain = store.start_run("horizontal", {"job_settings": {"privacy": {"dp": "none"}}})
    assert privacy_spent(store, plain) is None


def test_an_epsilon_is_shown_rounded_up_never_below_the_bound() -> None:
    """`rengo runs show` printed 2.27208 as 'epsilon 2.272': a privacy bound an officer
    signs read below what the accountant certified."""
    assert epsilon_shown(2.2720835818037335) == "2.273"
    assert epsilon_shown(21.99586765716419) == "22"
    assert epsilon_shown(8.738877255949207) == "8.739"
    assert epsilon_shown(2.272) == "2.272"  # exact at 4 digits: unchanged
    assert epsilon_shown(123456.7) == "1.2350e+05"
    rng = __import__("numpy").random.default_rng(0)
    for value in 10.0 ** rng.uniform(-4, 4, 500):
        shown = float(epsilon_shown(float(value)))
        assert value <= shown <= value * (1 + 1e-3)


def test_a_rounds_epsilon_column_is_rounded_up_as_the_summary_line_is(tmp_path: Path) -> None:
    """`rengo runs show` said 'epsilon 2.273' in its summary and 2.272 in the round table's
    dp_epsilon column on the same screen."""
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {}) as run:
            store.log_round(
                run.run_id, 1, {"dp_epsilon": 2.2720835818, "loss": 0.123456}, 0.1, 2, 0
            )
        console = Console(width=200, record=True, color_system=None)
        console.print(run_detail(store, run.run_id))
    text = console.export_text()
    assert "2.273" in text and "2.272" not in text
    assert "0.1235" in text  # other metrics keep 4 significant digits, to nearest


def test_a_clients_epsilon_in_the_client_metrics_table_is_rounded_up(tmp_path: Path) -> None:
    """The client-metrics table showed a client's local-DP epsilon 2.27208 as 2.272, below
    the 'local DP: epsilon up to 2.273' line on the same screen."""
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {}) as run:
            for client in ("a", "b"):
                metrics = {"dp_epsilon": 2.2720835818, "dp_delta": 1e-5}
                store.log_client(run.run_id, 1, client, "fit", "ok", 5, 1, 1, 0.1, None, metrics)
            store.log_round(run.run_id, 1, {"loss": 0.5}, 0.1, 2, 0)
        console = Console(width=250, record=True, color_system=None)
        console.print(run_detail(store, run.run_id))
    text = console.export_text()
    assert "2.273" in text and "2.272" not in text

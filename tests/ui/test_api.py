"""Every dashboard endpoint returns the store's numbers, exactly, for a hand-made store."""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the ui extra: pip install 'rengo[ui]'")
from fastapi.testclient import TestClient

from rengo.tracking import RunStore
from rengo.ui import create_app, views
from rengo.ui.views import presence_view
from tests.ui.conftest import (
    ACCURACY,
    CLIENT_ACCURACY,
    CONTRIBUTION,
    LOSS,
    PAYOUT,
    ROUND_SECONDS,
    TIMEOUT,
    Recorded,
)


@pytest.fixture
def client(recorded: Recorded) -> Iterator[TestClient]:
    with TestClient(create_app(recorded.path)) as test_client:
        yield test_client


def test_health_says_read_only(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["read_only"] is True and body["store"] == "runs.db"


def test_runs_list_newest_first_with_round_counts_and_headline(
    client: TestClient, recorded: Recorded
) -> None:
    body = client.get("/api/runs").json()
    ids = [r["run_id"] for r in body["runs"]]
    assert ids == [recorded.tournament, recorded.deployed, recorded.beta, recorded.alpha]
    alpha = body["runs"][-1]
    assert alpha["rounds"] == 3 and alpha["planned_rounds"] == 3 and alpha["status"] == "completed"
    assert alpha["headline"] == {"metric": "central_accuracy", "value": 0.75, "spark": ACCURACY}
    assert body["kinds"] == ["hfl", "hfl-deployed", "tournament"]
    assert body["runs"][0]["rounds"] == 2 and body["runs"][0]["headline"] is None  # scored
    assert body["statuses"] == ["completed", "running"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("kind=hfl", ["beta", "alpha"]),
        ("status=running", ["live", "beta"]),
        ("q=ALP", ["alpha"]),
        ("kind=hfl&status=completed", ["alpha"]),
        ("kind=vfl", []),
    ],
)
def test_runs_list_filters(client: TestClient, query: str, names: list[str]) -> None:
    assert [r["name"] for r in client.get(f"/api/runs?{query}").json()["runs"]] == names


def test_runs_list_filters_by_start_day(client: TestClient, recorded: Recorded) -> None:
    today = datetime.now(timezone.utc).astimezone().date()
    everything = client.get(f"/api/runs?since={today}&until={today}").json()
    assert everything["total"] == 4
    before = client.get(f"/api/runs?until={today - timedelta(days=1)}").json()
    assert before["runs"] == [] and before["total"] == 0
    assert client.get("/api/runs?q=" + recorded.alpha).json()["total"] == 1
    bad = client.get("/api/runs?since=last-week")
    assert bad.status_code == 400 and "since must be a date" in bad.json()["detail"]
    assert date.fromisoformat(str(today))  # the format the page sends


def test_run_overview_has_every_round_and_nan_as_null(
    client: TestClient, recorded: Recorded
) -> None:
    body = client.get(f"/api/runs/{recorded.alpha[:-2]}").json()  # a unique prefix works
    run = body["run"]
    assert run["run_id"] == recorded.alpha and run["seed"] == 3 and run["config"]["lr"] == 0.1
    assert run["summary"] == {"wall_time_s": 3.75}
    assert [r["round"] for r in body["rounds"]] == [1, 2, 3]
    assert [r["duration_s"] for r in body["rounds"]] == ROUND_SECONDS
    assert [r["num_failures"] for r in body["rounds"]] == [0, 1, 0]
    assert body["series"]["central_accuracy"] == [[1, 0.5], [2, 0.625], [3, 0.75]]
    assert body["series"]["central_loss"] == [[1, LOSS[0]], [2, LOSS[1]], [3, None]]
    assert body["families"] == {"accuracy": ["central_accuracy"], "loss": ["central_loss"]}
    assert body["headline"] == {"metric": "central_accuracy", "best": {"round": 3, "value": 0.75}}
    assert body["checkpoints"] == [3]


def test_unknown_and_ambiguous_runs_are_clear_errors(client: TestClient) -> None:
    missing = client.get("/api/runs/nope/clients")
    assert missing.status_code == 404 and "no run with id" in missing.json()["detail"]
    ambiguous = client.get("/api/runs/2")  # every id starts with the year
    assert ambiguous.status_code == 400 and "matches several runs" in ambiguous.json()["detail"]


def test_clients_participation_failures_traffic_and_spread(
    client: TestClient, recorded: Recorded
) -> None:
    body = client.get(f"/api/runs/{recorded.alpha}/clients").json()
    assert body["rounds"] == [1, 2, 3]
    assert body["participation"] == {"c1": "ooo", "c2": "ooo", "c3": "oxo"}
    assert body["failures"] == [{"round": 2, "client": "c3", "phase": "fit", "reason": TIMEOUT}]
    stats = {c["client_id"]: c for c in body["clients"]}
    assert stats["c3"]["failures"] == 1 and stats["c3"]["last_failure"] == TIMEOUT
    assert stats["c1"]["bytes_sent"] == 3 * (100 + 100) and stats["c1"]["num_examples"] == 30
    second = body["traffic"][1]
    assert second == {
        "round": 2,
        "bytes_sent": 6 * 100,
        "bytes_received": 2 * 50 + 3 * 10,
        "ok": 2,
        "failed": 1,
        "mean_fit_s": pytest.approx((0.5 + 0.5 + 5.0) / 3),
        "max_fit_s": 5.0,
    }
    accuracy = body["spread"]["evaluate accuracy"]
    assert accuracy["lower_is_better"] is False
    first = accuracy["rounds"][0]
    assert first["mean"] == pytest.approx(sum(v[0] for v in CLIENT_ACCURACY.values()) / 3)
    assert first["worst_decile"] == 0.1 and first["best_decile"] == 0.6 and first["clients"] == 3
    loss = body["spread"]["fit loss"]
    assert loss["lower_is_better"] is True
    assert [r["clients"] for r in loss["rounds"]] == [3, 2, 3]  # the failed fit has no loss
    assert loss["rounds"][1]["worst_decile"] == 0.7 and loss["rounds"][1]["best_decile"] == 0.6


def test_events_after_a_sequence_number(client: TestClient, recorded: Recorded) -> None:
    body = client.get(f"/api/runs/{recorded.alpha}/events").json()
    assert [e["level"] for e in body["events"]] == ["info", "warning"]
    assert body["events"][1]["round"] == 2 and TIMEOUT in body["events"][1]["message"]
    later = client.get(f"/api/runs/{recorded.alpha}/events?after={body['events'][0]['seq']}")
    assert [e["level"] for e in later.json()["events"]] == ["warning"]


def test_presence_online_offline_and_stale(client: TestClient, recorded: Recorded) -> None:
    body = client.get(f"/api/runs/{recorded.deployed}/presence").json()
    states = {p["party"]: p["state"] for p in body["parties"]}
    assert states == {"bank": "online", "clinic": "offline"} and body["online"] == 1
    clinic = body["parties"][1]
    assert clinic["reason"] == "no heartbeat for 5s" and clinic["joins"] == 2
    with RunStore(recorded.path, read_only=True) as store:
        later = datetime.now(timezone.utc) + timedelta(minutes=5)  # nobody refreshed it since
        assert presence_view(store, recorded.deployed, later)["parties"][0]["state"] == "unknown"
    assert client.get(f"/api/runs/{recorded.alpha}/presence").json()["parties"] == []


def test_rewards_contributions_and_ledger_amounts(client: TestClient, recorded: Recorded) -> None:
    body = client.get(f"/api/runs/{recorded.alpha}/rewards").json()
    assert body["methods"] == ["gtg"]
    assert body["contributions"]["totals"] == CONTRIBUTION
    assert body["contributions"]["per_round"] == {
        "1": {"c1": 0.2},
        "2": {"c1": 0.2},
        "3": {"c1": 0.2},
    }
    assert [(p["participant"], p["amount_minor"], p["amount"]) for p in body["payouts"]] == [
        ("c1", 6000, "60.00"),
        ("c2", 4000, "40.00"),
    ]
    assert [e["amount"] for e in body["ledger"]] == ["60.00", "40.00"]
    assert sum(PAYOUT.values()) == sum(p["amount_minor"] for p in body["payouts"])
    unknown = client.get(f"/api/runs/{recorded.alpha}/rewards?method=shapley")
    assert (
        unknown.status_code == 400 and "has no 'shapley' contributions" in unknown.json()["detail"]
    )


def test_tournament_leaderboard_equals_the_tournaments_own(
    client: TestClient, recorded: Recorded
) -> None:
    body = client.get(f"/api/runs/{recorded.tournament}/tournament").json()
    reference = recorded.tournament_sim.tournament.leaderboard()  # type: ignore[attr-defined]
    by_name = {e["participant"]: e for e in body["leaderboard"]}
    assert set(by_name) == {e.participant for e in reference}
    for entry in reference:
        mine = by_name[entry.participant]
        assert mine["net_payout_minor"] == entry.total_payout_minor
        assert mine["mean_corr"] == pytest.approx(entry.mean_corr, abs=1e-12)
        assert mine["mean_mmc"] == pytest.approx(entry.mean_mmc, abs=1e-12)
        assert mine["rounds"] == entry.rounds
    results = recorded.tournament_sim.results  # type: ignore[attr-defined]
    good = results[0].scores["good"]
    assert body["scores"]["good"][0] == [1, pytest.approx(good.score)]
    eras = [e for e in body["eras"]["good"] if e["round"] == 1]
    assert [e["era"] for e in eras] == [e.era for e in good.eras]
    assert [e["corr"] for e in eras] == pytest.approx([e.corr for e in good.eras])
    assert body["currency"] == "NMR"
    scores = [e["mean_score"] for e in body["leaderboard"]]
    assert scores == sorted(scores, reverse=True)


def test_tournament_eras_of_different_rounds_get_different_chart_positions(
    tmp_path: Path,
) -> None:
    """The "CORR per era" chart plotted each era at the number in its name; a CLI season
    whose round files each start at "era1" put every round's first era on x = 1, so round
    2's line folded back over round 1's. Each era now carries its place among every scored
    round's eras, rounds in order, each round's eras by their numbers (era9 before era10, where
    the scorer lists era10 first), shared by all participants (one missed round 1 and scored
    two of round 3's eras)."""

    def scored(eras: list[str], corr: float) -> dict[str, object]:
        per_era = [{"era": e, "corr": corr + i / 100, "mmc": 0.0} for i, e in enumerate(eras)]
        return {"stake_minor": 100, "corr": corr, "mmc": 0.0, "score": corr, "eras": per_era}

    summary = {
        "paid_rounds": [1, 2],
        "currency": "NMR",
        "decimals": 2,
        "rounds": [
            {"round": 1, "paid": True, "scores": {"ann": scored(["era1", "era2"], 0.1)}},
            {
                "round": 2,
                "paid": True,
                "scores": {
                    "ann": scored(["era1", "era2", "era3"], 0.2),
                    "bob": scored(["era1", "era2", "era3"], 0.3),
                },
            },
            {  # as the scorer lists them: by name as text, era10 before era9
                "round": 3,
                "paid": False,
                "scores": {
                    "ann": scored(["era10", "era11", "era8", "era9"], 0.1),
                    "bob": scored(["era11", "era9"], 0.1),  # scored two eras only
                },
            },
        ],
    }
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("tournament", {"rounds": 2}, name="season")
        store.finish_run(run, "completed", summary)
        body = views.tournament_view(store, run)
    ann = [(e["round"], e["era"], e["position"]) for e in body["eras"]["ann"]]
    assert ann == [
        (1, "era1", 1),
        (1, "era2", 2),
        (2, "era1", 3),
        (2, "era2", 4),
        (2, "era3", 5),
        (3, "era8", 6),
        (3, "era9", 7),
        (3, "era10", 8),
        (3, "era11", 9),
    ]
    bob = [(e["era"], e["position"]) for e in body["eras"]["bob"]]
    assert bob == [("era1", 3), ("era2", 4), ("era3", 5), ("era9", 7), ("era11", 9)]


def test_compare_two_runs(client: TestClient, recorded: Recorded) -> None:
    body = client.get(f"/api/compare?ids={recorded.alpha},{recorded.beta}").json()
    assert [r["name"] for r in body["runs"]] == ["alpha", "beta"]
    assert body["common"] == ["central_accuracy"]
    assert body["metrics"]["central_accuracy"][recorded.beta] == [[1, 0.55], [2, 0.6]]
    assert body["final"][recorded.alpha]["central_accuracy"] == 0.75
    assert body["final"][recorded.alpha]["central_loss"] is None  # NaN in the last round
    assert {d["key"] for d in body["config_differences"]} == {"lr", "strategy"}
    assert body["lower_is_better"] == {"central_accuracy": False, "central_loss": True}
    for ids in (recorded.alpha, f"{recorded.alpha},{recorded.alpha}"):
        refused = client.get(f"/api/compare?ids={ids}")
        assert refused.status_code == 400 and "two" in refused.json()["detail"]


def test_page_and_vendored_chart_library_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "rengo dashboard" in page.text
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page.text and "http" not in page.text
    script = client.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert script.status_code == 200 and "uPlot" in script.text[:200]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/vendor/uplot/LICENSE").text.startswith("The MIT License")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_event_stream_announces_a_change_version(client: TestClient) -> None:
    with client.stream("GET", "/api/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(lines) == ""
        assert next(lines) == "event: change"
        assert next(lines).startswith('data: {"version": ')


def test_metric_values_survive_as_floats(client: TestClient, recorded: Recorded) -> None:
    rounds = client.get(f"/api/runs/{recorded.alpha}").json()["rounds"]
    assert [r["metrics"]["central_accuracy"] for r in rounds] == ACCURACY
    assert math.isclose(rounds[1]["metrics"]["central_loss"], LOSS[1])


def test_a_non_finite_setting_reads_as_it_was_set_not_as_empty(tmp_path: Path) -> None:
    """A run configured with lr = nan showed ``lr null``, like a setting left empty, where
    `rengo runs show` says nan."""
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"lr": math.nan, "cap": math.inf, "nested": [-math.inf]})
        store.finish_run(run_id, "completed")
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        config = client.get(f"/api/runs/{run_id}").json()["run"]["config"]
    assert config == {"lr": "nan", "cap": "inf", "nested": ["-inf"]}


def test_a_long_run_is_shown_by_its_latest_rounds_with_totals_over_all(tmp_path: Path) -> None:
    """A run of 100,000 rounds made the clients endpoint take 31 s and 2.2 GB and the page
    107 s to draw: every round's rows went to the browser. Now the latest ROUNDS_SHOWN go,
    charts are thinned, and totals still count every round."""
    rounds, shown = 1_250, views.ROUNDS_SHOWN
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"scaling": list(range(500)), "lr": 0.1})
        for r in range(1, rounds + 1):
            store.log_round(run_id, r, {"central_accuracy": r / rounds}, 0.5, 2, 0)
            for client in ("a", "b"):
                store.log_client(run_id, r, client, "fit", "ok", 10, 100, 50, 0.1)
        for i in range(700):
            store.log_event(run_id, "info", f"event {i}")
        store.finish_run(run_id, "completed")
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        run = client.get(f"/api/runs/{run_id}").json()
        clients = client.get(f"/api/runs/{run_id}/clients").json()
        events = client.get(f"/api/runs/{run_id}/events?limit=100&after=50").json()
    assert run["rounds_total"] == rounds and len(run["rounds"]) == shown
    assert run["rounds"][0]["round"] == rounds - shown + 1 and run["rounds"][-1]["round"] == rounds
    assert run["headline"]["best"] == {"round": rounds, "value": 1.0}  # over every round
    assert run["series"]["central_accuracy"][-1] == [rounds, 1.0]
    config = run["run"]["config"]
    assert config["lr"] == 0.1 and config["scaling"] == "500 numbers: 0, 1, 2, 3, 4, 5, ..."
    assert clients["rounds_total"] == rounds and len(clients["rounds"]) == shown
    assert len(clients["participation"]["a"]) == shown and len(clients["traffic"]) == shown
    totals = {c["client_id"]: c for c in clients["clients"]}
    assert (
        totals["a"]["rounds_participated"] == rounds and totals["a"]["bytes_sent"] == 100 * rounds
    )
    assert events["total"] == 650 and len(events["events"]) == 100
    assert events["events"][-1]["message"] == "event 699"


def test_a_series_is_thinned_evenly_keeping_its_last_point() -> None:
    points = [(r, float(r)) for r in range(1, 10_001)]
    kept = views.thinned(points, 2_000)
    assert len(kept) <= 2_000 and kept[0] == (1, 1.0) and kept[-1] == (10_000, 10_000.0)
    gaps = {b[0] - a[0] for a, b in itertools.pairwise(kept)}
    assert max(gaps) <= 2 * min(gaps)
    assert views.thinned(points[:50], 2_000) == points[:50]


def test_a_runs_nested_settings_reach_the_dashboard_as_dotted_keys(tmp_path: Path) -> None:
    """The dashboard showed a job's settings as one JSON blob cut at 300 characters."""
    settings = {"train": {"lr": 0.05}, "strategy": {"name": "fedadam", "options": {"eta": 0.03}}}
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"job_settings": settings, "seed": 1})
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        config = client.get(f"/api/runs/{run_id}").json()["run"]["config"]
    assert config == {
        "job_settings.strategy.name": "fedadam",
        "job_settings.strategy.options.eta": 0.03,
        "job_settings.train.lr": 0.05,
        "seed": 1,
    }


def test_a_run_that_did_not_complete_says_why_and_a_completed_one_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        with pytest.raises(RuntimeError), store.run("hfl", {}, name="failed") as failed:
            raise RuntimeError("disk full\nTraceback (most recent call last): ...")
        with pytest.raises(KeyboardInterrupt), store.run("hfl", {}, name="stopped") as stopped:
            raise KeyboardInterrupt
        done = store.start_run("hfl", {}, name="done")
        store.finish_run(done, "completed")
    with TestClient(create_app(path)) as reader:
        failed_why = reader.get(f"/api/runs/{failed.run_id}").json()["run"]["why"]
        assert failed_why == "run failed: RuntimeError: disk full"  # the event's first line
        stopped_why = reader.get(f"/api/runs/{stopped.run_id}").json()["run"]["why"]
        assert stopped_why.startswith("run interrupted: KeyboardInterrupt; resume it from")
        assert reader.get(f"/api/runs/{done}").json()["run"]["why"] is None


def test_a_round_cut_short_is_not_in_the_spread_and_says_whose_metrics_it_holds(
    tmp_path: Path,
) -> None:
    """A deployed run interrupted while round 2 waited for two silent parties of three
    showed round 2's spread from party a alone, as round 2's."""
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl-deployed", {"rounds": 3}, "cut")
        for client, loss in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
            store.log_client(run_id, 1, client, "fit", "ok", 5, 10, 10, 0.1, None, {"loss": loss})
        store.log_round(run_id, 1, {"train_loss": 2.0}, 0.3, 3, 0)
        store.log_client(run_id, 2, "a", "fit", "ok", 5, 10, 10, 0.1, None, {"loss": 0.5})
        store.finish_run(run_id, "interrupted")
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        body = client.get(f"/api/runs/{run_id}/clients").json()
    loss = body["spread"]["fit loss"]["rounds"]
    assert [(r["round"], r["clients"], r["mean"]) for r in loss] == [(1, 3, 2.0)]
    assert body["cut_short"] == [{"round": 2, "phase": "fit", "reported": ["a"], "failed": {}}]
    assert body["participation"] == {"a": "oo", "b": "o.", "c": "o."}  # who answered, as before


def test_the_run_page_gives_the_privacy_spent_and_the_worst_local_epsilon(
    tmp_path: Path,
) -> None:
    """The dashboard showed a local-DP run's epsilon only as the round's train_dp_epsilon, the
    clients' mean (2.0 here, where client b spent 3.0), and no delta: the run page now has
    the privacy line of ``rengo runs show``."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        local = store.start_run("hfl", {}, name="local")
        for client, epsilon in (("a", 1.0), ("b", 3.0)):
            metrics = {"loss": 0.5, "dp_epsilon": epsilon, "dp_delta": 1e-5}
            store.log_client(local, 1, client, "fit", "ok", 10, 1, 1, 0.1, None, metrics)
        store.log_round(local, 1, {"train_dp_epsilon": 2.0}, 1.0, 2, 0)
        central = store.start_run("hfl", {}, name="central")
        store.log_round(central, 1, {"dp_epsilon": 1.5, "dp_delta": 1e-5}, 1.0, 2, 0)
        plain = store.start_run("hfl", {}, name="plain")
        store.log_round(plain, 1, {"train_loss": 0.5}, 1.0, 2, 0)
    with TestClient(create_app(path)) as reader:
        privacy = {
            run: reader.get(f"/api/runs/{run}").json()["run"]["privacy"]
            for run in (local, central, plain)
        }
    assert privacy == {
        local: "local DP: epsilon up to 3 at delta 1e-05 (client b, the worst of 2) after 1 rounds",
        central: "epsilon 1.5 at delta 1e-05 after 1 rounds",
        plain: None,
    }


def test_compare_names_the_nested_setting_that_differs_not_its_whole_section(
    tmp_path: Path,
) -> None:
    """Two job runs that differ in train.lr were compared as two whole ``job_settings``
    blobs (every section, every key), and a 500-number input scaling would be shown whole."""
    base = {"train": {"lr": 0.2, "batch_size": 32}, "strategy": {"name": "fedavg"}}
    other = {"train": {"lr": 0.05, "batch_size": 32}, "strategy": {"name": "fedavg"}}
    with RunStore(tmp_path / "runs.db") as store:
        first = store.start_run("hfl", {"job_settings": base, "scaling": list(range(500))})
        second = store.start_run(
            "hfl", {"job_settings": other, "scaling": [*range(499), -1], "extra": 1}
        )
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        body = client.get(f"/api/compare?ids={first},{second}").json()
    differences = {d["key"]: d["values"] for d in body["config_differences"]}
    assert differences == {
        "job_settings.train.lr": {first: 0.2, second: 0.05},
        "scaling": {
            first: "500 numbers: 0, 1, 2, 3, 4, 5, ...",
            second: "500 numbers: 0, 1, 2, 3, 4, 5, ...",
        },
        "extra": {second: 1},  # the first run has no such setting: no value, not null
    }


def test_the_start_day_filter_reads_days_in_the_viewers_time_zone(tmp_path: Path) -> None:
    """The page shows start times in the browser's time zone but the From/To days were
    read in the server's: a run started 20:30 UTC, shown as the next morning in Tokyo, was
    left out of that next day's list for a viewer there (and in it for one in New York)."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl", {}, name="evening")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE runs SET started_at = ? WHERE run_id = ?",
            ("2026-12-05T20:30:00.000000+00:00", run_id),
        )
    with TestClient(create_app(path)) as client:

        def listed(day: str, zone: str) -> int:
            body = client.get(f"/api/runs?since={day}&until={day}&tz={zone}").json()
            return int(body["total"])

        assert listed("2026-12-06", "Asia/Tokyo") == 1  # 05:30 on the 6th there
        assert listed("2026-12-05", "Asia/Tokyo") == 0
        assert listed("2026-12-05", "America/New_York") == 1  # 15:30 on the 5th there
        assert listed("2026-12-06", "America/New_York") == 0
        bad = client.get("/api/runs?since=2026-12-05&tz=Mars/Olympus")
    assert bad.status_code == 400 and "tz must be a time zone name" in bad.json()["detail"]


def test_a_run_page_opens_when_a_clients_metric_diverged(tmp_path: Path) -> None:
    """A client's NaN loss made the privacy line's query call the store damaged (400)."""
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {})
        store.log_client(
            run_id, 1, "a", "fit", "ok", 5, 1, 1, 0.1, None, {"loss": math.nan, "dp_epsilon": 4.0}
        )
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        response = client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200
    assert response.json()["run"]["privacy"].startswith("local DP: epsilon up to 4 (client a,")


def test_a_long_ledger_is_shown_by_its_latest_lines_with_payouts_over_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ledger line went to the page: a tournament of 500 rounds of 100 participants
    sent 9 MB and a 50,000-row table on every refresh."""
    monkeypatch.setattr(views, "LEDGER_SHOWN", 3, raising=False)
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("tournament", {})
        for number in range(1, 6):
            for who in ("a", "b"):
                store.append_ledger(run_id, number, who, "payout", number, f"round {number}")
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        body = client.get(f"/api/runs/{run_id}/rewards").json()
    assert body["ledger_total"] == 10
    assert [(e["round"], e["participant"]) for e in body["ledger"]] == [
        (4, "b"),
        (5, "a"),
        (5, "b"),
    ]
    assert {p["participant"]: p["amount_minor"] for p in body["payouts"]} == {"a": 15, "b": 15}


def test_a_vertical_runs_rounds_are_called_by_its_algorithms_unit_with_its_planned_count(
    tmp_path: Path,
) -> None:
    """A SecureBoost run's rounds are its trees: the page said "epoch 2" with no planned
    count (its config holds n_trees, not epochs), where `rengo runs show` says "trees"."""
    with RunStore(tmp_path / "runs.db") as store:
        trees = store.start_run("vfl-deployed", {"algorithm": "secureboost", "n_trees": 5})
        nn = store.start_run("vfl-deployed", {"algorithm": "splitnn", "epochs": 4})
        hfl = store.start_run("hfl", {"rounds": 3})
        for run in (trees, nn, hfl):
            store.log_round(run, 1, {}, 1.0, 2, 0)
    with TestClient(create_app(tmp_path / "runs.db")) as client:
        listed = {r["run_id"]: r for r in client.get("/api/runs").json()["runs"]}
        shown = client.get(f"/api/runs/{trees}").json()["run"]
    assert [(listed[r]["unit"], listed[r]["planned_rounds"]) for r in (trees, nn, hfl)] == [
        ("tree", 5),
        ("epoch", 4),
        ("round", 3),
    ]
    assert (shown["unit"], shown["planned_rounds"]) == ("tree", 5)

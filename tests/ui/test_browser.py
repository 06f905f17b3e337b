"""A real browser (headless Chromium, driven by Playwright) on the dashboard: the page shows
a run's numbers in its curves and tables, and follows a live run without reloading.

Needs Debian's ``chromium`` (``make test`` installs it where it runs as root with apt) and
the ``playwright`` package; Playwright never downloads a browser here - it drives the
system one through ``executable_path``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the ui extra: pip install 'rengo[ui]'")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright: pip install playwright"
)

from rengo.core import RoundFailure  # noqa: E402
from rengo.hfl import simulate  # noqa: E402
from rengo.jobs import build_hfl_job, parse_job  # noqa: E402
from rengo.tracking import RunStore  # noqa: E402
from rengo.ui import DashboardServer  # noqa: E402
from tests.ui.conftest import Recorded  # noqa: E402

CHROMIUM = os.environ.get("RENGO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REASON = "data warehouse unreachable"

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test does, as root)",
    ),
    pytest.mark.timeout(180),
]

JOB = {
    "job": {"name": "browser-check", "seed": 0, "rounds": 3},
    "data": {"dataset": "digits", "test_size": 0.2},
    "partition": {"scheme": "iid", "num_clients": 4},
    "model": {"type": "logistic"},
    "train": {"lr": 0.1, "local_epochs": 1, "batch_size": 64},
    "strategy": {"fraction_evaluate": 1.0},
}

LIVE_WRITER = textwrap.dedent(
    """
    import sys, time
    from rengo.hfl import simulate
    from rengo.jobs import build_hfl_job, parse_job
    from rengo.tracking import RunStore
    job = build_hfl_job(parse_job({
        "job": {"name": "live-check", "rounds": 12},
        "partition": {"scheme": "iid", "num_clients": 3},
        "model": {"type": "logistic"},
        "train": {"batch_size": 128},
    }))
    with RunStore(sys.argv[1]) as store:
        simulate(job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 12,
                 store=store, run_name="live-check",
                 progress=lambda record: time.sleep(float(sys.argv[2])))
    """
)


class Flaky:
    """``victim`` fails to train in ``round`` (2 unless told; the page must show why)."""

    def __init__(self, client_fn: Any, victim: str, round: int = 2) -> None:
        self.client_fn = client_fn
        self.victim = victim
        self.round = round

    def __call__(self, cid: str) -> Any:
        client = self.client_fn(cid)
        if cid != self.victim:
            return client
        inner_fit = client.fit

        def fit(parameters: Any, config: Any) -> Any:
            if config.get("round") == self.round:
                raise ConnectionError(REASON)
            return inner_fit(parameters, config)

        client.fit = fit
        return client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    opened = context.new_page()
    opened.errors = []
    opened.on("pageerror", lambda exc: opened.errors.append(str(exc)))
    yield opened
    context.close()


def _recorded_run(path: Path) -> str:
    job = build_hfl_job(parse_job(JOB))
    job.strategy.on_fit_config = lambda server_round: {"round": server_round}
    flaky = Flaky(job.client_fn, job.client_ids[2])
    with RunStore(path) as store:
        history = simulate(
            flaky,
            job.client_ids,
            job.strategy,
            job.initial_parameters,
            3,
            store=store,
            run_name="browser-check",
        )
    assert history.run_id is not None
    return history.run_id


def test_run_page_shows_the_runs_curves_and_tables(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = _recorded_run(path)
    with RunStore(path, read_only=True) as store:
        accuracy = store.round_metrics(run_id)["central_accuracy"]
        failures = [c for c in store.client_records(run_id) if c.status == "failed"]
    assert len(failures) == 1
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        page.wait_for_selector("[data-testid=rounds-table] tbody tr")
        assert page.text_content("[data-testid=run-title]") == "browser-check"
        # Cell by cell (a row's innerText has tabs between cells only once it is laid out),
        # and every row in one script: counting the rows and reading each in its own
        # protocol step could straddle a re-render (the view refreshes on store changes).
        rows = page.evaluate(
            """() => [...document.querySelectorAll('[data-testid=rounds-table] tbody tr')]
                .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText))"""
        )
        assert len(rows) == 3
        for (number, value), cells in zip(reversed(accuracy), rows, strict=True):
            assert cells[0].strip() == str(number)
            assert f"{value:.4f}" in " ".join(cells)  # the table shows the stored value
        assert page.text_content("[data-testid=headline-value]") == f"{accuracy[-1][1]:.4f}"
        page.wait_for_function("() => window.rengo.charts['metric-accuracy'] !== undefined")
        chart = page.evaluate("() => window.rengo.charts['metric-accuracy']")
        column = chart["labels"].index("central_accuracy") + 1
        assert chart["data"][0] == [r for r, _ in accuracy]
        assert chart["data"][column] == pytest.approx([v for _, v in accuracy], abs=1e-12)
        assert page.locator("[data-chart=metric-accuracy] canvas").count() == 1  # drawn
        failure_rows = page.locator("[data-testid=failures-table] tbody tr").all_inner_texts()
        assert len(failure_rows) == 1 and REASON in failure_rows[0]
        assert failures[0].client_id in failure_rows[0]
        assert page.locator("[data-testid=participation] .cell.x").count() == 1
        assert page.locator("[data-testid=participation] .cell.o").count() == 4 * 3 - 1
        assert page.text_content("[data-testid=failures-value]") == "1"
        assert page.locator("[data-testid=clients-table] tbody tr").count() == 4
    assert page.errors == []


@contextlib.contextmanager
def _live_run(path: Path) -> Iterator[str]:
    """A 12-round run written into ``path`` by another process, a round every 0.7 s or so;
    yields its id once its first round is in, and waits for the writer to finish cleanly."""
    RunStore(path).close()
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(path), "0.7"])
    try:
        with RunStore(path, read_only=True) as store:
            deadline = time.monotonic() + 60
            while not (runs := store.list_runs()) or not store.rounds(runs[0].run_id):
                assert time.monotonic() < deadline and writer.poll() is None, "writer never wrote"
                time.sleep(0.1)
        yield runs[0].run_id
        assert writer.wait(60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_live_run_advances_without_reload(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with _live_run(path) as run_id, DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        page.wait_for_selector("[data-testid=round-value]")
        first = int(page.text_content("[data-testid=round-value]"))
        assert first < 12, "the run finished before the page opened"
        page.evaluate("() => { window.__sameDocument = true; }")
        page.wait_for_function(  # null-safe: a refresh may briefly show an error box
            "(n) => { const e = document.querySelector('[data-testid=round-value]');"
            " return e !== null && Number(e.textContent) >= n; }",
            arg=first + 2,
            timeout=60_000,
        )
        page.wait_for_function("() => document.getElementById('live').dataset.state === 'live'")
        assert page.evaluate("() => window.__sameDocument === true")  # never reloaded
        rows = page.locator("[data-testid=rounds-table] tbody tr").count()
        assert rows >= first + 2
        data = page.evaluate("() => window.rengo.charts['metric-accuracy'].data[0]")
        assert len(data) >= first + 2
        page.wait_for_function(
            "() => document.querySelector('[data-testid=status]')?.textContent === 'completed'",
            timeout=60_000,
        )
        assert int(page.text_content("[data-testid=round-value]")) == 12
        assert page.evaluate("() => window.__sameDocument === true")
    assert page.errors == []


def test_runs_list_filters_and_compares(page: Any, recorded: Recorded) -> None:
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(ui.url)
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        assert page.locator("[data-testid=runs-table] tbody tr").count() == 4
        page.fill("[data-testid=filter-q]", "alp")
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=runs-table] tbody tr').length === 1"
        )
        assert "alpha" in page.inner_text("[data-testid=runs-table] tbody")
        page.fill("[data-testid=filter-q]", "")
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=runs-table] tbody tr').length === 4"
        )
        page.check(f"input[data-run='{recorded.alpha}']")
        page.check(f"input[data-run='{recorded.beta}']")
        page.click("[data-testid=compare-selected]")
        page.wait_for_selector("[data-testid=compare-table] tbody tr")
        text = page.inner_text("[data-testid=compare-table]")
        assert "0.7500" in text and "0.6000" in text
        chart = page.evaluate("() => window.rengo.charts['compare-central_accuracy']")
        assert chart["labels"] == ["alpha", "beta"]
        assert chart["data"][1][:3] == [0.5, 0.625, 0.75] and chart["data"][2][:2] == [0.55, 0.6]
    assert page.errors == []


def test_token_signs_the_browser_in_once(browser: Any, recorded: Recorded) -> None:
    token = "browser-token-0123456789"
    with DashboardServer(recorded.path, "127.0.0.1:0", token=token) as ui:
        stranger = browser.new_context()
        refused = stranger.new_page()
        response = refused.goto(ui.url)
        assert response.status == 401 and "needs its token" in refused.content()
        stranger.close()
        context = browser.new_context()
        signed = context.new_page()
        signed.goto(f"{ui.url}?token={token}")
        assert "token" not in signed.url  # dropped from the address bar
        signed.wait_for_selector("[data-testid=runs-table] tbody tr")
        signed.wait_for_function("() => document.getElementById('live').dataset.state === 'live'")
        context.close()


def _failed_in_round_one(path: Path) -> str:
    """A run whose round 1 fails (every client is needed, one raises): no round completes."""
    job = build_hfl_job(parse_job(JOB))
    job.strategy.on_fit_config = lambda server_round: {"round": server_round}
    job.strategy.min_fit_clients = len(job.client_ids)
    flaky = Flaky(job.client_fn, job.client_ids[2], round=1)

    with RunStore(path) as store, pytest.raises(RoundFailure):
        simulate(
            flaky,
            job.client_ids,
            job.strategy,
            job.initial_parameters,
            3,
            store=store,
            run_name="failed-at-once",
        )
    with RunStore(path, read_only=True) as store:
        (run,) = store.list_runs()
        assert run.status == "failed" and not store.rounds(run.run_id)
        return run.run_id


def test_a_run_that_failed_before_any_round_shows_its_failures(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = _failed_in_round_one(path)
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        page.wait_for_selector("[data-testid=events] li")
        assert page.text_content("[data-testid=failures-value]", timeout=5_000) == "1"
        assert "1 client affected" in page.inner_text(".kpis")
    assert page.errors == []


def test_a_failed_runs_page_says_why_under_its_title(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = _failed_in_round_one(path)
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        # One script reads the line and the run's status: a re-render between protocol
        # steps could detach the first element found.
        why, status = page.wait_for_function(
            """() => {
                const why = document.querySelector('[data-testid=run-why]');
                const status = document.querySelector('[data-testid=status]');
                return why && status && [why.textContent, status.textContent];
            }"""
        ).json_value()
        assert status == "failed"
        assert why.startswith("run failed: RoundShortOfClients: round 1 failed")
        assert "Traceback" not in why  # the first line; the events keep the rest
    assert page.errors == []


def test_an_event_keeps_the_lines_of_a_clients_traceback(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = _failed_in_round_one(path)
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        # One script reads the span and its style: the view re-renders on each store change,
        # and a span found in one step could be detached (style '') by the next.
        found = page.wait_for_function(
            """() => {
                const spans = [...document.querySelectorAll('[data-testid=events] li span')]
                    .filter((s) => s.textContent.includes('Traceback'));
                const s = spans[spans.length - 1];
                return s && [getComputedStyle(s).whiteSpace, s.innerText];
            }"""
        ).json_value()
        white_space, text = found
        assert white_space == "pre-wrap"
        assert "\nTraceback (most recent call last):\n" in text
    assert page.errors == []


def test_every_view_names_itself_in_the_page_title(page: Any, recorded: Recorded) -> None:
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(ui.url)
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        assert page.title() == "Runs · rengo"
        page.click(f"a[href='#/run/{recorded.alpha}']")
        page.wait_for_function("() => document.title === 'alpha · rengo'")
        page.click("text=← All runs")
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        assert page.title() == "Runs · rengo"
        page.click("[data-nav=compare]")
        page.wait_for_function("() => document.title === 'Compare runs · rengo'")
    assert page.errors == []


@pytest.mark.parametrize(
    ("config", "unit"),
    [
        ({"algorithm": "hetero_lr"}, "epoch"),
        # SecureBoost's were called epochs, of no planned count (its config says n_trees)
        ({"algorithm": "secureboost", "n_trees": 5}, "tree"),
    ],
)
def test_a_vertical_runs_kpis_count_epochs_not_rounds(
    page: Any, tmp_path: Path, config: dict[str, Any], unit: str
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("vfl", config, "scorecard", 2)
        for epoch, loss in ((1, 0.6), (2, 0.5)):
            store.log_round(run, epoch, {"train_loss": loss}, 1.0, 2, 0)
        store.finish_run(run, "completed")
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run}")
        page.wait_for_selector("[data-testid=headline-value]")
        kpis = page.inner_text(".kpis")
        assert unit.upper() in kpis.upper() and f"best 0.5000 at {unit} 2" in kpis
        assert f"reported in {unit} 2" in kpis and "round" not in kpis.lower()
        if "n_trees" in config:
            assert "2 / 5" in " ".join(kpis.split())
    assert page.errors == []


def test_only_the_connection_status_is_announced_not_every_refresh(
    page: Any, recorded: Recorded
) -> None:
    """The page re-renders on every store change (each round of a live run): a live region
    around it had a screen reader read the whole page again each time."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{recorded.alpha}")
        page.wait_for_selector("[data-testid=headline-value]")
        regions = page.evaluate(
            "() => [...document.querySelectorAll('[aria-live], [role=status], [role=alert]')]"
            ".map((e) => e.id)"
        )
        # the connection status, and the announcer: one sentence on a run's status and
        # round, said only when it changes (test_a_live_runs_progress_is_announced_...)
        assert regions == ["live", "announcer"]
        assert page.text_content("#announcer") == ""  # an opened page reads as a page
    assert page.errors == []


def test_a_run_page_left_before_its_data_arrived_leaves_the_next_view_alone(
    page: Any, recorded: Recorded
) -> None:
    """The run view's refresh is asynchronous: one whose data came back after the user had
    gone back to the runs list renamed the tab after the run (the list showing under
    'alpha · rengo') and, had the request failed, replaced the list with its error box."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(ui.url)
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        held: list[Any] = []
        page.route(f"**/api/runs/{recorded.alpha}", lambda route: held.append(route))  # it waits
        page.click(f"a[href='#/run/{recorded.alpha}']")
        page.wait_for_function("() => document.title.startsWith('Run ')")
        deadline = time.monotonic() + 30
        while not held:
            assert time.monotonic() < deadline, "the run page never asked for its run"
            page.wait_for_timeout(50)
        page.evaluate("() => { location.hash = '#/'; }")  # back to the list
        page.wait_for_function("() => document.title === 'Runs · rengo'")
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        with page.expect_response(f"**/api/runs/{recorded.alpha}"):
            held[0].continue_()
        page.wait_for_timeout(500)  # the late data's handling: JSON decode, then render
        assert page.title() == "Runs · rengo"
        assert page.locator("[data-testid=runs-table] tbody tr").count() == 4
    assert page.errors == []


def test_a_round_cut_short_is_named_under_the_spread_charts_not_charted(
    page: Any, tmp_path: Path
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl-deployed", {"rounds": 3}, "cut")
        for client, loss in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
            store.log_client(run_id, 1, client, "fit", "ok", 5, 10, 10, 0.1, None, {"loss": loss})
        store.log_round(run_id, 1, {"train_loss": 2.0}, 0.3, 3, 0)
        store.log_client(run_id, 2, "a", "fit", "ok", 5, 10, 10, 0.1, None, {"loss": 0.5})
        store.finish_run(run_id, "interrupted")
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        # one script reads the note and the chart's rounds: a re-render between protocol
        # steps could detach what the first found
        note, rounds = page.wait_for_function(
            """() => {
                const note = document.querySelector('[data-testid=spread-cut-short]');
                const chart = window.rengo.charts['spread-fit-loss'];
                return note && chart && chart.data &&
                    [note.textContent, chart.data[0]];
            }"""
        ).json_value()
    assert note == (
        "round 2 did not complete: its fit metrics, of a, are not charted as that round's"
    )
    assert rounds == [1]
    assert page.errors == []


def test_run_page_heads_a_private_run_with_its_epsilon_and_delta(page: Any, tmp_path: Path) -> None:
    """The run page had no privacy line: a local-DP run's only epsilon on it was the
    clients' mean (train_dp_epsilon), below the worst client's, and without its delta."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl", {}, name="local-dp")
        for client, epsilon in (("a", 1.0), ("b", 3.0)):
            metrics = {"dp_epsilon": epsilon, "dp_delta": 1e-5}
            store.log_client(run_id, 1, client, "fit", "ok", 10, 1, 1, 0.1, None, metrics)
        store.log_round(run_id, 1, {"train_dp_epsilon": 2.0}, 1.0, 2, 0)
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        page.wait_for_selector("[data-testid=run-privacy]")
        assert page.text_content("[data-testid=run-privacy]") == (
            "local DP: epsilon up to 3 at delta 1e-05 (client b, the worst of 2) after 1 rounds"
        )


# -- people who use a keyboard, a screen reader, no colour, or a small screen ---------------

OKABE_ITO = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}

FOCUSED = """() => {
    const e = document.activeElement, style = getComputedStyle(e);
    return {tag: e.tagName, name: e.getAttribute('aria-label') || e.textContent.trim(),
            run: e.dataset.run || null, outline: style.outlineStyle, width: style.outlineWidth,
            inBar: e.closest('header') !== null, own: e.matches(':focus')};
}"""


def _tab_through(page: Any, stops: int) -> list[dict[str, Any]]:
    seen = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(FOCUSED))
    return seen


def test_the_keyboard_alone_skips_to_the_runs_selects_two_and_compares_them(
    page: Any, recorded: Recorded
) -> None:
    """The first Tab offered no way past the top bar, and a focused control in it had the
    browser's dark ring on the dark bar: a keyboard user could not see where they were."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(ui.url)
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUSED)["name"] == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.tagName") == "MAIN"
        assert page.title() == "Runs · rengo"  # skipped, not routed away
        seen = _tab_through(page, 40)
        names = [s["name"] for s in seen]
        assert not seen[0]["inBar"], names  # the top bar was skipped
        # no trap: on past the last run, Tab wraps round to the top of the page again
        assert "Skip to content" in names[names.index("signals") :], names
        for name in ("alpha", "beta", "live", "signals", "Clear"):
            assert name in names, f"Tab never reached {name}: {names}"
        assert {s["run"] for s in seen if s["run"]} == {
            recorded.alpha,
            recorded.beta,
            recorded.deployed,
            recorded.tournament,
        }
        for stop in seen:  # a visible ring on every stop (a date field's picker button, in
            if not stop["own"]:  # the field's shadow, draws the browser's own)
                continue
            assert stop["outline"] == "solid" and stop["width"] == "2px", stop
        # Space ticks two runs, and Tab then reaches Compare, which Enter follows
        page.focus(f"input[data-run='{recorded.alpha}']")
        page.keyboard.press("Space")
        page.focus(f"input[data-run='{recorded.beta}']")
        page.keyboard.press("Space")
        compare = page.get_by_role("link", name="Compare", exact=True).last
        compare.wait_for()
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.dataset.testid") == "compare-selected":
                break
        else:
            raise AssertionError("Tab never reached the Compare button")
        page.keyboard.press("Enter")
        page.wait_for_selector("[data-testid=compare-table] tbody tr")
        page.keyboard.press("Tab")  # the chips, the charts' data tables, ... all reachable
        assert page.evaluate("() => document.activeElement !== document.body")
    assert page.errors == []


def test_a_screen_reader_finds_landmarks_headings_labels_and_captioned_tables(
    page: Any, recorded: Recorded
) -> None:
    """Two unnamed navigation landmarks, tables with neither caption nor header scope, a
    search box named by its placeholder only, and a participation matrix of coloured boxes
    that said nothing: a screen reader user could not tell what any of them was."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(ui.url)
        page.wait_for_selector("[data-testid=runs-table] tbody tr")
        assert page.evaluate("() => document.documentElement.lang") == "en"
        page.get_by_role("main").wait_for()
        page.get_by_role("navigation", name="Views").wait_for()
        page.get_by_role("searchbox", name="Search runs by name or run id").wait_for()
        runs = page.get_by_role("table", name="Runs")
        assert runs.get_by_role("columnheader").count() == 8
        assert runs.get_by_role("checkbox", name="select alpha").count() == 1
        page.goto(f"{ui.url}#/run/{recorded.alpha}")
        page.wait_for_selector("[data-testid=clients-table] tbody tr")
        page.wait_for_function("() => window.rengo.charts['metric-accuracy'] !== undefined")
        page.get_by_role("navigation", name="Sections of this run").wait_for()
        levels = page.evaluate(
            "() => [...document.querySelectorAll('main h1, main h2, main h3')]"
            ".map((e) => Number(e.tagName[1]))"
        )
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
        headers = page.evaluate(
            "() => [...document.querySelectorAll('main table')]"
            # a chart's own legend is part of its picture (role img); its data table is not
            ".filter((t) => !t.closest('[role=img]')).map((t) => ["
            "t.caption ? t.caption.textContent : null,"
            "[...t.querySelectorAll('th')].every((th) => th.scope === 'col')])"
        )
        assert headers and all(caption and scoped for caption, scoped in headers), headers
        rounds = page.get_by_role("table", name="Rounds, the latest first")
        assert rounds.get_by_role("columnheader", name="Round", exact=True).count() == 1
        page.get_by_role(
            "region", name="Rounds", exact=True
        ).wait_for()  # a section is a named region
        # the participation matrix reads as one sentence per client
        page.get_by_role("img", name="c3: trained in rounds 1, 3; failed in round 2").wait_for()
        page.get_by_role("img", name="c1: trained in rounds 1–3").wait_for()
        # a chart is named, and its numbers are in a table beside it
        page.get_by_role(
            "img", name=re.compile(r"^Chart: accuracy, 1 series over rounds 1 to 3")
        ).wait_for()
        data = page.get_by_role(
            "table", name="accuracy: each series' numbers", include_hidden=True, exact=True
        )
        assert "0.7500 (round 3)" in data.text_content()
        # a status is text, not a colour
        assert page.get_by_test_id("status").first.text_content() == "completed"
    assert page.errors == []


def test_a_jump_link_moves_the_focus_and_escape_closes_a_charts_data_table(
    page: Any, recorded: Recorded
) -> None:
    """A jump link scrolled the page but left the focus on the link: the next Tab, and a
    screen reader, went on from the top, not from the section jumped to."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{recorded.alpha}")
        page.wait_for_selector("[data-testid=clients-table] tbody tr")
        jump = page.get_by_role("navigation", name="Sections of this run")
        jump.get_by_role("link", name="Clients", exact=True).focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.activeElement.tagName === 'H2'"
            " && document.activeElement.textContent === 'Clients'"
        )
        page.keyboard.press("Tab")  # on from the section: into its table's scrolling box
        assert page.evaluate(
            "() => document.querySelector('#sec-clients').contains(document.activeElement)"
        ), page.evaluate(
            "() => [document.activeElement.outerHTML.slice(0, 200), window.rengo.refreshes]"
        )
        chart = page.get_by_test_id("chart-metric-accuracy")
        summary = chart.locator("summary")
        summary.focus()
        page.keyboard.press("Enter")
        assert chart.locator("details").evaluate("(d) => d.open")
        page.keyboard.press("Tab")  # into the open table's box
        page.keyboard.press("Escape")
        assert not chart.locator("details").evaluate("(d) => d.open")
        assert page.evaluate("() => document.activeElement.tagName") == "SUMMARY"
    assert page.errors == []


def test_every_view_fits_a_320_px_wide_window_without_scrolling_sideways(
    page: Any, recorded: Recorded
) -> None:
    """WCAG 1.4.10 (a 1280 px screen at 400 % zoom): the top bar's fixed height and gaps,
    the events' fixed columns and the footer pushed the page 60 px past a 320 px window."""
    page.set_viewport_size({"width": 320, "height": 800})
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        pair = f"{recorded.alpha},{recorded.beta}"
        views = {
            "#/": "[data-testid=runs-table] tbody tr",
            f"#/run/{recorded.alpha}": "[data-testid=events] li",
            f"#/run/{recorded.tournament}": "[data-testid=leaderboard-table] tbody tr",
            f"#/compare?ids={pair}": "[data-testid=compare-table] tbody tr",
        }
        for route, ready in views.items():
            page.goto(f"{ui.url}{route}")
            page.wait_for_selector(ready)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 320, f"{route} is {width} px wide"
    assert page.errors == []


def test_curves_differ_in_dash_as_well_as_colour_from_a_colour_blind_safe_palette(
    page: Any, recorded: Recorded
) -> None:
    """Series differed by colour alone, from a palette with red beside green (the spread's
    worst and best decile, 'clients failed' against 'clients trained')."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{recorded.alpha}")
        page.wait_for_function("() => window.rengo.charts['spread-fit-loss'] !== undefined")
        page.wait_for_function("() => window.rengo.charts['round-time'] !== undefined")
        charts = page.evaluate("() => window.rengo.charts")
        page.goto(f"{ui.url}#/compare?ids={recorded.alpha},{recorded.beta}")
        page.wait_for_function(
            "() => window.rengo.charts['compare-central_accuracy'] !== undefined"
        )
        charts.update(page.evaluate("() => window.rengo.charts"))
    assert {"spread-fit-loss", "round-time", "round-clients", "compare-central_accuracy"} <= set(
        charts
    )
    for name, chart in charts.items():
        styles = chart["styles"]
        dashes = [tuple(s["dash"]) for s in styles]
        assert len(set(dashes)) == len(dashes), f"{name}: two series share a dash {dashes}"
        assert {s["color"] for s in styles} <= OKABE_ITO, name
    assert page.errors == []


def test_reduced_motion_stops_the_running_badges_pulse(browser: Any, recorded: Recorded) -> None:
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    try:
        with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
            page.goto(ui.url)
            page.wait_for_selector(".badge.running")
            animation = page.evaluate(
                "() => getComputedStyle(document.querySelector('.badge.running'), '::before')"
                ".animationName"
            )
            assert animation == "none"
    finally:
        context.close()


def test_a_live_runs_progress_is_announced_politely_not_every_round(
    page: Any, tmp_path: Path
) -> None:
    """A live run's page changed round after round in silence: nothing told a screen reader
    user the run had moved on, or that it had completed."""
    path = tmp_path / "runs.db"
    with _live_run(path) as run_id, DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run_id}")
        page.wait_for_selector("[data-testid=round-value]")
        assert page.get_attribute("#announcer", "aria-live") == "polite"
        page.evaluate(
            """() => { window.__said = [];
                    new MutationObserver(() => window.__said.push(
                        [performance.now(), document.getElementById('announcer').textContent]))
                    .observe(document.getElementById('announcer'),
                             {childList: true, characterData: true, subtree: true}); }"""
        )
        page.wait_for_function(
            "() => window.__said.some(([, text]) => text.includes('completed'))",
            timeout=90_000,
        )
        said = page.evaluate("() => window.__said")
        refreshes = page.evaluate("() => window.rengo.refreshes")
    texts = [text for _, text in said]
    assert texts[-1] == "live-check: completed, round 12 of 12", texts
    assert len(texts) < refreshes  # not once per refresh
    rounds = [at for at, text in said if "running" in text]
    assert all(b - a >= 9_990 for a, b in itertools.pairwise(rounds)), said
    assert page.errors == []


def test_a_refresh_leaves_the_keyboard_focus_where_it_was(page: Any, tmp_path: Path) -> None:
    """Each refresh of a live run rebuilt the list and the run page: a focused run checkbox or
    jump link was taken out of the page, and the focus fell back to the top, about once a
    second, so a keyboard user could not stay on a control of a running run."""
    path = tmp_path / "runs.db"
    with _live_run(path) as run_id, DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(ui.url)
        page.focus(f"input[data-run='{run_id}']")
        seen = page.evaluate("() => window.rengo.refreshes")
        page.wait_for_function("(n) => window.rengo.refreshes >= n", arg=seen + 2)
        assert page.evaluate("() => document.activeElement.dataset.run") == run_id
        page.goto(f"{ui.url}#/run/{run_id}")
        jump = page.get_by_role("navigation", name="Sections of this run")
        jump.get_by_role("link", name="Rounds", exact=True).focus()
        seen = page.evaluate("() => window.rengo.refreshes")
        page.wait_for_function("(n) => window.rengo.refreshes >= n", arg=seen + 2)
        focused = page.evaluate(
            "() => [document.activeElement.closest('nav.jump') !== null,"
            " document.activeElement.textContent]"
        )
        assert focused == [True, "Rounds"]
    assert page.errors == []


def test_the_keyboard_hides_a_series_and_zooms_a_chart_as_the_mouse_does(
    page: Any, recorded: Recorded
) -> None:
    """A chart's legend (click a series to hide it) and its zoom (drag across the plot) were
    the mouse's alone. Its disclosure now holds a checkbox per series and the x range, kept in
    step with what the mouse does."""
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{recorded.alpha}")
        page.wait_for_function("() => (window.rengo.charts['round-bytes'] || {}).shown")
        chart = page.get_by_test_id("chart-round-bytes")
        labels = page.evaluate("() => window.rengo.charts['round-bytes'].labels")
        assert len(labels) >= 2, labels
        chart.locator("summary").focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        first = chart.get_by_role("checkbox", name=labels[0])
        assert first.evaluate("(e) => e === document.activeElement")
        page.keyboard.press("Space")
        shown = "() => window.rengo.charts['round-bytes'].shown"
        assert page.evaluate(shown) == [False] + [True] * (len(labels) - 1)
        legend = chart.locator(".u-legend .u-series").nth(1)  # 0 is the x axis
        assert "u-off" in (legend.get_attribute("class") or "")
        legend.click()  # the mouse shows it again: the checkbox follows
        assert first.is_checked() and page.evaluate(shown) == [True] * len(labels)

        group = chart.get_by_role("group", name="Rounds shown")
        start = group.get_by_role("spinbutton", name="from")
        end = group.get_by_role("spinbutton", name="to")
        assert [start.input_value(), end.input_value()] == ["1", "3"]
        start.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("2")
        page.keyboard.press("Tab")  # the change applies when the box is left, for "to"
        assert page.evaluate("() => window.rengo.charts['round-bytes'].range") == [2, 3]
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent") == "All rounds"
        page.keyboard.press("Enter")
        assert page.evaluate("() => window.rengo.charts['round-bytes'].range") == [1, 3]
        assert [start.input_value(), end.input_value()] == ["1", "3"]

        box = chart.locator(".u-over").bounding_box()  # the mouse's drag-zoom: the boxes follow
        middle = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.55, middle)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.95, middle, steps=5)
        page.mouse.up()
        low, high = page.evaluate("() => window.rengo.charts['round-bytes'].range")
        assert 2 < low < high <= 3, (low, high)
        assert float(start.input_value()) == pytest.approx(low, abs=0.01)
    assert page.errors == []


def test_a_runs_reliability_table_shows_as_a_table_not_as_json(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    bins = [
        {"lower": 0.0, "upper": 0.5, "rows": 3, "mean_probability": 0.2, "observed_rate": 0.0},
        {"lower": 0.5, "upper": 1.0, "rows": 0, "mean_probability": None, "observed_rate": None},
    ]
    with RunStore(path) as store, store.run("vfl", {"algorithm": "hetero_lr"}) as run:
        run.summary.update(auc=0.75, reliability=bins, feature_names={"bank": ["income"]})
    with DashboardServer(path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{run.run_id}")
        page.wait_for_selector("[data-testid=reliability-table] tbody tr")
        rows = page.locator("[data-testid=reliability-table] tbody tr").all_inner_texts()
        assert len(rows) == 2
        assert "0.2000" in rows[0] and "-0.2000" in rows[0] and "3" in rows[0]
        assert rows[1].split()[-1] == "-"  # an empty bin has no gap
        summary = page.locator("#sec-config").inner_text()
        assert "auc" in summary and "income" not in summary and "mean_probability" not in summary
    assert page.errors == []


def test_the_tournaments_era_chart_names_each_era_by_its_round(
    page: Any, recorded: Recorded
) -> None:
    """The 'CORR per era' chart plots each era at its place among every round's eras; its
    data table, screen-reader label and range controls said only that place ("era, rounds
    in order 8", "All era, rounds in orders"), never which round's era it was."""
    results = recorded.tournament_sim.results  # type: ignore[attr-defined]
    last_round = results[-1]
    last_era = max(
        (e.era for e in last_round.scores["good"].eras),
        key=lambda name: int("".join(c for c in name if c.isdigit()) or 0),
    )
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        page.goto(f"{ui.url}#/run/{recorded.tournament}")
        page.wait_for_function("() => (window.rengo.charts['tournament-eras'] || {}).shown")
        chart = page.get_by_test_id("chart-tournament-eras")
        chart.locator("summary").click()  # open the chart's data table and controls
        table = chart.get_by_test_id("chart-data-tournament-eras").inner_text()
        assert f"(round {last_round.round} {last_era})" in table, table
        assert "rounds in order" not in table
        assert chart.get_by_role("button", name="All eras").count() == 1
        assert chart.get_by_role("group", name="Eras shown").count() == 1
        label = chart.locator("[role=img]").get_attribute("aria-label") or ""
        assert "over eras round 1 " in label and f"to round {last_round.round} {last_era}" in label
    assert page.errors == []

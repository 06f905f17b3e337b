"""A dashboard page read while a coordinator in another process writes shows one moment of
the store: before, the run page read its round count, then its rounds, then its metric
series, each at its own moment, so a round committed in between showed one more row than
the page's round count, and a chart past the last row of its table."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the ui extra: pip install 'rengo[ui]'")
from fastapi.testclient import TestClient

from rengo.tracking import RunStore
from rengo.ui import create_app, views

ROUNDS = 3

WRITER = textwrap.dedent(
    """
    import sys
    from rengo.tracking import RunStore
    with RunStore(sys.argv[1]) as store:
        run = store.start_run("hfl", {"rounds": 10}, name="live")
        for number in range(1, int(sys.argv[2]) + 1):
            store.log_round(run, number, {"accuracy": number / 10}, 1.0, 2, 0)
        print(run, flush=True)
        for line in sys.stdin:  # one more round each time the test asks
            number += 1
            store.log_round(run, number, {"accuracy": number / 10}, 1.0, 2, 0)
            print("WROTE", number, flush=True)
    """
)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, str]]:
    """A coordinator-like process that has written :data:`ROUNDS` rounds of a run and writes
    one more whenever a line reaches its stdin."""
    path = tmp_path / "runs.db"
    RunStore(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(ROUNDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    try:
        yield proc, path, run_id
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(60)


def _write_a_round(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("round\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("WROTE")


@pytest.mark.timeout(120)
def test_a_run_page_read_while_a_round_is_written_is_one_moment(
    writer: tuple[subprocess.Popen[str], Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, path, run_id = writer
    counted = views.window_start

    def count_then_let_a_round_commit(store: RunStore, run: str) -> tuple[int, int]:
        found = counted(store, run)
        _write_a_round(proc)  # committed by the other process before the page reads on
        return found

    monkeypatch.setattr(views, "window_start", count_then_let_a_round_commit)
    with TestClient(create_app(path)) as client:
        page: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        rows = [r["round"] for r in page["rounds"]]
        assert page["rounds_total"] == ROUNDS
        assert rows == list(range(1, ROUNDS + 1))
        assert [p[0] for p in page["series"]["accuracy"]] == rows
        monkeypatch.setattr(views, "window_start", counted)
        later = client.get(f"/api/runs/{run_id}").json()  # the next read sees the new round
        assert later["rounds_total"] == ROUNDS + 1 == len(later["rounds"])


@pytest.mark.timeout(120)
def test_a_snapshot_sees_one_moment_nests_and_refuses_writes(
    writer: tuple[subprocess.Popen[str], Path, str],
) -> None:
    proc, path, run_id = writer
    with RunStore(path) as store:
        with store.snapshot() as held:
            assert held is store
            assert len(store.rounds(run_id)) == ROUNDS
            _write_a_round(proc)
            with store.snapshot():
                assert store.round_span(run_id) == (ROUNDS, ROUNDS)
            assert len(store.rounds(run_id)) == ROUNDS  # still the first read's moment
            with pytest.raises(RuntimeError, match="inside its snapshot"):
                store.log_event(run_id, "info", "a write inside a snapshot")
        assert store.round_span(run_id) == (ROUNDS + 1, ROUNDS + 1)
        assert store.events(run_id) == []

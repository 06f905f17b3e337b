"""`rengo runs mirror` of a run another process is writing mirrors one moment of it: before,
it read the run's client records, then its rounds, each at its own moment, so a round
committed in between was mirrored without its clients (a half-written round)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rengo.tracking import RunStore
from tests.tracking.test_mirror_readback import _board, _runs_mirror

pytest.importorskip("tensorboard", reason="the TensorBoard mirror needs the tensorboard extra")

WRITER = textwrap.dedent(
    """
    import sys
    from rengo.tracking import RunStore
    from rengo.tracking.records import ClientRecord

    def one_round(store, run, number):
        clients = [
            ClientRecord(number, c, "fit", "ok", 10, 1, 1, 0.5, None, None) for c in ("a", "b")
        ]
        store.log_clients(run, clients)
        store.log_round(run, number, {"accuracy": number / 10}, 1.0, 2, 0)

    with RunStore(sys.argv[1]) as store:
        run = store.start_run("hfl", {"rounds": 10}, name="live")
        for number in (1, 2, 3):
            one_round(store, run, number)
        print(run, flush=True)
        sys.stdin.readline()  # one more round when the test asks
        one_round(store, run, 4)
        print("WROTE", flush=True)
        sys.stdin.readline()
    """
)


@pytest.mark.timeout(180)
def test_a_run_mirrored_while_a_round_is_written_is_one_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.db"
    RunStore(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    run_id = proc.stdout.readline().strip()
    read_clients = RunStore.client_records

    def clients_then_a_round_commits(store: RunStore, *args: Any, **kwargs: Any) -> Any:
        found = read_clients(store, *args, **kwargs)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("round\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("WROTE")  # committed before rounds are read
        return found

    try:
        monkeypatch.setattr(RunStore, "client_records", clients_then_a_round_commits)
        mirrored = _runs_mirror(run_id, "tensorboard", str(tmp_path / "tb"), path)
    finally:
        proc.stdin.close()
        proc.wait(60)
    assert mirrored.exit_code == 0, mirrored.output
    board = _board(next((tmp_path / "tb").rglob("events.out.tfevents.*")).parent)
    tags = board.Tags()["scalars"]
    steps = {tag: [e.step for e in board.Scalars(tag)] for tag in tags}
    assert steps and all(found == [1, 2, 3] for found in steps.values()), steps

"""A run store's write-ahead log stays bounded while a reader reads without pause (``rengo
ui`` on a live run, a notebook polling). SQLite starts its log over only at a moment no
reader holds a snapshot in it; such a reader left none, and the log grew for as long as the
run wrote (173 MB beside a 12.5 MB store after 2000 rounds, ``benchmarks/wal_growth.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rengo.tracking import RunStore
from rengo.tracking import store as store_module
from rengo.tracking.records import ClientRecord

READER = textwrap.dedent(
    """
    import sys, threading
    from rengo.tracking import RunStore
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    with RunStore(sys.argv[1], read_only=True) as store:
        print("READING", flush=True)
        while not stop.is_set():
            runs = store.list_runs(limit=1)
            if runs:
                with store.snapshot():
                    store.rounds(runs[0].run_id)
                    store.round_metrics(runs[0].run_id)
    """
)

LIMIT = 256 * 1024


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.timeout(300)
def test_the_log_stays_bounded_while_a_reader_reads_without_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_WAL_LIMIT_BYTES", LIMIT, raising=False)
    path = tmp_path / "runs.db"
    RunStore(path).close()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().strip() == "READING"
    sizes = []
    written = 0
    try:
        with RunStore(path) as store, store.run("hfl", {}) as run:
            assert run.run_id is not None
            for number in range(1, 601):
                records = [
                    ClientRecord(number, f"c{k}", "fit", "ok", 1, 1, 1, 0.0, None, None)
                    for k in range(20)
                ]
                store.log_clients(run.run_id, records)
                store.log_round(run.run_id, number, {"accuracy": 0.5}, 0.0, 20, 0)
                store.save_checkpoint(run.run_id, number, os.urandom(4000))
                written += 4000
                sizes.append(_wal_size(path))
    finally:
        reader.stdin.close()
        reader.wait(60)
    assert reader.returncode == 0
    # about 70 MB went through the log (the old sources kept it all); it was started over
    assert max(sizes) < 48 * LIMIT, [s // 1024 for s in sizes[::20]]
    with RunStore(path, read_only=True) as store:
        assert store.round_span(store.list_runs()[0].run_id)[0] == 600

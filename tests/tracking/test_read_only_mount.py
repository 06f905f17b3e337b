"""A run store on a read-only file system (a backup mounted read-only for an auditor or a
restore check) opens read-only and lists its runs. SQLite cannot make the WAL store's
``-shm`` there and says "unable to open database file", which read as a damaged store:
``rengo runs list`` told the operator to move the store aside, and ``rengo tournament
leaderboard`` (whose restore check opens the store read-only) failed the same way.

A real read-only mount needs root and a kernel that lets this process mount; the test is
skipped, saying which, where it cannot make one."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rengo.tracking import RunStore


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and the mount command")
    source, mounted = tmp_path / "store", tmp_path / "mounted"
    source.mkdir()
    mounted.mkdir()
    made = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"this machine does not let the test bind-mount: {made.stderr!r}")
    try:
        again = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(mounted)], capture_output=True
        )
        if again.returncode != 0:
            pytest.skip(f"this machine does not let the test remount read-only: {again.stderr!r}")
        yield source, mounted
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def test_a_store_on_a_read_only_mount_opens_read_only_and_lists_its_runs(
    read_only_mount: tuple[Path, Path],
) -> None:
    source, mounted = read_only_mount
    with RunStore(source / "runs.db") as store:
        run = store.start_run("hfl", {"rounds": 1}, name="kept")
        store.log_round(run, 1, {"acc": 0.5}, 1.0, 2, 0)
        store.finish_run(run, "completed", None)
    assert not (source / "runs.db-wal").exists()
    with RunStore(mounted / "runs.db", read_only=True) as copy:
        runs = copy.list_runs()
    assert [(r.run_id, r.status) for r in runs] == [(run, "completed")]

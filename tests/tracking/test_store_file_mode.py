"""A new run store, and the files SQLite keeps beside it, can be read by their owner only:
they hold who took part, from which addresses, and what each party is paid."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rengo.tracking import RunStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def test_a_new_store_and_its_wal_files_are_their_owners_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the common default, under which the store was made 0644
    try:
        store = RunStore(tmp_path / "runs.db")
        with store.run("hfl", {}, name="consortium"):  # while it writes, the WAL files exist
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert set(modes) >= {"runs.db", "runs.db-wal", "runs.db-shm"}
    assert modes == dict.fromkeys(modes, 0o600)


def test_an_existing_store_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    RunStore(tmp_path / "runs.db").close()
    (tmp_path / "runs.db").chmod(0o640)  # shared with a group on purpose
    RunStore(tmp_path / "runs.db").close()
    assert stat.S_IMODE((tmp_path / "runs.db").stat().st_mode) == 0o640


def test_a_new_store_where_hard_links_fail_is_still_its_owners_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # as some SMB and FUSE mounts say

    monkeypatch.setattr(os, "link", no_links)
    old = os.umask(0o022)
    try:
        with RunStore(tmp_path / "runs.db") as store:
            store.start_run("hfl", {}, name="consortium")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "runs.db").stat().st_mode) == 0o600
    assert sorted(f.name for f in tmp_path.iterdir() if not f.name.startswith("runs.db")) == []

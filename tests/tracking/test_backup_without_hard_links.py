"""A store's backup on a file system without hard links (FAT on a USB disk, SMB and FUSE
mounts: ``os.link`` answers EPERM, ENOTSUP or EXDEV) is copied into a file created only if
none exists, instead of failing: it still never replaces a file, and leaves nothing behind."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import RunStore, StoreUnwritableError


def _no_links(code: int) -> Any:
    def link(source: Any, destination: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code), str(source), None, str(destination))

    return link


def _store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "runs.db")
    store.finish_run(store.start_run("hfl", {"rounds": 1}, name="kept"), "completed")
    return store


def _dot_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOTSUP, errno.EXDEV])
def test_a_backup_where_hard_links_fail_is_copied_whole_and_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = _store(tmp_path)
    target = tmp_path / "monday.db"
    monkeypatch.setattr(os, "link", _no_links(code))
    assert store.backup(target) == target
    monkeypatch.undo()
    assert [r.name for r in RunStore(target).list_runs()] == ["kept"]
    assert target.stat().st_mode & 0o777 == 0o600
    assert _dot_files(tmp_path) == []


def test_without_hard_links_a_file_that_appears_meanwhile_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    target = tmp_path / "monday.db"

    def appear_then_fail(source: Any, destination: Any) -> None:
        target.write_bytes(b"another backup")
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", appear_then_fail)
    with pytest.raises(ConfigError, match="appeared while the backup was written"):
        store.backup(target)
    assert target.read_bytes() == b"another backup"
    assert _dot_files(tmp_path) == []


def test_a_link_refused_for_another_reason_is_still_named_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    target = tmp_path / "monday.db"
    monkeypatch.setattr(os, "link", _no_links(errno.ENOSPC))
    with pytest.raises(StoreUnwritableError, match=r"monday\.db"):
        store.backup(target)
    assert not target.exists() and _dot_files(tmp_path) == []


def test_a_copy_the_disk_has_no_room_for_leaves_no_partial_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    target = tmp_path / "monday.db"

    def full(source: Any, destination: Any, *args: Any) -> None:
        destination.write(source.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", _no_links(errno.EPERM))
    monkeypatch.setattr(shutil, "copyfileobj", full)
    with pytest.raises(StoreUnwritableError, match="No space left"):
        store.backup(target)
    assert not target.exists() and _dot_files(tmp_path) == []

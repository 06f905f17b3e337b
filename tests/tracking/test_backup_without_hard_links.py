"""A store's backup on a file system without hard links (FAT on a USB disk, SMB and FUSE
mounts: ``os.link`` answers one of ``NO_HARD_LINKS``) is renamed into place without
replacing (Linux), or else copied into a file created only if none exists, instead of
failing: it still never replaces a file, and leaves nothing behind."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from child_env import child_env

from rengo.core.errors import ConfigError
from rengo.tracking import RunStore, StoreUnwritableError, new_file

LINUX = sys.platform.startswith("linux")


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


def _no_renames(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on an OS without a no-replace rename: the backup is copied."""
    monkeypatch.setattr(new_file, "rename_no_replace", lambda source, target: False)


@pytest.mark.parametrize("renames", [True, False])
@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOTSUP, errno.EXDEV])
def test_a_backup_where_hard_links_fail_is_placed_whole_and_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, renames: bool
) -> None:
    store = _store(tmp_path)
    target = tmp_path / "monday.db"
    monkeypatch.setattr(os, "link", _no_links(code))
    if not renames:
        _no_renames(monkeypatch)
    assert store.backup(target) == target
    monkeypatch.undo()
    assert [r.name for r in RunStore(target).list_runs()] == ["kept"]
    assert target.stat().st_mode & 0o777 == 0o600
    assert _dot_files(tmp_path) == []


@pytest.mark.parametrize("renames", [True, False])
def test_without_hard_links_a_file_that_appears_meanwhile_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: bool
) -> None:
    store = _store(tmp_path)
    target = tmp_path / "monday.db"
    if not renames:
        _no_renames(monkeypatch)

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
    _no_renames(monkeypatch)
    monkeypatch.setattr(shutil, "copyfileobj", full)
    with pytest.raises(StoreUnwritableError, match="No space left"):
        store.backup(target)
    assert not target.exists() and _dot_files(tmp_path) == []


KILLED_MID_COPY = """
import os, shutil, signal, sys
from pathlib import Path
from rengo.tracking import RunStore

def no_link(source, destination, *args, **kwargs):
    raise PermissionError(1, "Operation not permitted")

def killed(source, destination, *args):
    destination.write(source.read(4096))
    destination.flush()
    os.kill(os.getpid(), signal.SIGKILL)

os.link, shutil.copyfileobj = no_link, killed
RunStore(Path(sys.argv[1])).backup(Path(sys.argv[2]))
"""


@pytest.mark.skipif(not LINUX, reason="the no-replace rename is Linux's renameat2")
def test_without_hard_links_a_backup_killed_before_it_is_placed_leaves_no_truncated_file(
    tmp_path: Path,
) -> None:
    """kill -9 (or a power loss) while the backup is being placed: the final name holds
    the whole backup or nothing, never the first 4096 bytes of it."""
    _store(tmp_path).close()
    target = tmp_path / "monday.db"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_COPY, str(tmp_path / "runs.db"), str(target)],
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode in (0, -9), child.stderr
    if target.exists():
        assert [r.name for r in RunStore(target).list_runs()] == ["kept"]


@pytest.mark.skipif(not LINUX, reason="the no-replace rename is Linux's renameat2")
def test_the_no_replace_rename_refuses_an_existing_target_and_keeps_both_files(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    source.write_bytes(b"new")
    target.write_bytes(b"kept")
    with pytest.raises(FileExistsError):
        new_file.rename_no_replace(source, target)
    assert (source.read_bytes(), target.read_bytes()) == (b"new", b"kept")
    target.unlink()
    assert new_file.rename_no_replace(source, target)
    assert target.read_bytes() == b"new" and not source.exists()


def test_the_modules_docstring_names_the_same_link_errors_the_code_falls_back_on() -> None:
    doc = new_file.__doc__ or ""
    listed = {name for name in errno.errorcode.values() if f"``{name}``" in doc}
    falls_back_on = {errno.errorcode[code] for code in new_file.NO_HARD_LINKS}
    assert listed == falls_back_on or (not listed and "NO_HARD_LINKS" in doc)

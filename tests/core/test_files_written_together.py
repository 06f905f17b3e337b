"""write_together: every file or none, the files already there left as they were."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from rengo.core.files import write_together


def test_files_written_together_appear_whole_and_owner_only(tmp_path: Path) -> None:
    write_together({tmp_path / "bank.json": b"{}\n", tmp_path / "shop.json": b"[]\n"})
    assert (tmp_path / "bank.json").read_bytes() == b"{}\n"
    assert (tmp_path / "shop.json").read_bytes() == b"[]\n"
    assert stat.S_IMODE((tmp_path / "shop.json").stat().st_mode) == 0o600


def test_a_file_that_cannot_be_written_leaves_every_path_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure on the second file left the first one replaced."""
    (tmp_path / "bank.json").write_bytes(b"old\n")
    calls = {"fsync": 0}
    real_fsync = os.fsync

    def second_fails(fd: int) -> None:
        calls["fsync"] += 1
        if calls["fsync"] == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", second_fails)
    with pytest.raises(OSError, match="No space left"):
        write_together({tmp_path / "bank.json": b"new\n", tmp_path / "shop.json": b"new\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.json"]  # no temporary file
    assert (tmp_path / "bank.json").read_bytes() == b"old\n"


def test_a_rename_that_fails_once_some_are_in_place_names_those_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a rename can leave some files new: the error then says which, so that a caller
    does not report 'nothing was written'."""
    real = os.replace
    calls: list[str] = []

    def second_fails(src: Any, dst: Any) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    first, second = tmp_path / "bank.json", tmp_path / "shop.json"
    with pytest.raises(OSError) as failed:
        write_together({first: b"1", second: b"2"})
    assert failed.value.__notes__ == [f"replaced before the error: {first}"]
    assert not second.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_folder_flush_that_fails_after_every_rename_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rengo.core.files as files

    def fails(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files, "_flush_folder", fails)
    first, second = tmp_path / "bank.json", tmp_path / "shop.json"
    with pytest.raises(OSError) as failed:
        write_together({first: b"1", second: b"2"})
    assert failed.value.__notes__ == [f"replaced before the error: {first}, {second}"]

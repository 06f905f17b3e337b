"""replacing_file: the new contents appear whole and owner-only, or the old file stays as
it was, with no temporary file left beside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from rengo.core.files import replacing_file


def test_a_file_written_piece_by_piece_replaces_the_old_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_bytes(b"old\n")
    with replacing_file(target, 0o640) as out:
        out.write(b"id,score\n")
        assert target.read_bytes() == b"old\n"  # nothing seen before the body ends
        out.write(b"7,0.5\n")
    assert target.read_bytes() == b"id,score\n7,0.5\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_a_body_that_raises_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_bytes(b"old\n")
    with pytest.raises(ValueError, match="bad row"), replacing_file(target) as out:
        out.write(b"half")
        raise ValueError("bad row")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_flush_or_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def fails(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fails)
    target = tmp_path / "scores.csv"
    target.write_bytes(b"old\n")
    with pytest.raises(OSError, match="No space left"), replacing_file(target) as out:
        out.write(b"new\n")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]

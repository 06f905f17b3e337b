"""write_atomically where the OS has no POSIX file modes and refuses to open a folder
(Windows: no ``os.fchmod`` before Python 3.13, ``os.open`` of a folder is a PermissionError)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rengo.core.files import write_atomically
from rengo.transport.certs import init_certificates


@pytest.fixture
def windows_like_os(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os`` as Windows has it: no fchmod, and a folder cannot be opened as a file."""
    monkeypatch.delattr(os, "fchmod", raising=False)
    real_open = os.open

    def open_refusing_folders(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if Path(path).is_dir():
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_refusing_folders)


@pytest.mark.usefixtures("windows_like_os")
def test_a_file_is_written_whole_where_modes_and_folder_flushes_do_not_exist(
    tmp_path: Path,
) -> None:
    target = tmp_path / "Schlüssel Köln" / "party.key"
    target.parent.mkdir()
    write_atomically(target, b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["party.key"]  # no temporary left


@pytest.mark.usefixtures("windows_like_os")
def test_a_federation_s_certificates_are_made_where_modes_do_not_exist(tmp_path: Path) -> None:
    folder = tmp_path / "Zertifikate Verbund"
    init_certificates(folder, ["uk-koeln", "charite"])
    assert (folder / "parties" / "uk-koeln.key").is_file()
    assert (folder / "ca.pem").is_file()

"""`file_sha256` streams a file of any size into the SHA-256 of its bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rengo.core.errors import DataError
from rengo.data import file_sha256
from rengo.data.file_digest import CHUNK_BYTES


def test_the_digest_of_a_file_longer_than_a_chunk_is_the_sha256_of_its_bytes(
    tmp_path: Path,
) -> None:
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)  # two chunks and a part
    path = tmp_path / "table.csv"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_one_changed_byte_changes_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(b"a,y\n1,0\n")
    before = file_sha256(path)
    path.write_bytes(b"a,y\n2,0\n")
    assert file_sha256(path) != before


def test_a_missing_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone\.csv"):
        file_sha256(tmp_path / "gone.csv")

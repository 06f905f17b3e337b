""":func:`rengo.data.csv_export.write_csv`, the writer behind every CSV rengo exports: by
default the bytes scripts parse; for Excel a byte-order mark, ';' and decimal commas."""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.data import load_csv
from rengo.data.csv_export import write_csv
from rengo.data.csv_table import read_csv_rows

HEADER = ["id", "name", "rounds", "amount", "score"]
ROWS = [
    ["a", "J\u00fcrgen", 3, Decimal("5.0000"), 0.25],
    ["b", "1.5", np.int64(2), Decimal("-0.50"), np.float32(0.125)],
    ["c", None, True, Decimal("0"), np.float64(1e-07)],
]


def test_the_default_bytes_are_the_csv_modules_in_utf8_without_a_mark(tmp_path: Path):
    """What scripts parsed before the writer existed: csv.writer's bytes, UTF-8, no mark."""
    expected = io.StringIO(newline="")
    writer = csv.writer(expected)
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    path = tmp_path / "out.csv"
    assert write_csv(path, HEADER, ROWS) == 3
    assert path.read_bytes() == expected.getvalue().encode("utf-8")
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_an_excel_export_starts_with_a_mark_that_rengos_reader_skips(tmp_path: Path):
    path = tmp_path / "excel.csv"
    write_csv(path, HEADER, ROWS, bom=True)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,name,")
    assert "J\u00fcrgen".encode() in data  # UTF-8 after the mark, which tells Excel so
    table = read_csv_rows(path)
    assert table.header == HEADER and table.column("name")[0] == "J\u00fcrgen"


def test_decimal_commas_change_numbers_only_and_read_back_as_written(tmp_path: Path):
    """A name that reads as a number (``1.5``) is text and stays as it is; integers and
    booleans have no decimal point to change."""
    path = tmp_path / "german.csv"
    write_csv(path, HEADER, ROWS, delimiter=";", decimal=",", bom=True)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1:] == [
        "a;J\u00fcrgen;3;5,0000;0,25",
        "b;1.5;2;-0,50;0,125",
        "c;;True;0;1e-07",
    ]
    numbers = load_csv(
        path, label=None, id_column="id", features=["amount", "score"], delimiter=";",
        decimal=",",
    )  # fmt: skip
    assert numbers.X.tolist() == [[5.0, 0.25], [-0.5, 0.125], [0.0, 1e-07]]


def test_a_file_in_the_windows_code_page_reads_back_in_it(tmp_path: Path):
    path = tmp_path / "cp1252.csv"
    write_csv(path, HEADER, ROWS, delimiter=";", decimal=",", encoding="cp1252")
    assert "J\u00fcrgen".encode("cp1252") in path.read_bytes()
    read = read_csv_rows(path, ";", encoding="cp1252")
    assert read.header == HEADER and read.rows[0][:2] == ["a", "J\u00fcrgen"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"decimal": ";"}, "decimal must be '.' or ','"),
        ({"decimal": ","}, "is also the delimiter"),
        ({"delimiter": ";;"}, "delimiter must be one character"),
        ({"encoding": "klingon"}, "encoding 'klingon'"),
        ({"encoding": "cp1252", "bom": True}, "byte-order mark is written only in UTF-8"),
    ],
)
def test_a_format_that_cannot_be_is_refused_before_the_file_is_opened(
    tmp_path: Path, options: dict[str, str], says: str
):
    path = tmp_path / "out.csv"
    with pytest.raises(ConfigError, match=says):
        write_csv(path, HEADER, ROWS, **options)  # type: ignore[arg-type]
    assert not path.exists()


def test_a_written_csv_is_its_owners_only_and_never_seen_half_written(tmp_path: Path) -> None:
    """Scores, payouts and rows are personal or business data: before, the file took the
    umask's mode (0644 under 022) and existed, readable, while its rows were written."""
    target = tmp_path / "scores.csv"
    seen: list[list[tuple[str, int]]] = []

    def rows() -> Iterator[list[object]]:
        for i in range(3):
            seen.append([(p.name, stat.S_IMODE(p.stat().st_mode)) for p in tmp_path.iterdir()])
            yield [f"id{i}", 0.5]

    previous = os.umask(0o022)
    try:
        assert write_csv(target, ["id", "score"], rows()) == 3
    finally:
        os.umask(previous)
    assert all(name != "scores.csv" and mode == 0o600 for step in seen for name, mode in step)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"id,score\r\nid0,0.5\r\nid1,0.5\r\nid2,0.5\r\n"


def test_a_failed_write_leaves_the_earlier_file_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    write_csv(target, ["id"], [["a"]])

    def rows() -> Iterator[list[object]]:
        yield ["b"]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_csv(target, ["id"], rows())
    assert target.read_bytes() == b"id\r\na\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]

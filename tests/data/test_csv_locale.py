"""CSV files as spreadsheets write them outside the US-English locale: ';' between fields,
a decimal comma, the Windows code page, CRLF line ends, a byte-order mark, umlauts in file
and column names. Each reads with the options that say so, and each is named, with the
option, when read without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.data import load_csv
from rengo.data.csv_table import csv_header, read_csv_rows

# a hospital's export from a German Excel: "CSV (Trennzeichen-getrennt)"
GERMAN_EXPORT = "id;Größe;Gewicht in kg;Blutdruck\r\nK-1;1,75;70,5;2,5\r\nK-2;1,62;-3,25e1;3,0\r\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    place = tmp_path / "Universitätsklinikum Köln" / "Daten 2026"
    place.mkdir(parents=True)
    return place


def test_a_german_spreadsheet_export_reads_with_its_delimiter_encoding_and_decimal(
    folder: Path,
) -> None:
    path = folder / "Kohorte Süd.csv"
    path.write_bytes(GERMAN_EXPORT.encode("cp1252"))
    table = load_csv(
        path,
        label="Blutdruck",
        id_column="id",
        delimiter=";",
        encoding="cp1252",
        decimal=",",
        task="regression",
    )
    assert table.feature_names == ("Größe", "Gewicht in kg")
    np.testing.assert_array_equal(table.X, [[1.75, 70.5], [1.62, -32.5]])
    np.testing.assert_array_equal(table.labels(), [2.5, 3.0])
    assert table.ids is not None and table.ids.tolist() == ["K-1", "K-2"]
    assert csv_header(path, ";", "cp1252") == ["id", "Größe", "Gewicht in kg", "Blutdruck"]
    assert read_csv_rows(path, ";", encoding="cp1252").column("Größe") == ["1,75", "1,62"]


@pytest.mark.parametrize("encoding", ["utf-8", "UTF8", "utf-8-sig"])
def test_a_utf8_export_with_a_byte_order_mark_reads_as_any_spelling_of_utf8(
    folder: Path, encoding: str
) -> None:
    path = folder / "mit BOM.csv"
    path.write_bytes(GERMAN_EXPORT.encode("utf-8-sig"))
    table = load_csv(
        path, label=None, id_column="id", delimiter=";", decimal=",", encoding=encoding
    )
    assert table.feature_names == ("Größe", "Gewicht in kg", "Blutdruck")


def test_a_windows_code_page_file_read_as_utf8_names_the_encoding_option(folder: Path) -> None:
    path = folder / "cp1252.csv"
    path.write_bytes(GERMAN_EXPORT.encode("cp1252"))
    with pytest.raises(DataError, match=r"cp1252.csv:1: not UTF-8 text.*encoding='cp1252'"):
        load_csv(path, label=None, id_column="id", delimiter=";", decimal=",")


def test_a_utf8_file_read_as_the_windows_code_page_is_named_utf8(folder: Path) -> None:
    # its byte-order mark would have become part of the first column's name: "ï»¿id"
    path = folder / "utf8.csv"
    path.write_bytes(GERMAN_EXPORT.encode("utf-8-sig"))
    with pytest.raises(DataError, match="byte-order mark: it is UTF-8 text, not cp1252"):
        load_csv(path, label=None, id_column="id", delimiter=";", encoding="cp1252")


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [("id;a;y\r\nk1;0,5;1\r\n", ";"), ('id,a,y\r\nk1,"0,5",1\r\n', ",")],
)
def test_a_decimal_comma_read_without_the_option_names_it(
    folder: Path, text: str, delimiter: str
) -> None:
    """It was called "not a number" with a hint to encode categories as numbers."""
    path = folder / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"t.csv:2: column 'a'.*'0,5'.*decimal comma.*decimal="):
        load_csv(path, id_column="id", delimiter=delimiter)


def test_a_label_with_a_decimal_comma_is_not_read_as_class_names(folder: Path) -> None:
    """A regression target written 2,5 became one class per value, without a word."""
    path = folder / "t.csv"
    path.write_text("id;a;y\nk1;1;2,5\nk2;2;3,75\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.csv:2: label 'y' is '2,5'.*decimal=','"):
        load_csv(path, id_column="id", delimiter=";")
    classes = load_csv(path, id_column="id", delimiter=";", task="classification")
    assert classes.classes == ("2,5", "3,75")  # class names are left as they are
    numbers = load_csv(path, id_column="id", delimiter=";", decimal=",")
    np.testing.assert_array_equal(numbers.labels(), [2.5, 3.75])


@pytest.mark.parametrize(("a", "y"), [("1.500", "1"), ("1", "2.5")])
def test_a_point_in_a_table_read_with_a_decimal_comma_is_refused(
    folder: Path, a: str, y: str
) -> None:
    # 1.500 may be a thousand with a thousands separator: never read as one and a half
    path = folder / "t.csv"
    path.write_text(f"id;a;y\nk1;0,5;0\nk2;{a};{y}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.csv:3: .*holds a '\.', but this table's decimal"):
        load_csv(path, id_column="id", delimiter=";", decimal=",", task="regression")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "delimiter must be one character"),
        ({"delimiter": '"'}, "delimiter must be one character"),
        ({"encoding": "windows-german"}, "encoding 'windows-german' is not a text encoding"),
        ({"decimal": "·"}, "decimal must be '.' or ','"),
        ({"decimal": ","}, "decimal ',' is also the delimiter"),
    ],
)
def test_a_format_option_that_cannot_be_is_refused_by_name(
    folder: Path, options: dict[str, str], message: str
) -> None:
    path = folder / "t.csv"
    path.write_text("a,y\n1,0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_csv(path, **options)

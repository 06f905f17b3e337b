"""CSV loading: round trips, label encoding, ids, and a precise DataError for each bad file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.data import Dataset, load_csv, load_wine, save_csv


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_string_labels_become_sorted_class_codes_and_ids_are_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "customer,age,income,churn\nc7,31,2.5,yes\nc2,45,1.0,no\n\nc9, 28 ,3.25,yes\n",
    )
    data = load_csv(path, label="churn", id_column="customer")
    assert data.classes == ("no", "yes")
    np.testing.assert_array_equal(data.y, [1, 0, 1])
    np.testing.assert_array_equal(data.ids, ["c7", "c2", "c9"])
    assert data.feature_names == ("age", "income")
    np.testing.assert_array_equal(data.X, [[31, 2.5], [45, 1.0], [28, 3.25]])
    assert data.name == "t"


def test_save_then_load_round_trips_exactly(tmp_path: Path) -> None:
    wine = load_wine()
    wine = Dataset(
        X=wine.X * np.pi, y=wine.y, feature_names=wine.feature_names, classes=wine.classes,
        ids=np.array([f"w{i}" for i in range(len(wine))]), name="wine",
    )  # fmt: skip
    path = tmp_path / "wine.csv"
    save_csv(wine, path, label="cultivar", id_column="wid")
    back = load_csv(path, label="cultivar", id_column="wid")
    np.testing.assert_array_equal(back.X, wine.X)
    np.testing.assert_array_equal(back.y, wine.y)
    np.testing.assert_array_equal(back.ids, wine.ids)
    assert back.classes == wine.classes and back.feature_names == wine.feature_names


def test_numeric_labels_auto_detect_classes_or_regression(tmp_path: Path) -> None:
    classes = load_csv(_write(tmp_path, "x,y\n1,3\n2,7\n3,3\n"))
    assert classes.classes == ("3", "7")
    np.testing.assert_array_equal(classes.y, [0, 1, 0])
    target = load_csv(_write(tmp_path, "x,y\n1,0.5\n2,7\n", "r.csv"))
    assert target.classes is None
    np.testing.assert_array_equal(target.y, [0.5, 7.0])
    forced = load_csv(_write(tmp_path, "x,y\n1,3\n2,7\n", "f.csv"), task="regression")
    assert forced.classes is None


def test_feature_only_table_and_missing_values_option(tmp_path: Path) -> None:
    data = load_csv(
        _write(tmp_path, "id,a,b\n1,,2\n2,3,?\n"), label=None, id_column="id",
        missing_values=("", "?"), dtype=np.float32,
    )  # fmt: skip
    assert data.y is None and data.X.dtype == np.float32
    assert np.isnan(data.X[0, 0]) and np.isnan(data.X[1, 1]) and data.X[1, 0] == 3
    # a table read with missing cells takes a written-out NaN as one too (pandas writes them)
    nan = load_csv(_write(tmp_path, "a,y\n1,0\nNaN,1\n"), missing_values=("",))
    assert np.isnan(nan.X[1, 0])


def test_header_only_quoted_fields_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes('\ufeff"a","label"\n"1.5","x, y"\n'.encode())
    data = load_csv(path, label="label")
    assert data.feature_names == ("a",) and data.classes == ("x, y",)


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("", {}, r"t\.csv: file is empty"),
        ("\n\n", {}, "file is empty"),
        ("a,y\n", {}, "no data rows"),
        ("a,b,y\n1,2,0\n3,0\n", {}, r"t\.csv:3: row has 2 fields but the header has 3"),
        ("a,b,y\n1,2,0\n3,4,5,0\n", {}, r":3: row has 4 fields"),
        ("a,b,y\n1,2,0\n1,abc,1\n", {}, r"t\.csv:3: column 'b' \(column 2\) 'abc' is not a number"),
        ("a,b,y\n1,,0\n", {}, r":2: column 'b' \(column 2\) is empty \(a horizontal job takes"),
        # numpy parses these as floats: they poisoned every training round later
        ("a,b,y\n1,2,0\n1,nan,1\n", {}, r":3: column 'b' \(column 2\) is 'nan', not a finite"),
        ("a,b,y\n1,2,0\ninf,1,1\n", {}, r":3: column 'a' \(column 1\) is 'inf', not a finite"),
        (
            "a,b,y\n1,,0\n-Infinity,1,1\n",
            {"missing_values": ("",)},
            r":3: column 'a' \(column 1\) is '-Infinity'",
        ),
        ("a,b\n1,2\n", {}, r"no label column 'y'; columns are \['a', 'b'\]"),
        ("a,b,y\n1,2,0\n", {"id_column": "id"}, "no id column 'id'"),
        ("a,y\n1,0\n2,nan\n3,1\n", {}, r":3: label is missing \('nan'\)"),
        ("a,y\n1,0\n2,\n", {}, r":3: label is missing"),
        ("a,y\n1,yes\n2,NA\n", {}, r":3: label is missing"),
        ("a,y\n1,0.5\n2,inf\n", {}, r":3: label is 'inf'"),
        ("a,y\n1,cat\n", {"task": "regression"}, r":2: regression label 'cat' is not a number"),
        ("a,a,y\n1,2,0\n", {}, "names column 'a' twice"),
        ("a,,y\n1,2,0\n", {}, "header column 2 has no name"),
        ("id,a,y\n7,1,0\n8,1,0\n7,2,1\n", {"id_column": "id"}, r":4: id '7' .* repeats .*:2"),
        ('a,y\n"1,0\n', {}, "not valid CSV|row has 1 fields"),
    ],
)
def test_malformed_csv_raises_data_error_with_location(
    tmp_path: Path, text: str, kwargs: dict, pattern: str
) -> None:
    with pytest.raises(DataError, match=pattern):
        load_csv(_write(tmp_path, text), **kwargs)


@pytest.mark.parametrize("cell", ["1_000", "\uff11\uff12", "\u0661\u0662", "2\x00"])
def test_a_cell_python_reads_as_a_number_but_a_table_does_not_is_refused_by_name(
    tmp_path: Path, cell: str
) -> None:
    # float() reads each as 1000, 12, 12, 2 and 3: a damaged or foreign-locale file, not data
    path = _write(tmp_path, f"a,b,y\n1,2,0\n1,{cell},1\n")
    with pytest.raises(
        DataError,
        match=rf":3: column 'b' \(column 2\) is {re.escape(repr(cell))}, not a plain number",
    ):
        load_csv(path)


@pytest.mark.parametrize("label", ["1_000", "\uff11"])
def test_a_label_that_is_not_plain_number_text_is_a_class_name_or_refused_for_regression(
    tmp_path: Path, label: str
) -> None:
    path = _write(tmp_path, f"a,y\n1,2\n2,{label}\n3,2\n")
    assert load_csv(path).classes == tuple(sorted(("2", label)))
    with pytest.raises(
        DataError, match=rf":3: regression label {re.escape(repr(label))} is not a number"
    ):
        load_csv(path, task="regression")


def test_missing_file_and_non_utf8_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_csv(tmp_path / "absent.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes(b"a,y\n\xe9,1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_csv(path)


def test_csv_value_that_overflows_float32_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a,y\n1,0\n1e300,1\n")
    with pytest.raises(
        DataError, match=r"big.csv:3: column 'a' \(column 1\) is '1e300', overflows float32"
    ):
        load_csv(path, dtype=np.float32)
    assert load_csv(path).X[1, 0] == 1e300


def test_saving_a_whole_number_regression_target_warns_how_to_read_it_back(
    tmp_path: Path,
) -> None:
    from rengo.data import load_diabetes

    diabetes = load_diabetes()
    path = tmp_path / "d.csv"
    with pytest.warns(UserWarning, match="reads as classes unless told task='regression'"):
        save_csv(diabetes, path)
    back = load_csv(path, task="regression")
    np.testing.assert_array_equal(back.y, diabetes.y)


def test_non_utf8_error_names_the_line_and_the_byte_offset_in_the_whole_file(
    tmp_path: Path,
) -> None:
    # the csv reader decodes in chunks: a bad byte far into the file must still be placed
    rows = "".join(f"{i},{i % 2}\n" for i in range(20_000))
    head = ("a,y\n" + rows).encode()
    path = tmp_path / "latin.csv"
    path.write_bytes(head + b"\xe9,1\n")
    line = head.count(b"\n") + 1
    with pytest.raises(
        DataError, match=rf"latin.csv:{line}: not UTF-8 text \(.* at byte {len(head)} of the file\)"
    ):
        load_csv(path)


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_file_with_another_separator_is_named_as_such(tmp_path: Path, separator: str) -> None:
    """A ';'-separated export read as one column said only "no label column 'y'", or, with
    decimal commas, that its rows were ragged."""
    looks = rf"looks {re.escape(repr(separator))}-separated"
    path = _write(tmp_path, f"id{separator}a{separator}y\nc1{separator}1.5{separator}0\n")
    with pytest.raises(DataError, match=rf"no label column 'y'.*{looks}"):
        load_csv(path, id_column="id")
    path = _write(tmp_path, f"id{separator}a{separator}y\nc1{separator}1,5{separator}0\n")
    with pytest.raises(DataError, match=rf":2: row has 2 fields.*{looks}"):
        load_csv(path, id_column="id")
    assert load_csv(_write(tmp_path, "a;b\n1\n2\n", "one.csv"), label=None).X.shape == (2, 1)


def test_a_text_feature_column_names_the_job_key_that_keeps_it_out(tmp_path: Path) -> None:
    """A job's table with a text ID column it did not name was told to use features=[...],
    which no job file takes; the job's key is id_column."""
    path = _write(tmp_path, "customer,a,y\nc1,1,0\nc2,2,1\n")
    with pytest.raises(
        DataError, match=r":2: column 'customer' .* a job's \[data\] or \[vfl\] id_column"
    ):
        load_csv(path)
    assert load_csv(path, id_column="customer").feature_names == ("a",)


def test_an_empty_feature_cell_tells_a_job_user_what_to_do(tmp_path: Path) -> None:
    """A horizontal job's user was told to pass missing_values=('',), which no job file takes."""
    path = _write(tmp_path, "a,b,y\n1,,0\n2,3,1\n")
    with pytest.raises(DataError, match=r":2: column 'b' .*a horizontal job takes no empty"):
        load_csv(path)
    assert np.isnan(load_csv(path, missing_values=("",)).X[0, 1])


def test_a_trailing_separator_on_every_line_is_named_as_such(tmp_path: Path) -> None:
    """A spreadsheet export with a ',' at the end of every line read 'header column 3 has no
    name', which does not say what to remove."""
    path = _write(tmp_path, "a,y,\n1,0,\n2,1,\n")
    with pytest.raises(DataError, match=r":1: header column 3 has no name \(the line ends with"):
        load_csv(path)
    with pytest.raises(DataError, match=r":1: header column 1 has no name$"):
        load_csv(_write(tmp_path, ",a,y\n1,1,0\n", "lead.csv"))


def test_labels_that_differ_only_in_letter_case_are_refused_naming_both_lines(
    tmp_path: Path,
) -> None:
    """An export with "Yes" and "yes" trained as a 3-class model without a word."""
    path = _write(tmp_path, "id,a,y\n1,1,Yes\n2,3,no\n3,3,yes\n4,2,no\n")
    with pytest.raises(
        DataError,
        match=r"t.csv:4: label 'yes' differs only in letter case from 'Yes' at \S*t.csv:2",
    ):
        load_csv(path, id_column="id")
    assert load_csv(_write(tmp_path, "a,y\n1,Yes\n2,No\n"), "y").classes == ("No", "Yes")


def _tall_table(tmp_path: Path, rows: int, columns: int = 20) -> Path:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(rows, columns)).round(4)
    head = ",".join(["id", *(f"x{j}" for j in range(columns)), "y"])
    body = (f"{i:07d}," + ",".join(map(str, row)) + f",{i % 2}" for i, row in enumerate(values))
    return _write(tmp_path, "\n".join([head, *body]) + "\n", "tall.csv")


def test_a_table_read_in_chunks_equals_the_table_read_at_once_and_names_a_late_bad_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rengo.data import csv_table

    path = _tall_table(tmp_path, 300, columns=3)
    whole = load_csv(path, id_column="id")
    monkeypatch.setattr(csv_table, "CHUNK_CELLS", 7)  # chunks of one row and more
    chunked = load_csv(path, id_column="id")
    np.testing.assert_array_equal(chunked.X, whole.X)
    np.testing.assert_array_equal(chunked.y, whole.y)
    np.testing.assert_array_equal(chunked.ids, whole.ids)
    lines = path.read_text().splitlines()
    lines[250] = "0000249,NA,1.5,2.5,1"  # line 251 of the file
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"tall.csv:251: column 'x0' \(column 2\) 'NA' "):
        load_csv(path, id_column="id")
    lines[250] = "0000006,1.5,2.5,3.5,1"  # the id of line 8
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"tall.csv:251: id '0000006' .* repeats \S*tall.csv:8"):
        load_csv(path, id_column="id")


def test_a_tall_table_is_loaded_without_holding_every_cell_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cell was held as a Python str until the whole file was read: a 160 MB file of
    1M rows by 22 columns took 2.1 GB. Now only the id and label cells are kept as text."""
    import tracemalloc

    from rengo.data import csv_table

    path = _tall_table(tmp_path, 20_000)
    monkeypatch.setattr(csv_table, "CHUNK_CELLS", 4096, raising=False)
    tracemalloc.start()
    try:
        data = load_csv(path, id_column="id")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.X.shape == (20_000, 20)
    assert peak < 5 * data.X.nbytes  # the cells as text alone were over 12x the floats


def test_a_spreadsheets_separator_line_is_named_as_such_not_as_a_nameless_column(
    tmp_path: Path,
) -> None:
    """'sep=,' (a line some spreadsheet exports start with) was reported as a header whose
    line "ends with a separator"."""
    with pytest.raises(DataError, match=r"t.csv:1: 'sep=,' is a spreadsheet's separator line"):
        load_csv(_write(tmp_path, "sep=,\nid,a,y\n1,2,0\n"), id_column="id")


def test_a_file_without_its_header_row_is_named_as_such(tmp_path: Path) -> None:
    """Its first data row was read as column names: "no label column 'y'" said nothing of it."""
    lacks = r"the header holds only numbers: does the file lack its header row\?"
    with pytest.raises(DataError, match=rf"no label column 'y'; .*{lacks}"):
        load_csv(_write(tmp_path, "1,2.5,0\n2,3.5,1\n"))
    with pytest.raises(DataError, match=rf"names column '1' twice; {lacks}"):
        load_csv(_write(tmp_path, "1,1.5,1\n2,3.5,0\n"))
    assert load_csv(_write(tmp_path, "1,2.5,0\n"), column_names=["id", "a", "y"]).X.shape == (
        1,
        2,
    )


@pytest.mark.parametrize("marker", ["NA", "null", "N/A", "?"])
def test_a_missing_value_marker_in_a_feature_column_is_named_as_one_with_how_to_write_it(
    tmp_path: Path, marker: str
) -> None:
    """R's, a database's and UCI's markers of a missing value were called 'not a number'
    and sent the user to encode categories; a table that reads empty cells as missing (a
    vertical party's) says to leave the cell empty, one that reads none says to fill it."""
    path = tmp_path / "t.csv"
    path.write_text(f"id,a,y\n1,1.5,0\n2,{marker},1\n3,2.5,0\n")
    marked = rf"t.csv:3: column 'a' \(column 2\) '{re.escape(marker)}' marks a missing value"
    with pytest.raises(DataError, match=marked + r" \(this table reads an empty cell as missing"):
        load_csv(path, id_column="id", missing_values=("",))
    with pytest.raises(DataError, match=marked + r" \(a horizontal job takes no missing feature"):
        load_csv(path, id_column="id")
    loaded = load_csv(path, id_column="id", missing_values=(marker,))
    assert np.isnan(loaded.X[1, 0])


def _numbered_table(rows: int, columns: int) -> tuple[str, np.ndarray]:
    """A CSV text (an id column, ``columns`` features, a few empty cells) and its numbers."""
    values = np.round(np.random.default_rng(rows).normal(size=(rows, columns)), 4)
    values[::53, 1] = np.nan
    lines = ["id," + ",".join(f"x{j}" for j in range(columns))]
    for i, row in enumerate(values.tolist()):
        lines.append(f"{i:09d}," + ",".join("" if v != v else repr(v) for v in row))
    return "\n".join(lines) + "\n", values


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r", "\n\n"])
def test_a_table_reads_the_same_numbers_whatever_its_line_ends(
    tmp_path: Path, line_end: str
) -> None:
    """Lines that end in a carriage return alone hold no line feed to count rows by, and
    blank lines are counted but hold no row: the table is read whole either way."""
    text, values = _numbered_table(3_000, 7)
    path = tmp_path / "t.csv"
    path.write_bytes(text.replace("\n", line_end).encode())
    table = load_csv(path, label=None, id_column="id", missing_values=("",))
    assert table.X.shape == values.shape
    assert np.array_equal(table.X, values, equal_nan=True)
    assert table.ids is not None and table.ids[-1] == "000002999"


def test_a_tall_table_is_parsed_into_its_place_not_joined_from_copies(tmp_path: Path) -> None:
    """The parsed chunks of a tall table were joined at the end, holding it twice (1.6 GB
    for a bank's 1M x 100); now each is parsed into its place in the table."""
    import tracemalloc

    text, values = _numbered_table(20_000, 100)
    path = tmp_path / "t.csv"
    path.write_text(text)
    load_csv(path, label=None, id_column="id", missing_values=("",))  # imports done
    tracemalloc.start()
    try:
        table = load_csv(path, label=None, id_column="id", missing_values=("",))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(table.X, values, equal_nan=True)
    assert peak < 2 * values.nbytes, f"{peak / values.nbytes:.2f}x the table"

"""The CSV files ``rengo tournament open | submit | score`` read: through the data layer's
reader, with ``--delimiter``, ``--encoding`` and ``--decimal`` for a spreadsheet's export,
and errors naming the line and the option that reads the file."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from typer.testing import CliRunner

from rengo.cli.tournament import tournament_app

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(tournament_app, name="tournament")

GERMAN = ["--delimiter", ";", "--encoding", "cp1252", "--decimal", ","]
"""German Excel's "CSV (Trennzeichen-getrennt)": ';'-separated cp1252 with decimal commas."""


def _opened(tmp_path: Path) -> tuple[list[str], list[str]]:
    """A tournament on diabetes: its ``--state``/``--store`` arguments and live row ids."""
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    opened = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *s])
    assert opened.exit_code == 0, opened.output
    with (tmp_path / "t-round1-live.csv").open(newline="", encoding="utf-8") as handle:
        return s, [row["id"] for row in csv.DictReader(handle)]


def _submit(s: list[str], path: Path, *options: str, name: str = "x") -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["tournament", "submit", "--participant", name, "--predictions", str(path),
         "--stake", "1", *s, *options],
    )  # fmt: skip
    return result.exit_code, result.output


def _one_line_error(output: str, *parts: str) -> None:
    assert output.startswith("error: ") and len(output.strip().splitlines()) == 1, output
    assert all(part in output for part in parts), output


def test_a_german_spreadsheet_export_is_scored_as_the_same_predictions_in_plain_csv(
    tmp_path: Path,
):
    s, ids = _opened(tmp_path)
    values = [round(k / len(ids), 6) for k in range(len(ids))]
    plain = tmp_path / "plain.csv"
    plain.write_text(
        "id,prediction\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, values, strict=True)),
        encoding="utf-8",
    )
    german = tmp_path / "german.csv"  # exactly id and prediction: Numerai refuses others
    rows = "".join(f"{i};{str(v).replace('.', ',')}\n" for i, v in zip(ids, values, strict=True))
    german.write_bytes(("id;prediction\n" + rows).encode("cp1252"))
    for name, path, options in (("de", german, GERMAN), ("en", plain, [])):
        code, output = _submit(s, path, *options, name=name)
        assert code == 0, output
    targets = tmp_path / "t-round1-targets.csv"
    german_targets = tmp_path / "targets-de.csv"
    text = targets.read_text(encoding="utf-8").replace(",", ";").replace(".", ",")
    lines = text.splitlines()  # the coordinator's own file may keep a note beside the targets
    noted = [lines[0] + ";Bemerkung f\u00fcr \u00c4nderung"] + [f"{x};\u00fc" for x in lines[1:]]
    german_targets.write_bytes("\n".join([*noted, ""]).encode("cp1252"))
    scored = runner.invoke(
        app, ["tournament", "score", "--targets", str(german_targets), *s, *GERMAN]
    )
    assert scored.exit_code == 0, scored.output
    cells = [line.strip("\u2502").split("\u2502") for line in scored.output.splitlines()]
    table = {row[0].strip(): row[1:] for row in cells if len(row) == 6}
    assert table["de"] == table["en"], scored.output


def test_open_reads_rows_exported_by_a_spreadsheet_with_their_eras(tmp_path: Path):
    rows = tmp_path / "rows.csv"
    body = "".join(f"r{k};{k % 7},5;E{k % 2};{k % 2},0\n" for k, _ in enumerate(range(40)))
    rows.write_bytes(("id;Gr\u00f6\u00dfe;era;target\n" + body).encode("cp1252"))
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    opened = runner.invoke(
        app,
        ["tournament", "open", "--csv", str(rows), "--era-column", "era",
         "--target-column", "target", *s, *GERMAN],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    with (tmp_path / "t-round1-live.csv").open(newline="", encoding="utf-8") as handle:
        live = list(csv.DictReader(handle))
    assert {row["era"] for row in live} == {"E0", "E1"}
    assert all(float(row["Gr\u00f6\u00dfe"]) == int(row["id"][1:]) % 7 + 0.5 for row in live)


def test_features_naming_the_target_column_are_refused_and_nothing_is_published(
    tmp_path: Path,
):
    """``--features x,target`` published the targets as a feature of the live rows."""
    rows = tmp_path / "rows.csv"
    body = "".join(f"r{k},e{k // 10},{k % 7},{(k % 5) / 4}\n" for k in range(40))
    rows.write_text("id,era,x,target\n" + body, encoding="utf-8")
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    for named in ("x,target", "id,x", "x,era"):
        opened = runner.invoke(
            app,
            ["tournament", "open", "--csv", str(rows), "--era-column", "era",
             "--target-column", "target", "--features", named, *s],
        )  # fmt: skip
        assert opened.exit_code == 2, opened.output
        _one_line_error(opened.output, "--features names", "published with the live rows")
    assert not list(tmp_path.glob("t-round1-*.csv"))


def test_a_row_with_an_extra_field_is_refused_naming_its_line(tmp_path: Path):
    """The csv module's DictReader kept a row's extra fields aside, so ``id,0,5`` (a
    decimal comma in a comma-separated file) was scored as 0 without a word."""
    s, ids = _opened(tmp_path)
    lines = [f"{i},{k / len(ids)}" for k, i in enumerate(ids)]
    lines[3] = f"{ids[3]},0,5"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,prediction\n" + "\n".join(lines) + "\n", encoding="utf-8")
    code, output = _submit(s, ragged)
    assert code == 2
    _one_line_error(output, "ragged.csv:5: row has 3 fields but the header has 2")


def test_a_semicolon_separated_file_read_as_commas_names_the_delimiter_option(tmp_path: Path):
    s, ids = _opened(tmp_path)
    semicolons = tmp_path / "semicolons.csv"
    lines = "".join(f"{i};0.{k}\n" for k, i in enumerate(ids))
    semicolons.write_text("id;prediction\n" + lines, encoding="utf-8")
    code, output = _submit(s, semicolons)
    assert code == 2
    _one_line_error(output, "semicolons.csv", "';'-separated", "--delimiter")
    assert _submit(s, semicolons, "--delimiter", ";")[0] == 0


def test_a_windows_1252_file_names_its_line_and_the_encoding_option(tmp_path: Path):
    s, ids = _opened(tmp_path)
    lines = "".join(f"{i},{k / len(ids)}\n" for k, i in enumerate(ids))
    windows = tmp_path / "windows.csv"
    windows.write_bytes(("id,prediction,Notiz\n" + lines.replace("\n", ",\n")).encode())
    windows.write_bytes(windows.read_bytes().replace(b",\n", b",caf\xe9\n", 1))
    code, output = _submit(s, windows)
    assert code == 2
    _one_line_error(output, "windows.csv:2: not UTF-8", "--encoding cp1252")
    code, output = _submit(s, windows, "--encoding", "cp1252")  # read, then its column refused
    assert code == 2
    _one_line_error(output, "windows.csv: columns are ['id', 'prediction', 'Notiz']", "extra")


def test_a_decimal_comma_names_the_decimal_option(tmp_path: Path):
    s, ids = _opened(tmp_path)
    commas = tmp_path / "commas.csv"
    lines = "".join(f"{i};0,{k}\n" for k, i in enumerate(ids))
    commas.write_text("id;prediction\n" + lines, encoding="utf-8")
    code, output = _submit(s, commas, "--delimiter", ";")
    assert code == 2
    _one_line_error(output, "commas.csv:2", "'0,0'", "--decimal ,")
    assert _submit(s, commas, "--delimiter", ";", "--decimal", ",")[0] == 0


def test_an_empty_id_or_a_number_only_python_reads_is_refused_naming_its_line(
    tmp_path: Path,
):
    """An empty id was named only as an unknown row; ``0.1_1`` was read as 0.11."""
    s, ids = _opened(tmp_path)
    lines = [f"{i},{k / len(ids)}" for k, i in enumerate(ids)]
    for name, line, says in (
        ("empty.csv", ",0.5", "empty.csv:223: id column 'id' is empty"),
        ("underscore.csv", f"{ids[0]},0.1_1", "underscore.csv:2: column 'prediction'"),
    ):
        path = tmp_path / name
        body = [*lines, line] if name == "empty.csv" else [line, *lines[1:]]
        path.write_text("id,prediction\n" + "\n".join(body) + "\n", encoding="utf-8")
        code, output = _submit(s, path)
        assert code == 2
        _one_line_error(output, says)


def test_a_format_option_that_cannot_be_is_a_usage_error_naming_it(tmp_path: Path):
    s, ids = _opened(tmp_path)
    plain = tmp_path / "p.csv"
    plain.write_text("id,prediction\n" + "".join(f"{i},0.{k}\n" for k, i in enumerate(ids)))
    for options, says in (
        (["--decimal", ";"], "decimal must be '.' or ','"),
        (["--encoding", "klingon"], "encoding 'klingon'"),
        (["--delimiter", ",,"], "delimiter must be one character"),
    ):
        code, output = _submit(s, plain, *options)
        assert code == 2
        _one_line_error(output, says)


def test_a_prediction_that_is_not_a_number_says_what_a_prediction_is_not_how_a_job_reads_one(
    tmp_path: Path,
):
    """A blank, NaN, missing-marker or text prediction was refused with the data layer's hint
    for a job's feature table ("encode categories as numbers first", "missing_values=...")."""
    s, ids = _opened(tmp_path)
    lines = [f"{i},{k / len(ids)}" for k, i in enumerate(ids)]
    for name, cell, says in (
        ("blank.csv", "", "column 'prediction' (column 2) is empty"),
        ("nan.csv", "nan", "is 'nan', not a finite number"),
        ("na.csv", "NA", "'NA' marks a missing value"),
        ("text.csv", "high", "'high' is not a number"),
    ):
        path = tmp_path / name
        path.write_text(
            "id,prediction\n" + "\n".join([f"{ids[0]},{cell}", *lines[1:]]) + "\n",
            encoding="utf-8",
        )
        code, output = _submit(s, path)
        assert code == 2
        _one_line_error(
            output, f"{name}:2: ", says, "(each row's prediction must be a number in [0, 1])"
        )
        assert "load_csv" not in output and "job" not in output and "categories" not in output


def test_open_refuses_a_feature_that_is_not_a_number_naming_its_own_options(tmp_path: Path):
    """``open --csv`` hinted with a job's keys and load_csv's arguments (``id_column``,
    ``missing_values=(...)``), which its user does not have."""
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    for cell, says, hint in (
        ("high", "'high' is not a number", "--features"),
        ("NA", "'NA' marks a missing value", "publishes no missing values"),
    ):
        rows = tmp_path / f"{cell}.csv"
        rows.write_text(f"id,era,f1,target\na,1,{cell},0.5\nb,1,0.25,0.75\n", encoding="utf-8")
        result = runner.invoke(
            app,
            ["tournament", "open", "--csv", str(rows), "--era-column", "era",
             "--target-column", "target", *s],
        )  # fmt: skip
        assert result.exit_code == 2
        _one_line_error(result.output, f"{rows.name}:2: column 'f1' (column 3) {says}", hint)
        assert "load_csv" not in result.output and "job" not in result.output
        assert not (tmp_path / "t.json").exists()

"""align_csv: CSV files in, the same entities on the same rows out."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.vfl.psi.csv_align import align_csv


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_align_csv_round_trip_puts_the_same_id_on_every_row(tmp_path: Path) -> None:
    bank = write_csv(
        tmp_path / "bank.csv",
        ["uid", "income", "label"],
        [[f"u{i:03d}", str(i * 10), str(i % 2)] for i in range(40)],
    )
    shop = write_csv(
        tmp_path / "shop.csv",
        ["visits", "uid"],
        [[str(i), f"u{i:03d}"] for i in range(70, 20, -1)],
    )
    web = write_csv(
        tmp_path / "web.csv",
        ["uid", "clicks,raw"],
        [[f"u{i:03d}", f"{i},x"] for i in range(30, 90)],
    )
    out = align_csv({"bank": bank, "shop": shop, "web": web}, "uid", "bank", tmp_path / "out")
    tables = {name: read_csv(path) for name, path in out.items()}
    assert out["bank"] == tmp_path / "out" / "bank.csv"
    assert tables["bank"][0] == ["uid", "income", "label"]
    assert tables["web"][0] == ["uid", "clicks,raw"]
    bank_ids = [row[0] for row in tables["bank"][1:]]
    assert bank_ids == [row[1] for row in tables["shop"][1:]]
    assert bank_ids == [row[0] for row in tables["web"][1:]]
    assert sorted(bank_ids) == [f"u{i:03d}" for i in range(30, 40)]
    for row in tables["bank"][1:]:
        i = int(row[0][1:])
        assert row[1:] == [str(i * 10), str(i % 2)]
    assert all(row[1] == f"{int(row[0][1:])},x" for row in tables["web"][1:])


def test_missing_id_column_names_the_columns(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id", "x"], [["1", "2"]])
    b = write_csv(tmp_path / "b.csv", ["key", "y"], [["1", "2"]])
    with pytest.raises(DataError, match=r"b.csv: no ID column 'id'; columns are \['key', 'y'\]"):
        align_csv({"a": a, "b": b}, "id", "a", tmp_path / "out")


def test_duplicate_ids_name_file_and_rows(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id"], [["1"], ["2"], ["1"]])
    b = write_csv(tmp_path / "b.csv", ["id"], [["1"]])
    with pytest.raises(DataError, match=r"a.csv: column 'id'.*'1' at rows 0 and 2"):
        align_csv({"a": a, "b": b}, "id", "a", tmp_path / "out")


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("id,x\n1,2\n3\n", encoding="utf-8")
    b = write_csv(tmp_path / "b.csv", ["id"], [["1"]])
    with pytest.raises(DataError, match=r"a.csv:3: row has 1 fields"):
        align_csv({"a": a, "b": b}, "id", "a", tmp_path / "out")


def test_empty_intersection_raises_unless_allowed(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id", "v"], [["1", "x"]])
    b = write_csv(tmp_path / "b.csv", ["id"], [["2"]])
    with pytest.raises(DataError, match="empty intersection"):
        align_csv({"a": a, "b": b}, "id", "a", tmp_path / "out")
    out = align_csv({"a": a, "b": b}, "id", "a", tmp_path / "out", allow_empty=True)
    assert read_csv(out["a"]) == [["id", "v"]] and read_csv(out["b"]) == [["id"]]


def test_refuses_to_overwrite_inputs_or_use_unsafe_party_names(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id"], [["1"]])
    b = write_csv(tmp_path / "b.csv", ["id"], [["1"]])
    with pytest.raises(ConfigError, match="overwrite"):
        align_csv({"a": a, "b": b}, "id", "a", tmp_path)
    with pytest.raises(ConfigError, match="party name"):
        align_csv({"../a": a, "b": b}, "id", "b", tmp_path / "out")


def test_ids_with_surrounding_whitespace_match_as_rengo_run_reads_them(tmp_path: Path) -> None:
    """align kept ' u001' raw while load_csv strips it: align matched half the customers
    that 'rengo run' matched on the same files."""
    a = write_csv(tmp_path / "a.csv", ["id", "x"], [[f"u{i:03d}", str(i)] for i in range(20)])
    b = write_csv(
        tmp_path / "b.csv",
        ["id", "y"],
        [[f" u{i:03d}" if i % 2 else f"u{i:03d}\t", str(i)] for i in range(20)],
    )
    out = align_csv({"a": a, "b": b}, "id", "a", tmp_path / "out")
    rows = read_csv(out["b"])[1:]
    assert len(rows) == 20 and all(r[0] == r[0].strip() for r in rows)
    assert [r[0] for r in read_csv(out["a"])[1:]] == [r[0] for r in rows]


def test_an_align_stopped_while_writing_leaves_the_earlier_outputs_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM while the outputs are written: before, the parties written so far
    held this run's rows beside the others' of the earlier run, in another row order, each
    file whole: misaligned rows nothing would catch."""
    bank = write_csv(tmp_path / "bank.csv", ["id", "x"], [[f"u{i}", str(i)] for i in range(20)])
    shop = write_csv(tmp_path / "shop.csv", ["id", "y"], [[f"u{i}", str(i)] for i in range(20)])
    out = align_csv({"bank": bank, "shop": shop}, "id", "bank", tmp_path / "out", seed=1)
    before = {party: path.read_bytes() for party, path in out.items()}
    real_writer = csv.writer
    written = []

    def stopped_at_the_second_file(handle: object, **options: object) -> object:
        written.append(handle)
        if len(written) == 2:
            raise KeyboardInterrupt
        return real_writer(handle, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(csv, "writer", stopped_at_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        align_csv({"bank": bank, "shop": shop}, "id", "bank", tmp_path / "out", seed=2)
    assert {party: path.read_bytes() for party, path in out.items()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bank.csv", "shop.csv"]


def test_aligned_files_are_byte_for_byte_what_the_rows_written_in_the_agreed_order_give(
    tmp_path: Path,
) -> None:
    """The shared rows, streamed from each file, come out as ``write_csv`` writes the rows
    read whole: quoted cells, a delimiter inside a cell, leading zeros and non-ASCII text
    kept, in a ';'-separated cp1252 file."""
    from rengo.data.csv_export import write_csv as rengo_write_csv
    from rengo.data.csv_table import read_csv_rows
    from rengo.vfl.psi import private_set_intersection

    def table(path: Path, ids: range, extra: str) -> Path:
        with path.open("w", newline="", encoding="cp1252") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(["id", "name", extra])
            for i in ids:
                writer.writerow([f"{i:07d}", f'Jürgen "{i}"; Bank', f" {i},5 "])
        return path

    inputs = {
        "bank": table(tmp_path / "bank.csv", range(0, 60), "income"),
        "telco": table(tmp_path / "telco.csv", range(90, 20, -1), "minutes"),
    }
    out = align_csv(
        inputs, "id", "bank", tmp_path / "out", delimiter=";", encoding="cp1252", seed=3
    )
    read = {p: read_csv_rows(path, ";", encoding="cp1252") for p, path in inputs.items()}
    result = private_set_intersection(
        {p: [row[0] for row in rows.rows] for p, rows in read.items()}, "bank", seed=3
    )
    for party, rows in read.items():
        expected = tmp_path / f"expected-{party}.csv"
        rengo_write_csv(
            expected,
            rows.header,
            (rows.rows[i] for i in result.rows(party)),
            delimiter=";",
            encoding="cp1252",
        )
        assert out[party].read_bytes() == expected.read_bytes()
    assert len(read_csv_rows(out["bank"], ";", encoding="cp1252").rows) == 39


def test_align_keeps_the_shared_rows_text_not_every_cell_of_a_tall_file(tmp_path: Path) -> None:
    """A bank's 3M rows beside a 1M overlap: the rows outside the overlap are read and
    dropped, never all held as Python strings (about 60 bytes a cell, several times the
    file's size). Before, every cell of every party's file was held at once."""
    import tracemalloc

    from rengo.vfl.psi import private_set_intersection

    columns = [f"f{j}" for j in range(40)]

    def table(path: Path, ids: range) -> Path:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", *columns])
            for i in ids:
                writer.writerow([f"c{i:08d}", *(f"{(i * j) % 997 / 7:.4f}" for j in range(40))])
        return path

    bank = table(tmp_path / "bank.csv", range(0, 6_000))
    telco = table(tmp_path / "telco.csv", range(5_400, 7_000))
    size = bank.stat().st_size + telco.stat().st_size
    ids = {
        "bank": [f"c{i:08d}" for i in range(6_000)],
        "telco": [f"c{i:08d}" for i in range(5_400, 7_000)],
    }
    private_set_intersection(ids, "bank")  # imports done, so only the run is traced
    tracemalloc.start()
    try:
        private_set_intersection(ids, "bank")
        _, psi_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = align_csv({"bank": bank, "telco": telco}, "id", "bank", tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(read_csv(out["telco"])) == 1 + 600
    mib = 2**20
    assert peak < psi_peak + size, (
        f"peak {peak / mib:.1f} MiB: the PSI's {psi_peak / mib:.1f} MiB and "
        f"{(peak - psi_peak) / mib:.1f} MiB more for {size / mib:.1f} MiB of files"
    )


def test_aligned_files_and_their_new_folder_are_their_owners_only_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each output holds shared IDs and their rows: before, it was made with the umask's
    mode (0644 under 022, every user of the machine could read it), partial file included."""
    previous = os.umask(0o022)
    try:
        bank = write_csv(tmp_path / "bank.csv", ["id", "x"], [[f"u{i}", str(i)] for i in range(9)])
        shop = write_csv(tmp_path / "shop.csv", ["id", "y"], [[f"u{i}", str(i)] for i in range(9)])
        real_writer = csv.writer
        seen: list[tuple[str, int]] = []

        def looking(handle: object, **options: object) -> object:
            for entry in (tmp_path / "out").iterdir():
                seen.append((entry.name, stat.S_IMODE(entry.stat().st_mode)))
            return real_writer(handle, **options)  # type: ignore[arg-type]

        monkeypatch.setattr(csv, "writer", looking)
        out = align_csv({"bank": bank, "shop": shop}, "id", "bank", tmp_path / "out")
    finally:
        os.umask(previous)
    assert seen and all(mode == 0o600 for _, mode in seen), seen
    assert {stat.S_IMODE(path.stat().st_mode) for path in out.values()} == {0o600}
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700

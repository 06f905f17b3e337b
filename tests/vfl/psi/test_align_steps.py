"""align_csv tells its caller each stage as it starts and ends (reading each party's IDs,
PSI, writing each party's shared rows), with counts and seconds once it ends."""

from __future__ import annotations

from pathlib import Path

from rengo.vfl.psi import AlignStep, align_csv


def _tables(tmp_path: Path) -> list[str]:
    (tmp_path / "bank.csv").write_text("id,balance\na,1\nb,2\nc,3\nd,4\n")
    (tmp_path / "telco.csv").write_text("id,usage\nd,5\nx,6\nb,7\na,8\n")
    return [f"bank={tmp_path / 'bank.csv'}", f"telco={tmp_path / 'telco.csv'}"]


def test_align_csv_tells_each_stage_as_it_starts_and_ends(tmp_path: Path) -> None:
    steps: list[AlignStep] = []
    paths = dict(item.split("=", 1) for item in _tables(tmp_path))
    align_csv(paths, "id", "bank", tmp_path / "out", seed=1, progress=steps.append)
    told = [(s.stage, s.party, s.count, s.finished) for s in steps]
    assert told == [
        ("ids", "bank", None, False),
        ("ids", "bank", 4, True),
        ("ids", "telco", None, False),
        ("ids", "telco", 4, True),
        ("psi", None, None, False),
        ("psi", None, 3, True),
        ("rows", "bank", None, False),
        ("rows", "bank", 3, True),
        ("rows", "telco", None, False),
        ("rows", "telco", 3, True),
    ]
    assert all(s.seconds is not None and s.seconds >= 0 for s in steps if s.finished)

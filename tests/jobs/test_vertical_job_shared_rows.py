"""``rengo run`` of a vertical job whose parties' tables are CSVs reads each table in two
passes, as a deployed party does: every cell checked and the IDs, labels and held-out rows
kept before PSI, only the shared training rows' features after it. The model, the
held-out scores and metrics and each party's column scaling are bit for bit those of a
whole read; a table changed between the passes is refused, naming it."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core import DataError
from rengo.jobs import build_vertical_job, load_job, run_vertical_job


def write_table(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def write_job(folder: Path, algorithm: str) -> Path:
    """A card issuer of 300 customers (the label party) and a bank of 260, 200 shared, in
    other orders, a few cells empty; hetero LR or SecureBoost at 512-bit keys."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(360, 2)) * [4.0, 0.5] + 2.0, rng.normal(size=(360, 3)) * 3.0
    y = ((a[:, 0] - 2.0) / 4 + b[:, 1] / 3 + rng.normal(scale=0.5, size=360) > 0).astype(int)

    def cell(value: float) -> str:
        return "" if rng.random() < 0.04 else f"{value:.5g}"

    card, bank = rng.permutation(300), rng.permutation(np.arange(100, 360))
    write_table(
        folder / "card.csv",
        ["id", "a0", "a1", "default"],
        [[f"c{i:04d}", *map(cell, a[i]), y[i]] for i in card],
    )
    write_table(
        folder / "bank.csv",
        ["id", "b0", "b1", "b2"],
        [[f"c{i:04d}", *map(cell, b[i])] for i in bank],
    )
    settings = (
        'epochs = 2\nbatch_size = 64\nmissing = "mean"\n'
        if algorithm == "hetero_lr"
        else "n_trees = 2\nmax_depth = 2\n"
    )
    job = folder / "job.toml"
    job.write_text(
        f'[job]\nkind = "vfl"\nname = "two-reads"\nseed = 5\n[vfl]\nalgorithm = "{algorithm}"\n'
        f'label_party = "card"\nlabel = "default"\nkey_bits = 512\ntest_size = 0.25\n{settings}'
        f'[vfl.parties]\ncard = "{folder / "card.csv"}"\nbank = "{folder / "bank.csv"}"\n'
    )
    return job


def as_bytes(value: Any) -> Any:
    """A model's numbers and arrays as bytes (bit-for-bit comparison), its other fields'
    reprs."""
    if isinstance(value, (np.ndarray, float, int)):
        return np.asarray(value, dtype=np.float64).tobytes()
    if isinstance(value, (list, tuple)):
        return [as_bytes(v) for v in value]
    return repr(value)


def test_rengo_run_holds_no_training_features_of_a_csv_party_before_psi(tmp_path: Path) -> None:
    job = build_vertical_job(load_job(write_job(tmp_path, "hetero_lr")))
    assert set(job.train.later) == {"card", "bank"}
    assert all(table.features.size == 0 for table in job.train.parties.values())
    whole = build_vertical_job(load_job(tmp_path / "job.toml"), shared_rows_later=False)
    for name, table in job.train.parties.items():  # the same training IDs, in file order
        np.testing.assert_array_equal(table.ids, whole.train.parties[name].ids)


def test_a_job_valuing_contributions_reads_its_tables_whole(tmp_path: Path) -> None:
    """Valuing each party's contribution retrains on every training row: built with the
    defaults, such a job's training tables had no columns and the valuation failed
    ('label party: 2 columns to score, trained on 0')."""
    path = write_job(tmp_path, "hetero_lr")
    path.write_text(path.read_text() + '[contribution]\nmetric = "auc"\n')
    job = build_vertical_job(load_job(path))
    assert not job.train.later
    assert all(table.features.size > 0 for table in job.train.parties.values())


@pytest.mark.parametrize("algorithm", ["hetero_lr", "secureboost"])
def test_a_job_run_reading_the_shared_rows_after_psi_is_bit_for_bit_a_whole_reads(
    tmp_path: Path, algorithm: str
) -> None:
    spec = load_job(write_job(tmp_path, algorithm))
    runs = []
    for later in (False, True):
        job = build_vertical_job(spec, shared_rows_later=later)
        result = run_vertical_job(job, None, log=lambda _line: None)
        runs.append((job, result))
    (whole, first), (later, second) = runs
    del first["train_seconds"], second["train_seconds"], first["run_id"], second["run_id"]
    assert first == second
    assert first["scored_customers"] > 0
    for name in ("card", "bank"):
        a, b = whole.model.models_[name], later.model.models_[name]
        if algorithm == "hetero_lr":
            assert {k: as_bytes(v) for k, v in vars(a).items()} == {
                k: as_bytes(v) for k, v in vars(b).items()
            }, name
        assert whole.scalers[name].mean.tobytes() == later.scalers[name].mean.tobytes()
        assert whole.scalers[name].scale.tobytes() == later.scalers[name].scale.tobytes()
    scored = [job.model.predict_run_.parties["card"] for job in (whole, later)]
    np.testing.assert_array_equal(scored[0].score_ids, scored[1].score_ids)
    assert scored[0].scores is not None and scored[1].scores is not None
    assert scored[0].scores.tobytes() == scored[1].scores.tobytes()


def test_a_table_changed_between_the_passes_stops_the_run_naming_it(tmp_path: Path) -> None:
    job = build_vertical_job(load_job(write_job(tmp_path, "hetero_lr")))
    bank = tmp_path / "bank.csv"
    lines = bank.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",7.5"  # one cell, the same IDs
    bank.write_text("\n".join(lines) + "\n")
    os.utime(bank, ns=(bank.stat().st_atime_ns, bank.stat().st_mtime_ns + 10**9))
    with pytest.raises(DataError, match=r"bank\.csv: it changed while the run used it"):
        run_vertical_job(job, None, log=lambda _line: None)


@pytest.mark.parametrize(
    ("cell", "settings"),
    [("x", ""), ("NA", ""), ("", 'missing = "refuse"\n'), ("inf", "")],
    ids=["text", "missing-marker", "empty-cell-refused", "infinite"],
)
def test_rengo_run_refuses_a_bad_cell_with_the_whole_reads_message(
    tmp_path: Path, cell: str, settings: str
) -> None:
    job = write_job(tmp_path, "hetero_lr")
    job.write_text(job.read_text().replace('missing = "mean"\n', settings or 'missing = "mean"\n'))
    bank = tmp_path / "bank.csv"
    lines = bank.read_text().splitlines()
    lines[7] = lines[7].split(",", 1)[0] + f",{cell},1,2"
    bank.write_text("\n".join(lines) + "\n")
    messages = []
    for later in (False, True):
        with pytest.raises(DataError) as caught:
            build_vertical_job(load_job(job), shared_rows_later=later)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    named = "card: column 'a0'" if settings else "bank.csv:8: column 'b0'"  # card has blanks
    assert named in messages[0]

"""Vertical job files: validation, a bundled table split by columns, and per-party CSVs."""

from __future__ import annotations

import csv
import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core import ConfigError, DataError
from rengo.jobs import build_vertical_job, load_job, parse_job, party_data, run_vertical_job
from rengo.tracking import RunStore

BUNDLED = """
[job]
kind = "vfl"
name = "v"
seed = 2
[vfl]
dataset = "breast_cancer"
num_parties = 2
label_party = "hospital"
key_bits = 512
epochs = 2
batch_size = 128
"""


def test_bundled_vertical_job_trains_scores_and_records(tmp_path: Path):
    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    job = build_vertical_job(spec)
    lines: list[str] = []
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(job, store, log=lines.append)
        assert result["auc"] > 0.95
        # every scored row has its label: the line reads as it always has (a transfer
        # target's few labels add "; on the N with a known label: ")
        scored = f"scored {result['scored_customers']} held-out customers: AUC {result['auc']:.4f}"
        assert scored in lines[-1]
        run = store.get_run(result["run_id"])
        assert run.kind == "vfl" and run.status == "completed"
        assert "test_auc" in store.round_metrics(run.run_id)


def test_a_simulated_job_records_the_summary_a_deployed_run_of_it_records(tmp_path: Path):
    """A deployed run recorded the algorithm's summary (epochs run, values decrypted in
    training and in scoring) and ``rengo run`` of the same job did not."""
    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(build_vertical_job(spec), store, log=lambda _m: None)
        summary = store.get_run(result["run_id"]).summary
    assert summary is not None
    assert summary["epochs_run"] == 2 and summary["decrypted_values"] > 0
    assert summary["scored_values"] == result["scored_customers"]


def test_each_recorded_epoch_has_its_own_duration_and_together_no_more_than_training(
    tmp_path: Path,
) -> None:
    """Runs recorded every epoch as 0.0 s and the last as the whole training time, so
    ``runs show`` and the dashboard told a false story of where the time went."""
    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(build_vertical_job(spec), store, log=lambda _m: None)
        rounds = store.rounds(result["run_id"])
    assert [r.round for r in rounds] == [1, 2]
    assert all(r.duration_s > 0 for r in rounds), [r.duration_s for r in rounds]
    assert sum(r.duration_s for r in rounds) <= result["train_seconds"]


def test_label_and_features_stay_with_their_party():
    job = build_vertical_job(parse_job(__import__("tomllib").loads(BUNDLED)))
    hospital, other = job.train.parties["hospital"], job.train.parties["party1"]
    assert job.train.labels is not None and len(job.train.labels) == len(hospital.ids)
    assert hospital.features.shape[1] + other.features.shape[1] == 30
    assert set(hospital.ids) != set(other.ids)  # each party misses different customers


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('dataset = "breast_cancer"', ""), "either vfl.dataset"),
        (("key_bits = 512", "key_bits = 100"), "vfl.key_bits"),
        (("epochs = 2", "epochs = 0"), "vfl.epochs must be >= 1"),
        (("[vfl]", "[strategy]\nname='fedavg'\n[vfl]"), "a vertical job has only"),
        (("batch_size = 128", "batch = 128"), "did you mean 'batch_size'"),
    ],
)
def test_invalid_vertical_jobs_name_the_field(edit, message):
    with pytest.raises(ConfigError, match=message):
        parse_job(__import__("tomllib").loads(BUNDLED.replace(*edit)))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_csv_parties_job_runs_from_the_cli(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 240
    ids = [f"c{i:04d}" for i in range(n)]
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = ((a + b + 0.3 * rng.normal(size=n)) > 0).astype(int)
    keep_bank = rng.random(n) > 0.1
    _write(
        tmp_path / "card.csv",
        ["id", "a", "default"],
        [[ids[i], a[i], "yes" if y[i] else "no"] for i in range(n)],
    )
    _write(tmp_path / "bank.csv", ["id", "b"], [[ids[i], b[i]] for i in range(n) if keep_bank[i]])
    (tmp_path / "job.toml").write_text(
        """
[job]
kind = "vfl"
name = "csv-vertical"
[vfl]
label_party = "card"
label = "default"
key_bits = 512
epochs = 3
batch_size = 64
learning_rate = 0.3
[vfl.parties]
card = "card.csv"
bank = "bank.csv"
"""
    )
    spec = load_job(tmp_path / "job.toml")
    assert spec.vfl is not None and Path(spec.vfl.parties["bank"]).is_absolute()
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), "--store", str(tmp_path / "r.db")]
    )
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output
    with RunStore(tmp_path / "r.db", read_only=True) as store:
        (run,) = store.list_runs()
    assert run.config["data_files"] == {  # what each party's table held, for runs show
        str((tmp_path / name).resolve()): hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        for name in ("card.csv", "bank.csv")
    }


def test_missing_label_column_is_a_clear_error(tmp_path: Path):
    _write(tmp_path / "card.csv", ["id", "a"], [["x", 1.0], ["y", 2.0]])
    _write(tmp_path / "bank.csv", ["id", "b"], [["x", 1.0], ["y", 2.0]])
    (tmp_path / "job.toml").write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "card"\n'
        '[vfl.parties]\ncard = "card.csv"\nbank = "bank.csv"\n'
    )
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), "--store", str(tmp_path / "r.db")]
    )
    assert result.exit_code == 2 and "'y'" in result.output


def test_option_keys_and_defaults_come_from_the_algorithms_config():
    from rengo.core.options import option_specs
    from rengo.vfl import HeteroLRConfig

    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    assert spec.vfl is not None and spec.vfl.algorithm == "hetero_lr"
    assert spec.vfl.options == HeteroLRConfig(key_bits=512, epochs=2, batch_size=128)
    every = "\n".join(
        f"{o.name} = {o.default!r}".replace("True", "true").replace("False", "false")
        for o in option_specs(HeteroLRConfig)
    )
    full = parse_job(
        __import__("tomllib").loads(BUNDLED.split("key_bits")[0] + every.replace("'", '"'))
    )
    assert full.vfl is not None and full.vfl.options == HeteroLRConfig()
    assert full.vfl.epochs == HeteroLRConfig().epochs  # options read as attributes too


def test_the_old_obfuscators_key_still_works_with_a_warning_users_see():
    text = BUNDLED.replace("epochs = 2", 'epochs = 2\nobfuscators = "coordinator"')
    with pytest.warns(FutureWarning, match="vfl.obfuscators is deprecated; use vfl.obfuscator_"):
        spec = parse_job(__import__("tomllib").loads(text))
    assert spec.vfl is not None and spec.vfl.options.obfuscator_source == "coordinator"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[vfl]", '[vfl]\nalgorithm = "hetero_l"'), "unknown algorithm 'hetero_l'; did you mean"),
        (("epochs = 2", 'epochs = "two"'), "vfl.epochs must be int, got str"),
        (("epochs = 2", 'optimizer = "adagrad"'), "vfl.optimizer = 'adagrad'; choose one of"),
        (("epochs = 2", "test_size = 1.5"), "vfl.test_size must be in"),
    ],
)
def test_vertical_option_errors_name_the_key(edit, message):
    with pytest.raises(ConfigError, match=message):
        parse_job(__import__("tomllib").loads(BUNDLED.replace(*edit)))


def test_every_party_picks_the_same_held_out_customers_alone():
    from rengo.jobs import party_data

    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    assert spec.vfl is not None
    parties = {n: party_data(spec.vfl, n, spec.job.seed) for n in ("hospital", "party1")}
    held = {}
    for name, data in parties.items():
        assert data.table is not None and data.score_table is not None
        held[name] = {
            **dict.fromkeys(data.table.ids, False),
            **dict.fromkeys(data.score_table.ids, True),
        }
    both = set(held["hospital"]) & set(held["party1"])
    assert len(both) > 100
    assert all(held["hospital"][i] == held["party1"][i] for i in both)  # no message needed
    assert 0.1 < np.mean([held["hospital"][i] for i in both]) < 0.3  # about test_size = 0.2
    assert parties["party1"].labels is None and parties["hospital"].labels is not None
    table = parties["hospital"].table
    assert table is not None
    np.testing.assert_allclose(table.features.mean(axis=0), 0.0, atol=1e-9)  # own statistics


def test_a_partys_job_data_names_the_rule_that_held_its_customers_out():
    """A deployed coordinator compares it with its own job's (see
    tests/deploy/test_vertical_deployed.py): a rule another job file would differ in."""
    from rengo.jobs import party_data
    from rengo.vfl import HeldOutRule

    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    assert spec.vfl is not None
    data = party_data(spec.vfl, "party1", 11)
    assert data.held_out == HeldOutRule(11, spec.vfl.test_size)


def test_a_job_with_empty_cells_trains_with_missing_mean_and_names_the_option_without(
    tmp_path: Path,
):
    rng = np.random.default_rng(1)
    n = 120
    ids = [f"c{i:04d}" for i in range(n)]
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = ((a + b + 0.3 * rng.normal(size=n)) > 0).astype(int)
    _write(tmp_path / "card.csv", ["id", "a", "y"], [[ids[i], a[i], y[i]] for i in range(n)])
    _write(
        tmp_path / "bank.csv",
        ["id", "b"],
        [[ids[i], "" if i % 10 == 0 else b[i]] for i in range(n)],
    )
    job = """
[job]
kind = "vfl"
name = "gaps"
[vfl]
label_party = "card"
label = "y"
key_bits = 512
epochs = 3
{missing}
[vfl.parties]
card = "card.csv"
bank = "bank.csv"
"""
    (tmp_path / "job.toml").write_text(job.format(missing=""))
    refused = CliRunner().invoke(app, ["run", str(tmp_path / "job.toml")])
    assert refused.exit_code != 0
    said = " ".join(refused.output.split())  # rich wraps long lines
    # named as the deployed party names it (it said "column 0", deployed "column 'b'")
    assert "bank: column 'b'" in said and "empty cells" in said and "missing='mean'" in said
    (tmp_path / "job.toml").write_text(job.format(missing='missing = "mean"'))
    store_path = tmp_path / "runs.db"
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), "--store", str(store_path)]
    )
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output
    # the exported parts carry the bank's fill values: a scorer applies them before w
    from rengo.tracking import RunStore
    from rengo.tracking.model_export import load_vertical_parts

    with RunStore(store_path) as store:
        (run,) = store.list_runs()
        parts = load_vertical_parts(store, run.run_id)
    assert set(parts.fills) == {"bank", "card"} and parts.fills["bank"].shape == (1,)
    assert all("fill" in state for state in parts.state_dicts().values())
    assert b.min() < float(parts.fills["bank"][0]) < b.max()  # the mean of its own rows


def _transfer_job(tmp_path: Path, target_label: Callable[[int], object]) -> Path:
    """A transfer job: the source 'bank' labelled, the target 'shop' with a label column
    whose cells ``target_label(row)`` fills ("" for an unknown label)."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    ids = [f"p{i:04d}" for i in range(len(x))]
    _write(
        tmp_path / "bank.csv",
        ["id", *(f"a{j}" for j in range(10)), "y"],
        [[ids[i], *x[i, :10], int(y[i])] for i in range(0, 350)],
    )
    _write(
        tmp_path / "shop.csv",
        ["id", *(f"b{j}" for j in range(20)), "y"],
        [[ids[i], *x[i, 10:], target_label(i)] for i in range(200, 569)],
    )
    job = tmp_path / "ftl.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nseed = 0\n[vfl]\nalgorithm = "ftl"\nlabel_party = "bank"\n'
        'label = "y"\nid_column = "id"\ntest_size = 0.2\nsecurity = "plaintext"\nepochs = 1\n'
        '[vfl.parties]\nbank = "bank.csv"\nshop = "shop.csv"\n'
    )
    return job


def test_a_target_without_held_out_labels_is_refused_before_training(tmp_path: Path) -> None:
    """It trained to the end (hours at 2048-bit keys), then failed, its model lost."""
    job = _transfer_job(tmp_path, lambda i: 1 if i in (201, 202) else "")
    with pytest.raises(DataError, match=r"shop scores the \d+ held-out rows, but none of them"):
        build_vertical_job(load_job(job))
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store)])
    assert result.exit_code == 2 and "raise [vfl] test_size" in " ".join(result.output.split())
    with RunStore(store) as runs:
        assert runs.list_runs() == []


def test_a_transfer_run_records_how_many_held_out_rows_its_metrics_are_computed_on(
    tmp_path: Path,
) -> None:
    """The target scores every held-out row but knows the label of a few: the run recorded
    only the scored rows, so `rengo runs show` and the model card said the metrics were
    computed on all of them (341 where 34 had a label), as no deployed run says."""
    from rengo.tracking.reliability import TEST_ROWS
    from rengo.tracking.run_card import model_card

    job = _transfer_job(tmp_path, lambda i: "" if i % 4 else int(i % 8 == 0))
    shop = list(csv.DictReader((tmp_path / "shop.csv").open()))
    lines: list[str] = []
    with RunStore(tmp_path / "runs.db") as store:
        result = run_vertical_job(build_vertical_job(load_job(job)), store, log=lines.append)
        (run,) = store.list_runs()
        card = model_card(store, run.run_id)
    scored_ids = {r["id"] for r in shop if held_out_row(r["id"])}
    known = sum(1 for r in shop if held_out_row(r["id"]) and r["y"] != "")
    assert 0 < known < len(scored_ids) == result["scored_customers"]
    assert result[TEST_ROWS] == run.summary[TEST_ROWS] == known
    evaluated = (
        f"scored {len(scored_ids)} held-out customers; on the {known} with a known label: AUC"
    )
    assert evaluated in lines[-1]
    assert f"| {known} |" in card and f"({known} rows)" in card


def held_out_row(row_id: str) -> bool:
    """Whether ``_transfer_job``'s seed and test_size hold the row out."""
    from rengo.jobs.vertical import held_out

    return bool(held_out(np.array([row_id]), 0, 0.2)[0])


def test_held_out_labels_of_one_class_are_refused_before_training_a_binary_model(
    tmp_path: Path,
) -> None:
    job = _transfer_job(tmp_path, lambda i: 1)  # every target row labelled, all class 1
    with pytest.raises(DataError, match=r"known 'y' are all 1: the held-out AUC needs both"):
        build_vertical_job(load_job(job))


def test_a_blank_row_in_a_transfer_target_keeps_labels_aligned_with_rows(tmp_path: Path) -> None:
    """The target's label column was read by a second reader that kept the blank row: the
    labels came out one longer than the table (IndexError in party_data)."""
    from rengo.jobs import party_data

    job = _transfer_job(tmp_path, lambda i: i % 2 if i % 3 == 0 else "")
    spec = load_job(job)
    assert spec.vfl is not None
    clean = party_data(spec.vfl, "shop", spec.job.seed)
    shop = tmp_path / "shop.csv"
    lines = shop.read_text().splitlines(keepends=True)
    shop.write_text("".join([*lines[:5], ",," * 10 + "\n", "  \n", *lines[5:]]))
    blank = party_data(spec.vfl, "shop", spec.job.seed)
    assert blank.table is not None and blank.labels is not None and clean.labels is not None
    assert len(blank.labels) == len(blank.table.ids)
    np.testing.assert_array_equal(blank.labels, clean.labels)


@pytest.mark.parametrize("kind", ["latin1", "parquet"])
def test_a_party_file_that_is_not_utf8_csv_is_a_one_line_error_naming_it(
    tmp_path: Path, kind: str
) -> None:
    _write(tmp_path / "card.csv", ["id", "a", "y"], [["x", 1.0, 0], ["y", 2.0, 1]])
    if kind == "latin1":
        bank = tmp_path / "bank.csv"
        bank.write_bytes("id,longitud sépalo\nx,1\ny,2\n".encode("latin-1"))
        said = "bank.csv:1: not UTF-8 text"
    else:
        bank = tmp_path / "bank.parquet"
        bank.write_bytes(b"PAR1" + bytes(range(200, 256)) + b"PAR1")
        said = "bank.parquet: a Parquet file, but vertical parties read CSV"
    (tmp_path / "job.toml").write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "card"\n'
        f'[vfl.parties]\ncard = "card.csv"\nbank = "{bank.name}"\n'
    )
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "job.toml"), "--store", str(tmp_path / "r.db")]
    )
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_vertical_job_reads_parties_tables_as_its_vfl_section_says_they_are_written(
    tmp_path: Path,
) -> None:
    # two hospitals' exports from a German Excel: ';', decimal commas, cp1252, CRLF
    folder = tmp_path / "Verbund Köln"
    folder.mkdir()
    ids = [f"Pat-{i:03d}" for i in range(40)]
    klinik = ["id;Größe;Befund"] + [
        f"{p};1,{i:02d};{'ja' if i % 2 else 'nein'}" for i, p in enumerate(ids)
    ]
    labor = ["id;Hämoglobin"] + [f"{p};{i},5" for i, p in enumerate(ids)]
    for name, lines in (("Klinik Süd", klinik), ("Labor", labor)):
        (folder / f"{name}.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    job = folder / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "klinik"\nlabel = "Befund"\n'
        'delimiter = ";"\nencoding = "cp1252"\ndecimal = ","\n'
        '[vfl.parties]\nklinik = "Klinik Süd.csv"\nlabor = "Labor.csv"\n',
        encoding="utf-8",
    )
    spec = load_job(job)
    assert spec.vfl is not None
    klinik_data = party_data(spec.vfl, "klinik", spec.job.seed)
    labor_data = party_data(spec.vfl, "labor", spec.job.seed)
    assert klinik_data.feature_names == ("Größe",)
    assert labor_data.feature_names == ("Hämoglobin",)
    assert klinik_data.classes == ("ja", "nein")
    assert labor_data.table is not None and labor_data.score_table is not None
    assert len(labor_data.table.ids) + len(labor_data.score_table.ids) == 40
    assert labor_data.mean is not None  # standardised with the means of 0,5 1,5 ... 39,5
    raw = np.arange(40) + 0.5
    assert labor_data.mean[0] == pytest.approx(raw[np.isin(ids, labor_data.table.ids)].mean())
    job.write_text(job.read_text(encoding="utf-8").replace("cp1252", "ansi"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"vfl\.encoding 'ansi' is not a text encoding"):
        load_job(job)


def test_ids_the_psi_joins_are_held_out_together_whatever_their_unicode_form() -> None:
    """NFC and NFD spellings of one ID are one customer to the PSI; held_out hashed the raw
    strings, so a customer could be held out at one party and trained on at the other."""
    import unicodedata

    from rengo.jobs.vertical import held_out

    nfc = np.array([unicodedata.normalize("NFC", f"José-{i}") for i in range(400)])
    nfd = np.array([unicodedata.normalize("NFD", f"José-{i}") for i in range(400)])
    assert not np.array_equal(nfc, nfd)
    np.testing.assert_array_equal(held_out(nfd, 3, 0.2), held_out(nfc, 3, 0.2))
    ascii_ids = np.array([f"c{i}" for i in range(50)])  # unchanged for plain IDs
    expected = [
        int.from_bytes(
            __import__("hashlib").blake2b(b"rengo-holdout/3/" + i.encode(), digest_size=8).digest(),
            "big",
        )
        < int(0.2 * 2**64)
        for i in ascii_ids
    ]
    np.testing.assert_array_equal(held_out(ascii_ids, 3, 0.2), expected)


def test_vertical_keys_that_the_job_ignores_are_named_in_a_warning(tmp_path: Path) -> None:
    tomllib = __import__("tomllib")
    bundled = BUNDLED.replace("[vfl]\n", '[vfl]\nlabel = "diagnosis"\nid_column = "customer"\n')
    with pytest.warns(UserWarning, match=r"vfl.label is ignored with the bundled vfl.dataset"):
        parse_job(tomllib.loads(bundled))
    files = (
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "card"\nnum_parties = 7\n'
        'drop_fraction = 0.5\n[vfl.parties]\ncard = "card.csv"\nbank = "bank.csv"\n'
    )
    with pytest.warns(UserWarning) as caught:
        parse_job(tomllib.loads(files))
    said = " ".join(str(w.message) for w in caught)
    assert "vfl.num_parties is ignored with [vfl.parties]" in said
    assert "vfl.drop_fraction is ignored with [vfl.parties]" in said


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        ("drop_fraction = 0.999", DataError, r"vfl.drop_fraction = 0.999 left this party 1 of"),
        ("test_size = 0.999", DataError, r"vfl.test_size = 0.999 holds out all \d+ of its rows"),
        ("num_parties = 40", ConfigError, r"vfl.num_parties = 40 on breast_cancer: 40 parties"),
    ],
)
def test_vertical_data_errors_name_the_key_that_caused_them(
    edit: str, error: type[Exception], message: str
) -> None:
    """They blamed the held-out labels for parties left empty, leaked 'no IDs given' and a
    numpy warning for a test_size holding out every row, and named no key for too many
    parties."""
    with pytest.raises(error, match=message):
        text = BUNDLED.replace("num_parties = 2\n", "") + edit + "\n"
        build_vertical_job(parse_job(__import__("tomllib").loads(text)))


def test_one_class_held_out_is_reported_by_class_name_not_code() -> None:
    """x_test_tiny.toml said 'are all 0' for breast_cancer's 'benign'."""
    from rengo.jobs.vertical import require_evaluable

    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    assert spec.vfl is not None
    with pytest.raises(DataError, match=r"known 'y' are all benign: the held-out AUC"):
        require_evaluable(np.array([0, 0]), "hospital", spec.vfl, ("benign", "malignant"))


def test_a_table_with_no_held_out_row_says_so_not_that_its_labels_are_unknown() -> None:
    """Two customers, none held out: it said 'scores the 0 held-out rows, but none of them
    has a known y: label more of its rows' of a label party whose every row has a label."""
    from rengo.jobs.vertical import require_evaluable

    spec = parse_job(__import__("tomllib").loads(BUNDLED))
    assert spec.vfl is not None
    with pytest.raises(DataError, match=r"hospital holds out none of its rows to score"):
        require_evaluable(np.array([], dtype=np.int64), "hospital", spec.vfl)


@pytest.mark.parametrize("algorithm", ["ftl", "hetero_lr"])
def test_a_label_of_one_class_is_named_without_a_multiclass_hint(
    tmp_path: Path, algorithm: str
) -> None:
    """It said '... found 1: give a label column with two classes (or set objective =
    'multiclass' in [vfl])', which cannot help a column of one class."""
    _write(tmp_path / "bank.csv", ["id", "a", "y"], [[f"p{i}", float(i), 0] for i in range(40)])
    _write(tmp_path / "shop.csv", ["id", "b"], [[f"p{i}", float(-i)] for i in range(40)])
    job = tmp_path / "job.toml"
    job.write_text(
        f'[job]\nkind = "vfl"\n[vfl]\nalgorithm = "{algorithm}"\nlabel_party = "bank"\n'
        '[vfl.parties]\nbank = "bank.csv"\nshop = "shop.csv"\n'
    )
    with pytest.raises(DataError) as info:
        build_vertical_job(load_job(job))
    message = str(info.value)
    assert message.startswith("bank: label 'y' holds one class ('0') on every row")
    assert "multiclass" not in message


def test_a_feature_party_with_a_column_named_like_the_label_is_warned_before_training(
    tmp_path: Path,
) -> None:
    """A feature party whose file kept a copy of the label ('default') trained with it as a
    feature without a word: the held-out AUC looked perfect and meant nothing."""
    _write(tmp_path / "card.csv", ["id", "a", "default"], [[f"c{i}", i, i % 2] for i in range(40)])
    _write(tmp_path / "bank.csv", ["id", "b", "default"], [[f"c{i}", -i, i % 2] for i in range(40)])
    _write(tmp_path / "shop.csv", ["id", "c"], [[f"c{i}", 2 * i] for i in range(40)])
    (tmp_path / "job.toml").write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "card"\nlabel = "default"\n'
        '[vfl.parties]\ncard = "card.csv"\nbank = "bank.csv"\nshop = "shop.csv"\n'
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = build_vertical_job(load_job(tmp_path / "job.toml"))
    named = [str(w.message) for w in caught if "the job's label name" in str(w.message)]
    assert len(named) == 1 and named[0].startswith("bank: "), named
    assert "remove it from bank's file" in named[0]
    assert "default" in job.train.feature_names["bank"]  # it is a feature, as warned


def _psi_warnings(tmp_path: Path, other: str, name: str) -> list[str]:
    """Run the job of ``card.csv`` (the label party) and ``{other}.csv`` at 512-bit keys for
    one epoch (a new store each time); the PSI few-matched warnings it gave."""
    (tmp_path / "job.toml").write_text(
        f'[job]\nkind = "vfl"\nname = "{name}"\n[vfl]\nlabel_party = "card"\n'
        'label = "default"\nkey_bits = 512\nepochs = 1\n'
        f'[vfl.parties]\ncard = "card.csv"\n{other} = "{other}.csv"\n'
    )
    job = build_vertical_job(load_job(tmp_path / "job.toml"))
    with (
        RunStore(tmp_path / f"{name}.db") as store,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        run_vertical_job(job, store, log=lambda _m: None)
    return [str(w.message) for w in caught if "PSI matched only" in str(w.message)]


def test_a_party_whose_ids_mostly_match_nothing_is_warned_with_the_counts(tmp_path: Path) -> None:
    """A feature party that wrote two thirds of its IDs in capitals ('C7' for 'c7') shared
    only a third of the customers: the job trained on those 100 of 300 without a word."""
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = ((a + b) > 0).astype(int)
    _write(tmp_path / "card.csv", ["id", "a", "default"], [[f"c{i}", a[i], y[i]] for i in range(n)])
    bank_ids = [f"C{i}" if i < 200 else f"c{i}" for i in range(n)]
    _write(tmp_path / "bank.csv", ["id", "b"], [[bank_ids[i], b[i]] for i in range(n)])
    few = _psi_warnings(tmp_path, "bank", "padded")
    assert any(m.startswith("card: PSI matched only ") for m in few), few
    assert any(m.startswith("bank: PSI matched only ") for m in few), few
    assert all("'C1' and 'c1' are different customers" in m for m in few)


def test_a_party_with_many_more_customers_is_not_warned_when_the_smaller_table_all_matched(
    tmp_path: Path,
) -> None:
    """A telecom with three times the card issuer's customers, every one of the issuer's among
    them: the telecom was warned that PSI "matched only 120 of its 360 rows", though no
    issuer could match more. The smallest table bounds the intersection."""
    rng = np.random.default_rng(0)
    n = 120
    a, b = rng.normal(size=3 * n), rng.normal(size=3 * n)
    y = ((a + b) > 0).astype(int)
    _write(tmp_path / "card.csv", ["id", "a", "default"], [[f"c{i}", a[i], y[i]] for i in range(n)])
    _write(tmp_path / "tel.csv", ["id", "b"], [[f"c{i}", b[i]] for i in range(3 * n)])
    assert not _psi_warnings(tmp_path, "tel", "telecom")

    # the telecom writes two thirds of the issuer's customers in capitals: both are warned
    # (of the 93 training rows the job keeps of 120), the telecom with the smaller table's share
    _write(
        tmp_path / "tel.csv",
        ["id", "b"],
        [[f"C{i}" if i < 80 else f"c{i}", b[i]] for i in range(3 * n)],
    )
    few = _psi_warnings(tmp_path, "tel", "capitals")
    assert any(m.startswith("card: PSI matched only 34 of its 93 rows (37%)") for m in few), few
    telecom = [m for m in few if m.startswith("tel: ")]
    assert telecom and "37% of the 93 rows of the run's smallest table" in telecom[0], few


def test_parties_whose_ids_all_match_are_not_warned(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 120
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = ((a + b) > 0).astype(int)
    _write(tmp_path / "card.csv", ["id", "a", "default"], [[f"c{i}", a[i], y[i]] for i in range(n)])
    _write(tmp_path / "bank.csv", ["id", "b"], [[f"c{i}", b[i]] for i in range(n)])
    assert not _psi_warnings(tmp_path, "bank", "same")

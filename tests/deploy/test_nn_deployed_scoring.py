"""Deployed SplitNN and federated transfer learning keep their models: each party's
``rengo vfl party --model FILE`` is strict, versioned JSON (its networks' architecture and
every weight, exact), and next month a scoring-only run (``rengo vfl coordinator
--no-train``, ``rengo vfl party --load-model FILE [--score-csv NEW.csv]``), with no
training table and another PSI order, scores the new rows bit for bit as the training run
did and, with ``--label``, prints the same held-out metrics; files of two training runs
mixed are refused before any row is scored."""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_processes import Processes
from vertical_cli import run_processes

from rengo.transport.certs import init_certificates

pytest.importorskip("torch", reason="SplitNN and transfer learning need the torch extra")

SOURCE, TARGET = "bank", "shop"  # the label party (FTL's source) and the feature party
SCORED = {"splitnn": SOURCE, "ftl": TARGET}  # who receives the scores
OPTIONS = {
    "splitnn": ["--epochs", "2"],
    "ftl": ["--epochs", "1", "--key-bits", "512", "--batch-size", "64"],
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("nn-certs")
    init_certificates(directory, [SOURCE, TARGET])
    return directory


def _tables(folder: Path, algorithm: str) -> dict[str, dict[str, Path]]:
    """Six columns over two parties, the labels at the label party (and, in transfer
    learning, at the target too: it learns from its own labels and is scored); 60 of 300
    customers are next month's, each party listing its rows in its own order."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6))
    y = (x @ np.array([1.0, -1.0, 0.5, 0.5, -0.5, 1.0]) + rng.logistic(size=300) > 0).astype(int)
    ids = np.array([f"cust-{i:03d}" for i in range(300)])
    paths: dict[str, dict[str, Path]] = {}
    for name, cols in ((SOURCE, [0, 1, 2]), (TARGET, [3, 4, 5])):
        paths[name] = {}
        for part, rows in (("train", np.arange(240)), ("next", np.arange(240, 300))):
            order = rng.permutation(rows)
            path = folder / part / f"{name}.csv"
            path.parent.mkdir(exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                label = name == SOURCE or algorithm == "ftl"
                writer.writerow(["id", *(f"{name}{j}" for j in range(3)), *["y"][:label]])
                for i in order:
                    cells = (repr(float(v)) for v in x[i, cols])
                    writer.writerow([ids[i], *cells, *[y[i]][:label]])
            paths[name][part] = path
    return paths


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


def _run(
    cli: Processes, certs: Path, algorithm: str, coordinator_flags: list[str],
    party_flags: dict[str, list[str]], refused: bool = False,
) -> tuple[str, dict[str, str]]:  # fmt: skip
    """Every process's output once each ended (``refused``: each with an error)."""
    return run_processes(
        cli, certs,
        [
            "--parties", f"{SOURCE},{TARGET}", "--label-party", SOURCE, "--algorithm", algorithm,
            *OPTIONS[algorithm], *coordinator_flags,
        ],
        party_flags, refused,
    )  # fmt: skip


def _train(
    cli: Processes, certs: Path, algorithm: str, tables: dict[str, dict[str, Path]],
    folder: Path, seed: str,
) -> dict[str, str]:  # fmt: skip
    """One deployed training run keeping each party's model in ``folder`` and scoring next
    month's rows into ``folder/scores.csv``; what each party said."""
    folder.mkdir()
    scored = SCORED[algorithm]
    _, said = _run(
        cli, certs, algorithm, ["--seed", seed],
        {
            name: [
                "--csv", str(tables[name]["train"]),
                *(["--label", "y"] if name in (SOURCE, scored) else []),
                "--model", str(folder / f"{name}.json"),
                *(["--score-csv", str(tables[name]["next"])]
                  if algorithm == "splitnn" or name == scored else []),
                *(["--predictions", str(folder / "scores.csv")] if name == scored else []),
            ]
            for name in (SOURCE, TARGET)
        },
    )  # fmt: skip
    return said


def _scoring_flags(algorithm: str, tables: dict[str, dict[str, Path]], kept: dict[str, Path],
                   predictions: Path) -> dict[str, list[str]]:  # fmt: skip
    """Each party's flags of a scoring-only run with its kept file (FTL's source brings
    no rows to score: no --score-csv)."""
    scored = SCORED[algorithm]
    return {
        name: [
            "--load-model", str(kept[name]),
            *(["--score-csv", str(tables[name]["next"])]
              if algorithm == "splitnn" or name == scored else []),
            *(["--label", "y", "--predictions", str(predictions)] if name == scored else []),
        ]
        for name in (SOURCE, TARGET)
    }  # fmt: skip


def _scores(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as handle:
        return [(row[0], row[1]) for row in list(csv.reader(handle))[1:]]


def _metrics(output: str) -> str:
    found = re.search(r"scored \d+ rows -> \S+; (.*)", output)
    assert found is not None, output
    return found.group(1)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("algorithm", ["splitnn", "ftl"])
def test_a_deployed_network_kept_in_its_files_scores_next_month_bit_for_bit(
    algorithm: str, certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """Before, a SplitNN or FTL party's --model file was an unversioned dump of its model's
    fields, naming no training run, and --load-model refused it ('not a party model file
    (format None, ...)'): scoring new customers meant training again."""
    tables = _tables(tmp_path, algorithm)
    said = _train(cli, certs, algorithm, tables, tmp_path / "trained", "3")
    files = {name: tmp_path / "trained" / f"{name}.json" for name in (SOURCE, TARGET)}
    kept = {name: json.loads(path.read_text()) for name, path in files.items()}
    assert {d["format"] for d in kept.values()} == {f"rengo-{algorithm}-party-model"}
    assert len({d["training_run"] for d in kept.values()}) == 1
    # each party keeps only what it holds: the top model and Phi stay with the label party
    assert "top" not in kept[TARGET] and "phi" not in kept[TARGET]

    # next month: no training table, another PSI order (no seed), the kept files
    summary, again = _run(
        cli, certs, algorithm, ["--no-train"],
        _scoring_flags(algorithm, tables, files, tmp_path / "next.csv"),
    )  # fmt: skip
    first = _scores(tmp_path / "trained" / "scores.csv")
    assert len(first) == 60 and _scores(tmp_path / "next.csv") == first
    scored = SCORED[algorithm]
    assert _metrics(again[scored]) == _metrics(said[scored])
    assert "scored 60 rows with the models the parties kept" in summary

    # the target's file of another training run (its token is what names the run)
    other = tmp_path / f"{TARGET}-other.json"
    other.write_text(json.dumps({**kept[TARGET], "training_run": "9c1b0d44" * 4}))
    summary, said = _run(
        cli, certs, algorithm, ["--no-train"],
        _scoring_flags(algorithm, tables, {**files, TARGET: other}, tmp_path / "mixed.csv"),
        refused=True,
    )  # fmt: skip
    assert not (tmp_path / "mixed.csv").exists()  # no row scored
    assert f"{other}: {TARGET}'s model is from training run 9c1b0d44" in said[TARGET]
    assert "different training runs" in summary


@pytest.mark.timeout(300)
def test_a_transfer_model_trained_by_rengo_run_scores_deployed_from_its_export(
    certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """`rengo run` of a transfer job kept no model: `rengo runs export` refused it, saying to
    pickle the estimator (keys and all), so scoring the target's new rows meant training
    again, deployed. Now the run keeps each party's document and the export writes the
    files `rengo vfl party --model` writes, which a scoring-only run scores with as the run
    scored its held-out rows, bit for bit."""
    from typer.testing import CliRunner

    from rengo.cli.main import app
    from rengo.ftl.model_file import read_party_model
    from rengo.jobs import build_vertical_job, load_job, run_vertical_job
    from rengo.tracking import RunStore

    tables = _tables(tmp_path, "ftl")
    job_file = tmp_path / "job.toml"
    job_file.write_text(
        '[job]\nkind = "vfl"\nseed = 2\n[vfl]\nalgorithm = "ftl"\n'
        f'label_party = "{SOURCE}"\nlabel = "y"\nid_column = "id"\ntest_size = 0.25\n'
        "key_bits = 512\nepochs = 1\nbatch_size = 64\n"
        f'[vfl.parties]\n{SOURCE} = "{tables[SOURCE]["train"]}"\n'
        f'{TARGET} = "{tables[TARGET]["train"]}"\n'
    )
    job = build_vertical_job(load_job(job_file))
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        result = run_vertical_job(job, store, log=lambda _: None)
    scored = job.model.predict_run_.parties[TARGET]  # type: ignore[attr-defined]

    runner = CliRunner()
    shown = runner.invoke(app, ["runs", "show", result["run_id"], "--store", str(store_path)])
    assert "none kept" not in shown.output and "transfer learning" in shown.output
    out = tmp_path / "exported"
    exported = runner.invoke(
        app, ["runs", "export", result["run_id"], "--store", str(store_path), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    files = {name: out / f"{name}.json" for name in (SOURCE, TARGET)}
    target = read_party_model(files[TARGET], TARGET)
    for a, b in zip(target.model.weights, job.model.target_model_.weights, strict=True):  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a, b)
    assert "phi" not in json.loads(files[TARGET].read_text())  # Phi stays with the source

    # next month, deployed: the exported files score the target's rows without training
    summary, said = _run(
        cli, certs, "ftl", ["--no-train"],
        {
            SOURCE: ["--load-model", str(files[SOURCE])],
            TARGET: [
                "--load-model", str(files[TARGET]), "--score-csv", str(tables[TARGET]["train"]),
                "--predictions", str(tmp_path / "next.csv"),
            ],
        },
    )  # fmt: skip
    assert "with the models the parties kept" in summary, summary
    assert f"{TARGET}: scored with its model from {files[TARGET]}" in said[TARGET]
    by_id = dict(_scores(tmp_path / "next.csv"))
    assert [float(by_id[i]) for i in scored.score_ids] == list(scored.scores)


def _multiclass_tables(folder: Path) -> tuple[dict[str, Path], Path, list[str]]:
    """Classes a, b, c at the source; the target labels a third of its rows, and never
    one of class c; a text column (tier) at the target. Also the target's 60 next rows
    with every true label (c among them), and their classes in row order."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(360, 6))
    tiers = np.array(["gold", "silver", "bronze"])[rng.integers(0, 3, 360)]
    y = (x @ np.array([1.0, -1.0, 0.5, 0.5, -0.5, 1.0]) + (tiers == "gold") > 0).astype(int)
    label = np.where(y == 1, "b", np.where(x[:, 0] > 0.8, "c", "a"))
    ids = [f"cust-{i:03d}" for i in range(360)]
    paths: dict[str, Path] = {}
    for name, cols in ((SOURCE, [0, 1, 2]), (TARGET, [3, 4, 5])):
        paths[name] = folder / f"{name}.csv"
        with paths[name].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            text = name == TARGET  # the target's text column
            writer.writerow(["id", *(f"{name}{j}" for j in range(3)), *["tier"][:text], "y"])
            for i in rng.permutation(300):
                known = name == SOURCE or (i % 3 == 0 and label[i] != "c")
                cells = [repr(float(v)) for v in x[i, cols]]
                writer.writerow([ids[i], *cells, *[tiers[i]][:text], label[i] if known else ""])
    following = folder / "next.csv"
    with following.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(f"{TARGET}{j}" for j in range(3)), "tier", "y"])
        for i in range(300, 360):
            writer.writerow([ids[i], *(repr(float(v)) for v in x[i, 3:]), tiers[i], label[i]])
    return paths, following, [str(c) for c in label[300:]]


@pytest.mark.timeout(400)
def test_a_transfer_runs_export_equals_the_files_a_deployed_run_of_the_job_keeps(
    certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """The same multiclass job, `rengo run` then `rengo runs export`, and deployed with
    --model: the files were to be the same, but the deployed target's named only the
    classes its own labels held (a, b) where its model scores a, b and c, so scoring new
    rows of class c with --label was refused (and a and c would have been coded a and b)."""
    from typer.testing import CliRunner

    from rengo.cli.main import app
    from rengo.jobs import build_vertical_job, load_job, run_vertical_job
    from rengo.tracking import RunStore

    tables, following, truth = _multiclass_tables(tmp_path)
    assert "c" in truth
    job_file = tmp_path / "job.toml"
    job_file.write_text(
        '[job]\nkind = "vfl"\nseed = 2\n[vfl]\nalgorithm = "ftl"\nobjective = "multiclass"\n'
        f'label_party = "{SOURCE}"\nlabel = "y"\nid_column = "id"\ntest_size = 0.25\n'
        'key_bits = 512\nepochs = 1\nbatch_size = 64\ncategorical = ["tier"]\n'
        f'[vfl.parties]\n{SOURCE} = "{tables[SOURCE]}"\n{TARGET} = "{tables[TARGET]}"\n'
    )
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        result = run_vertical_job(build_vertical_job(load_job(job_file)), store, log=print)
    assert 0 < result["test_rows"] < result["scored_customers"]  # blank held-out labels
    out = tmp_path / "exported"
    exported = CliRunner().invoke(
        app, ["runs", "export", result["run_id"], "--store", str(store_path), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output

    kept = tmp_path / "deployed"
    kept.mkdir()
    run_processes(
        cli, certs, ["--job", str(job_file)],
        {
            name: ["--job", str(job_file), "--own-seed", "2", "--model", str(kept / f"{name}.json"),
                   "--predictions", str(kept / f"{name}.csv")]
            for name in (SOURCE, TARGET)
        },
    )  # fmt: skip
    for name in (TARGET, SOURCE):
        simulated = json.loads((out / f"{name}.json").read_text())
        deployed = json.loads((kept / f"{name}.json").read_text())
        assert simulated.pop("training_run") == result["run_id"]
        deployed.pop("training_run")
        assert simulated == deployed, name
        # the model's classes, under both names (an older rengo read "classes")
        assert simulated["class_names"] == simulated["classes"] == ["a", "b", "c"]

    # the deployed target's file scores new rows of class c with --label, coded as c
    files = {name: kept / f"{name}.json" for name in (SOURCE, TARGET)}
    _, said = _run(
        cli, certs, "ftl", ["--no-train"],
        {
            SOURCE: ["--load-model", str(files[SOURCE])],
            TARGET: ["--load-model", str(files[TARGET]), "--score-csv", str(following),
                     "--label", "y", "--predictions", str(tmp_path / "scored.csv")],
        },
    )  # fmt: skip
    with (tmp_path / "scored.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "p0", "p1", "p2"]
    by_id = {row[0]: np.array([float(v) for v in row[1:]]) for row in rows[1:]}
    predicted = ["abc"[int(np.argmax(by_id[f"cust-{i:03d}"]))] for i in range(300, 360)]
    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    assert f"ACCURACY {accuracy:.4f}" in _metrics(said[TARGET]), said[TARGET]


def _splitnn_tables(folder: Path) -> dict[str, Path]:
    """300 customers: three columns and the label at the bank, three numbers and a text
    column (plan) at the shop, each party listing its rows in its own order."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6))
    plans = np.array(["prepaid", "postpaid", "family"])[rng.integers(0, 3, 300)]
    signal = x @ np.array([1.0, -1.0, 0.5, 0.5, -0.5, 1.0]) + (plans == "family")
    y = (signal + rng.logistic(size=300) > 0).astype(int)
    ids = [f"cust-{i:03d}" for i in range(300)]
    paths: dict[str, Path] = {}
    for name, cols in ((SOURCE, [0, 1, 2]), (TARGET, [3, 4, 5])):
        paths[name] = folder / f"{name}.csv"
        with paths[name].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            text = name == TARGET
            writer.writerow(
                ["id", *(f"{name}{j}" for j in range(3)), *["plan"][:text], *["y"][: not text]]
            )
            for i in rng.permutation(300):
                cells = [repr(float(v)) for v in x[i, cols]]
                writer.writerow([ids[i], *cells, *[plans[i]][:text], *[y[i]][: not text]])
    return paths


def _rows_of(table: Path, ids: np.ndarray, folder: Path) -> Path:
    """The rows of ``table`` whose ID is among ``ids``, in the table's order."""
    folder.mkdir(exist_ok=True)
    wanted = {str(i) for i in ids}
    with table.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    path = folder / table.name
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([rows[0], *(r for r in rows[1:] if r[0] in wanted)])
    return path


@pytest.mark.timeout(300)
def test_a_splitnn_model_trained_by_rengo_run_scores_deployed_from_its_export(
    certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """`rengo run` of a SplitNN job kept no model: `rengo runs show` said 'none kept' and
    `rengo runs export` refused the run, so the networks a data scientist trained in
    simulation could score nothing after the run. Now the run keeps each party's document
    and the export writes the files `rengo vfl party --model` writes (a text column's
    categories at its party), which a scoring-only run scores with as the run scored its
    held-out rows, bit for bit."""
    from typer.testing import CliRunner

    from rengo.cli.main import app
    from rengo.jobs import build_vertical_job, load_job, run_vertical_job
    from rengo.tracking import RunStore
    from rengo.vfl.splitnn.model_file import read_party_model

    tables = _splitnn_tables(tmp_path)
    job_file = tmp_path / "job.toml"
    job_file.write_text(
        '[job]\nkind = "vfl"\nseed = 2\n[vfl]\nalgorithm = "splitnn"\n'
        f'label_party = "{SOURCE}"\nlabel = "y"\nid_column = "id"\ntest_size = 0.25\n'
        "epochs = 2\nbatch_size = 32\nbottom_hidden = 4\nembedding_dim = 3\ntop_hidden = 4\n"
        'categorical = ["plan"]\n'
        f'[vfl.parties]\n{SOURCE} = "{tables[SOURCE]}"\n{TARGET} = "{tables[TARGET]}"\n'
    )
    job = build_vertical_job(load_job(job_file))
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        result = run_vertical_job(job, store, log=lambda _: None)
    scored = job.model.predict_run_.parties[SOURCE]  # type: ignore[attr-defined]

    runner = CliRunner()
    shown = runner.invoke(app, ["runs", "show", result["run_id"], "--store", str(store_path)])
    assert "none kept" not in shown.output and "SplitNN" in shown.output, shown.output
    out = tmp_path / "exported"
    exported = runner.invoke(
        app, ["runs", "export", result["run_id"], "--store", str(store_path), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    files = {name: out / f"{name}.json" for name in (SOURCE, TARGET)}
    shop = read_party_model(files[TARGET], TARGET)
    for a, b in zip(shop.model.bottom, job.model.models_[TARGET].bottom, strict=True):  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a, b)
    assert shop.training_run == result["run_id"]
    assert "plan" in shop.prepared["categories"]["categories"]  # the shop's own, in its file
    bank = json.loads(files[SOURCE].read_text())
    assert "categories" not in bank and bank["classes"] == ["0", "1"]
    assert "top" not in json.loads(files[TARGET].read_text())  # the top model stays at the bank

    # deployed: the exported files score the held-out customers without training again
    # (the same rows as the run scored: a float32 matrix product may round a row another
    # way among more rows, see the README)
    held_out = {name: _rows_of(tables[name], job.test.parties[name].ids, tmp_path / "held-out")
                for name in (SOURCE, TARGET)}  # fmt: skip
    summary, _ = _run(
        cli, certs, "splitnn", ["--no-train"],
        {
            SOURCE: [
                "--load-model", str(files[SOURCE]), "--score-csv", str(held_out[SOURCE]),
                "--predictions", str(tmp_path / "next.csv"),
            ],
            TARGET: ["--load-model", str(files[TARGET]), "--score-csv", str(held_out[TARGET])],
        },
    )  # fmt: skip
    assert "with the models the parties kept" in summary, summary
    by_id = dict(_scores(tmp_path / "next.csv"))
    assert [float(by_id[i]) for i in scored.score_ids] == list(scored.scores)


def _network(*widths: int) -> list[np.ndarray]:
    """A small MLP's weights (``Linear`` layers of these widths), fixed values."""
    layers: list[np.ndarray] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [np.full((fan_out, fan_in), 0.1, np.float32), np.zeros(fan_out, np.float32)]
    return layers


@pytest.mark.timeout(240)
def test_a_host_whose_network_disagrees_fails_the_scoring_run_at_every_party(
    certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """The shop's kept file (of the same training run) holds a bottom model whose embedding
    is 3 wide where the bank's top model reads 2: the bank refused the embedding, naming the
    shop, but the shop printed 'scored with its model' and exited 0, since it had sent its
    embeddings before the bank refused them. Every party now ends with the run's failure."""
    from rengo.vfl.party_model_file import write_document
    from rengo.vfl.splitnn import SplitNNFeatureModel, SplitNNLabelModel
    from rengo.vfl.splitnn.model_file import kept_document

    tables = _tables(tmp_path, "splitnn")
    run = "3f1c9a7e" * 4
    bank = SplitNNLabelModel(
        _network(3, 2), _network(4, 1), np.array([0, 1]), "binary", (TARGET,), [0.6], 1, 1
    )
    shop = SplitNNFeatureModel(_network(3, 3), 1)  # an embedding of 3, not 2
    files = {SOURCE: tmp_path / "bank.json", TARGET: tmp_path / "shop.json"}
    columns = {name: [f"{name}{j}" for j in range(3)] for name in (SOURCE, TARGET)}
    write_document(
        files[SOURCE], kept_document(bank, SOURCE, SOURCE, run, columns[SOURCE], None, ["0", "1"])
    )
    write_document(files[TARGET], kept_document(shop, TARGET, SOURCE, run, columns[TARGET], None))
    summary, said = _run(
        cli, certs, "splitnn", ["--no-train"],
        _scoring_flags("splitnn", tables, files, tmp_path / "scores.csv"), refused=True,
    )  # fmt: skip
    assert f"{TARGET} sent a malformed embedding" in said[SOURCE], said[SOURCE]
    assert f"ended: {SOURCE} aborted the run" in said[TARGET], said[TARGET]
    assert "scored with its model" not in said[TARGET]
    assert f"{SOURCE} aborted the run" in summary
    assert not (tmp_path / "scores.csv").exists()

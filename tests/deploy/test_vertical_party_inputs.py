"""What a deployed vertical party does with its own files before and after the run: a table
that cannot be read stops every role at once, naming the party; regression labels are read
as numbers with --task regression; results already on disk are kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import DataError
from rengo.deploy.vertical_data import load_party_data
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials


@pytest.mark.timeout(120)
def test_a_party_whose_table_fails_stops_every_role_at_once_naming_it(tmp_path: Path) -> None:
    """Its error was local only: the coordinator waited the whole join deadline (300 s by
    default) and blamed a "missing" party; the other parties learned nothing."""
    certs = tmp_path / "certs"
    init_certificates(certs, ["card", "bank"])
    with GrpcHub("127.0.0.1:0", HubSecurity.from_directory(certs), heartbeat_interval=0.2) as hub:
        bank = PartyConnection(
            hub.address,
            "bank",
            PartyCredentials.from_directory(certs, "bank"),
            heartbeat_interval=0.2,
            backoff=Backoff(initial=0.05, maximum=0.2, give_up_after=5.0),
        ).start()
        bank.wait_connected(10)
        joined: list[bool] = []
        waiter = threading.Thread(
            target=lambda: joined.append(hub.wait_for_parties(["card", "bank"], None, 90))
        )
        waiter.start()
        empty = tmp_path / "card.csv"
        empty.write_text("")
        started = time.monotonic()
        result = CliRunner().invoke(
            app,
            [
                "vfl", "party", "--coordinator", hub.address, "--name", "card",
                "--csv", str(empty), "--label", "y", "--certs", str(certs), "--no-progress",
            ],
        )  # fmt: skip
        waiter.join(30)
        assert result.exit_code == 2 and "file is empty" in result.output
        assert joined == [True] and time.monotonic() - started < 30  # not the 90 s deadline
        assert hub.failure is not None and hub.failure.role == "card"
        assert hub.failure.reason == "DataError"
        deadline = time.monotonic() + 10
        while bank.failure is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bank.failure is not None and bank.failure.role == "card"
        bank.close()


def test_regression_labels_are_read_as_numbers_with_task_regression(tmp_path: Path) -> None:
    """--csv read every label as one of two classes, so an insurer's claim counts (6
    values) could not join linear or Poisson regression runs."""
    table = tmp_path / "insurer.csv"
    table.write_text("id,x,claims\n" + "".join(f"c{i},{i % 7},{i % 6}\n" for i in range(30)))
    scoring = tmp_path / "new.csv"
    scoring.write_text("id,x,claims\nn1,1,4\nn2,2,0\n")
    with pytest.raises(
        Exception, match=r"must have two classes, found 6 \('0', '1', '2', '3', '4', \.\.\.\)"
    ):
        load_party_data(table, "id", label="claims")
    data = load_party_data(table, "id", label="claims", score_csv=scoring, task="regression")
    assert data.labels is not None and data.labels.dtype == np.float64
    np.testing.assert_array_equal(data.labels, [i % 6 for i in range(30)])
    assert data.score_labels is not None
    np.testing.assert_array_equal(data.score_labels, [4.0, 0.0])
    assert data.classes is None


def test_a_targets_few_labels_written_as_floats_name_the_label_partys_classes(
    tmp_path: Path,
) -> None:
    """A transfer-learning target whose few labels read 1.0/0.0 named classes '1.0'/'0.0',
    so the run failed after PSI: "labels ['0.0', '1.0'] are not among the source's classes
    ['0', '1']" - the same classes, written the way a spreadsheet exports them."""
    source = tmp_path / "bank.csv"
    source.write_text("id,x,y\n" + "".join(f"c{i},{i},{i % 2}\n" for i in range(6)))
    target = tmp_path / "shop.csv"
    target.write_text("id,z,y\nc1,1,1.0\nc2,2,\nc3,3,0.0\nc4,4,\n")
    bank = load_party_data(source, "id", label="y")
    shop = load_party_data(target, "id", label="y")
    assert shop.classes == bank.classes == ("0", "1")
    assert shop.labels is not None and shop.labels.tolist() == ["1", None, "0", None]


def test_a_missing_label_marker_among_a_targets_few_labels_is_refused_naming_the_line(
    tmp_path: Path,
) -> None:
    """'NA' was a class name: the run failed after PSI, its labels not the source's."""
    target = tmp_path / "shop.csv"
    target.write_text("id,z,y\nc1,1,1\nc2,2,\nc3,3,0\nc4,4,NA\n")
    with pytest.raises(DataError, match=r"shop.csv:5: label 'y' is 'NA'; leave the label"):
        load_party_data(target, "id", label="y")


def test_a_label_partys_missing_label_marker_says_every_row_needs_a_label(
    tmp_path: Path,
) -> None:
    """Only a table with blank labels holds a target's few labels; a label party's 'NA'
    is a missing label, not a blank to leave."""
    table = tmp_path / "card.csv"
    table.write_text("id,x,y\nc1,1,1\nc2,2,0\nc3,3,NA\nc4,4,1\n")
    with pytest.raises(DataError, match=r"card.csv:4: label is missing \('NA'\); every row"):
        load_party_data(table, "id", label="y")


def test_a_result_already_on_disk_is_kept_and_the_new_one_written_beside_it(
    tmp_path: Path,
) -> None:
    """`rengo vfl party` replaced an existing --predictions or --model file silently."""
    from rengo.cli.output_paths import free_path

    scores = tmp_path / "scores.csv"
    assert free_path(scores) == scores
    scores.write_text("the user's own file")
    assert free_path(scores) == tmp_path / "scores.1.csv"
    (tmp_path / "scores.1.csv").write_text("an earlier run's")
    assert free_path(scores) == tmp_path / "scores.2.csv"


def test_a_scoring_csv_that_is_not_utf8_is_a_data_error_naming_it(tmp_path: Path) -> None:
    """Its header was read by a second reader that let UnicodeDecodeError through."""
    from rengo.core.errors import DataError

    table = tmp_path / "bank.csv"
    table.write_text("id,x,y\n" + "".join(f"c{i},{i},{i % 2}\n" for i in range(10)))
    scoring = tmp_path / "new.csv"
    scoring.write_bytes("id,x,y\nné1,1,0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"new.csv:2: not UTF-8 text"):  # its line too
        load_party_data(table, "id", label="y", score_csv=scoring)


def test_a_deployed_label_party_reports_the_metrics_rengo_run_reports() -> None:
    """Poisson regression's own metrics lead with the mean deviance (its score): rengo run
    showed POISSON_DEVIANCE, RMSE, MAE, the deployed label party RMSE, MAE, R2 instead."""
    from rengo.jobs.vertical import held_out_metrics
    from rengo.vfl import get_algorithm

    spec = get_algorithm("hetero_poisson")
    truth, predicted = np.array([0.0, 1.0, 3.0]), np.array([0.5, 1.2, 2.0])
    metrics = held_out_metrics(spec, spec.default_config(), truth, predicted, None)
    assert spec.metrics is not None and metrics == spec.metrics(truth, predicted)
    assert list(metrics) == ["poisson_deviance", "d2_poisson", "gini", "rmse", "mae"]


def test_scored_rows_that_cannot_be_evaluated_are_explained_as_the_rows_every_party_holds() -> None:
    """Few common IDs left two held-out rows, both defaulted: rengo run ended with
    'roc_auc needs both classes; all 2 labels are 1', naming neither the cause nor the fix
    (and the deployed label party exited 2 after a completed run)."""
    from rengo.core.errors import DataError
    from rengo.jobs.vertical import held_out_metrics
    from rengo.vfl import get_algorithm

    spec = get_algorithm("hetero_lr")
    with pytest.raises(DataError, match=r"the 2 scored rows .*every party holds.*IDs"):
        held_out_metrics(spec, spec.default_config(), np.array([1, 1]), np.array([0.2, 0.9]), None)


@pytest.mark.timeout(120)
def test_a_scoring_csv_given_with_a_job_is_refused_not_silently_replaced_by_held_out_rows(
    tmp_path: Path,
) -> None:
    """`rengo vfl party --job JOB --score-csv new.csv` dropped --score-csv without a word:
    the party scored the job's held-out customers and wrote them to scores.csv, as if they
    were the new ones. It is refused now, naming the flag and how to score new customers,
    and the other roles are told at once (as for any party that cannot take part)."""
    certs = tmp_path / "certs"
    init_certificates(certs, ["card", "bank"])
    (tmp_path / "card.csv").write_text(
        "id,x,y\n" + "".join(f"c{i},{i},{i % 2}\n" for i in range(10))
    )
    (tmp_path / "new.csv").write_text("id,x\nn1,1\n")
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "card"\nlabel = "y"\n'
        '[vfl.parties]\ncard = "card.csv"\nbank = "bank.csv"\n'
    )
    with GrpcHub("127.0.0.1:0", HubSecurity.from_directory(certs), heartbeat_interval=0.2) as hub:
        waiter = threading.Thread(target=lambda: hub.wait_for_parties(["card", "bank"], None, 60))
        waiter.start()
        result = CliRunner().invoke(
            app,
            [
                "vfl", "party", "--coordinator", hub.address, "--name", "card",
                "--job", str(job), "--score-csv", str(tmp_path / "new.csv"),
                "--certs", str(certs), "--no-progress",
            ],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        output = " ".join(result.output.split())
        assert "--score-csv: read only with --csv" in output
        assert "--load-model FILE --score-csv NEW.csv" in output
        assert not (tmp_path / "scores.csv").exists()
        deadline = time.monotonic() + 30
        while hub.failure is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.failure is not None and hub.failure.role == "card"
        hub.close()
        waiter.join(30)


def test_a_tall_party_table_is_read_without_holding_every_cell_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A party's CSV was read whole as Python strings before its columns were parsed: a
    1M-row, 22-column table took 2.5 GB. Now its rows are parsed in chunks."""
    import tracemalloc

    from rengo.data import csv_table

    rng = np.random.default_rng(0)
    values = rng.normal(size=(20_000, 20)).round(4)
    head = ",".join(["id", *(f"x{j}" for j in range(20)), "y"])
    body = (f"c{i:07d}," + ",".join(map(str, v)) + f",{i % 2}" for i, v in enumerate(values))
    table = tmp_path / "bank.csv"
    table.write_text("\n".join([head, *body]) + "\n")
    monkeypatch.setattr(csv_table, "CHUNK_CELLS", 4096, raising=False)
    tracemalloc.start()
    try:
        data = load_party_data(table, "id", label="y", standardize=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.table is not None and data.table.features.shape == (20_000, 20)
    np.testing.assert_array_equal(data.table.features, values)
    assert peak < 6 * data.table.features.nbytes  # the cells as text alone: over 12x


def test_multiclass_scoring_labels_are_the_training_class_codes(tmp_path: Path) -> None:
    """The labels of rows to score, with ``--task multiclass`` (training and scoring run)
    and with a kept one-vs-rest model's classes (``--load-model``): each row's class code
    in training's classes, the column order of the class probabilities. They were 1 for
    the last class and 0 for every other (a binary model's positive class), so a 10-class
    model's scoring run reported an accuracy of 0.24 where its argmax was right on 0.52."""
    from rengo.deploy.vertical_data import load_scoring_data

    plans = ["basic", "max", "plus", "student"]
    table = tmp_path / "telecom.csv"
    table.write_text("id,x,plan\n" + "".join(f"c{i},{i % 5},{plans[i % 4]}\n" for i in range(40)))
    scoring = tmp_path / "new.csv"  # three of the four classes, the first one missing
    scoring.write_text("id,x,plan\nn1,1,student\nn2,2,max\nn3,0,plus\nn4,3,student\n")
    data = load_party_data(table, "id", label="plan", score_csv=scoring, task="multiclass")
    assert data.classes == tuple(plans)
    assert data.score_labels is not None
    np.testing.assert_array_equal(data.score_labels, [3, 1, 2, 3])
    kept = load_scoring_data(scoring, "id", ["x"], label="plan", classes=plans)
    assert kept.score_labels is not None
    np.testing.assert_array_equal(kept.score_labels, [3, 1, 2, 3])
    two = tmp_path / "two.csv"  # a binary model's rows: 1 for its positive (last) class
    two.write_text("id,x,plan\nn1,1,student\nn2,2,plus\n")
    binary = load_scoring_data(two, "id", ["x"], label="plan", classes=["plus", "student"])
    assert binary.score_labels is not None
    np.testing.assert_array_equal(binary.score_labels, [1, 0])
    with pytest.raises(DataError, match=r"label classes \['plus'\] not seen in training"):
        load_scoring_data(scoring, "id", ["x"], label="plan", classes=["max", "student"])

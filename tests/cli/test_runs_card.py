"""`rengo runs card RUN`: a simulated vertical run's model card, from what the run
recorded, with the calibration its label party computed on the held-out rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from rengo.tracking.reliability import recorded_reliability

runner = CliRunner(env={"COLUMNS": "250"})

VERTICAL = """
[job]
kind = "vfl"
name = "calibrated"
seed = 0
[vfl]
algorithm = "hetero_lr"
dataset = "breast_cancer"
key_bits = 512
epochs = 2
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("card")
    job, store = folder / "job.toml", folder / "runs.db"
    job.write_text(VERTICAL)
    ran = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        return store, s.list_runs(limit=1)[0].run_id


def test_a_vertical_run_records_calibration_whose_bins_hold_every_scored_row(
    recorded: tuple[Path, str],
) -> None:
    store, run_id = recorded
    with RunStore(store) as s:
        run = s.get_run(run_id)
        assert run.summary is not None
        table = recorded_reliability(run.summary, run_id)
        rounds = s.round_metrics(run_id)
    assert table is not None and len(table) == 10
    assert sum(b.rows for b in table) == run.summary["scored_customers"]
    # the ECE recorded is the row-weighted gap of the recorded bins
    gaps = sum(b.rows * abs(b.gap) for b in table if b.gap is not None)
    assert run.summary["ece"] == pytest.approx(gaps / run.summary["scored_customers"])
    assert 0.0 < run.summary["brier"] < 0.25
    assert rounds["test_brier"][-1][1] == run.summary["brier"]
    assert run.config["bundled_data"]["dataset"] == "breast_cancer"


def test_runs_show_shows_the_reliability_table(recorded: tuple[Path, str]) -> None:
    store, run_id = recorded
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "reliability (held-out rows" in shown.output and "[0.90, 1.00]" in shown.output
    assert re.search(r"│ brier\s+│ 0\.\d+", shown.output)


def test_runs_card_prints_the_card_and_writes_it_only_where_allowed(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    store, run_id = recorded
    printed = runner.invoke(app, ["runs", "card", run_id[:15], "--store", str(store)])
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith("# Model card: calibrated")
    assert "| test_ece |" in printed.output and "| [0.90, 1.00] |" in printed.output
    assert "Bundled dataset `breast_cancer`" in printed.output
    with RunStore(store) as s:
        scored = s.get_run(run_id).summary["scored_customers"]  # type: ignore[index]
    # each group of held-out metrics says how many rows it was computed on
    flat = " ".join(printed.output.split())
    assert f"`test_size` of them) ({scored} rows):" in flat
    target = tmp_path / "card.md"
    wrote = runner.invoke(app, ["runs", "card", run_id, "-o", str(target), "--store", str(store)])
    assert wrote.exit_code == 0, wrote.output

    def body(text: str) -> list[str]:  # all but the line saying when it was written
        return [line for line in text.splitlines() if not line.startswith("Written ")]

    assert body(target.read_text(encoding="utf-8")) == body(printed.output)
    refused = runner.invoke(
        app, ["runs", "card", run_id, "--out", str(target), "--store", str(store)]
    )
    assert refused.exit_code != 0 and "--overwrite" in " ".join(refused.output.split())
    into_folder = runner.invoke(
        app, ["runs", "card", run_id, "-o", str(tmp_path), "--store", str(store)]
    )
    assert into_folder.exit_code == 0, into_folder.output
    assert (tmp_path / f"{run_id}.md").exists()


def test_runs_card_of_an_unknown_run_exits_2_naming_it(recorded: tuple[Path, str]) -> None:
    store, _ = recorded
    missing = runner.invoke(app, ["runs", "card", "19990101-0000", "--store", str(store)])
    assert missing.exit_code == 2 and "19990101-0000" in missing.output


def test_a_partys_importance_is_in_the_card_only_when_it_shares_it(
    recorded: tuple[Path, str],
) -> None:
    store, run_id = recorded
    plain = runner.invoke(app, ["runs", "card", run_id, "--store", str(store)])
    assert plain.exit_code == 0, plain.output
    assert "## Feature importance" in plain.output
    assert "worst radius" not in plain.output and "radius error" not in plain.output
    shared = runner.invoke(
        app, ["runs", "card", run_id, "--importance", "party2", "--store", str(store)]
    )
    assert shared.exit_code == 0, shared.output
    assert "### party2" in shared.output and "| worst radius |" in shared.output
    assert "radius error" not in shared.output  # party1 did not share
    unknown = runner.invoke(
        app, ["runs", "card", run_id, "--importance", "bank", "--store", str(store)]
    )
    assert unknown.exit_code == 2 and "'bank'" in unknown.output


def test_runs_card_spells_its_file_option_as_the_other_runs_commands(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    """`--out`/`-o`, as `runs job`, `runs export`, `runs metrics` and `runs plot`; the old
    `--output` still writes the card, with a deprecation warning, and is not in --help."""
    store, run_id = recorded
    for command in ("card", "job", "export", "metrics", "plot"):
        shown = runner.invoke(app, ["runs", command, "--help"])
        assert shown.exit_code == 0, shown.output
        assert "--out" in shown.output and "-o" in shown.output, command
        assert "--output" not in shown.output, command
    target = tmp_path / "old.md"
    old = runner.invoke(
        app, ["runs", "card", run_id, "--output", str(target), "--store", str(store)]
    )
    assert old.exit_code == 0, old.output
    assert target.read_text(encoding="utf-8").startswith("# Model card: calibrated")
    assert "--output is deprecated" in old.stderr and "use --out" in old.stderr
    both = runner.invoke(
        app,
        ["runs", "card", run_id, "--output", str(target), "-o", str(target), "--store", str(store)],
    )
    assert both.exit_code == 2 and "give --out alone" in both.output


def _deployed_vertical_card(tmp_path: Path, config: dict[str, object]) -> str:
    """The card of a deployed vertical run recorded as its coordinator records one: the
    plan's settings, its own, and the label party's held-out evaluation of 7 rows with a
    bin of one row its mean and rate withheld."""
    from rengo.tracking.run_card import model_card

    bins = [
        {"lower": k / 10, "upper": (k + 1) / 10, "rows": 0, "mean_probability": None,
         "observed_rate": None}
        for k in range(10)
    ]  # fmt: skip
    bins[3] = {**bins[3], "rows": 1}
    bins[8] = {**bins[8], "rows": 6, "mean_probability": 0.85, "observed_rate": 5 / 6}
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl-deployed", config, name="deployed") as run:
            run.summary.update(auc=0.9, test_rows=7, scored_rows=7, reliability=bins)
            assert run.run_id is not None
            store.log_round(run.run_id, 1, {"test_auc": 0.9}, 1.0, 3, 0)
        return model_card(store, run.run_id)


def test_a_deployed_vertical_runs_card_says_which_rows_and_whose_settings(
    tmp_path: Path,
) -> None:
    """Rows from the label party's score table are not said to be picked by a hash of their
    ID (that is a held-out rule's, shown when the plan had one); the coordinator's own
    settings are not listed as sent to every party; a withheld bin is explained."""
    own = {"executor": "grpc", "listen": "127.0.0.1:0", "max_message_bytes": 1024}
    plan = {"algorithm": "hetero_lr", "key_bits": 512, "epochs": 1}
    card = _deployed_vertical_card(tmp_path / "scored", {**plan, **own})
    assert "picked by a hash of their ID" not in card
    assert "the rows the label party scored (its score table" in card
    sent, _, coordinator = card.partition("The coordinator's own settings")
    assert "| key_bits | 512 |" in sent and "| listen |" not in sent
    assert "| executor | grpc |" in coordinator and "| listen | 127.0.0.1:0 |" in coordinator
    assert "| [0.30, 0.40) | 1 | - | - | - |" in card
    assert "shares them only for bins of 5 rows or more" in card
    rule = {"held_out": {"salt": 7, "test_size": 0.2}}
    held_out = _deployed_vertical_card(tmp_path / "rule", {**plan, **own, **rule})
    assert "picked by a hash of their ID" in held_out

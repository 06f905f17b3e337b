"""``rengo tournament open | submit | score | pay | leaderboard`` on a tmp state and store."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from rengo.cli.tournament import tournament_app
from rengo.core.errors import DataError
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(tournament_app, name="tournament")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _predictions(path: Path, ids: list[str], values: np.ndarray) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prediction"])
        writer.writerows(zip(ids, values.tolist(), strict=True))
    return path


def test_a_round_from_open_to_leaderboard(tmp_path: Path):
    state = tmp_path / "tournament.json"
    store = tmp_path / "runs.db"
    s = ["--state", str(state)]
    opened = runner.invoke(
        app,
        [
            "tournament",
            "open",
            "--dataset",
            "breast_cancer",
            "--eras",
            "3",
            "--budget",
            "100",
            "--features",
            "mean radius,worst area,mean texture",
            "--store",
            str(store),
            *s,
        ],
    )
    assert opened.exit_code == 0, opened.output
    published = _read(tmp_path / "tournament-round1-live.csv")
    assert list(published[0]) == ["id", "era", "mean radius", "worst area", "mean texture"]
    assert "target" not in published[0]
    assert {r["era"] for r in published} == {"era1", "era2", "era3"}
    training = _read(tmp_path / "tournament-round1-train.csv")
    assert list(training[0]) == ["id", "era", "mean radius", "worst area", "mean texture", "target"]
    assert not {r["id"] for r in training} & {r["id"] for r in published}
    assert len(training) + len(published) == 569  # every row, half of them live
    assert abs(len(published) - 569 / 2) <= 1
    ids = [r["id"] for r in published]
    radius = np.array([float(r["mean radius"]) for r in published])
    # malignant (0) tumours are larger: a good model predicts "benign" for small radii.
    good = 1.0 - (radius - radius.min()) / (radius.max() - radius.min())
    noise = np.random.default_rng(0).random(len(ids))
    for name, values, stake in (("good", good, "20.00"), ("noise", noise, "10.00")):
        path = _predictions(tmp_path / f"{name}.csv", ids, values)
        result = runner.invoke(
            app,
            [
                "tournament",
                "submit",
                "--participant",
                name,
                "--predictions",
                str(path),
                "--stake",
                stake,
                *s,
            ],
        )
        assert result.exit_code == 0, result.output
    too_early = runner.invoke(app, ["tournament", "pay", *s])
    assert too_early.exit_code == 2 and "score a round first" in too_early.output
    assert "round 1 is open" in too_early.output
    targets = tmp_path / "tournament-round1-targets.csv"
    scored = runner.invoke(app, ["tournament", "score", "--targets", str(targets), *s])
    assert scored.exit_code == 0, scored.output
    assert scored.output.index("good") < scored.output.index("noise")
    paid = runner.invoke(app, ["tournament", "pay", *s])  # the state remembers the store
    assert paid.exit_code == 0, paid.output
    again = runner.invoke(app, ["tournament", "pay", *s])
    elsewhere = runner.invoke(app, ["tournament", "pay", "--store", str(tmp_path / "x.db"), *s])
    assert elsewhere.exit_code == 2 and "recorded in the run store" in elsewhere.output
    assert "nothing to pay" in again.output
    good_csv = str(tmp_path / "good.csv")
    late = runner.invoke(
        app,
        ["tournament", "submit", "--participant", "late", "--predictions", good_csv,
         "--stake", "1", *s],
    )  # fmt: skip
    assert late.exit_code == 2 and "round 1 is already scored" in late.output
    board = runner.invoke(app, ["tournament", "leaderboard", *s])
    assert board.exit_code == 0, board.output
    assert board.output.index("good") < board.output.index("noise")
    saved = json.loads(state.read_text())
    assert saved["paid_rounds"] == [1]
    with RunStore(store) as s_:
        run = s_.get_run(saved["run_id"])
        ledger = s_.ledger(run.run_id)
    assert run.kind == "tournament" and run.status == "completed"
    assert saved["currency"] == "credits"
    assert all("stake 20.00 credits" in e.reason for e in ledger if e.participant == "good")
    with RunStore(store) as s_:
        events = [e.message for e in s_.events(run.run_id)]
    assert any("opened round 1" in m for m in events) and any("paid rounds" in m for m in events)
    amounts = {e.participant: int(e.amount) for e in ledger}
    assert amounts["good"] == 100  # 20.00 staked x 5 % clip: a strong model hits the clip
    assert sum(a for a in amounts.values() if a > 0) <= 10_000
    assert {e.round for e in ledger} == {1}


def test_bad_submissions_and_missing_state_are_clear_errors(tmp_path: Path):
    state = tmp_path / "t.json"
    s = ["--state", str(state)]
    missing = runner.invoke(app, ["tournament", "leaderboard", *s])
    assert missing.exit_code == 2 and "no tournament state" in missing.output
    store = ["--store", str(tmp_path / "runs.db")]
    opened = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *store, *s])
    assert opened.exit_code == 0, opened.output
    ids = [r["id"] for r in _read(tmp_path / "t-round1-live.csv")]
    out_of_range = _predictions(tmp_path / "p.csv", ids, np.full(len(ids), 1.5))
    bad = runner.invoke(
        app,
        [
            "tournament",
            "submit",
            "--participant",
            "x",
            "--predictions",
            str(out_of_range),
            "--stake",
            "1",
            *s,
        ],
    )
    assert bad.exit_code == 2 and "[0, 1]" in bad.output
    short = _predictions(tmp_path / "q.csv", ids[:-1], np.full(len(ids) - 1, 0.5))
    partial = runner.invoke(
        app,
        [
            "tournament",
            "submit",
            "--participant",
            "x",
            "--predictions",
            str(short),
            "--stake",
            "1",
            *s,
        ],
    )
    assert partial.exit_code == 2 and "missing" in partial.output
    digits = runner.invoke(app, ["tournament", "open", "--dataset", "digits", *store, *s])
    assert digits.exit_code == 2 and "binary or numeric" in digits.output


def _submit_when_released(state: str, predictions: str, name: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    result = runner.invoke(
        app,
        ["tournament", "submit", "--participant", name, "--predictions", predictions,
         "--stake", "1.00", "--state", state],
    )  # fmt: skip
    out.put((name, result.exit_code, result.output))


def test_simultaneous_submissions_are_all_kept(tmp_path: Path):
    """Participants who submit at the same moment (processes released together) are all
    in the state afterwards: each read -> change -> write holds the state's lock."""
    state = tmp_path / "tournament.json"
    store = tmp_path / "runs.db"
    opened = runner.invoke(
        app,
        [
            "tournament",
            "open",
            "--dataset",
            "diabetes",
            "--state",
            str(state),
            "--store",
            str(store),
        ],
    )
    assert opened.exit_code == 0, opened.output
    ids = [r["id"] for r in _read(tmp_path / "tournament-round1-live.csv")]
    predictions = _predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids)))
    # spawned, not forked: a fork of this process (torch's OpenMP threads, gRPC's, when
    # an earlier test in the same pytest worker loaded them) can hang in the child on a lock
    # some thread held at the fork, and the test then waited for ever
    context = mp.get_context("spawn")
    told_recorded: list[str] = []
    for attempt in range(2):
        names = [f"p{attempt}-{k}" for k in range(8)]
        barrier, out = context.Barrier(len(names)), context.Queue()
        workers = [
            context.Process(
                target=_submit_when_released,
                args=(str(state), str(predictions), name, barrier, out),
            )
            for name in names
        ]
        for worker in workers:
            worker.start()
        results = [out.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        assert all(code == 0 for _, code, _ in results), results
        told_recorded += names
    kept = json.loads(state.read_text())["tournament"]["rounds"][0]["submissions"]
    assert sorted(kept) == sorted(told_recorded)


def test_an_absurd_stake_is_refused_at_submit_with_one_line(tmp_path: Path):
    """A stake past MAX_STAKE_MINOR (1e19 broke `pay`, 1e400 made the round unscorable,
    1e999990 took half a minute to convert) is refused and nothing is recorded."""
    state = tmp_path / "tournament.json"
    s = ["--state", str(state)]
    opened = runner.invoke(
        app, ["tournament", "open", "--dataset", "diabetes", "--store", str(tmp_path / "r.db"), *s]
    )
    assert opened.exit_code == 0, opened.output
    ids = [r["id"] for r in _read(tmp_path / "tournament-round1-live.csv")]
    predictions = str(_predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids))))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", predictions, *s]
    for stake in ("1e19", "1e400", "1e999990", "90071992547409.93"):
        refused = runner.invoke(app, [*submit, "--stake", stake])
        assert refused.exit_code == 2, refused.output
        assert refused.output.startswith(f"error: stake {stake} is over the largest")
        assert len(refused.output.strip().splitlines()) == 1
    assert json.loads(state.read_text())["tournament"]["rounds"][0]["stakes"] == {}
    largest = runner.invoke(app, [*submit, "--stake", "90071992547409.92"])
    assert largest.exit_code == 0, largest.output


def _opened_diabetes(tmp_path: Path) -> tuple[list[str], list[str]]:
    """A tournament on diabetes in tmp_path: its ``--state`` arguments and live row ids."""
    s = ["--state", str(tmp_path / "tournament.json")]
    opened = runner.invoke(
        app, ["tournament", "open", "--dataset", "diabetes", "--store", str(tmp_path / "r.db"), *s]
    )
    assert opened.exit_code == 0, opened.output
    return s, [r["id"] for r in _read(tmp_path / "tournament-round1-live.csv")]


def _one_line_error(output: str, *parts: str) -> None:
    assert output.startswith("error: ") and len(output.strip().splitlines()) == 1, output
    assert all(part in output for part in parts), output


def test_unreadable_csv_files_are_one_line_errors_naming_the_file(tmp_path: Path):
    """A file that is not UTF-8 or has a field past csv's limit: one line naming it, exit 2
    (not a traceback)."""
    s, ids = _opened_diabetes(tmp_path)
    rows = "".join(f"{i},{k / len(ids)}\n" for k, i in enumerate(ids))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(("id,prediction\n" + rows + "caf\u00e9,0.5\n").encode("latin-1"))
    huge = tmp_path / "huge.csv"
    huge.write_text("id,prediction\n" + rows + "x" * 200_000 + ",0.5\n", encoding="utf-8")
    submit = ["tournament", "submit", "--participant", "x", "--stake", "1", *s]
    for path, says in ((latin1, "not UTF-8"), (huge, "field larger")):
        refused = runner.invoke(app, [*submit, "--predictions", str(path)])
        assert refused.exit_code == 2, refused.output
        _one_line_error(refused.output, path.name, says)
    scored = runner.invoke(app, ["tournament", "score", "--targets", str(latin1), *s])
    assert scored.exit_code == 2
    _one_line_error(scored.output, "latin1.csv", "not UTF-8")
    opened = runner.invoke(app, ["tournament", "open", "--csv", str(latin1), *s])
    assert opened.exit_code == 2
    _one_line_error(opened.output, "latin1.csv", "not UTF-8")


def test_csv_files_with_a_utf8_byte_order_mark_are_read(tmp_path: Path):
    """Excel's "CSV UTF-8" starts with a BOM; predictions, targets and published rows
    saved that way are read like any other UTF-8 CSV."""
    s, ids = _opened_diabetes(tmp_path)
    bom = tmp_path / "bom.csv"
    lines = "".join(f"{i},{k / len(ids)}\n" for k, i in enumerate(ids))
    bom.write_text("\ufeffid,prediction\n" + lines, encoding="utf-8")
    submitted = runner.invoke(
        app,
        ["tournament", "submit", "--participant", "x", "--predictions", str(bom),
         "--stake", "1", *s],
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    targets = tmp_path / "tournament-round1-targets.csv"
    bom_targets = tmp_path / "bom-targets.csv"
    bom_targets.write_text("\ufeff" + targets.read_text(encoding="utf-8"), encoding="utf-8")
    scored = runner.invoke(app, ["tournament", "score", "--targets", str(bom_targets), *s])
    assert scored.exit_code == 0, scored.output
    rows = tmp_path / "rows.csv"
    body = "".join(f"r{k},{k % 7},{k % 2}\n" for k in range(20))
    rows.write_text("\ufeffid,f,target\n" + body, encoding="utf-8")
    opened = runner.invoke(
        app, ["tournament", "open", "--csv", str(rows), "--target-column", "target", *s]
    )
    assert opened.exit_code == 0, opened.output


def test_a_csv_naming_a_column_twice_is_refused_naming_the_column(tmp_path: Path):
    """``id,prediction,prediction``: a reader keeps only the last copy, so the wrong
    predictions would be scored; the file is refused as ambiguous instead."""
    s, ids = _opened_diabetes(tmp_path)
    twice = tmp_path / "twice.csv"
    lines = (f"{i},{k / len(ids)},{1 - k / len(ids)}\n" for k, i in enumerate(ids))
    twice.write_text("id,prediction,prediction\n" + "".join(lines), encoding="utf-8")
    refused = runner.invoke(
        app,
        ["tournament", "submit", "--participant", "x", "--predictions", str(twice),
         "--stake", "1", *s],
    )  # fmt: skip
    assert refused.exit_code == 2
    _one_line_error(refused.output, "twice.csv:1", "names column 'prediction' twice")


def test_a_later_open_refuses_settings_that_differ_from_the_stored_ones(tmp_path: Path):
    """--budget, --currency, --decimals, --clip and --payout-factor are the tournament's,
    set by its first open: a later open given another value is refused naming the stored
    one (it used to be ignored silently); the same value, or none, opens the next round."""
    s = ["--state", str(tmp_path / "tournament.json"), "--store", str(tmp_path / "r.db")]
    first = ["tournament", "open", "--dataset", "diabetes", *s]
    # every round all live: no training set publishes targets of another round's live rows
    opened = runner.invoke(app, [*first, "--train-share", "0", "--budget", "100", "--clip", "0.1"])
    assert opened.exit_code == 0, opened.output
    for option, value, stored in (
        ("--budget", "1.00", "100.00"),
        ("--clip", "0.25", "0.1"),
        ("--payout-factor", "2", "1.0"),
        ("--currency", "usd", "credits"),
        ("--decimals", "4", "2"),
    ):
        refused = runner.invoke(app, [*first, "--train-share", "0", option, value])
        assert refused.exit_code == 2, refused.output
        _one_line_error(refused.output, f"this tournament's {option} is {stored}")
    rounds = json.loads((tmp_path / "tournament.json").read_text())["tournament"]["rounds"]
    assert len(rounds) == 1
    same = runner.invoke(
        app, [*first, "--train-share", "0", "--budget", "100.00", "--clip", "0.1", "--currency",
              "credits"],
    )  # fmt: skip
    assert same.exit_code == 0 and "opened round 2" in same.output, same.output
    plain = runner.invoke(app, [*first, "--train-share", "0"])
    assert plain.exit_code == 0 and "opened round 3" in plain.output, plain.output
    helped = runner.invoke(app, ["tournament", "open", "--help"])
    assert helped.output.count("Set by the first open") == 5


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.csv"))}


def test_open_never_replaces_existing_files_without_overwrite(tmp_path: Path):
    """Two tournaments in one folder get their own default files (named after the state),
    and an explicit path to an existing file is refused unless --overwrite: B's open used to
    replace A's secret live targets and published live set."""
    store = ["--store", str(tmp_path / "r.db")]
    a = runner.invoke(app, ["tournament", "open", "--dataset", "breast_cancer", *store,
                            "--state", str(tmp_path / "a.json")])  # fmt: skip
    assert a.exit_code == 0, a.output
    before = _digest(tmp_path)
    assert set(before) == {f"a-round1-{k}.csv" for k in ("live", "train", "targets")}
    b = ["tournament", "open", "--dataset", "diabetes", *store, "--state", str(tmp_path / "b.json")]
    assert runner.invoke(app, b).exit_code == 0
    assert {k: v for k, v in _digest(tmp_path).items() if k.startswith("a-")} == before
    b_state = (tmp_path / "b.json").read_text()
    theirs = ["--publish", str(tmp_path / "a-round1-live.csv")]
    refused = runner.invoke(app, [*b, *theirs])
    assert refused.exit_code == 2
    _one_line_error(refused.output, "a-round1-live.csv", "--overwrite", "nothing was written")
    assert {k: v for k, v in _digest(tmp_path).items() if k.startswith("a-")} == before
    assert not (tmp_path / "b-round2-train.csv").exists()
    assert (tmp_path / "b.json").read_text() == b_state
    replaced = runner.invoke(app, [*b, *theirs, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert _digest(tmp_path)["a-round1-live.csv"] != before["a-round1-live.csv"]


def test_targets_out_that_is_a_published_file_is_refused(tmp_path: Path):
    """With --targets-out equal to --publish the file handed to participants would hold
    the live targets; the open is refused and writes nothing."""
    same = str(tmp_path / "live.csv")
    for publish in ("--publish", "--publish-train"):
        refused = runner.invoke(
            app,
            ["tournament", "open", "--dataset", "diabetes", "--state", str(tmp_path / "t.json"),
             "--store", str(tmp_path / "r.db"), publish, same, "--targets-out", same],
        )  # fmt: skip
        assert refused.exit_code == 2
        _one_line_error(refused.output, f"--targets-out and {publish} are the same file")
        assert not list(tmp_path.glob("*.csv")) and not (tmp_path / "t.json").exists()


def test_a_failed_open_leaves_no_round_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """When recording the round fails (a run the store will not resume, say), the round's
    files are removed: an open that failed must not leave files for a round that does not
    exist, least of all live targets it said it kept."""
    import rengo.cli.tournament as cli

    def refuse(*args: object) -> None:
        raise DataError("the store refuses this run")

    monkeypatch.setattr(cli, "tournament_run", refuse)
    failed = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "diabetes", "--state", str(tmp_path / "t.json"),
         "--store", str(tmp_path / "r.db")],
    )  # fmt: skip
    assert failed.exit_code == 2 and "the store refuses this run" in failed.output
    assert not list(tmp_path.glob("*.csv")) and not (tmp_path / "t.json").exists()


def test_the_leaderboard_net_payout_counts_only_paid_rounds(tmp_path: Path):
    """Before `pay` the leaderboard shows no net payout and names the scored, unpaid
    round; after `pay` it shows what the ledger holds."""
    s, ids = _opened_diabetes(tmp_path)
    targets = tmp_path / "tournament-round1-targets.csv"
    by_id = {r["id"]: float(r["target"]) for r in _read(targets)}
    good = _predictions(tmp_path / "good.csv", ids, np.array([by_id[i] for i in ids]))
    submitted = runner.invoke(
        app,
        ["tournament", "submit", "--participant", "good", "--predictions", str(good),
         "--stake", "20.00", *s],
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    assert runner.invoke(app, ["tournament", "score", "--targets", str(targets), *s]).exit_code == 0

    def good_row() -> tuple[str, str]:
        board = runner.invoke(app, ["tournament", "leaderboard", *s])
        assert board.exit_code == 0, board.output
        return next(line for line in board.output.splitlines() if " good " in line), board.output

    row, output = good_row()
    assert "0.00 credits" in row and "round(s) [1] scored but not paid" in output
    assert runner.invoke(app, ["tournament", "pay", *s]).exit_code == 0
    row, output = good_row()
    assert "1.00 credits" in row and "not paid" not in output


def test_submit_echoes_the_stake_in_major_units_with_the_currency_decimals(tmp_path: Path):
    s, ids = _opened_diabetes(tmp_path)
    predictions = str(_predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids))))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", predictions, *s]
    for typed, shown in (("5", "5.00"), ("7.5", "7.50"), ("1e1", "10.00")):
        submitted = runner.invoke(app, [*submit, "--stake", typed])
        assert submitted.exit_code == 0, submitted.output
        assert f"stake {shown} credits" in submitted.output


def test_pay_reports_what_it_paid_out_and_what_it_burned(tmp_path: Path):
    s, _ = _opened_diabetes(tmp_path)
    targets = tmp_path / "tournament-round1-targets.csv"
    truth = {r["id"]: float(r["target"]) for r in _read(targets)}
    ids = list(truth)
    ranked = np.argsort(np.argsort([truth[i] for i in ids])) / (len(ids) - 1)
    for name, values in (("right", ranked), ("wrong", 1.0 - ranked)):
        path = _predictions(tmp_path / f"{name}.csv", ids, values)
        submit = ["tournament", "submit", "--participant", name, "--predictions", str(path)]
        assert runner.invoke(app, [*submit, "--stake", "10", *s]).exit_code == 0
    assert runner.invoke(app, ["tournament", "score", "--targets", str(targets), *s]).exit_code == 0
    paid = runner.invoke(app, ["tournament", "pay", *s])
    assert paid.exit_code == 0, paid.output
    said = " ".join(paid.output.split())
    run_id = json.loads((tmp_path / "tournament.json").read_text())["run_id"]
    with RunStore(tmp_path / "r.db") as store:
        amounts = [int(e.amount) for e in store.ledger(run_id)]
    assert any(a > 0 for a in amounts) and any(a < 0 for a in amounts)
    paid_out = sum(a for a in amounts if a > 0) / 100
    burned = -sum(a for a in amounts if a < 0) / 100
    assert f"{paid_out:.2f} credits paid out" in said
    assert f"{burned:.2f} credits burned" in said


def test_every_step_finds_the_tournament_beside_the_run_store_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README: RENGO_STORE points every command at one store from any folder; the state
    # file now follows it (it stayed in ./rengo-runs of the folder that opened it)
    store = tmp_path / "shared" / "runs.db"
    monkeypatch.setenv("RENGO_STORE", str(store))
    opener, other = tmp_path / "a", tmp_path / "b"
    opener.mkdir()
    other.mkdir()
    monkeypatch.chdir(opener)
    opened = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes"])
    assert opened.exit_code == 0, opened.output
    state = store.parent / "tournament.json"
    assert state.exists() and not (opener / "rengo-runs").exists()
    ids = [r["id"] for r in _read(store.parent / "tournament-round1-live.csv")]
    monkeypatch.chdir(other)
    predictions = str(_predictions(other / "p.csv", ids, np.linspace(0, 1, len(ids))))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", predictions]
    submitted = runner.invoke(app, [*submit, "--stake", "1.00"])
    assert submitted.exit_code == 0, submitted.output
    assert list(json.loads(state.read_text())["tournament"]["rounds"][0]["stakes"]) == ["x"]
    shown = runner.invoke(app, ["tournament", "leaderboard"])
    assert shown.exit_code == 0 and "no scored round yet" in shown.output


def test_a_tournament_kept_where_earlier_releases_put_its_state_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    legacy = tmp_path / "rengo-runs" / "tournament.json"
    elsewhere = ["--store", str(tmp_path / "elsewhere" / "runs.db")]
    opening = ["tournament", "open", "--dataset", "diabetes", "--state", str(legacy)]
    opened = runner.invoke(app, [*opening, *elsewhere])  # as an earlier release kept it
    assert opened.exit_code == 0, opened.output
    monkeypatch.setenv("RENGO_STORE", str(tmp_path / "elsewhere" / "runs.db"))
    shown = runner.invoke(app, ["tournament", "leaderboard"])
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.output.split())
    assert "note: using the tournament state rengo-runs/tournament.json" in said
    assert "no scored round yet" in said


def test_a_round_whose_live_rows_had_their_targets_published_is_refused(tmp_path: Path):
    """Round 2 on the same dataset with another --seed made about half of its live rows
    rows whose targets round 1's training set had published: a participant submitted them
    and was paid the whole clip. Such an open is refused and writes nothing; the earlier
    round's --seed keeps the same rows live and is accepted."""
    s, _ = _opened_diabetes(tmp_path)
    before = json.loads((tmp_path / "tournament.json").read_text())
    reseeded = runner.invoke(
        app, ["tournament", "open", "--dataset", "diabetes", "--seed", "1", *s]
    )
    assert reseeded.exit_code == 2
    _one_line_error(reseeded.output, "live rows", "published in an earlier round's training set")
    assert not list(tmp_path.glob("tournament-round2-*"))
    assert json.loads((tmp_path / "tournament.json").read_text()) == before
    same = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *s])
    assert same.exit_code == 0, same.output
    published = {r["id"] for r in _read(tmp_path / "tournament-round1-train.csv")}
    assert not published & {r["id"] for r in _read(tmp_path / "tournament-round2-live.csv")}


def test_a_training_set_holding_targets_of_an_open_rounds_live_rows_is_refused(
    tmp_path: Path,
):
    """Round 1 all live (--train-share 0); round 2 opened with a training set would publish
    the targets of round 1's live rows while round 1 still takes submissions. Refused until
    round 1 is scored."""
    s = ["--state", str(tmp_path / "tournament.json"), "--store", str(tmp_path / "r.db")]
    opening = ["tournament", "open", "--dataset", "diabetes"]
    first = runner.invoke(app, [*opening, "--train-share", "0", *s])
    assert first.exit_code == 0, first.output
    refused = runner.invoke(app, [*opening, *s])
    assert refused.exit_code == 2
    _one_line_error(refused.output, "live in open round 1", "score round 1 first")
    assert not list(tmp_path.glob("tournament-round2-*"))
    targets = tmp_path / "tournament-round1-targets.csv"
    ids = [r["id"] for r in _read(targets)]
    predictions = _predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids)))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", str(predictions)]
    assert runner.invoke(app, [*submit, "--stake", "1", *s[:2]]).exit_code == 0
    scored = runner.invoke(app, ["tournament", "score", "--targets", str(targets), *s])
    assert scored.exit_code == 0, scored.output
    second = runner.invoke(app, [*opening, *s])
    assert second.exit_code == 0, second.output


def _targets_file(path: Path, values: dict[str, float]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "target"])
        writer.writerows(values.items())
    return path


def test_score_refuses_targets_outside_0_1_and_names_undefined_era_scores(tmp_path: Path):
    """Targets x100 made MMC 25x larger (only [0, 1] targets are scaled) and closed the
    round; they are refused and the round stays open. An era whose targets are flat scores
    +0.0000 in the table; a note says those scores are undefined, not measured zeros."""
    s, ids = _opened_diabetes(tmp_path)
    truth = {r["id"]: float(r["target"]) for r in _read(tmp_path / "tournament-round1-targets.csv")}
    predictions = _predictions(tmp_path / "p.csv", ids, np.array([truth[i] for i in ids]))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", str(predictions)]
    assert runner.invoke(app, [*submit, "--stake", "1", *s]).exit_code == 0
    scaled = _targets_file(tmp_path / "x100.csv", {i: 100 * v for i, v in truth.items()})
    refused = runner.invoke(app, ["tournament", "score", "--targets", str(scaled), *s])
    assert refused.exit_code == 2
    _one_line_error(refused.output, "targets lie in [0, 1]")
    era_of = {r["id"]: r["era"] for r in _read(tmp_path / "tournament-round1-live.csv")}
    flat = {i: 0.5 if era_of[i] == "era1" else v for i, v in truth.items()}
    scored = runner.invoke(
        app, ["tournament", "score", "--targets", str(_targets_file(tmp_path / "f.csv", flat)), *s]
    )
    assert scored.exit_code == 0, scored.output
    assert "1 era score(s) are undefined" in scored.output and "x era1 corr" in scored.output


def test_submit_and_leaderboard_find_the_state_beside_the_store_they_are_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their --state help says the default lies beside --store, but they had no --store:
    a tournament opened with --store was not found by them without --state."""
    monkeypatch.chdir(tmp_path)
    store = ["--store", str(tmp_path / "elsewhere" / "runs.db")]
    assert (
        runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *store]).exit_code == 0
    )
    ids = [r["id"] for r in _read(tmp_path / "elsewhere" / "tournament-round1-live.csv")]
    predictions = str(_predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids))))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", predictions]
    submitted = runner.invoke(app, [*submit, "--stake", "1", *store])
    assert submitted.exit_code == 0, submitted.output
    shown = runner.invoke(app, ["tournament", "leaderboard", *store])
    assert shown.exit_code == 0 and "no scored round yet" in shown.output, shown.output


def test_open_without_a_budget_says_that_declared_stakes_are_the_only_cap(tmp_path: Path):
    """Without --budget a round's gains were capped by the stakes participants type at
    submit, which rengo does not hold, and nothing said so."""
    opening = ["tournament", "open", "--dataset", "diabetes", "--train-share", "0"]
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    unbounded = runner.invoke(app, [*opening, *s])
    assert unbounded.exit_code == 0, unbounded.output
    flat = " ".join(unbounded.output.split())
    assert "no --budget" in flat and "0.05 x each stake" in flat and "holds none" in flat
    b = ["--state", str(tmp_path / "b.json"), "--store", str(tmp_path / "r.db")]
    bounded = runner.invoke(app, [*opening, "--budget", "100", *b])
    assert bounded.exit_code == 0 and "no --budget" not in bounded.output, bounded.output


def test_an_amount_refused_names_the_option_it_was_typed_into(tmp_path: Path):
    s, ids = _opened_diabetes(tmp_path)
    predictions = str(_predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids))))
    submit = ["tournament", "submit", "--participant", "x", "--predictions", predictions, *s]
    refused = runner.invoke(app, [*submit, "--stake", "1.001"])
    assert refused.exit_code == 2
    _one_line_error(refused.output, "--stake: amount '1.001' has more than 2 decimals")
    other = ["--state", str(tmp_path / "o.json"), "--store", str(tmp_path / "r.db")]
    opened = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *other,
                                 "--budget", "ten"])  # fmt: skip
    assert opened.exit_code == 2
    _one_line_error(opened.output, "--budget: 'ten' is not an amount")


def test_names_that_look_like_console_markup_are_shown_as_typed(tmp_path: Path):
    """A participant named '[/bold]' crashed submit (after it was recorded), score (after
    the round was scored) and every leaderboard with a rich MarkupError; '[red]mallory'
    showed as 'mallory'. Every table shows a name as typed."""
    from rengo.cli.main import app as rengo

    s, ids = _opened_diabetes(tmp_path)
    predictions = str(_predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids))))
    for name in ("[/bold]", "[red]mallory"):
        submitted = runner.invoke(
            app,
            ["tournament", "submit", "--participant", name, "--predictions", predictions,
             "--stake", "1", *s],
        )  # fmt: skip
        assert submitted.exit_code == 0 and f"{name}: " in submitted.output, submitted.output
    targets = str(tmp_path / "tournament-round1-targets.csv")
    steps = (["score", "--targets", targets], ["pay"], ["leaderboard"])
    for step in steps:
        shown = runner.invoke(app, ["tournament", *step, *s])
        assert shown.exit_code == 0, shown.output
    assert "[/bold]" in shown.output and "[red]mallory" in shown.output
    run = json.loads((tmp_path / "tournament.json").read_text())["run_id"]
    rewards = runner.invoke(rengo, ["rewards", "show", run, "--store", str(tmp_path / "r.db")])
    assert rewards.exit_code == 0, rewards.output
    assert rewards.output.count("[red]mallory") == 2  # contribution and ledger tables


def test_a_csv_naming_one_id_on_two_rows_is_refused_naming_it(tmp_path: Path):
    """A repeated id could put one copy in the training set, target and all, and the other
    live; with both live the open said only 'a round needs at least 2 distinct row ids'."""
    rows = tmp_path / "rows.csv"
    lines = [f"r{i},{i % 7},{i % 2}" for i in range(40)] + ["r3,1,1"]
    rows.write_text("id,x,y\n" + "\n".join(lines) + "\n", encoding="utf-8")
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    refused = runner.invoke(
        app, ["tournament", "open", "--csv", str(rows), "--target-column", "y", *s]
    )
    assert refused.exit_code == 2
    _one_line_error(refused.output, "rows.csv:42: id 'r3' in column 'id' repeats", "rows.csv:5")
    assert not list(tmp_path.glob("t-round1-*"))


def test_scoring_a_round_without_submissions_is_a_usage_error_saying_what_to_do(
    tmp_path: Path,
):
    """It exited 1, the code of a failure of rengo's, not 2 as every usage error."""
    s, _ = _opened_diabetes(tmp_path)
    targets = str(tmp_path / "tournament-round1-targets.csv")
    refused = runner.invoke(app, ["tournament", "score", "--targets", targets, *s])
    assert refused.exit_code == 2
    _one_line_error(refused.output, "round 1 has no submissions yet", "tournament submit")


def test_a_round_number_that_names_no_round_is_a_usage_error(tmp_path: Path) -> None:
    """``--round 7`` in a tournament of one round exits 2 (a usage error, as a scored round
    does) naming the open rounds, for ``submit`` and ``score`` alike; it exited 1, as a
    failure of rengo's."""
    s = ["--state", str(tmp_path / "tournament.json"), "--store", str(tmp_path / "runs.db")]
    opened = runner.invoke(app, ["tournament", "open", "--dataset", "breast_cancer", *s])
    assert opened.exit_code == 0, opened.output
    ids = [r["id"] for r in _read(tmp_path / "tournament-round1-live.csv")]
    predictions = _predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids)))
    targets = str(tmp_path / "tournament-round1-targets.csv")
    for command in (
        ["submit", "--participant", "a", "--predictions", str(predictions), "--stake", "1"],
        ["score", "--targets", targets],
    ):
        result = runner.invoke(app, ["tournament", *command, "--round", "7", *s])
        assert result.exit_code == 2, result.output
        assert "no round 7" in result.output and "open round(s): [1]" in result.output


def test_more_eras_than_live_rows_can_fill_names_the_eras_that_fit(tmp_path: Path) -> None:
    """Three live rows in the default four eras made eras of one row, refused without
    saying which option to change; the error names --eras and the most that fit."""
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "id,f1,target\n" + "".join(f"r{i},{i},0.{i}\n" for i in range(1, 8)), encoding="utf-8"
    )
    s = ["--state", str(tmp_path / "tournament.json"), "--store", str(tmp_path / "runs.db")]
    opened = runner.invoke(
        app, ["tournament", "open", "--csv", str(rows), "--target-column", "target", *s]
    )
    assert opened.exit_code == 2, opened.output
    assert "--eras 1 or fewer" in opened.output
    assert not (tmp_path / "tournament.json").exists()  # nothing was written
    fitting = runner.invoke(
        app,
        ["tournament", "open", "--csv", str(rows), "--target-column", "target", "--eras", "1", *s],
    )
    assert fitting.exit_code == 0, fitting.output


def test_a_round_opened_by_mistake_is_cancelled_and_the_next_one_opens(tmp_path: Path):
    """`cancel` withdraws the open round with its reason: a later submit to it is a one-line
    usage error naming the reason, the run's events and summary record it, and the next
    `open` is round 2."""
    s, ids = _opened_diabetes(tmp_path)
    values = _predictions(tmp_path / "p.csv", ids, np.linspace(0, 1, len(ids)))
    submit = ["tournament", "submit", "--participant", "a", "--predictions", str(values),
              "--stake", "1", *s]  # fmt: skip
    assert runner.invoke(app, submit).exit_code == 0
    cancelled = runner.invoke(
        app, ["tournament", "cancel", "--round", "1", "--reason", "wrong eras", *s]
    )
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled round 1: its 1 submission(s) will not be scored" in cancelled.output
    late = runner.invoke(app, [*submit, "--round", "1"])
    assert late.exit_code == 2
    _one_line_error(late.output, "round 1 was cancelled (wrong eras)")
    again = runner.invoke(app, ["tournament", "cancel", "--round", "1", "--reason", "x", *s])
    assert again.exit_code == 2
    _one_line_error(again.output, "round 1 was cancelled (wrong eras)")
    run_id = json.loads((tmp_path / "tournament.json").read_text())["run_id"]
    with RunStore(tmp_path / "r.db") as store:
        events = [e.message for e in store.events(run_id)]
        summary = store.get_run(run_id).summary
    assert any("cancelled round 1 (wrong eras)" in e for e in events), events
    assert summary["cancelled_rounds"] == {"1": "wrong eras"} and summary["open_rounds"] == []
    reopened = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *s])
    assert reopened.exit_code == 0 and "opened round 2" in reopened.output, reopened.output


def _scored_round_one(
    tmp_path: Path, s: list[str], ids: list[str], names: tuple[str, ...], seed: int
) -> None:
    """Round 1 of :func:`_opened_diabetes` with a seeded random submission (stake 1) from each
    of ``names``, scored against its targets file."""
    rng = np.random.default_rng(seed)
    for who in names:
        values = _predictions(tmp_path / f"{who}.csv", ids, rng.random(len(ids)))
        submitted = runner.invoke(
            app,
            ["tournament", "submit", "--participant", who, "--predictions", str(values),
             "--stake", "1", *s],
        )  # fmt: skip
        assert submitted.exit_code == 0, submitted.output
    targets = str(tmp_path / "tournament-round1-targets.csv")
    scored = runner.invoke(app, ["tournament", "score", "--targets", targets, *s])
    assert scored.exit_code == 0, scored.output


def test_a_round_that_scores_rows_already_scored_says_so(tmp_path: Path):
    """Opening the same dataset again with the same --seed (the only way that publishes no
    live target) makes the scored round's live rows live again: participants who saw round
    1's scores can fit them. The open goes ahead with a note naming the rounds and how to
    avoid it; the first open has no such note."""
    s, ids = _opened_diabetes(tmp_path)
    _scored_round_one(tmp_path, s, ids, ("a", "b"), seed=0)
    again = runner.invoke(app, ["tournament", "open", "--dataset", "diabetes", *s])
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    assert (
        f"note: {len(ids)} of this round's {len(ids)} live rows were scored in round(s) [1]" in said
    )
    assert "publish new rows (--csv)" in said
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    first = runner.invoke(
        app, ["tournament", "open", "--dataset", "diabetes", "--state", str(fresh / "t.json"),
              "--store", str(fresh / "r.db")],
    )  # fmt: skip
    assert first.exit_code == 0 and "were scored in round" not in first.output


def test_the_dashboard_leaderboard_equals_the_cli_leaderboard_before_and_after_pay(
    tmp_path: Path,
):
    """A scored round not yet paid counts in `rengo tournament leaderboard`'s means (every
    scored round) but not in its payouts; the dashboard's leaderboard, built from the run
    store alone, shows the same rounds and means and names the unpaid round, before and
    after `pay` (it averaged paid rounds only, and showed no one before the first pay)."""
    from rengo.cli.tournament_state import load_state
    from rengo.tournament import Tournament
    from rengo.ui.views import tournament_view

    s, ids = _opened_diabetes(tmp_path)
    _scored_round_one(tmp_path, s, ids, ("a", "b", "c"), seed=1)
    for step in ("scored", "paid"):
        if step == "paid":
            assert runner.invoke(app, ["tournament", "pay", *s]).exit_code == 0
        state = load_state(tmp_path / "tournament.json")
        paid = set(state["paid_rounds"])
        cli = Tournament.from_dict(state["tournament"]).leaderboard(paid)
        with RunStore(tmp_path / "r.db") as store:
            view = tournament_view(store, state["run_id"])
        board = {e["participant"]: e for e in view["leaderboard"]}
        assert set(board) == {e.participant for e in cli}, step
        for entry in cli:
            mine = board[entry.participant]
            assert mine["rounds"] == entry.rounds == 1
            assert mine["mean_corr"] == pytest.approx(entry.mean_corr, abs=1e-12)
            assert mine["mean_mmc"] == pytest.approx(entry.mean_mmc, abs=1e-12)
            assert mine["net_payout_minor"] == entry.total_payout_minor
        assert view["unpaid_rounds"] == ([1] if step == "scored" else [])

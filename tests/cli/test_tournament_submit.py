"""``rengo tournament submit`` as a participant sees it: a refused file is named with the
round it was meant for, what was expected and what of an earlier submission stays; a
resubmission says what it replaced; with the latest round cancelled, that round is named."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.cli.tournament_steps import app, open_round, runner


def _file(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _submit(state: list[str], name: str, path: str, stake: str = "10.00") -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["tournament", "submit", "--participant", name, "--predictions", path,
         "--stake", stake, *state],
    )  # fmt: skip
    return result.exit_code, " ".join(result.output.split())


def test_a_refused_submission_names_its_file_and_round_and_keeps_the_earlier_one(
    tmp_path: Path,
) -> None:
    """A missing id, a value outside [0, 1] and constant predictions were refused as
    "predictions of 'dave' row ids differ from the published ones (...)": not which file,
    nor for which round, nor whether the earlier submission still counted."""
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    good = _file(
        tmp_path / "good.csv",
        ["id", "prediction"],
        [list(r) for r in zip(ids, values, strict=True)],
    )
    assert _submit(state, "dave", good)[0] == 0
    missing = _file(
        tmp_path / "missing.csv",
        ["id", "prediction"],
        [list(r) for r in zip(ids[1:], values[1:], strict=True)],
    )
    rest = [list(r) for r in zip(ids[1:], values[1:], strict=True)]
    outside = _file(tmp_path / "outside.csv", ["id", "prediction"], [[ids[0], 1.5], *rest])
    constant = _file(tmp_path / "constant.csv", ["id", "prediction"], [[i, 0.5] for i in ids])
    for path, fact in (
        (missing, f"1 missing: ['{ids[0]}']"),
        (outside, f"'{ids[0]}': 1.5"),
        (constant, "are constant"),
    ):
        code, output = _submit(state, "dave", path, "99.00")
        assert code == 2, output
        assert f"error: {path}: " in output and fact in output
        assert "(round 1: the earlier submission (stake 10.00 credits) stays)" in output
    code, output = _submit(state, "erin", missing)
    assert code == 2 and f"{missing}: " in output and "(round 1: nothing was recorded)" in output


def test_a_file_without_the_prediction_column_says_which_columns_a_submission_names(
    tmp_path: Path,
) -> None:
    """Numerai's 'probability' header read "no feature column 'prediction'", a term of
    job files a participant never met."""
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    path = _file(
        tmp_path / "p.csv", ["id", "probability"], [list(r) for r in zip(ids, values, strict=True)]
    )
    code, output = _submit(state, "x", path)
    assert code == 2, output
    assert "no column 'prediction'; columns are ['id', 'probability']" in output
    assert "must name the columns id and prediction" in output
    assert "feature" not in output


def test_a_resubmission_says_it_replaces_the_earlier_one_and_its_stake(tmp_path: Path) -> None:
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    path = _file(
        tmp_path / "p.csv", ["id", "prediction"], [list(r) for r in zip(ids, values, strict=True)]
    )
    code, first = _submit(state, "ivan", path, "30")
    assert code == 0 and "for round 1, stake 30.00 credits" in first and "replaces" not in first
    code, second = _submit(state, "ivan", path, "40")
    assert code == 0, second
    assert "stake 40.00 credits; replaces the earlier submission (stake 30.00 credits)" in second


def test_submitting_when_the_latest_round_was_cancelled_names_that_round(tmp_path: Path) -> None:
    """After round 1 was scored and round 2 cancelled, a submission was told "round 1 is
    already scored", not that round 2, the one meant, was cancelled."""
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    path = _file(
        tmp_path / "p.csv", ["id", "prediction"], [list(r) for r in zip(ids, values, strict=True)]
    )
    assert _submit(state, "a", path)[0] == 0
    targets = str(tmp_path / "t-round1-targets.csv")
    assert runner.invoke(app, ["tournament", "score", "--targets", targets, *state]).exit_code == 0
    reopened = runner.invoke(app, ["tournament", "open", "--dataset", "breast_cancer", *state])
    assert reopened.exit_code == 0, reopened.output
    cancel = ["tournament", "cancel", "--round", "2", "--reason", "wrong eras", *state]
    assert runner.invoke(app, cancel).exit_code == 0
    code, output = _submit(state, "a", path)
    assert code == 2, output
    assert "round 2 was cancelled (wrong eras) and no round is open" in output
    assert "the operator opens the next with `rengo tournament open`" in output


def test_an_open_run_twice_says_the_rounds_share_their_live_rows(tmp_path: Path) -> None:
    """A second `open` of the same rows (run again, its output lost) opened round 2 without
    a word: later submissions went to round 2, earlier ones stayed in round 1, each round
    scored apart."""
    state, _ = open_round(tmp_path)
    again = runner.invoke(app, ["tournament", "open", "--dataset", "breast_cancer", *state])
    assert again.exit_code == 0, again.output
    output = " ".join(again.output.split())
    assert "285 of this round's 285 live rows are live in open round 1 too" in output
    assert "`rengo tournament cancel --round 2 --reason ...`" in output


def test_the_tournament_help_names_every_command_in_its_summary() -> None:
    """The summary listed open, submit, score, pay and leaderboard, not cancel."""
    shown = " ".join(runner.invoke(app, ["tournament", "--help"]).output.split())
    summary = shown.split("Options")[0]
    for command in ("open", "submit", "score", "pay", "leaderboard", "cancel"):
        assert command in summary, command


def test_a_bad_participant_name_is_named_as_the_options_fault_not_the_files(
    tmp_path: Path,
) -> None:
    """submit --participant ' alice' --predictions a.csv said 'error: a.csv: participant
    ' alice' has spaces around it', sending the participant to look for the fault in a
    file that had none. The name is checked before the file is read: with a broken file
    too, the name is what is refused, and nothing points at the file."""
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    good = _file(
        tmp_path / "a.csv", ["id", "prediction"], [list(r) for r in zip(ids, values, strict=True)]
    )
    broken = _file(tmp_path / "broken.csv", ["id", "probability"], [[ids[0], 0.5]])
    for path in (good, broken):
        code, output = _submit(state, " alice", path)
        assert code == 2, output
        assert "error: --participant: participant ' alice' has spaces around it" in output
        assert "(round 1: nothing was recorded)" in output
        assert path not in output and "prediction" not in output
    code, output = _submit(state, "al\u200bice", good)
    assert code == 2 and "--participant: " in output and "control or format" in output
    # a name in another Unicode form is the same participant: its earlier stake is found
    assert _submit(state, "Jos\u00e9", good)[0] == 0
    code, output = _submit(state, "Jose\u0301", good, "20")
    assert code == 0 and "replaces the earlier submission (stake 10.00 credits)" in output


def _cases(
    ids: list[str], values: list[float]
) -> dict[str, tuple[list[str], list[list[object]], str]]:
    """Each submission: its header, its rows and the fact a refusal names."""
    rows: list[list[object]] = [list(r) for r in zip(ids, values, strict=True)]
    rest = rows[1:]
    return {
        "an extra column": (["id", "prediction", "era"], [[*r, "era1"] for r in rows], "'era'"),
        "an extra first column": (["era", "id", "prediction"], [["e", *r] for r in rows], "'era'"),
        "the columns swapped": (["prediction", "id"], [[v, i] for i, v in rows], "other order"),
        "a missing id": (["id", "prediction"], rest, f"1 missing: ['{ids[0]}']"),
        "a duplicate id": (["id", "prediction"], [*rows, rows[0]], f"id '{ids[0]}'"),
        "a NaN prediction": (["id", "prediction"], [[ids[0], "nan"], *rest], ":2: column"),
        "an empty prediction": (["id", "prediction"], [[ids[0], ""], *rest], ":2: column"),
        "a prediction above 1": (["id", "prediction"], [[ids[0], 1.5], *rest], f"'{ids[0]}'"),
        "a prediction below 0": (["id", "prediction"], [[ids[0], -0.1], *rest], f"'{ids[0]}'"),
        "predictions at 0 and 1": (
            ["id", "prediction"],
            [[ids[0], 0.0], [ids[1], 1.0], *rows[2:]],
            "",
        ),
        "a good submission": (["id", "prediction"], rows, ""),
    }


def test_submit_accepts_and_refuses_the_files_numerai_tools_accepts_and_refuses(
    tmp_path: Path,
) -> None:
    """A file with a column beside id and prediction (or the two swapped) was recorded,
    its other columns ignored, where numerai-tools' ``validate_submission_numerai`` refuses
    it. Each case is decided by the installed library and by ``rengo tournament submit``;
    the decisions must agree and a refusal must name the column or row at fault."""
    pd = pytest.importorskip("pandas")
    submissions = pytest.importorskip("numerai_tools.submissions")
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    decisions = {}
    for case, (header, rows, fact) in _cases(ids, values).items():
        path = _file(tmp_path / f"{case.replace(' ', '_')}.csv", header, rows)
        try:
            submissions.validate_submission_numerai(
                pd.Series(ids), pd.read_csv(path, dtype={"id": str})
            )
            theirs = "accepted"
        except AssertionError:
            theirs = "refused"
        code, output = _submit(state, "dave", path)
        ours = "accepted" if code == 0 else "refused"
        decisions[case] = (ours, theirs)
        if ours == "refused":
            assert code == 2 and f"error: {path}" in output and fact in output, output
    assert {case: ours for case, (ours, _) in decisions.items()} == {
        case: theirs for case, (_, theirs) in decisions.items()
    }


def test_submit_decides_header_variants_as_numerai_tools_does(tmp_path: Path) -> None:
    """Header names with spaces around them (`` id, prediction``) were stripped and recorded,
    where numerai-tools refuses them; a pandas index column (``df.to_csv(path)``) was refused
    as 'header column 1 has no name', without saying what to write. Each variant is decided
    by the installed numerai-tools and by ``rengo tournament submit``; they must agree."""
    pd = pytest.importorskip("pandas")
    submissions = pytest.importorskip("numerai_tools.submissions")
    state, ids = open_round(tmp_path)
    values = np.random.default_rng(0).random(len(ids)).tolist()
    body = "".join(f"{i},{v}\n" for i, v in zip(ids, values, strict=True))
    indexed = "".join(f"{k},{i},{v}\n" for k, (i, v) in enumerate(zip(ids, values, strict=True)))
    cases = {  # name: (file bytes, the fact a refusal names)
        "spaces before": (f" id, prediction\n{body}".encode(), "spaces around the name"),
        "spaces after": (f"id ,prediction \n{body}".encode(), "spaces around the name"),
        "other case": (f"ID,Prediction\n{body}".encode(), "no column 'id' or 'prediction'"),
        "a byte-order mark": (f"\ufeffid,prediction\n{body}".encode(), ""),
        "quoted names": (f'"id","prediction"\n{body}'.encode(), ""),
        "CRLF": (f"id,prediction\n{body}".replace("\n", "\r\n").encode(), ""),
        "a pandas index column": (f",id,prediction\n{indexed}".encode(), "index=False"),
    }
    decisions = {}
    for case, (data, fact) in cases.items():
        path = tmp_path / f"{case.replace(' ', '_')}.csv"
        path.write_bytes(data)
        try:
            submissions.validate_submission_numerai(
                pd.Series(ids), pd.read_csv(path, dtype={"id": str})
            )
            theirs = "accepted"
        except AssertionError:
            theirs = "refused"
        code, output = _submit(state, "erin", str(path))
        ours = "accepted" if code == 0 else "refused"
        decisions[case] = (ours, theirs)
        if ours == "refused":
            said = " ".join(output.split())
            assert code == 2 and fact in said, output
    assert decisions == {case: (theirs, theirs) for case, (_, theirs) in decisions.items()}

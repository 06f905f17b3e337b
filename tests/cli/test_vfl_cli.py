"""`rengo vfl align`: parties' CSVs come out aligned on their shared IDs, in one order."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core import ConfigError


def _table(path: Path, ids: list[str], column: str) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", column])
        for i in ids:
            writer.writerow([i, f"{column}-{i}"])


def test_align_writes_shared_rows_in_one_order(tmp_path: Path):
    _table(tmp_path / "bank.csv", ["a", "b", "c", "d"], "balance")
    _table(tmp_path / "telco.csv", ["d", "x", "b", "a"], "usage")
    result = CliRunner().invoke(
        app,
        [
            "vfl",
            "align",
            f"bank={tmp_path / 'bank.csv'}",
            f"telco={tmp_path / 'telco.csv'}",
            "--out",
            str(tmp_path / "out"),
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {p: list(csv.reader((tmp_path / "out" / f"{p}.csv").open())) for p in ("bank", "telco")}
    bank_ids = [r[0] for r in rows["bank"][1:]]
    assert bank_ids == [r[0] for r in rows["telco"][1:]]
    assert sorted(bank_ids) == ["a", "b", "d"]
    assert all(r[1] == f"usage-{r[0]}" for r in rows["telco"][1:])
    assert "3 IDs shared by all 2 parties" in result.output  # the overlap, said


def test_align_rejects_malformed_arguments(tmp_path: Path):
    result = CliRunner().invoke(app, ["vfl", "align", "only-one-party.csv"])
    assert result.exit_code == 2 and "PARTY=path.csv" in result.output


def test_coordinator_flags_come_from_the_algorithms_config():
    result = CliRunner().invoke(app, ["vfl", "coordinator", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--key-bits",
        "--epochs",
        "--lr-schedule",
        "--predict-mode",
        "--no-fit-intercept",
    ):
        assert option in result.output
    assert "default 2048" in result.output  # the config's default, shown, not copied


def test_a_flag_several_algorithms_share_gives_each_ones_choices_and_default():
    """--optimizer was shown under transfer learning's heading with its choices and default
    only (adam, sgd; adam), while hetero LR, the default algorithm, takes auto and newton."""
    from rengo.cli.algorithm_options import SHARED_PANEL, _flags

    _, panel, hidden, text = _flags()["optimizer"]
    assert panel == SHARED_PANEL and not hidden
    assert "hetero_poisson: auto (Newton-CG" in text
    assert "(one of auto, sgd, adam, newton, default auto)" in text
    assert "ftl: Each party's optimizer. (one of adam, sgd, default adam)" in text
    _, _, _, text = _flags()["key_bits"]  # worded and defaulted alike: said once
    assert "(ftl, hetero_linear, hetero_lr, hetero_poisson, secureboost: default 2048)" in text
    _, panel, _, text = _flags()["n_trees"]  # one algorithm's own flag keeps its heading
    assert "secureboost" in panel and "(default" in text


def test_a_shared_flag_gives_each_algorithm_its_own_words():
    """--n-iter-no-change showed hetero LR's "epochs in a row" to SecureBoost users, whose
    unit is the boosting round, and --tol hetero LR's meaning to transfer learning's."""
    from rengo.cli.algorithm_options import _flags

    text = _flags()["n_iter_no_change"][3]
    assert "secureboost: Stop after this many rounds without improvement" in text
    assert "hetero_linear, hetero_lr, hetero_poisson: Epochs in a row" in text
    tol = _flags()["tol"][3]
    assert "ftl, secureboost, splitnn: Smallest loss improvement" in tol
    assert "(ftl: default 0.0001; secureboost: default 1e-07; splitnn: default 1e-07)" in tol
    assert "splitnn: Stop after this many epochs without improvement" in text


def test_a_shared_flags_wording_names_its_algorithm_once():
    """--validation-fraction read 'ftl: Share of labelled rows held out, scored every epoch
    (ftl: the target's; 0: none)': the algorithm named twice, whose rows left to a note."""
    from rengo.cli.algorithm_options import _flags

    text = _flags()["validation_fraction"][3]
    assert "ftl: Share of the target's labelled rows held out and scored every epoch" in text
    assert text.count("ftl") == 1


def test_bad_option_values_are_refused_naming_the_flag(tmp_path: Path):
    base = ["vfl", "coordinator", "--parties", "a,b", "--label-party", "a", "--insecure"]
    runner = CliRunner()
    result = runner.invoke(app, [*base, "--epochs", "0", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "--epochs must be >= 1, got 0" in result.output
    result = runner.invoke(app, [*base, "--optimizer", "adagrad"])
    assert result.exit_code == 2 and "--optimizer = 'adagrad'; choose one of" in result.output
    result = runner.invoke(app, [*base, "--algorithm", "secure_boost"])
    assert result.exit_code == 2 and "unknown vertical algorithm 'secure_boost'" in result.output


def test_a_party_needs_exactly_one_table_source():
    base = ["vfl", "party", "--coordinator", "x:1", "--name", "a", "--insecure"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 2 and "--csv PATH or --job JOB.toml" in result.output


def test_align_keeps_existing_output_files_unless_overwrite(tmp_path: Path):
    """An existing OUT/PARTY.csv was replaced without a prompt."""
    _table(tmp_path / "bank.csv", ["a", "b", "c"], "balance")
    _table(tmp_path / "telco.csv", ["c", "b"], "usage")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "bank.csv").write_text("precious\n")
    args = ["vfl", "align", f"bank={tmp_path / 'bank.csv'}", f"telco={tmp_path / 'telco.csv'}"]
    args += ["--out", str(tmp_path / "out")]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert "--overwrite" in " ".join(refused.output.split())
    assert (tmp_path / "out" / "bank.csv").read_text() == "precious\n"
    assert not (tmp_path / "out" / "telco.csv").exists()  # nothing was written
    replaced = CliRunner().invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (tmp_path / "out" / "bank.csv").read_text().startswith("id,")


def test_a_vertical_party_takes_retry_for_as_rengo_party_does(tmp_path: Path):
    """`rengo party` reconnects for --retry-for seconds (0: until the run ends) while `rengo
    vfl party` only knew --give-up-after, which took -5 and then gave up at once."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    table = tmp_path / "bank.csv"
    table.write_text("id,x\na,1.0\nb,2.0\n")
    base = ["vfl", "party", "--coordinator", f"127.0.0.1:{port}", "--name", "bank"]
    base += ["--insecure", "--csv", str(table), "--no-progress"]
    runner = CliRunner()
    result = runner.invoke(app, [*base, "--retry-for", "1"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and f"no coordinator at 127.0.0.1:{port} for 1s" in said
    refused = runner.invoke(app, [*base, "--give-up-after", "-5"])
    assert refused.exit_code == 2 and "--retry-for" in refused.output


def test_a_party_that_cannot_take_part_says_it_is_stopping_the_run(
    tmp_path: Path,
):
    """A corrupt --load-model file was reported only after 'cannot reach ... retrying for up
    to Ns' (this party joining to stop the run), which read as a network problem."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "bank.json").write_text('{"x": 1')
    (tmp_path / "new.csv").write_text("id,x\na,1.0\n")
    args = ["vfl", "party", "--coordinator", f"127.0.0.1:{port}", "--name", "bank"]
    args += ["--insecure", "--give-up-after", "1", "--no-progress"]
    args += ["--load-model", str(tmp_path / "bank.json"), "--score-csv", str(tmp_path / "new.csv")]
    result = CliRunner().invoke(app, args)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "not JSON" in said
    assert (
        f"bank: cannot take part (the error follows); telling the coordinator at 127.0.0.1:{port}"
        in said
    )


def test_the_rejoin_grace_is_the_flags_else_the_jobs_else_the_default(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """``--rejoin-grace`` on the coordinator and a party, else ``[vfl] rejoin_grace`` of the
    job both read, else :data:`~rengo.deploy.vertical_rejoin.REJOIN_GRACE_S`."""
    import rengo.deploy.vertical as vertical
    from rengo.deploy.vertical_rejoin import REJOIN_GRACE_S

    given: list[float] = []

    def served(*args: Any, rejoin_grace: float, **kwargs: Any) -> Any:
        given.append(rejoin_grace)
        raise ConfigError("not served in this test")

    monkeypatch.setattr(vertical, "serve_vertical_coordinator", served)
    monkeypatch.setattr(vertical, "run_vertical_party", served)
    (tmp_path / "bank.csv").write_text("id,x\na,1.0\nb,2.0\nc,3.0\n")
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nseed = 1\n[vfl]\nlabel_party = "card"\nrejoin_grace = 7\n'
        f'[vfl.parties]\ncard = "card.csv"\nbank = "{tmp_path / "bank.csv"}"\n'
    )
    coordinator = ["vfl", "coordinator", "--insecure", "--store", str(tmp_path / "r.db")]
    party = ["vfl", "party", "--coordinator", "127.0.0.1:1", "--name", "bank", "--insecure"]
    party += ["--no-progress"]
    runner = CliRunner()
    for args in (
        [*coordinator, "--job", str(job)],
        [*coordinator, "--job", str(job), "--rejoin-grace", "3"],
        [*coordinator, "--parties", "card,bank", "--label-party", "card"],
        [*party, "--job", str(job)],
        [*party, "--job", str(job), "--rejoin-grace", "3"],
        [*party, "--csv", str(tmp_path / "bank.csv")],
    ):
        result = runner.invoke(app, args)
        assert "not served in this test" in result.output, result.output
    assert given == [7.0, 3.0, REJOIN_GRACE_S] * 2


def test_max_rejoins_is_the_flags_else_the_jobs_else_the_default(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import rengo.deploy.vertical as vertical
    from rengo.deploy.vertical_rejoin import MAX_REJOINS

    given: list[int] = []

    def served(*args: Any, max_rejoins: int, **kwargs: Any) -> Any:
        given.append(max_rejoins)
        raise ConfigError("not served in this test")

    monkeypatch.setattr(vertical, "serve_vertical_coordinator", served)
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nseed = 1\n[vfl]\nlabel_party = "card"\nmax_rejoins = 4\n'
        '[vfl.parties]\ncard = "card.csv"\nbank = "bank.csv"\n'
    )
    coordinator = ["vfl", "coordinator", "--insecure", "--store", str(tmp_path / "r.db")]
    runner = CliRunner()
    for args in (
        [*coordinator, "--job", str(job)],
        [*coordinator, "--job", str(job), "--max-rejoins", "0"],
        [*coordinator, "--parties", "card,bank", "--label-party", "card"],
    ):
        result = runner.invoke(app, args)
        assert "not served in this test" in result.output, result.output
    assert given == [4, 0, MAX_REJOINS]
    refused = runner.invoke(app, [*coordinator, "--job", str(job), "--max-rejoins", "-1"])
    assert refused.exit_code == 2 and "max-rejoins" in refused.output


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_align_reads_and_writes_a_spreadsheets_export_as_its_format_flags_say(tmp_path: Path):
    folder = tmp_path / "Verbund Köln"
    folder.mkdir()
    for name, ids in (
        ("Klinik", ["Müller-1", "Özdemir-2", "Weiß-3"]),
        ("Labor", ["Weiß-3", "Müller-1"]),
    ):
        lines = ["id;Größe"] + [f"{i};1,{k}" for k, i in enumerate(ids)]
        (folder / f"{name}.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    args = ["vfl", "align", f"klinik={folder / 'Klinik.csv'}", f"labor={folder / 'Labor.csv'}"]
    args += ["--out", str(folder / "abgeglichen"), "--seed", "1"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "--encoding cp1252" in " ".join(refused.output.split())
    result = CliRunner().invoke(app, [*args, "--delimiter", ";", "--encoding", "cp1252"])
    assert result.exit_code == 0, result.output
    assert "2 IDs shared by all 2 parties" in result.output
    out = (folder / "abgeglichen" / "klinik.csv").read_bytes().decode("cp1252")
    assert out.splitlines()[0] == "id;Größe"
    assert sorted(line.split(";")[0] for line in out.splitlines()[1:]) == ["Müller-1", "Weiß-3"]


def test_a_party_reads_its_csv_as_its_format_flags_say(tmp_path: Path):
    table = tmp_path / "Labor Süd.csv"
    table.write_bytes("id;Hämoglobin\r\nk1;13,5\r\nk2;12,25\r\n".encode("cp1252"))
    port = _free_port()
    args = ["vfl", "party", "--coordinator", f"127.0.0.1:{port}", "--name", "labor"]
    args += ["--insecure", "--give-up-after", "1", "--no-progress", "--csv", str(table)]
    args += ["--delimiter", ";", "--encoding", "cp1252"]
    without_decimal = CliRunner().invoke(app, args)
    said = " ".join(without_decimal.output.split())
    assert without_decimal.exit_code == 2 and "'13,5' is not a number" in said
    assert "--decimal ," in said
    read = CliRunner().invoke(app, [*args, "--decimal", ","])
    assert f"labor: connecting to 127.0.0.1:{port}" in " ".join(read.output.split())


def test_a_partys_cell_that_is_not_a_number_is_hinted_in_the_commands_options(tmp_path: Path):
    """The hint named a job's keys and load_csv's arguments (``missing_values=``,
    ``features=[...]``), which a party typing ``rengo vfl party --csv`` does not have."""
    port = _free_port()
    args = ["vfl", "party", "--coordinator", f"127.0.0.1:{port}", "--name", "labor"]
    args += ["--insecure", "--give-up-after", "1", "--no-progress"]
    for cell, says, hint in (
        ("hoch", "'hoch' is not a number", "--features"),
        ("NA", "'NA' marks a missing value", "leave missing cells empty"),
    ):
        table = tmp_path / f"{cell}.csv"
        table.write_text(f"id,x,y\nk1,1.5,2\nk2,{cell},3\n", encoding="utf-8")
        result = CliRunner().invoke(app, [*args, "--csv", str(table)])
        said = " ".join(result.output.split())
        assert result.exit_code == 2, said
        assert f"{table.name}:3: column 'x' (column 2) {says}" in said and hint in said
        assert "load_csv" not in said and "missing_values" not in said and "[vfl]" not in said


def test_a_party_given_its_job_is_told_the_job_says_how_its_table_is_written(tmp_path: Path):
    (tmp_path / "job.toml").write_text('[job]\nkind = "vfl"\n')
    args = ["vfl", "party", "--coordinator", "127.0.0.1:1", "--name", "labor", "--insecure"]
    args += ["--job", str(tmp_path / "job.toml"), "--delimiter", ";"]
    result = CliRunner().invoke(app, args)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "--delimiter: read only with --csv" in said
    assert "[vfl] delimiter, encoding and decimal" in said


def test_align_names_a_party_name_the_rule_takes_for_one_with_umlauts(tmp_path: Path):
    _table(tmp_path / "a.csv", ["x"], "balance")
    _table(tmp_path / "b.csv", ["x"], "usage")
    args = ["vfl", "align", f"Universitätsklinikum Köln={tmp_path / 'a.csv'}"]
    result = CliRunner().invoke(app, [*args, f"bank={tmp_path / 'b.csv'}"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "e.g. 'Universitaetsklinikum_Koeln'" in said


def test_a_vertical_party_says_what_it_read_and_in_how_long(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A bank's table of millions of rows takes minutes to read before the party connects;
    `rengo vfl party` said nothing meanwhile. It now says what it read, with the time, for
    --csv and --job alike (a spinner beside it on a terminal)."""
    import re

    import rengo.deploy.vertical as vertical

    def served(*args: Any, **kwargs: Any) -> Any:
        raise ConfigError("not served in this test")

    monkeypatch.setattr(vertical, "run_vertical_party", served)
    (tmp_path / "bank.csv").write_text("id,x,z\na,1.0,2\nb,2.0,3\nc,3.0,4\n")
    (tmp_path / "new.csv").write_text("id,x,z\nd,1.0,2\n")
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nseed = 1\n[vfl]\nlabel_party = "card"\n'
        f'[vfl.parties]\ncard = "card.csv"\nbank = "{tmp_path / "bank.csv"}"\n'
    )
    party = ["vfl", "party", "--coordinator", "127.0.0.1:1", "--name", "bank", "--insecure"]
    party += ["--no-progress"]
    runner = CliRunner()
    from_csv = runner.invoke(
        app, [*party, "--csv", str(tmp_path / "bank.csv"), "--score-csv", str(tmp_path / "new.csv")]
    )
    said = " ".join(from_csv.output.split())
    assert re.search(r"bank: read 3 rows to train, 1 to score x 2 columns \(\d+\.\d s\)", said)
    from_job = runner.invoke(app, [*party, "--job", str(job)])  # a row held out to score
    said = " ".join(from_job.output.split())
    assert re.search(r"bank: read 2 rows to train, 1 to score x 2 columns \(\d+\.\d s\)", said)


def test_an_unknown_task_is_refused_listing_the_tasks_before_the_party_dials(
    tmp_path: Path,
) -> None:
    """``--task multi`` (a typo) was read as a free string: the party read its table, then
    dialled the coordinator to stop the run (for up to --retry-for, 600 s by default) before
    saying which tasks exist. It is refused as the command line is read, listing them."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "telecom.csv").write_text("id,x,plan\na,1.0,basic\nb,2.0,max\nc,0.5,plus\n")
    args = ["vfl", "party", "--coordinator", f"127.0.0.1:{port}", "--name", "telecom"]
    args += ["--insecure", "--give-up-after", "1", "--no-progress"]
    args += ["--csv", str(tmp_path / "telecom.csv"), "--label", "plan", "--task", "multi"]
    result = CliRunner().invoke(app, args)
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "'--task'" in said and "'multi'" in said
    for task in ("'classification'", "'multiclass'", "'regression'"):
        assert task in said
    assert "cannot take part" not in said  # refused before anything was read or dialled


def test_a_deployed_vertical_job_with_contribution_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    """`rengo vfl coordinator --job` read a job's [contribution] and valued no one: the run
    completed without values, and `runs show` then advised another deployed run."""
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "valued"\nseed = 0\n[vfl]\ndataset = "breast_cancer"\n'
        'num_parties = 3\nlabel_party = "guest"\nkey_bits = 512\n[contribution]\nmetric = "auc"\n'
    )
    store = tmp_path / "runs.db"
    args = ["vfl", "coordinator", "--job", str(job), "--insecure", "--store", str(store)]
    result = CliRunner().invoke(app, [*args, "--listen", "127.0.0.1:0"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "[contribution] section values the feature parties in a simulated run only" in said
    assert f"`rengo run {job}` computes their Shapley values" in said
    assert "remove the section to run the job deployed" in said
    assert not store.exists()  # refused before a run was recorded

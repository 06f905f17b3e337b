"""Each deployed party may report the SHA-256 of the data files it trains on when it joins:
the run records each party's first report, `rengo runs show` lists it, and a resumed run
whose party reports other data warns, naming the party, the file and both digests (the
report is the party's word: the run goes on). A party that reports nothing still joins."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest
from rich.console import Console
from test_resume_start_deadline import serve, stop_after_round_one

from rengo.core.errors import ProtocolError
from rengo.hfl import History
from rengo.tracking import RunStore, run_detail
from rengo.transport.data_report import (
    MAX_REPORTED_FILES,
    data_report_payload,
    parse_data_report,
)

FIRST = hashlib.sha256(b"rows as the run started").hexdigest()
EDITED = hashlib.sha256(b"rows edited since").hexdigest()


def _serve(
    store: RunStore,
    reports: Mapping[str, Mapping[str, str] | None],
    resume: str | None = None,
    progress: Any = None,
) -> History:
    """Serve 2 rounds to the parties of ``reports``, each reporting its files (None: none)."""
    return serve(
        store, with_parties=True, resume=resume, progress=progress, rounds=2, reports=reports
    )


@pytest.mark.timeout(120)
def test_each_partys_reported_data_is_recorded_and_shown_and_a_silent_party_still_joins(
    tmp_path: Any,
) -> None:
    with RunStore(tmp_path / "runs") as store:
        _serve(store, {"a": {"/data/a.csv": FIRST}, "b": None})
        (run,) = store.list_runs()
        assert run.status == "completed"  # b reported nothing, as a party before reports
        assert run.config["party_data_files"] == {"a": {"/data/a.csv": FIRST}}
        said = [event.message for event in store.events(run.run_id)]
        assert any(
            f"party a reports training on /data/a.csv sha256 {FIRST[:12]}" in m for m in said
        )
        console = Console(width=300, record=True)
        console.print(run_detail(store, run.run_id))
        shown = console.export_text()
    assert "party_data_files.a./data/a.csv" in shown and FIRST in shown


@pytest.mark.timeout(120)
def test_a_resumed_run_whose_party_reports_other_data_warns_naming_both_digests(
    tmp_path: Any,
) -> None:
    with RunStore(tmp_path / "runs") as store:
        with pytest.raises(KeyboardInterrupt):
            _serve(
                store,
                {"a": {"/data/a.csv": FIRST}, "b": {"/data/b.csv": FIRST}},
                progress=stop_after_round_one,
            )
        (run,) = store.list_runs()
        history = _serve(
            store, {"a": {"/data/a.csv": EDITED}, "b": {"/data/b.csv": FIRST}}, resume=run.run_id
        )
        assert [r.server_round for r in history.rounds] == [2]  # warned, not refused
        warnings = [e.message for e in store.events(run.run_id) if e.level == "warning"]
        about_a = [m for m in warnings if m.startswith("party a's data")]
        assert about_a and f"/data/a.csv sha256 {FIRST[:12]}…, now {EDITED[:12]}…" in about_a[0]
        assert not any(m.startswith("party b's data") for m in warnings)
        recorded = store.get_run(run.run_id).config["party_data_files"]
        assert recorded["a"] == {"/data/a.csv": FIRST}  # what the run started on


def test_a_malformed_report_is_refused_naming_what_is_wrong() -> None:
    good = data_report_payload({"/data/a.csv": FIRST})
    assert parse_data_report("a", good) == {"/data/a.csv": FIRST}
    cases = {
        b"\x80not json": "not JSON",
        json.dumps({"files": ["x"]}).encode(): "must be",
        json.dumps({"files": {"/a.csv": "abc"}}).encode(): "not a SHA-256",
        json.dumps({"files": {"/a.csv": FIRST.upper()}}).encode(): "not a SHA-256",
        json.dumps({"files": {"/a\x1b[2J.csv": FIRST}}).encode(): "not printable",
        json.dumps(
            {"files": {f"/f{i}.csv": FIRST for i in range(MAX_REPORTED_FILES + 1)}}
        ).encode(): f"more than {MAX_REPORTED_FILES}",
    }
    for payload, reason in cases.items():
        with pytest.raises(ProtocolError, match=reason):
            parse_data_report("a", payload)


def test_rengo_party_refuses_an_unreadable_data_file_before_it_connects(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from rengo.cli.main import app

    missing = tmp_path / "gone.csv"
    ran = CliRunner().invoke(
        app,
        ["party", "--coordinator", "127.0.0.1:9", "--name", "a", "--insecure",
         "--app", "tests.deploy.digits_app:client_fn", "--data", str(missing)],
    )  # fmt: skip
    assert ran.exit_code != 0
    assert f"cannot read {missing}" in " ".join(ran.output.split())


def test_a_party_rejoining_in_a_loop_with_other_data_cannot_flood_the_record(
    tmp_path: Any,
) -> None:
    from rengo.deploy.party_data import PartyDataRecorder
    from rengo.transport.repeated_events import RECORDED_FREELY

    said: list[tuple[str, str]] = []
    with RunStore(tmp_path / "runs") as store:
        run_id = store.start_run("hfl-deployed", {})
        recorder = PartyDataRecorder(store, run_id, lambda *event: said.append(event))
        recorder("a", {"/data/a.csv": FIRST})
        for _ in range(150):
            recorder("a", {"/data/a.csv": EDITED})
        assert store.get_run(run_id).config["party_data_files"] == {"a": {"/data/a.csv": FIRST}}
    warnings = [message for level, message in said if level == "warning"]
    assert len(warnings) == RECORDED_FREELY + 1  # the first 20, then the 100th
    assert "(the 100th time;" in warnings[-1]


def test_a_party_reporting_the_data_another_party_reported_is_named_with_it(
    tmp_path: Any,
) -> None:
    """A removed hospital back under a new name with the same file (or a copy of another's
    data) joined unremarked before; its first report now names the party that reported
    that digest first, and a party with data of its own is not warned of."""
    from rengo.deploy.party_data import PartyDataRecorder

    said: list[tuple[str, str]] = []
    with RunStore(tmp_path / "runs") as store:
        run_id = store.start_run("hfl-deployed", {})
        recorder = PartyDataRecorder(store, run_id, lambda *event: said.append(event))
        recorder("client-2", {"/data/ward.csv": FIRST})
        recorder("client-5", {"/srv/renamed.csv": FIRST})
        recorder("client-6", {"/data/own.csv": EDITED})
        recorder("client-2", {"/data/ward.csv": FIRST})  # a rejoin: not its first report
    warnings = [message for level, message in said if level == "warning"]
    assert warnings == [
        f"party client-5 reports /srv/renamed.csv sha256 {FIRST[:12]}…, the data party "
        "client-2 reported: the same data under two names (a party back under a new name, "
        "or a copy); contribution values and payouts count them as two participants unless "
        "[contribution] entities names them one"
    ]


def test_parties_of_a_csv_job_split_into_clients_are_not_warned_of_sharing_its_file(
    tmp_path: Any,
) -> None:
    """Each `rengo party --job` party reports the job's file, which the job splits into
    clients: before, every party after the first was warned it was the same data under two
    names. Only files of a party's own are compared: two parties with the same own file
    still are."""
    from rengo.deploy.party_data import PartyDataRecorder
    from rengo.jobs import build_hfl_job, load_job
    from tests.jobs.test_imbalanced_job import HFL_JOB, write_patients

    write_patients(tmp_path)
    (tmp_path / "job.toml").write_text(HFL_JOB.format(extra=""))
    built = build_hfl_job(load_job(tmp_path / "job.toml"))
    assert len(built.client_ids) == 3 and built.data_files  # one csv file, three clients
    said: list[tuple[str, str]] = []
    with RunStore(tmp_path / "runs") as store:
        run_id = store.start_run("hfl-deployed", built.run_config({}))
        recorder = PartyDataRecorder(store, run_id, lambda *event: said.append(event))
        for client in built.client_ids:  # what `rengo party --job` reports
            recorder(client, dict(built.data_files))
        assert [message for level, message in said if level == "warning"] == []
        recorder("hospital-a", {"/data/ward.csv": FIRST})  # --data: its own file
        recorder("hospital-b", {"/copy/ward.csv": FIRST})
    warnings = [message for level, message in said if level == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("party hospital-b reports /copy/ward.csv sha256 ")
    assert "the data party hospital-a reported" in warnings[0]


def test_two_first_reports_arriving_together_give_one_warning_naming_both(
    tmp_path: Any,
) -> None:
    """Two parties' first reports of the same own file, the second arriving while the first
    is being compared: before, each party was warned of the other (two warnings for one
    pair); a first report is now recorded and compared in one step, so one warning names
    both."""
    import threading

    from rengo.deploy.party_data import PartyDataRecorder

    said: list[tuple[str, str]] = []
    with RunStore(tmp_path / "runs") as store:
        run_id = store.start_run("hfl-deployed", {})
        get_run = store.get_run
        other: list[threading.Thread] = []

        class ArrivesMeanwhile:  # the store, where the second report lands mid-compare
            def __getattr__(self, name: str) -> Any:
                return getattr(store, name)

            def get_run(self, run: str) -> Any:
                if not other:
                    other.append(
                        threading.Thread(target=recorder, args=("hospital-b", {"/b": FIRST}))
                    )
                    other[0].start()
                    other[0].join(2)  # returns once done, or while it waits its turn
                return get_run(run)

        recorder = PartyDataRecorder(ArrivesMeanwhile(), run_id, lambda *e: said.append(e))
        recorder("hospital-a", {"/a": FIRST})
        other[0].join()
    warnings = [message for level, message in said if level == "warning"]
    assert len(warnings) == 1, warnings
    assert "hospital-a" in warnings[0] and "hospital-b" in warnings[0]

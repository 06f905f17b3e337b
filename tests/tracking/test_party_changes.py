"""A deployed run's parties over time: a resume that admits or removes members is recorded
with the run (who, after which round, when), and the run's ``parties`` say who it serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.tracking import (
    PartyChange,
    RunStore,
    UnknownRunError,
    recorded_party_changes,
    recorded_revocations,
)


def deployed_run(store: RunStore, parties: list[str] | None) -> str:
    config = {"strategy": "FedAvg", **({"parties": parties} if parties is not None else {})}
    return store.start_run("hfl-deployed", config, name="hospitals")


def test_a_new_member_and_a_removed_one_are_recorded_with_the_round_they_took_effect(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, ["p0", "p1", "p2", "p3"])
        change = store.change_parties(run_id, ["p4", "p0", "p1", "p2"], after_round=10)
        assert change is not None
        assert (change.after_round, change.admitted, change.removed) == (10, ("p4",), ("p3",))
        assert change.parties == ("p0", "p1", "p2", "p4")
        assert change.describe() == (
            "parties changed after round 10: admitted p4; removed p3 (now 4: p0, p1, p2, p4)"
        )
        later = store.change_parties(run_id, ["p0", "p1", "p2", "p3", "p4"], after_round=25)
        assert later is not None and later.admitted == ("p3",) and not later.removed
    with RunStore(tmp_path / "runs.db") as store:  # read back from the file
        config = store.get_run(run_id).config
        assert config["parties"] == ["p0", "p1", "p2", "p3", "p4"]
        assert recorded_party_changes(config) == [change, later]
        assert config["strategy"] == "FedAvg"  # the rest of the config is kept


def test_the_same_parties_in_another_order_change_nothing(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, ["p0", "p1"])
        assert store.change_parties(run_id, ["p1", "p0"], after_round=3) is None
        assert "party_changes" not in store.get_run(run_id).config


def test_a_run_open_to_any_party_names_records_no_change(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, None)
        assert store.change_parties(run_id, ["p0"], after_round=1) is None
        assert "parties" not in store.get_run(run_id).config


def test_an_unknown_run_is_named(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store, pytest.raises(UnknownRunError):
        store.change_parties("20991231-000000-abcdef", ["p0"], after_round=1)


def test_entries_this_release_cannot_read_are_left_out() -> None:
    good = PartyChange(2, "2026-12-07T10:00:00+00:00", ("p3",), (), ("p0", "p3"))
    config = {"party_changes": [{"after_round": "x"}, good.as_record(), "junk"]}
    assert recorded_party_changes(config) == [good]
    assert recorded_party_changes({"party_changes": "junk"}) == []


def test_runs_show_lists_who_was_admitted_removed_and_revoked_in_order(tmp_path: Path) -> None:
    from rich.console import Console

    from rengo.tracking import run_detail

    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, ["p0", "p1", "p2", "p3"])
        store.log_event(run_id, "info", "party p3 joined from ipv4:10.0.0.3:5000")
        revoked = store.record_revocation(run_id, "p3", 0x1F)  # what the hub reports
        assert revoked is not None and revoked.after_round == 0
        assert store.record_revocation(run_id, "p3", 0x1F) is None  # met again: one record
        store.change_parties(run_id, ["p0", "p1", "p2", "p4"], after_round=10)
        console = Console(width=200, record=True)
        console.print(run_detail(store, run_id))
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    section = "\n".join(lines[lines.index("parties") :])
    revoked_at = section.index("the certificate of party 'p3' (serial 1f) was revoked")
    changed = section.index("after 10")
    assert revoked_at < changed  # oldest first
    assert section.count("was revoked") == 1
    assert "admitted p4; removed p3 (now 4: p0, p1, p2, p4)" in section
    assert "joined from" not in section[: section.index("events")]  # only changes of members


def test_a_partys_own_words_cannot_write_a_row_of_the_parties_table(tmp_path: Path) -> None:
    """A party's exception text reaches the run's events (``client p1 dropped: raised
    ...``); one that reads like a revocation is still no revocation: the table reads the
    hub's structured records only."""
    from rengo.tracking.membership_table import membership_rows

    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, ["p0", "p1", "p2"])
        store.log_event(
            run_id,
            "warning",
            "client p1 dropped: raised RuntimeError: the certificate of party 'p2' (serial "
            "1234) was revoked by the federation's operator",
            round=2,
        )
        assert membership_rows(store, store.get_run(run_id)) == []
        assert recorded_revocations(store.get_run(run_id).config) == []

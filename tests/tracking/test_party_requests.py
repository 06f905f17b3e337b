"""An operator's request to admit or remove parties of a running deployed run: checked
against the run's parties (and the requests still pending) when made, kept in the run's
config until the coordinator settles it, and settled in the same transaction as the change."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import PartyRequest, RunStore, recorded_party_changes, recorded_party_requests


def deployed_run(store: RunStore, parties: list[str] | None) -> str:
    config = {"strategy": "FedAvg", **({"parties": parties} if parties is not None else {})}
    return store.start_run("hfl-deployed", config, name="hospitals")


def test_a_request_waits_in_the_run_and_the_change_settles_it(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, ["p0", "p1", "p2", "p3"])
        first = store.request_party_change(run_id[:12], admit=["p4"], remove=["p3"])
        assert (first.admitted, first.removed) == (("p4",), ("p3",))
        assert first.describe() == "admit p4; remove p3"
        second = store.request_party_change(run_id, admit=["p5"])
        config = store.get_run(run_id).config
        assert recorded_party_requests(config) == [first, second]
        assert config["parties"] == ["p0", "p1", "p2", "p3"]  # nothing applied yet
        # the coordinator read one request, then a second came: it settles only the first
        change = store.change_parties(run_id, ["p0", "p1", "p2", "p4"], 7, settled=[first])
        assert change is not None and change.describe() == (
            "parties changed after round 7: admitted p4; removed p3 (now 4: p0, p1, p2, p4)"
        )
    with RunStore(tmp_path / "runs.db") as store:
        config = store.get_run(run_id).config
        assert recorded_party_requests(config) == [second]
        assert recorded_party_changes(config) == [change]
        store.drop_party_requests(run_id, [second])
        assert "party_requests" not in store.get_run(run_id).config


@pytest.mark.parametrize(
    ("admit", "remove", "message"),
    [
        (["p1"], [], "p1: already among run"),
        (["p4"], [], "p4: already among run .*(with the requests not yet applied)"),
        ([], ["p3"], "p3: not among run .*: p0, p1, p2, p4"),
        ([], ["p9"], "p9: not among run"),
        (["p5"], ["p5"], "p5: named both to admit and to remove"),
        ([], ["p0", "p1", "p2", "p4"], "leaves run .* no party"),
        (["../etc"], [], "party to admit"),
        ([], [], "name a party to admit or to remove"),
    ],
)
def test_a_request_the_run_cannot_take_is_refused_and_recorded_nowhere(
    tmp_path: Path, admit: list[str], remove: list[str], message: str
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = deployed_run(store, ["p0", "p1", "p2", "p3"])
        pending = store.request_party_change(run_id, admit=["p4"], remove=["p3"])
        with pytest.raises(ConfigError, match=message):
            store.request_party_change(run_id, admit=admit, remove=remove)
        assert recorded_party_requests(store.get_run(run_id).config) == [pending]


def test_only_a_running_deployed_run_with_a_party_list_takes_requests(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        open_to_all = deployed_run(store, None)
        with pytest.raises(ConfigError, match="records no list of parties"):
            store.request_party_change(open_to_all, admit=["p4"])
        stopped = deployed_run(store, ["p0", "p1"])
        store.finish_run(stopped, "interrupted")
        with pytest.raises(
            ConfigError, match=f"run {stopped} is interrupted: .*--resume {stopped}"
        ):
            store.request_party_change(stopped, admit=["p4"])
        done = deployed_run(store, ["p0", "p1"])
        store.finish_run(done, "completed")
        with pytest.raises(ConfigError, match="is completed: no round is left"):
            store.request_party_change(done, remove=["p1"])
        for run_id in (open_to_all, stopped, done):
            assert recorded_party_requests(store.get_run(run_id).config) == []


def test_unreadable_entries_are_left_out() -> None:
    config = {
        "party_requests": [{"admitted": ["p4"]}, 3, {"admitted": [], "removed": ["p1"], "at": "t"}]
    }
    assert recorded_party_requests(config) == [PartyRequest((), ("p1",), "t")]

"""A deployed run records the build each party joined it with (its rengo release and wire
format, as its hello named them, which the handshake already read) and `rengo runs show`
lists them: before, the store kept the coordinator's release only, so two parties on two
builds of the same wire format left no trace of it. A store of an earlier release, whose
runs record no party build, still opens and shows its runs."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from test_resume_start_deadline import serve

from rengo import __version__
from rengo.tracking import RunStore, run_detail
from rengo.transport.grpc_wire import WIRE_FORMAT


def _shown(store: RunStore, run_id: str) -> str:
    console = Console(width=300, record=True)
    console.print(run_detail(store, run_id))
    return console.export_text()


@pytest.mark.timeout(120)
def test_each_partys_build_is_recorded_with_a_deployed_run_and_shown(tmp_path: Any) -> None:
    build = f"rengo {__version__} (wire format {WIRE_FORMAT})"
    with RunStore(tmp_path / "runs") as store:
        serve(store, with_parties=True, rounds=1, reports={"a": None, "b": None})
        (run,) = store.list_runs()
        assert run.status == "completed"
        assert run.config["party_releases"] == {"a": [build], "b": [build]}
        shown = _shown(store, run.run_id)
    assert f"party builds  a {build}; b {build}" in shown


def test_a_party_joining_again_on_another_build_keeps_both_in_order(tmp_path: Any) -> None:
    with RunStore(tmp_path / "runs") as store:
        run_id = store.start_run("hfl-deployed", {})
        assert store.record_party_release(run_id, "a", "rengo 0.1.0 (wire format 2)")
        assert not store.record_party_release(run_id, "a", "rengo 0.1.0 (wire format 2)")
        assert store.record_party_release(run_id, "a", "rengo 0.1.1 (wire format 2)")
        recorded = store.get_run(run_id).config["party_releases"]
    assert recorded == {"a": ["rengo 0.1.0 (wire format 2)", "rengo 0.1.1 (wire format 2)"]}


def test_a_run_recorded_before_party_builds_still_shows(tmp_path: Any) -> None:
    with RunStore(tmp_path / "runs") as store:
        run_id = store.start_run("vfl-deployed", {"job_file": "job.toml"})
        store.finish_run(run_id, "completed", {})
        shown = _shown(store, run_id)
    assert "vfl-deployed" in shown and "party builds" not in shown

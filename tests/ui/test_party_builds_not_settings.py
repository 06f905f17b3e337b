"""Each party's build (``party_releases``, which a deployed run keeps in its config) showed in
the dashboard as a setting, so two deployed runs of one job whose parties ran other builds
were compared as differing in config (``party_releases.bank``); it is no setting, and
``rengo runs show`` lists it on its own "party builds" line."""

from __future__ import annotations

from pathlib import Path

from rengo.tracking import RunStore
from rengo.ui.views import compare_view, run_overview


def test_two_runs_whose_parties_ran_other_builds_differ_in_no_setting(tmp_path: Path) -> None:
    config = {"executor": "grpc", "rounds": 3}
    with RunStore(tmp_path / "runs") as store:
        runs = []
        for build in ("rengo 0.1.0 (wire format 2)", "rengo 0.1.0+g1234 (wire format 2)"):
            run_id = store.start_run("hfl-deployed", config)
            store.record_party_release(run_id, "bank", build)
            store.finish_run(run_id, "completed", {})
            runs.append(run_id)
        assert store.get_run(runs[1]).config["party_releases"] == {
            "bank": ["rengo 0.1.0+g1234 (wire format 2)"]
        }
        assert compare_view(store, runs)["config_differences"] == []
        shown = run_overview(store, runs[0])["run"]["config"]
    assert shown == {"executor": "grpc", "rounds": 3}

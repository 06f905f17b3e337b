"""The resume command a stopped ``rengo coordinator`` prints keeps the run's parties as they
are now: after ``rengo runs parties RUN --admit/--remove`` changed them mid-run, resuming with
the job's own list would take the change back."""

from __future__ import annotations

from pathlib import Path

from rengo.cli.deploy import _parties_now
from rengo.tracking import RunStore


def test_the_resume_hint_names_the_parties_the_run_has_now(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        changed = store.start_run("hfl-deployed", {"parties": ["p0", "p1", "p2"]})
        store.change_parties(changed, ["p0", "p1", "p3"], after_round=4)
        unchanged = store.start_run("hfl-deployed", {"parties": ["p0", "p1"]})
    assert _parties_now(path, [changed], None) == "p0,p1,p3"
    assert _parties_now(path, [changed], "p0,p1,p2") == "p0,p1,p3"
    assert _parties_now(path, [unchanged], "p0,p1") == "p0,p1"  # as given
    assert _parties_now(path, [unchanged], None) is None  # the job's list
    assert _parties_now(path, [], "p0") == "p0"  # no run yet
    assert _parties_now(tmp_path / "elsewhere.db", [changed], None) is None  # unreadable

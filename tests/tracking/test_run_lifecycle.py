"""One run lifecycle: ``with store.run(...) as run:`` records completed, failed (with the
error as an event) and interrupted the same way for every kind of run; a null run without a
store gives callers one code path; a resumed run is recorded the same way."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError, RoundFailure
from rengo.tracking import Run, RunStore, open_run


def test_a_body_that_returns_completes_the_run_with_its_summary(store: RunStore) -> None:
    with store.run("hfl", {"rounds": 3}, name="ok", seed=5) as run:
        assert store.get_run(run.run_id).status == "running"
        run.summary["accuracy"] = 0.9
    info = store.get_run(run.run_id)
    assert (info.status, info.name, info.seed, info.config) == ("completed", "ok", 5, {"rounds": 3})
    assert info.summary["accuracy"] == 0.9 and info.summary["wall_time_s"] >= 0
    assert run.status == "completed" and store.events(run.run_id) == []


def test_an_exception_fails_the_run_and_is_recorded_as_an_event(store: RunStore) -> None:
    with pytest.raises(RoundFailure), store.run("hfl", {}) as run:
        run.summary["rounds_done"] = 2
        raise RoundFailure("round 3 failed: only 1 of 4 clients reported")
    info = store.get_run(run.run_id)
    assert info.status == "failed" and info.summary["rounds_done"] == 2
    (event,) = store.events(run.run_id, level="error")
    assert event.message == "run failed: RoundFailure: round 3 failed: only 1 of 4 clients reported"


def test_keyboard_interrupt_marks_the_run_interrupted_and_records_why(store: RunStore) -> None:
    """An operator reading the run later (``rengo runs show``, the dashboard) sees why it
    stopped and how to continue it, not a bare ``interrupted`` with no event."""
    with pytest.raises(KeyboardInterrupt), store.run("hfl-deployed", {}) as run:
        raise KeyboardInterrupt
    assert store.get_run(run.run_id).status == "interrupted"
    (event,) = store.events(run.run_id)
    assert event.level == "warning"
    assert event.message == (
        f"run interrupted: KeyboardInterrupt; resume it from its checkpoints "
        f"(--resume {run.run_id})"
    )


class _Signalled(KeyboardInterrupt):
    """What the CLI raises on SIGTERM (``rengo.cli.errors.Terminated``), from below the CLI."""


def test_a_signal_turned_interrupt_is_recorded_with_its_signal(store: RunStore) -> None:
    with pytest.raises(KeyboardInterrupt), store.run("hfl", {}) as run:
        raise _Signalled("signal 15")
    (event,) = store.events(run.run_id, level="warning")
    assert event.message.startswith("run interrupted: _Signalled: signal 15; ")


def test_a_resumed_run_is_recorded_the_same_way(store: RunStore) -> None:
    with pytest.raises(KeyboardInterrupt), store.run("hfl-deployed", {}) as first:
        raise KeyboardInterrupt
    with store.resume(first.run_id[:12], kind="hfl-deployed") as again:
        assert again.run_id == first.run_id
        assert store.get_run(first.run_id).status == "running"
    assert store.get_run(first.run_id).status == "completed"


def test_resuming_a_run_of_another_kind_is_refused(store: RunStore) -> None:
    with store.run("vfl", {}) as run:
        pass
    with (
        pytest.raises(ConfigError, match="is a 'vfl' run, not 'hfl-deployed'"),
        store.resume(run.run_id, kind="hfl-deployed"),
    ):
        pass
    assert store.get_run(run.run_id).status == "completed"


def test_a_null_run_has_no_id_and_the_same_body() -> None:
    with open_run(None, "hfl", {"rounds": 1}) as run:
        assert isinstance(run, Run) and run.run_id is None and not run.recorded
        run.log_event("info", "nothing is recorded")  # a no-op
        run.summary["x"] = 1
    assert run.status == "completed"
    with pytest.raises(ValueError), open_run(None, "hfl", {}) as failing:
        raise ValueError("boom")
    assert failing.status == "failed"


def test_open_run_records_when_given_a_store_and_refuses_resume_without(store: RunStore) -> None:
    with pytest.raises(KeyboardInterrupt), open_run(store, "hfl", {}, name="named") as run:
        raise KeyboardInterrupt
    assert store.get_run(run.run_id).name == "named"
    with open_run(store, "hfl", {}, resume=run.run_id) as resumed:
        assert resumed.run_id == run.run_id
    with (
        pytest.raises(ConfigError, match="resume needs the run store"),
        open_run(None, "hfl", {}, resume="20250101"),
    ):
        pass


def test_a_store_failure_at_the_end_does_not_hide_the_runs_own_error(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RuntimeError, match="the real error"), store.run("hfl", {}):
        store.close()  # finishing the run will fail too
        raise RuntimeError("the real error")

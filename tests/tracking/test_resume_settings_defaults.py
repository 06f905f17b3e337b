"""A config entry a run may not have recorded (``on_short_round``, recorded only under
"skip", and by no run before the option) is compared with the value such a run ran with
filled in: a change from or to the default is named, by the store's resume too, and a run
that never recorded it resumes at the default without a difference."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import RunStore
from rengo.tracking.resume_settings import settings_differences

SKIP = {"rounds": 4, "on_short_round": "skip", "max_skipped_rounds": 3}


def test_a_change_to_or_from_the_unrecorded_default_is_named_either_way() -> None:
    assert settings_differences(SKIP, {"rounds": 4}) == ["on_short_round 'skip', now 'fail'"]
    assert settings_differences({"rounds": 4}, SKIP) == ["on_short_round 'fail', now 'skip'"]


def test_a_run_that_never_recorded_the_default_resumes_at_it_without_a_difference() -> None:
    assert settings_differences({"rounds": 4}, {"rounds": 4}) == []
    assert settings_differences({"rounds": 4}, {"rounds": 4, "on_short_round": "fail"}) == []
    assert settings_differences({"rounds": 4, "on_short_round": "fail"}, {"rounds": 4}) == []


def test_the_store_refuses_a_resume_that_drops_a_recorded_skip(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", SKIP)
    store.finish_run(run_id, "interrupted")
    with pytest.raises(ConfigError, match="on_short_round 'skip', now 'fail'"):
        store.resume_run(run_id, "hfl", settings={"rounds": 4})
    assert store.get_run(run_id).status == "interrupted"
    assert store.resume_run(run_id, "hfl", settings=SKIP).status == "running"

"""A resume through any path (``simulate(..., resume=RUN)``, a deployed coordinator's
``--resume``) names a data file changed since the run started with both short digests."""

from __future__ import annotations

from rengo.tracking.resume_settings import settings_differences

OLD = "f50c3fea2373" + "0" * 52
NEW = "d2146dc031a4" + "1" * 52


def test_a_changed_data_file_is_named_with_both_short_digests() -> None:
    saved = {"data_files": {"/srv/table.csv": OLD}, "seed": 1}
    now = {"data_files": {"/srv/table.csv": NEW}, "seed": 1}
    assert settings_differences(saved, now) == [
        "data file /srv/table.csv sha256 f50c3fea2373…, now d2146dc031a4…"
    ]


def test_the_same_data_files_agree() -> None:
    saved = {"data_files": {"/srv/table.csv": OLD}}
    assert settings_differences(saved, {"data_files": {"/srv/table.csv": OLD}}) == []


def test_a_run_recorded_without_data_files_is_not_compared_on_them() -> None:
    assert settings_differences({"seed": 1}, {"seed": 1, "data_files": {"/a.csv": NEW}}) == []

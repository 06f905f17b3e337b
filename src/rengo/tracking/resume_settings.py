"""Whether a run may be resumed with the settings it is given: a resumed run must go on as it
started (the same job, strategy, seed and options), or its later rounds answer another
question than its first ones under the same run id."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import PurePath
from typing import Any

from rengo.core.differences import value_differences
from rengo.tracking.json_text import dumps_json, loads_json

PATH_ENTRIES = frozenset({"job_file"})
"""Config entries holding a file's path. Releases up to 2026-12-04 recorded the job file as
given on the command line (``job.toml``, relative to the folder the run started in); later
ones record its absolute path, which a recorded relative path matches when it ends with it."""

DATA_FILES = "data_files"
"""The config entry holding the SHA-256 of each data file a run read, by path
(``{path: hex digest}``): compared file by file (:func:`changed_data_files`)."""
PARTY_DATA_FILES = "party_data_files"
"""The config entry of a deployed run holding the data files each party reported when it
first joined, by party (``{party: {path: hex digest}}``): the party's word, recorded by the
coordinator (see :mod:`rengo.transport.data_report`); never compared when a run resumes
(the resuming process has no report yet), but with each party's reports as it joins."""
PARTY_RELEASES = "party_releases"
"""The config entry of a deployed run holding each party's build as its hello named it
(``{party: ["rengo 0.1.0 (wire format 2)", ...]}``, each build once, in the order the party
joined with them): recorded by the coordinator at each admitted hello; runs of releases
before it have none."""
UNRECORDED_DEFAULTS: Mapping[str, Any] = {"on_short_round": "fail"}
"""Config entries a run may lack, with the value it ran with: runs recorded before the entry
existed, and runs left at its default, record none (a simulation records
``on_short_round`` only under ``"skip"``). Compared with the default filled in on the side
that lacks it, so a change from or to the default is named and a run that never recorded
it resumes at the default without a difference."""
SHOWN_DIGEST = 12
"""Hex digits of a digest shown in a message (the full ones are in `rengo runs show`)."""


def settings_differences(
    saved: Mapping[str, Any], now: Mapping[str, Any], may_change: Collection[str] = ()
) -> list[str]:
    """The entries in which ``now`` (what a resuming process would record) differs from the
    run's recorded config ``saved``, each as ``"key SAVED, now NOW"`` (just the key when the
    values are long), in key order.

    ``now`` is compared as the store would record it (JSON). An entry the run did not record
    (an older release's run) is not compared unless :data:`UNRECORDED_DEFAULTS` gives the
    value it ran with (filled in on either side that lacks it), nor those in
    ``may_change``; a path an older
    release recorded relative (:data:`PATH_ENTRIES`) agrees with the absolute path that ends
    with it; data files (:data:`DATA_FILES`) as :func:`changed_data_files` names them; each
    other entry as :func:`rengo.core.differences.value_differences` names it.
    """
    recorded = {**UNRECORDED_DEFAULTS, **loads_json(dumps_json(dict(now), "run config"))}
    saved = {**UNRECORDED_DEFAULTS, **saved}
    differs: list[str] = []
    for key in sorted(set(saved) & set(recorded) - set(may_change)):
        if key in PATH_ENTRIES and _same_file(saved[key], recorded[key]):
            continue
        if key == DATA_FILES and isinstance(saved[key], Mapping):
            changed = changed_data_files(saved[key], recorded[key])
            differs.extend(f"data file {line}" for line in changed)
            continue
        differs.extend(value_differences(key, saved[key], recorded[key]))
    return differs


def _same_file(saved: Any, now: Any) -> bool:
    """Whether a path recorded relative (``saved``) names the file at absolute path ``now``:
    ``now`` ends with it (``job.toml`` or ``jobs/job.toml`` for ``/srv/jobs/job.toml``)."""
    if not (isinstance(saved, str) and isinstance(now, str)):
        return False
    before, after = PurePath(saved), PurePath(now)
    if before.is_absolute() or not after.is_absolute() or ".." in before.parts:
        return False
    return bool(before.parts) and after.parts[-len(before.parts) :] == before.parts


def changed_data_files(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Each file both record whose digest differs, as ``"PATH sha256 SAVED…, now NOW…"``
    (short digests), in path order. A file only one of them reads is not compared here: the
    job's settings (``data.path``) already name that difference."""
    return [
        f"{path} sha256 {str(saved[path])[:SHOWN_DIGEST]}…, now {str(now[path])[:SHOWN_DIGEST]}…"
        for path in sorted(set(saved) & set(now))
        if saved[path] != now[path]
    ]

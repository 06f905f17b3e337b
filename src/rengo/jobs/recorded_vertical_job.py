"""A vertical job file written back from a run ``rengo run`` simulated (``rengo runs job``).

Such a run records its whole ``[vfl]`` section (:meth:`~rengo.jobs.VflSection.as_dict`: the
parties' tables, resolved to absolute paths when the job was loaded, or the bundled dataset,
and every option of the algorithm) and its seed, so its job file can be written back; it is
parsed before it is handed back, and its ``[vfl]`` must be the recorded one. Its
``[contribution]`` is not recorded. A deployed vertical run records only the plan (see
:mod:`rengo.jobs.recorded_job`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rengo.core.errors import ConfigError
from rengo.jobs.data_files import BUNDLED_DATA
from rengo.jobs.spec import parse_job
from rengo.jobs.vertical_spec import VflSection, ignored_vfl_keys
from rengo.tracking.records import RunInfo
from rengo.tracking.resume_settings import DATA_FILES, settings_differences
from rengo.tracking.run_comparison import SETTINGS
from rengo.tracking.study_tag import STUDY

__all__ = ["is_simulated_vertical", "vertical_job_document"]

_NOT_VFL = frozenset({"kind", DATA_FILES, BUNDLED_DATA, SETTINGS, STUDY, "job_file", "overrides"})
"""Entries of a simulated vertical run's config that are not ``[vfl]`` keys: its kind, data
files' digests or bundled dataset, job settings (its ``[vfl]`` again, with the seed), and
where it came from (the job file, its ``--set`` overrides, the study it is a cell of)."""


def is_simulated_vertical(run: RunInfo) -> bool:
    """Whether ``run`` is a vertical run ``rengo run`` simulated from a job file (its config
    holds its ``[vfl]`` section)."""
    config = run.config if isinstance(run.config, Mapping) else {}
    return run.kind == "vfl" and config.get("kind") == "vfl" and "label_party" in config


def vertical_job_document(run: RunInfo) -> dict[str, dict[str, Any]]:
    """The ``[job]`` and ``[vfl]`` of a job file that repeats simulated vertical run
    ``run``, checked: parsed as a job, its ``[vfl]`` is the recorded one.

    Raises
    ------
    ConfigError
        Naming what this release cannot write back as the same job.
    """
    recorded = {k: v for k, v in run.config.items() if k not in _NOT_VFL}
    vfl = {k: v for k, v in recorded.items() if v is not None and v != {}}
    section = VflSection(parties=dict(recorded.get("parties") or {}))
    section.dataset = recorded.get("dataset")
    for key in ignored_vfl_keys(section):  # written back, each would warn
        vfl.pop(key, None)
    job: dict[str, Any] = {"name": run.name or run.run_id, "kind": "vfl"}
    if run.seed is not None:
        job["seed"] = run.seed
    document = {"job": job, "vfl": vfl}
    settings = run.config.get(SETTINGS)
    valued = settings.get("contribution") if isinstance(settings, dict) else None
    if isinstance(valued, dict):  # recorded with the run since runs kept vertical settings
        document["contribution"] = {k: v for k, v in valued.items() if v is not None}
    try:
        spec = parse_job(document, source=f"the job file of run {run.run_id}")
    except ConfigError as exc:
        raise ConfigError(f"cannot write run {run.run_id}'s job file back: {exc}") from None
    assert spec.vfl is not None
    # a key the run's release did not have yet is at its default: what that release did
    written = {k: v for k, v in spec.vfl.as_dict().items() if k in recorded}
    differs = settings_differences({"vfl": recorded}, {"vfl": written})
    if differs:
        raise ConfigError(
            f"cannot write a job file that repeats run {run.run_id} with rengo of this "
            f"release: {'; '.join(differs)} (recorded, then as written back)"
        )
    return document

"""A job file written back from a recorded run: ``rengo runs job RUN``.

A horizontal run records the settings that decide what it trains
(:func:`~rengo.jobs.build.job_settings`, :data:`~rengo.jobs.build.JOB_SETTINGS`), with its data
paths resolved to absolute ones when the job was loaded; that is enough to write a job file
that ``rengo run FILE --same-as RUN`` accepts, from any folder where its ``[strategy] app``
(if it names one) imports: the file names the folder that module was found in. The file is
checked before it is handed back: parsed as a job file (its app not imported), its settings
must be the recorded ones.

What a run does not record is not in the file: where it ran (``job.workers``,
``[executor.NAME]``), ``job.round_timeout``, ``[deploy]`` and ``[checkpoints]`` (a repeat may
change them). A deployed vertical run (``rengo vfl coordinator``) records its plan (parties,
label party, algorithm, options, seed) but not the parties' tables, which never leave them:
no job file is written for it, and the error says so. A vertical run ``rengo run``
simulated records its whole ``[vfl]`` section: its job file is written back by
:mod:`rengo.jobs.recorded_vertical_job`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError
from rengo.jobs.build import JOB_SETTINGS, job_settings
from rengo.jobs.data_files import recorded_data_files
from rengo.jobs.job_file_text import job_file_text
from rengo.jobs.privacy_spec import SECAGG_PREFIX
from rengo.jobs.recorded_vertical_job import is_simulated_vertical, vertical_job_document
from rengo.jobs.spec import SECTIONS, DataSection, ModelSection, ignored_keys, parse_job
from rengo.tracking.records import RunInfo
from rengo.tracking.resume_settings import settings_differences
from rengo.transport.executors import executor_names

__all__ = ["NOT_RECORDED", "recorded_job_document", "recorded_job_text"]

NOT_RECORDED = (
    "job.workers",
    "job.round_timeout",
    "[deploy]",
    "[checkpoints]",
    "[executor.NAME]",
)
"""Job settings a run does not record (where and how it ran, not what it trained): a
written job file leaves them at their defaults."""


def recorded_job_text(run: RunInfo) -> str:
    """The text of a job file that repeats recorded run ``run`` (``rengo run FILE --same-as
    RUN`` accepts it, from any folder where its ``[strategy] app``, if any, imports), with
    comments naming the run, what was not recorded, the data files' recorded digests and
    the folder the run's ``[strategy] app`` module was found in.

    Parameters
    ----------
    run
        A recorded horizontal run (``rengo run`` or ``rengo coordinator``), or a vertical
        one ``rengo run`` simulated (``--same-as`` checks it where the run recorded its job
        settings, as runs do from the release that sweeps vertical jobs).

    Returns
    -------
    str
        The TOML text.

    Raises
    ------
    ConfigError
        For a run that recorded no job settings (a deployed vertical run, naming what its
        record lacks; a run of another kind; one recorded before runs kept them), or whose
        settings this rengo cannot write back as the same job (naming each difference).
    """
    document = recorded_job_document(run)
    comments = [
        f"Job file of run {run.run_id} ({run.label}), written by `rengo runs job` from the "
        f"settings it recorded (rengo {run.rengo_version or 'of an unknown release'})."
    ]
    if is_simulated_vertical(run):
        valued = "contribution" in document
        comments += [
            f"Repeat it: rengo run THIS_FILE --same-as {run.run_id} (its [vfl], "
            f"{'[contribution] ' if valued else ''}and seed are the run's).",
        ]
        if not valued and JOB_SETTINGS not in run.config:  # recorded before runs kept it
            comments.append("Not recorded, so not here: [contribution].")
    else:
        comments += [
            f"Repeat it: rengo run THIS_FILE --same-as {run.run_id}",
            f"Not recorded, so at their defaults here: {', '.join(NOT_RECORDED)}.",
        ]
    app = document.get("strategy", {}).get("app")
    if isinstance(app, str):
        comments.append(_app_folder(app, run.config.get("job_file")))
    files = recorded_data_files(run.config) or {}
    comments += [f"Trained on {path} (sha256 {digest})." for path, digest in files.items()]
    if "data" not in document and "vfl" not in document:
        job_file = run.config.get("job_file")
        where = f" (the run's job file was {job_file})" if isinstance(job_file, str) else ""
        comments.append(
            "[model] app is found beside this file or in the working folder, not where the "
            f"run found it{where}; the parties brought their data ([deploy] parties was not "
            "recorded)."
        )
    return job_file_text(document, comments)


def _app_folder(app: str, job_file: object) -> str:
    """Where run's ``[strategy] app`` module was found, for the written file's comment: the
    recorded job file's folder if the module is there now, else the run's working folder
    (which runs do not record)."""
    top = app.partition(":")[0].partition(".")[0]
    folder = Path(job_file).parent if isinstance(job_file, str) else None
    if folder is not None and (
        (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()
    ):
        return (
            f"[strategy] app {app} was found in {folder}: run this file from that folder, "
            "or where that module imports (put it beside this file or on PYTHONPATH)."
        )
    where = f"is not beside the run's job file {job_file} now" if folder else "was not recorded"
    return (
        f"[strategy] app {app} {where}: the run found it there or in its working folder, "
        "which runs do not record; run this file where that module imports."
    )


def recorded_job_document(run: RunInfo) -> dict[str, dict[str, Any]]:
    """The sections of a job file that repeats recorded run ``run``, checked: parsed as a
    job, its settings are those the run recorded.

    Raises
    ------
    ConfigError
        As :func:`recorded_job_text`.
    """
    if is_simulated_vertical(run):
        return vertical_job_document(run)
    saved = run.config.get(JOB_SETTINGS) if isinstance(run.config, Mapping) else None
    if not isinstance(saved, Mapping):
        raise ConfigError(_no_settings(run))
    executor = run.config.get("executor")
    job: dict[str, Any] = {"name": run.name or run.run_id, "kind": "hfl"}
    job.update(_plain_table(saved.get("job", {})))
    if executor in executor_names():  # a simulation's; a deployed run's is "grpc"
        job["executor"] = executor
    document: dict[str, dict[str, Any]] = {"job": job}
    for section in SECTIONS:  # in the order a job file is read
        table = saved.get(section)
        if section != "job" and isinstance(table, Mapping):
            document[section] = _section(section, table)
    _leave_out_ignored(document)
    _check_repeats(run, document, saved)
    return document


def _no_settings(run: RunInfo) -> str:
    """Why run ``run`` has no job file to write back."""
    config = run.config if isinstance(run.config, Mapping) else {}
    if run.kind.startswith("vfl") and "hosts" in config:
        parties = [config.get("label_party"), *config.get("hosts", [])]
        return (
            f"run {run.run_id} is a deployed vertical run: its record holds the plan (parties "
            f"{', '.join(map(str, parties))}, label party {config.get('label_party')}, "
            f"algorithm {config.get('algorithm')}, its options, seed {config.get('seed')}) but "
            "not each party's table (path, ID column, label column), which stays with the "
            "party, so no job file can be written for it; `rengo runs show` lists the plan"
        )
    if run.kind.startswith("vfl"):
        return (
            f"run {run.run_id} is a vertical run that recorded no [vfl] section (a fit in "
            "Python, not a job file), so no job file can be written for it"
        )
    return (
        f"run {run.run_id} recorded no job settings to write back (a {run.kind} run, or one "
        "recorded before runs kept them)"
    )


def _section(name: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """One recorded section of :func:`~rengo.jobs.build.job_settings` as its job-file keys:
    the nested ``options`` of ``[partition]``, ``[strategy]`` and ``[robust]`` and the
    chosen DP's settings in ``[privacy]`` back among the section's keys."""
    if name == "privacy":
        return _privacy(table)
    flat = {key: value for key, value in table.items() if key != "options"}
    options = table.get("options")
    if isinstance(options, Mapping):
        flat.update(options)
    return _plain_table(flat)


def _privacy(table: Mapping[str, Any]) -> dict[str, Any]:
    """``[privacy]``: ``dp``, the chosen DP's fields, ``secagg = true`` and ``secagg_*``."""
    dp = table.get("dp", "none")
    section: dict[str, Any] = {"dp": dp}
    chosen = table.get(dp) if dp in ("central", "local") else None
    if isinstance(chosen, Mapping):
        section.update(_plain_table(chosen))
    secagg = table.get("secagg")
    if isinstance(secagg, Mapping):
        section["secagg"] = True
        section.update({SECAGG_PREFIX + k: v for k, v in _plain_table(secagg).items()})
    return section


def _plain_table(table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` without its None values: a job file leaves such a key out (its default,
    or what the job's other settings make of it, such as the median rules of
    ``[result_checks]`` under secure aggregation)."""
    return {str(key): value for key, value in table.items() if value is not None}


def _leave_out_ignored(document: dict[str, dict[str, Any]]) -> None:
    """Drop the ``[data]`` and ``[model]`` keys the job's other settings make unused
    (``model.hidden`` of a logistic model...): written back, each would warn."""
    data, model = DataSection(), ModelSection()
    data.dataset = document.get("data", {}).get("dataset", data.dataset)
    model.type = document.get("model", {}).get("type", model.type)
    for key in ignored_keys(data, model):
        section, _, name = key.partition(".")
        document.get(section, {}).pop(name, None)


def _check_repeats(
    run: RunInfo, document: Mapping[str, Mapping[str, Any]], saved: Mapping[str, Any]
) -> None:
    """ConfigError unless ``document``, parsed as a job file, has the settings ``saved``
    (what a release whose job files differ from this one's may have recorded)."""
    try:
        # the recorded settings are compared, not the class: its [strategy] app is not
        # imported (the module may have moved since, or be another file of its name here)
        spec = parse_job(document, source=f"the job file of run {run.run_id}", load_apps=False)
    except ConfigError as exc:
        raise ConfigError(f"cannot write run {run.run_id}'s job file back: {exc}") from None
    now = {name: value for name, value in job_settings(spec).items() if name in saved}
    differs = settings_differences({JOB_SETTINGS: dict(saved)}, {JOB_SETTINGS: now})
    if differs:
        raise ConfigError(
            f"cannot write a job file that repeats run {run.run_id} with rengo of this "
            f"release: {'; '.join(differs)} (recorded, then as written back)"
        )

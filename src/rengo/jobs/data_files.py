"""What a horizontal run records of the data it trained on, and how a repeat or a resume is
checked against it.

A job's settings name its files (``data.path``), not their contents: a file changed in place
would have a repeat (``--same-as``) train on other data and a resume continue its run on other
rows, recorded as the same run. So a run records the SHA-256 of each file it read
(:data:`DATA_FILES`, ``{path: sha256}``, the path as the job resolves it), computed once when
the job is built; a bundled dataset is part of the package, and its run records the dataset's
name and rengo's version instead (:data:`BUNDLED_DATA`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rengo.data import file_sha256
from rengo.jobs.spec import JobSpec
from rengo.tracking.resume_settings import DATA_FILES

__all__ = [
    "BUNDLED_DATA",
    "DATA_FILES",
    "bundled_data",
    "data_file_paths",
    "job_data_files",
    "recorded_data_files",
]

BUNDLED_DATA = "bundled_data"
"""The run config entry naming a bundled dataset and the rengo release that shipped it."""


def data_file_paths(spec: JobSpec) -> tuple[str, ...]:
    """The files a job reads, as it resolved them: its ``[data]``'s ``data.path``, or
    ``data.images`` and ``data.labels``; a vertical job's ``[vfl.parties]`` tables; none for
    a bundled dataset."""
    if spec.vfl is not None:
        return tuple(spec.vfl.parties.values())
    paths = (getattr(spec.data, key) for key in ("path", "images", "labels"))
    return tuple(path for path in paths if path is not None)


def job_data_files(spec: JobSpec) -> dict[str, str]:
    """The SHA-256 of each file the job reads (:func:`data_file_paths`), by its path; empty
    for a bundled dataset.

    Parameters
    ----------
    spec
        The job (its paths resolved, as :func:`~rengo.jobs.load_job` leaves them).

    Returns
    -------
    dict[str, str]
        ``{path: hex digest}``, in the job's order.

    Raises
    ------
    DataError
        If a file cannot be read.
    """
    return {path: file_sha256(path) for path in data_file_paths(spec)}


def bundled_data(spec: JobSpec) -> dict[str, str] | None:
    """The bundled dataset a job trains on and the rengo release that ships it (None for a
    job that reads its own files): a horizontal job's ``data.dataset``, a vertical job's
    ``vfl.dataset``."""
    if spec.vfl is not None:
        dataset = spec.vfl.dataset
    else:
        dataset = None if spec.data.dataset in ("csv", "parquet", "idx") else spec.data.dataset
    if dataset is None:
        return None
    from rengo import __version__

    return {"dataset": dataset, "rengo": __version__}


def recorded_data_files(config: Any) -> dict[str, str] | None:
    """The data file digests a run's recorded ``config`` holds; None for a run recorded before
    runs kept them (or of a job with no file)."""
    files = config.get(DATA_FILES) if isinstance(config, Mapping) else None
    if not isinstance(files, Mapping):
        return None
    return {str(path): str(digest) for path, digest in files.items()}

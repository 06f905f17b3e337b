"""Where a command writes its results: refuse to replace a user's files unless asked, find a
free name beside one, and make sure the folder can be written before the work starts."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from rengo.core.errors import ConfigError


def refuse_to_replace(paths: list[Path], overwrite: bool, *, option: str = "--out") -> None:
    """A ``ConfigError`` naming the files an export would replace, unless ``overwrite``;
    ``option`` is the command's option that names the file, for the message."""
    there = [str(p) for p in paths if p.exists()]
    if there and not overwrite:
        raise ConfigError(
            f"{', '.join(there)} already exist{'s' if len(there) == 1 else ''}; give "
            f"--overwrite to replace, or another {option} (nothing was written)"
        )
    folders = [str(p) for p in paths if p.is_dir()]
    if folders:
        raise ConfigError(f"{', '.join(folders)} is a folder, not a file (nothing was written)")


def writable_folder(folder: Path) -> None:
    """Make ``folder`` (and its parents), or a ``ConfigError`` saying why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"cannot write to {folder}: not a writable folder")


def file_in_folder(path: Path, name: str) -> Path:
    """``path``, or ``path / name`` when ``path`` is an existing folder: a folder given where a
    command writes one file gets the file inside, under the name the command would choose."""
    return path / name if path.is_dir() else path


def plot_target(out: Path | None, name: str) -> Path:
    """Where a command writes a PNG: ``out`` (a folder gets ``name`` inside), else ``name``
    here; a ``ConfigError`` naming the folder when it cannot be written."""
    target = Path(name) if out is None else file_in_folder(out, name)
    writable_folder(target.parent)
    return target


def free_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first of ``stem.1.suffix``, ``stem.2.suffix``
    ... that is free (a result computed over minutes is never lost to a name clash)."""
    if not path.exists():
        return path
    k = 1
    while (candidate := path.with_name(f"{path.stem}.{k}{path.suffix}")).exists():
        k += 1
    return candidate


def output_target(path: Path, overwrite: bool) -> tuple[Path, str]:
    """Where to write ``path``'s result and what to tell: ``path`` itself with
    ``overwrite``, else :func:`free_path`, noting ``" (PATH exists: kept)"`` when the name
    moved."""
    target = path if overwrite else free_path(path)
    return target, "" if target == path else f" ({path} exists: kept)"


def write_text_output(text: str, out: Path | None, name: str, overwrite: bool) -> Path | None:
    """Print ``text`` (``out`` None) or write it to ``out`` (a folder gets ``name`` inside),
    refusing to replace a file unless ``overwrite``: what ``rengo runs job`` and ``rengo
    runs card`` do with the document they make.

    Returns
    -------
    Path or None
        The file written; None when printed.

    Raises
    ------
    ConfigError
        The file exists and ``overwrite`` is False, or its folder cannot be written.
    """
    if out is None:
        typer.echo(text, nl=False)
        return None
    target = file_in_folder(out, name)
    refuse_to_replace([target], overwrite)
    writable_folder(target.parent)
    target.write_text(text, encoding="utf-8")
    return target

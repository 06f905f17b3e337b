"""The ``rengo tournament`` state on disk: an inspectable JSON file, and beside it a folder of
``.npy`` files that hold its bulk.

Format ``rengo-tournament/2``: the JSON file (``tournament.json``) holds the settings, the
rounds, stakes, results and payouts; every numpy array of the state (each round's row ids,
eras and features, each submission's predictions) is an ``.npy`` file in the folder
``tournament.json.arrays/``, named by the SHA-256 of its contents and referred to in the JSON
as ``{"npy": "<sha256>.npy"}``. A save writes only the arrays not already there, then the
JSON file atomically, then removes the arrays the JSON no longer names (a replaced
submission): a ``submit`` writes one participant's predictions and a small JSON file,
whatever the size of the tournament. Format 1 kept everything in the JSON file, a dict of
row id -> value per submission, and every ``submit`` read and rewrote all of it: with 100
participants in one 100,000-row round, 27 CPU seconds a submit against 2.1 now
(``benchmarks/tournament_state.py``, in ``benchmarks/RESULTS.md``). It is still read, and
written as format 2 by the next command that changes the state.

Arrays are read memory-mapped and without pickle (``allow_pickle=False``): a state file
names its arrays only by a content hash, never by a path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rengo.core.errors import ConfigError, DataError
from rengo.core.file_lock import exclusive_lock
from rengo.core.files import replacing_file

if TYPE_CHECKING:
    import numpy as np

STATE_FORMAT = "rengo-tournament/2"
"""The format :func:`save_state` writes."""
LEGACY_STATE_FORMAT = "rengo-tournament/1"
"""The format of releases before 2026-12-06 (everything in the JSON file): still read."""
ARRAY_KEY = "npy"
"""The one key of a reference to an array file in the JSON state."""
_ARRAY_NAME = re.compile(r"[0-9a-f]{64}\.npy")


def arrays_folder(path: Path) -> Path:
    """The folder of the state ``path``'s array files: ``NAME.arrays`` beside it."""
    return path.with_name(path.name + ".arrays")


def load_state(path: Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state` (or a format-1 state), its arrays
    memory-mapped read-only.

    Parameters
    ----------
    path:
        The state's JSON file.

    Returns
    -------
    dict
        The state, each array reference replaced by its array.

    Raises
    ------
    ConfigError
        No state at ``path``.
    DataError
        A file that is not a rengo tournament state, or an array it names that is missing
        or unreadable.
    """
    if not path.exists():
        raise ConfigError(f"no tournament state at {path}; start one with `rengo tournament open`")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read tournament state {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") not in (
        STATE_FORMAT,
        LEGACY_STATE_FORMAT,
    ):
        found = state.get("format") if isinstance(state, dict) else None
        newer = isinstance(found, str) and found.startswith("rengo-tournament/")
        raise DataError(
            f"{path} is not a rengo tournament state ({STATE_FORMAT})"
            + (
                f": it is {found}, written by a newer rengo; upgrade rengo to read it"
                if newer
                else ""
            )
        )
    loaded: dict[str, Any] = _with_arrays(state, arrays_folder(path), path)
    return loaded


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` as format 2: its arrays not yet in :func:`arrays_folder`, then the JSON
    file atomically (a temporary file of this writer's own, renamed over the old one: a
    shared name let one writer rename or miss another's half-written file), then remove the
    array files the new JSON no longer names (on Windows, one this process still has mapped
    cannot be removed: it is left to a later save).

    Parameters
    ----------
    path:
        The state's JSON file.
    state:
        Plain JSON values and numpy arrays (of numbers or of str), e.g. a dict holding
        ``Tournament.to_dict(arrays=True)``.
    """
    folder = arrays_folder(path)
    folder.mkdir(parents=True, exist_ok=True)
    named: set[str] = set()
    index = _with_references({**state, "format": STATE_FORMAT}, folder, named)
    with replacing_file(path) as out:  # 0600, on disk before it is renamed over the old one
        out.write(json.dumps(index, indent=1, sort_keys=True).encode("utf-8"))
    for unnamed in folder.iterdir():
        if _ARRAY_NAME.fullmatch(unnamed.name) and unnamed.name not in named:
            try:
                unnamed.unlink(missing_ok=True)
            except PermissionError:  # Windows: still memory-mapped here; a later save removes it
                continue


@contextmanager
def state_lock(path: Path, create: bool = False) -> Iterator[None]:
    """Hold the exclusive lock of the state ``path`` (an OS lock on the sibling file
    ``NAME.lock``) until the block ends, so that commands run at once (participants who
    submit together) take turns at read -> change -> write instead of each saving a state
    without the others' changes, and a reader never meets an array file a writer removed.

    Parameters
    ----------
    path:
        The tournament state file.
    create:
        Make the state's folder if it is missing (``open`` starts a tournament there).

    Raises
    ------
    ConfigError
        No state folder (and not ``create``), or a lock file that cannot be opened.
    """
    if not create and not path.parent.is_dir():
        raise ConfigError(f"no tournament state at {path}; start one with `rengo tournament open`")
    lock = path.with_name(path.name + ".lock")
    with ExitStack() as held:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(exclusive_lock(lock))
        except OSError as exc:
            raise ConfigError(
                f"cannot lock the tournament state {path}: {exc.strerror or exc}"
            ) from exc
        yield


def _with_references(value: Any, folder: Path, named: set[str]) -> Any:
    """``value`` with each numpy array written to ``folder`` (unless there already) and
    replaced by its reference; the names used are added to ``named``."""
    import numpy as np

    if isinstance(value, np.ndarray):
        name = _stored_array(value, folder)
        named.add(name)
        return {ARRAY_KEY: name}
    if isinstance(value, dict):
        return {key: _with_references(item, folder, named) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_with_references(item, folder, named) for item in value]
    return value


def _with_arrays(value: Any, folder: Path, path: Path) -> Any:
    """``value`` with each array reference replaced by its array, memory-mapped."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(ARRAY_KEY), str):
            return _read_array(value[ARRAY_KEY], folder, path)
        return {key: _with_arrays(item, folder, path) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_arrays(item, folder, path) for item in value]
    return value


def _read_array(name: str, folder: Path, path: Path) -> np.ndarray:
    import numpy as np

    if not _ARRAY_NAME.fullmatch(name):
        raise DataError(f"{path} names an array {name!r}, which is not a SHA-256 .npy name")
    try:
        array: np.ndarray = np.load(folder / name, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(
            f"{path} names the array {name}, which is missing from {folder}: the state's "
            "JSON file and its arrays folder must be kept (and backed up) together"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the array {folder / name} of {path}: {exc}") from exc
    return array


def _stored_array(array: np.ndarray, folder: Path) -> str:
    """The name of ``array``'s file in ``folder``, written there unless it is already: an
    array read from there (memory-mapped read-only, so unchanged) is not hashed again."""
    import numpy as np

    mapped = array if isinstance(array, np.memmap) else array.base
    if (
        isinstance(mapped, np.memmap)
        and mapped.mode == "r"
        and mapped.filename is not None
        and Path(mapped.filename).parent.resolve() == folder.resolve()
        and (mapped.shape, mapped.dtype, mapped.strides)
        == (array.shape, array.dtype, array.strides)
        and mapped.ctypes.data == array.ctypes.data
        and _ARRAY_NAME.fullmatch(Path(mapped.filename).name)
    ):
        return Path(mapped.filename).name
    data = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{data.dtype.str} {data.shape}\n".encode())
    digest.update(data.data)
    name = f"{digest.hexdigest()}.npy"
    if not (folder / name).exists():
        with replacing_file(folder / name) as out:
            np.save(out, data, allow_pickle=False)
    return name

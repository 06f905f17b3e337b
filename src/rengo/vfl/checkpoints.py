"""Checkpoints of a resumable vertical run: each role keeps, in its own folder, what it needs to
continue after a restart.

A role's folder is ``<root>/<run>/<role>/`` on the role's own machine; nothing in it ever
crosses the network. It holds:

* ``plan.json``: the run's plan (the coordinator: to restart with the same settings);
* ``alignment.npz``: a party's rows of the training intersection, in PSI's agreed order, and
  a digest of the table they index and, at the label party, of its labels and its exposure
  (or that it had none): a changed table, labels or exposure is refused, never silently
  realigned or trained on;
* ``keys.sealed``: the key holder's key material, sealed under a passphrase with scrypt and
  AES-256-GCM (:mod:`rengo.crypto.sealing`), bound to the run and the role;
* ``epoch-000003.npz``: the role's state after 3 completed epochs (weights, optimizer
  state, losses, counters: whatever its training role saves), one file per epoch.

Files are numpy ``.npz`` archives (arrays, read with ``allow_pickle=False``) with a JSON
header (format, run, role, algorithm, epoch) checked on every load, or JSON; each is written
to a temporary file, flushed to disk and renamed over the old one, so a crash mid-write
leaves the previous checkpoint intact. Every file is readable by its owner only (0600), and
the folders this makes are its owner's only (0700).

Retention: a run recorded ``completed`` is never resumed, so its resume state goes as it
completes (:mod:`rengo.deploy.vertical`): the coordinator removes its sealed key and epochs
(its ``plan.json`` stays, so that a ``--resume`` of the run is refused with the reason),
every party its whole folder. An interrupted run's folders stay for its resume;
:func:`remove_run_checkpoints` (``rengo vfl delete-checkpoints RUN``) removes them once it
will not be.

On a resumed run each role reports the last epoch it completed, every role rolls back to the
smallest (see :mod:`rengo.vfl.runner`), and training continues from there: the batch order
is a function of the run's seed and the epoch, and the gradients are exact fixed-point
values, so the final model equals an uninterrupted run's bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.files import write_atomically
from rengo.crypto.key_storage import private_key_from_bytes, private_key_to_bytes
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.sealing import passphrase_bytes, seal, unseal
from rengo.vfl.common import PartyTable

FORMAT = "rengo-vfl-checkpoint/2"
"""The checkpoint format this rengo writes and resumes. Version 2 (2026-12-05): the linear
models' epochs changed (whole batches, steps in units of each column's root mean square, the
calibrated intercept, Newton-CG's direction kept), so an epoch a version-1 checkpoint holds
cannot be continued to the model any one release trains."""
EARLIER_FORMATS = frozenset({"rengo-vfl-checkpoint/1"})
"""Formats of earlier releases: refused with the advice to finish the run with its release."""
PASSPHRASE_ENV = "RENGO_CHECKPOINT_PASSPHRASE"
"""The environment variable ``rengo vfl coordinator`` reads the sealing passphrase from."""
_META = "__meta__"
_EPOCH = re.compile(r"^epoch-(\d{6})\.npz$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILES = frozenset({"plan.json", "alignment.npz", "keys.sealed"})
"""The files of a role's folder other than its epochs."""
_ARCHIVE_READS = threading.Lock()
"""One archive read at a time in this process: numpy parses each ``.npy`` header with
``ast.literal_eval``, and CPython 3.11's AST construction keeps its recursion depth in
interpreter-wide state that threads parsing at once can corrupt (python/cpython#106905:
``SystemError: AST constructor recursion depth mismatch``), as a simulated run's roles,
threads of one process, do when they resume from their checkpoints together."""


class MissingCheckpoint(ConfigError):
    """A role of a resumed run kept no checkpoint of it while other roles completed epochs.

    Refused before any role rolls back, so that no completed epoch is discarded: the role
    was given another folder (another party's, another run's) or lost its own.
    """


class ChangedTable(DataError):
    """A party's training table differs from the one its checkpoint indexes.

    Parameters
    ----------
    role, run, path
        The party, the checkpointed run and its alignment file.
    rows_chosen_by
        The settings besides the table that chose its rows (added to "resume with the same
        table"; empty: none to name).
    """

    def __init__(self, role: str, run: str, path: Path, rows_chosen_by: str = "") -> None:
        super().__init__(
            f"{role}'s training table changed since run {run} was checkpointed ({path}): "
            f"resume with the same table{rows_chosen_by}, or start a new run"
        )
        self.role, self.run, self.path = role, run, path
        self.rows_chosen_by = rows_chosen_by


@dataclass(frozen=True)
class EpochState:
    """A role's state after ``epoch`` completed epochs.

    ``arrays`` are saved exactly (their dtype and bytes); ``values`` are JSON (numbers,
    strings, booleans, lists): floats survive exactly through JSON's shortest round-trip
    repr.
    """

    epoch: int
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise ConfigError(
            f"{what} {value!r} cannot name a checkpoint folder: use letters, digits, '.', '_' "
            "or '-' (at most 128)"
        )
    return value


def table_digest(table: PartyTable) -> str:
    """SHA-256 of a table's IDs and feature values (what an alignment indexes)."""
    digest = hashlib.sha256()
    _add_values(digest, table.ids)
    features = np.ascontiguousarray(np.asarray(table.features, dtype=np.float64))
    digest.update(repr(features.shape).encode() + features.tobytes())
    return digest.hexdigest()


def labels_digest(labels: Any) -> str:
    """SHA-256 of a party's training labels (one per table row, as its role takes them)."""
    digest = hashlib.sha256()
    _add_values(digest, labels)
    return digest.hexdigest()


_NO_EXPOSURE = "none"
"""An alignment's exposure digest where the label party trained without one."""


def _check_exposure_unchanged(
    role: str, run: str, path: Path, saved: str, exposure: np.ndarray | None
) -> None:
    """Refuse a resume whose exposure is not the one the run was checkpointed with.

    Raises
    ------
    DataError
        For a changed exposure, one given where the run had none, or none where it had one.
    """
    if saved == (_NO_EXPOSURE if exposure is None else labels_digest(exposure)):
        return
    if exposure is None:
        change = "was checkpointed with an exposure, but none is given now"
    elif saved == _NO_EXPOSURE:
        change = "was checkpointed without an exposure, but one is given now"
    else:
        change = "has another exposure than it was checkpointed with"
    raise DataError(
        f"{role}'s training {change} (run {run}, {path}): resume with the same exposure, or "
        "start a new run"
    )


def _add_values(digest: Any, values: Any) -> None:
    """Feed each value's text to ``digest``, length-prefixed (``"1", "23"`` is not ``"12",
    "3"``)."""
    for value in np.asarray(values).tolist():
        text = str(value).encode()
        digest.update(len(text).to_bytes(4, "big") + text)


def sealing_passphrase(role: str, passphrase: str | bytes | None) -> str | bytes:
    """``passphrase``, checked before anything of a resumable run is written: a key holder
    seals its private key under it (see :meth:`CheckpointFolder.save_keys`).

    Raises
    ------
    ConfigError
        Naming ``role``, without a passphrase or with one too short to seal under.
    """
    if passphrase is None:
        raise ConfigError(
            f"a resumable run keeps {role}'s private key encrypted at rest: give a "
            f"passphrase (rengo vfl coordinator reads it from ${PASSPHRASE_ENV})"
        )
    passphrase_bytes(passphrase)  # too short
    return passphrase


class CheckpointFolder:
    """One role's checkpoints of one run: ``<root>/<run>/<role>/``.

    Parameters
    ----------
    root
        The checkpoint directory (``--checkpoints``), on the role's machine.
    run
        The run's id (the coordinator's run store id; the plan tells the parties).
    role
        The role's name.
    algorithm
        The algorithm; a checkpoint written by another is refused.

    Raises
    ------
    ConfigError
        If ``run`` or ``role`` cannot name a folder (path separators, ``..``).
    """

    def __init__(self, root: str | Path, run: str, role: str, algorithm: str) -> None:
        self.run = _check_name(run, "run id")
        self.role = _check_name(role, "role name")
        self.algorithm = algorithm
        self.path = Path(root) / self.run / self.role

    def __repr__(self) -> str:
        return f"CheckpointFolder({str(self.path)!r})"

    def _header(self, **extra: Any) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "run": self.run,
            "role": self.role,
            "algorithm": self.algorithm,
            **extra,
        }

    def _write(self, name: str, data: bytes) -> None:
        # the checkpoint directory and the run's folder too, where this makes them: their
        # entries name the run and its roles, which is no business of other users
        for folder in (self.path.parent.parent, self.path.parent, self.path):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(self.path / name, data)

    def _write_arrays(self, name: str, arrays: Mapping[str, np.ndarray], meta: Any) -> None:
        if _META in arrays:
            raise ValueError(f"{_META!r} is reserved in a checkpoint")
        buffer = io.BytesIO()
        header = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        contents: dict[str, Any] = {_META: header, **{k: np.asarray(v) for k, v in arrays.items()}}
        np.savez(buffer, **contents)
        self._write(name, buffer.getvalue())

    def _read_arrays(self, name: str, **expected: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        path = self.path / name
        try:
            with _ARCHIVE_READS, np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            meta = json.loads(arrays.pop(_META).tobytes())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(
                f"checkpoint {path} is damaged ({exc}); delete {self.path} to start this "
                "role over (every role then rolls back to the beginning)"
            ) from exc
        self._check_header(meta, path, expected)
        return meta, arrays

    def _check_header(self, meta: Any, path: Path, expected: Mapping[str, Any]) -> None:
        wanted = self._header(**expected)
        if not isinstance(meta, dict):
            raise DataError(f"checkpoint {path} has no header")
        if meta.get("format") in EARLIER_FORMATS:
            raise DataError(
                f"checkpoint {path} was written by an earlier rengo release (format "
                f"{meta['format']!r}; this rengo resumes {FORMAT!r}): training changed between "
                f"them, so this rengo cannot continue run {self.run} to the model either "
                "release trains; finish the run with the rengo release that started it, or "
                f"start a new run (and delete {self.path})"
            )
        for key, value in wanted.items():
            if meta.get(key) != value:
                raise DataError(
                    f"checkpoint {path} belongs to {key} {meta.get(key)!r}, not {value!r}: "
                    "it was copied from another run or role; remove it"
                )

    # -- the plan -------------------------------------------------------------------------

    def save_plan(self, plan: Mapping[str, Any]) -> None:
        """Keep the run's plan (its wire form)."""
        self._write("plan.json", json.dumps(self._header(plan=dict(plan))).encode())

    def load_plan(self) -> dict[str, Any] | None:
        """The plan saved by :meth:`save_plan`, or ``None``.

        Raises
        ------
        DataError
            If the file is damaged or belongs to another run.
        """
        path = self.path / "plan.json"
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_bytes())
        except ValueError as exc:
            raise DataError(f"checkpoint {path} is damaged ({exc})") from exc
        self._check_header({k: v for k, v in record.items() if k != "plan"}, path, {})
        plan = record.get("plan")
        if not isinstance(plan, dict):
            raise DataError(f"checkpoint {path} holds no plan")
        return plan

    # -- key material ---------------------------------------------------------------------

    def _context(self) -> bytes:
        return f"{FORMAT}|{self.run}|{self.role}|{self.algorithm}".encode()

    def save_keys(self, keys: Any, passphrase: str | bytes | None) -> None:
        """Keep the key holder's key material, sealed under ``passphrase``.

        Raises
        ------
        ConfigError
            Without a passphrase, or for key material this format cannot keep (only a
            Paillier key pair).
        """
        passphrase = sealing_passphrase(self.role, passphrase)
        if not (
            isinstance(keys, tuple)
            and len(keys) == 2
            and isinstance(keys[0], PaillierPublicKey)
            and isinstance(keys[1], PaillierPrivateKey)
        ):
            raise ConfigError(
                f"checkpoints keep a Paillier key pair, not {type(keys).__name__}: this "
                f"algorithm ({self.algorithm}) cannot be resumed"
            )
        self._write("keys.sealed", seal(private_key_to_bytes(keys[1]), passphrase, self._context()))

    def load_keys(self, passphrase: str | bytes | None) -> Any:
        """The key material saved by :meth:`save_keys`, or ``None`` if there is none.

        Raises
        ------
        ConfigError
            Without a passphrase, or with the wrong one.
        DataError
            If the file is damaged.
        """
        path = self.path / "keys.sealed"
        if not path.exists():
            return None
        if passphrase is None:
            raise ConfigError(
                f"{path} is sealed: give the passphrase it was sealed with (${PASSPHRASE_ENV})"
            )
        private = private_key_from_bytes(
            unseal(path.read_bytes(), passphrase, self._context(), what=str(path))
        )
        return private.public_key, private

    # -- alignment ------------------------------------------------------------------------

    def save_alignment(
        self,
        rows: np.ndarray,
        table: PartyTable,
        labels: np.ndarray | None = None,
        exposure: np.ndarray | None = None,
    ) -> None:
        """Keep a party's rows of the training intersection (and the digests of its table
        and, at a party holding them, its labels and its exposure or that it had none)."""
        digests = {"table": table_digest(table)}
        if labels is not None:
            digests["labels"] = labels_digest(labels)
            digests["exposure"] = _NO_EXPOSURE if exposure is None else labels_digest(exposure)
        self._write_arrays(
            "alignment.npz", {"rows": np.asarray(rows, dtype=np.int64)}, self._header(**digests)
        )

    def load_alignment(
        self,
        table: PartyTable,
        labels: np.ndarray | None = None,
        exposure: np.ndarray | None = None,
        *,
        rows_chosen_by: str = "",
    ) -> np.ndarray | None:
        """The rows saved by :meth:`save_alignment`, or ``None`` if there are none.
        ``rows_chosen_by`` names the settings besides the table that chose its rows (said
        when the table differs: :attr:`rengo.vfl.PartyData.rows_chosen_by`).

        Raises
        ------
        DataError
            If ``table`` is not the table they index, ``labels`` are not the labels saved
            with them (checked where both are; an alignment saved before labels were kept
            is not), ``exposure`` is not the exposure saved with them (or one is given
            where none was, or none where one was; an alignment saved before exposures were
            kept is not checked), or the file is damaged.
        """
        path = self.path / "alignment.npz"
        if not path.exists():
            return None
        meta, arrays = self._read_arrays("alignment.npz")
        if meta.get("table") != table_digest(table):
            raise ChangedTable(self.role, self.run, path, rows_chosen_by)
        saved_labels = meta.get("labels")  # None: saved before alignments kept labels
        if labels is not None and saved_labels not in (None, labels_digest(labels)):
            raise DataError(
                f"{self.role}'s training labels changed since run {self.run} was "
                f"checkpointed ({path}): resume with the same labels, or start a new run"
            )
        saved_exposure = meta.get("exposure")  # None: saved before alignments kept it
        if labels is not None and saved_exposure is not None:
            _check_exposure_unchanged(self.role, self.run, path, saved_exposure, exposure)
        rows: np.ndarray = arrays["rows"]
        if rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= len(table.ids))):
            raise DataError(f"checkpoint {path} holds rows outside the table")
        return rows

    def has_alignment(self) -> bool:
        """Whether a party's alignment is saved."""
        return (self.path / "alignment.npz").exists()

    # -- epochs ---------------------------------------------------------------------------

    def epochs(self) -> list[int]:
        """The completed epochs saved, in order."""
        if not self.path.is_dir():
            return []
        found = (_EPOCH.match(p.name) for p in self.path.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save_epoch(self, state: EpochState) -> None:
        """Keep the role's state after ``state.epoch`` completed epochs."""
        if state.epoch < 1:
            raise ValueError(f"an epoch checkpoint follows a completed epoch, got {state.epoch}")
        meta = self._header(epoch=state.epoch, values=dict(state.values))
        self._write_arrays(f"epoch-{state.epoch:06d}.npz", state.arrays, meta)

    def load_epoch(self, epoch: int) -> EpochState:
        """The state saved after ``epoch`` completed epochs.

        Raises
        ------
        DataError
            If it is missing, damaged, or from another run, role or algorithm.
        """
        name = f"epoch-{epoch:06d}.npz"
        try:
            meta, arrays = self._read_arrays(name, epoch=epoch)
        except FileNotFoundError:
            raise DataError(
                f"{self.role} has no checkpoint of epoch {epoch} of run {self.run} in "
                f"{self.path}; the roles cannot agree where to continue"
            ) from None
        values = meta.get("values")
        if not isinstance(values, dict):
            raise DataError(f"checkpoint {self.path / name} has no values")
        return EpochState(epoch, arrays, values)

    def discard_after(self, epoch: int | None) -> None:
        """Remove the epochs after ``epoch`` (``None``: every epoch and the alignment): the
        run continues from there, so later files would be stale."""
        for saved in self.epochs():
            if epoch is None or saved > epoch:
                (self.path / f"epoch-{saved:06d}.npz").unlink(missing_ok=True)
        if epoch is None:
            (self.path / "alignment.npz").unlink(missing_ok=True)

    def discard_resume_state(self) -> None:
        """Remove what only a resume reads (the epochs, the alignment, the sealed key
        material), keeping the plan: for a run that completed, which is never resumed."""
        self.discard_after(None)
        (self.path / "keys.sealed").unlink(missing_ok=True)

    def remove(self) -> list[Path]:
        """Remove this role's folder of the run, and the run's folder once no role's is left
        in it: every file a checkpoint is kept in (plan, alignment, sealed keys, epochs, and
        temporary files a stopped write left). A file of any other name is left where it is,
        with its folder (rengo never deletes what it did not write).

        Returns
        -------
        list of Path
            The files removed.
        """
        removed: list[Path] = []
        if self.path.is_dir():
            for entry in sorted(self.path.iterdir()):
                if entry.is_file() and _is_checkpoint_file(entry.name):
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
        for folder in (self.path, self.path.parent):
            try:
                folder.rmdir()
            except OSError:  # absent, or something else is still in it
                break
        return removed


def _is_checkpoint_file(name: str) -> bool:
    """Whether ``name`` is a file :class:`CheckpointFolder` writes, or the temporary file of
    one (:func:`rengo.core.files.write_atomically`: ``.NAME.<random>.tmp``)."""
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:-4].rsplit(".", 1)[0]
    return name in _FILES or _EPOCH.match(name) is not None


def remove_run_checkpoints(root: str | Path, run: str) -> list[Path]:
    """Remove every role's checkpoints of ``run`` kept under ``root`` on this machine (what
    ``rengo vfl delete-checkpoints`` does): for a run that will not be resumed, whose
    parties' alignments (which rows of their tables they share) and epochs would otherwise
    stay on disk.

    Parameters
    ----------
    root
        The checkpoint directory (``--checkpoints``).
    run
        The run's id.

    Returns
    -------
    list of Path
        The files removed (empty: nothing of ``run`` was kept there).

    Raises
    ------
    ConfigError
        If ``run`` cannot name a checkpoint folder (path separators, ``..``).
    """
    folder = Path(root) / _check_name(run, "run id")
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for role in sorted(entry.name for entry in folder.iterdir() if entry.is_dir()):
        if _NAME.match(role):
            removed += CheckpointFolder(root, run, role, "").remove()
    return removed


def require_same_seed(saved: int | None, seed: int, who: str, leader: str) -> None:
    """A resumed role's saved seed (``None``: nothing saved) must be the one ``leader``
    sends now: else the checkpoints of the roles are of two different runs.

    Raises
    ------
    ProtocolError
        If they differ.
    """
    if saved is not None and saved != seed:
        raise ProtocolError(
            f"{who}'s checkpoint has another seed than {leader}'s: the checkpoints are of "
            "different runs"
        )


def optimizer_arrays(optimizer: Any, prefix: str = "optimizer") -> dict[str, np.ndarray]:
    """A PyTorch optimizer's state (Adam's step and moments, SGD's momentum) as arrays named
    ``<prefix>.<parameter>.<key>``, for :class:`EpochState` (no pickle: the hyperparameters
    come from the run's settings again).

    Raises
    ------
    ValueError
        For state that is neither a tensor nor a number (an optimizer this cannot keep).
    """
    arrays: dict[str, np.ndarray] = {}
    for index, entries in optimizer.state_dict()["state"].items():
        for key, value in entries.items():
            if value is None:
                continue
            if hasattr(value, "detach"):
                arrays[f"{prefix}.{index}.{key}"] = value.detach().cpu().numpy().copy()
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                arrays[f"{prefix}.{index}.{key}"] = np.asarray(value)
            else:
                raise ValueError(f"optimizer state {key!r} of type {type(value).__name__}")
    return arrays


def restore_optimizer(
    optimizer: Any, arrays: Mapping[str, np.ndarray], prefix: str = "optimizer"
) -> None:
    """Load the state :func:`optimizer_arrays` saved into ``optimizer`` (built over the same
    parameters, with the run's settings).

    Raises
    ------
    DataError
        If the saved state names parameters the optimizer does not have.
    """
    import torch

    state: dict[int, dict[str, Any]] = {}
    for name, value in arrays.items():
        head, _, rest = name.partition(".")
        index, _, key = rest.partition(".")
        if head != prefix:
            continue
        if not index.isdigit() or not key:
            raise DataError(f"checkpoint holds malformed optimizer state {name!r}")
        state.setdefault(int(index), {})[key] = torch.from_numpy(np.array(value))
    current = optimizer.state_dict()
    known = {i for group in current["param_groups"] for i in group["params"]}
    if not set(state) <= known:
        raise DataError(
            f"checkpoint holds optimizer state of {len(state)} parameters, the model has "
            f"{len(known)}: resume with the settings and table the run started with"
        )
    optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})


@dataclass(frozen=True)
class EpochCheckpoints:
    """What a training role sees of its checkpoints (``RoleContext.checkpoints``).

    ``start`` is the state to continue from (``None``: from the beginning); the role calls
    :meth:`save` after every completed epoch, once every role knows whether training goes
    on (after the epoch's ``continue`` message).
    """

    folder: CheckpointFolder
    start: EpochState | None = None

    def save(self, state: EpochState) -> None:
        """Keep the state after ``state.epoch`` completed epochs."""
        self.folder.save_epoch(state)


def resume_state(checkpoints: EpochCheckpoints | None) -> EpochState | None:
    """The state a training role continues from, or ``None`` to start afresh.

    Every role's ``start_*`` function opens with it: a run that keeps no checkpoints and
    the first start of a resumable run both train from the beginning.

    Parameters
    ----------
    checkpoints
        The role's checkpoints (``RoleContext.checkpoints``; ``None``: the run keeps none).

    Returns
    -------
    EpochState or None
        ``checkpoints.start`` where there is one.
    """
    return None if checkpoints is None else checkpoints.start


__all__ = [
    "FORMAT",
    "PASSPHRASE_ENV",
    "ChangedTable",
    "CheckpointFolder",
    "EpochCheckpoints",
    "EpochState",
    "MissingCheckpoint",
    "labels_digest",
    "optimizer_arrays",
    "remove_run_checkpoints",
    "require_same_seed",
    "restore_optimizer",
    "resume_state",
    "table_digest",
]

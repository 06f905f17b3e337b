"""The run store: every run, round, client result, event, checkpoint and ledger line in SQLite.

One :class:`RunStore` owns one connection, guarded by a lock, so the coordinator thread and
any worker threads can log through the same object. The file is in WAL mode, so a CLI in
another process can read a run while it is being written.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

from rengo import __version__
from rengo.core.client_record import failures_by_phase
from rengo.core.errors import ConfigError, DataError
from rengo.core.held_signals import signals_held
from rengo.core.roles import validate_party_name
from rengo.core.skipped_round import ROUND_SKIPPED
from rengo.tracking.errors import (
    AmbiguousRunError,
    RunDeletedError,
    StoreBusyError,
    StoreClosedError,
    StoreCorruptError,
    StoreReadOnlyError,
    StoreUnwritableError,
    UnknownRunError,
)
from rengo.tracking.file_identity import FileIdentity, file_identity, replaced_store_error
from rengo.tracking.file_system import network_file_system
from rengo.tracking.json_text import dumps_json, loads_json
from rengo.tracking.liveness import owner_gone, this_host
from rengo.tracking.location import MEMORY, resolve_store_path
from rengo.tracking.new_file import place_new_file
from rengo.tracking.party_changes import PARTIES, PARTY_CHANGES, PartyChange, party_change
from rengo.tracking.party_requests import (
    PARTY_REQUESTS,
    PartyRequest,
    parse_party_request,
    recorded_party_requests,
    requested_parties,
)
from rengo.tracking.records import (
    ClientRecord,
    ClientStats,
    ContributionRecord,
    EventRecord,
    LedgerEntry,
    LedgerLine,
    PartyPresence,
    RoundRecord,
    RunInfo,
)
from rengo.tracking.resume_settings import (
    PARTY_DATA_FILES,
    PARTY_RELEASES,
    settings_differences,
)
from rengo.tracking.revoked_parties import REVOCATIONS, RevokedParty
from rengo.tracking.run import Run, resume_run
from rengo.tracking.run import start_run as _start_run_lifecycle
from rengo.tracking.run_ids import new_run_id
from rengo.tracking.schema import SCHEMA_VERSION, migrate, stored_version

RUNNING = "running"
FINISHED_STATUSES = frozenset({"completed", "failed", "interrupted"})
PHASES = frozenset({"fit", "evaluate"})
CLIENT_STATUSES = frozenset({"ok", "failed"})
EVENT_LEVELS = frozenset({"debug", "info", "warning", "error"})
WRITTEN_AHEAD = "written ahead of the round's record: "
"""How an event of :meth:`RunStore.log_written_ahead` starts (recording its round removes it)."""
_BUSY_TIMEOUT_S = 30.0
_WAL_LIMIT_BYTES = 16 * 2**20
"""A write-ahead log past this size is checkpointed and started over by the next write
(:meth:`RunStore._bound_wal`), and cut back to it when it starts over."""
_CHECKPOINT_WAIT_S = 0.05
"""How long such a checkpoint waits for readers to leave the log (a dashboard's read takes
milliseconds) per limit the log has reached, up to :data:`_CHECKPOINT_WAIT_MAX_S`; past it
the writer goes on and tries again later (a reader descheduled mid-read on a loaded machine
holds its snapshot longer: the longer the log, the longer the wait)."""
_CHECKPOINT_WAIT_MAX_S = 1.0
_MAX_INTEGER = 2**63 - 1  # SQLite's INTEGER
_ID_ATTEMPTS = 5
_RUN_COLUMNS = (
    "run_id, kind, name, status, started_at, finished_at, config, summary, seed, "
    "rengo_version, hostname"
)
_OWNER_COLUMNS = ", owner_pid, heartbeat_at"
_CONTRIBUTION_ERRORS_SCHEMA = 3
"""The schema version from which contribution scores record their standard error and
interval (an earlier store's read as not recorded: None)."""
_OWNER_SCHEMA = 4
"""The schema version from which runs record their owner process and heartbeat."""
_PAUSED_COLUMN = ", paused_s"
_PAUSED_SCHEMA = 5
"""The schema version from which runs record how long they lay interrupted."""
_LEDGER_DECIMALS_SCHEMA = 6
"""The schema version from which ledger lines record the decimals of their minor units."""
_STEADY_COLUMNS = ", active_s, heartbeat_mono"
_ACTIVE_SCHEMA = 7
"""The schema version from which runs record how long their body ran, and their last
heartbeat, by a monotonic clock."""
_INTERRUPTED = "interrupted"
_COMPLETED = "completed"
_FAILED = "failed"
log = logging.getLogger("rengo.tracking")
_CORRUPTION = ("file is not a database", "malformed", "disk image", "file is encrypted")


def _write_config(conn: sqlite3.Connection, run_id: str, config: dict[str, Any]) -> None:
    """Write back a run's config read by ``RunStore._config_in`` in the same transaction."""
    conn.execute(
        "UPDATE runs SET config = ? WHERE run_id = ?", (dumps_json(config, "run config"), run_id)
    )


def _settle_requests(config: dict[str, Any], settled: Sequence[PartyRequest]) -> None:
    """Remove exactly the pending party requests ``settled`` from a run config (in place),
    each once: an entry this release cannot read, or a request made since, stays."""
    pending = config.get(PARTY_REQUESTS)
    left = list(settled)
    rest = []
    for entry in pending if isinstance(pending, list) else []:
        request = parse_party_request(entry)
        if request is not None and request in left:
            left.remove(request)
        else:
            rest.append(entry)
    if rest:
        config[PARTY_REQUESTS] = rest
    else:
        config.pop(PARTY_REQUESTS, None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _monotonic() -> float:
    """Seconds on a clock that only moves forward, at a steady rate (what run durations are
    measured with; :func:`_now` is what times are recorded at)."""
    return time.monotonic()


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _stamp(text: str) -> datetime:
    """A NOT NULL timestamp column's value."""
    return datetime.fromisoformat(text)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an integer >= 0, got {value!r}")
    try:
        number = int(value.__index__())
    except (AttributeError, TypeError):
        raise ConfigError(f"{what} must be an integer >= 0, got {value!r}") from None
    if number < 0:
        raise ConfigError(f"{what} must be an integer >= 0, got {number}")
    if number > _MAX_INTEGER:
        raise DataError(f"{what} = {number} does not fit the store (at most 2**63 - 1)")
    return number


def _optional_round(value: Any) -> int | None:
    return None if value is None else _count(value, "round")


def _seconds(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    return number


def _metric_value(key: str, value: Any) -> float | None:
    """Metric values are floats; NaN (a diverged loss) is kept, as SQL NULL."""
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        raise DataError(f"metric {key!r} must be a number, got {type(value).__name__}")
    number = float(value)
    return None if math.isnan(number) else number


def _metric_from_sql(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _amount(value: Any) -> int | str:
    """Money is exact: an int in minor units or a finite decimal string, never a float."""
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            raise DataError(f"ledger amount {value!r} is not a decimal number") from None
        if not parsed.is_finite():
            raise DataError(f"ledger amount must be finite, got {value!r}")
        return value
    if not isinstance(value, bool) and hasattr(value, "__index__"):
        return int(value.__index__())
    raise DataError(
        f"ledger amount must be an int (minor units) or a decimal string, got {value!r}"
    )


def _decimals(value: Any) -> int | None:
    """A ledger line's decimals: None (the currency's) or an int in 0..18."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 18:
        raise DataError(f"ledger decimals must be an int in 0..18 or None, got {value!r}")
    return value


def _blob(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise DataError(f"checkpoint must be bytes, got {type(value).__name__}")
    return bytes(value)


def _run_info(row: sqlite3.Row | tuple[Any, ...], now: datetime | None = None) -> RunInfo:
    """A ``runs`` row as a :class:`RunInfo`; a ``running`` run whose process is gone reads
    ``interrupted`` (with ``owner_gone`` set)."""
    (run_id, kind, name, status, started, finished, config, summary, seed, version, host) = row[:11]
    owner_pid, heartbeat = (row[11], row[12]) if len(row) > 11 else (None, None)
    paused = float(row[13]) if len(row) > 13 else 0.0
    active = None if len(row) <= 14 or row[14] is None else float(row[14])
    beat = None if len(row) <= 15 or row[15] is None else float(row[15])
    steady = None if beat is None else (beat, _monotonic())
    started_at = _moment(started)
    assert started_at is not None  # NOT NULL column
    heartbeat_at = _moment(heartbeat)
    gone = status == RUNNING and owner_gone(
        host, owner_pid, heartbeat_at, now or _now(), steady=steady
    )
    return RunInfo(
        run_id=run_id,
        kind=kind,
        name=name,
        status=_INTERRUPTED if gone else status,
        started_at=started_at,
        finished_at=_moment(finished),
        config=loads_json(config),
        summary=loads_json(summary),
        seed=seed,
        rengo_version=version,
        hostname=host,
        owner_pid=owner_pid,
        heartbeat_at=heartbeat_at,
        owner_gone=gone,
        paused_s=paused,
        active_s=active,
    )


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file itself is damaged (not busy, not a constraint)."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
        return False
    return any(text in str(exc).lower() for text in _CORRUPTION)


def corrupt_store_error(path: Path | str, exc: BaseException | str) -> StoreCorruptError:
    """The error for a damaged store file: which file, what SQLite said, how to recover."""
    return StoreCorruptError(
        f"{path} is damaged or is not a rengo run store ({exc}); nothing was changed. "
        f"Move it aside (mv {path} {path}.broken) to start a new store, or recover what "
        f"it holds with: sqlite3 {path} .recover | sqlite3 recovered.db"
    )


_UNWRITABLE = {
    # SQLite's primary result code (Python 3.11+: sqlite_errorname), else its message: the fix
    "SQLITE_FULL": (
        "database or disk is full",
        "free space on its disk (or move the store elsewhere and point --store or "
        "$RENGO_STORE at it)",
    ),
    "SQLITE_READONLY": (
        "readonly database",
        "make the file and its folder writable by this user (or point --store or "
        "$RENGO_STORE at a writable folder)",
    ),
    "SQLITE_CANTOPEN": (
        "unable to open database file",
        "make its folder exist and be writable by this user (or point --store or "
        "$RENGO_STORE at a writable folder)",
    ),
    "SQLITE_IOERR": ("disk i/o error", "check the disk it is on"),
}


def unwritable_store_error(path: Path | str, exc: sqlite3.Error) -> StoreUnwritableError | None:
    """The error for a store file SQLite cannot write (disk full, read-only file or folder,
    an I/O error): which file, what SQLite said, and the fix; None for any other error.

    Parameters
    ----------
    path
        The store's file.
    exc
        What SQLite raised.

    Returns
    -------
    StoreUnwritableError or None
        The error to raise instead of ``exc``, or None when ``exc`` is not about writing.
    """
    name = str(getattr(exc, "sqlite_errorname", ""))
    text = str(exc).lower()
    for code, (said, fix) in _UNWRITABLE.items():
        if name == code or name.startswith(f"{code}_") or said in text:
            return StoreUnwritableError(
                f"run store {path} cannot be written ({exc}): {fix}; what it recorded before stands"
            )
    return None


def _busy_store_error(path: Path | str, exc: sqlite3.Error) -> StoreBusyError | None:
    """The error to raise instead of ``exc`` when SQLite says another process held the
    store's write lock longer than a write waits ("database is locked" after the busy
    timeout), naming the file and what to do; None for any other error."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    if not (name.startswith("SQLITE_BUSY") or "database is locked" in str(exc).lower()):
        return None
    return StoreBusyError(
        f"run store {path} is busy: another process held its write lock for over "
        f"{_BUSY_TIMEOUT_S:g} s (a rengo runs compact rewriting it, or a deletion of a long "
        "run); nothing of this write was recorded, what was recorded before stands. Try again "
        "once that process ends"
    )


def _store_error(path: Path, exc: sqlite3.Error) -> StoreUnwritableError | StoreBusyError | None:
    """:func:`unwritable_store_error`'s or :func:`_busy_store_error`'s error for ``exc``."""
    return unwritable_store_error(path, exc) or _busy_store_error(path, exc)


def _refuse_empty_file(path: Path) -> None:
    """A 0-byte store file is a truncated store, never a new one: SQLite would silently
    write a fresh schema over it."""
    if path.is_file() and path.stat().st_size == 0:
        raise StoreCorruptError(
            f"run store {path} is an empty (0-byte) file: it was truncated, or is not a run "
            f"store; nothing was written to it. Restore it from a backup, or remove it "
            f"(rm {path}) to start a new store there"
        )


_WARNED_NETWORK: set[Path] = set()
"""Stores this process has warned about being on a network file system (once each)."""


def _warn_if_shared_between_machines(path: Path) -> None:
    """Warn once per store that one on a network file system (NFS, SMB, Lustre ...) must be
    written from one machine at a time: SQLite's WAL index is shared memory, which processes
    on two machines do not share (see :mod:`rengo.tracking.file_system`)."""
    kind = network_file_system(path)
    if kind is None or path in _WARNED_NETWORK:
        return
    _WARNED_NETWORK.add(path)
    log.warning(
        "run store %s is on a network file system (%s): keep every process that writes it on "
        "one machine, as SQLite's write-ahead log needs; processes on two machines (a Slurm "
        "array over several nodes) can corrupt it. Give each node's jobs a store of their own "
        "(--store runs-$SLURM_ARRAY_TASK_ID.db) or one on a local disk",
        path,
        kind,
    )


def _prepare(conn: sqlite3.Connection) -> None:
    """Set a writing connection up (foreign keys, WAL, NORMAL sync, secure delete) and bring
    its schema up to :data:`SCHEMA_VERSION`.

    ``secure_delete`` overwrites what a deletion frees with zeros, so a deleted run's rows
    (its config, events, clients' metrics, checkpoints) are not left readable in the file's
    free pages: SQLite leaves it off unless built with ``SQLITE_SECURE_DELETE`` (Debian's
    3.40 is), so it is set here rather than left to the build."""
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
    migrate(conn)


def _create_whole(path: Path) -> None:
    """Make a new store at ``path`` whole, or leave an existing one as it is.

    The store is built (schema and WAL mode) in a file of its own beside ``path``, readable
    by its owner only (0600: it holds who took part, from which addresses, and what each
    party is paid; SQLite gives the ``-wal`` and ``-shm`` files it adds the database file's
    mode), and then hard-linked to ``path``, which fails if another process made the store
    first. So ``path`` never exists as an empty file that another process opening the same
    new store at the same moment (eight ``rengo run`` of a Slurm array) would take for a
    truncated store. Where the folder cannot be written the store is left to
    :func:`sqlite3.connect` to make (whose error names the reason); where its file system has
    no hard links, it is made an empty 0600 file for SQLite to fill, as before (processes
    opening it at that moment may then take it for truncated).

    Raises
    ------
    StoreUnwritableError
        If the new store's file could be made but not written (its disk full); nothing is
        left behind.
    """
    if path.exists():
        return
    building = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        handle = os.open(building, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # the folder cannot be written: SQLite will say why
        return
    os.close(handle)
    try:
        conn = sqlite3.connect(str(building), isolation_level=None)
        try:
            _prepare(conn)
        finally:
            conn.close()
        os.link(building, path)
    except FileExistsError:  # another process made the store first: it is used as it is
        pass
    except sqlite3.Error as exc:
        raise _store_error(path, exc) or exc from None
    except OSError:  # no hard links here: an empty 0600 file, which SQLite fills
        with suppress(OSError):  # made meanwhile, or SQLite will say why it cannot be
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    finally:
        for leftover in (building, *(Path(f"{building}{end}") for end in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


def _refuse_foreign_database(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """A SQLite file with tables but no rengo schema belongs to something else: opening it as
    a store would add rengo's tables to it and switch its journal (even for a read command).

    Raises
    ------
    ConfigError
        Naming the file and the tables it holds; nothing was changed.
    """
    if version > 0:  # the schema version the store holds (0: none)
        return
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    if tables:
        shown = ", ".join(tables[:8]) + (f" and {len(tables) - 8} more" if len(tables) > 8 else "")
        raise ConfigError(
            f"{path} is not a rengo run store: it is a SQLite database of something else "
            f"(tables {shown}); nothing was changed. Point --store or $RENGO_STORE at a run "
            "store, or at a new file"
        )


def _connect_read_only(path: os.PathLike[str]) -> tuple[sqlite3.Connection, int]:
    """A read-only connection (SQLite URI ``mode=ro``) to an existing store, and its schema
    version.

    It never takes a write lock, so a coordinator writing in another process is never
    blocked (in WAL mode readers and one writer proceed together), and nothing done through
    it can change the file. It does not migrate: a store written by an older rengo is read
    as it is; one written by a newer rengo is refused.
    """
    file = Path(os.fspath(path))
    if str(file) == MEMORY:
        raise ConfigError("an in-memory run store cannot be opened read-only from elsewhere")
    if not file.is_file():
        raise ConfigError(f"no run store at {file}; run `rengo demo` or `rengo run JOB.toml` first")
    _refuse_empty_file(file)
    try:
        conn, found = _open_read_only(file, immutable=False)
    except sqlite3.DatabaseError as exc:
        if not _needs_immutable(file, exc):
            raise corrupt_store_error(file, exc) from None
        try:
            conn, found = _open_read_only(file, immutable=True)
        except sqlite3.DatabaseError as again:
            raise corrupt_store_error(file, again) from None
    try:
        _refuse_foreign_database(conn, file, found)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise corrupt_store_error(file, exc) from None
    except ConfigError:
        conn.close()
        raise
    if found > SCHEMA_VERSION:
        conn.close()
        raise newer_schema_error(file, found)
    return conn, found


def _open_read_only(file: Path, *, immutable: bool) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to ``file`` and its schema version (``immutable``: SQLite
    neither locks it nor looks for its write-ahead log, see :func:`_needs_immutable`)."""
    conn = sqlite3.connect(
        f"{file.resolve().as_uri()}?{'immutable=1' if immutable else 'mode=ro'}",
        uri=True,
        timeout=_BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        conn.execute("PRAGMA query_only = ON")
        return conn, stored_version(conn)
    except BaseException:
        conn.close()
        raise


def _needs_immutable(file: Path, exc: sqlite3.DatabaseError) -> bool:
    """Whether ``file`` failed to open read-only only because it is a WAL store copied
    without its ``-wal`` and ``-shm`` (a clean copy, a backup) into a folder this user cannot
    write (an auditor's copy, another user's folder): SQLite must make the ``-shm`` file to
    read it and cannot, and said "attempt to write a readonly database" - which read as a
    damaged store. With no ``-wal`` there is nothing beside the file to read, and with the
    folder unwritable to us it is read as it is (SQLite's ``immutable``): a writer elsewhere
    would make the ``-wal`` it needs, and this reader would not see its writes. On a
    read-only file system (a read-only mount of a backup) SQLite says "unable to open
    database file" instead, for the same ``-shm`` it cannot make."""
    return (
        ("readonly" in str(exc) or "unable to open database file" in str(exc))
        and file.is_file()
        and not Path(f"{file}-wal").exists()
        and not os.access(file.parent, os.W_OK)
    )


def newer_schema_error(path: Path, found: int) -> ConfigError:
    """The error for a store written by a newer rengo: which file, both schema versions, and
    the fix; nothing of it was changed."""
    return ConfigError(
        f"run store {path} has schema version {found}, written by a newer rengo, but this "
        f"rengo ({__version__}) knows only up to {SCHEMA_VERSION}; nothing was changed: "
        "upgrade rengo to use it, or point --store or $RENGO_STORE at another store"
    )


RESUMABLE_VERTICAL_KINDS = ("vfl-deployed",)
"""Vertical run kinds that checkpoint every epoch at every role (see
:mod:`rengo.vfl.checkpoints`), so that an interrupted one can be resumed."""


def _resume_problem(info: RunInfo, kind: str | None, reopen_completed: bool) -> str | None:
    """Why ``info`` cannot be resumed as a run of ``kind``, or None."""
    vertical = info.kind.startswith("vfl") and info.kind not in RESUMABLE_VERTICAL_KINDS
    if kind is not None and info.kind != kind:
        return f"it is a {info.kind!r} run, not {kind!r}"
    if vertical:
        return (
            f"it is a vertical run of kind {info.kind!r}; of vertical runs only deployed ones "
            f"({', '.join(RESUMABLE_VERTICAL_KINDS)}) keep the checkpoints to resume from"
        )
    if info.status == RUNNING:
        where = f" on {info.hostname}" if info.hostname else ""
        return (
            f"it is still running (process {info.owner_pid}{where}, heartbeat "
            f"{info.heartbeat_at}); stop it first"
        )
    if reopen_completed and info.status == _COMPLETED:
        return None
    if info.status != _INTERRUPTED:
        return f"it {info.status}; only an interrupted run can be resumed - start a new run"
    return None


def _deletion_problem(info: RunInfo, paid: bool, force: bool) -> str | None:
    """Why ``info`` may not be deleted (``paid``: it has ledger lines), or None."""
    if paid:
        return "has ledger entries, which are append-only; it cannot be deleted"
    if info.status == RUNNING and not force:
        return (
            "is still running (a live process may be writing to it); delete it anyway with "
            "--force (Python: force=True)"
        )
    return None


LATEST = "latest"
"""The run id read methods (and every ``rengo runs`` command) take for the run started last."""


PAYMENTS_SUFFIX = ".payments"
"""Beside a run store ``runs.db``, ``runs.db.payments`` witnesses each payment (run, round,
time; one JSON line each, owner only) after the ledger has it, so a store restored from an
older backup refuses to pay those rounds again (:meth:`RunStore.append_ledger_lines`)."""


def _backup_unwritable(target: Path, why: str) -> StoreUnwritableError:
    """The error for a backup that cannot be written at ``target``: the destination named,
    not the store (which is only read)."""
    return StoreUnwritableError(
        f"the backup {target} cannot be written ({why}): make {target.parent} writable by "
        "this user and free space on its disk, or back up into another folder; no file was "
        "left there and the store is unchanged"
    )


def _sync_folder(folder: Path) -> None:
    """Sync a folder to disk, so a file just linked into it survives a power loss (where the
    system lets a folder be opened: not on Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the file itself is synced
    finally:
        os.close(handle)


def _whole_run_first(number: int | None) -> int:
    """Sort key of a paid round: the whole run (None) before round 0, 1, ..."""
    return -1 if number is None else number


def _payment_record(entry: object) -> bool:
    """Whether a parsed line of ``runs.db.payments`` has a payment record's fields and types."""
    if not isinstance(entry, dict):
        return False
    number = entry.get("round")
    return (
        isinstance(entry.get("run_id"), str)
        and isinstance(entry.get("paid_at"), str)
        and (number is None or (type(number) is int and number >= 0))
    )


class RunStore:
    """Records runs in an embedded SQLite database (default ``./rengo-runs/runs.db``).

    ``path`` is the database file or its folder (see :func:`resolve_store_path`); None uses
    ``$RENGO_STORE`` or the default. ``keep_checkpoints`` keeps only the newest K checkpoints
    per run (None keeps every round's). Read methods accept a unique run id prefix, like git,
    or ``"latest"`` (:data:`LATEST`: the run started last); write methods take the full id
    returned by :meth:`start_run`. ``read_only=True`` opens an existing store for viewing (a
    dashboard beside a live run): see :func:`_connect_read_only`.

    Parameters
    ----------
    path
        The database file, or a folder to hold ``runs.db``; None: ``$RENGO_STORE``, else
        ``./rengo-runs/runs.db`` (``":memory:"``: a store that lives as long as the object).
    keep_checkpoints
        Keep only the newest this many checkpoints of each run; None keeps every round's.
    read_only
        Open an existing store for viewing only: writes raise :class:`StoreReadOnlyError`.

    Raises
    ------
    ConfigError
        If ``keep_checkpoints`` is not None or >= 1, the file is a SQLite database of
        something else, its schema is newer than this rengo knows (opened to write), or
        (``read_only``) no store exists there or ``path`` is in memory.
    StoreCorruptError
        If the file is empty or not a readable SQLite database.
    StoreUnwritableError
        If the store's folder or file cannot be created or written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        keep_checkpoints: int | None = None,
        read_only: bool = False,
    ) -> None:
        if keep_checkpoints is not None and (
            isinstance(keep_checkpoints, bool) or int(keep_checkpoints) < 1
        ):
            raise ConfigError(f"keep_checkpoints must be >= 1 or None, got {keep_checkpoints!r}")
        self.path = resolve_store_path(path)
        self.keep_checkpoints = keep_checkpoints
        self._lock = threading.RLock()
        self._clocks: dict[str, tuple[float, float]] = {}
        """Per run this store started or resumed: the seconds it had run before, and
        :func:`_monotonic` when this process took it up (see :meth:`_active_s`)."""
        self._held = False
        """Whether :meth:`snapshot` holds a read transaction open (the lock's holder's)."""
        self.read_only = read_only
        self._identity: FileIdentity | None = None
        """The file this store opened (None in memory): see :meth:`_connection`."""
        self._written_ahead: set[tuple[str, int]] = set()
        """The rounds (run id, round) this store wrote a note ahead of: :meth:`log_round`
        looks for notes to remove only there, so a round without one (every round of a run
        without DP) deletes nothing and reads none of the run's events."""
        self._next_checkpoint = 0
        """The log's size in bytes below which :meth:`_bound_wal` does not try again."""
        self._conn: sqlite3.Connection | None = None
        if read_only:
            self._read_current_file()
            return
        if str(self.path) != MEMORY:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnwritableError(
                    f"run store {self.path}: cannot make its folder ({exc}); point --store or "
                    "$RENGO_STORE at a writable folder"
                ) from None
            _refuse_empty_file(self.path)
            _warn_if_shared_between_machines(self.path)
            _create_whole(self.path)
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise unwritable_store_error(self.path, exc) or exc from None
        try:
            found = stored_version(conn)
            _refuse_foreign_database(conn, self.path, found)  # before any write
            if found > SCHEMA_VERSION:
                raise newer_schema_error(self.path, found)
            _prepare(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_corruption(exc):
                raise corrupt_store_error(self.path, exc) from None
            raise _store_error(self.path, exc) or exc from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._schema = SCHEMA_VERSION
        if str(self.path) != MEMORY:
            self._identity = file_identity(self.path)

    # -- plumbing -------------------------------------------------------------------------

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"RunStore({str(self.path)!r}, {state})"

    def close(self) -> None:
        """Close the connection; later calls raise :class:`StoreClosedError`. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _transaction(
        self, durable: bool = False, committed: Callable[[], None] | None = None
    ) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one write transaction; commit on success, roll back on error.

        ``committed`` runs right after COMMIT, still with signals held and whatever comes
        after it (the write-ahead log's bound) raises: a Ctrl-C or SIGTERM during the
        transaction is acted on only once it has run, so what must follow a commit (the
        payments record) cannot be skipped by a signal.

        With ``durable`` the commit is synced to disk (``synchronous = FULL`` for it: the
        write-ahead log is fsynced, with every commit before it), so a power loss right after
        it keeps it; the store's other commits survive a killed process but may be lost with
        the machine's power (``NORMAL``), which costs nothing per round.

        BEGIN and COMMIT are inside the rollback's reach: a Ctrl-C or SIGTERM raised just
        after BEGIN took effect (or a COMMIT that failed) left the connection inside a
        transaction, and every later write of the store - recording the run interrupted -
        failed with "cannot start a transaction within a transaction".

        Signals are held throughout (:func:`~rengo.core.held_signals.signals_held`): one
        that landed after the transaction began but before the caller's ``with`` was entered
        (or as it began to leave) left the transaction open and the lock held for good."""
        if self.read_only:
            raise StoreReadOnlyError(f"run store {str(self.path)!r} was opened read-only")
        with signals_held(), self._lock, self._damage_reported():
            conn = self._connection()
            if self._held:
                raise RuntimeError("a run store cannot be written inside its snapshot()")
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous = NORMAL")
            if committed is not None:
                committed()
            self._bound_wal(conn)

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        """Checkpoint the write-ahead log and have it start over once it is past
        :data:`_WAL_LIMIT_BYTES`, and again each time it grew by as much.

        SQLite checkpoints on its own every thousand pages, but starts the log over only at
        a moment when no reader holds a snapshot in it; readers that begin their next read
        as the last ends (``rengo ui`` on a live run, a notebook polling) may leave no such
        moment, and the log grew for as long as the writer went on: 173 MB beside a 12.5 MB
        store after 2000 rounds with one such reader (``benchmarks/wal_growth.py``). A
        ``RESTART`` checkpoint waits for the readers in the log to leave it (new readers read
        the database meanwhile), so the next write starts it over, cut back to the limit
        (``journal_size_limit``). It waits for them a little (:data:`_CHECKPOINT_WAIT_S`
        per limit the log holds, at most :data:`_CHECKPOINT_WAIT_MAX_S`): a reader that
        holds a snapshot longer only defers it, to when the log has grown by the limit
        again."""
        if self._identity is None:
            return
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        if size <= _WAL_LIMIT_BYTES:
            self._next_checkpoint = 0
            return
        if size < self._next_checkpoint:
            return
        self._next_checkpoint = size + _WAL_LIMIT_BYTES
        wait = min(_CHECKPOINT_WAIT_MAX_S, _CHECKPOINT_WAIT_S * (size // _WAL_LIMIT_BYTES))
        self._checkpoint(conn, "RESTART", wait)

    def _checkpoint(self, conn: sqlite3.Connection, mode: str, wait_s: float) -> None:
        """``PRAGMA wal_checkpoint(mode)``, waiting at most ``wait_s`` for the readers and
        writers in the log (busy past it: left to a later checkpoint), then the store's
        usual busy timeout again."""
        conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        except sqlite3.OperationalError:  # busy past the wait
            log.debug("checkpoint of %s deferred", self.path, exc_info=True)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")

    @contextmanager
    def snapshot(self) -> Iterator[RunStore]:
        """Read the store as it is at the first read of the body, for the whole body.

        Each read method sees one moment of the store, but a view made of several reads
        (``rengo runs show``, a dashboard page) read while a run was writing could put
        rounds beside a round count, or a status beside rounds, from different moments: the
        dashboard showed a metric chart past the last round in its table, and a round count
        that its rows did not match. Inside ``with store.snapshot():`` every read sees the
        same moment. Writers in other processes go on meanwhile (SQLite's WAL keeps the
        snapshot's pages), but this store's other threads wait for the body to end, so keep
        it to reading, and short.

        Returns
        -------
        contextlib.AbstractContextManager[RunStore]
            This store, for the ``with``'s ``as``; snapshots nest (the outermost counts).

        Raises
        ------
        RuntimeError
            If the body writes through this store.
        """
        # one read transaction (none more, nested: the outer's holds)
        with self._reading(hold_signals=False):
            outermost = not self._held
            self._held = True
            try:
                yield self
            finally:
                if outermost:
                    self._held = False

    @contextmanager
    def _reading(self, hold_signals: bool = True) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one read transaction, so multi-query reads see one snapshot
        (that of :meth:`snapshot` inside one); with signals held (as :meth:`_transaction`
        does) unless ``hold_signals`` is false: :meth:`snapshot`'s body is its caller's, and
        a Ctrl-C there must act."""
        with signals_held() if hold_signals else nullcontext(), self._lock, self._damage_reported():
            conn = self._connection()
            if self._held:
                yield conn
                return
            try:
                conn.execute("BEGIN")
                yield conn
            finally:
                if conn.in_transaction:  # also when a signal landed just after BEGIN
                    conn.execute("COMMIT")

    @contextmanager
    def _damage_reported(self) -> Iterator[None]:
        """Turn SQLite's "malformed"/"not a database" into :class:`StoreCorruptError`,
        "disk is full"/"readonly database" into :class:`StoreUnwritableError`, and "database
        is locked" (past the busy timeout) into :class:`StoreBusyError`."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise corrupt_store_error(self.path, exc) from None
            raise _store_error(self.path, exc) or exc from None

    @property
    def _run_columns(self) -> str:
        owners = _OWNER_COLUMNS if self._schema >= _OWNER_SCHEMA else ""
        paused = _PAUSED_COLUMN if self._schema >= _PAUSED_SCHEMA else ""
        return (
            _RUN_COLUMNS
            + owners
            + paused
            + (_STEADY_COLUMNS if self._schema >= _ACTIVE_SCHEMA else "")
        )

    def _active_s(self, run_id: str) -> float | None:
        """Seconds the run ``run_id`` has run, by this process's monotonic clock, or None
        if this store did not start or resume it. Wall-clock times (``started_at``,
        ``finished_at``) move when the clock is stepped - NTP correcting a drifting VM, a
        clock set by hand - so a duration taken from them can jump an hour or go negative."""
        clock = self._clocks.get(run_id)
        return None if clock is None else clock[0] + (_monotonic() - clock[1])

    def _connection(self) -> sqlite3.Connection:
        """The open connection, to the file now at :attr:`path`.

        A store held for hours (a notebook's, ``rengo ui``'s) may see its file replaced
        underneath it (a backup restored over it, ``mv``) or deleted; SQLite would go on
        through its open descriptor, writing into a file no path names. Each read or write
        (a snapshot's first) checks the path still names the file opened: a read-only store
        follows the path to the new file (a viewer shows what is there now); a writing one
        raises :class:`StoreReplacedError`. A replacement in the instant between that check
        and the write is not seen."""
        if self._conn is None:
            raise StoreClosedError(f"run store {str(self.path)!r} is closed")
        if self._identity is not None and not self._held:
            now = file_identity(self.path)
            if now != self._identity:
                if not self.read_only or now is None:
                    raise replaced_store_error(self.path, now)
                self._read_current_file()
                assert self._conn is not None
        return self._conn

    def _read_current_file(self) -> None:
        """Read the file now at :attr:`path` (instead of the replaced one, when reopened)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._conn, self._schema = _connect_read_only(self.path)
        self._identity = file_identity(self.path)

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Check a full run id exists (writes take full ids, so foreign keys read clearly).

        Raises
        ------
        RunDeletedError
            If this store started or resumed the run, and it was deleted since (``rengo
            runs delete --force``): nothing of the write is recorded.
        UnknownRunError
            If no run has that id.
        """
        if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            if run_id in self._clocks:
                raise RunDeletedError(
                    f"run {run_id} was deleted from run store {self.path} while it ran "
                    "(rengo runs delete --force): stopped, and nothing more is recorded for it"
                )
            raise UnknownRunError(f"no run with id {run_id!r} in {self.path}")

    def _resolve(self, conn: sqlite3.Connection, run_id: str) -> str:
        """Map a full id, unique prefix or :data:`LATEST` to the full id, or raise a clear
        lookup error."""
        prefix = _text(run_id, "run id").strip()
        if prefix == LATEST:  # no id is "latest" nor starts with it: ids start with a date
            row = conn.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:
                raise UnknownRunError(f"no runs in {self.path}, so no latest one")
            return str(row[0])
        if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (prefix,)).fetchone():
            return prefix
        rows = conn.execute(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY seq DESC LIMIT 6",
            (len(prefix), prefix),
        ).fetchall()
        if not rows:
            raise UnknownRunError(f"no run with id or id prefix {prefix!r} in {self.path}")
        if len(rows) > 1:
            shown = ", ".join(row[0] for row in rows[:5])
            more = " ..." if len(rows) > 5 else ""
            raise AmbiguousRunError(
                f"run id prefix {prefix!r} matches several runs ({shown}{more}); type more of it"
            )
        return str(rows[0][0])

    def resolve_run_id(self, run_id: str) -> str:
        """Return the full id for a full id, unique prefix or ``"latest"``.

        Parameters
        ----------
        run_id
            A run's full id, a prefix of it that matches no other run, or ``"latest"``: the
            run started last.

        Returns
        -------
        str
            The full id.

        Raises
        ------
        UnknownRunError
            If no run's id starts with ``run_id``.
        AmbiguousRunError
            If several do.
        """
        with self._reading() as conn:
            return self._resolve(conn, run_id)

    # -- runs -----------------------------------------------------------------------------

    def run(
        self,
        kind: str,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        seed: int | None = None,
    ) -> AbstractContextManager[Run]:
        """A new run for the body of a ``with``: recorded ``running`` now, then
        ``completed``, ``failed`` (the error recorded as an event) or ``interrupted``
        (KeyboardInterrupt) when the body ends, with the summary the body filled.

        Parameters
        ----------
        kind
            What ran (``"hfl"``, ``"hfl-deployed"``, ``"vfl"`` ...).
        config
            The run's settings (JSON-encodable).
        name, seed
            Optional label and seed, shown by ``rengo runs``.

        Returns
        -------
        AbstractContextManager[Run]
            Yields the :class:`~rengo.tracking.Run` (its ``run_id``, ``summary``,
            ``log_event``).
        """
        return _start_run_lifecycle(self, kind, config, name=name, seed=seed)

    def resume(
        self,
        run_id: str,
        kind: str | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        may_change: Collection[str] = (),
    ) -> AbstractContextManager[Run]:
        """Continue run ``run_id`` (full id or unique prefix) for the body of a ``with``,
        recorded as :meth:`run` records a new one.

        Raises
        ------
        ConfigError
            If the run cannot be resumed (see :meth:`resume_run`): another kind, not
            interrupted, or ``settings`` other than its recorded ones.
        """
        return resume_run(self, run_id, kind, settings=settings, may_change=may_change)

    def start_run(
        self, kind: str, config: Mapping[str, Any], name: str | None = None, seed: int | None = None
    ) -> str:
        """Record a new run as ``running`` and return its id (``YYYYMMDD-HHMMSS-xxxxxx``).

        Prefer :meth:`run`, which also records how the run ends.

        Parameters
        ----------
        kind
            What runs (``"hfl"``, ``"vfl"`` ...).
        config
            The run's settings (JSON-encodable).
        name, seed
            Optional label and integer seed, shown by ``rengo runs``.

        Returns
        -------
        str
            The new run's full id.

        Raises
        ------
        ConfigError
            If ``kind`` or ``name`` is not a non-empty string, ``config`` is not a mapping or
            not JSON-encodable, or ``seed`` is not an integer.
        StoreReadOnlyError
            If the store was opened read-only.
        """
        kind = _text(kind, "run kind")
        if not isinstance(config, Mapping):
            raise ConfigError(f"run config must be a mapping, got {type(config).__name__}")
        config_json = dumps_json(dict(config), "run config")
        if name is not None:
            name = _text(name, "run name")
        if seed is not None:
            if isinstance(seed, bool) or not hasattr(seed, "__index__"):
                raise ConfigError(f"seed must be an integer or None, got {seed!r}")
            seed = int(seed.__index__())
        started = _now()
        for _ in range(_ID_ATTEMPTS):
            run_id = new_run_id(started)
            try:
                with self._transaction() as conn:
                    conn.execute(
                        f"INSERT INTO runs ({_RUN_COLUMNS}{_OWNER_COLUMNS}{_STEADY_COLUMNS}) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            run_id,
                            kind,
                            name,
                            RUNNING,
                            _timestamp(started),
                            None,
                            config_json,
                            None,
                            seed,
                            __version__,
                            this_host(),
                            os.getpid(),
                            _timestamp(started),
                            0.0,
                            _monotonic(),
                        ),
                    )
            except sqlite3.IntegrityError:
                continue  # random suffix collided with a run started the same second
            self._clocks[run_id] = (0.0, _monotonic())
            _note_run_of_this_process(self.path, run_id)
            return run_id
        raise RuntimeError(f"could not draw a unique run id in {_ID_ATTEMPTS} attempts")

    def finish_run(
        self, run_id: str, status: str, summary: Mapping[str, Any] | None = None
    ) -> None:
        """Mark a run ``completed``, ``failed`` or ``interrupted``, with an optional summary.

        Parameters
        ----------
        run_id
            The run's full id (as :meth:`start_run` returned it).
        status
            ``"completed"``, ``"failed"`` or ``"interrupted"``.
        summary
            What the run reached (JSON-encodable), shown by ``rengo show``; None: none.

        Raises
        ------
        ConfigError
            If ``status`` is none of those or ``summary`` is not JSON-encodable.
        UnknownRunError
            If no run has that id.
        """
        if status not in FINISHED_STATUSES:
            raise ConfigError(
                f"finish status must be one of {sorted(FINISHED_STATUSES)}, got {status!r}"
            )
        summary_json = None if summary is None else dumps_json(dict(summary), "run summary")
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            moment = _now()
            active = self._active_s(run_id)
            if active is None:  # finished by a store that did not start it
                # what its process counted to its last heartbeat, and the time since then
                info = self._get(conn, run_id)
                beat = info.heartbeat_at or moment
                since_beat = max(0.0, (moment - beat).total_seconds())
                active = None if info.active_s is None else info.active_s + since_beat
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary = ?, active_s = ? "
                "WHERE run_id = ?",
                (status, _timestamp(moment), summary_json, active, run_id),
            )
        self._clocks.pop(run_id, None)

    def resume_run(
        self,
        run_id: str,
        kind: str | None = None,
        *,
        reopen_completed: bool = False,
        settings: Mapping[str, Any] | None = None,
        may_change: Collection[str] = (),
    ) -> RunInfo:
        """Mark an interrupted run ``running`` again, owned by this process (to continue it
        from its latest checkpoint).

        Only an interrupted run can be resumed: one recorded ``interrupted``, or one still
        recorded ``running`` whose process is gone (see :mod:`rengo.tracking.liveness`).
        The check and the change are one transaction, so two processes cannot both resume
        the same run.

        Parameters
        ----------
        run_id
            Full id or unique prefix.
        kind
            The kind the run must be (a prefix matching a run of another kind is refused).
        reopen_completed
            Also continue a completed run: for runs that one command after another extends
            (a tournament's rounds), each command ending it completed.
        settings
            The config the resuming process would record: refused if an entry differs from
            the recorded one (see
            :func:`~rengo.tracking.resume_settings.settings_differences`), except those in
            ``may_change``. None: not compared.

        Returns
        -------
        RunInfo
            The run, now ``running``.

        Raises
        ------
        ConfigError
            If the run is of another kind, a vertical kind without checkpoints, completed,
            failed, or still running, or ``settings`` differ from the run's (it then stays
            as it was).
        """
        with self._transaction() as conn:
            full = self._resolve(conn, run_id)
            info = self._get(conn, full)
            problem = _resume_problem(info, kind, reopen_completed)
            if problem is None and settings is not None:
                saved = info.config if isinstance(info.config, dict) else {}
                differs = settings_differences(saved, settings, may_change)
                if differs:
                    problem = (
                        f"it started with other settings ({'; '.join(differs)}); resume it "
                        "with the job and options it started with (it stays interrupted), or "
                        "start a new run"
                    )
            if problem is not None:
                raise ConfigError(f"cannot resume run {full}: {problem}")
            moment = _now()
            # The run stopped when it was marked finished, or (a killed process) at its last
            # heartbeat; from then until now it lay interrupted, and its duration leaves that out.
            stopped = info.finished_at or info.heartbeat_at
            paused = 0.0 if stopped is None else max(0.0, (moment - stopped).total_seconds())
            # what it ran before: as its processes measured it, else (a run recorded before
            # rengo kept that) from its wall-clock times
            ran = info.active_s
            if ran is None:
                before = 0.0 if stopped is None else (stopped - info.started_at).total_seconds()
                ran = max(0.0, before - info.paused_s)
            now = _timestamp(moment)
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = NULL, hostname = ?, owner_pid = ?, "
                "heartbeat_at = ?, heartbeat_mono = ?, paused_s = paused_s + ?, active_s = ? "
                "WHERE run_id = ?",
                (RUNNING, this_host(), os.getpid(), now, _monotonic(), paused, ran, full),
            )
            resumed = self._get(conn, full)
        self._clocks[full] = (ran, _monotonic())
        _note_run_of_this_process(self.path, full)
        return resumed

    def close_run(self, run_id: str, reason: str) -> RunInfo:
        """Close an interrupted run that will not be resumed: record it ``failed``, ended
        when it stopped, with ``reason`` among its events (``run failed: closed by the
        operator ...``, which ``rengo runs show`` gives as why it ended).

        A run killed weeks ago reads ``interrupted`` for ever, among the runs waiting to be
        resumed; closing it says it never will be. The check and the change are one
        transaction, so a run resumed meanwhile is not closed.

        Parameters
        ----------
        run_id
            Full id or unique prefix.
        reason
            Why it is closed (non-empty).

        Returns
        -------
        RunInfo
            The run, now ``failed``.

        Raises
        ------
        ConfigError
            If ``reason`` is empty, or the run is not interrupted (running, completed or
            failed).
        """
        reason = _text(reason, "close reason")
        with self._transaction() as conn:
            full = self._resolve(conn, run_id)
            info = self._get(conn, full)
            if info.status != _INTERRUPTED:
                raise ConfigError(
                    f"cannot close run {full}: it is {info.status}; only an interrupted run "
                    "is closed (stop a running one first)"
                )
            stopped = info.finished_at or info.heartbeat_at or _now()
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                (_FAILED, _timestamp(stopped), full),
            )
            conn.execute(
                "INSERT INTO events (run_id, created_at, level, message, round) VALUES (?,?,?,?,?)",
                (
                    full,
                    _timestamp(_now()),
                    "error",
                    f"run failed: closed by the operator, not to be resumed: {reason}",
                    None,
                ),
            )
            return self._get(conn, full)

    def heartbeat(self, run_id: str) -> None:
        """Record that the running run ``run_id`` (full id) is alive now (its lifecycle calls
        this every few seconds; see :mod:`rengo.tracking.liveness`)."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE runs SET heartbeat_at = ?, heartbeat_mono = ?, "
                "active_s = COALESCE(?, active_s) WHERE run_id = ? AND status = ?",
                (_timestamp(_now()), _monotonic(), self._active_s(run_id), run_id, RUNNING),
            )

    def get_run(self, run_id: str) -> RunInfo:
        """Return one run by full id or unique prefix.

        Parameters
        ----------
        run_id
            A full id or a prefix that matches one run.

        Returns
        -------
        RunInfo
            The run's record (kind, status, times, config, summary).

        Raises
        ------
        UnknownRunError, AmbiguousRunError
            If the prefix matches no run, or several.
        """
        with self._reading() as conn:
            return self._get(conn, self._resolve(conn, run_id))

    def _get(self, conn: sqlite3.Connection, full_id: str) -> RunInfo:
        row = conn.execute(
            f"SELECT {self._run_columns} FROM runs WHERE run_id = ?", (full_id,)
        ).fetchone()
        return _run_info(row)

    def list_runs(self, limit: int | None = 20, kind: str | None = None) -> list[RunInfo]:
        """Newest runs first, at most ``limit`` (None for all), optionally of one kind.

        Parameters
        ----------
        limit
            The most runs returned; None: every run.
        kind
            Only runs of this kind (``"hfl"``, ``"vfl"`` ...); None: every kind.

        Returns
        -------
        list[RunInfo]
            The runs, newest first.

        Raises
        ------
        ConfigError
            If ``limit`` is not an integer >= 0.
        """
        sql = f"SELECT {self._run_columns} FROM runs"
        args: list[Any] = []
        if kind is not None:
            sql += " WHERE kind = ?"
            args.append(kind)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(_count(limit, "limit"))
        with self._reading() as conn:
            now = _now()
            return [_run_info(row, now) for row in conn.execute(sql, args)]

    def deletion_problem(self, run_id: str, *, force: bool = False) -> str | None:
        """Why :meth:`delete_run` would refuse run ``run_id`` now, or None.

        Parameters
        ----------
        run_id
            A full id or a prefix that matches one run.
        force
            As :meth:`delete_run`'s: a run still running may be deleted.

        Returns
        -------
        str | None
            The reason (``"is still running ..."``, ``"has ledger entries ..."``), or None.
        """
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            return self._deletion_problem(conn, full, force)

    def _deletion_problem(self, conn: sqlite3.Connection, full: str, force: bool) -> str | None:
        paid = conn.execute("SELECT 1 FROM ledger WHERE run_id = ?", (full,)).fetchone()
        return _deletion_problem(self._get(conn, full), paid is not None, force)

    def delete_run(self, run_id: str, *, force: bool = False) -> None:
        """Delete a run and everything logged for it, unless it has ledger entries or is
        still running.

        Its rows' bytes go too: the pages they held are zeroed (SQLite's ``secure_delete``)
        and the write-ahead log, which still holds them, is emptied into the file where no
        other process is using it (else :meth:`compact` does it). Files the run wrote
        outside the store (mirrors, exports, checkpoint folders) are not touched.

        The check and the deletion are one transaction: a run resumed since the caller
        looked at it (``rengo runs delete`` waiting at its confirmation) is not deleted under
        its live process.

        Parameters
        ----------
        run_id
            A full id or a prefix that matches one run.
        force
            Also delete a run still running (its process alive, or its heartbeat fresh).

        Raises
        ------
        ConfigError
            If the run has ledger entries (append-only), is still running and ``force`` is
            False, or (as :class:`UnknownRunError`, :class:`AmbiguousRunError`) the prefix
            matches no run or several.
        """
        with self._transaction() as conn:
            full = self._resolve(conn, run_id)
            problem = self._deletion_problem(conn, full, force)
            if problem is not None:
                raise ConfigError(f"run {full!r} {problem}")
            conn.execute("DELETE FROM runs WHERE run_id = ?", (full,))
        self._empty_wal()

    def _empty_wal(self) -> None:
        """Copy the write-ahead log into the file and empty it, where no other process is
        writing or reading an older state (waiting for that at most a second): the log
        still holds the pages a deleted run's rows were written in, which ``secure_delete``
        zeroes only in the file. Where the log is in use, its frames are overwritten as it
        starts again from the top, or at once by :meth:`compact`."""
        if str(self.path) == MEMORY:
            return
        with self._lock:
            conn = self._connection()
            if self._held:
                return
            self._checkpoint(conn, "TRUNCATE", 1.0)  # busy: the log is in use

    def compact(self) -> tuple[int, int]:
        """Give the space of deleted runs back to the disk (SQLite ``VACUUM``).

        A deleted run's pages stay in the file, reused by later runs but never returned:
        without this, deleting runs to free a full disk frees nothing. The database is
        rewritten, so the disk needs room for a second copy of it meanwhile, and every
        other writer waits (a live run for at most the store's busy timeout): compact
        when no run is running (``rengo runs compact`` refuses otherwise).

        Returns
        -------
        tuple[int, int]
            The store's size in bytes (its file and write-ahead log) before and after.

        Raises
        ------
        StoreReadOnlyError
            If the store was opened read-only.
        StoreUnwritableError
            If the disk has no room for the copy (the store stays as it was).
        """
        if self.read_only:
            raise StoreReadOnlyError(f"run store {str(self.path)!r} was opened read-only")
        before = self._size()
        with self._lock, self._damage_reported():
            conn = self._connection()
            if self._held:
                raise RuntimeError("a run store cannot be compacted inside its snapshot()")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, self._size()

    def backup(self, destination: str | os.PathLike[str]) -> Path:
        """Copy the store, as it is at one moment, into one new file, while runs write it.

        ``cp runs.db`` of a store a run is writing copies its file without the write-ahead
        log that holds its latest rounds, and ``cp runs.db runs.db-wal`` copies the two at
        different moments; this uses SQLite's online backup API, which copies one
        consistent snapshot (readers never wait for a writer, and a writer goes on
        meanwhile). The copy is a single file (no ``-wal`` beside it; its journal is
        SQLite's rollback journal until rengo opens it), owner-only (mode 0600), checked with
        SQLite's ``quick_check`` and moved into place only once complete: a backup stopped
        partway leaves no file at ``destination`` (until then it is a hidden
        ``.NAME.XXXXXXXX.partial`` file beside it, removed unless the process was killed).
        The one exception: on a file system without hard links and with no no-replace
        rename (an OS other than Linux, a mount that refuses it), the backup is copied into
        ``destination`` itself, and a copy cut off by a kill -9 or a power loss leaves a
        truncated file there; back up again to a new name. Restore it by stopping every
        process that has the store open, removing the store's ``runs.db-wal`` and ``runs.db-shm``,
        and copying the backup to the store's path; keep ``runs.db.payments`` beside it, which
        stops the restored store paying again what was paid after the backup.

        Parameters
        ----------
        destination:
            The new file's path; its folder must exist and the file must not.

        Returns
        -------
        Path
            ``destination``.

        Raises
        ------
        ConfigError
            If ``destination`` exists, is the store itself, or its folder does not exist
            (nothing is written), or the store is in memory.
        StoreCorruptError
            If the copy fails SQLite's check (the store itself is damaged); no file is left.
        StoreUnwritableError
            If the destination's folder cannot be written (its permissions, a read-only
            disk) or its disk is full; the message names the destination; no file is left.
            The backup is linked into place so that a file that appears meanwhile is never
            replaced; on a file system without hard links it is renamed without replacing
            (Linux), or else copied into a file created only if none exists
            (:func:`~rengo.tracking.new_file.place_new_file`).
        RuntimeError
            Called inside this store's :meth:`snapshot`.
        """
        target = Path(destination)
        if str(self.path) == MEMORY:
            raise ConfigError("an in-memory run store has no file to back up")
        if target.exists() or target.is_symlink():
            raise ConfigError(
                f"{target} already exists; back up to a new file (a backup never replaces one)"
            )
        if not target.parent.is_dir():
            raise ConfigError(f"the folder {target.parent} does not exist; create it first")
        building = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
        try:
            os.close(os.open(building, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as e:
            raise _backup_unwritable(target, e.strerror or str(e)) from e
        try:
            with self._lock, self._damage_reported():
                conn = self._connection()
                if self._held:
                    raise RuntimeError("a run store cannot be backed up inside its snapshot()")
                copy = sqlite3.connect(building)
                try:
                    conn.backup(copy)  # one step: one snapshot of the source
                    copy.execute("PRAGMA journal_mode=DELETE")
                    checked = copy.execute("PRAGMA quick_check").fetchone()[0]
                except sqlite3.Error as e:  # the source is only read: a write failed here
                    if not isinstance(e, sqlite3.DatabaseError) or _is_corruption(e):
                        raise
                    if unwritable_store_error(target, e) is None:
                        raise
                    raise _backup_unwritable(target, str(e)) from None
                finally:
                    copy.close()
            if checked != "ok":
                raise corrupt_store_error(self.path, f"its backup's check says {checked}")
            try:
                with open(building, "rb+") as written:
                    os.fsync(written.fileno())
                place_new_file(building, target)  # fails, never replaces, if target appeared
                _sync_folder(target.parent)
            except FileExistsError as e:
                raise ConfigError(f"{target} appeared while the backup was written; kept it") from e
            except OSError as e:
                raise _backup_unwritable(target, e.strerror or str(e)) from e
        finally:
            building.unlink(missing_ok=True)
        return target

    def _size(self) -> int:
        """Bytes the store takes on disk: its file and write-ahead log (0 in memory)."""
        if str(self.path) == MEMORY:
            return 0
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    # -- rounds ---------------------------------------------------------------------------

    def log_round(
        self,
        run_id: str,
        round: int,
        metrics: Mapping[str, float],
        duration_s: float,
        num_clients: int,
        num_failures: int,
    ) -> None:
        """Record one round. Logging a round again updates it and adds/overwrites metrics.

        Parameters
        ----------
        run_id
            The run's full id.
        round
            The round number (>= 0).
        metrics
            Metric name -> number (NaN is kept as missing).
        duration_s
            The round's wall time in seconds.
        num_clients, num_failures
            Clients whose results counted, and clients that failed.

        Raises
        ------
        ConfigError
            If a count or the duration is negative or not a number, or a metric name is
            empty.
        DataError
            If a metric value is not a number, or a count does not fit the store.
        UnknownRunError
            If no run has that id.
        """
        number = _count(round, "round")
        values = [(_text(key, "metric name"), _metric_value(key, v)) for key, v in metrics.items()]
        row = (
            run_id,
            number,
            _seconds(duration_s, "duration_s"),
            _count(num_clients, "num_clients"),
            _count(num_failures, "num_failures"),
            _timestamp(_now()),
        )
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "INSERT INTO rounds (run_id, round, duration_s, num_clients, num_failures, "
                "logged_at) VALUES (?,?,?,?,?,?) ON CONFLICT (run_id, round) DO UPDATE SET "
                "duration_s = excluded.duration_s, num_clients = excluded.num_clients, "
                "num_failures = excluded.num_failures, logged_at = excluded.logged_at",
                row,
            )
            conn.executemany(
                "INSERT INTO round_metrics (run_id, round, key, value) VALUES (?,?,?,?) "
                "ON CONFLICT (run_id, round, key) DO UPDATE SET value = excluded.value",
                [(run_id, number, key, value) for key, value in values],
            )
            if (run_id, number) in self._written_ahead:
                # the round's record now states what its write-ahead notes held (also one a
                # killed process left for this round, before the resume ran it again)
                conn.execute(
                    "DELETE FROM events WHERE run_id = ? AND round = ? AND level = 'debug' "
                    "AND substr(message, 1, ?) = ?",
                    (run_id, number, len(WRITTEN_AHEAD), WRITTEN_AHEAD),
                )
        with self._lock:
            self._written_ahead.discard((run_id, number))

    def rounds(self, run_id: str, since: int = 0, *, metrics: bool = True) -> list[RoundRecord]:
        """Every logged round of a run (from round ``since`` on), in round order, with its
        metrics (``metrics=False``: with empty ones, for a caller that read the series with
        :meth:`round_metrics` already)."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            values: dict[int, dict[str, float]] = {}
            for number, key, value in (
                conn.execute(
                    "SELECT round, key, value FROM round_metrics WHERE run_id = ? "
                    "AND round >= ? ORDER BY round, key",
                    (full, since),
                )
                if metrics
                else ()
            ):
                values.setdefault(number, {})[key] = _metric_from_sql(value)
            return [
                RoundRecord(number, duration, clients, failures, values.get(number, {}))
                for number, duration, clients, failures in conn.execute(
                    "SELECT round, duration_s, num_clients, num_failures FROM rounds "
                    "WHERE run_id = ? AND round >= ? ORDER BY round",
                    (full, since),
                )
            ]

    def round_span(self, run_id: str) -> tuple[int, int]:
        """``(how many rounds were logged, the last one's number)`` - ``(0, 0)`` for none -
        without reading them."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            count, last = conn.execute(
                "SELECT COUNT(*), COALESCE(MAX(round), 0) FROM rounds WHERE run_id = ?", (full,)
            ).fetchone()
        return int(count), int(last)

    def metric_keys(self, run_id: str) -> list[str]:
        """The names of the metrics a run logged, sorted, without reading their values."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            rows = conn.execute(
                "SELECT DISTINCT key FROM round_metrics WHERE run_id = ? ORDER BY key", (full,)
            ).fetchall()
        return [str(key) for (key,) in rows]

    def metric_tail(self, run_id: str, key: str, points: int) -> list[tuple[int, float]]:
        """The latest ``points`` ``(round, value)`` of one metric, in round order (a runs
        list's sparkline: reading every round of every run took seconds)."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            rows = conn.execute(
                "SELECT round, value FROM round_metrics WHERE run_id = ? AND key = ? "
                "ORDER BY round DESC LIMIT ?",
                (full, key, max(0, int(points))),
            ).fetchall()
        return [(int(number), _metric_from_sql(value)) for number, value in reversed(rows)]

    def round_metrics(self, run_id: str) -> dict[str, list[tuple[int, float]]]:
        """Each metric's ``(round, value)`` series, in round order; NaN where NaN was logged."""
        series: dict[str, list[tuple[int, float]]] = {}
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            for key, number, value in conn.execute(
                "SELECT key, round, value FROM round_metrics WHERE run_id = ? ORDER BY key, round",
                (full,),
            ):
                series.setdefault(key, []).append((number, _metric_from_sql(value)))
        return series

    # -- clients --------------------------------------------------------------------------

    def log_client(
        self,
        run_id: str,
        round: int,
        client_id: str,
        phase: str,
        status: str,
        num_examples: int,
        bytes_sent: int,
        bytes_received: int,
        duration_s: float,
        reason: str | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one client's ``fit``/``evaluate`` outcome (``ok``/``failed``) in one round.

        Byte counts are as the caller measured them (the round loop records the coordinator's
        view). Logging the same (round, client, phase) again replaces the earlier record.
        """
        record = ClientRecord(
            round,
            client_id,
            phase,
            status,
            num_examples,
            bytes_sent,
            bytes_received,
            duration_s,
            reason,
            None if metrics is None else dict(metrics),
        )
        self.log_clients(run_id, [record])

    def log_clients(self, run_id: str, records: Sequence[ClientRecord]) -> None:
        """Record several clients' outcomes (:meth:`log_client`'s) in one transaction.

        The round loop writes a round's records this way: one commit per record cost a
        simulation of hundreds of tiny clients a third of its wall time
        (``benchmarks/run_store_writes.py``). Every record is checked before any is written.

        Raises
        ------
        ConfigError
            For a record with an unknown phase or status or a malformed field (nothing of
            the call is written).
        """
        rows = [self._client_row(run_id, record) for record in records]
        if not rows:
            return
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            conn.executemany(
                "INSERT OR REPLACE INTO client_rounds (run_id, round, client_id, phase, status, "
                "num_examples, bytes_sent, bytes_received, duration_s, reason, metrics) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    @staticmethod
    def _client_row(run_id: str, record: ClientRecord) -> tuple[Any, ...]:
        if record.phase not in PHASES:
            raise ConfigError(f"phase must be one of {sorted(PHASES)}, got {record.phase!r}")
        if record.status not in CLIENT_STATUSES:
            raise ConfigError(
                f"status must be one of {sorted(CLIENT_STATUSES)}, got {record.status!r}"
            )
        return (
            run_id,
            _count(record.round, "round"),
            _text(record.client_id, "client id"),
            record.phase,
            record.status,
            _count(record.num_examples, "num_examples"),
            _count(record.bytes_sent, "bytes_sent"),
            _count(record.bytes_received, "bytes_received"),
            _seconds(record.duration_s, "duration_s"),
            None if record.reason is None else str(record.reason),
            None if record.metrics is None else dumps_json(dict(record.metrics), "client metrics"),
        )

    def client_records(
        self,
        run_id: str,
        client_id: str | None = None,
        since: int = 0,
        rounds: Collection[int] | None = None,
    ) -> list[ClientRecord]:
        """Raw per-round client records, by round then client, optionally for one client
        (and from round ``since`` on, or of ``rounds`` only)."""
        sql = (
            "SELECT round, client_id, phase, status, num_examples, bytes_sent, bytes_received, "
            "duration_s, reason, metrics FROM client_rounds WHERE run_id = ? AND round >= ?"
        )
        with self._reading() as conn:
            args: list[Any] = [self._resolve(conn, run_id), since]
            if client_id is not None:
                sql += " AND client_id = ?"
                args.append(client_id)
            if rounds is not None:
                wanted = sorted({int(r) for r in rounds})
                sql += f" AND round IN ({', '.join('?' * len(wanted))})"
                args.extend(wanted)
            sql += " ORDER BY round, client_id, phase = 'evaluate'"  # fit before evaluate
            rows = conn.execute(sql, args).fetchall()
        return [ClientRecord(*row[:9], metrics=loads_json(row[9])) for row in rows]  # type: ignore[misc]

    def failures_by_phase(self, run_id: str, rounds: Collection[int]) -> dict[int, dict[str, int]]:
        """How many clients failed in each of ``rounds``, by phase, from the client records
        (a round's ``num_failures`` counts the clients that failed its training or its
        evaluation together); ``"evaluate"`` counts those that failed only the evaluation,
        by :func:`rengo.core.client_record.failures_by_phase`, the round line's rule.

        Parameters
        ----------
        run_id
            The run (an id or a unique prefix of one).
        rounds
            The rounds to count.

        Returns
        -------
        dict
            Round -> phase -> failed clients (``{3: {"fit": 12, "evaluate": 4}}``); a round
            without failed records, and a phase without failures, is absent.
        """
        wanted = sorted({int(r) for r in rounds})
        if not wanted:
            return {}
        failed: dict[int, list[tuple[str, str]]] = {}
        with self._reading() as conn:
            rid = self._resolve(conn, run_id)
            for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    "SELECT round, client_id, phase FROM client_rounds WHERE run_id = ? "
                    f"AND status = 'failed' AND round IN ({', '.join('?' * len(chunk))})",
                    [rid, *chunk],
                ).fetchall()
                for round_, client_id, phase in rows:
                    failed.setdefault(int(round_), []).append((str(client_id), str(phase)))
        return {round_: failures_by_phase(pairs) for round_, pairs in failed.items()}

    def client_summary_rounds(self, run_id: str) -> list[int]:
        """The rounds whose client records a run's client-metric summary reads
        (:func:`rengo.tracking.client_metric_summary` behind ``rengo runs show``): for each
        phase and metric, the first and the last completed round (one with a round record)
        in which a client reported it as a number, and every round with client records but
        no round record (cut short), and every round with a record whose metrics hold NaN or
        an infinity (SQLite's JSON functions cannot read them). One query each: a run of
        1,000 rounds of 1,000 clients is read as a few rounds, not a million records.
        """
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            spans = conn.execute(
                """
                SELECT MIN(c.round), MAX(c.round)
                FROM client_rounds AS c
                JOIN rounds AS r ON r.run_id = c.run_id AND r.round = c.round,
                     json_each(c.metrics) AS m
                WHERE c.run_id = ? AND c.status = 'ok' AND json_valid(c.metrics)
                  AND m.type IN ('integer', 'real') AND abs(m.value) < 1e308
                GROUP BY c.phase, m.key
                """,
                (full,),
            ).fetchall()
            cut_short = conn.execute(
                """
                SELECT DISTINCT c.round FROM client_rounds AS c
                WHERE c.run_id = ? AND NOT EXISTS (
                    SELECT 1 FROM rounds AS r WHERE r.run_id = c.run_id AND r.round = c.round
                )
                """,
                (full,),
            ).fetchall()
            # NaN or an infinity in a record's metrics (a diverged client) is not JSON to
            # SQLite: those rounds are read whole, and the summary sorts them out
            not_strict = conn.execute(
                "SELECT DISTINCT round FROM client_rounds WHERE run_id = ? "
                "AND metrics IS NOT NULL AND NOT json_valid(metrics)",
                (full,),
            ).fetchall()
        found = {int(r) for span in spans for r in span}
        found |= {int(r) for (r,) in (*cut_short, *not_strict)}
        return sorted(found)

    def client_metric_peaks(self, run_id: str, metric: str) -> dict[str, tuple[float, int]]:
        """Each client's largest fit metric ``metric`` over a run, with the last round it
        reported one: ``{client: (largest value, last round)}``, only clients that reported
        it as a number (a local privacy budget, which only grows). One query: a run's detail
        reads it without loading every client record.

        Records whose metrics hold NaN or an infinity (a diverged client's loss), which
        SQLite's JSON functions refuse as malformed, are read here in Python: an infinite
        value is the peak it is, NaN is no value.
        """
        path = "$." + json.dumps(metric)  # a quoted JSON path: any metric name
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            rows = conn.execute(
                """
                SELECT client_id, MAX(json_extract(metrics, ?)), MAX(round)
                FROM client_rounds
                WHERE run_id = ? AND phase = 'fit'
                  AND CASE WHEN json_valid(metrics)
                           THEN json_type(metrics, ?) IN ('integer', 'real') END
                GROUP BY client_id
                """,
                (path, full, path),
            ).fetchall()
            not_strict = conn.execute(
                "SELECT client_id, metrics, round FROM client_rounds WHERE run_id = ? "
                "AND phase = 'fit' AND metrics IS NOT NULL AND NOT json_valid(metrics)",
                (full,),
            ).fetchall()
        peaks = {client: (float(value), int(last)) for client, value, last in rows}
        for client, text, number in not_strict:
            value = loads_json(text).get(metric)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isnan(value):
                continue
            best, last = peaks.get(client, (-math.inf, number))
            peaks[client] = (max(best, float(value)), max(last, int(number)))
        return peaks

    def client_stats(self, run_id: str) -> list[ClientStats]:
        """Per-client totals over a run, sorted by client id; ``failures`` counts the rounds
        in which a client failed (its training, its evaluation or both), so it is never more
        than its rounds (one lost from both phases of a round counted 2);
        ``rounds_aggregated`` the rounds whose aggregate took its update: an ok fit in a
        round the run recorded and did not skip (a round that failed or was cut off before
        it was recorded took none)."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            rows = conn.execute(
                """
                SELECT client_id,
                       COUNT(DISTINCT round),
                       COUNT(DISTINCT CASE WHEN status = 'failed' THEN round END),
                       SUM(status = 'ok' AND phase = 'fit'),
                       SUM(status = 'ok' AND phase = 'evaluate'),
                       SUM(CASE WHEN status = 'ok' AND phase = 'fit' THEN num_examples END),
                       SUM(bytes_sent),
                       SUM(bytes_received),
                       SUM(duration_s),
                       (SELECT c2.reason FROM client_rounds AS c2
                         WHERE c2.run_id = c.run_id AND c2.client_id = c.client_id
                           AND c2.status = 'failed'
                         ORDER BY c2.round DESC, c2.phase DESC LIMIT 1),
                       (SELECT c3.reason FROM client_rounds AS c3
                         WHERE c3.run_id = c.run_id AND c3.client_id = c.client_id
                           AND c3.status = 'ok' AND c3.reason IS NOT NULL
                         ORDER BY c3.round DESC, c3.phase DESC LIMIT 1),
                       COUNT(DISTINCT CASE WHEN status = 'ok' AND phase = 'fit'
                             AND EXISTS (
                               SELECT 1 FROM rounds AS r
                                WHERE r.run_id = c.run_id AND r.round = c.round)
                             AND NOT EXISTS (
                               SELECT 1 FROM round_metrics AS m
                                WHERE m.run_id = c.run_id AND m.round = c.round
                                  AND m.key = ? AND m.value = 1)
                             THEN round END)
                FROM client_rounds AS c
                WHERE run_id = ?
                GROUP BY client_id
                ORDER BY client_id
                """,
                (ROUND_SKIPPED, full),
            ).fetchall()
        return [
            ClientStats(
                client_id=row[0],
                rounds_participated=row[1],
                failures=row[2],
                fit_ok=row[3],
                evaluate_ok=row[4],
                num_examples=row[5] or 0,
                bytes_sent=row[6],
                bytes_received=row[7],
                duration_s=float(row[8]),
                last_failure=row[9],
                last_note=row[10],
                rounds_aggregated=row[11],
            )
            for row in rows
        ]

    # -- events ---------------------------------------------------------------------------

    def log_event(self, run_id: str, level: str, message: str, round: int | None = None) -> None:
        """Record a notice (``debug``/``info``/``warning``/``error``), e.g. a client dropped."""
        if level not in EVENT_LEVELS:
            raise ConfigError(f"event level must be one of {sorted(EVENT_LEVELS)}, got {level!r}")
        self._insert_event(run_id, level, str(message), round, durable=False)

    def log_written_ahead(self, run_id: str, round: int, message: str) -> None:
        """Record, synced to disk, what round ``round`` does before it is recorded (the spend
        of a model released to clients first): a ``debug`` event whose message starts with
        :data:`WRITTEN_AHEAD`, which stands for as long as the round is not recorded.
        Recording the round (:meth:`log_round`, on this store) removes it, with any note an
        earlier process left for the same round, so a completed round leaves none among the
        run's events; a process killed (or a machine that lost power) in between
        leaves it for whoever reads the run.

        Parameters
        ----------
        run_id
            The run's full id.
        round
            The round it belongs to.
        message
            What the round did (:data:`WRITTEN_AHEAD` is put before it).

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        self._insert_event(run_id, "debug", WRITTEN_AHEAD + message, round, durable=True)
        with self._lock:
            self._written_ahead.add((run_id, round))

    def _insert_event(
        self, run_id: str, level: str, message: str, round: int | None, durable: bool
    ) -> None:
        row = (run_id, _timestamp(_now()), level, message, _optional_round(round))
        with self._transaction(durable) as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "INSERT INTO events (run_id, created_at, level, message, round) VALUES (?,?,?,?,?)",
                row,
            )

    def events(
        self,
        run_id: str,
        level: str | None = None,
        *,
        after: int = 0,
        newest: int | None = None,
    ) -> list[EventRecord]:
        """A run's events in the order logged, optionally of one level, after sequence
        number ``after``, and only the ``newest`` of them."""
        sql = (
            "SELECT seq, created_at, level, message, round FROM events WHERE run_id = ? AND seq > ?"
        )
        with self._reading() as conn:
            args: list[Any] = [self._resolve(conn, run_id), after]
            if level is not None:
                sql += " AND level = ?"
                args.append(level)
            if newest is None:
                rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
            else:
                latest = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", [*args, newest])
                rows = list(reversed(latest.fetchall()))
        return [EventRecord(seq, _stamp(at), lvl, msg, rnd) for seq, at, lvl, msg, rnd in rows]

    def event_count(self, run_id: str, after: int = 0) -> int:
        """How many events a run logged after sequence number ``after``."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM events WHERE run_id = ? AND seq > ?", (full, after)
            ).fetchone()
        return int(count)

    # -- checkpoints ----------------------------------------------------------------------

    def save_checkpoint(self, run_id: str, round: int, blob: bytes) -> None:
        """Store a round's checkpoint bytes (rengo codec output); prune beyond ``keep``."""
        row = (run_id, _count(round, "round"), _timestamp(_now()), _blob(blob))
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (run_id, round, created_at, blob) "
                "VALUES (?,?,?,?)",
                row,
            )
            if self.keep_checkpoints is not None:
                conn.execute(
                    "DELETE FROM checkpoints WHERE run_id = ? AND round NOT IN ("
                    "SELECT round FROM checkpoints WHERE run_id = ? ORDER BY round DESC LIMIT ?)",
                    (run_id, run_id, self.keep_checkpoints),
                )

    def latest_checkpoint(self, run_id: str) -> tuple[int, bytes] | None:
        """The highest-round checkpoint as ``(round, blob)``, or None if there is none."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT round, blob FROM checkpoints WHERE run_id = ? ORDER BY round DESC LIMIT 1",
                (self._resolve(conn, run_id),),
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def checkpoint_rounds(self, run_id: str) -> list[int]:
        """Rounds that have a stored checkpoint, ascending."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT round FROM checkpoints WHERE run_id = ? ORDER BY round",
                (self._resolve(conn, run_id),),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def delete_checkpoints(self, run_id: str, rounds: Sequence[int]) -> None:
        """Delete the checkpoints of ``rounds`` (a retention policy's leftovers); rounds
        without one are ignored."""
        wanted = [(run_id, _count(r, "round")) for r in rounds]
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            conn.executemany("DELETE FROM checkpoints WHERE run_id = ? AND round = ?", wanted)

    def load_checkpoint(self, run_id: str, round: int) -> bytes:
        """The checkpoint of one given round; :class:`DataError` if that round has none."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            row = conn.execute(
                "SELECT blob FROM checkpoints WHERE run_id = ? AND round = ?", (full, round)
            ).fetchone()
        if row is None:
            raise DataError(f"run {full!r} has no checkpoint for round {round}")
        return bytes(row[0])

    # -- ledger and contributions ---------------------------------------------------------

    def append_ledger(
        self,
        run_id: str,
        round: int | None,
        participant: str,
        kind: str,
        amount: int | str,
        reason: str | None = None,
        currency: str = "credits",
        decimals: int | None = None,
    ) -> int:
        """Append one ledger line and return its sequence number. There is no update/delete."""
        line = LedgerLine(round, participant, kind, amount, reason, currency, decimals)
        return self.append_ledger_lines(run_id, [line])[0]

    def append_ledger_lines(
        self, run_id: str, lines: Sequence[LedgerLine], *, once: Collection[str] = ()
    ) -> list[int]:
        """Append several ledger lines in one transaction: all of them or, when one is invalid
        or the process is stopped partway (Ctrl-C, SIGTERM, a crash), none. A payment is
        therefore never half written, so it can be retried; the ledger is append-only and a
        half-written payment could be neither completed nor undone.

        Parameters
        ----------
        run_id:
            The run's full id.
        lines:
            The lines, appended in this order.
        once:
            Ledger kinds a run is paid with once per round (e.g.
            :data:`~rengo.tracking.records.PAYMENT_KINDS`): when the run already has a line
            of one of these kinds in a round of ``lines`` (a whole-run line, round None,
            shares every round), nothing is written. The check and the writes are one
            transaction, so two payers cannot both pass it.

        Returns
        -------
        list[int]
            The lines' sequence numbers, in the order of ``lines``.

        Raises
        ------
        ConfigError
            The run is already paid in a round of ``lines`` (see ``once``), or (``once``
            given) ``runs.db.payments`` beside the store witnessed such a payment that the
            ledger no longer holds: the store was restored from a backup taken before it
            (:data:`PAYMENTS_SUFFIX`).
        DataError
            An amount that is not exact (a float) or not a number, an empty participant,
            kind or currency, decimals outside 0..18, or an unknown run; nothing is written.
        """
        rounds = {line.round for line in lines}
        created = _timestamp(_now())
        # A payment's commit is synced to disk before runs.db.payments records it, and that
        # record is written right after the commit with signals still held (a Ctrl-C in the
        # transaction cannot skip it): the record never holds a payment the ledger lost,
        # and a committed payment is always recorded, except when the process is killed
        # (SIGKILL, power) in the instant between the two.
        with self._transaction(
            durable=bool(once),
            committed=(lambda: self._witness_payment(run_id, rounds, created)) if once else None,
        ) as conn:
            self._require_run(conn, run_id)
            if once:
                self._refuse_paid_rounds(conn, run_id, rounds, once)
                self._refuse_paid_before_restore(run_id, rounds)
            numbers: list[int] = []
            for line in lines:  # each checked inside the transaction: a bad one undoes all
                row = (
                    run_id,
                    created,
                    _optional_round(line.round),
                    _text(line.participant, "participant"),
                    _text(line.kind, "ledger kind"),
                    _amount(line.amount),
                    _text(line.currency, "currency"),
                    line.reason,
                    _decimals(line.decimals),
                )
                cursor = conn.execute(
                    "INSERT INTO ledger (run_id, created_at, round, participant, kind, amount, "
                    "currency, reason, decimals) VALUES (?,?,?,?,?,?,?,?,?)",
                    row,
                )
                numbers.append(int(cursor.lastrowid or 0))
        return numbers

    def _payments_file(self) -> Path | None:
        """The file beside the store that witnesses every payment (run and round) after it
        is committed: ``runs.db.payments``; None for a store in memory."""
        if str(self.path) == MEMORY:
            return None
        return self.path.with_name(self.path.name + PAYMENTS_SUFFIX)

    def _witness_payment(self, run_id: str, rounds: set[int | None], created: str) -> None:
        """Append the paid rounds to :meth:`_payments_file` (owner only), so a store restored
        from an older backup under it cannot pay them again unnoticed."""
        witness = self._payments_file()
        if witness is None:
            return
        text = "".join(
            json.dumps({"run_id": run_id, "round": r, "paid_at": created}) + "\n"
            for r in sorted(rounds, key=_whole_run_first)
        )
        try:  # the payment is committed: a witness that cannot be written only warns
            handle = os.open(witness, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                size = os.fstat(handle).st_size
                if size and os.pread(handle, 1, size - 1) != b"\n":
                    text = "\n" + text  # a line cut short (a crash, a full disk) ends here
                os.write(handle, text.encode("utf-8"))
                os.fsync(handle)
            finally:
                os.close(handle)
        except OSError as e:
            log.warning(
                "run %s is paid, but %s could not record it (%s): a store restored from an "
                "older backup would not know of this payment",
                run_id,
                witness,
                e.strerror or e,
            )

    def witnessed_payments(self, run_id: str) -> dict[int | None, str]:
        """The payments of ``run_id`` that ``runs.db.payments`` beside the store records.

        Each payment (``rengo rewards pay``, ``rengo tournament pay``) is recorded there right
        after its ledger lines are committed (:data:`PAYMENTS_SUFFIX`); a round recorded here
        that the store's ledger does not hold was paid by a newer copy of this store (it was
        restored from a backup taken before that payment). A line that is not JSON (cut
        short by a crash or a full disk) is skipped with a warning naming it.

        Parameters
        ----------
        run_id:
            The run's full id.

        Returns
        -------
        dict[int | None, str]
            Each recorded round (None: the whole run) and when it was first paid; empty when
            the file does not exist or the store is in memory.

        Raises
        ------
        ConfigError
            The file cannot be read, or one of its lines is JSON but not a payment record (a
            run id that is not text, a round that is not a whole number >= 0 or null, a
            time that is not text): the message names the file and the line.
        """
        witness = self._payments_file()
        if witness is None:
            return {}
        try:
            raw = witness.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise ConfigError(
                f"cannot read {witness} ({e.strerror or e}), which records what this store "
                "paid: let this user read it; nothing was written"
            ) from e
        seen: dict[int | None, str] = {}
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line.decode("utf-8"))
            except ValueError:  # UnicodeDecodeError included
                log.warning(
                    "%s line %d is not a payment record (cut short by a crash or a full "
                    "disk?); it is skipped",
                    witness,
                    number,
                )
                continue
            if not _payment_record(entry):
                raise ConfigError(
                    f"{witness} line {number} is not a payment record "
                    f"({line.decode('utf-8', 'replace')[:200]!r}): each line is "
                    '{"run_id": "<run id>", "round": <a whole number >= 0, or null for the '
                    'whole run>, "paid_at": "<time>"}; correct that line, or remove it if '
                    "it records a payment truly never paid out; nothing was written"
                )
            if entry["run_id"] == run_id:
                seen.setdefault(entry["round"], entry["paid_at"])
        return seen

    def _refuse_paid_before_restore(self, run_id: str, rounds: set[int | None]) -> None:
        """A ConfigError when :meth:`_payments_file` witnessed a payment of ``run_id`` in one
        of ``rounds`` (None: the whole run) that the ledger, checked just before, no longer
        holds: the store was restored from a backup taken before that payment."""
        witness = self._payments_file()
        seen = self.witnessed_payments(run_id)
        clash = {r: at for r, at in seen.items() if None in rounds or r is None or r in rounds}
        if not clash:
            return
        which = ", ".join(
            ("the whole run" if r is None else f"round {r}") + f" at {at}"
            for r, at in sorted(clash.items(), key=lambda kv: _whole_run_first(kv[0]))
        )
        raise ConfigError(
            f"run {run_id} was paid before ({which}, recorded in {witness}), but this store's "
            "ledger holds no line of that payment: the store was restored from a backup taken "
            "before it, and paying again would pay twice; restore a backup taken after the "
            f"payment, or, if it was truly never paid out, remove its lines from {witness}; "
            "nothing was written"
        )

    def _refuse_paid_rounds(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        rounds: set[int | None],
        kinds: Collection[str],
    ) -> None:
        """A ConfigError when the run has a line of ``kinds`` in one of ``rounds`` (None,
        the whole run, overlaps every round)."""
        wanted = sorted(kinds)
        marks = ",".join("?" * len(wanted))
        rows = conn.execute(
            f"SELECT DISTINCT round FROM ledger WHERE run_id = ? AND kind IN ({marks})",
            (run_id, *wanted),
        ).fetchall()
        paid: set[int | None] = {r for (r,) in rows}
        if not paid or not (None in paid or None in rounds or paid & rounds):
            return
        numbered = sorted(r for r in paid if r is not None)
        which = "the whole run" if None in paid else f"rounds {numbered}"
        raise ConfigError(
            f"run {run_id} is already paid for {which} (ledger lines of kind "
            f"{'/'.join(wanted)}); the ledger is append-only, so nothing was written"
        )

    def ledger(self, run_id: str) -> list[LedgerEntry]:
        """A run's ledger lines in the order appended."""
        decimals = ", decimals" if self._schema >= _LEDGER_DECIMALS_SCHEMA else ""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT seq, created_at, round, participant, kind, amount, currency, reason"
                f"{decimals} FROM ledger WHERE run_id = ? ORDER BY seq",
                (self._resolve(conn, run_id),),
            ).fetchall()
        return [LedgerEntry(seq, _stamp(at), *rest) for seq, at, *rest in rows]

    def log_contribution(
        self,
        run_id: str,
        round: int | None,
        participant: str,
        method: str,
        value: float,
        *,
        stderr: float | None = None,
        interval: tuple[float, float] | None = None,
        confidence: float | None = None,
    ) -> None:
        """Record a contribution score (``round`` None = the whole run), e.g. Shapley value,
        with its standard error and ``confidence``-level interval where known (an infinite
        error is stored as unknown).

        Raises
        ------
        DataError
            A non-numeric value or error, a negative error, or an interval given without
            its confidence level (or one outside (0, 1)).
        """
        error = None if stderr is None else _metric_value("contribution stderr", stderr)
        if error is not None and error < 0:
            raise DataError(f"a standard error must be >= 0, got {stderr}")
        if error is not None and math.isinf(error):
            error = None  # no estimate of the error: unknown
        low = high = level = None
        if interval is not None:
            if confidence is None or not 0 < float(confidence) < 1:
                raise DataError("a confidence interval needs its confidence level in (0, 1)")
            low = _metric_value("contribution interval", interval[0])
            high = _metric_value("contribution interval", interval[1])
            if low is not None and math.isinf(low):
                low = high = None
            level = float(confidence)
        row = (
            run_id,
            _timestamp(_now()),
            _optional_round(round),
            _text(participant, "participant"),
            _text(method, "contribution method"),
            _metric_value("contribution", value),
            error,
            low,
            high,
            level,
        )
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "INSERT INTO contributions (run_id, created_at, round, participant, method, "
                "value, stderr, ci_low, ci_high, confidence) VALUES (?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    def contributions(self, run_id: str) -> list[ContributionRecord]:
        """A run's contribution scores in the order logged."""
        errors = (
            "stderr, ci_low, ci_high, confidence"
            if self._schema >= _CONTRIBUTION_ERRORS_SCHEMA
            else "NULL, NULL, NULL, NULL"
        )
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT seq, created_at, round, participant, method, value, "
                f"{errors} FROM contributions WHERE run_id = ? ORDER BY seq",
                (self._resolve(conn, run_id),),
            ).fetchall()
        return [
            ContributionRecord(seq, _stamp(at), rnd, who, method, _metric_from_sql(value), *errors)
            for seq, at, rnd, who, method, value, *errors in rows
        ]

    # -- presence and change detection (dashboards) ---------------------------------------

    def record_presence(self, run_id: str, parties: Sequence[PartyPresence]) -> None:
        """Replace the presence rows of ``parties`` for a run, in one transaction.

        A deployed coordinator calls this on every join and leave and every few seconds
        (heartbeats), so a dashboard in another process can say who is online.
        """
        now = _timestamp(_now())
        rows = [
            (
                run_id,
                _text(p.party, "party"),
                int(bool(p.online)),
                p.peer,
                None if p.joined_at is None else _timestamp(p.joined_at),
                None if p.last_seen is None else _timestamp(p.last_seen),
                None if p.left_at is None else _timestamp(p.left_at),
                p.reason,
                _count(p.joins, "joins"),
                _count(p.bytes_in, "bytes_in"),
                _count(p.bytes_out, "bytes_out"),
                now,
            )
            for p in parties
        ]
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            conn.executemany(
                "INSERT OR REPLACE INTO presence (run_id, party, online, peer, joined_at, "
                "last_seen, left_at, reason, joins, bytes_in, bytes_out, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def _config_in(self, conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
        """Run ``run_id``'s recorded config, read inside the caller's transaction (to change
        and write back with :func:`_write_config`)."""
        self._require_run(conn, run_id)
        (text,) = conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        config: dict[str, Any] = loads_json(text) if text else {}
        return config

    def record_party_data(
        self, run_id: str, party: str, files: Mapping[str, str]
    ) -> dict[str, str] | None:
        """Keep the data files ``party`` reports for a deployed run (``{path: sha256}``) in
        its config, under :data:`~rengo.tracking.resume_settings.PARTY_DATA_FILES`, unless
        it reported some before: the run keeps what the party first trained on.

        Parameters
        ----------
        run_id
            The run's full id.
        party
            The reporting party.
        files
            What it reports now.

        Returns
        -------
        dict[str, str] | None
            What the run recorded for ``party`` before (compare it with ``files``); None if
            this is its first report, now recorded.

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            config = self._config_in(conn, run_id)
            reported = config.get(PARTY_DATA_FILES)
            reported = dict(reported) if isinstance(reported, Mapping) else {}
            before = reported.get(party)
            if isinstance(before, Mapping):
                return {str(path): str(digest) for path, digest in before.items()}
            reported[_text(party, "party")] = dict(files)
            config[PARTY_DATA_FILES] = reported
            _write_config(conn, run_id, config)
        return None

    def record_resumed_setting(self, run_id: str, key: str, value: Any) -> Any:
        """Write ``value`` under config entry ``key`` of run ``run_id``, resumed with it: for
        an entry a resume may change (not compared, see :meth:`resume_run`) whose record
        must name what the run goes on with, such as the ``dp-accounting`` release every
        epsilon recorded from then on is computed with.

        Parameters
        ----------
        run_id
            The run's full id.
        key
            The config entry.
        value
            What the resumed run goes on with (JSON-serialisable).

        Returns
        -------
        Any
            What the run recorded under ``key`` before (None where it recorded nothing).

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            config = self._config_in(conn, run_id)
            before = config.get(key)
            if key not in config or before != value:
                config[_text(key, "config entry")] = value
                _write_config(conn, run_id, config)
        return before

    def record_party_release(self, run_id: str, party: str, build: str) -> bool:
        """Keep the build ``party`` joined a deployed run with (its rengo release and wire
        format, as its hello named them) in the run's config, under
        :data:`~rengo.tracking.resume_settings.PARTY_RELEASES`: each build of a party once,
        in the order it first joined with it.

        Parameters
        ----------
        run_id
            The run's full id.
        party
            The party that said hello.
        build
            Its build, one line (``rengo 0.1.0 (wire format 2)``).

        Returns
        -------
        bool
            Whether ``build`` is new for ``party`` (recorded now).

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            config = self._config_in(conn, run_id)
            recorded = config.get(PARTY_RELEASES)
            releases = dict(recorded) if isinstance(recorded, Mapping) else {}
            known = releases.get(party)
            builds = [str(b) for b in known] if isinstance(known, list) else []
            if build in builds:
                return False
            releases[_text(party, "party")] = [*builds, _text(build, "build")]
            config[PARTY_RELEASES] = releases
            _write_config(conn, run_id, config)
        return True

    def change_parties(
        self,
        run_id: str,
        parties: Sequence[str],
        after_round: int,
        *,
        settled: Sequence[PartyRequest] = (),
    ) -> PartyChange | None:
        """Make ``parties`` a deployed run's parties from the round after ``after_round`` on:
        its recorded ``parties`` become them, and the change (who was admitted, who taken out,
        when) is added to its :data:`~rengo.tracking.party_changes.PARTY_CHANGES`, in one
        transaction.

        Parameters
        ----------
        run_id
            The run's full id.
        parties
            Its parties from now on.
        after_round
            Its last completed round (0: none).
        settled
            The run's pending party requests (:meth:`request_party_change`) this change
            settles: exactly these are removed, in the same transaction (an entry this
            release cannot read, or a request made since they were read, stays).

        Returns
        -------
        PartyChange | None
            The change recorded; None when the run already had these parties, or recorded
            none (a run open to any party names).

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            config = self._config_in(conn, run_id)
            before = config.get(PARTIES)
            if not isinstance(before, list):
                return None
            change = party_change([str(p) for p in before], parties, after_round, _now())
            if settled:
                _settle_requests(config, settled)
                _write_config(conn, run_id, config)
            if change is None:
                return None
            history = config.get(PARTY_CHANGES)
            config[PARTIES] = list(change.parties)
            config[PARTY_CHANGES] = [
                *(history if isinstance(history, list) else []),
                change.as_record(),
            ]
            _write_config(conn, run_id, config)
        return change

    def request_party_change(
        self, run_id: str, admit: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> PartyRequest:
        """Ask the coordinator serving a running deployed run to admit or remove parties:
        the request waits in the run's config (:mod:`rengo.tracking.party_requests`) until
        the coordinator applies it before its next round, recording the change as
        :meth:`change_parties` does (or drops it, naming why, in a warning event).

        Parameters
        ----------
        run_id
            The run's id or a unique prefix of it.
        admit
            Parties to admit (names by :func:`~rengo.core.roles.validate_party_name`).
        remove
            Parties to take out.

        Returns
        -------
        PartyRequest
            The request recorded.

        Raises
        ------
        ConfigError
            If neither is given, a name is invalid, in both, already a party (admit) or not
            one (remove) once the pending requests are applied, the change leaves no party,
            or the run is not a running deployed run with a party list (an interrupted one
            takes its new parties when resumed: the message says how). Nothing is recorded.
        UnknownRunError
            If no run has that id.
        """
        admitted = sorted({validate_party_name(n, "party to admit") for n in admit})
        removed = sorted({validate_party_name(n, "party to remove") for n in remove})
        if not admitted and not removed:
            raise ConfigError("name a party to admit or to remove")
        both = sorted(set(admitted) & set(removed))
        if both:
            raise ConfigError(f"{', '.join(both)}: named both to admit and to remove")
        info = self.get_run(run_id)
        full = info.run_id
        with self._transaction() as conn:
            config = self._config_in(conn, full)
            before = config.get(PARTIES)
            if not isinstance(before, list):
                raise ConfigError(
                    f"run {full} ({info.kind}) records no list of parties: only a deployed "
                    "horizontal run (`rengo coordinator` with its parties named) admits or "
                    "removes parties while it runs"
                )
            if info.status != RUNNING:
                how = (
                    "no coordinator serves it: resume it with the new parties (`rengo "
                    f"coordinator ... --resume {full} --parties ...`)"
                    if info.status == _INTERRUPTED
                    else "no round is left to take part in"
                )
                raise ConfigError(f"run {full} is {info.status}: {how}")
            pending = recorded_party_requests(config)
            now = requested_parties([str(p) for p in before], pending)
            waiting = " (with the requests not yet applied)" if pending else ""
            members = set(now)
            already = [n for n in admitted if n in members]
            if already:
                raise ConfigError(
                    f"{', '.join(already)}: already among run {full}'s parties{waiting}: "
                    f"{', '.join(now)}"
                )
            strangers = [n for n in removed if n not in members]
            if strangers:
                raise ConfigError(
                    f"{', '.join(strangers)}: not among run {full}'s parties{waiting}: "
                    f"{', '.join(now)}"
                )
            if not (members | set(admitted)) - set(removed):
                raise ConfigError(f"removing {', '.join(removed)} leaves run {full} no party")
            request = PartyRequest(tuple(admitted), tuple(removed), _now().isoformat())
            raw = config.get(PARTY_REQUESTS)  # as written: an entry it cannot read stays
            config[PARTY_REQUESTS] = [*(raw if isinstance(raw, list) else []), request.as_record()]
            _write_config(conn, full, config)
        return request

    def drop_party_requests(self, run_id: str, requests: Sequence[PartyRequest]) -> None:
        """Remove exactly ``requests`` from a deployed run's pending party requests (the
        coordinator could not apply them, or a resume was given its parties); an entry this
        release cannot read stays.

        Parameters
        ----------
        run_id
            The run's full id.
        requests
            The requests to remove, as read (:func:`recorded_party_requests`).

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            config = self._config_in(conn, run_id)
            _settle_requests(config, requests)
            _write_config(conn, run_id, config)

    def update_summary(self, run_id: str, entries: Mapping[str, Any]) -> None:
        """Set ``entries`` in a run's stored summary while it runs (the rest is kept), so a
        session that ends without finishing leaves them for the next: a deployed run's
        traffic so far (:mod:`rengo.hfl.run_traffic`). The summary the run finishes with
        replaces the whole summary.

        Parameters
        ----------
        run_id
            The run's full id.
        entries
            The summary entries to set (JSON-encodable).

        Raises
        ------
        ConfigError
            If ``entries`` is not JSON-encodable.
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            self._require_run(conn, run_id)
            (text,) = conn.execute(
                "SELECT summary FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            summary = loads_json(text) if text else {}
            summary = {**(summary if isinstance(summary, dict) else {}), **entries}
            conn.execute(
                "UPDATE runs SET summary = ? WHERE run_id = ?",
                (dumps_json(summary, "run summary"), run_id),
            )

    def record_revocation(self, run_id: str, party: str, serial: int) -> RevokedParty | None:
        """Record with a deployed run that its hub met ``party``'s revoked certificate
        ``serial`` (refused at the handshake or dropped while connected), after the run's
        last completed round, under
        :data:`~rengo.tracking.revoked_parties.REVOCATIONS`: the structured record the
        ``parties`` table reads (no party's text can forge it).

        Parameters
        ----------
        run_id
            The run's full id.
        party
            The party the certificate names.
        serial
            The certificate's serial number.

        Returns
        -------
        RevokedParty | None
            The record; None when the run has this certificate recorded already (a resumed
            run's hub meets it again).

        Raises
        ------
        UnknownRunError
            If no run has that id.
        """
        with self._transaction() as conn:
            config = self._config_in(conn, run_id)
            history = config.get(REVOCATIONS)
            history = history if isinstance(history, list) else []
            if any(
                isinstance(e, dict) and e.get("party") == party and e.get("serial") == serial
                for e in history
            ):
                return None
            (done,) = conn.execute(
                "SELECT COALESCE(MAX(round), 0) FROM rounds WHERE run_id = ?", (run_id,)
            ).fetchone()
            record = RevokedParty(party, serial, int(done), _now().isoformat())
            config[REVOCATIONS] = [*history, record.as_record()]
            _write_config(conn, run_id, config)
        return record

    def presence(self, run_id: str) -> list[PartyPresence]:
        """Every party seen by a deployed run's hub, by name (empty for other runs)."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            if stored_version(conn) < 2:  # a store written before presence was recorded
                return []
            rows = conn.execute(
                "SELECT party, online, peer, joined_at, last_seen, left_at, reason, joins, "
                "bytes_in, bytes_out, updated_at FROM presence WHERE run_id = ? ORDER BY party",
                (full,),
            ).fetchall()
        return [
            PartyPresence(
                party,
                bool(online),
                peer,
                _moment(joined),
                _moment(seen),
                _moment(left),
                reason,
                joins,
                bytes_in,
                bytes_out,
                _moment(updated),
            )
            for (
                party,
                online,
                peer,
                joined,
                seen,
                left,
                reason,
                joins,
                bytes_in,
                bytes_out,
                updated,
            ) in rows
        ]

    def running_run_ids(self) -> frozenset[str]:
        """The runs that read ``running`` now: recorded running, their process alive.

        A run whose process dies without a word commits nothing, so :meth:`data_version`
        does not change when it starts to read ``interrupted``; a reader that follows the
        store (the dashboard) compares this set between polls to notice. Only the rows
        recorded ``running`` are read, so it stays cheap on a store of many runs.
        """
        with self._reading() as conn:
            now = _now()
            rows = conn.execute(
                f"SELECT {self._run_columns} FROM runs WHERE status = ?", (RUNNING,)
            ).fetchall()
        infos = (_run_info(row, now) for row in rows)
        return frozenset(info.run_id for info in infos if info.status == RUNNING)

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the store.

        SQLite's ``PRAGMA data_version``: cheap enough to poll several times a second, so a
        dashboard can push updates the moment a coordinator writes a round.
        """
        with self._lock:
            return int(self._connection().execute("PRAGMA data_version").fetchone()[0])


__all__ = ["RunStore"]


_RUNS_OF_PROCESSES: dict[int, list[tuple[str, str]]] = {}
"""The runs each process started or took over (a resume), in that order, with the store
each is in, keyed by process id: a forked child inherits its parent's entries under the
parent's id, so it never takes them for its own."""


def _note_run_of_this_process(store_path: Path, run_id: str) -> None:
    runs = _RUNS_OF_PROCESSES.setdefault(os.getpid(), [])
    runs.append((str(Path(store_path).resolve()), run_id))


def last_run_of_this_process(store_path: str | Path) -> str | None:
    """The run this process last started or took over (resumed) in the store at
    ``store_path``, or None. Known from this process's own memory, not from the store's
    ``owner_pid``: another process (in another container, or one whose id was reused) may
    own a run with the same process id.

    Parameters
    ----------
    store_path
        The run store's file.

    Returns
    -------
    str | None
        The run's full id, or None where this process started or resumed no run there.
    """
    where = str(Path(store_path).resolve())
    for path, run_id in reversed(_RUNS_OF_PROCESSES.get(os.getpid(), [])):
        if path == where:
            return run_id
    return None

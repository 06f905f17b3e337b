"""One run lifecycle for every kind of run: ``with store.run(kind, config) as run:``.

Entering records the run as ``running``; leaving records how it ended, the same way
everywhere:

* the body returns: ``completed``;
* ``KeyboardInterrupt``, or an exception the body declared resumable
  (``run.resumable_errors``: e.g. a party lost mid-run when every role keeps checkpoints), or
  the store refusing a write (its disk full, read-only, held too long by another process) of
  a horizontal run or a tournament: ``interrupted`` (a run meant to be resumed), the error
  recorded as an event;
* any other exception: ``failed``, with the error recorded as an event.

The body fills ``run.summary`` (wall time is added, and the git commit of a rengo source
checkout: :mod:`rengo.tracking.source_commit`); it is stored with the final status.
:func:`open_run` gives the same context without a store - a null run whose ``run_id`` is
None - so callers have one code path whether or not they record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rengo.core.errors import ConfigError, UnrunnableClientTask
from rengo.tracking.errors import RunDeletedError, StoreReplacedError, StoreWriteRefused
from rengo.tracking.liveness import HEARTBEAT_S
from rengo.tracking.source_commit import SOURCE_COMMIT, source_commit

if TYPE_CHECKING:
    from rengo.tracking.store import RunStore

log = logging.getLogger("rengo.tracking")

COMPLETED = "completed"
FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass
class Run:
    """An open run, as its body sees it.

    Attributes
    ----------
    run_id
        The run's id in the store; None for a null run (nothing recorded).
    kind
        The run's kind (``"hfl"``, ``"hfl-deployed"``, ``"vfl"`` ...).
    summary
        Filled by the body; stored when the run finishes (with ``wall_time_s``).
    status
        ``"running"`` inside the body; the final status once the context has exited.
    store
        The store it is recorded in (None for a null run).
    """

    run_id: str | None
    kind: str
    summary: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    store: RunStore | None = field(default=None, repr=False)
    resumable_errors: tuple[type[BaseException], ...] = ()
    """Exceptions after which the run can be resumed from its checkpoints: the body sets
    them, and the run then ends ``interrupted`` instead of ``failed``."""

    @property
    def recorded(self) -> bool:
        """Whether this run is recorded in a store."""
        return self.store is not None and self.run_id is not None

    def log_event(self, level: str, message: str, round: int | None = None) -> None:
        """Record an event for this run (nothing for a null run)."""
        if self.store is not None and self.run_id is not None:
            self.store.log_event(self.run_id, level, message, round)


@contextmanager
def run_lifecycle(run: Run) -> Iterator[Run]:
    """Run the body of ``run`` and record how it ended (see the module docstring); while the
    body runs, a heartbeat tells readers the run's process is alive."""
    started = time.perf_counter()
    # asked as the run opens: the code that runs, not what the checkout holds when it ends
    commit = source_commit() if run.recorded else None
    beating = _Heartbeat(run)
    try:
        yield run
    except KeyboardInterrupt as exc:  # Ctrl-C, and SIGTERM where the CLI turns it into one
        run.status = INTERRUPTED
        _record_failure(run, exc)
        raise
    except BaseException as exc:
        resumable = bool(run.resumable_errors) and isinstance(exc, run.resumable_errors)
        run.status = INTERRUPTED if resumable or _stopped_by_store(run, exc) else FAILED
        if run.status == INTERRUPTED and isinstance(exc, (StoreWriteRefused, UnrunnableClientTask)):
            exc.interrupted_run = run.run_id  # the command says how to resume it
        _record_failure(run, exc)
        raise
    else:
        run.status = COMPLETED
    finally:
        beating.stop()
        run.summary.setdefault("wall_time_s", time.perf_counter() - started)
        if commit is not None:  # a source checkout: the version alone does not name the code
            run.summary.setdefault(SOURCE_COMMIT, commit)
        _finish(run)


def _stopped_by_store(run: Run, exc: BaseException) -> bool:
    """Whether ``exc`` is the store refusing a write (its disk full, read-only, held by
    another process) of a horizontal run or a tournament: nothing went wrong with the run
    itself, and every round and checkpoint written before stands, so once the store can be
    written ``--resume`` continues it. A vertical run resumes only from its roles'
    checkpoints, so its body says when it can (``run.resumable_errors``)."""
    return isinstance(exc, StoreWriteRefused) and not run.kind.startswith("vfl")


class _Heartbeat:
    """Writes the run's heartbeat every :data:`~rengo.tracking.liveness.HEARTBEAT_S` seconds
    from a daemon thread until :meth:`stop` (nothing for a null run)."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if run.store is not None and run.run_id is not None and not run.store.read_only:
            self._thread = threading.Thread(
                target=self._beat, name=f"rengo-heartbeat-{run.run_id}", daemon=True
            )
            self._thread.start()

    def _beat(self) -> None:
        store, run_id = self._run.store, self._run.run_id
        assert store is not None and run_id is not None
        while not self._stopped.wait(HEARTBEAT_S):
            try:
                store.heartbeat(run_id)
            except Exception:  # a closed or busy store: the run itself decides what failed
                log.debug("heartbeat of run %s not recorded", run_id, exc_info=True)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(2.0)


def _described(exc: BaseException) -> str:
    """``Name: message``, or the bare name of an exception without one (Ctrl-C's)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _record_failure(run: Run, exc: BaseException) -> None:
    try:
        if run.status == INTERRUPTED:
            run.log_event(
                "warning",
                f"run interrupted: {_described(exc)}; resume it from its checkpoints "
                f"(--resume {run.run_id})",
            )
        else:
            run.log_event("error", f"run failed: {_described(exc)}")
    except (StoreWriteRefused, RunDeletedError, StoreReplacedError) as unrecorded:  # said once
        log.debug("could not record the end of run %s: %s", run.run_id, unrecorded)
    except Exception:  # the store must not hide the error that ended the run
        log.exception("could not record the failure of run %s", run.run_id)


def _finish(run: Run) -> None:
    if run.store is None or run.run_id is None:
        return
    try:
        run.store.finish_run(run.run_id, run.status, run.summary)
    except StoreWriteRefused as exc:
        if run.status == COMPLETED:
            raise
        # its process ends: readers then take the run left running for interrupted
        log.warning("run %s is not recorded as %s: %s", run.run_id, run.status, exc)
    except (RunDeletedError, StoreReplacedError) as exc:
        if run.status == COMPLETED:
            raise
        log.debug("run %s is not recorded as %s: %s", run.run_id, run.status, exc)  # gone
    except Exception:
        if run.status == COMPLETED:
            raise
        log.exception("could not record run %s as %s", run.run_id, run.status)


@contextmanager
def start_run(
    store: RunStore,
    kind: str,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    seed: int | None = None,
) -> Iterator[Run]:
    """A new run in ``store`` for the body of the ``with`` (see :meth:`RunStore.run`)."""
    run_id = store.start_run(kind, config, name=name, seed=seed)
    with run_lifecycle(Run(run_id, kind, store=store)) as run:
        yield run


@contextmanager
def resume_run(
    store: RunStore,
    run_id: str,
    kind: str | None = None,
    *,
    reopen_completed: bool = False,
    settings: Mapping[str, Any] | None = None,
    may_change: Collection[str] = (),
) -> Iterator[Run]:
    """Continue run ``run_id`` (full id or unique prefix) for the body of the ``with``
    (``reopen_completed``: a completed run too; ``settings``: refused unless the run's
    recorded config agrees; see :meth:`RunStore.resume_run`).

    Raises
    ------
    ConfigError
        If the run is not an interrupted run of ``kind``, or was recorded with other
        settings (see :meth:`RunStore.resume_run`).
    """
    info = store.resume_run(
        run_id, kind, reopen_completed=reopen_completed, settings=settings, may_change=may_change
    )
    with run_lifecycle(Run(info.run_id, info.kind, store=store)) as run:
        yield run


@contextmanager
def open_run(
    store: RunStore | None,
    kind: str,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    seed: int | None = None,
    resume: str | None = None,
    reopen_completed: bool = False,
    may_change: Collection[str] | None = None,
) -> Iterator[Run]:
    """The run lifecycle whether or not there is a store.

    Parameters
    ----------
    store
        Where to record the run; None gives a null run (``run_id`` None, nothing recorded,
        the body runs the same).
    kind, config, name, seed
        The new run's description (ignored when resuming).
    resume
        Continue this run (full id or unique prefix) instead of starting one.
    reopen_completed
        With ``resume``: a completed run may be continued too (a run each command extends).
    may_change
        With ``resume``: compare ``config`` with the run's recorded one and refuse to resume
        it when another entry differs (see :meth:`RunStore.resume_run`); None: no check.

    Raises
    ------
    ConfigError
        If ``resume`` is given without a store, names a run of another kind, or (with
        ``may_change``) a run recorded with other settings.
    """
    if store is None:
        if resume is not None:
            raise ConfigError("resume needs the run store the run was recorded in")
        with run_lifecycle(Run(None, kind)) as run:
            yield run
        return
    if resume is not None:
        with resume_run(
            store,
            resume,
            kind,
            reopen_completed=reopen_completed,
            settings=None if may_change is None else config,
            may_change=may_change or (),
        ) as run:
            yield run
        return
    with start_run(store, kind, config, name=name, seed=seed) as run:
        yield run

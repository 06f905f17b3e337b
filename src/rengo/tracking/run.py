"""One run lifecycle for every kind of run: ``with store.run(kind, config) as run:``.

Entering records the run as ``running``; leaving records how it ended, the same way
everywhere:

* the body returns: ``completed``;
* ``KeyboardInterrupt``: ``interrupted`` (a run meant to be resumed);
* any other exception: ``failed``, with the error recorded as an event.

The body fills ``run.summary`` (wall time is added); it is stored with the final status.
:func:`open_run` gives the same context without a store - a null run whose ``run_id`` is
None - so callers have one code path whether or not they record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rengo.core.errors import ConfigError

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
    """Run the body of ``run`` and record how it ended (see the module docstring)."""
    started = time.perf_counter()
    try:
        yield run
    except KeyboardInterrupt:
        run.status = INTERRUPTED
        raise
    except BaseException as exc:
        run.status = FAILED
        _record_failure(run, exc)
        raise
    else:
        run.status = COMPLETED
    finally:
        run.summary.setdefault("wall_time_s", time.perf_counter() - started)
        _finish(run)


def _record_failure(run: Run, exc: BaseException) -> None:
    try:
        run.log_event("error", f"run failed: {type(exc).__name__}: {exc}")
    except Exception:  # the store must not hide the error that ended the run
        log.exception("could not record the failure of run %s", run.run_id)


def _finish(run: Run) -> None:
    if run.store is None or run.run_id is None:
        return
    try:
        run.store.finish_run(run.run_id, run.status, run.summary)
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
def resume_run(store: RunStore, run_id: str, kind: str | None = None) -> Iterator[Run]:
    """Continue run ``run_id`` (full id or unique prefix) for the body of the ``with``.

    Raises
    ------
    ConfigError
        If ``kind`` is given and the run is of another kind.
    """
    info = store.get_run(run_id)
    if kind is not None and info.kind != kind:
        raise ConfigError(f"run {info.run_id} is a {info.kind!r} run, not {kind!r}")
    info = store.resume_run(info.run_id)
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

    Raises
    ------
    ConfigError
        If ``resume`` is given without a store, or names a run of another kind.
    """
    if store is None:
        if resume is not None:
            raise ConfigError("resume needs the run store the run was recorded in")
        with run_lifecycle(Run(None, kind)) as run:
            yield run
        return
    if resume is not None:
        with resume_run(store, resume, kind) as run:
            yield run
        return
    with start_run(store, kind, config, name=name, seed=seed) as run:
        yield run

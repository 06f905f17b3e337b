"""Errors of the run store: a run id that matches nothing or several runs, a run deleted while
it was recorded, a closed store, a store another process holds too long, a damaged file, a
file that cannot be written."""

from __future__ import annotations

from rengo.core.errors import ConfigError, RengoError


class UnknownRunError(ConfigError, LookupError):
    """No recorded run has this id (or an id starting with this prefix)."""


class AmbiguousRunError(ConfigError, LookupError):
    """An id prefix matches several runs; the message lists them so the user can type more."""


class RunDeletedError(RengoError, LookupError):
    """The run this process is recording was deleted from the store meanwhile (``rengo runs
    delete --force``): nothing more is recorded for it, and no part of it is written back."""


class StoreClosedError(RengoError):
    """The run store was used after :meth:`RunStore.close`."""


class StoreReadOnlyError(RengoError):
    """A write was attempted through a store opened with ``read_only=True`` (a viewer)."""


class StoreReplacedError(RengoError):
    """The run store's file was replaced (a backup restored over it, ``mv``) or deleted
    since this process opened it: a writer would write, and a reader read, a file that no
    path names any more; the message names the file and the way on (open it again)."""


class StoreCorruptError(ConfigError):
    """The run store's file is not a readable SQLite database (truncated, overwritten,
    emptied); the message names the file and how to recover."""


class StoreWriteRefused(RengoError):
    """The run store refused a write while the run itself was fine (:class:`StoreBusyError`,
    :class:`StoreUnwritableError`): what was written before stands, so a run it stopped is
    left ``interrupted``, to be continued once the store can be written.

    ``interrupted_run`` is the id of the run this error left ``interrupted`` (to be continued
    with ``--resume``), set by the run lifecycle; None where no run was left so."""

    interrupted_run: str | None = None


class StoreBusyError(StoreWriteRefused):
    """Another process held the run store's write lock for longer than a write waits (a
    ``rengo runs compact`` rewriting a large store, a deletion of a long run); the message
    names the file and what to do. Nothing of the write was recorded; what was before stands."""


class StoreUnwritableError(StoreWriteRefused):
    """The run store's file cannot be written: its disk is full, or the file or its folder
    is read-only; the message names the file, what SQLite said and the fix. What was written
    before stands (a run's completed rounds and checkpoints)."""

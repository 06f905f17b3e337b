"""Signals held back while a few lines must run whole.

Python runs a signal's handler between two bytecodes of the main thread, so a Ctrl-C
(``KeyboardInterrupt``) or the CLI's SIGTERM/SIGHUP (``Terminated``) can land anywhere:
also after a lock was taken or a transaction begun but before the ``with`` that ends it was
entered, or as that ``with`` starts to leave. Nothing then ends them: CI saw ``rengo run``,
stopped by Ctrl-C, fail to record its run interrupted ("cannot start a transaction within a
transaction"), its store's lock still held. Inside :func:`signals_held` such a signal is
noted instead, and acted on (its handler called) as the body is left, once what the body
holds is given back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

Handler = Callable[[int, FrameType | None], object]

HELD_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals held: those that stop a command (Windows has no SIGHUP)."""

_depth = 0
"""How many :func:`signals_held` bodies the main thread is in."""
_originals: dict[int, Handler] = {}
"""The handler each held signal had, while :func:`_note` stands in for it."""
_pending: list[int] = []
"""The signals that arrived while held, in order, each once."""


def _note(signum: int, frame: FrameType | None) -> None:
    """The held signals' handler: note the signal while held; act on it at once otherwise
    (left installed when its restoring was itself interrupted)."""
    if _depth:
        if signum not in _pending:
            _pending.append(signum)
        return
    original = _originals.get(signum)
    if original is not None:
        original(signum, frame)


@contextmanager
def signals_held() -> Iterator[None]:
    """While the body runs in the main thread, note SIGINT, SIGTERM and SIGHUP instead of
    running their Python handlers; run them, in the order the signals came, as it is left.

    Only signals whose handler is Python code are held (a signal with the default action,
    such as an unhandled SIGTERM, ends the process as before: nothing half-done survives
    it). Bodies nest; the outermost acts. In other threads the body just runs: Python runs
    signal handlers in the main thread only. Where two signals come while held, the first
    handler that raises ends the body; later ones are dropped. Keep the body short and
    free of waits on others: a Ctrl-C waits for it.

    Returns
    -------
    contextlib.AbstractContextManager[None]
        Use as ``with signals_held(): ...``.
    """
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        if _depth == 1:
            _stand_in()
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            _act_on_pending()


def _stand_in() -> None:
    """Install :func:`_note` for every held signal that has a Python handler."""
    for signum in HELD_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is _note or not callable(handler):
            continue
        _originals[signum] = handler
        signal.signal(signum, _note)


def _act_on_pending() -> None:
    """Give every held signal its handler back, then run the handlers of those that came.

    The noted signals are taken first: one that comes while the handlers go back is acted on
    at once (by :func:`_note`, or its own handler), and none is acted on twice."""
    came = list(_pending)
    _pending.clear()
    for signum in list(_originals):
        if signal.getsignal(signum) is _note:  # not replaced in the body
            signal.signal(signum, _originals[signum])
        del _originals[signum]
    for signum in came:
        handler = signal.getsignal(signum)
        if callable(handler):
            handler(signum, None)

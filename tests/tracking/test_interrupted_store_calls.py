"""A Ctrl-C (or the CLI's SIGTERM/SIGHUP) landing anywhere in a run-store call leaves the
store usable: no transaction left open, no lock left held.

CI once saw ``rengo run`` stopped by Ctrl-C fail to record its run interrupted ("cannot
start a transaction within a transaction"): the signal landed after the store had begun a
transaction but before the ``with`` around it had been entered, so nothing ever ended it,
and its lock stayed held. Here a real SIGINT is raised at every point of a store call where
Python acts on signals (each function entry and each return from a C call, found with a
profile hook), one point per call, and the store is then checked from this thread and from
another.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from rengo.tracking import RunStore

# The events at which CPython runs a pending signal's handler: a Python function's entry
# (RESUME) and the return of a C call (the check after CALL).
_SIGNAL_POINTS = ("call", "c_return")


def _interrupt_at(point: int) -> Callable[[FrameType, str, Any], None]:
    """A profile hook that raises SIGINT at the ``point``-th signal point, then removes itself."""
    seen = 0

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal seen
        if event not in _SIGNAL_POINTS:
            return
        seen += 1
        if seen == point:
            sys.setprofile(None)
            signal.raise_signal(signal.SIGINT)

    return hook


def _signal_points(call: Callable[[], object]) -> int:
    """How many signal points one ``call`` passes."""
    seen = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal seen
        seen += event in _SIGNAL_POINTS

    sys.setprofile(count)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


def _written_from_another_thread(store: RunStore, run_id: str) -> bool:
    """Whether another thread can write to the store within 10 s (no lock left held)."""
    done = threading.Event()

    def write() -> None:
        store.log_event(run_id, "info", "from another thread")
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return done.wait(10.0)


def _go_on_after(store: RunStore, run_id: str, point: int, interrupt: BaseException | None) -> None:
    """The store goes on after an interrupt at ``point``, in this thread and any other."""
    store.log_event(run_id, "info", f"after point {point}")
    assert store.get_run(run_id).status == "running"
    assert _written_from_another_thread(store, run_id), f"lock left held at {point}"


@pytest.mark.parametrize("what", ["write", "read"])
def test_a_signal_anywhere_in_a_store_call_leaves_the_store_usable(
    tmp_path: Path, what: str
) -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"rounds": 1})
        call: Callable[[], object] = (
            (lambda: store.log_event(run_id, "info", "a step"))
            if what == "write"
            else (lambda: store.get_run(run_id))
        )
        points = _signal_points(call)
        assert points > 10
        interrupted = 0
        for point in range(1, points + 1):
            sys.setprofile(_interrupt_at(point))
            try:
                call()
            except KeyboardInterrupt as exc:
                interrupted += 1
                # as the CLI does, record while the interrupt (its traceback: the frames
                # of the interrupted call) is still held
                _go_on_after(store, run_id, point, exc)
            else:
                _go_on_after(store, run_id, point, None)
            finally:
                sys.setprofile(None)
        assert interrupted == points  # each signal reached the caller, none was lost
        events = [e.message for e in store.events(run_id)]
        assert events.count("from another thread") == points


def test_a_ctrl_c_in_a_snapshot_body_acts_at_once(tmp_path: Path) -> None:
    # the body is the caller's (an export writing a large file): its Ctrl-C is not held
    steps: list[str] = []
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"rounds": 1})
        with pytest.raises(KeyboardInterrupt), store.snapshot():
            store.get_run(run_id)
            signal.raise_signal(signal.SIGINT)
            steps.append("body went on")
        assert steps == []
        store.log_event(run_id, "info", "after")  # and the store goes on

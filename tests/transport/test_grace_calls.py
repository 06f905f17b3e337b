"""A stopped hub stream is cancelled if still stuck after its grace, and no stopped stream
costs a thread of its own: a party reconnecting in a loop used to keep one timer thread (and
its session) alive per connection of the last five seconds."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from rengo.transport import grpc_hub
from rengo.transport.grace_calls import GraceCalls


class _Context:
    """A stream's gRPC context: records whether the hub cancelled it."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()


def test_stopping_many_sessions_adds_at_most_one_thread() -> None:
    before = threading.active_count()
    sessions = [grpc_hub._Session(f"p{i}", "ipv4:10.0.0.1:1", _Context()) for i in range(50)]
    for session in sessions:
        session.served.set()  # its stream ended: nothing to cancel
        session.stop(None, "left")
    assert threading.active_count() - before <= 1


def test_a_stream_stuck_after_its_grace_is_cancelled_and_one_that_ended_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grpc_hub, "_STOP_GRACE_S", 0.01)
    stuck, ended, later = _Context(), _Context(), _Context()
    done = grpc_hub._Session("p0", "ipv4:10.0.0.1:1", ended)
    done.served.set()
    done.stop(None, "left")
    # a stuck stream's blocked writer holds its session
    blocked = [
        grpc_hub._Session(f"p{i}", "ipv4:10.0.0.1:2", c) for i, c in ((1, stuck), (2, later))
    ]
    for session in blocked:  # queued after p0's
        session.stop(None, "left")
    assert stuck.cancelled.wait(30) and later.cancelled.wait(30)
    assert not ended.cancelled.is_set()
    assert all(not s.served.is_set() for s in blocked)


def test_calls_run_in_deadline_order_and_a_failing_call_does_not_stop_the_rest() -> None:
    calls = GraceCalls()
    ran: list[str] = []
    finished = threading.Event()

    def fail() -> None:
        ran.append("fail")
        raise RuntimeError("boom")

    calls.call_later(0.03, lambda: (ran.append("last"), finished.set()))
    calls.call_later(0.0, fail)
    calls.call_later(0.01, lambda: ran.append("second"))
    assert finished.wait(30)
    assert ran == ["fail", "second", "last"]
    assert calls.pending() == 0


def test_a_stopped_session_whose_stream_ended_is_freed_before_its_grace() -> None:
    session = grpc_hub._Session("p0", "ipv4:10.0.0.1:1", _Context())
    session.served.set()
    session.stop(None, "left")
    gone = weakref.ref(session)
    del session
    gc.collect()
    assert gone() is None

"""signals_held: a signal that comes in the body is acted on as the body is left, by the
handler it would have had, and nothing else about the process's signal handling changes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from rengo.core.held_signals import signals_held


@pytest.fixture
def sigterm_recorded() -> Iterator[list[int]]:
    """SIGTERM handled by Python code that records it (and given back after the test)."""
    came: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        came.append(signum)

    previous = signal.signal(signal.SIGTERM, record)
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_ctrl_c_in_the_body_is_raised_as_the_body_is_left_not_before() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), signals_held():
        signal.raise_signal(signal.SIGINT)
        steps.append("body went on")
    assert steps == ["body went on"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nested_bodies_act_only_as_the_outermost_is_left() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), signals_held():
        with signals_held():
            signal.raise_signal(signal.SIGINT)
        steps.append("outer body went on")
    assert steps == ["outer body went on"]


def test_without_a_signal_the_handlers_are_given_back_unchanged(
    sigterm_recorded: list[int],
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_held():
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
    assert {s: signal.getsignal(s) for s in before} == before
    assert sigterm_recorded == []


def test_signals_that_came_are_each_handled_once_in_the_order_they_came(
    sigterm_recorded: list[int],
) -> None:
    with pytest.raises(KeyboardInterrupt), signals_held():
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert sigterm_recorded == []
    assert sigterm_recorded == [signal.SIGTERM]


def test_a_signal_with_no_python_handler_is_left_alone() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with signals_held():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            signal.raise_signal(signal.SIGTERM)  # ignored, as without the body
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_handler_installed_in_the_body_is_kept() -> None:
    def mine(signum: int, frame: FrameType | None) -> None:
        pass

    try:
        with signals_held():
            signal.signal(signal.SIGINT, mine)
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_in_another_thread_the_body_changes_no_handler() -> None:
    seen: list[object] = []

    def body() -> None:
        with signals_held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10.0)
    assert seen == [signal.default_int_handler]

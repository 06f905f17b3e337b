"""Roles of a deployed run in threads of the test process: each keeps its result or error."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """``fn()`` in a daemon thread; :meth:`outcome` is its result, or the error it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None

        def target() -> None:
            try:
                self._value = fn()
            except BaseException as exc:
                self._value = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def outcome(self, timeout: float = 60.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the role did not finish"
        return self._value


def serve(
    start: Callable[[Callable[[Any], None]], Any], wait: float = 20.0
) -> tuple[Background, str]:
    """Start a coordinator, ``start(on_listening)``, in the background; its address."""
    ready = threading.Event()
    address: list[str] = []

    def listening(hub: Any) -> None:
        address.append(hub.address)
        ready.set()

    coordinator = Background(lambda: start(listening))
    assert ready.wait(wait) or not coordinator.thread.is_alive(), "the hub did not listen"
    assert address, f"the coordinator failed before listening: {coordinator.outcome(1)}"
    return coordinator, address[0]


def run_all(roles: dict[str, Callable[[], Any]], timeout: float = 60.0) -> dict[str, Any]:
    """Run every role at once; each one's result or error, by name."""
    started = {name: Background(fn) for name, fn in roles.items()}
    return {name: role.outcome(timeout) for name, role in started.items()}

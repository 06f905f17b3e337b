"""Who is online: a real hub's joins, heartbeats and leaves reach the run store, where a
dashboard in another process reads them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rengo.deploy.coordinator import recorded_hub
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def _until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _party(port: int, name: str) -> PartyConnection:
    return PartyConnection(
        f"127.0.0.1:{port}",
        name,
        PartyCredentials(insecure=True),
        heartbeat_interval=0.2,
        backoff=Backoff(initial=0.05, maximum=0.2, give_up_after=10.0),
    ).start()


def test_joins_heartbeats_and_leaves_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl-deployed", {})
        hub, _ = recorded_hub("127.0.0.1:0", HubSecurity(insecure=True), 0.2, store, run)
        port = hub.start()
        bank, clinic = _party(port, "bank"), _party(port, "clinic")
        try:
            with RunStore(path, read_only=True) as viewer:  # as the dashboard sees it

                def online() -> set[str]:
                    return {p.party for p in viewer.presence(run) if p.online}

                _until(lambda: online() == {"bank", "clinic"}, "both parties online")
                first = {p.party: p for p in viewer.presence(run)}["bank"]
                assert first.joins == 1 and first.peer and first.joined_at is not None
                # The periodic refresh moves "last heartbeat" forward while connected.
                _until(
                    lambda: viewer.presence(run)[0].last_seen > first.last_seen,  # type: ignore[operator]
                    "a fresher heartbeat",
                )
                clinic.close()
                _until(lambda: online() == {"bank"}, "clinic offline")
                gone = {p.party: p for p in viewer.presence(run)}["clinic"]
                assert gone.reason == "left" and gone.left_at is not None
                clinic = _party(port, "clinic")  # it comes back
                _until(lambda: online() == {"bank", "clinic"}, "clinic back")
                again = {p.party: p for p in viewer.presence(run)}["clinic"]
                assert again.joins == 2 and again.reason is None
                hub.close()
                states = {p.party: (p.online, p.reason) for p in viewer.presence(run)}
                assert states == {
                    "bank": (False, "coordinator shut down"),
                    "clinic": (False, "coordinator shut down"),
                }
                events = [e.message for e in viewer.events(run)]
                assert events[-1].startswith("coordinator stopped serving")
        finally:
            bank.close()
            clinic.close()
            hub.close()


def test_no_store_means_no_presence_bookkeeping() -> None:
    hub, record = recorded_hub("127.0.0.1:0", HubSecurity(insecure=True), 0.2, None, None)
    port = hub.start()
    party = _party(port, "bank")
    try:
        _until(lambda: hub.client_ids() == ["bank"], "the party")
        record("info", "nothing to record into")  # a no-op, not an error
        assert [p.name for p in hub.parties()] == ["bank"] and hub.parties()[0].connected
    finally:
        party.close()
        hub.close()
    assert not hub.parties()[0].connected and hub.closing


@pytest.mark.parametrize(
    ("goodbye", "said"),
    [
        (True, "coordinator stopped serving: told bank, clinic the run completed"),
        (
            False,
            "coordinator stopped serving: bank, clinic not told the run ended (it can be "
            "resumed): they keep reconnecting",
        ),
    ],
)
def test_the_closing_line_says_whether_the_parties_were_told_the_end(
    tmp_path: Path, goodbye: bool, said: str
) -> None:
    """It read "coordinator stopped serving (disconnected parties: a, b, c)" at the end of a
    completed run as of an interrupted one, like a fault, and named a party twice when a
    second instance had replaced the first."""
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("hfl-deployed", {})
        hub, _ = recorded_hub("127.0.0.1:0", HubSecurity(insecure=True), 0.2, store, run)
        port = hub.start()
        bank, clinic = _party(port, "bank"), _party(port, "clinic")
        try:
            _until(lambda: set(hub.client_ids()) == {"bank", "clinic"}, "both connected")
            hub.close(goodbye=goodbye, outcome="completed")
            assert [e.message for e in store.events(run)][-1] == said
        finally:
            bank.close()
            clinic.close()
            hub.close()

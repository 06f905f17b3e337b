"""``serve_role`` / ``run_role``: any protocol's roles over the gRPC hub, fail-fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from background import run_all, serve

from rengo.core.errors import PeerFailure
from rengo.deploy import run_role, serve_role
from rengo.transport.channel import Channel
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)
NAMES = ["p0", "p1"]


def run(certs: Path, coordinator: Any, party: Any) -> dict[str, Any]:
    hub, address = serve(
        lambda listening: serve_role(
            coordinator,
            "127.0.0.1:0",
            HubSecurity.from_directory(certs, parties=NAMES),
            NAMES,
            join_timeout=20,
            heartbeat_interval=0.5,
            on_listening=listening,
        )
    )

    def join(name: str) -> Any:
        return run_role(
            address,
            name,
            lambda ch: party(name, ch),
            PartyCredentials.from_directory(certs, name),
            heartbeat_interval=0.5,
            backoff=FAST,
            linger=5.0,
        )

    outcome = run_all({name: (lambda n=name: join(n)) for name in NAMES})
    return {**outcome, "coordinator": hub.outcome()}


@pytest.mark.timeout(60)
def test_roles_talk_through_the_hub_and_return_their_results(certs: Path) -> None:
    def coordinator(ch: Channel) -> int:
        for name in NAMES:
            ch.scope("echo").send(name, "ask", len(name))
        return sum(ch.scope("echo").recv(name, "answer") for name in NAMES)

    def party(name: str, ch: Channel) -> int:
        value = ch.scope("echo").recv("coordinator", "ask")
        ch.scope("echo").send("coordinator", "answer", value * 10)
        return value

    outcome = run(certs, coordinator, party)
    assert (outcome["p0"], outcome["p1"]) == (2, 2)
    assert outcome["coordinator"] == 40


@pytest.mark.timeout(60)
def test_a_coordinator_role_that_raises_stops_every_party(certs: Path) -> None:
    def coordinator(ch: Channel) -> None:
        raise KeyError("the plan is missing")

    def party(name: str, ch: Channel) -> None:
        ch.recv("coordinator", "plan", timeout=60)

    outcome = run(certs, coordinator, party)
    assert isinstance(outcome["coordinator"], KeyError)
    for name in NAMES:
        assert isinstance(outcome[name], PeerFailure)
        assert (outcome[name].role, outcome[name].reason) == ("coordinator", "KeyError")

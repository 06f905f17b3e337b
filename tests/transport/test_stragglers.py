"""The straggler rule: once most of an exchange's parties answered, the rest are waited for a
bounded time scaled by the others' pace - a party that stays connected and silent cannot hold
a deployed round, and parties that fail at once cannot shorten the others' wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.codec import decode, encode
from rengo.core.errors import ConfigError
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.pool import Request
from rengo.transport.straggler import StragglerWait

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=1.5)
PARTIES = ["alice", "bob", "carol"]

times = st.floats(min_value=0.0, max_value=1e5, allow_nan=False)


@given(st.lists(times, max_size=12), st.integers(1, 12))
def test_no_deadline_until_the_quorum_answered(answered: list[float], parties: int) -> None:
    answered = answered[:parties]
    rule = StragglerWait()
    deadline = rule.deadline(answered, parties)
    if parties < 2 or len(answered) < rule.needed(parties):
        assert deadline is None
    else:
        assert deadline is not None


@given(
    st.lists(times, min_size=1, max_size=12),
    st.floats(0.01, 1.0),
    st.floats(1.0, 100.0),
    st.floats(0.0, 1e4),
)
def test_the_deadline_leaves_the_stragglers_factor_times_the_quorum_and_the_grace(
    answered: list[float], quorum: float, factor: float, grace: float
) -> None:
    parties = len(answered) + 1  # one party has not answered
    rule = StragglerWait(quorum=quorum, factor=factor, grace=grace)
    needed = rule.needed(parties)
    deadline = rule.deadline(answered, parties)
    if len(answered) < needed:
        assert deadline is None
        return
    took = sorted(answered)[needed - 1]
    assert deadline is not None
    assert deadline >= factor * took and deadline >= took + grace
    assert deadline == max(factor * took, took + grace)
    # only the quorum's time counts: later answers, however late, do not move the deadline
    later = [t if t <= took else took + 1e6 for t in answered]
    assert rule.deadline(later, parties) == deadline


def test_half_of_the_parties_rounded_up_start_the_clock() -> None:
    rule = StragglerWait()
    assert [rule.needed(n) for n in (1, 2, 3, 4, 5, 10)] == [1, 1, 2, 2, 3, 5]
    assert rule.deadline([2.0], 3) is None
    assert rule.deadline([2.0, 5.0], 3) == 65.0  # 5 s + 60 s grace > 10 x 5 s
    assert rule.deadline([2.0, 50.0], 3) == 500.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"quorum": 0.0}, "quorum must be in"),
        ({"quorum": 1.5}, "quorum must be in"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"factor": float("nan")}, "factor must be >= 1"),
        ({"grace": -1.0}, "grace must be >= 0"),
        ({"grace": float("inf")}, "grace must be >= 0"),
        ({"slowest_link": 0.0}, "slowest_link must be > 0"),
        ({"slowest_link": float("nan")}, "slowest_link must be > 0"),
    ],
)
def test_nonsense_settings_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StragglerWait(**options)


def test_a_transfer_counts_in_full_at_the_slowest_link_rate_and_a_trickle_gains_little() -> None:
    rule = StragglerWait(slowest_link=16_000.0)
    assert rule.transfer_allowance(300.0, 40_000_000) == 300.0  # 40 MB over 1 Mbit/s
    assert rule.transfer_allowance(300.0, 1_600) == pytest.approx(0.1)  # a byte at a time
    assert rule.transfer_allowance(-1.0, 10) == 0.0


# -- over a real hub --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, PARTIES)
    return directory


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def hub(certs: Path) -> Iterator[GrpcHub]:
    security = HubSecurity.from_directory(certs, parties=PARTIES)
    stragglers = StragglerWait(factor=2.0, grace=1.0)
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.2, stragglers=stragglers) as hub:
        yield hub


@pytest.fixture
def parties(
    hub: GrpcHub, certs: Path, release: threading.Event
) -> Iterator[dict[str, PartyConnection]]:
    """alice and bob double what they get; carol takes it and never answers (until the test
    ends), while her connection's heartbeat goes on."""

    def doubling(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
        return encode(decode(bytearray(payload)) * 2), None

    def silent(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
        release.wait(120)
        return payload, None

    conns = {
        name: PartyConnection(
            hub.address,
            name,
            PartyCredentials.from_directory(certs, name),
            handler=silent if name == "carol" else doubling,
            heartbeat_interval=0.2,
            backoff=FAST,
        ).start()
        for name in PARTIES
    }
    for conn in conns.values():
        conn.wait_connected(10)
    yield conns
    release.set()
    for conn in conns.values():
        conn.close()


def ask(names: list[str]) -> list[Request]:
    return [Request(name, "x", encode(np.array([float(i)]))) for i, name in enumerate(names)]


@pytest.mark.timeout(60)
def test_a_silent_party_is_timed_out_once_the_others_answered(
    hub: GrpcHub, parties: dict[str, PartyConnection]
) -> None:
    started = time.perf_counter()
    replies = list(hub.request(ask(["carol", "alice", "bob"])))  # no timeout at all
    waited = time.perf_counter() - started
    assert [r.client_id for r in replies] == ["carol", "alice", "bob"]
    assert [r.ok for r in replies] == [False, True, True]
    assert replies[0].timed_out, replies[0].error
    assert "2 of 3 parties answered (the first 2 within" in str(replies[0].error)
    assert decode(bytearray(replies[2].payload))[0] == 4.0
    assert waited < 30  # the others took well under a second; 1 s grace, polled at 0.2 s
    assert "carol" in hub.client_ids()  # timed out, not disconnected: its heartbeat went on


@pytest.mark.timeout(60)
def test_parties_that_fail_at_once_do_not_start_the_stragglers_clock(
    hub: GrpcHub, parties: dict[str, PartyConnection]
) -> None:
    # "dave" is not connected: his request fails at once, which is no answer; carol (1 of 2,
    # the quorum) is waited for up to the request's own timeout, not cut off after 1 s
    started = time.perf_counter()
    replies = list(hub.request(ask(["dave", "carol"]), timeout=3.0))
    waited = time.perf_counter() - started
    assert replies[0].error == "not connected"
    assert replies[1].error == "timed out (limit 3s)"
    assert waited >= 2.9


@pytest.mark.timeout(60)
def test_the_request_timeout_still_applies_when_it_comes_first(
    hub: GrpcHub, parties: dict[str, PartyConnection]
) -> None:
    (carol, alice) = hub.request(ask(["carol", "alice"]), timeout=0.5)
    assert alice.ok
    assert carol.error == "timed out (limit 0.5s)"


@pytest.mark.timeout(60)
def test_a_wait_nothing_bounds_names_the_silent_party_and_what_would_bound_it(
    certs: Path, release: threading.Event
) -> None:
    """carol alone takes the request and never answers: no timeout, and the straggler
    rule's clock needs 1 answer of 1. Before, the hub waited without a word (a deployed
    round with half its parties silent hung with nothing on the operator's console)."""
    security = HubSecurity.from_directory(certs, parties=PARTIES)
    events: list[tuple[str, str]] = []
    with GrpcHub(
        "127.0.0.1:0",
        security,
        heartbeat_interval=0.2,
        stragglers=StragglerWait(factor=2.0, grace=1.0),
        waiting_notice=0.5,
        on_event=lambda level, message: events.append((level, message)),
    ) as hub:

        def silent(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
            release.wait(120)
            return payload, None

        carol = PartyConnection(
            hub.address,
            "carol",
            PartyCredentials.from_directory(certs, "carol"),
            handler=silent,
            heartbeat_interval=0.2,
            backoff=FAST,
        ).start()
        carol.wait_connected(10)
        hub.exchange_context = "round 2"  # as a deployed coordinator sets it
        replies: list[Any] = []
        asking = threading.Thread(target=lambda: replies.extend(hub.request(ask(["carol"]))))
        asking.start()

        def notices() -> list[str]:
            return [m for level, m in events if level == "warning" and m.startswith("waiting ")]

        deadline = time.monotonic() + 30
        while not notices() and time.monotonic() < deadline:
            time.sleep(0.05)
        release.set()  # carol answers: the request ends
        asking.join(30)
        carol.close()
    assert notices(), events
    assert (
        "for 1 of 1 parties to answer request 'x' of round 2: carol (0 answered; nothing bounds "
        "this wait "
        "until 1 of 1 answered (the straggler rule); to bound it, set a round timeout"
    ) in notices()[0]
    # the operator is told the exact setting and flag, and what a round timeout does
    assert "`round_timeout = SECONDS` under [job] in the job file" in notices()[0]
    assert "`--set job.round_timeout=SECONDS`" in notices()[0]
    assert "restarted with `--resume RUN`" in notices()[0]
    assert "within that many seconds is then left out of the round" in notices()[0]
    assert [r.ok for r in replies] == [True]

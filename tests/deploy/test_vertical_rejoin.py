"""Which stops of a deployed vertical run are taken back (a lost link, a restarted party)
and which end it (a party's own failure), and how long a party keeps joining again."""

from __future__ import annotations

import time

import pytest

from rengo.core.errors import (
    ChannelTimeout,
    ConfigError,
    LinkDropped,
    PeerFailure,
    ProtocolError,
    StalePartyError,
)
from rengo.deploy.vertical_rejoin import RejoinClock, link_failure, party_may_rejoin


def _stale() -> ProtocolError:
    """What a party's wait raises once its link came back to a new hub of the run."""
    try:
        raise ProtocolError("party bank stopped") from StalePartyError("started again")
    except ProtocolError as exc:
        return exc


@pytest.mark.parametrize(
    "reason",
    [
        "LinkDropped",
        "left and did not come back within 30s",
        "connection lost (RpcError)",
        "no heartbeat for 10s",
        "restarted mid-run: its new process has none of the run's state",
    ],
)
def test_a_lost_link_or_a_restarted_party_is_taken_back(reason: str) -> None:
    assert link_failure(PeerFailure("bank", reason))
    assert party_may_rejoin(PeerFailure("bank", reason))


@pytest.mark.parametrize(
    "failure",
    [
        PeerFailure("bank", "DataError"),
        PeerFailure("bank", "ConfigError"),
        PeerFailure("bank", "ProtocolError"),
        PeerFailure("card", "InboxFlooded by bank"),
        PeerFailure("bank", "did not rejoin within 60s after the run stopped (...)"),
        ConfigError("bank's table cannot be read"),
        ChannelTimeout("card waited for 'x' from bank in vain"),
    ],
)
def test_a_role_that_failed_on_its_own_ends_the_run(failure: Exception) -> None:
    assert not link_failure(failure)
    assert not party_may_rejoin(failure)


def test_a_party_joins_again_after_its_own_link_dropped_or_came_back_to_a_new_hub() -> None:
    assert party_may_rejoin(LinkDropped("bank: the link dropped"))
    assert party_may_rejoin(_stale())
    assert not party_may_rejoin(ProtocolError("bank: the coordinator ended the run"))


def test_a_party_without_a_grace_stops_at_once() -> None:
    assert not RejoinClock("bank", 0.0).may_retry(LinkDropped("dropped"))


def test_a_party_keeps_joining_until_its_grace_passed_then_raises_what_stopped_the_run() -> None:
    clock = RejoinClock("bank", 0.05)
    stopped = PeerFailure("card", "LinkDropped")
    assert clock.may_retry(stopped)
    assert clock.may_retry(ChannelTimeout("bank not connected after 0.05s"))  # no hub yet
    assert not clock.may_retry(ProtocolError("the coordinator ended the run"))
    time.sleep(0.06)
    with pytest.raises(PeerFailure) as raised:
        clock.may_retry(ChannelTimeout("bank not connected after 0.05s"))
    assert raised.value is stopped


def test_a_party_welcomed_again_gets_a_new_grace_for_a_later_stop() -> None:
    clock = RejoinClock("bank", 0.05)
    assert clock.may_retry(LinkDropped("dropped"))
    time.sleep(0.06)
    clock.joined()
    assert clock.remaining(300.0) == 300.0
    later = PeerFailure("telecom", "LinkDropped")
    assert clock.may_retry(later)
    assert clock.first is later

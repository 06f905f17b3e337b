"""SecureBoost's coordinator hears when each tree is complete and reports it as an epoch of
the run (a deployed run's record and the dashboard follow the trees; before, it heard this
only in a resumable run, and a deployed SecureBoost run showed no progress at all), and it
refuses notices a label party could not truthfully send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rengo.core.errors import ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.transport.channel import Channel, LocalBus, run_roles
from rengo.vfl.progress import VerticalProgress
from rengo.vfl.secureboost import SecureBoostConfig, secureboost_coordinator
from rengo.vfl.secureboost.protocol import REQUEST, SCOPE

GUEST, HOST = "card", "bank"
CONFIG = SecureBoostConfig(n_trees=3)


def label_party(messages: list[dict[str, Any]]) -> Callable[[Channel], None]:
    """A label party that sends ``messages`` to the coordinator, one request each."""

    def role(channel: Channel) -> None:
        sbt = channel.scope(SCOPE)
        for request, message in enumerate(messages):
            sbt.scope(request=request).send(COORDINATOR, REQUEST, message)

    return role


def coordinate(messages: list[dict[str, Any]]) -> tuple[Any, list[VerticalProgress]]:
    events: list[VerticalProgress] = []
    bus = LocalBus([COORDINATOR, GUEST, HOST], timeout=10.0)
    results = run_roles(
        bus,
        {
            COORDINATOR: lambda ch: secureboost_coordinator(
                ch, [GUEST, HOST], GUEST, CONFIG, progress=events.append
            ),
            GUEST: label_party(messages),
            HOST: lambda ch: None,
        },
    )
    return results[COORDINATOR], events


def tree(trees: int, stopped: bool) -> dict[str, Any]:
    return {"checkpoint": {"trees": trees, "stopped": stopped}}


def test_each_tree_the_label_party_completes_is_reported_as_an_epoch_without_a_loss() -> None:
    report, events = coordinate([tree(1, False), tree(2, True), {"report": {"trees": 2}}])
    assert report.trees == 2
    ends = [e for e in events if e.ends_epoch]
    assert [(e.party, e.epoch, e.epochs, e.unit) for e in ends] == [
        (COORDINATOR, 1, 3, "tree"),
        (COORDINATOR, 2, 3, "tree"),
    ]
    assert [e.finished for e in ends] == [False, True]  # stopped early, after tree 2 of 3
    assert all(e.loss is None for e in events)  # the coordinator never hears a loss
    assert events[0].epoch is None and events[0].done == 0  # training began


@pytest.mark.parametrize(
    ("messages", "said"),
    [
        ([tree(2, False)], "says tree 2 is complete after tree 0"),
        ([tree(1, False), tree(1, False)], "says tree 1 is complete after tree 1"),
        ([tree(1, False), tree(2, False), tree(3, False), tree(4, True)], "of at most 3"),
        ([tree(1, False), {"report": {"trees": 3}}], "reports 3 trees, but said 1"),
        ([{"checkpoint": {"trees": True, "stopped": False}}], "malformed tree notice"),
    ],
)
def test_a_label_party_that_misreports_its_trees_is_refused_by_name(
    messages: list[dict[str, Any]], said: str
) -> None:
    with pytest.raises(ProtocolError, match=f"{GUEST} .*{said}|{GUEST} {said}"):
        coordinate(messages)

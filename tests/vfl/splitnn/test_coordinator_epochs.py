"""Split learning's coordinator follows the label party's epochs: it reports each as an
epoch of the run (a deployed run's record and the dashboard follow them) and refuses
notices a label party could not truthfully send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rengo.core.errors import ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.transport.channel import Channel, LocalBus, run_roles
from rengo.vfl.checkpoints import CheckpointFolder, EpochCheckpoints, EpochState
from rengo.vfl.progress import VerticalProgress
from rengo.vfl.splitnn import SplitNNConfig, SplitNNReport, splitnn_coordinator
from rengo.vfl.splitnn.roles import EPOCH_END, SCOPE

GUEST = "card"
CONFIG = SplitNNConfig(epochs=3)


def label_party(notices: list[tuple[int, Any]]) -> Callable[[Channel], None]:
    """A label party that sends each ``(epoch scope, notice)`` to the coordinator."""

    def role(channel: Channel) -> None:
        for epoch, notice in notices:
            channel.scope(SCOPE).scope(epoch=epoch).send(COORDINATOR, EPOCH_END, notice)

    return role


def follow(
    notices: list[tuple[int, Any]], checkpoints: EpochCheckpoints | None = None
) -> tuple[SplitNNReport, list[VerticalProgress]]:
    events: list[VerticalProgress] = []
    bus = LocalBus([COORDINATOR, GUEST], timeout=10.0)
    results = run_roles(
        bus,
        {
            COORDINATOR: lambda ch: splitnn_coordinator(
                ch, GUEST, CONFIG, checkpoints=checkpoints, progress=events.append
            ),
            GUEST: label_party(notices),
        },
    )
    return results[COORDINATOR], events


def ended(events: list[VerticalProgress]) -> list[tuple[int | None, bool]]:
    return [(e.epoch, e.finished) for e in events if e.ends_epoch]


def test_every_epoch_the_label_party_ends_is_reported_without_a_loss() -> None:
    notices = [(e, {"epochs": e + 1, "stopped": e == 2}) for e in range(3)]
    report, events = follow(notices)
    assert report == SplitNNReport(3)
    assert ended(events) == [(1, False), (2, False), (3, True)]
    assert all(e.party == COORDINATOR and e.loss is None for e in events)


def test_a_resumed_coordinator_follows_from_the_epoch_the_parties_agreed_on(
    tmp_path: Any,
) -> None:
    folder = CheckpointFolder(tmp_path, "run-1", COORDINATOR, "splitnn")
    report, events = follow(
        [(2, {"epochs": 3, "stopped": True})], EpochCheckpoints(folder, EpochState(2))
    )
    assert report == SplitNNReport(3)
    assert ended(events) == [(3, True)]
    assert folder.epochs() == []  # it keeps no checkpoints of its own


@pytest.mark.parametrize(
    ("notice", "said"),
    [
        ({"epochs": 2, "stopped": False}, "says epoch 2 ended where epoch 1 did"),
        ({"epochs": 1}, "malformed end-of-epoch notice"),
        ({"epochs": 1, "stopped": "no"}, "malformed end-of-epoch notice"),
        ({"epochs": 1, "stopped": False, "loss": 0.3}, "malformed end-of-epoch notice"),
        ([1, False], "malformed end-of-epoch notice"),
    ],
)
def test_a_label_party_that_misreports_its_epochs_is_refused_by_name(
    notice: Any, said: str
) -> None:
    with pytest.raises(ProtocolError, match=f"^{GUEST} .*{said}"):
        follow([(0, notice)])

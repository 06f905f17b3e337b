"""A party dropped for a revoked certificate is not coming back: with ``--rejoin-wait`` the
coordinator waits before each round for the run's other dropped parties only, so one
revocation does not add the whole wait to every later round."""

from __future__ import annotations

from collections.abc import Collection

from rengo.deploy.coordinator import _RoundTraffic


class FakeHub:
    """The hub calls the round hooks make: who is revoked, and whom they wait for."""

    exchange_context = ""

    def __init__(self, revoked: Collection[str]) -> None:
        self.revoked = frozenset(revoked)
        self.awaited: list[list[str]] = []

    def revoked_parties(self) -> frozenset[str]:
        return self.revoked

    def wait_for_parties(
        self, names: Collection[str] | None, count: int | None, timeout: float | None
    ) -> bool:
        self.awaited.append(sorted(names or ()))
        return True

    def traffic(self) -> tuple[int, int]:
        return 0, 0

    def client_ids(self) -> list[str]:
        return ["p0", "p1"]


def test_a_revoked_party_is_not_waited_for_before_each_round() -> None:
    hub = FakeHub(revoked={"p2"})
    hooks = _RoundTraffic(
        hub,  # type: ignore[arg-type]
        rounds=5,
        record_event=lambda level, text: None,
        expected=["p0", "p1", "p2", "p3"],
        rejoin_wait=60.0,
        first_round=1,
        progress=None,
    )
    for server_round in (2, 3):
        hooks.before_round(server_round)
    assert hub.awaited == [["p0", "p1", "p3"], ["p0", "p1", "p3"]]

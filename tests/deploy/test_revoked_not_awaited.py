"""A party dropped for a revoked certificate is not coming back: with ``--rejoin-wait`` the
coordinator waits before each round for the run's other dropped parties only, so one
revocation does not add the whole wait to every later round."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pytest
from child_processes import Processes

from rengo.deploy.coordinator import _RoundTraffic
from rengo.tracking import RunStore, recorded_revocations
from rengo.tracking.membership_table import membership_rows
from rengo.transport.certs import init_certificates, revoke_party
from rengo.transport.revocation import REVOKED_NOTE


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


@pytest.mark.timeout(360)
def test_a_party_revoked_while_away_is_refused_recorded_and_not_awaited(
    processes: Processes, tmp_path: Path
) -> None:
    """The README's removal: ``rengo certs revoke`` while p2 is stopped, then the run goes
    on naming it. p2 is refused at the handshake, and that refusal counts as a revocation,
    as a drop while connected does: with a ``--rejoin-wait`` longer than the test's patience
    the run still completes (p2 is not waited for before each round), and the run records
    the revocation the ``parties`` table shows."""
    certs = tmp_path / "certs"
    names = ["p0", "p1", "p2"]
    init_certificates(certs, names)
    serial = revoke_party(certs, "p2")
    store_path = tmp_path / "runs.db"
    coordinator = processes.start(
        "coordinator", "127.0.0.1:0", str(certs), str(store_path), "3", ",".join(names),
        "--min-parties", "2", "--join-timeout", "150", "--rejoin-wait", "600",
    )  # fmt: skip
    assert coordinator.stdout is not None
    port = run_id = None
    for line in coordinator.stdout:
        if line.startswith("PORT "):
            port = int(line.split()[1])
        if line.startswith("RUN "):
            run_id = line.split()[1]
            break
    assert port and run_id
    refused = processes.party(f"127.0.0.1:{port}", "p2", certs)
    # the coordinator knows p2 is revoked and does not wait for it: the others start once
    # p2 presented its certificate, else the run could end before p2 is told why
    seen = []
    for line in coordinator.stdout:
        seen.append(line)
        if "refused connection" in line and "'p2'" in line:
            break
    for name in names[:2]:
        processes.party(f"127.0.0.1:{port}", name, certs)
    rest, _ = coordinator.communicate(timeout=240)  # waiting for p2 once takes 600 s
    output = "".join(seen) + rest
    assert coordinator.returncode == 0, output
    told, _ = refused.communicate(timeout=60)
    reason = f"the certificate of party 'p2' (serial {serial:x}) {REVOKED_NOTE}"
    assert reason in told  # one text, whether refused at the handshake or dropped
    with RunStore(store_path) as store:
        run = store.get_run(run_id)
        assert run.status == "completed"
        (record,) = recorded_revocations(run.config)
        assert (record.party, record.serial) == ("p2", serial)
        rows = membership_rows(store, run)
        assert [(r[1], r[2]) for r in rows] == [(f"after {record.after_round}", reason)]

"""An operator revokes a party in the middle of a deployed run (real coordinator and party
processes): the party is dropped and told why, cannot come back, and the run finishes with
the others - every round recorded, the run's status true."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet import Fleet

from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates, revoke_party


@pytest.mark.timeout(300)
def test_a_party_revoked_mid_run_is_dropped_and_the_run_completes_without_it(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, ["p0", "p1", "p2"])
    fleet = Fleet(certs, tmp_path)
    try:
        rounds = 4
        coordinator, address, run_id = fleet.coordinator(rounds, ["p0", "p1", "p2"])
        honest = [fleet.party(address, name, "--sleep", "2") for name in ("p0", "p1")]
        revoked = fleet.party(address, "p2", "--sleep", "2")
        coordinator.expect(r"round 1/4")
        revoke_party(certs, "p2")  # what `rengo certs revoke` does (tests/cli)
        assert revoked.wait(60) == 1, revoked.output[-2000:]
        assert "ERROR AuthenticationError" in revoked.output
        assert "was revoked by the federation's operator" in revoked.output
        assert coordinator.wait(240) == 0, coordinator.output[-3000:]
        assert f"DONE {rounds}" in coordinator.output
        for party in honest:
            assert party.wait(60) == 0, party.output[-2000:]
        with RunStore(tmp_path / "runs.db", read_only=True) as store:
            assert store.get_run(run_id).status == "completed"
            recorded = store.rounds(run_id)
            assert [r.round for r in recorded] == [1, 2, 3, 4]
            assert recorded[0].num_clients == 3 and recorded[-1].num_clients == 2
            warnings = [e.message for e in store.events(run_id, "warning")]
            assert any("party p2 left" in m and "was revoked" in m for m in warnings)
    finally:
        fleet.cleanup()

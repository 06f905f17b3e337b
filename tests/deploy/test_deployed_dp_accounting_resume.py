"""A deployed central-DP run resumed under another dp-accounting release is taken up, as a
simulated one is: its config names the release it goes on with, and an event names both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from digits_app import PARTIES, SEED, initial_parameters, strategy

from rengo.deploy import serve_coordinator
from rengo.hfl import DifferentialPrivacy
from rengo.tracking import RunStore
from rengo.transport.grpc_security import HubSecurity

pytest.importorskip("dp_accounting")


@pytest.mark.timeout(60)
def test_a_deployed_resume_under_another_dp_accounting_release_records_the_new_one(
    certs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rengo.deploy.coordinator import PartiesLost
    from rengo.privacy import CentralDP

    def serve(**options: Any) -> Any:
        dp = DifferentialPrivacy(strategy(3), CentralDP(noise_multiplier=2.0, delta=1e-3))
        return serve_coordinator(
            dp, initial_parameters(), 4, "127.0.0.1:0",
            HubSecurity.from_directory(certs, parties=PARTIES[:3]), parties=PARTIES[:3],
            seed=SEED, store=store, **options,
        )  # fmt: skip

    def interrupt(hub: Any) -> None:
        raise KeyboardInterrupt

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            serve(on_listening=interrupt)
        run_id = store.list_runs(limit=1)[0].run_id
        started = store.get_run(run_id).config["dp_accounting"]
        monkeypatch.setattr("rengo.hfl.privacy_record.dp_accounting_version", lambda: "9.9.9")
        with pytest.raises(PartiesLost):  # taken up (no party came back: interrupted again)
            serve(resume=run_id, join_timeout=0.5)
        assert store.get_run(run_id).config["dp_accounting"] == "9.9.9"
        (event,) = [e.message for e in store.events(run_id, "warning") if "9.9.9" in e.message]
    assert event.startswith(f"resumed under dp-accounting 9.9.9 (the run started with {started}")

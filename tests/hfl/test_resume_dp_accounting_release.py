"""A central-DP run records the dp-accounting release its epsilons were computed with; a
resume under another release is refused (it would recompute every epsilon with another
library while the record named the first), and the run stays interrupted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import Client, DifferentialPrivacy, FedAvg, RoundRecord, simulate, softmax_init
from rengo.tracking import RunStore

pytest.importorskip("dp_accounting")

IDS = [str(i) for i in range(6)]


def _dp() -> DifferentialPrivacy:
    from rengo.privacy import CentralDP

    return DifferentialPrivacy(FedAvg(), CentralDP(noise_multiplier=2.0, delta=1e-3))


def test_a_resume_under_another_dp_accounting_release_is_refused(
    tmp_path: Path,
    logistic_client_fn: Callable[[str], Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def stop(record: RoundRecord) -> None:
        if record.server_round == 2:
            raise KeyboardInterrupt

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(
                logistic_client_fn, IDS, _dp(), softmax_init(4, 3), 4, seed=2, store=store,
                progress=stop,
            )  # fmt: skip
        run_id = store.list_runs()[0].run_id
        recorded = store.get_run(run_id).config["dp_accounting"]
        assert isinstance(recorded, str)
        monkeypatch.setattr("rengo.hfl.privacy_record.dp_accounting_version", lambda: "0.0.0-other")
        with pytest.raises(ConfigError, match=rf"dp_accounting '{recorded}', now '0.0.0-other'"):
            simulate(
                logistic_client_fn, IDS, _dp(), softmax_init(4, 3), 4, seed=2, store=store,
                resume=run_id,
            )  # fmt: skip
        assert store.get_run(run_id).status == "interrupted"

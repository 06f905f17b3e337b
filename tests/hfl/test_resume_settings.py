"""A simulation resumed through the Python API with a strategy of other settings (another
fraction_fit, min_fit_clients, server learning rate) is refused, as one with another seed
is: its config recorded only the strategy's name, so a resume sampled differently and ended
with another model than the uninterrupted run it claims to continue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import Client, FedAdam, RoundRecord, simulate, softmax_init
from rengo.tracking import RunStore

IDS = [str(i) for i in range(6)]


def _interrupted(store: RunStore, client_fn: Callable[[str], Client]) -> str:
    def stop(record: RoundRecord) -> None:
        if record.server_round == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(
            client_fn,
            IDS,
            FedAdam(fraction_fit=0.5, eta=0.05),
            softmax_init(4, 3),
            4,
            seed=2,
            store=store,
            progress=stop,
        )
    return store.list_runs()[0].run_id


def test_a_resume_with_other_strategy_settings_is_refused_and_the_same_ones_continue(
    tmp_path: Path, logistic_client_fn: Callable[[str], Client]
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _interrupted(store, logistic_client_fn)
        other = FedAdam(fraction_fit=1.0, eta=0.05)
        with pytest.raises(ConfigError, match=r"strategy_settings.fraction_fit 0.5, now 1.0"):
            simulate(
                logistic_client_fn,
                IDS,
                other,
                softmax_init(4, 3),
                4,
                seed=2,
                store=store,
                resume=run_id,
            )
        assert store.get_run(run_id).status == "interrupted"
        same = FedAdam(fraction_fit=0.5, eta=0.05)
        resumed = simulate(
            logistic_client_fn,
            IDS,
            same,
            softmax_init(4, 3),
            4,
            seed=2,
            store=store,
            resume=run_id,
        )
    whole = simulate(
        logistic_client_fn,
        IDS,
        FedAdam(fraction_fit=0.5, eta=0.05),
        softmax_init(4, 3),
        4,
        seed=2,
    )
    for got, want in zip(resumed.parameters, whole.parameters, strict=True):
        np.testing.assert_array_equal(got, want)

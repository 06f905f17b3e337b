"""SecAgg+ rounds short of clients under ``on_short_round``: a round that loses too many
clients before unmasking stays a clear error under ``"fail"`` (naming who dropped at which
stage), and under ``"skip"`` is skipped with that record, nothing of it unmasked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.hfl import FedAvg, SecAggMod, SecAggPlus, simulate
from rengo.hfl.coordinator import RoundShortOfClients
from rengo.hfl.mods.chain import ClientCall
from rengo.hfl.secagg.protocol import ADVERTISE, MASKED_INPUT, SHARE_KEYS

INIT = [np.zeros((4, 3)), np.zeros(3)]
N = 6


class DropAt(SecAggMod):
    """The secagg mod with some clients losing their link at one stage each."""

    def __init__(self, drops: dict[str, str]) -> None:
        self.drops = drops

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if self.drops.get(call.client_id) == call.key:
            raise ConnectionError(f"gone at {call.key}")
        return super().__call__(call, call_next)


def _run(client_fn: Any, stage: str, mode: str, rounds: int = 2) -> Any:
    drops = dict.fromkeys(("1", "2", "3", "4"), stage)  # 4 of 6: 2 left, t = 3 needed
    return simulate(
        client_fn, N, FedAvg(min_fit_clients=2, fraction_evaluate=0.0), INIT, rounds, seed=3,
        workflow=SecAggPlus(quantisation_bits=20), client_mods=[DropAt(drops)],
        on_short_round=mode,
    )  # fmt: skip


@pytest.mark.parametrize("stage", [ADVERTISE, SHARE_KEYS, MASKED_INPUT])
def test_under_fail_a_secagg_round_short_before_unmasking_is_a_clear_error(
    logistic_client_fn, stage: str
) -> None:
    with pytest.raises(RoundShortOfClients) as caught:
        _run(logistic_client_fn, stage, "fail")
    message = str(caught.value)
    assert "secure aggregation cannot unmask round 1" in message
    assert f"at {stage!r}: 1 (" in message and "gone at" in message
    assert set(caught.value.failures) == {"1", "2", "3", "4"}


@pytest.mark.parametrize("stage", [ADVERTISE, SHARE_KEYS, MASKED_INPUT])
def test_under_skip_it_is_skipped_recording_who_dropped_and_when(
    logistic_client_fn, stage: str
) -> None:
    history = _run(logistic_client_fn, stage, "skip")
    assert [r.skipped is not None for r in history.rounds] == [True, True]
    record = history.rounds[0]
    assert f"at {stage!r}: 1 (" in (record.skipped or "")
    assert set(record.failures) == {"1", "2", "3", "4"}
    assert all(f"gone at {stage}" in why for why in record.failures.values())
    for kept, start in zip(history.parameters, INIT, strict=True):
        assert kept.tobytes() == start.tobytes()  # nothing unmasked, nothing aggregated

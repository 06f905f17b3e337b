"""SecAgg+ rounds short of clients under ``on_short_round``: a round that loses too many
clients before unmasking stays a clear error under ``"fail"`` (naming who dropped at which
stage), and under ``"skip"`` is skipped with that record, nothing of it unmasked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.crypto.signatures import simulated_identities
from rengo.hfl import DifferentialPrivacy, FedAvg, SecAggMod, SecAggPlus, simulate
from rengo.hfl.coordinator import RoundShortOfClients
from rengo.hfl.mods.chain import ClientCall
from rengo.hfl.secagg.protocol import ADVERTISE, CONSISTENCY, DELIVER, MASKED_INPUT, SHARE_KEYS
from rengo.privacy import CentralDP

INIT = [np.zeros((4, 3)), np.zeros(3)]
N = 6


class DropAt(SecAggMod):
    """The secagg mod with some clients losing their link at one stage each."""

    def __init__(self, drops: dict[str, str], identities: Any = None) -> None:
        super().__init__(identities)
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


@pytest.mark.parametrize("stage", [ADVERTISE, SHARE_KEYS, DELIVER, MASKED_INPUT])
def test_under_fail_a_secagg_round_short_before_unmasking_is_a_clear_error(
    logistic_client_fn, stage: str
) -> None:
    with pytest.raises(RoundShortOfClients) as caught:
        _run(logistic_client_fn, stage, "fail")
    message = str(caught.value)
    assert "secure aggregation cannot unmask round 1" in message
    assert f"at {stage!r}: 1 (" in message and "gone at" in message
    assert set(caught.value.failures) == {"1", "2", "3", "4"}


@pytest.mark.parametrize("stage", [ADVERTISE, SHARE_KEYS, DELIVER, MASKED_INPUT])
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


def test_under_skip_a_signed_round_short_at_the_consistency_check_is_skipped(
    logistic_client_fn,
) -> None:
    """4 of 6 drop at the signed consistency check: the survivors are below its quorum
    before any unmasking, so the round is skipped with that record."""
    ca, identities = simulated_identities([str(i) for i in range(N)])
    drops = dict.fromkeys(("1", "2", "3", "4"), CONSISTENCY)
    history = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=2, fraction_evaluate=0.0), INIT, 2,
        seed=3, workflow=SecAggPlus(quantisation_bits=20, signed=True, ca=ca),
        client_mods=[DropAt(drops, identities)], on_short_round="skip",
    )  # fmt: skip
    assert [r.skipped is not None for r in history.rounds] == [True, True]
    assert f"at {CONSISTENCY!r}" in (history.rounds[0].skipped or "")
    for kept, start in zip(history.parameters, INIT, strict=True):
        assert kept.tobytes() == start.tobytes()


def test_under_central_dp_a_secagg_round_short_before_unmasking_ends_the_run(
    logistic_client_fn,
) -> None:
    """Nothing was unmasked, so there is no sum to noise and release, and a skip would show
    the un-noised count of survivors: under central DP the run ends, saying why."""
    strategy = DifferentialPrivacy(
        FedAvg(min_fit_clients=2, fraction_evaluate=0.0),
        CentralDP(noise_multiplier=1.0, clip_norm=1.0, clip_at="client"),
    )
    drops = dict.fromkeys(("1", "2", "3", "4"), SHARE_KEYS)
    with pytest.raises(RoundShortOfClients, match="under central DP") as caught:
        simulate(
            logistic_client_fn, N, strategy, INIT, 2, seed=3,
            workflow=SecAggPlus(quantisation_bits=20), client_mods=[DropAt(drops)],
            on_short_round="skip",
        )  # fmt: skip
    assert "nothing to release" in str(caught.value)
    assert strategy.accountant.rounds == 0

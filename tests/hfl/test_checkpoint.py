"""A run checkpointed after round 3 and restored into a new coordinator ends round 6 exactly
where an uninterrupted run does; FedAdam makes the server optimiser state matter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core.codec import decode, encode
from rengo.hfl import Coordinator, FedAdam, FedAvg, FedOptState, Scaffold, ScaffoldState, make_pool

INIT = [np.zeros((4, 3)), np.zeros(3)]
IDS = [str(i) for i in range(6)]


def _fedadam() -> FedAdam:
    return FedAdam(fraction_fit=0.5, min_fit_clients=3, eta=0.05)


def test_restored_run_equals_an_uninterrupted_run(logistic_client_fn) -> None:
    pool = make_pool(logistic_client_fn, IDS)
    straight = Coordinator(_fedadam(), pool, INIT, seed=2).run(6)

    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    first_half = first.run(3)
    blob = first.checkpoint_blob(3)

    second = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    assert second.restore(blob) == 3
    assert second.start_round == 4
    second_half = second.run(6)

    assert [r.server_round for r in first_half.rounds] == [1, 2, 3]
    assert [r.server_round for r in second_half.rounds] == [4, 5, 6]
    assert [r.clients for r in straight.rounds] == [
        r.clients for r in first_half.rounds + second_half.rounds
    ]
    for a, b in zip(straight.parameters, second_half.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


def test_restoring_only_the_model_does_not_reproduce_the_run(logistic_client_fn) -> None:
    """The checkpoint's optimiser moments matter: a fresh FedAdam diverges from round 4."""
    straight = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2).run(6)
    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    first.run(3)
    model_only = Coordinator(
        _fedadam(), make_pool(logistic_client_fn, IDS), first.parameters, seed=2, start_round=4
    )
    model_only.strategy.initialize(first.parameters)
    partial = model_only.run(6)
    assert any(
        a.tobytes() != b.tobytes()
        for a, b in zip(straight.parameters, partial.parameters, strict=True)
    )


def test_a_checkpoint_of_another_strategy_is_rejected(logistic_client_fn) -> None:
    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT)
    first.run(1)
    other = Coordinator(FedAvg(), make_pool(logistic_client_fn, IDS), INIT)
    with pytest.raises(ValueError, match="checkpoint is for FedAdam, not FedAvg"):
        other.restore(first.checkpoint_blob(1))


# -- checkpoints written by the previous release (tests/hfl/data, see its README) -------------

DATA = Path(__file__).parent / "data"


def _fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _assert_same_run_as_the_old_release(now: np.ndarray, old: np.ndarray) -> None:
    """The fixtures were written on another machine: numpy's BLAS (OpenBLAS, DYNAMIC_ARCH)
    picks its matmul kernels by CPU, so the same run can differ there in the last bit of a
    weight (seen: 1.1e-16), and a checkpoint written there carries that machine's rounds.
    Resuming on one machine is checked bit for bit above
    (``test_restored_run_equals_an_uninterrupted_run``); across machines the
    old release's run must agree to a few ulps."""
    assert now.dtype == old.dtype and now.shape == old.shape
    np.testing.assert_allclose(now, old, rtol=0, atol=1e-14)


def test_a_previous_release_fedadam_checkpoint_resumes_the_old_releases_run(
    logistic_client_fn,
) -> None:
    blob = _fixture("checkpoint_v1_fedadam_round3.bin")
    assert "format" not in decode(blob)  # written before checkpoints carried a layout number
    resumed = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    assert resumed.restore(blob) == 3
    assert isinstance(resumed.strategy.server_state, FedOptState)
    final = resumed.run(6).parameters
    old_release = decode(_fixture("final_v1_fedadam_round6.bin"))
    straight = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2).run(6)
    for got, old, now in zip(final, old_release, straight.parameters, strict=True):
        _assert_same_run_as_the_old_release(got, old)
        _assert_same_run_as_the_old_release(now, old)


def test_a_previous_release_scaffold_checkpoint_resumes_like_a_current_one(
    logistic_client_fn,
) -> None:
    """The old layout restores the same server state as the current one; it kept no
    clients' state (SCAFFOLD's c_i), so resumed from it the clients start again, as from a
    current checkpoint with them taken out; from a current checkpoint the run ends where an
    uninterrupted one does; and this release reproduces the old release's run."""

    def scaffold() -> Scaffold:
        return Scaffold(fraction_fit=0.5, min_fit_clients=3)

    first = Coordinator(scaffold(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    first.run(3)
    current = first.checkpoint_blob(3)
    assert decode(current)["format"] == 2
    without_clients = decode(current)
    assert without_clients.pop("client_states")
    finals = []
    for blob in (_fixture("checkpoint_v1_scaffold_round3.bin"), encode(without_clients), current):
        resumed = Coordinator(scaffold(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
        resumed.restore(blob)
        assert isinstance(resumed.strategy.server_state, ScaffoldState)
        finals.append(resumed.run(6).parameters)
    straight = Coordinator(scaffold(), make_pool(logistic_client_fn, IDS), INIT, seed=2).run(6)
    for old_layout, emptied, kept, whole in zip(*finals, straight.parameters, strict=True):
        assert old_layout.tobytes() == emptied.tobytes()
        assert kept.tobytes() == whole.tobytes()
        assert kept.tobytes() != emptied.tobytes()
    old_release = decode(_fixture("final_v1_scaffold_round6.bin"))
    for now, old in zip(straight.parameters, old_release, strict=True):
        _assert_same_run_as_the_old_release(now, old)


def test_a_checkpoint_keeping_clients_the_pool_lacks_is_refused(logistic_client_fn) -> None:
    first = Coordinator(Scaffold(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    first.run(1)
    fewer = Coordinator(Scaffold(), make_pool(logistic_client_fn, IDS[:3]), INIT, seed=2)
    with pytest.raises(ValueError, match="clients this run lacks: 3, 4, 5"):
        fewer.restore(first.checkpoint_blob(1))


def test_a_checkpoint_of_a_newer_layout_is_refused_clearly(logistic_client_fn) -> None:
    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT)
    first.run(1)
    state = decode(first.checkpoint_blob(1))
    state["format"] = 99
    with pytest.raises(ValueError, match="layout 99 is newer than this rengo reads"):
        Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT).restore(encode(state))
    with pytest.raises(ValueError, match="not a rengo round checkpoint"):
        Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT).restore(encode({}))

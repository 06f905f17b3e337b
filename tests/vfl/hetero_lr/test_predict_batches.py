"""Encrypted scoring sends its ciphertexts in batches of rows, as training does: no message
holds every row's ciphertext (a million rows at 2048 bits would be over 500 MB in one), a
host runs at most one batch ahead of the guest, and the predictions do not depend on the
batch size."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.crypto import generate_paillier_keypair
from rengo.transport.channel import Channel, LocalBus, run_roles
from rengo.vfl.hetero_lr.math import row_scores, sigmoid
from rengo.vfl.hetero_lr.predict import (
    MASKED,
    PARTIAL,
    PREDICT_SETUP,
    SCOPE,
    UNMASKED,
    hetero_lr_predict_coordinator,
    hetero_lr_predict_guest,
    hetero_lr_predict_host,
)
from rengo.vfl.hetero_lr.roles import GuestModel, HostModel

KEYS = generate_paillier_keypair(512, seed=7)
RNG = np.random.default_rng(3)
ROWS = 40
X_GUEST = RNG.normal(size=(ROWS, 3))
X_HOSTS = {"host-a": RNG.normal(size=(ROWS, 2)), "host-b": RNG.normal(size=(ROWS, 4))}
GUEST = GuestModel(np.array([0.5, -1.0, 0.25]), 0.1)
HOSTS = {
    "host-a": HostModel(np.array([2.0, -0.5]), 1),
    "host-b": HostModel(np.array([0.3, 0.2, -0.1, 1.5]), 1),
}


def _score(**guest_kwargs: object) -> tuple[np.ndarray, int, LocalBus]:
    bus = LocalBus(["coordinator", "guest", *HOSTS], record=True)
    roles = {
        "coordinator": lambda c: hetero_lr_predict_coordinator(c, ["guest", *HOSTS], "guest", KEYS),
        "guest": lambda c: hetero_lr_predict_guest(
            c,
            X_GUEST,
            GUEST,
            list(HOSTS),
            **guest_kwargs,  # type: ignore[arg-type]
        ),
    }
    for host in HOSTS:
        roles[host] = lambda c, h=host: hetero_lr_predict_host(c, X_HOSTS[h], HOSTS[h], "guest")
    results = run_roles(bus, roles)
    return results["guest"], results["coordinator"], bus


def _ciphertext_messages(bus: LocalBus) -> list[bytes]:
    names = (PARTIAL, MASKED, UNMASKED)
    return [e.payload for e in bus.transcript if e.key.rsplit("/", 1)[-1] in names]


def test_no_encrypted_scoring_message_holds_more_than_a_batch_of_rows() -> None:
    whole = max(len(p) for p in _ciphertext_messages(_score(batch_rows=ROWS)[2]))
    scores, decrypted, bus = _score(batch_rows=8)
    batched = _ciphertext_messages(bus)
    # 40 rows in batches of 8: 5 batches of 2 hosts' partials, the masked sum, its decryption
    assert len(batched) == 5 * 4
    assert max(len(p) for p in batched) < whole / 3  # a fifth of the rows, and headers
    assert decrypted == ROWS
    expected = X_GUEST @ GUEST.weights + GUEST.intercept
    expected += sum(X_HOSTS[h] @ HOSTS[h].weights for h in HOSTS)
    np.testing.assert_allclose(scores, sigmoid(expected), atol=1e-8)


@pytest.mark.parametrize("batch_rows", [1, 7, 8, 39, 40, 1000])
def test_encrypted_predictions_are_the_same_bit_for_bit_whatever_the_batch(
    batch_rows: int,
) -> None:
    np.testing.assert_array_equal(_score(batch_rows=batch_rows)[0], _score(batch_rows=ROWS)[0])


def test_a_host_sends_a_batch_only_once_the_guest_took_the_one_before() -> None:
    transcript = _score(batch_rows=8)[2].transcript
    order = [(e.sender, e.receiver, e.key) for e in transcript]
    for host in HOSTS:
        for batch in range(1, 5):
            sent = order.index((host, "guest", f"hlr-predict/batch={batch}/{PARTIAL}"))
            taken = order.index(("guest", host, f"hlr-predict/batch={batch - 1}/taken"))
            assert taken < sent


def test_a_batch_size_below_one_is_refused() -> None:
    bus = LocalBus(["coordinator", "guest", "host"])
    with pytest.raises(ConfigError, match="batch_rows"):
        hetero_lr_predict_guest(bus.channel("guest"), X_GUEST, GUEST, ["host"], batch_rows=0)


def test_every_scoring_message_is_read() -> None:
    bus = _score(batch_rows=8)[2]
    assert not any(bus._queues.values())  # no 'taken' (or anything else) left waiting


def _plain_messages(bus: LocalBus) -> list[tuple[str, bytes]]:
    return [(e.key, e.payload) for e in bus.transcript if e.key.endswith(PARTIAL)]


def test_plain_scoring_sends_a_hosts_partial_scores_a_batch_at_a_time() -> None:
    _, decrypted, bus = _score(batch_rows=8, mode="plain")
    sent = _plain_messages(bus)
    assert decrypted == 0
    # 40 rows in batches of 8: 5 batches of each of the 2 hosts' partial scores
    assert sorted(key for key, _ in sent) == sorted(
        f"hlr-predict/batch={b}/{PARTIAL}" for b in range(5) for _ in HOSTS
    )
    whole = max(len(p) for _, p in _plain_messages(_score(batch_rows=ROWS, mode="plain")[2]))
    assert max(len(p) for _, p in sent) < whole / 2  # a fifth of the rows, and headers
    assert not any(bus._queues.values())  # every 'taken' read


@pytest.mark.parametrize("batch_rows", [1, 7, 8, 39, 40, 1000])
def test_plain_predictions_are_those_of_one_message_bit_for_bit(batch_rows: int) -> None:
    score = row_scores(X_GUEST, GUEST.weights) + GUEST.intercept
    for host in HOSTS:  # one message of every row: the hosts' partial scores added in order
        score = score + row_scores(X_HOSTS[host], HOSTS[host].weights)
    scores = _score(batch_rows=batch_rows, mode="plain")[0]
    assert scores.tobytes() == sigmoid(score).tobytes()


def test_a_host_answers_a_guest_that_names_no_batch_in_one_plain_message() -> None:
    bus = LocalBus(["guest", "host-a"], record=True)
    setup = {"mode": "plain", "rows": ROWS}

    def guest(channel: Channel) -> np.ndarray:
        scope = channel.scope(SCOPE)
        scope.send("host-a", PREDICT_SETUP, setup)
        partial: np.ndarray = scope.recv("host-a", PARTIAL)
        return partial

    results = run_roles(
        bus,
        {
            "guest": guest,
            "host-a": lambda c: hetero_lr_predict_host(
                c, X_HOSTS["host-a"], HOSTS["host-a"], "guest"
            ),
        },
    )
    expected = row_scores(X_HOSTS["host-a"], HOSTS["host-a"].weights)
    assert results["guest"].tobytes() == expected.tobytes()

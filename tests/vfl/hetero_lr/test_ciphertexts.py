"""Every ciphertext hetero LR sends is freshly randomised, never ``g^m = 1 + m*n`` and
never sharing its randomness with another; and the protocol sends exactly as many
ciphertexts per epoch as its figure says (the hot path does not grow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gmpy2
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.crypto import EncryptedArray, PaillierPrivateKey, encrypt_array
from rengo.transport.channel import TranscriptEntry
from rengo.vfl import HeteroLogisticRegression

ROWS, BATCH, EPOCHS = 150, 64, 2
COLUMNS = {"g": slice(0, 4), "h1": slice(4, 7), "h2": slice(7, 9)}


def fitted(source: str) -> HeteroLogisticRegression:
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0))[:ROWS]
    ids = np.array([f"customer-{i}" for i in range(ROWS)])
    data = {party: (ids, x[:, cols]) for party, cols in COLUMNS.items()}
    model = HeteroLogisticRegression(
        key_bits=512,
        epochs=EPOCHS,
        batch_size=BATCH,
        tol=0.0,
        seed=1,
        key_seed=2,
        obfuscator_source=source,
    )
    model.fit(data, "g", y[:ROWS])
    model.predict_scores(data)
    return model


def ciphertexts(entries: list[TranscriptEntry]) -> Iterator[tuple[str, EncryptedArray]]:
    """Every encrypted array in the transcript, with the key it was sent under."""

    def walk(value: Any) -> Iterator[EncryptedArray]:
        if isinstance(value, EncryptedArray):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)

    for entry in entries:
        for array in walk(decode(envelope_from_bytes(entry.payload).payload)):
            yield entry.key, array


def randomness(ciphertext: gmpy2.mpz, private: PaillierPrivateKey) -> gmpy2.mpz:
    """``r^n mod n^2`` of ``c = (1 + m*n) r^n``: divide out ``g^m``, ``(1 + m n)^-1 = 1 - m n``."""
    n, nsquare = private.public_key.n, private.public_key.nsquare
    return ciphertext * (1 - private.raw_decrypt(ciphertext) * n) % nsquare


def randomness_problems(
    sent: list[tuple[str, EncryptedArray]], private: PaillierPrivateKey
) -> list[str]:
    """Ciphertexts sent without randomness (r^n = 1), or two different ciphertexts with
    the same randomness (their quotient would reveal the difference of the plaintexts)."""
    problems, owner = [], {}
    for key, array in sent:
        for c in set(array.ciphertexts.ravel().tolist()):
            r = randomness(c, private)
            if r == 1:
                problems.append(f"{key}: a ciphertext of the form 1 + m*n")
            elif owner.setdefault(r, (key, c))[1] != c:
                problems.append(f"{key} reuses the randomness of {owner[r][0]}")
    return problems


@pytest.mark.parametrize("source", ["local", "coordinator"])
def test_no_sent_ciphertext_is_unrandomised_and_no_randomness_is_reused(source: str) -> None:
    model = fitted(source)
    entries = model.transcript_ + model.predict_bus_.transcript
    sent = list(ciphertexts(entries))
    assert {key.rsplit("/", 1)[-1] for key, _ in sent} >= {"u", "peer-u", "d", "masked", "partial"}
    assert randomness_problems(sent, model._keypair[1]) == []


def test_the_check_finds_plain_g_to_the_m_and_reused_randomness() -> None:
    """Positive control: the checks above can fail."""
    model = fitted("local")
    public, private = model._keypair
    enc = encrypt_array(np.array([0.5, 0.25]), public)
    unrandomised = EncryptedArray(public, 1 + np.array([5, 7], dtype=object) * public.n, 0)
    shifted = enc + 1.0  # same randomness as enc, another plaintext
    found = randomness_problems(
        [("plain", unrandomised), ("first", enc), ("second", shifted)], private
    )
    assert found == [
        "plain: a ciphertext of the form 1 + m*n",
        "plain: a ciphertext of the form 1 + m*n",
        "second reuses the randomness of first",
        "second reuses the randomness of first",
    ]


def test_ciphertexts_per_epoch_are_exactly_the_protocols_count() -> None:
    """Per batch of b rows with hosts h1, h2 (features 3, 2) and a guest with 4 features
    plus the intercept: Enc(u_k) and the loss terms (b + 1 + k cross terms per host),
    Enc(u_1) to the later host (b), Enc(d) to each host (2b), masked gradients and loss
    (4 + 1 + 1, 3, 2). Scoring: Enc(u_k) per host and one masked sum (3m)."""
    model = fitted("coordinator")
    batches = [BATCH, BATCH, ROWS - 2 * BATCH]
    per_epoch = sum((2 * b + 3) + b + 2 * b + (6 + 3 + 2) for b in batches)
    training = sum(a.size for _, a in ciphertexts(model.transcript_))
    scoring = sum(a.size for _, a in ciphertexts(model.predict_bus_.transcript))
    assert training == EPOCHS * per_epoch == 1584
    assert scoring == 3 * ROWS

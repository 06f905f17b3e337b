"""Hetero LR sends exactly as many ciphertexts per epoch as its figure says (the hot path
does not grow). That each of them is freshly randomised and shares its randomness with no
other is checked for every algorithm and obfuscator scheme in tests/test_sent_ciphertexts.py."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from transcript_search import sent_arrays

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


def test_ciphertexts_per_epoch_are_exactly_the_protocols_count() -> None:
    """Per batch of b rows with hosts h1, h2 (features 3, 2) and a guest with 4 features
    plus the intercept: Enc(u_k) and the loss terms (b + 1 + k cross terms per host),
    Enc(u_1) to the later host (b), Enc(d) to each host (2b), masked gradients and loss
    (4 + 1 + 1, 3, 2). Scoring: Enc(u_k) per host and one masked sum (3m)."""
    model = fitted("coordinator")
    batches = [BATCH, ROWS - BATCH]  # whole batches: the remainder joins the last
    per_epoch = sum((2 * b + 3) + b + 2 * b + (6 + 3 + 2) for b in batches)
    training = sum(a.size for _, a in sent_arrays(model.transcript_))
    scoring = sum(a.size for _, a in sent_arrays(model.predict_bus_.transcript))
    assert training == EPOCHS * per_epoch == 1556
    assert scoring == 3 * ROWS

"""The obfuscator scheme is only about how ciphertexts are randomised: DJN's ``ceil(k/2)``-bit
exponents, the shorter ``"djn-short"`` ones and Paillier's full ``r^n`` train bit-identical
models and score identically (the randomness cancels in every decryption)."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.vfl import HeteroLogisticRegression


def _fit(scheme: str) -> tuple[HeteroLogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5))
    y = (x @ rng.normal(size=5) > 0).astype(float)
    ids = np.arange(120)
    model = HeteroLogisticRegression(
        key_bits=512, epochs=2, batch_size=60, tol=0.0, seed=1, key_seed=2,
        obfuscator_scheme=scheme,
    )  # fmt: skip
    data = {"g": (ids, x[:, :3]), "h": (ids, x[:, 3:])}
    model.fit(data, "g", y)
    return model, model.predict_scores(data).values


@pytest.mark.parametrize("scheme", ["djn-short", "full"])
def test_every_obfuscator_scheme_trains_the_same_model_as_djn(scheme: str) -> None:
    (reference, reference_scores), (other, scores) = _fit("djn"), _fit(scheme)
    np.testing.assert_array_equal(other.guest_model_.weights, reference.guest_model_.weights)
    assert other.guest_model_.intercept == reference.guest_model_.intercept
    np.testing.assert_array_equal(
        other.host_models_["h"].weights, reference.host_models_["h"].weights
    )
    assert other.losses_ == reference.losses_
    np.testing.assert_array_equal(scores, reference_scores)

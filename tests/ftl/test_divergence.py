"""Training that diverges (too high a learning rate) is named as divergence by the party
whose values stopped being finite or representable, with the epoch, batch and learning
rate - not as a malformed message from its peer or as a precision problem."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.ftl import TransferClassifier


def _fit(security: str, learning_rate: float) -> None:
    rng = np.random.default_rng(0)
    ids = np.array([f"customer-{i:04d}" for i in range(200)])
    x_bank, x_shop = rng.normal(size=(200, 5)), rng.normal(size=(200, 4))
    y = (x_bank[:, 0] > 0).astype(int)
    model = TransferClassifier(
        security=security,
        seed=0,
        dim=2,
        source_hidden="4",
        target_hidden="4",
        epochs=3,
        batch_size=32,
        key_bits=512,
        optimizer="sgd",
        learning_rate=learning_rate,
    )
    model.fit({"bank": (ids, x_bank), "shop": (ids, x_shop)}, source="bank", y=y)


@pytest.mark.parametrize("learning_rate", [1e3, 1e300])
def test_plaintext_divergence_names_the_party_the_batch_and_the_learning_rate(
    learning_rate: float,
) -> None:
    with pytest.raises(
        ConfigError, match=r"^(bank|shop): training diverged in epoch 1, batch \d+"
    ) as info:
        _fit("plaintext", learning_rate)
    assert f"learning_rate={learning_rate:g} is too high" in str(info.value)


@pytest.mark.parametrize("learning_rate", [1e3, 1e30])
def test_homomorphic_divergence_is_named_as_divergence_not_as_precision(
    learning_rate: float,
) -> None:
    with pytest.raises(ConfigError, match=r"^(bank|shop): training diverged in epoch 1") as info:
        _fit("homomorphic", learning_rate)
    assert f"learning_rate={learning_rate:g} is too high" in str(info.value)

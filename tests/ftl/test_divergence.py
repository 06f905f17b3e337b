"""Training that diverges (too high a learning rate) is named as divergence by the party
whose values stopped being finite or representable, with the epoch, batch and learning
rate - not as a malformed message from its peer or as a precision problem; a loss that rose
while staying finite is warned about."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from rengo.core.errors import ConfigError
from rengo.ftl import TransferClassifier


def _fit(security: str, learning_rate: float, optimizer: str = "sgd") -> None:
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
        optimizer=optimizer,
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


def _convergence_warnings(learning_rate: float) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit("plaintext", learning_rate, optimizer="adam")
    return [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_a_loss_that_rose_finite_is_warned_naming_the_learning_rate() -> None:
    """learning_rate=1e6 (Adam) stayed finite: the loss went 6.6e22 -> 2.5e23, the
    predictions all 1.0, and nothing said so. (Since the encoders read their columns
    z-scored, 1e6 ends these 3 epochs below its first loss, 2.2e23 -> 9.6e22; 1e7 rises,
    2.2e27 -> 3.2e27.)"""
    found = _convergence_warnings(1e7)
    assert len(found) == 1
    assert found[0].startswith("TransferClassifier: the loss rose from")
    assert "learning_rate=1e+07 is too high" in found[0]


def test_a_loss_that_fell_is_not_warned() -> None:
    assert _convergence_warnings(0.01) == []

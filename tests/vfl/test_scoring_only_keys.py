"""A scoring-only run (models kept from an earlier run, ``train=False``) makes key material
only when scoring needs it: SecureBoost's scoring walks the trees in the clear, and linear
models scored in plain mode gather plaintext partial scores, so neither makes a Paillier
key pair; linear models scored in encrypted mode do (the coordinator's, fresh)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from rengo.vfl import (
    HeteroLRConfig,
    HeteroSecureBoost,
    PartyData,
    PartyTable,
    SecureBoostConfig,
    VerticalPlan,
    simulate_vertical,
)
from rengo.vfl import runner as vertical_runner
from rengo.vfl.hetero_lr import GuestModel, HostModel


@pytest.fixture
def key_pairs_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Who made key material in the run (every role makes it through ``make_keys``)."""
    made: list[str] = []
    real = vertical_runner.make_keys

    def counting(algorithm: Any, config: Any, who: str, progress: Any = None) -> Any:
        made.append(who)
        return real(algorithm, config, who, progress)

    monkeypatch.setattr(vertical_runner, "make_keys", counting)
    return made


def _rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return np.array([f"c{i:03d}" for i in range(len(x))]), x, y


def _scoring(ids: np.ndarray, x: np.ndarray) -> dict[str, PartyData]:
    return {
        "card": PartyData(None, None, PartyTable(ids[:80], x[:80, :15])),
        "bank": PartyData(None, None, PartyTable(ids[:80], x[:80, 15:])),
    }


@pytest.mark.parametrize("holder", ["label_party", "coordinator"])
def test_a_scoring_only_secureboost_run_makes_no_key_pair(
    holder: str, key_pairs_made: list[str]
) -> None:
    """Before, the key holder made a Paillier key pair it never used: scoring sends no
    ciphertext."""
    ids, x, y = _rows()
    settings: dict[str, Any] = {"n_trees": 1, "max_depth": 2, "key_bits": 512, "key_holder": holder}
    config = SecureBoostConfig(**settings)
    model = HeteroSecureBoost(seed=0, key_seed=1, **settings)
    model.fit({"card": (ids, x[:, :15]), "bank": (ids, x[:, 15:])}, "card", y)
    plan = VerticalPlan("card", ("bank",), config, 0, train=False, algorithm="secureboost")
    models = {"card": model.guest_model_, "bank": model.host_models_["bank"]}
    run = simulate_vertical(plan, _scoring(ids, x), models=models)
    assert key_pairs_made == []
    assert run.coordinator.keys is None and run.parties["card"].keys is None
    expected = model.predict_raw({"card": (ids[:80], x[:80, :15]), "bank": (ids[:80], x[:80, 15:])})
    np.testing.assert_array_equal(run.parties["card"].scores, expected[1])  # type: ignore[index]


@pytest.mark.parametrize(("mode", "makers"), [("plain", []), ("encrypted", ["coordinator"])])
def test_a_scoring_only_linear_run_makes_a_key_pair_only_to_score_encrypted(
    mode: str, makers: list[str], key_pairs_made: list[str]
) -> None:
    ids, x, _ = _rows()
    rng = np.random.default_rng(0)
    models = {
        "card": GuestModel(rng.normal(size=15), 0.5),
        "bank": HostModel(rng.normal(size=15), 1),
    }
    config = HeteroLRConfig(key_bits=512, predict_mode=mode)  # type: ignore[arg-type]
    run = simulate_vertical(
        VerticalPlan("card", ("bank",), config, 0, train=False), _scoring(ids, x), models=models
    )
    assert key_pairs_made == makers
    assert run.parties["card"].scores is not None and len(run.parties["card"].scores) == 80
    keys_sent = [e for e in run.transcript if e.key.endswith("public-key")]
    assert len(keys_sent) == (2 if mode == "encrypted" else 0)

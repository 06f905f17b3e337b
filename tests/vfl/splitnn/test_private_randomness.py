"""A split-learning party's private randomness is its own: the run seed, which every party
receives in the plan, gives neither a feature party's initial bottom model (with it the
label party inverts the first batch's embeddings into raw columns) nor the label party's
defence noise (with it a feature party subtracts the noise from its gradients)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from deployed_roles import run_as_deployed

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.vfl import PartyData, PartyTable, SplitNNConfig, VerticalPlan
from rengo.vfl.splitnn import roles as splitnn_roles
from rengo.vfl.splitnn.network import bottom_sizes, build_mlp, init_mlp, party_rng

SEED = 3


def _plan(**options: Any) -> VerticalPlan:
    config = SplitNNConfig(epochs=1, batch_size=64, bottom_hidden=0, **options)
    return VerticalPlan("card", ("bank",), config, SEED, score=False, algorithm="splitnn")


def _data(cancer: dict[str, Any]) -> dict[str, PartyData]:
    card_ids, card_x = cancer["parties"]["card"]
    bank_ids, bank_x = cancer["parties"]["bank"]
    return {
        "card": PartyData(PartyTable(card_ids, card_x), cancer["labels"]),
        "bank": PartyData(PartyTable(bank_ids, bank_x)),
    }


def test_the_run_seed_does_not_give_a_feature_partys_initial_bottom_model(
    cancer: dict[str, Any],
) -> None:
    """What the label party could compute from the plan's seed is not the bank's model: no
    row of the bank's first embeddings is that model applied to any of the bank's rows
    (before, every row was, and a bottom model as wide as the bank's columns inverted)."""
    plan = _plan()
    _, sent = run_as_deployed(plan, _data(cancer))
    first = next(e for e in sent if e.key == "train/splitnn/epoch=0/batch=0/embedding")
    embeddings = decode(envelope_from_bytes(first.payload).payload)
    bank_x = cancer["parties"]["bank"][1].astype(np.float32)
    width = plan.config.embedding_dim
    guessed_weights = init_mlp(bottom_sizes(10, 0, width), party_rng(SEED, "bank", "init"))
    with torch.no_grad():
        guessed = build_mlp(guessed_weights, final_relu=True)(torch.from_numpy(bank_x)).numpy()
    matches = np.isclose(embeddings[:, None, :], guessed[None, :, :], atol=1e-6).all(axis=2)
    assert embeddings.shape == (64, width)
    assert not matches.any()


def test_the_run_seed_does_not_give_the_label_partys_defence_noise(
    cancer: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The noise generator the label party's defence draws from is not the one a feature
    party could make from the plan's seed."""
    first_draws: list[float] = []
    defend = splitnn_roles.defend_gradients

    def recording(gradients: Any, defense: str, scale: float, rng: Any, **kw: Any) -> Any:
        first_draws.append(float(copy.deepcopy(rng).random()))
        return defend(gradients, defense, scale, rng, **kw)

    monkeypatch.setattr(splitnn_roles, "defend_gradients", recording)
    run_as_deployed(_plan(defense="gaussian", noise_scale=1.0), _data(cancer))
    guessed = party_rng(SEED, "card", "noise").random()
    assert first_draws and first_draws[0] != guessed


def test_a_feature_party_given_seed_still_trains_but_not_from_that_seed() -> None:
    """``splitnn_feature_party(seed=...)`` (its initial weights' seed before ``own_seed``)
    still trains, with a DeprecationWarning, but its weights no longer come from that seed:
    a caller passing the run seed, as the old docstring said, would hand them to the label
    party."""
    from rengo.transport.channel import LocalBus, run_roles

    rng = np.random.default_rng(0)
    x_card, x_bank = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    labels = (x_card[:, 0] + x_bank[:, 0] > 0).astype(float)
    config = SplitNNConfig(epochs=1, batch_size=20, bottom_hidden=0)

    def bank_weights(**bank_seed: int) -> list[np.ndarray]:
        roles = {
            "card": lambda ch: splitnn_roles.splitnn_label_party(
                ch, x_card, labels, ["bank"], config, seed=1, own_seed=2
            ),
            "bank": lambda ch: splitnn_roles.splitnn_feature_party(
                ch, x_bank, "card", config, **bank_seed
            ),
        }
        bus = LocalBus(["card", "bank"])
        return [np.asarray(w) for w in run_roles(bus, roles)["bank"].bottom]

    with pytest.warns(DeprecationWarning, match=r"seed=\.\.\.\) is deprecated.*own_seed"):
        old_style = bank_weights(seed=7)
    from_that_seed = bank_weights(own_seed=7)
    assert len(old_style) == len(from_that_seed)
    assert not any(np.array_equal(a, b) for a, b in zip(old_style, from_that_seed, strict=True))

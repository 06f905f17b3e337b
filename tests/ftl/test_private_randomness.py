"""A transfer-learning party's encoder starts from its own randomness: the run seed, which
the plan gives both parties and the set-up sends again, gives neither party's initial
encoder (with the target's, the source could invert the target's representations into its
raw columns, or solve its gradient for them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from deployed_roles import run_as_deployed
from ftl_scenarios import scenario

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.ftl import TransferConfig
from rengo.ftl import encoders as ftl_encoders
from rengo.ftl.roles import TARGET_SEED
from rengo.vfl import PartyData, PartyTable, VerticalPlan

SEED = 4


@pytest.fixture(scope="module")
def plaintext_run() -> dict[str, Any]:
    """A deployed-style plaintext run (the target's representations cross in the clear),
    with the seeds each encoder was built from."""
    split = scenario(rows=300, seed=0, target_labels=20).split
    config = TransferConfig(
        security="plaintext", dim=4, source_hidden="", target_hidden="", epochs=1, batch_size=40
    )
    plan = VerticalPlan("bank", ("shop",), config, SEED, score=False, algorithm="ftl")
    data = {
        "bank": PartyData(PartyTable(split.source.ids, split.source.X), split.source.labels),
        "shop": PartyData(PartyTable(split.target.ids, split.target.X), split.target.labels),
    }
    seeds: list[list[int]] = []
    build = ftl_encoders.build_encoder

    def recording(*args: Any) -> Any:
        seeds.append(list(args[-1]))
        return build(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ftl_encoders, "build_encoder", recording)
        _, sent = run_as_deployed(plan, data)
    return {"split": split, "config": config, "sent": sent, "seeds": seeds}


def _decoded(entry: Any) -> Any:
    return decode(envelope_from_bytes(entry.payload).payload)


def test_no_encoder_starts_from_a_seed_the_other_party_received(
    plaintext_run: dict[str, Any],
) -> None:
    sent = plaintext_run["sent"]
    setups = [_decoded(e) for e in sent if e.key.endswith("ftl/setup")]
    received = {SEED} | {s["seed"] for s in setups if "seed" in s}
    assert len(received) == 1  # the source sends the run seed at set-up
    assert len(plaintext_run["seeds"]) == 2  # the source's and the target's encoders
    assert not [s for s in plaintext_run["seeds"] if s[0] in received]


def test_the_targets_representations_are_not_the_encoder_the_run_seed_gives(
    plaintext_run: dict[str, Any],
) -> None:
    """What the source could build from the run seed is not the target's encoder: no row of
    the target's first representations is that encoder applied to any of its rows."""
    split, config = plaintext_run["split"], plaintext_run["config"]
    first = next(
        e for e in plaintext_run["sent"] if e.key == "train/ftl/epoch=0/batch=0/target-terms"
    )
    u = np.asarray(_decoded(first)["u"])
    x = np.asarray(split.target.X, dtype=np.float64)
    guess = ftl_encoders.build_encoder(x.shape[1], [], config.dim, "tanh", [SEED, TARGET_SEED])
    guessed = ftl_encoders.represent(guess, x)
    shared = len(set(split.source.ids) & set(split.target.ids))
    assert u.shape == (shared, config.dim)  # fewer shared rows than a batch: all of them
    assert not np.isclose(u[:, None, :], guessed[None, :, :], atol=1e-9).all(axis=2).any()

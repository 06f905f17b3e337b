"""A scoring-only deployed run (serve_vertical_coordinator(train=False), parties with kept
models, over the gRPC hub with mTLS) makes no Paillier key pair when scoring needs none:
linear models scored in plain mode, SecureBoost whoever holds its keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve

from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.deploy import vertical as deployed_vertical
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import HeteroLRConfig, HeteroSecureBoost, PartyData, PartyTable, SecureBoostConfig
from rengo.vfl import runner as vertical_runner
from rengo.vfl.hetero_lr import GuestModel, HostModel

PARTIES = ["card", "bank"]
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=2.0)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("scoring-certs")
    init_certificates(directory, PARTIES)
    return directory


@pytest.fixture
def key_pairs_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Who made key material: the coordinator's server (while parties join) or a role."""
    made: list[str] = []
    real = vertical_runner.make_keys

    def counting(algorithm: Any, config: Any, who: str, progress: Any = None) -> Any:
        made.append(who)
        return real(algorithm, config, who, progress)

    monkeypatch.setattr(vertical_runner, "make_keys", counting)
    monkeypatch.setattr(deployed_vertical, "make_keys", counting)
    return made


def _score(certs: Path, algorithm: str, config: Any, models: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    ids = np.array([f"c{i:02d}" for i in range(40)])
    x = rng.normal(size=(40, 6))
    data = {
        "card": PartyData(None, None, PartyTable(ids, x[:, :3])),
        "bank": PartyData(None, None, PartyTable(ids[::-1], x[::-1, 3:])),
    }
    hub, address = serve(
        lambda listening: serve_vertical_coordinator(
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            PARTIES,
            "card",
            algorithm=algorithm,
            config=config,
            train=False,
            join_timeout=20.0,
            heartbeat_interval=0.5,
            on_listening=listening,
        )
    )
    roles = {
        name: (
            lambda n=name: run_vertical_party(
                address, n, data[n], PartyCredentials.from_directory(certs, n),
                heartbeat_interval=0.5, backoff=FAST, linger=5.0, model=models[n],
            )
        )
        for name in PARTIES
    }  # fmt: skip
    outcome = run_all(roles, timeout=60)
    outcome["coordinator"] = hub.outcome(60)
    for name, value in outcome.items():
        assert not isinstance(value, BaseException), (name, value)
    return outcome


@pytest.mark.timeout(120)
def test_a_deployed_linear_scoring_only_run_in_plain_mode_makes_no_key_pair(
    certs: Path, key_pairs_made: list[str]
) -> None:
    """Before, the coordinator made a key pair while the parties joined, and never used it."""
    rng = np.random.default_rng(0)
    models = {"card": GuestModel(rng.normal(size=3), 0.5), "bank": HostModel(rng.normal(size=3), 1)}
    config = HeteroLRConfig(key_bits=512, predict_mode="plain")
    outcome = _score(certs, "hetero_lr", config, models)
    assert key_pairs_made == []
    assert outcome["coordinator"].outcome.keys is None
    assert len(outcome["card"].scores) == 40


@pytest.mark.timeout(120)
def test_a_deployed_secureboost_scoring_only_run_makes_no_key_pair(
    certs: Path, key_pairs_made: list[str]
) -> None:
    rng = np.random.default_rng(1)
    ids = np.array([f"c{i:02d}" for i in range(40)])
    x, y = rng.normal(size=(40, 6)), rng.integers(0, 2, 40)
    settings: dict[str, Any] = {"n_trees": 1, "max_depth": 2, "key_bits": 512}
    model = HeteroSecureBoost(seed=0, key_seed=1, **settings)
    model.fit({"card": (ids, x[:, :3]), "bank": (ids, x[:, 3:])}, "card", y)
    models = {"card": model.guest_model_, "bank": model.host_models_["bank"]}
    outcome = _score(certs, "secureboost", SecureBoostConfig(**settings), models)
    assert key_pairs_made == []
    assert outcome["card"].keys is None and len(outcome["card"].scores) == 40

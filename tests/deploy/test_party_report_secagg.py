"""A deployed party training with local DP (Opacus) under SecAgg+ prints its own epsilon on
its line for each round, as it does without secure aggregation: under SecAgg+ its fit
metrics stay with it, so its console is the only place its operator sees what it spent.

Before, a party with an mTLS certificate installs its signing secure-aggregation mod inside
``rengo party``'s round report; the masked-input stage went straight to that mod and the fit
it ran skipped every mod installed outside it, so the party printed no round line at all."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from rich.console import Console  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import rengo.cli.deploy as deploy  # noqa: E402
from rengo.core.messages import FitResult  # noqa: E402
from rengo.deploy import run_party, serve_coordinator  # noqa: E402
from rengo.hfl import FedAvg, SecAggPlus, TorchClient, get_parameters, make_mlp  # noqa: E402
from rengo.privacy import LocalDP  # noqa: E402
from rengo.privacy.epsilon_text import epsilon_shown  # noqa: E402
from rengo.transport.grpc_party import Backoff  # noqa: E402
from rengo.transport.grpc_security import HubSecurity, PartyCredentials  # noqa: E402

NAMES = ["p0", "p1", "p2"]
ROUNDS = 2


def _client_fn(name: str) -> TorchClient:
    gen = torch.Generator().manual_seed(NAMES.index(name))
    data = TensorDataset(
        torch.randn(40, 6, generator=gen), torch.randint(0, 2, (40,), generator=gen)
    )
    dp = LocalDP(noise_multiplier=1.1, max_grad_norm=1.0, delta=1e-5)
    return TorchClient(make_mlp(6, 2, (8,)), DataLoader(data, batch_size=10), lr=0.5, dp=dp)


class Spent:
    """Installed inside the report: the epsilon each fit of the party reported, by round."""

    def __init__(self) -> None:
        self.epsilons: dict[int, float] = {}

    def __call__(self, call: Any, call_next: Any) -> Any:
        reply = call_next(call)
        if isinstance(reply, FitResult):
            self.epsilons[int(call.config["server_round"])] = float(reply.metrics["dp_epsilon"])
        return reply


@pytest.mark.timeout(180)
def test_a_local_dp_party_under_secagg_prints_its_epsilon_each_round(
    certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = Console(width=300, record=True, color_system=None)
    monkeypatch.setattr(deploy, "console", shown)
    ready, result = threading.Event(), {}

    def listening(hub: Any) -> None:
        result["address"] = f"127.0.0.1:{hub.port}"
        ready.set()

    def coordinator() -> None:
        try:
            result["history"] = serve_coordinator(
                FedAvg(min_fit_clients=3, fraction_evaluate=0.0),
                get_parameters(make_mlp(6, 2, (8,))), ROUNDS, "127.0.0.1:0",
                HubSecurity.from_directory(certs), parties=NAMES, join_timeout=30.0,
                round_timeout=60.0, seed=0, heartbeat_interval=0.5, on_listening=listening,
                workflow=SecAggPlus(quantisation_bits=20),
            )  # fmt: skip
        except BaseException as exc:
            result["error"] = exc
            ready.set()

    serving = threading.Thread(target=coordinator, daemon=True)
    serving.start()
    assert ready.wait(30) and "error" not in result, result.get("error")
    spent = {name: Spent() for name in NAMES}
    parties = [
        threading.Thread(
            target=run_party,
            args=(
                result["address"],
                name,
                _client_fn,
                PartyCredentials.from_directory(certs, name),
            ),
            kwargs={
                "heartbeat_interval": 0.5,
                "backoff": Backoff(initial=0.05, maximum=0.3, give_up_after=30.0),
                "mods": [deploy.PartyReport(name), spent[name]],
            },
            daemon=True,
        )
        for name in NAMES
    ]
    for party in parties:
        party.start()
    for party in parties:
        party.join(120)
    serving.join(30)
    assert not any(t.is_alive() for t in [*parties, serving]), "the run did not finish"
    assert "error" not in result, result.get("error")
    text = shown.export_text()
    for name in NAMES:
        assert sorted(spent[name].epsilons) == [1, 2]  # the party trained every round
        for server_round, epsilon in spent[name].epsilons.items():
            assert f"{name}: round {server_round}: trained on 40 examples, loss " in text, text
            assert f", local DP epsilon {epsilon_shown(epsilon)} at delta 1e-05 in " in text, text
        # the epsilon it prints grows as it spends
        assert spent[name].epsilons[2] > spent[name].epsilons[1] > 0

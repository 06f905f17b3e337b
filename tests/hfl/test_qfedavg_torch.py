"""q-FedAvg's client half on a PyTorch client: TorchClient measures its loss at the model it
received without changing the batches it then trains on, and refuses to under local DP."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.core.errors import ConfigError  # noqa: E402
from rengo.hfl import QFFLMod, with_mods  # noqa: E402
from rengo.hfl.mods.qffl import LIPSCHITZ_KEY, Q_KEY, qffl_terms  # noqa: E402
from rengo.hfl.torch_client import (  # noqa: E402
    TorchClient,
    evaluate_model,
    get_parameters,
    set_parameters,
)
from rengo.privacy import LocalDP  # noqa: E402

X = torch.randn(48, 4, generator=torch.Generator().manual_seed(1))
Y = (X[:, 0] + X[:, 1] > 0).long()


def _client(dp: LocalDP | None = None) -> TorchClient:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 2))
    loader = DataLoader(TensorDataset(X, Y), batch_size=8, shuffle=True)
    return TorchClient(model, loader, lr=0.1, local_epochs=2, dp=dp)


def test_torch_client_reports_its_loss_at_the_model_received_and_trains_as_without() -> None:
    w = get_parameters(_client().model)
    config = {"seed": 5}
    plain = _client().fit(w, config)
    reply = with_mods(_client(), [QFFLMod()]).fit(w, {**config, Q_KEY: 1.0, LIPSCHITZ_KEY: 10.0})

    probe = _client()
    set_parameters(probe.model, w)
    loss, _, _ = evaluate_model(probe.model, probe.train_loader, probe.loss_fn)
    assert reply.metrics["initial_loss"] == pytest.approx(loss, rel=1e-6)
    delta, h = qffl_terms(w, plain.parameters, loss, 1.0, 10.0)
    for got, want in zip(reply.parameters, [*delta, np.asarray(h)], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_torch_client_under_local_dp_refuses_to_measure_its_loss_for_q_fedavg() -> None:
    client = _client(LocalDP(noise_multiplier=1.0, max_grad_norm=1.0))
    w = get_parameters(client.model)
    with pytest.raises(ConfigError, match="DP-SGD's accounting does not cover"):
        with_mods(client, [QFFLMod()]).fit(w, {"seed": 1, Q_KEY: 1.0, LIPSCHITZ_KEY: 10.0})

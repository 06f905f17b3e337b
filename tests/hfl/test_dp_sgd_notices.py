"""A local DP-SGD fit shows the user none of Opacus's or PyTorch's notices that rengo's own
choices make moot: "Secure RNG turned off ... turn it on" (rengo draws DP-SGD's noise from
generators it seeds with operating-system entropy, and Opacus's ``secure_mode`` is not
offered), and "Full backward hook is firing when gradients are computed with respect to
module outputs since no inputs require gradients" (Opacus's per-example hooks on a first
layer, whose inputs never need a gradient). `rengo run` printed both as warnings each run."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.hfl.torch_client import TorchClient, get_parameters, make_mlp  # noqa: E402
from rengo.privacy import LocalDP  # noqa: E402


def _client() -> tuple[TorchClient, torch.nn.Module]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(60, 6, generator=gen)
    rows = TensorDataset(x, (x[:, 0] > 0).long())
    model = make_mlp(6, 2, (8,))
    return TorchClient(model, DataLoader(rows, batch_size=10), lr=0.5, dp=LocalDP()), model


def test_a_dp_sgd_fit_shows_no_notice_its_user_cannot_act_on() -> None:
    client, model = _client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = client.fit(get_parameters(model), {"server_round": 1, "seed": 1})
        warnings.warn("a warning of the user's own still shows", UserWarning, stacklevel=1)
    assert fitted.metrics["dp_epsilon"] > 0
    shown = [str(w.message) for w in caught]
    assert shown == ["a warning of the user's own still shows"], shown


def _notice() -> None:
    warnings.warn("a notice shown once", UserWarning, stacklevel=1)  # one code location


def test_a_warning_shown_once_is_not_shown_again_after_each_fit() -> None:
    """Each fit hid the two notices inside warnings.catch_warnings, whose every exit makes
    Python forget which warnings it has shown once: they showed again after every fit."""
    client, model = _client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # once per code location, Python's default
        for server_round in (1, 2, 3):
            client.fit(get_parameters(model), {"server_round": server_round, "seed": 1})
            _notice()
    assert [str(w.message) for w in caught].count("a notice shown once") == 1

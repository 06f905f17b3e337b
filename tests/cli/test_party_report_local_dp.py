"""A deployed party's console line for each round says its own local-DP epsilon: DP-SGD's
epsilon is the party's to sign off, and `rengo party` printed only its loss."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rich.console import Console

import rengo.cli.deploy as deploy
from rengo.core.messages import FitIns, FitResult
from rengo.hfl.mods.chain import ClientCall


def _line(monkeypatch: pytest.MonkeyPatch, metrics: dict[str, Any]) -> str:
    shown = Console(width=300, record=True, color_system=None)
    monkeypatch.setattr(deploy, "console", shown)
    call = ClientCall("hospital", "fit", FitIns([np.zeros(2)], {"server_round": 3}), {})
    reply = deploy.PartyReport("hospital")(call, lambda c: FitResult([np.zeros(2)], 40, metrics))
    assert isinstance(reply, FitResult)
    return shown.export_text()


def test_a_local_dp_partys_round_line_says_its_epsilon(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _line(monkeypatch, {"loss": 0.5, "dp_epsilon": 2.3456, "dp_delta": 1e-5})
    assert "hospital: round 3: trained on 40 examples, loss 0.5000, local DP epsilon 2.346 " in text
    assert "at delta 1e-05 in " in text
    assert "epsilon" not in _line(monkeypatch, {"loss": 0.5})


def test_a_local_dp_partys_epsilon_is_rounded_up_as_every_epsilon_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The party printed 2.27208 as 'local DP epsilon 2.272', below the bound it signs."""
    text = _line(monkeypatch, {"loss": 0.5, "dp_epsilon": 2.2720835818, "dp_delta": 1e-5})
    assert "local DP epsilon 2.273 at delta" in text

"""``progress=True`` in a Jupyter notebook without ipywidgets: rich drew nothing there (its
live display needs an ipywidgets ``Output``) and warned 'install "ipywidgets" for Jupyter
support', so a notebook user saw an empty cell. The bars now go to one IPython display
updated in place. No Jupyter is needed here: the kernel is imitated (rich's notebook test,
an IPython ``display`` that records what it is given, and ipywidgets missing)."""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

import numpy as np
import pytest

from rengo.core.notebook_progress import live_progress
from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.vfl import RichVerticalProgress, VerticalProgress


class _Handle:
    def __init__(self, shown: list[dict[str, str]], data: dict[str, str]) -> None:
        self._shown = shown
        shown.append(data)

    def update(self, data: dict[str, str], raw: bool = False) -> None:
        assert raw
        self._shown.append(data)


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """A Jupyter kernel without ipywidgets; returns every state the cell's display showed."""
    shown: list[dict[str, str]] = []
    handles: list[_Handle] = []

    def display(*objs: Any, raw: bool = False, display_id: Any = None, **_: Any) -> _Handle:
        data = objs[0] if raw else {"text/plain": "".join(map(str, objs)), "text/html": ""}
        handles.append(_Handle(shown, data))
        return handles[-1]

    ipython = types.ModuleType("IPython")
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display  # type: ignore[attr-defined]
    ipython.display = ipython_display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    monkeypatch.setattr("rich.console._is_jupyter", lambda: True)
    return shown


def _client(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    return LogisticRegressionClient(rng.normal(size=(20, 4)), rng.integers(0, 2, 20), lr=0.1)


def test_a_simulation_s_round_bar_shows_in_a_notebook_without_ipywidgets(
    notebook: list[dict[str, str]],
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        simulate(_client, 3, FedAvg(), softmax_init(4, 2), rounds=4, progress=True)
    assert notebook, "nothing was displayed"
    last = notebook[-1]
    assert "4/4" in last["text/plain"] and "train_loss=" in last["text/plain"]
    assert last["text/html"].startswith("<") and "4/4" in last["text/html"]
    assert not [w for w in caught if "ipywidgets" in str(w.message)]


def test_a_vertical_fit_s_bars_show_in_a_notebook_without_ipywidgets(
    notebook: list[dict[str, str]],
) -> None:
    with RichVerticalProgress() as draw:
        draw(VerticalProgress("card", "psi", done=0, total=10, phase="train"))
        draw(VerticalProgress("card", "psi", done=10, total=10, matched=10, phase="train"))
        draw(VerticalProgress("card", "train", done=3, total=3, epoch=1, epochs=1, loss=0.5))
    assert notebook and "10 matched" in notebook[-1]["text/plain"]
    assert "loss 0.5" in notebook[-1]["text/plain"]


def test_outside_a_notebook_the_bar_is_rich_s_own() -> None:
    from rich.live import Live

    bar = live_progress()
    assert type(bar.live) is Live

"""A missing extra is named with the command that installs it into this installation: from a
source checkout (``make demo``'s editable install) ``pip install 'rengo[ui]'`` would fetch
another rengo from the package index, and without the checkout's constraints a CUDA build of
PyTorch."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from rengo.core import install_hint as hint_module
from rengo.core.install_hint import install_hint, source_checkout

ROOT = Path(__file__).resolve().parents[2]


def test_from_this_checkout_the_hint_installs_the_checkout_with_its_constraints() -> None:
    if source_checkout() is None:
        pytest.skip("rengo runs from an installed package here, not from its source checkout")
    assert source_checkout() == ROOT
    words = shlex.split(install_hint("ui"))
    assert words[:4] == [sys.executable, "-m", "pip", "install"]
    assert words[words.index("-c") + 1] == str(ROOT / "constraints.txt")
    assert words[-2:] == ["-e", f"{ROOT}[ui]"]


def test_an_installed_package_is_told_the_package_index_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hint_module, "source_checkout", lambda: None)
    assert install_hint("torch") == "pip install 'rengo[torch]'"

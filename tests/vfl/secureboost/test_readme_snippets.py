"""The README's SecureBoost snippets run as written (on small data, 512-bit demo keys
instead of 2048): the model trains, each party's JSON file is written and read back, and
the scorer built from the files scores new rows bit for bit as the trained model did."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def _python_blocks_naming(marker: str) -> list[str]:
    """The README's ```python blocks that contain ``marker``, in order."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [block for block in blocks if marker in block]


def test_the_readmes_secureboost_snippets_keep_a_model_per_party_and_score_it_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (train,) = _python_blocks_naming("model = HeteroSecureBoost(")
    (keep,) = _python_blocks_naming("HeteroSecureBoost.from_party_models(")
    rng = np.random.default_rng(0)
    ids = np.array([f"u{i:03d}" for i in range(120)])
    x_bank, x_card = rng.normal(size=(120, 3)), rng.normal(size=(120, 2))
    scope: dict[str, Any] = {
        "bank_ids": ids, "X_bank": x_bank, "card_ids": ids[::-1], "X_card": x_card[::-1],
        "new_b": ids[:30], "Xn_b": x_bank[:30], "new_c": ids[:30], "Xn_c": x_card[:30],
    }  # fmt: skip
    scope["y"] = (x_bank[::-1, 0] + x_card[::-1, 0] > 0).astype(int)  # in card_ids' order
    monkeypatch.chdir(tmp_path)  # the snippet writes card.json and bank.json here
    exec(train.replace("key_bits=2048", "key_bits=512"), scope)
    trained_ids, trained = scope["ids"], scope["p"]
    exec(keep, scope)
    assert (tmp_path / "card.json").is_file() and (tmp_path / "bank.json").is_file()
    assert list(scope["ids"]) == list(trained_ids) and len(trained_ids) == 30
    assert np.array_equal(scope["p"], trained)

"""The credit-default consortium story runs end to end on the bundled stand-in data."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.showcase import run_credit_default


def test_credit_story_falls_back_to_bundled_data_and_scores_new_customers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENGO_SHARED_DATA", str(tmp_path))  # no UCI file there
    lines: list[str] = []
    figures = run_credit_default(small=True, epochs=2, log=lines.append)
    assert figures["dataset"].startswith("breast cancer")
    assert figures["customers"] == 569
    assert 0 < figures["common_customers"] < 569 * 0.8
    assert figures["new_customers"] == 569 - int(569 * 0.8)
    assert figures["auc"] > 0.95 and 0 < figures["ks"] <= 1
    assert figures["auc"] > figures["central_auc"] - 0.03
    assert any(line.startswith("4. scored") for line in lines)
    boosted = figures["secureboost"]
    assert boosted["trees"] == 5 and boosted["auc"] > 0.95
    assert abs(boosted["auc"] - figures["central_boosted_auc"]) < 0.03
    assert any(line.startswith("5. the same consortium trains SecureBoost") for line in lines)

"""The credit-default consortium story runs on real credit data for every user (the UCI
sample that ships with rengo), and federating really helps: the consortium beats the card
issuer alone on the new customers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.data import load_credit_default
from rengo.showcase import run_credit_default


def test_the_bundled_credit_sample_is_real_uci_data_with_its_attribution() -> None:
    data = load_credit_default()
    assert data.X.shape == (5000, 23) and data.ids is not None
    assert data.feature_names[:5] == ("LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE")
    assert 0.2 < data.y.mean() < 0.25  # 22 % defaulted, as in the full table
    assert len(set(data.ids.tolist())) == 5000
    folder = Path(__import__("rengo.data", fromlist=["x"]).__file__).parent / "bundled_data"
    notice = (folder / "UCI_CREDIT_CARD.md").read_text()
    assert "CC BY 4.0" in notice and "10.24432/C55S3H" in notice and "I-Cheng Yeh" in notice
    assert "Attribution 4.0 International" in (folder / "LICENSE-CC-BY-4.0.txt").read_text()


def test_credit_story_scores_new_customers_and_federating_pays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENGO_SHARED_DATA", str(tmp_path))  # no shared data: the bundled sample
    lines: list[str] = []
    figures = run_credit_default(small=True, seed=0, log=lines.append)
    assert figures["dataset"].startswith("UCI credit-card default")
    assert figures["customers"] == 2000
    assert 0 < figures["common_customers"] < 2000 * 0.8
    assert figures["new_customers"] == 400
    assert figures["auc"] > figures["alone_auc"] + 0.05  # the federation's gain is real
    assert figures["auc"] > figures["central_auc"] - 0.03  # and close to pooling everything
    assert 0 < figures["ks"] <= 1
    assert any(line.startswith("4. scored") for line in lines)
    assert any("CC BY 4.0" in line for line in lines)
    boosted = figures["secureboost"]
    assert boosted["trees"] == 5 and boosted["auc"] > figures["auc"]  # measured 0.746, 0.678
    assert abs(boosted["auc"] - figures["central_boosted_auc"]) < 0.03
    assert any(line.startswith("5. the same consortium trains SecureBoost") for line in lines)

"""The credit-default consortium's party contribution: Shapley values of the bank and the
telecom on the new customers' AUC, and a budget split by them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.showcase import credit_party_contribution


def test_credit_story_values_bank_and_telecom_and_splits_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENGO_SHARED_DATA", str(tmp_path))  # no shared data: bundled sample
    lines: list[str] = []
    result = credit_party_contribution(small=True, epochs=2, budget_minor=5_000, log=lines.append)
    contribution = result.contribution
    assert result.dataset.startswith("UCI credit-card default")
    assert contribution.values["bank"] > contribution.values["telecom"] > -0.01
    assert contribution.full > contribution.baseline + 0.05
    assert contribution.label_party == "card_issuer"
    assert set(contribution.values) == {"bank", "telecom"}
    assert sum(contribution.values.values()) == pytest.approx(
        contribution.full - contribution.baseline, abs=1e-12
    )
    paid = {p.participant: p.amount_minor for p in result.payouts}
    positive = [p for p, v in contribution.values.items() if v > 0]
    assert sum(paid.values()) == (5_000 if positive else 0)
    assert all(paid[p] == 0 for p, v in contribution.values.items() if v <= 0)
    assert any(line.strip().startswith("bank: Shapley") for line in lines)

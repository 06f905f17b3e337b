"""The accountant agrees with dp-accounting's own accountants on published settings."""

from __future__ import annotations

import pytest

dp_accounting = pytest.importorskip("dp_accounting")

from rengo.core.errors import ConfigError  # noqa: E402
from rengo.privacy import (  # noqa: E402
    PrivacyAccountant,
    calibrate_noise_multiplier,
    epsilon_after,
    rounds_within_budget,
)


def _reference(noise: float, q: float, steps: int, delta: float, kind: str) -> float:
    """dp-accounting with its default settings, composed step by step as its docs show."""
    event = dp_accounting.GaussianDpEvent(noise)
    if q < 1:
        event = dp_accounting.PoissonSampledDpEvent(q, event)
    acc = dp_accounting.pld.PLDAccountant() if kind == "pld" else dp_accounting.rdp.RdpAccountant()
    acc.compose(event, steps)
    return float(acc.get_epsilon(delta))


def test_pld_is_tighter_than_rdp_at_the_issues_setting() -> None:
    # q = 1, sigma = 0.5, 20 rounds, delta = 1e-5: epsilon 77.3 (PLD) vs 81.1 (RDP)
    pld = epsilon_after(20, 0.5, 1e-5, 1.0, "pld")
    rdp = epsilon_after(20, 0.5, 1e-5, 1.0, "rdp")
    assert pld == pytest.approx(77.3, abs=0.05)
    assert rdp == pytest.approx(81.1, abs=0.05)
    assert pld < rdp


@pytest.mark.parametrize(
    ("noise", "q", "steps"),
    [
        (0.5, 1.0, 20),  # the issue's setting
        (1.1, 256 / 60_000, 2_000),  # Abadi et al. 2016's MNIST DP-SGD sampling rate
        (1.0, 0.1, 50),  # cross-device-like FL: 10% of clients per round
        (4.0, 0.01, 1_000),
    ],
)
@pytest.mark.parametrize("kind", ["pld", "rdp"])
def test_epsilon_matches_dp_accounting(noise: float, q: float, steps: int, kind: str) -> None:
    ours = epsilon_after(steps, noise, 1e-5, q, kind)
    ref = _reference(noise, q, steps, 1e-5, kind)
    if kind == "rdp":
        assert ours == pytest.approx(ref, rel=1e-9)
    else:  # a coarser (still pessimistic) grid than dp-accounting's default
        assert ref * (1 - 1e-9) <= ours <= ref * (1 + 1e-3)


def test_budget_search_brackets_the_target() -> None:
    k = rounds_within_budget(10.0, 1.0, 1e-5, 0.3, "rdp")
    assert epsilon_after(k, 1.0, 1e-5, 0.3, "rdp") <= 10.0
    assert epsilon_after(k + 1, 1.0, 1e-5, 0.3, "rdp") > 10.0


def test_calibrated_noise_meets_the_budget_and_little_more() -> None:
    z = calibrate_noise_multiplier(8.0, 1e-5, 20, 1.0, "pld")
    assert epsilon_after(20, z, 1e-5, 1.0, "pld") <= 8.0
    assert epsilon_after(20, z * 0.98, 1e-5, 1.0, "pld") > 8.0


def test_accountant_spends_rounds_and_resumes() -> None:
    acc = PrivacyAccountant(1.0, 0.5, 1e-5, "rdp")
    assert acc.epsilon() == 0.0
    first = acc.spend_round()
    second = acc.spend_round()
    assert 0 < first < second
    resumed = PrivacyAccountant(1.0, 0.5, 1e-5, "rdp", rounds=2)
    assert resumed.epsilon() == second


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"noise_multiplier": 1.0, "sampling_rate": 1.5}, "sampling_rate"),
        ({"noise_multiplier": 1.0, "delta": 1.0}, "delta"),
        ({"noise_multiplier": 1.0, "accountant": "moments"}, "choose one of pld, rdp"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PrivacyAccountant(**kwargs)  # type: ignore[arg-type]


def test_skipped_rdp_orders_do_not_flood_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """dp-accounting notes each RDP order it cannot compute at small sampling rates (a
    screenful per epsilon); the bound is valid without them, so rengo drops those notes."""
    with caplog.at_level("WARNING"):
        epsilon = epsilon_after(8, 1.0, 1e-5, 0.1, "rdp")
    assert 0 < epsilon < 10
    assert not [r for r in caplog.records if "Excluding this order" in r.getMessage()]

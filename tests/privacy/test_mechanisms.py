"""Clipping bounds every update; the noise has the configured scale; adaptive clipping
tracks the target quantile of unclipped norms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rengo.core.errors import ConfigError
from rengo.core.options import OptionError
from rengo.privacy import (
    CentralDP,
    LocalDP,
    calibrate_noise_multiplier,
    clip_by_l2_norm,
    epsilon_after,
    l2_norm,
    next_clip_norm,
    noised_mean,
    noised_unclipped_fraction,
    update_noise_multiplier,
)

finite = st.floats(-1e4, 1e4, allow_nan=False, width=64)


@settings(max_examples=80, deadline=None)
@given(
    first=arrays(np.float64, st.integers(1, 20), elements=finite),
    second=arrays(np.float64, (3, 2), elements=finite),
    bound=st.floats(1e-4, 1e4),
)
def test_clipping_bounds_the_joint_norm_and_keeps_direction(first, second, bound) -> None:
    clipped, norm = clip_by_l2_norm([first, second], bound)
    assert norm == pytest.approx(l2_norm([first, second]), rel=1e-12, abs=1e-300)
    assert l2_norm(clipped) <= bound * (1 + 1e-12)
    if norm <= bound:
        np.testing.assert_array_equal(clipped[0], first)
    else:
        for c, a in zip(clipped, [first, second], strict=True):
            np.testing.assert_allclose(c * norm, a * bound, rtol=1e-9, atol=1e-9 * norm * bound)


def test_clipping_refuses_a_nonpositive_bound() -> None:
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_l2_norm([np.ones(2)], 0.0)


def test_noised_mean_has_the_configured_standard_deviation() -> None:
    # A zero sum of 200,000 coordinates: the sample std estimates stddev / denominator to
    # within 0.5% (its relative standard error is 1/sqrt(2 * 200,000) = 0.16%).
    rng = np.random.default_rng(3)
    out = noised_mean([np.zeros(100_000), np.zeros((500, 200))], 2.5, 10.0, rng)
    flat = np.concatenate([o.ravel() for o in out])
    assert flat.std() == pytest.approx(0.25, rel=5e-3)
    assert abs(flat.mean()) < 5 * 0.25 / np.sqrt(flat.size)


def test_adaptive_update_noise_keeps_the_rounds_overall_multiplier() -> None:
    z, sigma_b = 1.0, 2.0
    z_delta = update_noise_multiplier(z, sigma_b)
    # Andrew et al., Theorem 1: (z_delta^-2 + (2 sigma_b)^-2)^(-1/2) = z
    assert (z_delta**-2 + (2 * sigma_b) ** -2) ** -0.5 == pytest.approx(z)
    assert z_delta > z
    with pytest.raises(ValueError, match="must exceed"):
        update_noise_multiplier(1.0, 0.4)


@pytest.mark.parametrize("quantile", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("start", [0.01, 100.0])
def test_adaptive_clipping_converges_to_the_target_quantile(quantile: float, start: float) -> None:
    # Synthetic update norms (log-normal, as update norms are); 100 clients a round, count
    # noise sigma_b = 100 / 20 as Andrew et al. recommend.
    rng = np.random.default_rng(11)
    clip, clients = start, 100
    history = []
    for _ in range(400):
        norms = rng.lognormal(mean=0.0, sigma=0.5, size=clients)
        unclipped = float(np.sum(norms <= clip))
        fraction = noised_unclipped_fraction(
            unclipped, clients, clients / 20, rng, reported=clients
        )
        clip = next_clip_norm(clip, fraction, quantile, 0.2)
        history.append(clip)
    settled = np.mean(history[-100:])
    true_quantile = float(np.exp(0.5 * _normal_ppf(quantile)))
    assert settled == pytest.approx(true_quantile, rel=0.08)
    # and the share of unclipped norms is the target (the direction Flower gets wrong)
    fresh = rng.lognormal(0.0, 0.5, size=200_000)
    assert np.mean(fresh <= settled) == pytest.approx(quantile, abs=0.04)


def _normal_ppf(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


@given(
    bits=st.lists(st.booleans(), max_size=60),
    added=st.booleans(),
    expected=st.floats(62.0, 200.0),  # the release stays inside [0, 1]: no clamping
)
def test_one_client_moves_the_released_bit_sum_by_exactly_one_half(
    bits: list[bool], added: bool, expected: float
) -> None:
    """The sensitivity the accounting assumes (Andrew et al., Theorem 1's ``2 sigma_b``): the
    bits are centred, so a client added or removed moves the noiseless release times ``qN``
    by 1/2 whatever its bit (uncentred bits moved it by 0 or 1)."""

    def release(sample: list[bool]) -> float:
        silent = np.random.default_rng(0)
        value = noised_unclipped_fraction(sum(sample), expected, 0.0, silent, reported=len(sample))
        return value * expected

    assert abs(release([*bits, added]) - release(bits)) == pytest.approx(0.5)


def test_a_fraction_without_the_reported_count_is_deprecated_and_uncentred() -> None:
    rng = np.random.default_rng(0)
    with pytest.warns(DeprecationWarning, match="sensitivity 1"):
        assert noised_unclipped_fraction(3.0, 10.0, 0.0, rng) == pytest.approx(0.3)
    assert noised_unclipped_fraction(3.0, 10.0, 0.0, rng, reported=10) == pytest.approx(0.3)
    assert noised_unclipped_fraction(3.0, 10.0, 0.0, rng, reported=4) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="unclipped bits"):
        noised_unclipped_fraction(5.0, 10.0, 0.0, rng, reported=4)
    # a small cohort, all unclipped: (4 - 2) / 2 + 1/2 = 1.5 is clamped to a fraction
    assert noised_unclipped_fraction(4.0, 2.0, 0.0, rng, reported=4) == 1.0
    assert noised_unclipped_fraction(0.0, 2.0, 0.0, rng, reported=4) == 0.0


def test_more_unclipped_than_targeted_shrinks_the_clip_norm() -> None:
    assert next_clip_norm(1.0, 0.9, 0.5, 0.2) < 1.0
    assert next_clip_norm(1.0, 0.1, 0.5, 0.2) > 1.0
    assert next_clip_norm(1.0, 0.5, 0.5, 0.2) == 1.0


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"target_quantile": 1.5}, "target_quantile"),
        ({"sampling_rate": 0.0}, "sampling_rate"),
        ({"weighting": "bounded"}, "weight_cap"),
        ({"target_epsilon": -1.0}, "target_epsilon"),
    ],
)
def test_central_dp_options_name_what_is_wrong(options: dict[str, object], name: str) -> None:
    with pytest.raises(OptionError) as info:
        CentralDP(**options)  # type: ignore[arg-type]
    assert info.value.option == name


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("config", "options", "name"),
    [
        (CentralDP, {"target_epsilon": NAN}, "target_epsilon"),  # NaN turned the budget off
        (CentralDP, {"clip_norm": INF}, "clip_norm"),
        (CentralDP, {"noise_multiplier": INF}, "noise_multiplier"),
        (CentralDP, {"clip_learning_rate": INF}, "clip_learning_rate"),
        (CentralDP, {"clipped_count_stddev": NAN}, "clipped_count_stddev"),
        (LocalDP, {"target_epsilon": NAN}, "target_epsilon"),
        (LocalDP, {"max_grad_norm": INF}, "max_grad_norm"),
    ],
)
def test_nan_and_infinite_privacy_settings_are_refused_from_python_too(
    config: type, options: dict[str, float], name: str
) -> None:
    """A job file refused them; the Python API took a NaN budget as no budget at all."""
    with pytest.raises(OptionError, match="must be a finite number") as info:
        config(**options)
    assert info.value.option == name


@pytest.mark.parametrize("target", [INF, NAN, 0.0])
def test_calibration_needs_a_finite_positive_target(target: float) -> None:
    with pytest.raises(ConfigError, match="target_epsilon must be finite and > 0"):
        calibrate_noise_multiplier(target, 1e-5, 10)


@pytest.mark.parametrize("rounds", [2.5, True, NAN])
def test_epsilon_after_takes_whole_rounds_only(rounds: object) -> None:
    with pytest.raises(ConfigError, match="rounds must be a whole number"):
        epsilon_after(rounds, 1.0, 1e-5)  # type: ignore[arg-type]
    assert epsilon_after(np.int64(3), 1.0, 1e-5) == epsilon_after(3, 1.0, 1e-5)


def test_the_gdp_local_accountant_is_flagged_as_no_guarantee() -> None:
    """LocalDP(accountant='gdp') was offered beside rdp and prv as one more accountant, yet
    Opacus's GDP accountant is a central-limit approximation that can underestimate epsilon:
    its budget and reported epsilon are no guarantee, and the settings say so."""
    with pytest.warns(UserWarning, match="can underestimate it"):
        LocalDP(accountant="gdp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LocalDP(accountant="prv")

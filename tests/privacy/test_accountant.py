"""The accountant agrees with dp-accounting's own accountants on published settings."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from typing import Any

import pytest

dp_accounting = pytest.importorskip("dp_accounting")

from rengo.core.errors import ConfigError  # noqa: E402
from rengo.privacy import (  # noqa: E402
    PrivacyAccountant,
    calibrate_noise_multiplier,
    epsilon_after,
    round_event,
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
        assert ref * (1 - 1e-9) <= ours <= ref * (1 + 1e-4)  # the module's stated bound


def test_budget_search_brackets_the_target() -> None:
    k = rounds_within_budget(10.0, 1.0, 1e-5, 0.3, "rdp")
    assert epsilon_after(k, 1.0, 1e-5, 0.3, "rdp") <= 10.0
    assert epsilon_after(k + 1, 1.0, 1e-5, 0.3, "rdp") > 10.0


@pytest.mark.parametrize(("target", "rounds", "q"), [(8.0, 20, 1.0), (1.0, 100, 0.05)])
def test_calibrated_noise_buys_exactly_the_rounds_asked_for(
    target: float, rounds: int, q: float
) -> None:
    # calibrated on the grid the run's accountant uses: every round asked for fits, and 1%
    # less noise would not (the second case once went over by 2e-6 on a finer grid)
    z = calibrate_noise_multiplier(target, 1e-5, rounds, q, "pld")
    assert epsilon_after(rounds, z, 1e-5, q, "pld") <= target
    assert rounds_within_budget(target, z, 1e-5, q, "pld") == rounds
    assert epsilon_after(rounds, 0.99 * z, 1e-5, q, "pld") > target


def test_calibration_beyond_the_pld_range_meets_the_target_under_rdp() -> None:
    # above PLD_MAX_EPSILON epsilon_after reports RDP's epsilon: the multiplier is RDP's
    z = calibrate_noise_multiplier(990.0, 1e-5, 3, 0.5, "pld")
    assert epsilon_after(3, z, 1e-5, 0.5, "pld") <= 990.0


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


def _accountants_epsilon(noise: float, q: float, rounds: int, delta: float, kind: str) -> float:
    """dp-accounting's own accountants, fresh, for ``rounds`` rounds as one event, the PLD on
    the grid step rengo's rule picks (restated here: 1e-4 times the smallest power of two at
    or above max(1, RDP's epsilon))."""
    event = dp_accounting.SelfComposedDpEvent(round_event(noise, q), rounds)
    rdp = dp_accounting.rdp.RdpAccountant()
    rdp.compose(event)
    rdp_epsilon = float(rdp.get_epsilon(delta))
    if kind == "rdp":
        return rdp_epsilon
    step = 1e-4 * 2.0 ** math.ceil(math.log2(max(1.0, rdp_epsilon)))
    pld = dp_accounting.pld.PLDAccountant(value_discretization_interval=step)
    pld.compose(event)
    return float(pld.get_epsilon(delta))


@pytest.mark.parametrize(
    ("noise", "q", "rounds"),
    [
        (1.0, 1.0, (30, 1, 7)),
        (0.5, 1.0, (20,)),
        (1.0, 0.2, (30, 1, 7)),  # out of order: one cached round serves any count
        (1.1, 0.05, (100, 3)),
        (4.0, 0.01, (1_000,)),
    ],
)
@pytest.mark.parametrize("kind", ["pld", "rdp"])
def test_per_run_accountant_equals_dp_accountings_accountants(
    noise: float, q: float, rounds: tuple[int, ...], kind: str
) -> None:
    """The cached one-round objects compose to exactly dp-accounting's numbers for the same
    event and grid step, and to :func:`epsilon_after`'s (which the round loop's tests pin)."""
    acc = PrivacyAccountant(noise, q, 1e-5, kind)
    for k in rounds:
        ours = acc.epsilon(k)
        assert ours == _accountants_epsilon(noise, q, k, 1e-5, kind), k
        assert ours == epsilon_after(k, noise, 1e-5, q, kind), k


@pytest.mark.parametrize(("q", "kind"), [(0.2, "pld"), (1.0, "pld"), (0.2, "rdp")])
def test_one_round_objects_are_built_once_per_run(
    monkeypatch: pytest.MonkeyPatch, q: float, kind: str
) -> None:
    """A 30-round run (each round: the next round's budget check, then the round) builds
    one RDP accountant and one sampled round's PLD per grid step, never one per round. At
    q = 1 dp-accounting discretises one Gaussian per round count (z / sqrt(k)), so each
    count builds its own PLD there, as PLDAccountant does."""
    module = dp_accounting.pld.privacy_loss_distribution
    build_gaussian = module.from_gaussian_mechanism
    steps: list[float] = []
    rdp_builds: list[int] = []

    def counted_gaussian(*args: Any, **kwargs: Any) -> Any:
        steps.append(kwargs["value_discretization_interval"])
        return build_gaussian(*args, **kwargs)

    class CountedRdpAccountant(dp_accounting.rdp.RdpAccountant):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            rdp_builds.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(module, "from_gaussian_mechanism", counted_gaussian)
    monkeypatch.setattr(dp_accounting.rdp, "RdpAccountant", CountedRdpAccountant)
    acc = PrivacyAccountant(1.0, q, 1e-5, kind)
    for _ in range(30):
        acc.epsilon(acc.rounds + 1)
        acc.spend_round()
    assert len(rdp_builds) == 1
    if kind == "rdp":
        assert steps == []
    elif q < 1:
        assert len(steps) == len(set(steps)) <= 3  # steps 4e-4 to 1.6e-3 over 30 rounds
    else:
        assert len(steps) == 30


def test_rdp_without_public_per_order_values_composes_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dp-accounting releases before the ``rdp``/``orders`` properties: each epsilon composes
    the k-round event into a fresh RdpAccountant, as :func:`epsilon_after` does."""

    class OlderRdpAccountant(dp_accounting.rdp.RdpAccountant):  # type: ignore[misc]
        @property
        def rdp(self) -> Any:
            raise AttributeError("rdp")

    monkeypatch.setattr(dp_accounting.rdp, "RdpAccountant", OlderRdpAccountant)
    acc = PrivacyAccountant(1.0, 0.3, 1e-5, "rdp")
    for k in (1, 12):
        assert acc.epsilon(k) == _accountants_epsilon(1.0, 0.3, k, 1e-5, "rdp")


def test_copies_and_equality_leave_the_one_round_objects_out() -> None:
    acc = PrivacyAccountant(1.0, 0.2, 1e-5, "pld")
    first = acc.spend_round()
    assert acc == PrivacyAccountant(1.0, 0.2, 1e-5, "pld", rounds=1)
    assert "Composition" not in repr(acc)
    pickled = pickle.dumps(acc)
    assert len(pickled) < 10_000  # the cached PLD alone is hundreds of kB
    for clone in (pickle.loads(pickled), copy.deepcopy(acc), copy.copy(acc)):
        assert clone == acc
        assert clone.epsilon() == first
        assert clone.spend_round() == epsilon_after(2, 1.0, 1e-5, 0.2, "pld")
    assert acc.rounds == 1
    other = dataclasses.replace(acc, noise_multiplier=3.0)  # no cache of other settings
    assert other.epsilon() == epsilon_after(1, 3.0, 1e-5, 0.2, "pld")


def test_pld_grid_steps_stated_gap_to_the_default_grid_is_what_dp_accounting_gives() -> None:
    """pld_grid_step's docstring states how much lower dp-accounting's default grid is,
    where it was measured: the figure it gives at z = 0.8, q = 0.1, 1,000 rounds holds."""
    from rengo.privacy import epsilon_after, pld_grid_step

    dpa = dp_accounting

    doc = " ".join((pld_grid_step.__doc__ or "").split())
    assert "1.4e-4 at ``z = 0.8``, ``q = 0.1``, 1,000 rounds, ``delta = 1e-5``" in doc
    default = dpa.pld.PLDAccountant()
    default.compose(
        dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(0.1, dpa.GaussianDpEvent(0.8)), 1000)
    )
    lower = default.get_epsilon(1e-5)
    recorded = epsilon_after(1000, 0.8, 1e-5, 0.1, "pld")
    assert f"{(recorded - lower) / lower:.1e}" == "1.4e-04"

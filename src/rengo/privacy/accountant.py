"""Privacy accounting with Google's ``dp-accounting``: epsilon(delta) of a federated run.

One round of DP-FedAvg is a Gaussian mechanism with noise multiplier ``z`` on a clipped sum,
applied to a Poisson sample of clients with rate ``q`` (every client when ``q = 1``). A run
of ``T`` rounds is that event composed ``T`` times. Two accountants bound the result:

* ``"pld"``: privacy loss distributions (Koskela et al. 2020; Doroshenko et al. 2022,
  "Connect the Dots"), tight up to discretisation - rengo's default;
* ``"rdp"``: Renyi DP (Mironov 2017; Mironov, Talwar, Zhang 2019 for the sampled Gaussian),
  looser but fast. At ``q = 1, z = 0.5``, 20 rounds, ``delta = 1e-5`` PLD gives 77.3 and RDP
  81.1.

The PLD accountant discretises the privacy loss on a grid (``dp-accounting``'s default step
is ``1e-4``); the bound it returns stays pessimistic (an upper bound on the true epsilon)
whatever the step. Large epsilons make that grid huge and slow (seconds per round), so the
step here grows with the epsilon RDP bounds: ``1e-4`` times the smallest power of two at or
above ``max(1, eps_rdp)``, i.e. between 1 and 2 times ``1e-4 * max(1, eps_rdp)``. The bound
moves by a few grid steps, always upwards (by 1.8e-3 relative at most where measured,
below). On the settings in the tests it agrees with the default grid to 1e-4 relative (9.7e-5
at worst, at Abadi et al.'s MNIST sampling rate, against 3e-6 for the unrounded step
``1e-4 * max(1, eps_rdp)``); an outside sweep (``z`` 0.3-5, ``q`` 0.001-1, up to 10,000
rounds) found it at or above ``dp-accounting``'s default-grid epsilon in every case, by more
than 1e-3 relative in 8 of 152 (at most 1.7e-3: 36.064 against 36.004 at ``z = 2``,
``q = 0.1``, 10,000 rounds, ``delta = 1e-5``; 1.8e-3, 29.639 against 29.586, at
``delta = 1e-3``), and equal to ``PLDAccountant`` given the same step in all. Powers of
two keep a run's steps few (at most 11 up to ``PLD_MAX_EPSILON``), so that
:class:`PrivacyAccountant` can reuse one round's PLD per step.

:class:`PrivacyAccountant`, the per-run object, builds each one-round object once and composes
``k`` rounds from it, with the numbers ``dp-accounting``'s accountants give for the same event
and step: RDP composes linearly (``k`` times the one-round RDP of each order), and a sampled
round's PLD is self-composed ``k`` times. At ``q = 1`` ``dp-accounting`` does not compose a
discretised round: ``k`` Gaussian rounds are one Gaussian with multiplier ``z / sqrt(k)``,
discretised once (tighter than composing ``k`` discretised rounds), and rengo follows it, so
there each epsilon still builds its own PLD.

``dp-accounting`` is the optional extra ``rengo[privacy]``; it is imported on first use.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

from rengo.core.errors import ConfigError
from rengo.core.install_hint import install_hint

AccountantName = Literal["pld", "rdp"]
ACCOUNTANTS: tuple[str, ...] = ("pld", "rdp")
PLD_DISCRETIZATION = 1e-4
"""The PLD grid step for epsilons up to 1 (``dp-accounting``'s default); larger ones scale it."""
PLD_MAX_EPSILON = 1_000.0
"""Beyond this RDP bound (no privacy to speak of) epsilon is RDP's: a PLD grid would overflow."""


def _pld_step(rdp_epsilon: float) -> float:
    """The PLD grid step for a composition whose RDP bound is ``rdp_epsilon``: ``1e-4`` times
    the smallest power of two at or above ``max(1, rdp_epsilon)`` (exact powers of two, so a
    run sees few distinct steps and each keeps its cached one-round PLD)."""
    mantissa, exponent = math.frexp(max(1.0, rdp_epsilon))  # value = mantissa * 2**exponent
    return math.ldexp(PLD_DISCRETIZATION, exponent - 1 if mantissa == 0.5 else exponent)


class _SkippedOrders(logging.Filter):
    """Drops dp-accounting's per-order notes "failed to converge ... Excluding this order
    from the epsilon computation": RDP takes the best of the orders it could compute (the
    bound stays valid), and at small sampling rates each epsilon logged a screenful of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Excluding this order" not in record.getMessage()


_QUIET = _SkippedOrders()


def _dp_accounting() -> Any:
    try:
        import dp_accounting
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "differential-privacy accounting needs Google's dp-accounting: "
            f"{install_hint('privacy')}"
        ) from exc
    absl = logging.getLogger("absl")
    if _QUIET not in absl.filters:
        absl.addFilter(_QUIET)
    return dp_accounting


def round_event(noise_multiplier: float, sampling_rate: float = 1.0) -> Any:
    """The ``dp_accounting.DpEvent`` of one round: a Gaussian mechanism with multiplier
    ``noise_multiplier``, Poisson-sampled with rate ``sampling_rate`` when it is below 1.

    Raises
    ------
    ConfigError
        If ``noise_multiplier <= 0`` or ``sampling_rate`` is outside (0, 1].
    """
    _check(noise_multiplier, sampling_rate)
    dpa = _dp_accounting()
    gaussian = dpa.GaussianDpEvent(noise_multiplier)
    if sampling_rate >= 1.0:
        return gaussian
    return dpa.PoissonSampledDpEvent(sampling_rate, gaussian)


def epsilon_after(
    rounds: int,
    noise_multiplier: float,
    delta: float,
    sampling_rate: float = 1.0,
    accountant: str = "pld",
) -> float:
    """epsilon(delta) after ``rounds`` rounds of the Gaussian mechanism (0 for no rounds).

    Parameters
    ----------
    rounds
        Rounds composed.
    noise_multiplier
        ``z``: noise standard deviation over the clipped sum's L2 sensitivity.
    delta
        The target delta.
    sampling_rate
        Poisson client-sampling rate ``q`` (1: every client every round).
    accountant
        ``"pld"`` (tight) or ``"rdp"``.

    Returns
    -------
    float
        The smallest epsilon the accountant certifies.

    Raises
    ------
    ConfigError
        For an unknown accountant or out-of-range settings.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 0:
        raise ConfigError(f"rounds must be a whole number >= 0, got {rounds!r}")
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"delta must be in (0, 1), got {delta}")
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"accountant = {accountant!r}; choose one of {', '.join(ACCOUNTANTS)}")
    if rounds == 0:
        return 0.0
    return _RoundComposition(noise_multiplier, sampling_rate).epsilon(rounds, delta, accountant)


def pld_grid_step(
    rounds: int, noise_multiplier: float, delta: float, sampling_rate: float = 1.0
) -> float | None:
    """The PLD grid step :func:`epsilon_after` takes for ``rounds`` rounds: given it as
    ``value_discretization_interval``, ``dp_accounting.pld.PLDAccountant`` returns the same
    epsilon (its default step, ``1e-4``, can return a lower one, so whoever rechecks a recorded
    epsilon needs this one: measured 1.7e-3 relative lower at ``z = 2``, ``q = 0.1``, 10,000
    rounds, ``delta = 1e-5`` (36.004 against 36.064), 1.4e-4 at ``z = 0.8``, ``q = 0.1``, 1,000
    rounds, ``delta = 1e-5``, 1e-8 to 3e-7 at ``q = 1``).

    Parameters
    ----------
    rounds
        Rounds composed (>= 1).
    noise_multiplier, delta, sampling_rate
        As for :func:`epsilon_after`.

    Returns
    -------
    float or None
        The step; None where the epsilon is RDP's instead (RDP's bound above
        :data:`PLD_MAX_EPSILON`).

    Raises
    ------
    ConfigError
        For out-of-range settings, or without ``dp-accounting``.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 1:
        raise ConfigError(f"rounds must be a whole number >= 1, got {rounds!r}")
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"delta must be in (0, 1), got {delta}")
    rdp_epsilon = _RoundComposition(noise_multiplier, sampling_rate).rdp_epsilon(rounds, delta)
    return _pld_step(rdp_epsilon) if rdp_epsilon <= PLD_MAX_EPSILON else None


def dp_accounting_version() -> str | None:
    """The installed ``dp-accounting`` release, which a recorded epsilon was computed with.

    Returns
    -------
    str or None
        Its version, or None when it is not installed.
    """
    try:
        return metadata.version("dp-accounting")
    except metadata.PackageNotFoundError:
        return None


def _make_accountant(name: str, pld_step: float = PLD_DISCRETIZATION) -> Any:
    dpa = _dp_accounting()
    if name == "pld":
        return dpa.pld.PLDAccountant(value_discretization_interval=pld_step)
    if name == "rdp":
        return dpa.rdp.RdpAccountant()
    raise ConfigError(f"accountant = {name!r}; choose one of {', '.join(ACCOUNTANTS)}")


def rounds_within_budget(
    target_epsilon: float,
    noise_multiplier: float,
    delta: float,
    sampling_rate: float = 1.0,
    accountant: str = "pld",
    max_rounds: int = 100_000,
) -> int:
    """The most rounds whose epsilon(delta) stays at or below ``target_epsilon`` (binary
    search; ``max_rounds`` when even that many fit).

    Raises
    ------
    ConfigError
        If ``target_epsilon`` is not positive, or for bad settings.
    """
    if not target_epsilon > 0:
        raise ConfigError(f"target_epsilon must be > 0, got {target_epsilon}")
    lo, hi = 0, 1
    while hi <= max_rounds and (
        epsilon_after(hi, noise_multiplier, delta, sampling_rate, accountant) <= target_epsilon
    ):
        lo, hi = hi, hi * 2
    if hi > max_rounds:
        if epsilon_after(max_rounds, noise_multiplier, delta, sampling_rate, accountant) <= (
            target_epsilon
        ):
            return max_rounds
        hi = max_rounds
    while hi - lo > 1:  # epsilon(lo) <= target < epsilon(hi)
        mid = (lo + hi) // 2
        if epsilon_after(mid, noise_multiplier, delta, sampling_rate, accountant) <= (
            target_epsilon
        ):
            lo = mid
        else:
            hi = mid
    return lo


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    rounds: int,
    sampling_rate: float = 1.0,
    accountant: str = "pld",
) -> float:
    """The smallest noise multiplier whose ``rounds`` rounds stay within
    ``(target_epsilon, delta)`` (``dp_accounting.mechanism_calibration``, to 1e-3; with PLD
    the search runs inside the bracket RDP's answer gives, on the grid step
    :func:`epsilon_after` takes at the answer, so that a run with it spends all ``rounds``).

    Raises
    ------
    ConfigError
        For out-of-range settings.
    """
    if not (0 < target_epsilon < math.inf) or rounds < 1:
        raise ConfigError(
            f"target_epsilon must be finite and > 0 and rounds >= 1, got {target_epsilon!r} "
            f"and {rounds!r}"
        )
    _check(1.0, sampling_rate)
    dpa = _dp_accounting()

    def event(z: float) -> Any:
        return dpa.SelfComposedDpEvent(round_event(z, sampling_rate), rounds)

    def calibrate(name: str, bracket: Any, step: float = PLD_DISCRETIZATION) -> float:
        return float(
            dpa.mechanism_calibration.calibrate_dp_mechanism(
                lambda: _make_accountant(name, step),
                event,
                target_epsilon,
                delta,
                bracket,
                tol=1e-3,
            )
        )

    # RDP first (cheap at any multiplier): its epsilon bounds PLD's from above, so its
    # multiplier bounds PLD's; PLD at tiny multipliers would need an enormous grid.
    upper = calibrate("rdp", dpa.mechanism_calibration.LowerEndpointAndGuess(1e-3, 1.0))
    if accountant == "rdp":
        return upper
    if accountant != "pld":
        raise ConfigError(f"accountant = {accountant!r}; choose one of {', '.join(ACCOUNTANTS)}")
    bracket = dpa.mechanism_calibration.ExplicitBracketInterval(upper / 2, upper)
    # epsilon_after's PLD grid step follows RDP's epsilon at the multiplier (_pld_step), so
    # calibrate on the step the answer will be accounted on: a step chosen from the target
    # alone can be finer, and its answer then exceeds the target by a grid step or so
    step, answers = _pld_step(target_epsilon), []
    for _ in range(4):  # the steps are powers of two: one or two passes settle it
        answers.append(calibrate("pld", bracket, step))
        rdp_epsilon = _RoundComposition(answers[-1], sampling_rate).rdp_epsilon(rounds, delta)
        if not rdp_epsilon <= PLD_MAX_EPSILON:  # epsilon_after reports RDP's there
            return upper
        used = _pld_step(rdp_epsilon)
        if used == step:
            return answers[-1]
        step = used
    # between two steps: the larger multiplier meets the target on either grid
    return max(answers)


def _check(noise_multiplier: float, sampling_rate: float) -> None:
    if not (math.isfinite(noise_multiplier) and noise_multiplier > 0):
        raise ConfigError(f"noise_multiplier must be > 0, got {noise_multiplier}")
    if not 0.0 < sampling_rate <= 1.0:
        raise ConfigError(f"sampling_rate must be in (0, 1], got {sampling_rate}")


class _RoundComposition:
    """One round's RDP and PLDs, built once, composed over any number of rounds on demand.

    Every epsilon equals what ``dp-accounting``'s ``RdpAccountant`` and ``PLDAccountant``
    (with the same grid step) return for ``SelfComposedDpEvent(round_event(z, q), k)``: the
    composition below is theirs, only the one-round objects are kept between calls.
    """

    def __init__(self, noise_multiplier: float, sampling_rate: float) -> None:
        self.noise_multiplier = noise_multiplier
        self.sampling_rate = sampling_rate
        self.event = round_event(noise_multiplier, sampling_rate)
        self._rdp_orders: Any = None
        self._rdp_round: Any = None
        self._rdp_public = True
        self._round_plds: dict[float, Any] = {}

    def rdp_epsilon(self, rounds: int, delta: float) -> float:
        """RDP's epsilon(delta) after ``rounds`` (>= 1) rounds: ``rounds`` times one round's
        RDP at each order, converted as ``RdpAccountant.get_epsilon`` converts it."""
        dpa = _dp_accounting()
        if self._rdp_round is None and self._rdp_public:
            # dp-accounting keeps the per-order RDP private to its accountant; the public
            # ``rdp``/``orders`` properties (newer releases; 0.6 has them) read it back after
            # the accountant composed one round its own way. That is sturdier than calling the
            # private ``_compute_rdp_poisson_subsampled_gaussian``: the event's interpretation,
            # the orders and the q = 1 case all stay dp-accounting's.
            one_round = _make_accountant("rdp")
            one_round.compose(self.event)
            try:
                self._rdp_orders, self._rdp_round = one_round.orders, one_round.rdp
            except AttributeError:  # an older dp-accounting: compose every epsilon afresh
                self._rdp_public = False
        if self._rdp_round is None:
            accountant = _make_accountant("rdp")
            accountant.compose(dpa.SelfComposedDpEvent(self.event, rounds))
            return float(accountant.get_epsilon(delta))
        # RdpAccountant adds ``count * rdp`` to zeros: the same floats as this product.
        rdp = rounds * self._rdp_round
        return float(dpa.rdp.compute_epsilon(self._rdp_orders, rdp, delta)[0])

    def epsilon(self, rounds: int, delta: float, accountant: str) -> float:
        """epsilon(delta) after ``rounds`` (>= 1) rounds: RDP's, or PLD's on the grid
        :func:`_pld_step` picks from RDP's bound (RDP's beyond :data:`PLD_MAX_EPSILON`)."""
        rdp_epsilon = self.rdp_epsilon(rounds, delta)
        if accountant == "rdp" or not rdp_epsilon <= PLD_MAX_EPSILON:
            return rdp_epsilon
        return self.pld_epsilon(rounds, delta, _pld_step(rdp_epsilon))

    def pld_epsilon(self, rounds: int, delta: float, step: float) -> float:
        """PLD's epsilon(delta) after ``rounds`` (>= 1) rounds on a grid of ``step``, composed
        as ``PLDAccountant._maybe_compose`` does (default neighbouring relation, add or
        remove one, which ``from_gaussian_mechanism`` defaults to too)."""
        pld = _dp_accounting().pld.privacy_loss_distribution
        if self.sampling_rate >= 1.0:
            # A Gaussian event: PLDAccountant discretises one Gaussian of multiplier
            # z / sqrt(k) (exactly the k-fold composition), which depends on k: nothing to keep.
            composed = pld.from_gaussian_mechanism(
                standard_deviation=self.noise_multiplier / math.sqrt(rounds),
                value_discretization_interval=step,
            )
        else:
            one_round = self._round_plds.get(step)
            if one_round is None:
                one_round = pld.from_gaussian_mechanism(
                    standard_deviation=self.noise_multiplier,
                    value_discretization_interval=step,
                    sampling_prob=self.sampling_rate,
                )
                self._round_plds[step] = one_round
            composed = one_round.self_compose(rounds)
        # PLDAccountant starts from the identity PLD and composes onto it: that FFT
        # convolution and its 1e-15 tail truncation move epsilon by ~1e-13 relative, so it
        # is kept for equal numbers (about 1 ms).
        total = pld.identity(value_discretization_interval=step).compose(composed)
        return float(total.get_epsilon_for_delta(delta))


@dataclass
class PrivacyAccountant:
    """The privacy spent by a run so far: identical rounds composed, epsilon(delta) on demand.

    Parameters
    ----------
    noise_multiplier
        The overall multiplier ``z`` of each round (for adaptive clipping, the combined one).
    sampling_rate
        Poisson client-sampling rate ``q``.
    delta
        The delta every epsilon is reported at.
    accountant
        ``"pld"`` or ``"rdp"``.
    rounds
        Rounds already spent (restored from a checkpoint).

    Each epsilon is :func:`epsilon_after`'s, but the one-round RDP and PLDs are built once per
    accountant (see the module's notes); they are neither compared, nor shown, nor copied or
    pickled (a copy builds its own on first use).

    Raises
    ------
    ConfigError
        For out-of-range settings.
    """

    noise_multiplier: float
    sampling_rate: float = 1.0
    delta: float = 1e-5
    accountant: str = "pld"
    rounds: int = 0
    _cache: dict[int, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _composition: _RoundComposition | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check(self.noise_multiplier, self.sampling_rate)
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(
                f"accountant = {self.accountant!r}; choose one of {', '.join(ACCOUNTANTS)}"
            )
        if not 0.0 < self.delta < 1.0:
            raise ConfigError(f"delta must be in (0, 1), got {self.delta}")

    def __getstate__(self) -> dict[str, Any]:
        """Pickled and copied state: everything but the one-round objects (megabytes of
        ``dp-accounting`` arrays, rebuilt on first use)."""
        state = dict(self.__dict__)
        state["_composition"] = None
        return state

    def epsilon(self, rounds: int | None = None) -> float:
        """epsilon(delta) after ``rounds`` rounds (default: those spent so far); equal to
        :func:`epsilon_after` with this accountant's settings.

        Raises
        ------
        ConfigError
            If ``rounds`` is negative.
        """
        k = self.rounds if rounds is None else rounds
        if k not in self._cache:
            self._cache[k] = self._compute(k)
        return self._cache[k]

    def _compute(self, rounds: int) -> float:
        """:func:`epsilon_after`'s steps on the cached one-round objects."""
        if rounds <= 0:  # 0 for no rounds, epsilon_after's error for a negative count
            return epsilon_after(
                rounds, self.noise_multiplier, self.delta, self.sampling_rate, self.accountant
            )
        composition = self._composition
        if composition is None:
            composition = self._composition = _RoundComposition(
                self.noise_multiplier, self.sampling_rate
            )
        return composition.epsilon(rounds, self.delta, self.accountant)

    def spend_round(self) -> float:
        """Record one more round; returns epsilon after it."""
        self.rounds += 1
        return self.epsilon()

    def rounds_within(self, target_epsilon: float, max_rounds: int = 100_000) -> int:
        """Total rounds (spent included) whose epsilon stays within ``target_epsilon``."""
        return rounds_within_budget(
            target_epsilon,
            self.noise_multiplier,
            self.delta,
            self.sampling_rate,
            self.accountant,
            max_rounds,
        )

"""When a sampled Shapley estimate stops: composable criteria over its standard error,
its history, and its cost, in the manner of pyDVL's ``StoppingCriterion``
(aai-institute/pyDVL, ``pydvl/value/stopping.py``).

A sampler draws independent samples of every player's marginal contribution (one sample is
one permutation, or one block of n stratified permutations) and after each sample shows the
criterion a :class:`SamplingProgress`: the running values, their standard errors, how many
samples, permutations and coalition evaluations it took, and how long (inside a block it
shows one after each permutation too, only the cost moved, so a budget stops it there).
A criterion answers why it would stop (:meth:`StoppingCriterion.reason`), or None to go on.
Criteria combine with ``&`` (both), ``|`` (either) and ``~`` (not)::

    rule = (RelativeStandardError(0.05) & MinUpdates(100)) | MaxUpdates(5000) | MaxTime(60)

Criteria are frozen dataclasses: all state lives in the progress the sampler passes in, so
one criterion can serve many estimates (every round of a run) at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from rengo.core.errors import ConfigError

DEFAULT_MIN_SAMPLES = 16
"""Standard errors are trusted from this many independent samples on. The samples' spread
is far from normal at a handful (marginal contributions are skewed), so a Student-t interval
from fewer under-covers even when the standard error is right on average: on a 6-player
game whose default run stops at the minimum, 95% intervals covered 0.90 of the true values
from 8 samples, 0.93 from 16, 0.94 from 24 and 0.95 from 32 (400 seeds; 16 keeps the
defaults cheaper than brute force from 10 players on). Ask for more with ``min_samples``."""


@dataclass(frozen=True)
class SamplingProgress:
    """What a stopping criterion sees after each sample of a Shapley sampler.

    Attributes
    ----------
    values
        The running estimate of each player's value.
    stderr
        Each value's standard error (inf until two samples exist).
    samples
        Independent samples so far (the standard errors' sample size).
    permutations
        Permutations scanned so far (``samples`` times the block size).
    evaluations
        Distinct coalitions evaluated so far (the expensive part).
    seconds
        Time since sampling started.
    history
        ``values`` after each sample, oldest first.
    """

    values: np.ndarray
    stderr: np.ndarray
    samples: int
    permutations: int
    evaluations: int
    seconds: float
    history: tuple[np.ndarray, ...] = ()


class StoppingCriterion:
    """Base of the stopping criteria: :meth:`reason` says why sampling would stop now (or
    None), calling the criterion says whether; ``&``, ``|`` and ``~`` combine criteria."""

    def reason(self, progress: SamplingProgress) -> str | None:
        """Why sampling stops at ``progress``, or None to go on."""
        raise NotImplementedError

    def __call__(self, progress: SamplingProgress) -> bool:
        """Whether sampling stops at ``progress``."""
        return self.reason(progress) is not None

    def __and__(self, other: StoppingCriterion) -> StoppingCriterion:
        return AllOf((self, other))

    def __or__(self, other: StoppingCriterion) -> StoppingCriterion:
        return AnyOf((self, other))

    def __invert__(self) -> StoppingCriterion:
        return Not(self)


def _fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ConfigError(f"{name} must lie in (0, 1], got {value}")


@dataclass(frozen=True)
class AbsoluteStandardError(StoppingCriterion):
    """Stop once at least ``fraction`` of the values have a standard error below
    ``threshold`` (in the game's units), with at least ``min_samples`` samples."""

    threshold: float
    fraction: float = 1.0
    min_samples: int = DEFAULT_MIN_SAMPLES

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ConfigError(f"threshold must be > 0, got {self.threshold}")
        _fraction("fraction", self.fraction)
        if self.min_samples < 2:
            raise ConfigError(f"min_samples must be >= 2, got {self.min_samples}")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop once the given share of standard errors is below the threshold."""
        if progress.samples < self.min_samples:
            return None
        if np.mean(progress.stderr < self.threshold) >= self.fraction:
            return f"standard errors below {self.threshold:g}"
        return None

    def __str__(self) -> str:
        return f"AbsoluteStandardError({self.threshold:g})"


@dataclass(frozen=True)
class RelativeStandardError(StoppingCriterion):
    """Stop once at least ``fraction`` of the values have a standard error below ``rtol``
    times the largest |value| (scale-free: one default fits accuracy, AUC and log loss),
    with at least ``min_samples`` samples.

    A standard error of exactly 0 counts as below the tolerance whatever the scale: on a
    game whose values are all 0 (every coalition scores the same, e.g. a plateau of
    held-out accuracy) the largest |value| is 0, so no positive error can be below
    ``rtol`` x 0, but errors that are 0 after ``min_samples`` samples stop sampling there
    instead of running to the permutation cap or to brute force."""

    rtol: float = 0.05
    fraction: float = 1.0
    min_samples: int = DEFAULT_MIN_SAMPLES

    def __post_init__(self) -> None:
        if not self.rtol > 0:
            raise ConfigError(f"rtol must be > 0, got {self.rtol}")
        _fraction("fraction", self.fraction)
        if self.min_samples < 2:
            raise ConfigError(f"min_samples must be >= 2, got {self.min_samples}")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop once the given share of standard errors is below ``rtol`` x the largest value
        (or is 0: see the class docstring)."""
        if progress.samples < self.min_samples or not progress.values.size:
            return None
        scale = float(np.max(np.abs(progress.values)))
        below = (progress.stderr < self.rtol * scale) | (progress.stderr == 0)
        if np.mean(below) < self.fraction:
            return None
        if scale == 0:
            return "standard errors 0 (the largest |value| is 0)"
        return f"standard errors below {self.rtol:g} x the largest |value|"

    def __str__(self) -> str:
        return f"RelativeStandardError({self.rtol:g})"


@dataclass(frozen=True)
class HistoryDeviation(StoppingCriterion):
    """Ghorbani & Zou's (2019) check: stop once the values moved, relative to themselves,
    by less than ``rtol`` on average over the last ``n_steps`` samples:
    mean_i |v_i(t) - v_i(t - n_steps)| / |v_i(t)| < rtol (the absolute change where
    v_i(t) = 0)."""

    n_steps: int = 10
    rtol: float = 0.05

    def __post_init__(self) -> None:
        if self.n_steps < 1 or not 0 < self.rtol < 1:
            raise ConfigError("HistoryDeviation needs n_steps >= 1 and rtol in (0, 1)")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop once the values moved less than the tolerance over the last steps."""
        if len(progress.history) <= self.n_steps:
            return None
        now, before = progress.history[-1], progress.history[-1 - self.n_steps]
        change = np.abs(now - before)
        relative = np.divide(change, np.abs(now), out=change.copy(), where=now != 0)
        if float(np.mean(relative)) < self.rtol:
            return f"values moved by less than {self.rtol:g} over {self.n_steps} samples"
        return None

    def __str__(self) -> str:
        return f"HistoryDeviation({self.n_steps}, {self.rtol:g})"


@dataclass(frozen=True)
class MaxUpdates(StoppingCriterion):
    """Stop after ``n`` permutations (checked after every permutation, also inside a
    stratified block)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"MaxUpdates needs n >= 1, got {self.n}")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop after ``n`` permutations."""
        return f"{self.n} permutations" if progress.permutations >= self.n else None

    def __str__(self) -> str:
        return f"MaxUpdates({self.n})"


@dataclass(frozen=True)
class MaxSamples(StoppingCriterion):
    """Stop after ``n`` independent samples: for stratified GTG-Shapley, ``n`` blocks of one
    permutation per participant whatever the round's cohort size (``MaxUpdates`` counts
    permutations, so its cost per block changes with the cohort)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"MaxSamples needs n >= 1, got {self.n}")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop after ``n`` samples."""
        return f"{self.n} samples" if progress.samples >= self.n else None

    def __str__(self) -> str:
        return f"MaxSamples({self.n})"


@dataclass(frozen=True)
class MinUpdates(StoppingCriterion):
    """True once ``n`` permutations were scanned: combine with ``&`` to require them."""

    n: int

    def reason(self, progress: SamplingProgress) -> str | None:
        """True after ``n`` permutations (combine with ``&`` as a floor)."""
        return f"at least {self.n} permutations" if progress.permutations >= self.n else None

    def __str__(self) -> str:
        return f"MinUpdates({self.n})"


@dataclass(frozen=True)
class MaxEvaluations(StoppingCriterion):
    """Stop once ``n`` distinct coalitions were evaluated (a budget of model evaluations).
    Samplers check it after every permutation, so they stop within one permutation's scan
    (fewer than n_players evaluations) past it, also inside a stratified block."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"MaxEvaluations needs n >= 1, got {self.n}")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop after ``n`` coalition evaluations."""
        return f"{self.n} coalition evaluations" if progress.evaluations >= self.n else None

    def __str__(self) -> str:
        return f"MaxEvaluations({self.n})"


@dataclass(frozen=True)
class MaxTime(StoppingCriterion):
    """Stop once sampling has run for ``seconds`` (checked after every permutation)."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ConfigError(f"MaxTime needs seconds > 0, got {self.seconds}")

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop after ``seconds`` of sampling."""
        return f"{self.seconds:g} s" if progress.seconds >= self.seconds else None

    def __str__(self) -> str:
        return f"MaxTime({self.seconds:g})"


@dataclass(frozen=True)
class AllOf(StoppingCriterion):
    """Stops when every one of ``criteria`` would (``a & b``)."""

    criteria: tuple[StoppingCriterion, ...]

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop when every criterion would."""
        reasons = [c.reason(progress) for c in self.criteria]
        if all(r is not None for r in reasons):
            return " and ".join(r for r in reasons if r is not None)
        return None

    def __str__(self) -> str:
        return "(" + " & ".join(str(c) for c in self.criteria) + ")"


@dataclass(frozen=True)
class AnyOf(StoppingCriterion):
    """Stops when any of ``criteria`` would (``a | b``); the first one's reason is given."""

    criteria: tuple[StoppingCriterion, ...]

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop when any criterion would (its reason)."""
        for c in self.criteria:
            why = c.reason(progress)
            if why is not None:
                return why
        return None

    def __str__(self) -> str:
        return "(" + " | ".join(str(c) for c in self.criteria) + ")"


@dataclass(frozen=True)
class Not(StoppingCriterion):
    """Stops when ``criterion`` would not (``~a``)."""

    criterion: StoppingCriterion

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop when the criterion would not."""
        return None if self.criterion(progress) else f"not {self.criterion}"

    def __str__(self) -> str:
        return f"~{self.criterion}"


def default_stopping(
    rtol: float = 0.05, max_permutations: int = 2000, min_samples: int = DEFAULT_MIN_SAMPLES
) -> StoppingCriterion:
    """The default rule of every sampled estimator: stop once every value's standard error
    is below ``rtol`` x the largest |value| or is 0 (after ``min_samples`` samples; so a
    game whose values are all 0 stops there), or after ``max_permutations`` permutations.

    Parameters
    ----------
    rtol
        Target standard error, relative to the largest |value|.
    max_permutations
        Hard cap on permutations.
    min_samples
        Independent samples before standard errors are trusted.

    Returns
    -------
    StoppingCriterion
        ``RelativeStandardError(rtol, min_samples=...) | MaxUpdates(max_permutations)``.
    """
    return RelativeStandardError(rtol, min_samples=min_samples) | MaxUpdates(max_permutations)


@dataclass(frozen=True)
class ConvergenceRule(StoppingCriterion):
    """Deprecated (removed in rengo 0.3): the running mean's relative change,
    sum|phi_k - phi_{k-1}| / sum|phi_k|, stayed below ``tolerance`` for ``window``
    samples, or ``max_permutations`` were drawn. It says nothing about how far the estimate
    is from the truth; use :func:`default_stopping` or :class:`RelativeStandardError`."""

    tolerance: float = 0.02
    window: int = 5
    min_permutations: int = 0
    max_permutations: int = 500

    def __post_init__(self) -> None:
        if self.tolerance <= 0 or self.window < 1 or self.max_permutations < 1:
            raise ConfigError("ConvergenceRule needs tolerance > 0, window >= 1, max >= 1")
        warnings.warn(
            "ConvergenceRule is deprecated and will be removed in rengo 0.3: it stops on a "
            "small change of the running mean, not on the estimate's standard error; use "
            "rengo.valuation.default_stopping() or RelativeStandardError(...) | MaxUpdates(...)",
            DeprecationWarning,
            stacklevel=3,
        )

    def reason(self, progress: SamplingProgress) -> str | None:
        """Stop at the permutation cap, or once the values settled within the window."""
        if progress.permutations >= self.max_permutations:
            return f"{self.max_permutations} permutations"
        history = progress.history
        if progress.permutations < self.min_permutations or len(history) < self.window + 1:
            return None
        changes = []
        recent = history[-self.window - 1 :]
        for before, now in pairwise(recent):
            scale = float(np.sum(np.abs(now)))
            changes.append(float(np.sum(np.abs(now - before))) / scale if scale > 0 else 0.0)
        if max(changes) < self.tolerance:
            return f"running mean changed by less than {self.tolerance:g}"
        return None


def student_quantile(level: float, dof: np.ndarray) -> np.ndarray:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom
    (the normal quantile where ``dof`` is infinite)."""
    from scipy.stats import norm, t

    if not 0 < level < 1:
        raise ConfigError(f"confidence level must lie in (0, 1), got {level}")
    dof = np.asarray(dof, dtype=np.float64)
    normal = float(norm.ppf(0.5 + level / 2))
    finite = np.isfinite(dof) & (dof > 0)
    out = np.full(dof.shape, normal)
    out[finite] = t.ppf(0.5 + level / 2, dof[finite])
    return out if out.ndim else np.asarray(out)

"""A Numerai-style prediction tournament: the coordinator publishes rows (ids, eras,
features), participants submit only predictions with a stake, and once targets are known
each submission is scored per era (CORR, MMC, and feature-neutral CORR where features were
published) and paid or burned from its stake.

Persistence is left to the caller: :meth:`Tournament.to_dict` / :meth:`Tournament.from_dict`
give plain dicts (with ``arrays=True``, numpy arrays for the bulk) for the run store, and
:meth:`Tournament.rescore` recomputes a stored round from its submissions to audit it.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.rewards import Budget, Payout, stake_clipped_payouts
from rengo.tournament.scoring import (
    SCORING_VERSION,
    checked_vector,
    corr_of_gaussianized,
    corr_target,
    feature_neutral_corr,
    gaussianize,
    mmc_of_gaussianized,
    mmc_target,
    stake_weighted_meta_model,
)

Predictions = Mapping[str, float] | Sequence[float] | np.ndarray
"""Predictions in [0, 1], by row id or in the published row order."""

LEGACY_SCORING = "rengo-0.1"
"""Scoring of rounds stored before ``scoring`` was recorded: a meta model of averaged ranks
(zero stakes included) and MMC without numerai-tools' x4 target scaling, i.e. about a
quarter of today's MMC. :meth:`Tournament.rescore` recomputes such a round."""

MIN_PREDICTION_STD = 1e-8
"""Numerai refuses a submission whose standard deviation is (close to) 0: a constant
prediction has no ranking to score (numerai-tools ``validate_values``)."""

MAX_STAKE_MINOR = 2**53
"""The largest stake in minor units, 9,007,199,254,740,992 (about 9.0e13 major units at 2
decimals): every integer up to it is exact as a float64, which the meta model weighs stakes
in, and a payout (at most the stake) stays far inside the ledger's int64. A larger stake is
refused when submitted and when scored; unbounded, 1e19 credits broke ``pay`` and 1e400
could not be scored at all."""


def _checked_stake(participant: str, stake: object) -> int:
    """``stake`` as an int of minor units in [0, :data:`MAX_STAKE_MINOR`], or a
    ``DataError`` naming ``participant`` (a float is refused, never truncated)."""
    if isinstance(stake, bool) or not isinstance(stake, int | np.integer):
        raise DataError(
            f"stake of {participant!r} must be an int of minor units, got {type(stake).__name__}"
            f" {stake!r}"
        )
    if not 0 <= stake <= MAX_STAKE_MINOR:
        shown = repr(int(stake))
        shown = shown if len(shown) <= 24 else f"{shown[:8]}... ({len(shown)} digits)"
        raise DataError(
            f"stake of {participant!r} must be in [0, {MAX_STAKE_MINOR}] minor units, got {shown}"
        )
    return int(stake)


@dataclass(frozen=True)
class PayoutRule:
    """payout = stake * clip(payout_factor * (corr_multiplier * CORR + mmc_multiplier * MMC
    + fnc_multiplier * FNC), -clip, clip); the defaults are Numerai's 2024 rule
    (0.5 CORR + 2 MMC, clip 5 %).

    MMC follows numerai-tools 0.7.2 (a [0, 1] target is scaled by 4 before centring), so
    2 MMC carries the weight Numerai intends. FNC (feature-neutral CORR) needs the round's
    published features; ``target_pow15`` is passed to CORR and FNC.
    """

    corr_multiplier: float = 0.5
    mmc_multiplier: float = 2.0
    payout_factor: float = 1.0
    clip: float = 0.05
    fnc_multiplier: float = 0.0
    target_pow15: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.clip <= 1:  # False for NaN too
            raise ConfigError(f"clip is a fraction of the stake in [0, 1], got {self.clip}")
        if not (math.isfinite(self.payout_factor) and self.payout_factor >= 0):
            raise ConfigError(f"payout_factor must be finite and >= 0, got {self.payout_factor}")
        multipliers = (self.corr_multiplier, self.mmc_multiplier, self.fnc_multiplier)
        if not all(math.isfinite(m) for m in multipliers):
            raise ConfigError(f"multipliers must be finite, got {multipliers}")

    def combined(self, corr: float, mmc_score: float, fnc: float | None = None) -> float:
        """The score that the clip applies to, before the payout factor."""
        total = self.corr_multiplier * corr + self.mmc_multiplier * mmc_score
        if self.fnc_multiplier:
            if fnc is None:
                raise ConfigError("this payout rule pays on FNC, which needs published features")
            total += self.fnc_multiplier * fnc
        return total


@dataclass(frozen=True)
class EraScore:
    """One submission's scores on one era.

    ``fnc`` is None when the round published no features. ``undefined`` names the scores
    numerai-tools leaves undefined (NaN) on this era - "corr" for a constant prediction,
    "mmc" for a constant or missing meta model, "fnc" likewise - each counted as 0.0.
    """

    era: str
    corr: float
    mmc: float
    fnc: float | None = None
    undefined: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """Plain types only (``fnc`` and ``undefined`` only when present)."""
        out: dict[str, object] = {"era": self.era, "corr": self.corr, "mmc": self.mmc}
        if self.fnc is not None:
            out["fnc"] = self.fnc
        if self.undefined:
            out["undefined"] = list(self.undefined)
        return out


@dataclass(frozen=True)
class ParticipantRoundScore:
    """One submission's per-era scores, their means, and the combined score it is paid on."""

    participant: str
    stake_minor: int
    eras: tuple[EraScore, ...]
    corr: float
    mmc: float
    score: float
    fnc: float | None = None


REPR_PARTICIPANTS = 10
"""How many participants (the best first) a :class:`RoundResult`'s repr names."""


@dataclass(frozen=True, repr=False)
class RoundResult:
    """Scores and payouts of a resolved round, with the scoring definitions used
    (``scoring``) and the gains budget the payouts were capped by (``budget_minor``)."""

    round: int
    scores: dict[str, ParticipantRoundScore]
    payouts: tuple[Payout, ...]
    scoring: str = SCORING_VERSION
    budget_minor: int | None = None

    def __repr__(self) -> str:
        """A few lines a notebook can show: the best participants' combined scores and
        payouts (minor units) and the round's totals; not every era of every participant
        (``scores`` and ``payouts`` hold them)."""
        due = {p.participant: p.amount_minor for p in self.payouts}
        ranked = sorted(self.scores.values(), key=lambda s: (-s.score, s.participant))
        lines = [
            f"RoundResult(round {self.round}, {len(ranked)} participants, paid "
            f"{sum(a for a in due.values() if a > 0)} and burned "
            f"{-sum(a for a in due.values() if a < 0)} minor units, scoring {self.scoring})"
        ]
        lines += [
            f"  {s.participant}: score {s.score:+.4f}, payout {due.get(s.participant, 0)}"
            for s in ranked[:REPR_PARTICIPANTS]
        ]
        if len(ranked) > REPR_PARTICIPANTS:
            lines.append(f"  ... {len(ranked) - REPR_PARTICIPANTS} more (scores, payouts)")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """Plain types only."""
        scores: dict[str, object] = {}
        for p, s in self.scores.items():
            row: dict[str, object] = {
                "stake_minor": s.stake_minor,
                "corr": s.corr,
                "mmc": s.mmc,
                "score": s.score,
                "eras": [e.as_dict() for e in s.eras],
            }
            if s.fnc is not None:
                row["fnc"] = s.fnc
            scores[p] = row
        return {
            "round": self.round,
            "scoring": self.scoring,
            "budget_minor": self.budget_minor,
            "scores": scores,
            "payouts": [p.as_dict() for p in self.payouts],
        }


def _defined(value: float, name: str, undefined: list[str]) -> float:
    if math.isnan(value):
        undefined.append(name)
        return 0.0
    return value


def participant_name(participant: object) -> str:
    """The name a tournament keeps for ``participant``: it in Unicode normal form C, or a
    ``DataError`` unless it is a name others can tell apart: non-empty, no spaces around it
    ("alice " shown beside "alice"), no control or format characters (a terminal escape in
    a name rewrote the operator's leaderboard) and no mix of look-alike alphabets.

    Names that differ only in how an accent is encoded ("José" as one code point or as "e"
    and a combining accent, as macOS writes it) look the same everywhere, so they are one
    name: a resubmission typed on another keyboard replaces the first instead of entering a
    second participant with a second stake. :meth:`Tournament.submit` checks each name so;
    a caller checks it first to tell a bad name apart from a bad predictions file.

    Parameters
    ----------
    participant:
        The name as typed.

    Returns
    -------
    str
        The name in Unicode normal form C.

    Raises
    ------
    DataError
        The name is not a string, is empty, has spaces around it, holds a control or format
        character, or mixes look-alike alphabets (:data:`LOOK_ALIKE_SCRIPTS`).
    """
    if not isinstance(participant, str) or not participant.strip():
        raise DataError(f"participant must be a non-empty name, got {participant!r}")
    if participant != participant.strip():
        raise DataError(f"participant {participant!r} has spaces around it; drop them")
    hidden = sorted({c for c in participant if unicodedata.category(c).startswith("C")})
    if hidden:
        raise DataError(
            f"participant {participant!r} holds control or format characters {hidden}: a "
            "name is shown on every leaderboard and ledger, so it must be plain text"
        )
    mixed = _look_alike_scripts(participant)
    if len(mixed) > 1:
        raise DataError(
            f"participant {participant!r} mixes {' and '.join(mixed)} letters, several of "
            "which look alike (Cyrillic 'а', Latin 'a'): such a name can pass for another "
            "participant's on the leaderboard; write it in one of these alphabets"
        )
    return unicodedata.normalize("NFC", participant)


LOOK_ALIKE_SCRIPTS = ("Latin", "Greek", "Cyrillic")
"""Alphabets with letters that look alike, which one participant name may not mix (the
"highly restrictive" level of Unicode TS #39, Unicode Security Mechanisms, section 5.2, which
also allows Latin beside Han, Hiragana, Katakana, Bopomofo and Hangul)."""


def _look_alike_scripts(name: str) -> list[str]:
    """The alphabets of :data:`LOOK_ALIKE_SCRIPTS` whose letters ``name`` holds, sorted (a
    letter's script is the first word of its Unicode name)."""
    found = {
        unicodedata.name(c, "").split(" ")[0].title()
        for c in name
        if unicodedata.category(c).startswith("L")
    }
    return sorted(found.intersection(LOOK_ALIKE_SCRIPTS))


def _check_era_sizes(eras: Sequence[str]) -> None:
    """Every era must have at least two rows: a correlation of one row is undefined (and
    numerai-tools refuses it), so a round with such an era could never be scored."""
    sizes: dict[str, int] = {}
    for era in eras:
        sizes[era] = sizes.get(era, 0) + 1
    small = sorted(era for era, size in sizes.items() if size < 2)
    if small:
        raise DataError(
            f"every era needs at least 2 rows to be scored; {len(small)} of one row: "
            f"{small[:3]}{' ...' if len(small) > 3 else ''}"
        )


def _check_target_varies(target: np.ndarray, era_of_row: np.ndarray) -> None:
    """A target constant within every era leaves every score undefined (CORR and MMC are
    0 / 0): the round would close with nothing earned or burned, which is a wrong targets
    file (a placeholder, the wrong column) far more often than a real outcome."""
    for era in set(era_of_row.tolist()):
        if np.ptp(target[era_of_row == era]) > 0:
            return
    raise DataError(
        f"the target is constant within every era ({_shown(target)}): every score would be "
        "undefined and the round would close paying nobody; check the targets"
    )


def _refuse_equivalent_names(names: Sequence[str]) -> None:
    """A ``DataError`` when two names differ only in their Unicode form (see
    :func:`participant_name`): shown alike, they would be told apart only by rengo."""
    forms: dict[str, str] = {}
    for name in names:
        other = forms.setdefault(unicodedata.normalize("NFC", name), name)
        if other != name:
            raise DataError(
                f"participants {other!r} and {name!r} are the same name in two Unicode "
                "forms; submit each participant under one name"
            )


def _shown(values: np.ndarray) -> str:
    distinct = sorted(set(values.tolist()))
    return ", ".join(f"{v:g}" for v in distinct[:3]) + (" ..." if len(distinct) > 3 else "")


def score_round(
    submissions: Mapping[str, Mapping[str, float]],
    stakes_minor: Mapping[str, int],
    eras: Mapping[str, str],
    target: Mapping[str, float],
    rule: PayoutRule | None = None,
    budget_minor: int | None = None,
    round_id: int = 0,
    features: np.ndarray | None = None,
) -> RoundResult:
    """Score every submission per era against ``target`` (row id -> value), with the meta
    model of each era built from the staked submissions' raw predictions weighted by stake,
    then pay stake * clip(factor * (a CORR + b MMC + c FNC)) on the era means, never paying
    more than ``budget_minor`` (default: the total stake) in gains.

    Scores follow numerai-tools 0.7.2 (see :mod:`rengo.tournament.scoring`). An era score
    that numerai-tools leaves undefined (NaN: a prediction constant within the era, a
    constant meta model, no staked submission) counts as 0 - neither earned nor burned - and
    is named in :attr:`EraScore.undefined`. The result does not depend on the order of the
    submissions (the meta model adds them sorted by name; numerai-tools' ``stake_weight``
    given them in that order builds the same meta model bit for bit) nor on the order of the
    rows (scored in the order of their ids, as numerai-tools sorts its index: in the order
    published, a last-bit change of a score moved a payout on a large stake by one minor
    unit), and a zero-stake submission changes nobody else's scores.

    Parameters
    ----------
    submissions:
        Participant -> (row id -> prediction in [0, 1]); each covers exactly the round's
        rows.
    stakes_minor:
        Participant -> stake, an int of minor units in [0, :data:`MAX_STAKE_MINOR`], for
        every submission.
    eras:
        Row id -> era.
    target:
        Row id -> the resolved target.
    rule:
        The payout rule (default :class:`PayoutRule`).
    budget_minor:
        The most that gains may add up to (default: the total stake).
    round_id:
        The round number recorded in the result.
    features:
        The published features, one row per row id in the order of ``eras``; when given,
        each era also gets feature-neutral CORR (FNC).

    Returns
    -------
    RoundResult
        Per-participant era scores, means and combined score, and the payouts.

    Raises
    ------
    DataError
        No submissions, row ids that differ between submissions, eras and target, an era
        of one row, a target constant within every era (nothing could be scored),
        features of another number of rows, a prediction outside [0, 1] (or NaN), a
        submission whose stake is missing, not an int, negative or over
        :data:`MAX_STAKE_MINOR`, or two participants whose names differ only in their
        Unicode form.
    ConfigError
        The rule pays on FNC but no features were given.
    """
    if not submissions:
        raise DataError("no submissions to score")
    row_ids = sorted(eras)  # numerai-tools sorts by id: the publishing order is moot
    names = sorted(submissions)
    matrix = np.empty((len(names), len(row_ids)))
    for k, p in enumerate(names):
        if set(submissions[p]) != set(row_ids):
            raise DataError(f"submission of {p!r} does not cover exactly the round's row ids")
        matrix[k] = [submissions[p][r] for r in row_ids]
    return _scored(
        names, matrix, stakes_minor, eras, target, rule, budget_minor, round_id, features
    )


def _scored(
    names: list[str],
    matrix: np.ndarray,
    stakes_minor: Mapping[str, int],
    eras: Mapping[str, str],
    target: Mapping[str, float],
    rule: PayoutRule | None,
    budget_minor: int | None,
    round_id: int,
    features: np.ndarray | None,
    cap_name: str = "the budget",
) -> RoundResult:
    """:func:`score_round` of the submissions of ``names`` (sorted), row ``k`` of ``matrix``
    each, over the round's row ids in sorted order (the columns): the tournament keeps a
    round's submissions as arrays and scores them without a dict per submission.
    ``cap_name`` says in a cut gain's ledger line what ``budget_minor`` is."""
    rule = rule or PayoutRule()
    published = list(eras)
    row_ids = sorted(published)
    _check_era_sizes([str(e) for e in eras.values()])
    if set(target) != set(row_ids):
        raise DataError("target row ids differ from the round's row ids")
    if features is not None:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != len(row_ids):
            raise DataError(f"features of shape {features.shape} for {len(row_ids)} rows")
        position = {r: i for i, r in enumerate(published)}
        features = features[[position[r] for r in row_ids]]
    elif rule.fnc_multiplier:
        raise ConfigError(
            "the payout rule pays on FNC (fnc_multiplier != 0), which needs the round's "
            "published features; open the round with features or set fnc_multiplier=0"
        )
    _refuse_equivalent_names(names)
    for k, p in enumerate(names):
        outside = ~((matrix[k] >= 0) & (matrix[k] <= 1))  # NaN is outside too
        if outside.any():
            first = int(np.argmax(outside))
            raise DataError(
                f"submission of {p!r} has {int(outside.sum())} predictions outside [0, 1] "
                f"(row {row_ids[first]!r}: {matrix[k, first]}); the meta model averages raw "
                "predictions, so one out of range would move everyone's MMC"
            )
    missing = [p for p in names if p not in stakes_minor]
    if missing:
        raise DataError(f"no stake for {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    stakes = [_checked_stake(p, stakes_minor[p]) for p in names]
    target_vector = checked_vector(
        "target", np.array([target[r] for r in row_ids], dtype=np.float64)
    )
    era_of_row = np.array([eras[r] for r in row_ids], dtype=object)
    _check_target_varies(target_vector, era_of_row)
    per_era: dict[str, list[EraScore]] = {p: [] for p in names}
    for era in sorted(set(era_of_row.tolist())):
        rows = np.flatnonzero(era_of_row == era)
        meta = (
            stake_weighted_meta_model([m[rows] for m in matrix], stakes)
            if any(s > 0 for s in stakes)
            else None
        )
        # each input of CORR and MMC once per era (numerai_corr and mmc, called per
        # submission, ranked the meta model and transformed the target for every one)
        era_corr_target = corr_target(target_vector[rows], rule.target_pow15)
        era_mmc_target = mmc_target(target_vector[rows])
        gaussianized_meta = None if meta is None else gaussianize(meta)
        for k, p in enumerate(names):
            undefined: list[str] = []
            gaussianized = gaussianize(matrix[k, rows])
            corr = corr_of_gaussianized(gaussianized, era_corr_target)
            contribution = (
                math.nan
                if gaussianized_meta is None
                else mmc_of_gaussianized(gaussianized, gaussianized_meta, era_mmc_target)
            )
            fnc = None
            if features is not None:
                fnc = _defined(
                    feature_neutral_corr(
                        matrix[k, rows],
                        features[rows],
                        target_vector[rows],
                        target_pow15=rule.target_pow15,
                    ),
                    "fnc",
                    undefined,
                )
            corr = _defined(corr, "corr", undefined)
            contribution = _defined(contribution, "mmc", undefined)
            per_era[p].append(EraScore(str(era), corr, contribution, fnc, tuple(sorted(undefined))))
    scores: dict[str, ParticipantRoundScore] = {}
    for p, stake in zip(names, stakes, strict=True):
        corr_mean = float(np.mean([e.corr for e in per_era[p]]))
        mmc_mean = float(np.mean([e.mmc for e in per_era[p]]))
        fnc_mean = None if features is None else float(np.mean([e.fnc or 0.0 for e in per_era[p]]))
        scores[p] = ParticipantRoundScore(
            p,
            stake,
            tuple(per_era[p]),
            corr_mean,
            mmc_mean,
            rule.combined(corr_mean, mmc_mean, fnc_mean),
            fnc_mean,
        )
    cap = sum(stakes) if budget_minor is None else budget_minor
    payouts = stake_clipped_payouts(
        {p: s.score for p, s in scores.items()},
        dict(zip(names, stakes, strict=True)),
        cap,
        factor=rule.payout_factor,
        clip=rule.clip,
        cap_name=cap_name,
    )
    return RoundResult(round_id, scores, tuple(payouts), SCORING_VERSION, cap)


@dataclass
class _Round:
    row_ids: tuple[str, ...]
    eras: tuple[str, ...]
    features: np.ndarray | None
    submissions: dict[str, np.ndarray] = field(default_factory=dict)
    """Participant -> predictions in the order of :attr:`row_ids` (a dict of row id ->
    value per submission made a 100-participant round of 100,000 rows cost 10 million
    dict entries to keep, store and load)."""
    stakes: dict[str, int] = field(default_factory=dict)
    result: RoundResult | None = None
    cancelled: str | None = None
    """Why the round was cancelled (:meth:`Tournament.cancel_round`), or None."""

    def scored(
        self,
        target: Mapping[str, float],
        rule: PayoutRule,
        budget_minor: int | None,
        number: int,
        cap_name: str = "the budget",
    ) -> RoundResult:
        """:func:`score_round` of this round's submissions and stakes against ``target``
        (``cap_name``: what ``budget_minor`` is, for a cut gain's ledger line)."""
        position = {r: i for i, r in enumerate(self.row_ids)}
        columns = [position[r] for r in sorted(self.row_ids)]
        names = sorted(self.submissions)
        matrix = np.stack([np.asarray(self.submissions[p])[columns] for p in names])
        eras = dict(zip(self.row_ids, self.eras, strict=True))
        return _scored(
            names,
            matrix,
            self.stakes,
            eras,
            target,
            rule,
            budget_minor,
            number,
            self.features,
            cap_name,
        )


@dataclass(frozen=True)
class PublishedRound:
    """What participants download: row ids, eras and features; never any target."""

    round: int
    row_ids: tuple[str, ...]
    eras: tuple[str, ...]
    features: np.ndarray | None


@dataclass(frozen=True)
class LeaderboardEntry:
    """A participant's record over resolved rounds. The means cover every resolved round;
    ``total_payout_minor`` (net: payouts less burns) only the paid ones."""

    participant: str
    rounds: int
    mean_corr: float
    mean_mmc: float
    total_payout_minor: int
    mean_fnc: float | None = None


class Tournament:
    """Rounds of submissions and their resolution. Only predictions ever come from a
    participant; validation rejects anything outside [0, 1], other row ids, or stakes < 0.

    Parameters
    ----------
    rule:
        How a round's scores become payouts (default :class:`PayoutRule`).
    budget:
        A budget no round may overspend (default: each round is bounded by its stakes).
    """

    def __init__(self, rule: PayoutRule | None = None, budget: Budget | None = None) -> None:
        self.rule = rule or PayoutRule()
        self.budget = budget
        self._rounds: dict[int, _Round] = {}

    def open_round(
        self,
        row_ids: Sequence[str],
        eras: Sequence[str],
        features: np.ndarray | None = None,
    ) -> int:
        """Publish a new round's rows; returns its round number.

        Parameters
        ----------
        row_ids:
            At least two distinct row ids.
        eras:
            The era of each row.
        features:
            Optional published features, one row per id.

        Returns
        -------
        int
            The new round's number.

        Raises
        ------
        DataError
            Too few or repeated row ids, eras or features of another length, or an era of
            one row (it could never be scored).
        """
        ids = tuple(str(r) for r in row_ids)
        if len(ids) < 2 or len(set(ids)) != len(ids):
            raise DataError("a round needs at least 2 distinct row ids")
        if len(eras) != len(ids):
            raise DataError(f"{len(eras)} eras for {len(ids)} rows")
        _check_era_sizes([str(e) for e in eras])
        if features is not None and (features.ndim != 2 or features.shape[0] != len(ids)):
            raise DataError(f"features of shape {features.shape} for {len(ids)} rows")
        number = max(self._rounds, default=0) + 1
        self._rounds[number] = _Round(ids, tuple(str(e) for e in eras), features)
        return number

    def published(self, round_id: int) -> PublishedRound:
        """The public part of a round."""
        r = self._round(round_id)
        return PublishedRound(round_id, r.row_ids, r.eras, r.features)

    def _round(self, round_id: int) -> _Round:
        if round_id not in self._rounds:
            raise ProtocolError(f"no round {round_id}")
        return self._rounds[round_id]

    def open_round_ids(self) -> list[int]:
        """Rounds published and neither scored nor cancelled, ascending."""
        return sorted(
            k for k, r in self._rounds.items() if r.result is None and r.cancelled is None
        )

    def stakes(self, round_id: int) -> dict[str, int]:
        """Participant -> stake (minor units) of each submission to round ``round_id``.

        Raises
        ------
        ProtocolError
            No such round.
        """
        return dict(self._round(round_id).stakes)

    def cancelled_rounds(self) -> dict[int, str]:
        """Round -> why it was cancelled, for every cancelled round."""
        return {k: r.cancelled for k, r in sorted(self._rounds.items()) if r.cancelled is not None}

    def cancel_round(self, round_id: int, reason: str) -> None:
        """Withdraw an open round (published by mistake, with wrong rows or eras): it takes no
        more submissions and is never scored or paid. Its number is not reused and its
        published rows and submissions are kept, for the record.

        Parameters
        ----------
        round_id:
            An open round.
        reason:
            Why, for the record: one line of printable text.

        Raises
        ------
        ProtocolError
            No such round, or one already scored or cancelled.
        DataError
            An empty reason, or one with a control character.
        """
        reason = reason.strip() if isinstance(reason, str) else reason
        if not isinstance(reason, str) or not reason or not reason.isprintable():
            raise DataError("a cancelled round needs its reason: one line of printable text")
        self._rounds[self._open_round_id(round_id)].cancelled = reason

    def _open_round_id(self, round_id: int | None) -> int:
        open_ids = self.open_round_ids()
        if round_id is None:
            if not open_ids:
                scored = [k for k, r in self._rounds.items() if r.result is not None]
                if scored:
                    raise ProtocolError(
                        f"round {max(scored)} is already scored and no round is open"
                    )
                raise ProtocolError("no round is open")
            return max(open_ids)
        if round_id not in open_ids:
            cancelled = self._rounds[round_id].cancelled if round_id in self._rounds else None
            if cancelled is not None:
                raise ProtocolError(f"round {round_id} was cancelled ({cancelled})")
            if round_id in self._rounds:
                raise ProtocolError(f"round {round_id} is already scored")
            raise ProtocolError(f"round {round_id} is not open")
        return round_id

    def submit(
        self,
        participant: str,
        predictions: Predictions,
        stake_minor: int,
        round_id: int | None = None,
    ) -> None:
        """Record (or replace) a participant's predictions and stake for an open round.

        Parameters
        ----------
        participant:
            A non-empty name, kept in Unicode normal form C (a name that differs only in
            how its accents are encoded is the same participant).
        predictions:
            Values in [0, 1], by row id or in the published row order.
        stake_minor:
            The stake, an int of minor units in [0, :data:`MAX_STAKE_MINOR`].
        round_id:
            An open round (default: the latest open one).

        Raises
        ------
        DataError
            Bad name (empty, with spaces around it or a control character), stake (not an
            int, negative or too large), row ids or values.
        ProtocolError
            No such open round.
        """
        participant = participant_name(participant)
        stake_minor = _checked_stake(participant, stake_minor)
        number = self._open_round_id(round_id)
        r = self._rounds[number]
        what = f"predictions of {participant!r}"
        by_row = _by_row_id(predictions, r.row_ids, what)
        values = np.fromiter(by_row.values(), dtype=np.float64)
        outside = [(row, v) for row, v in by_row.items() if not 0 <= v <= 1]
        if outside:
            shown = ", ".join(f"{row!r}: {v}" for row, v in outside[:3])
            raise DataError(f"{what} must lie in [0, 1]; {len(outside)} row(s) do not ({shown})")
        if float(np.std(values, ddof=1)) <= MIN_PREDICTION_STD:
            raise DataError(
                f"predictions of {participant!r} are constant (standard deviation "
                f"{float(np.std(values, ddof=1)):.3g}): a constant submission ranks nothing "
                "and Numerai refuses it; submit predictions that order the rows"
            )
        values.flags.writeable = False  # kept, and stored as it is
        r.submissions[participant] = values
        r.stakes[participant] = stake_minor

    def resolve(self, targets: Predictions, round_id: int | None = None) -> RoundResult:
        """Score the round's submissions against the now-known targets and pay them.

        Parameters
        ----------
        targets:
            The resolved targets, by row id or in the published row order.
        round_id:
            An open round (default: the latest open one).

        Returns
        -------
        RoundResult
            Scores and payouts; the round is closed and the budget charged.

        Raises
        ------
        ProtocolError
            No such open round, or a round without submissions.
        DataError
            Targets that do not cover the round's rows, or are constant within every era
            (the round stays open).
        ConfigError
            The payouts would overspend the budget.
        """
        number = self._open_round_id(round_id)
        r = self._rounds[number]
        if not r.submissions:
            raise ProtocolError(f"round {number} has no submissions")
        target = _by_row_id(targets, r.row_ids, "targets")
        budget = None if self.budget is None else self.budget.remaining_minor
        result = r.scored(target, self.rule, budget, number, self._cap_name(budget))
        if self.budget is not None:
            self.budget.charge(result.payouts)
        r.result = result
        return result

    def rescore(self, targets: Predictions, round_id: int) -> RoundResult:
        """Recompute a resolved round from its stored submissions and stakes with today's
        scoring (:data:`~rengo.tournament.scoring.SCORING_VERSION`) and the round's gains
        budget, without paying anything: an audit of a stored result.

        A round stored with the current scoring recomputes to an equal result; one stored
        as :data:`LEGACY_SCORING` shows what it scores now.

        Parameters
        ----------
        targets:
            The round's targets, by row id or in the published row order.
        round_id:
            A resolved round.

        Returns
        -------
        RoundResult
            The recomputed scores and payouts; the tournament is not changed.

        Raises
        ------
        ProtocolError
            No such round, or one not resolved yet.
        DataError
            Targets that do not cover the round's rows.
        """
        r = self._round(round_id)
        if r.cancelled is not None:
            raise ProtocolError(f"round {round_id} was cancelled ({r.cancelled}): no result")
        if r.result is None:
            raise ProtocolError(f"round {round_id} is not resolved; resolve it instead")
        target = _by_row_id(targets, r.row_ids, "targets")
        budget = r.result.budget_minor
        return r.scored(target, self.rule, budget, round_id, self._cap_name(budget))

    def _cap_name(self, left_minor: int | None) -> str:
        """What a round's gains cap is, as a cut gain's ledger line names it: what was left of
        the tournament's budget when the round was scored, never the whole budget (round 2's
        gains of 7.50 cut to the 2.50 left of a 10.00 budget said "the gains due exceed [the
        budget]", which they did not)."""
        if self.budget is None or left_minor is None:
            return "the round's total stake"
        if left_minor == 0:
            return "the tournament's budget"  # "not paid: the tournament's budget is spent"
        if left_minor == self.budget.total_minor:
            return f"the tournament's budget ({left_minor} minor units)"
        return (
            f"what was left of the tournament's budget ({left_minor} of its "
            f"{self.budget.total_minor} minor units)"
        )

    def results(self) -> list[RoundResult]:
        """Every resolved round, oldest first."""
        return [r.result for _, r in sorted(self._rounds.items()) if r.result is not None]

    def history(self, participant: str) -> list[tuple[int, EraScore]]:
        """Every era score of ``participant``, by round then era."""
        return [
            (res.round, era)
            for res in self.results()
            if participant in res.scores
            for era in res.scores[participant].eras
        ]

    def leaderboard(self, paid_rounds: Collection[int] | None = None) -> list[LeaderboardEntry]:
        """Participants ordered by mean combined score over their resolved rounds.

        Parameters
        ----------
        paid_rounds:
            The rounds whose payouts were paid out; only these count in
            :attr:`LeaderboardEntry.total_payout_minor`, so a participant sees what they
            received, not what a scored round will pay. Default: every resolved round (this
            class pays a round when it resolves it; the ``rengo tournament`` commands pay
            later, with ``pay``, and pass the rounds paid so far).

        Returns
        -------
        list[LeaderboardEntry]
            Best first; ties by name.
        """
        rows: dict[str, list[ParticipantRoundScore]] = {}
        paid: dict[str, int] = {}
        for res in self.results():
            for p, s in res.scores.items():
                rows.setdefault(p, []).append(s)
            if paid_rounds is not None and res.round not in paid_rounds:
                continue
            for payout in res.payouts:
                paid[payout.participant] = paid.get(payout.participant, 0) + payout.amount_minor
        entries = [
            LeaderboardEntry(
                p,
                len(s),
                float(np.mean([x.corr for x in s])),
                float(np.mean([x.mmc for x in s])),
                paid.get(p, 0),
                None
                if any(x.fnc is None for x in s)
                else float(np.mean([x.fnc or 0.0 for x in s])),
            )
            for p, s in rows.items()
        ]
        return sorted(
            entries,
            key=lambda e: (-self.rule.combined(e.mean_corr, e.mean_mmc, e.mean_fnc), e.participant),
        )

    def to_dict(self, *, arrays: bool = False) -> dict[str, object]:
        """The whole state as plain dicts, lists, str, int and float.

        Parameters
        ----------
        arrays:
            Give each round's row ids, eras, features and submissions as numpy arrays in
            the published row order (a submission: its predictions, a float64 vector)
            instead of lists and row id -> value dicts, for a caller that stores the bulk
            apart from the rest (``rengo tournament`` writes them as ``.npy`` files beside
            its JSON state). :meth:`from_dict` reads either form.

        Returns
        -------
        dict
            The rule, the budget and every round with its submissions, stakes and result.
        """
        return {
            "rule": asdict(self.rule),
            "budget": None if self.budget is None else self.budget.as_dict(),
            "rounds": [
                {
                    "round": number,
                    "row_ids": np.array(r.row_ids, dtype=str) if arrays else list(r.row_ids),
                    "eras": np.array(r.eras, dtype=str) if arrays else list(r.eras),
                    "features": (
                        None
                        if r.features is None
                        else (r.features if arrays else r.features.tolist())
                    ),
                    "submissions": {
                        p: v if arrays else dict(zip(r.row_ids, v.tolist(), strict=True))
                        for p, v in r.submissions.items()
                    },
                    "stakes": dict(r.stakes),
                    "result": None if r.result is None else r.result.as_dict(),
                    "cancelled": r.cancelled,
                }
                for number, r in sorted(self._rounds.items())
            ],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Tournament:
        """Rebuild a tournament saved with :meth:`to_dict` (in either form).

        Raises
        ------
        DataError
            A state that is not one :meth:`to_dict` wrote: a missing or mistyped part, or a
            submission that does not cover exactly its round's rows with finite values.
        """
        try:
            rule = PayoutRule(**state["rule"])
            budget_state = state["budget"]
            budget = None
            if budget_state is not None:
                budget = Budget(int(budget_state["total_minor"]))
                budget.paid_minor = int(budget_state["paid_minor"])
                budget.burned_minor = int(budget_state["burned_minor"])
            tournament = cls(rule, budget)
            for item in state["rounds"]:
                features = item["features"]
                row_ids = tuple(str(r) for r in item["row_ids"])
                r = _Round(
                    row_ids,
                    tuple(str(e) for e in item["eras"]),
                    None if features is None else np.asarray(features, dtype=np.float64),
                    {
                        p: _kept_submission(v, row_ids, f"stored predictions of {p!r}")
                        for p, v in item["submissions"].items()
                    },
                    {p: int(s) for p, s in item["stakes"].items()},
                )
                if item["result"] is not None:
                    r.result = _result_from_dict(item["result"])
                cancelled = item.get("cancelled")  # None in states before rounds were cancelled
                r.cancelled = None if cancelled is None else str(cancelled)
                tournament._rounds[int(item["round"])] = r
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"invalid tournament state: {exc}") from exc
        return tournament


def _kept_submission(values: Any, row_ids: tuple[str, ...], what: str) -> np.ndarray:
    """A stored submission (row id -> value, or values in the order of ``row_ids``) as the
    read-only float64 vector a round keeps."""
    if isinstance(values, np.ndarray):
        kept = np.asarray(values, dtype=np.float64)
        if kept.flags.writeable:  # the caller's array stays the caller's to change
            kept = kept.copy()
        if kept.shape != (len(row_ids),):
            raise DataError(f"{what} have shape {kept.shape}, expected ({len(row_ids)},)")
        if not np.isfinite(kept).all():
            raise DataError(f"{what} contain NaN or Inf")
    else:
        kept = np.fromiter(_by_row_id(values, row_ids, what).values(), dtype=np.float64)
    kept.flags.writeable = False
    return kept


def _result_from_dict(d: Mapping[str, Any]) -> RoundResult:
    scores = {
        p: ParticipantRoundScore(
            p,
            int(s["stake_minor"]),
            tuple(
                EraScore(
                    e["era"],
                    float(e["corr"]),
                    float(e["mmc"]),
                    None if e.get("fnc") is None else float(e["fnc"]),
                    tuple(e.get("undefined", ())),
                )
                for e in s["eras"]
            ),
            float(s["corr"]),
            float(s["mmc"]),
            float(s["score"]),
            None if s.get("fnc") is None else float(s["fnc"]),
        )
        for p, s in d["scores"].items()
    }
    payouts = tuple(
        Payout(p["participant"], int(p["amount_minor"]), p["reason"]) for p in d["payouts"]
    )
    budget = d.get("budget_minor")
    return RoundResult(
        int(d["round"]),
        scores,
        payouts,
        str(d.get("scoring", LEGACY_SCORING)),
        None if budget is None else int(budget),
    )


def _counted(ids: set[str], what: str) -> str:
    """``"5 missing: ['a', 'b', 'c'] ..."``: how many, and the first few by name."""
    few = sorted(ids)[:3]
    return f"{len(ids)} {what}" + (f": {few}{' ...' if len(ids) > 3 else ''}" if ids else "")


def _by_row_id(values: Predictions, row_ids: tuple[str, ...], what: str) -> dict[str, float]:
    if isinstance(values, Mapping):
        if set(values) != set(row_ids) or len(values) != len(row_ids):
            extra = set(values) - set(row_ids)
            missing = set(row_ids) - set(values)
            raise DataError(
                f"{what} row ids differ from the published ones "
                f"({_counted(extra, 'unknown')}, {_counted(missing, 'missing')})"
            )
        by_row = {r: float(values[r]) for r in row_ids}
    else:
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (len(row_ids),):
            raise DataError(f"{what} have shape {array.shape}, expected ({len(row_ids)},)")
        by_row = dict(zip(row_ids, array.tolist(), strict=True))
    bad = [(r, v) for r, v in by_row.items() if not np.isfinite(v)]
    if bad:
        shown = ", ".join(f"{r!r}: {v}" for r, v in bad[:3])
        raise DataError(f"{what} contain NaN or Inf in {len(bad)} row(s) ({shown})")
    return by_row

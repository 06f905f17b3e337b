"""Properties of tournament scoring that hold for every input (Hypothesis): the meta model
and every score are independent of submission order, a zero-stake submission changes
nobody's scores, a submission equal to the meta model earns no MMC, CORR is a rank
statistic in [-1, 1]."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.tournament import (
    PayoutRule,
    mmc,
    numerai_corr,
    score_round,
    stake_weighted_meta_model,
)

ROWS = 24
LEVELS = [0.0, 0.25, 0.5, 0.75, 1.0]

# predictions on a coarse grid (many ties) or continuous in [0, 1]
prediction = st.one_of(
    st.integers(0, 8).map(lambda k: k / 8),
    st.floats(0.0, 1.0, allow_nan=False, width=64),
)
column = st.lists(prediction, min_size=ROWS, max_size=ROWS).filter(lambda v: len(set(v)) > 1)
target = st.lists(st.sampled_from(LEVELS), min_size=ROWS, max_size=ROWS).filter(
    lambda v: len(set(v)) > 1
)


@st.composite
def tournaments(draw: st.DrawFn) -> tuple[dict[str, list[float]], dict[str, int], list[float]]:
    count = draw(st.integers(2, 5))
    submissions = {f"p{k}": draw(column) for k in range(count)}
    stakes = {name: draw(st.integers(1, 10_000)) for name in submissions}
    return submissions, stakes, draw(target)


def scored(submissions: dict[str, list[float]], stakes: dict[str, int], t: list[float]):  # type: ignore[no-untyped-def]
    rows = [f"r{i:03d}" for i in range(ROWS)]
    eras = {r: ("a" if i < ROWS // 2 else "b") for i, r in enumerate(rows)}
    return score_round(
        {p: dict(zip(rows, v, strict=True)) for p, v in submissions.items()},
        stakes,
        eras,
        dict(zip(rows, t, strict=True)),
    )


@settings(max_examples=60, deadline=None)
@given(tournaments(), st.randoms(use_true_random=False))
def test_meta_model_depends_on_submission_order_only_by_rounding(case, random) -> None:  # type: ignore[no-untyped-def]
    """The meta model adds submissions in the order given, as numerai-tools does, so two
    orders may differ in the last bits of a row, never by more."""
    submissions, stakes, _ = case
    names = list(submissions)
    shuffled = names[:]
    random.shuffle(shuffled)
    first = stake_weighted_meta_model([submissions[n] for n in names], [stakes[n] for n in names])
    second = stake_weighted_meta_model(
        [submissions[n] for n in shuffled], [stakes[n] for n in shuffled]
    )
    np.testing.assert_allclose(first, second, rtol=1e-14, atol=1e-300)


@settings(max_examples=30, deadline=None)
@given(tournaments(), st.randoms(use_true_random=False))
def test_round_scores_do_not_depend_on_the_order_submissions_arrive(case, random) -> None:  # type: ignore[no-untyped-def]
    """score_round fixes the order (names sorted), so the scores are equal bit for bit."""
    submissions, stakes, t = case
    shuffled = list(submissions)
    random.shuffle(shuffled)
    before = scored(submissions, stakes, t)
    after = scored({n: submissions[n] for n in shuffled}, {n: stakes[n] for n in shuffled}, t)
    for name in submissions:
        assert after.scores[name] == before.scores[name]


@settings(max_examples=30, deadline=None)
@given(tournaments(), column)
def test_a_zero_stake_submission_changes_nobody_elses_scores(case, extra) -> None:  # type: ignore[no-untyped-def]
    submissions, stakes, t = case
    before = scored(submissions, stakes, t)
    after = scored({**submissions, "zz_unstaked": extra}, {**stakes, "zz_unstaked": 0}, t)
    for name in submissions:
        assert after.scores[name] == before.scores[name]


@settings(max_examples=30, deadline=None)
@given(tournaments())
def test_a_submission_equal_to_the_meta_model_earns_no_mmc(case) -> None:  # type: ignore[no-untyped-def]
    submissions, stakes, t = case
    names = list(submissions)
    meta = stake_weighted_meta_model([submissions[n] for n in names], [stakes[n] for n in names])
    value = mmc(meta, meta, t)
    assert math.isnan(value) or abs(value) < 1e-12  # NaN only for a constant meta model


@settings(max_examples=60, deadline=None)
@given(column, target)
def test_corr_is_a_rank_statistic_in_the_unit_interval(predictions, t) -> None:  # type: ignore[no-untyped-def]
    p = np.asarray(predictions)
    value = numerai_corr(p, t)
    assert -1.0 <= value <= 1.0
    assert numerai_corr(2.0 * p, t) == value  # an exact monotone map keeps every rank
    assert abs(numerai_corr(-p, t) + value) < 1e-12  # reversed order, opposite sign


@settings(max_examples=40, deadline=None)
@given(
    tournaments(),
    st.lists(st.integers(1, 2**53), min_size=5, max_size=5),
    st.randoms(use_true_random=False),
)
def test_publishing_the_rows_in_another_order_changes_no_score_and_no_payout(  # type: ignore[no-untyped-def]
    case, large_stakes, random
) -> None:
    """Rows are scored in the order of their ids (numerai-tools sorts its index), so the
    order a round published its rows in changes no bit of any score and no minor unit of
    any payout, even on stakes near the maximum where a last-bit change of a score moved a
    payout by one unit (clip 1: no payout is capped)."""
    submissions, _, t = case
    stakes = {name: large_stakes[k] for k, name in enumerate(submissions)}
    rows = [f"r{i:03d}" for i in range(ROWS)]
    shuffled = rows[:]
    random.shuffle(shuffled)
    rule = PayoutRule(clip=1.0)

    def scored_in(order: list[str]):  # type: ignore[no-untyped-def]
        return score_round(
            {p: {r: v[int(r[1:])] for r in order} for p, v in submissions.items()},
            stakes,
            {r: ("a" if int(r[1:]) < ROWS // 2 else "b") for r in order},
            {r: t[int(r[1:])] for r in order},
            rule,
        )

    before, after = scored_in(rows), scored_in(shuffled)
    assert after.scores == before.scores
    assert after.payouts == before.payouts


@settings(max_examples=30, deadline=None)
@given(
    st.lists(tournaments(), min_size=1, max_size=3),
    st.integers(0, 2_000),
    st.sampled_from([0.05, 0.5, 1.0]),
)
def test_a_budget_pays_each_round_at_most_what_is_left_and_all_of_it_when_gains_exceed_it(  # type: ignore[no-untyped-def]
    rounds, total, clip
) -> None:
    """Over rounds, gains never exceed the budget left; a round whose uncapped gains
    (floor of stake x rate) exceed it pays exactly what is left, to the minor unit."""
    from rengo.rewards import Budget
    from rengo.tournament import Tournament

    tournament = Tournament(PayoutRule(clip=clip), Budget(total))
    rows = [f"r{i:03d}" for i in range(ROWS)]
    for submissions, stakes, t in rounds:
        number = tournament.open_round(rows, ["a" if i < ROWS // 2 else "b" for i in range(ROWS)])
        for name, values in submissions.items():
            tournament.submit(name, values, stakes[name], number)
        assert tournament.budget is not None
        left = tournament.budget.remaining_minor
        result = tournament.resolve(t, number)
        paid = sum(p.amount_minor for p in result.payouts if p.amount_minor > 0)
        c = Fraction(repr(clip))  # money is exact: floats through their repr
        uncapped = sum(
            math.floor(s.stake_minor * min(Fraction(repr(s.score)), c))
            for s in result.scores.values()
            if s.score > 0
        )
        assert paid == min(left, uncapped)
    assert tournament.budget.paid_minor <= total

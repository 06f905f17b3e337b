"""The tournament: validation of submissions, per-era scoring, stake payouts, state export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.rewards import Budget
from rengo.tournament import (
    LEGACY_SCORING,
    MAX_STAKE_MINOR,
    SCORING_VERSION,
    PayoutRule,
    Tournament,
    mmc,
    numerai_corr,
    score_round,
    stake_weighted_meta_model,
)

ROWS = [f"r{i}" for i in range(60)]
ERAS = ["e1"] * 30 + ["e2"] * 30


def make_round(seed: int = 0):
    rng = np.random.default_rng(seed)
    target = rng.random(60)
    good = np.clip(target + rng.normal(scale=0.2, size=60), 0, 1)
    noise = rng.random(60)
    return target, good, noise


def test_score_round_per_era_matches_the_scoring_functions() -> None:
    target, good, noise = make_round()
    subs = {
        "good": dict(zip(ROWS, good, strict=True)),
        "noise": dict(zip(ROWS, noise, strict=True)),
    }
    stakes = {"good": 1000, "noise": 3000}
    result = score_round(
        subs, stakes, dict(zip(ROWS, ERAS, strict=True)), dict(zip(ROWS, target, strict=True))
    )
    era1 = slice(0, 30)
    meta = stake_weighted_meta_model([good[era1], noise[era1]], [1000, 3000])
    first = result.scores["good"].eras[0]
    assert first.era == "e1"
    assert first.corr == pytest.approx(numerai_corr(good[era1], target[era1]), abs=1e-12)
    assert first.mmc == pytest.approx(mmc(good[era1], meta, target[era1]), abs=1e-12)
    assert result.scores["good"].corr > result.scores["noise"].corr


def test_payout_rule_clips_to_a_fraction_of_stake() -> None:
    target, good, _ = make_round()
    rule = PayoutRule(corr_multiplier=1.0, mmc_multiplier=0.0, payout_factor=10.0, clip=0.05)
    result = score_round(
        {"good": dict(zip(ROWS, good, strict=True))},
        {"good": 2000},
        dict(zip(ROWS, ERAS, strict=True)),
        dict(zip(ROWS, target, strict=True)),
        rule,
    )
    assert result.payouts[0].amount_minor == 100  # 10 * CORR > 0.05 -> clipped to 5 % of 2000


def test_tournament_round_trip_with_budget_leaderboard_and_history() -> None:
    target, good, noise = make_round()
    budget = Budget(10_000)
    t = Tournament(PayoutRule(), budget)
    rid = t.open_round(ROWS, ERAS, features=np.zeros((60, 3)))
    assert t.published(rid).row_ids == tuple(ROWS)
    t.submit("good", dict(zip(ROWS, good, strict=True)), 1000)
    t.submit("noise", noise, 1000)
    result = t.resolve(dict(zip(ROWS, target, strict=True)))
    paid = {p.participant: p.amount_minor for p in result.payouts}
    assert budget.paid_minor == sum(a for a in paid.values() if a > 0)
    assert [e.participant for e in t.leaderboard()] == ["good", "noise"]
    assert [era.era for _, era in t.history("good")] == ["e1", "e2"]
    restored = Tournament.from_dict(t.to_dict())
    assert restored.to_dict() == t.to_dict()
    with pytest.raises(ProtocolError):
        t.submit("late", good, 10)


def test_submissions_are_validated() -> None:
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    with pytest.raises(DataError):
        t.submit("a", good * 2 + 0.1, 10)  # outside [0, 1]
    with pytest.raises(DataError):
        t.submit("a", dict(zip(ROWS[:-1], good[:-1], strict=True)), 10)  # a row missing
    with pytest.raises(DataError):
        t.submit("a", {**dict(zip(ROWS, good, strict=True)), "x": 0.5}, 10)  # unknown row
    with pytest.raises(DataError):
        t.submit("a", good, -1)  # negative stake
    with pytest.raises(DataError):
        t.submit("a", np.full(60, np.nan), 1)
    with pytest.raises(DataError, match="constant"):
        t.submit("a", np.full(60, 0.5), 1)  # Numerai refuses a zero-deviation submission


def test_a_submission_missing_rows_says_how_many_beside_the_first_few() -> None:
    """Five rows missing read 'missing: [three ids]', as if three were."""
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    short = {**dict(zip(ROWS[:-5], good[:-5], strict=True)), "x": 0.5}
    with pytest.raises(DataError) as refused:
        t.submit("a", short, 10)
    message = str(refused.value)
    assert "(1 unknown: ['x'], 5 missing: ['r55', 'r56', 'r57'] ...)" in message
    exact = dict(zip(ROWS[:-1], good[:-1], strict=True))
    with pytest.raises(DataError, match=r"\(0 unknown, 1 missing: \['r59'\]\)"):
        t.submit("a", exact, 10)


def test_an_era_of_one_row_is_refused_when_the_round_opens_and_when_scored() -> None:
    """A one-row era can never be scored (correlation of one row; numerai-tools refuses it
    too): before, the round opened, took stakes, and failed at resolve with an error that
    named no era, staying open."""
    t = Tournament()
    eras = ["e1"] * 59 + ["e2"]
    with pytest.raises(DataError, match=r"1 of one row: \['e2'\]"):
        t.open_round(ROWS, eras)
    assert t.open_round_ids() == []
    target, good, noise = make_round()
    with pytest.raises(DataError, match="every era needs at least 2 rows"):
        score_round(
            {"a": dict(zip(ROWS, good, strict=True)), "b": dict(zip(ROWS, noise, strict=True))},
            {"a": 10, "b": 10},
            dict(zip(ROWS, eras, strict=True)),
            dict(zip(ROWS, target, strict=True)),
        )


def test_budget_caps_tournament_gains() -> None:
    target, good, _ = make_round()
    t = Tournament(PayoutRule(payout_factor=10.0), Budget(7))
    t.open_round(ROWS, ERAS)
    t.submit("a", good, 1000)
    t.submit("b", good, 1000)
    result = t.resolve(target)
    assert sum(p.amount_minor for p in result.payouts) == 7


def test_stored_results_recompute_exactly_after_a_json_round_trip() -> None:
    target, good, noise = make_round(3)
    t = Tournament(PayoutRule(), Budget(50))
    rid = t.open_round(ROWS, ERAS, features=np.random.default_rng(0).random((60, 4)))
    t.submit("good", good, 1000)
    t.submit("noise", noise, 3000)
    t.submit("free", np.clip(good + 0.05, 0, 1), 0)
    stored = t.resolve(target)
    restored = Tournament.from_dict(json.loads(json.dumps(t.to_dict())))
    assert restored.results() == [stored]
    assert restored.rescore(target, rid) == stored
    assert stored.scoring == SCORING_VERSION and stored.budget_minor == 50
    assert all(e.fnc is not None for e in stored.scores["good"].eras)


def test_rounds_stored_before_scoring_was_recorded_are_marked_legacy() -> None:
    target, good, noise = make_round(4)
    t = Tournament()
    rid = t.open_round(ROWS, ERAS)
    t.submit("good", good, 1000)
    t.submit("noise", noise, 1000)
    t.resolve(target)
    state = t.to_dict()
    for item in state["rounds"]:
        del item["result"]["scoring"]
        del item["result"]["budget_minor"]
    old = Tournament.from_dict(state)
    assert old.results()[0].scoring == LEGACY_SCORING
    assert old.rescore(target, rid).scoring == SCORING_VERSION
    with pytest.raises(ProtocolError):
        Tournament().rescore(target, 1)


def test_an_era_score_left_undefined_counts_as_zero_and_is_named() -> None:
    target, good, _ = make_round(5)
    flat_in_e1 = good.copy()
    flat_in_e1[:30] = 0.5  # constant within era e1 only: CORR there is undefined
    result = score_round(
        {"a": dict(zip(ROWS, flat_in_e1, strict=True)), "b": dict(zip(ROWS, good, strict=True))},
        {"a": 10, "b": 0},
        dict(zip(ROWS, ERAS, strict=True)),
        dict(zip(ROWS, target, strict=True)),
    )
    e1 = result.scores["a"].eras[0]
    assert e1.corr == 0.0 and e1.undefined == ("corr", "mmc")  # a is the whole meta model
    assert result.scores["a"].eras[1].undefined == ()


def test_a_rule_paying_fnc_needs_features() -> None:
    target, good, _ = make_round()
    rule = PayoutRule(fnc_multiplier=1.0)
    with pytest.raises(ConfigError, match="features"):
        score_round(
            {"good": dict(zip(ROWS, good, strict=True))},
            {"good": 10},
            dict(zip(ROWS, ERAS, strict=True)),
            dict(zip(ROWS, target, strict=True)),
            rule,
        )


@pytest.mark.parametrize("bad", [{"payout_factor": np.nan}, {"payout_factor": np.inf},
                                 {"clip": np.nan}, {"clip": np.inf}])  # fmt: skip
def test_a_payout_rule_with_a_non_finite_factor_or_clip_is_refused(bad: dict[str, float]) -> None:
    """NaN compares False with everything, so a NaN factor passed ``< 0`` and left every
    round unscorable; the rule refuses it (and inf) where it is made."""
    with pytest.raises(ConfigError, match=r"payout_factor|clip"):
        PayoutRule(**bad)


def test_a_stake_over_the_maximum_is_refused_at_submit() -> None:
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    t.submit("a", good, MAX_STAKE_MINOR)
    for huge in (MAX_STAKE_MINOR + 1, 10**400):
        with pytest.raises(DataError, match="minor units"):
            t.submit("b", good, huge)
    with pytest.raises(DataError, match="int of minor units"):
        t.submit("b", good, 2.9)  # type: ignore[arg-type]
    assert t.to_dict()["rounds"][0]["stakes"] == {"a": MAX_STAKE_MINOR}  # type: ignore[index]


@pytest.mark.parametrize(
    ("stakes", "refused"),
    [
        ({"good": 10}, "no stake for \\['noise'\\]"),  # a submission without a stake
        ({"good": 10, "noise": 2.9}, "int of minor units"),  # never truncated to 2
        ({"good": 10, "noise": 10**400}, "401 digits"),  # never an OverflowError
        ({"good": 10, "noise": -1}, "must be in"),
    ],
)
def test_score_round_refuses_missing_fractional_or_huge_stakes_as_data_errors(
    stakes: dict[str, float], refused: str
) -> None:
    target, good, noise = make_round()
    submissions = {
        "good": dict(zip(ROWS, good, strict=True)),
        "noise": dict(zip(ROWS, noise, strict=True)),
    }
    with pytest.raises(DataError, match=refused):
        score_round(
            submissions,
            stakes,  # type: ignore[arg-type]
            dict(zip(ROWS, ERAS, strict=True)),
            dict(zip(ROWS, target, strict=True)),
        )


def test_leaderboard_net_payout_counts_only_paid_rounds() -> None:
    """A scored round whose payouts were not paid yet still counts in the mean scores but
    not in the net payout: the leaderboard shows what a participant received."""
    target, good, noise = make_round()
    t = Tournament()
    t.open_round(ROWS, ERAS)
    t.submit("good", good, 1000)
    t.submit("noise", noise, 1000)
    result = t.resolve(target)
    assert any(p.amount_minor for p in result.payouts)
    unpaid = {e.participant: e for e in t.leaderboard(paid_rounds=set())}
    paid = {e.participant: e for e in t.leaderboard(paid_rounds={result.round})}
    assert {p: e.total_payout_minor for p, e in unpaid.items()} == {"good": 0, "noise": 0}
    due = {p.participant: p.amount_minor for p in result.payouts}
    assert {p: e.total_payout_minor for p, e in paid.items()} == due
    assert unpaid["good"].mean_corr == paid["good"].mean_corr
    assert t.leaderboard() == t.leaderboard(paid_rounds={result.round})


@pytest.mark.parametrize(("bad", "complaint"), [(2.0, "must lie in"), (float("nan"), "NaN")])
def test_submit_refuses_a_bad_prediction_naming_its_participant_and_row(
    bad: float, complaint: str
) -> None:
    """`rengo tournament submit` of a file with one 'nan' said only "predictions contain
    NaN or Inf" (and one of 2.0 "predictions must lie in [0, 1]"): not whose, nor where."""
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    predictions = dict(zip(ROWS, good, strict=True))
    predictions["r7"] = bad
    with pytest.raises(DataError, match=rf"predictions of 'carol' .*{complaint}.*'r7'"):
        t.submit("carol", predictions, 10)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf")])
def test_score_round_refuses_a_prediction_outside_0_1_naming_its_participant(bad: float) -> None:
    """submit checks the range, score_round (public, scoring what callers assembled) did
    not: a staked prediction of 1e6 entered the meta model raw and moved every MMC; NaN was
    refused as "submission 1" instead of by name."""
    target, good, noise = make_round()
    noisy = dict(zip(ROWS, noise, strict=True))
    noisy["r7"] = bad
    with pytest.raises(DataError, match=r"submission of 'noise' has 1 predictions outside .*r7"):
        score_round(
            {"good": dict(zip(ROWS, good, strict=True)), "noise": noisy},
            {"good": 10, "noise": 10},
            dict(zip(ROWS, ERAS, strict=True)),
            dict(zip(ROWS, target, strict=True)),
        )


def test_targets_constant_in_every_era_are_refused_and_the_round_stays_open() -> None:
    """A placeholder targets file (all 1.0) scored every submission 0 with every score
    undefined and closed the round for good; it is refused and the round can be resolved
    with the real targets."""
    target, good, noise = make_round()
    tournament = Tournament()
    number = tournament.open_round(ROWS, ERAS)
    tournament.submit("good", dict(zip(ROWS, good, strict=True)), 1000)
    tournament.submit("noise", dict(zip(ROWS, noise, strict=True)), 1000)
    with pytest.raises(DataError, match="constant within every era"):
        tournament.resolve(dict.fromkeys(ROWS, 1.0))
    assert tournament.open_round_ids() == [number]
    result = tournament.resolve(dict(zip(ROWS, target, strict=True)))
    assert result.scores["good"].corr > 0


def test_a_target_constant_in_one_era_only_is_scored() -> None:
    target, good, _ = make_round()
    one_flat = target.copy()
    one_flat[:30] = 1.0
    result = score_round(
        {"good": dict(zip(ROWS, good, strict=True))},
        {"good": 10},
        dict(zip(ROWS, ERAS, strict=True)),
        dict(zip(ROWS, one_flat, strict=True)),
    )
    assert result.scores["good"].eras[0].undefined == ("corr",)  # CORR of a flat target
    assert result.scores["good"].eras[1].undefined == ()


@pytest.mark.parametrize(
    "name", ["alice ", " alice", "\x1b[2Jalice", "ali\u200bce", "al\nice", "", "   "]
)
def test_a_participant_name_others_could_not_tell_apart_is_refused(name: str) -> None:
    """'alice ' beside 'alice', a zero-width space or a terminal escape in a name let one
    participant pass for another on the leaderboard (or clear the operator's screen)."""
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    with pytest.raises(DataError, match="participant"):
        t.submit(name, good, 10)
    t.submit("[red]alice", good, 10)  # brackets are text: displays escape them


def test_a_name_in_another_unicode_form_is_the_same_participant() -> None:
    """'José' typed with a combining accent (as macOS writes it) looks like 'José' in one
    code point: a resubmission so typed replaces the first instead of entering a second
    participant with a second stake, and score_round refuses both names side by side."""
    composed, decomposed = "Jos\u00e9", "Jose\u0301"
    t = Tournament()
    t.open_round(ROWS, ERAS)
    target, good, noise = make_round()
    t.submit(decomposed, noise, 10)
    t.submit(composed, good, 20)
    result = t.resolve(target)
    assert list(result.scores) == [composed]
    assert result.scores[composed].stake_minor == 20
    with pytest.raises(DataError, match="two Unicode forms"):
        score_round(
            {n: dict(zip(ROWS, good, strict=True)) for n in (composed, decomposed)},
            {composed: 10, decomposed: 10},
            dict(zip(ROWS, ERAS, strict=True)),
            dict(zip(ROWS, target, strict=True)),
        )


def test_a_cancelled_round_is_never_scored_and_its_number_is_not_reused() -> None:
    """A round opened by mistake is withdrawn: it refuses submissions and resolution naming
    why, is in no result or leaderboard, keeps its submissions for the record, survives
    to_dict/from_dict, and the next round gets the next number."""
    target, good, noise = make_round()
    t = Tournament()
    first = t.open_round(ROWS, ERAS)
    t.submit("good", good, 10)
    t.cancel_round(first, "  eras were shuffled ")
    assert t.open_round_ids() == [] and t.cancelled_rounds() == {first: "eras were shuffled"}
    with pytest.raises(ProtocolError, match=r"round 1 was cancelled \(eras were shuffled\)"):
        t.submit("noise", noise, 10, round_id=first)
    with pytest.raises(ProtocolError, match="was cancelled"):
        t.resolve(target, round_id=first)
    with pytest.raises(ProtocolError, match="was cancelled"):
        t.rescore(target, round_id=first)
    with pytest.raises(ProtocolError, match=r"round 1 was cancelled \(eras were shuffled\)"):
        t.cancel_round(first, "again")
    assert t.stakes(first) == {"good": 10}
    restored = Tournament.from_dict(json.loads(json.dumps(t.to_dict())))
    assert restored.cancelled_rounds() == {first: "eras were shuffled"}
    second = restored.open_round(ROWS, ERAS)
    assert second == first + 1
    restored.submit("good", good, 10)
    restored.submit("noise", noise, 10)
    restored.resolve(target)
    assert [r.round for r in restored.results()] == [second]
    with pytest.raises(ProtocolError, match="already scored"):
        restored.cancel_round(second, "too late")


@pytest.mark.parametrize("reason", ["", "   ", "two\nlines", None])
def test_a_round_is_cancelled_only_with_a_printable_reason(reason: object) -> None:
    t = Tournament()
    number = t.open_round(ROWS, ERAS)
    with pytest.raises(DataError, match="needs its reason"):
        t.cancel_round(number, reason)  # type: ignore[arg-type]
    assert t.open_round_ids() == [number]


def test_a_state_saved_before_rounds_could_be_cancelled_has_none_cancelled() -> None:
    t = Tournament()
    t.open_round(ROWS, ERAS)
    state = t.to_dict()
    for item in state["rounds"]:  # type: ignore[attr-defined]
        del item["cancelled"]
    assert Tournament.from_dict(state).open_round_ids() == [1]


@pytest.mark.parametrize(
    ("name", "scripts"),
    [
        ("\u0430lice", "Cyrillic and Latin"),
        ("p\u0430ypal", "Cyrillic and Latin"),
        ("\u03a9mega", "Greek and Latin"),
    ],
)
def test_a_name_mixing_look_alike_alphabets_is_refused(name: str, scripts: str) -> None:
    """'аlice' with a Cyrillic 'а' is shown exactly like 'alice': refused, naming the
    alphabets, so one participant cannot pass for another on the leaderboard."""
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    with pytest.raises(DataError, match=f"mixes {scripts} letters"):
        t.submit(name, good, 10)
    assert t.stakes(1) == {}


@pytest.mark.parametrize(
    "name", ["alice", "\u0430\u043b\u0456\u0441\u0430", "\u5c71\u7530\u305f\u308d\u3046",
             "team\u6771\u4eac", "Jos\u00e9", "\u03b1\u03b8\u03b7\u03bd\u03ac", "r2-d2_x"],
)  # fmt: skip
def test_a_name_in_one_alphabet_or_beside_cjk_is_taken(name: str) -> None:
    """All-Cyrillic, all-Greek, Japanese (Han and Hiragana) and Latin beside Han are names
    (Unicode TS #39's highly restrictive level)."""
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    t.submit(name, good, 10)
    assert list(t.stakes(1)) == [name]


def test_a_round_result_s_repr_is_a_short_ranking_not_every_era() -> None:
    """A notebook shows a cell's last value by its repr: a resolved round printed every era
    score of every participant. It names the ten best with score and payout, and the
    totals paid and burned."""
    target, good, _ = make_round()
    t = Tournament()
    t.open_round(ROWS, ERAS)
    rng = np.random.default_rng(3)
    for k in range(15):
        t.submit(f"p{k:02d}", np.clip(good + rng.normal(scale=0.1 * k, size=60), 0, 1), 100)
    result = t.resolve(target)
    text = repr(result)
    lines = text.splitlines()
    assert len(lines) == 12 and "EraScore" not in text and "... 5 more" in lines[-1]
    best = max(result.scores.values(), key=lambda s: s.score)
    assert lines[1].startswith(f"  {best.participant}: score {best.score:+.4f}")
    paid = sum(p.amount_minor for p in result.payouts if p.amount_minor > 0)
    assert lines[0].startswith(f"RoundResult(round 1, 15 participants, paid {paid} and burned")

"""Every import path that moved in the package cut still works for one release: the same
object as at its new home, with a DeprecationWarning that names the new home."""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest

import rengo.cli
import rengo.cli.tournament
import rengo.contrib
import rengo.vfl
from rengo import rewards, showcase, tournament, valuation
from rengo.core.deprecation import deprecated_paths

OLD_MODULES = {
    "rengo.contrib.shapley": "rengo.valuation.shapley",
    "rengo.contrib.fl_reconstruction": "rengo.valuation.reconstruction",
    "rengo.contrib.gtg": "rengo.valuation.gtg",
    "rengo.contrib.tracker": "rengo.valuation.tracker",
    "rengo.contrib.vfl_contribution": "rengo.valuation.party_shapley",
    "rengo.contrib.vfl_parties": "rengo.valuation.vertical",
    "rengo.contrib.money": "rengo.rewards.money",
    "rengo.contrib.payouts": "rengo.rewards.payouts",
    "rengo.contrib.sybil": "rengo.rewards.sybil",
    "rengo.contrib.numerai_scoring": "rengo.tournament.scoring",
    "rengo.contrib.tournament": "rengo.tournament.rounds",
    "rengo.contrib.tournament_simulation": "rengo.tournament.simulation",
    "rengo.vfl.hetero_credit_story": "rengo.showcase.credit_default",
    "rengo.cli.demo": "rengo.showcase.demo",
    "rengo.cli.demo_contrib": "rengo.showcase.demo_contribution",
    "rengo.deploy.app_loader": "rengo.core.app_loader",
}


def _fresh_import(name: str, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{name} is deprecated"):
        return importlib.import_module(name)


@pytest.mark.parametrize("old_name", sorted(rengo.contrib.__all__))
def test_every_old_contrib_name_is_the_new_object_with_a_warning(old_name: str) -> None:
    new_home = deprecated_paths()[f"rengo.contrib.{old_name}"]
    with pytest.warns(DeprecationWarning, match=f"rengo.contrib.{old_name} is deprecated"):
        value = getattr(rengo.contrib, old_name)
    if old_name == "simulate_tournament":  # the default cast moved out; see the test below
        assert callable(value)
        return
    module, _, name = new_home.rpartition(".")
    assert value is getattr(importlib.import_module(module), name)


ADDED_AFTER_THE_SPLIT = {
    # issue 9 (exactness): new scoring functions and sampling stopping rules, never in contrib
    "LEGACY_SCORING",
    "SCORING_VERSION",
    "feature_neutral_corr",
    "neutralize",
    "CONFIDENCE",
    "AbsoluteStandardError",
    "HistoryDeviation",
    "MaxEvaluations",
    "MaxSamples",
    "MaxTime",
    "MaxUpdates",
    "MinUpdates",
    "RelativeStandardError",
    "SamplingProgress",
    "StoppingCriterion",
    "default_stopping",
    # the largest stake a tournament takes (submit refuses more)
    "MAX_STAKE_MINOR",
    # a coalition value that is NaN or infinite (a run's round falls back to group level)
    "NonFiniteValueError",
    # the check of a participant's name, made public for the CLI (submit checks it first)
    "participant_name",
}
"""Public names added to the new packages after rengo.contrib was split: no old path."""


def test_the_old_names_cover_the_new_packages_public_api() -> None:
    moved = set(rengo.contrib.__all__)
    for package in (valuation, tournament):
        assert set(package.__all__) - ADDED_AFTER_THE_SPLIT <= moved, package.__name__
    # Exact was importable from contrib.payouts only; the money display names came after the
    # move and were never in rengo.contrib
    assert set(rewards.__all__) - moved == {"Exact", "DEFAULT_CURRENCY", "format_amount"}
    assert {"FIVE_PARTICIPANTS", "CreditContribution", "credit_party_contribution"} <= moved


@pytest.mark.parametrize(("old", "new"), sorted(OLD_MODULES.items()))
def test_old_module_paths_import_with_the_new_modules_names(
    old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias = _fresh_import(old, monkeypatch)
    target = importlib.import_module(new)
    moved_elsewhere = {n for n in vars(alias) if f"{old}.{n}" in deprecated_paths()}
    public = [n for n in vars(target) if not n.startswith("_") and n not in moved_elsewhere]
    assert public and all(getattr(alias, n) is getattr(target, n) for n in public)


def test_names_that_left_an_old_module_for_the_showcase_still_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parties = _fresh_import("rengo.contrib.vfl_parties", monkeypatch)
    assert parties.credit_party_contribution is showcase.credit_party_contribution  # type: ignore[attr-defined]
    assert parties.vertical_party_contribution is valuation.vertical_party_contribution  # type: ignore[attr-defined]
    simulation = _fresh_import("rengo.contrib.tournament_simulation", monkeypatch)
    assert simulation.FIVE_PARTICIPANTS is showcase.FIVE_PARTICIPANTS  # type: ignore[attr-defined]


def test_from_old_module_import_name_works_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "rengo.contrib.shapley", raising=False)
    with pytest.warns(DeprecationWarning):
        from rengo.contrib.shapley import exact_shapley
    assert exact_shapley is valuation.exact_shapley
    assert rengo.contrib.shapley.exact_shapley is valuation.exact_shapley


def test_old_simulate_tournament_still_defaults_to_the_five_participants() -> None:
    with pytest.warns(DeprecationWarning, match=r"simulate_tournament\(participants"):
        old = rengo.contrib.simulate_tournament
    before = old(rounds=2, seed=3)
    after = tournament.simulate_tournament(showcase.FIVE_PARTICIPANTS, rounds=2, seed=3)
    assert before.tournament.to_dict() == after.tournament.to_dict()
    with pytest.raises(TypeError):
        tournament.simulate_tournament(rounds=2)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["CreditConsortium", "credit_consortium", "run_credit_default"])
def test_vfl_story_names_resolve_from_the_showcase_and_left_the_vfl_api(name: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"rengo.vfl.{name} is deprecated"):
        assert getattr(rengo.vfl, name) is getattr(showcase, name)
    assert name not in rengo.vfl.__all__


def test_leaderboard_table_moved_from_the_cli_to_tracking() -> None:
    from rengo.tracking import leaderboard_table

    with pytest.warns(DeprecationWarning, match="rengo.tracking.leaderboard_table"):
        assert rengo.cli.tournament.leaderboard_table is leaderboard_table


def test_importing_the_old_package_alone_is_silent_and_unknown_names_still_fail() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(rengo.contrib)
    with pytest.raises(AttributeError):
        rengo.contrib.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        rengo.vfl.no_such_name  # noqa: B018

"""A party checks the coordinator's selection by IV against its own job file before PSI.

Before, a deployed party followed whatever rule the plan carried: the label party, whose
labels the kept bits reveal, ran a coordinator's ``min_bin_rows = 1`` although its own job
said 200; a party whose job had ``[vfl.selection]`` trained on every column under a
coordinator without one; and one-hot encoded text columns went into selection. A party
without a job file (``--csv``) has no rule to compare: it follows the plan, but a label party
takes no bins smaller than the default for its rows; in one process (the estimator, ``rengo
run``) the caller's rule is every party's own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tomllib

from rengo.core.errors import ConfigError
from rengo.data.categorical import CategoricalEncoding
from rengo.jobs import parse_job
from rengo.jobs.vertical import party_data
from rengo.vfl import (
    HeteroLRConfig,
    JobSelection,
    PartyData,
    PartyTable,
    SelectionSettings,
    VerticalPlan,
    simulate_vertical,
)

RULE = SelectionSettings(min_iv=0.0, min_bin_rows=200)  # keeps every column


def _data() -> dict[str, PartyData]:
    rng = np.random.default_rng(0)
    ids = np.array([f"c{i}" for i in range(60)], dtype=object)
    y = (rng.random(60) < 0.4).astype(np.int64)
    return {
        "card": PartyData(PartyTable(ids, rng.normal(size=(60, 2))), y),
        "bank": PartyData(PartyTable(ids, rng.normal(size=(60, 3)))),
    }


def _run(plan_rule: SelectionSettings | None, **own: PartyData) -> None:
    plan = VerticalPlan(
        "card", ("bank",), HeteroLRConfig(key_bits=512, epochs=1), 0, score=False,
        selection=plan_rule,
    )  # fmt: skip
    simulate_vertical(plan, {**_data(), **own}, timeout=30.0)


@pytest.mark.parametrize(
    ("theirs", "mine", "words"),
    [
        (
            replace(RULE, min_bin_rows=1),
            RULE,
            "card: its job file has [vfl.selection] min_iv = 0.0, max_bin = 10, "
            "adjustment_factor = 0.5, min_bin_rows = 200, the coordinator's has "
            "[vfl.selection] min_iv = 0.0, max_bin = 10, adjustment_factor = 0.5, "
            "min_bin_rows = 1",
        ),
        (None, RULE, "card: its job file has [vfl.selection] min_iv = 0.0"),
        (RULE, None, "card: its job file has no [vfl.selection], the coordinator's has "),
    ],
    ids=["other-min-bin-rows", "coordinator-selects-none", "party-selects-none"],
)
def test_a_party_whose_job_selects_otherwise_than_the_plan_is_refused_naming_both_rules(
    theirs: SelectionSettings | None, mine: SelectionSettings | None, words: str
) -> None:
    card = replace(_data()["card"], selection=JobSelection(mine))
    with pytest.raises(ConfigError) as refused:
        _run(theirs, card=card)
    assert words in str(refused.value)


def test_a_party_given_no_job_follows_the_plan_and_one_whose_job_agrees_takes_part() -> None:
    """``--csv`` (no job file: ``selection`` is ``None``) has no opinion; the same rule
    passes."""
    card = replace(_data()["card"], selection=JobSelection(RULE))
    _run(RULE, card=card)  # the bank has no job file
    _run(None, bank=replace(_data()["bank"], selection=JobSelection(None)))


def test_a_plan_that_selects_over_one_hot_columns_is_refused_naming_the_party() -> None:
    """The README says one-hot ``categorical`` columns are refused by name: a party's
    encoded text columns are kept whole with its model, so selection may not drop some."""
    bank = replace(_data()["bank"], categories=CategoricalEncoding({"region": ("north", "south")}))
    with pytest.raises(ConfigError, match=r"bank: .*text columns 'region'"):
        _run(RULE, bank=bank)


def test_a_job_party_brings_its_jobs_selection_to_the_run(tmp_path: Path) -> None:
    """``rengo vfl party --job`` reads the job's [vfl.selection] (or its absence) into what
    it checks the plan against."""
    for name, rows in (("card", "id,y,a\n1,0,1\n2,1,2\n3,0,3\n4,1,4\n"), ("bank", "id,b\n1,1\n")):
        (tmp_path / f"{name}.csv").write_text(rows)
    text = f"""
[job]
kind = "vfl"
[vfl]
label_party = "card"
label = "y"
test_size = 0.25
[vfl.parties]
card = "{tmp_path / "card.csv"}"
bank = "{tmp_path / "bank.csv"}"
"""
    for later in (False, True):
        plain = parse_job(tomllib.loads(text)).vfl
        selecting = parse_job(tomllib.loads(text + "[vfl.selection]\nmin_iv = 0.1\n")).vfl
        assert plain is not None and selecting is not None
        data = party_data(plain, "card", 1, shared_rows_later=later)
        assert data.selection == JobSelection(None)
        data = party_data(selecting, "card", 1, shared_rows_later=later)
        assert data.selection == JobSelection(SelectionSettings(min_iv=0.1))


def test_a_label_party_without_a_job_refuses_bins_smaller_than_its_default() -> None:
    """A ``--csv`` label party has no job file to agree with; a coordinator's
    ``min_bin_rows = 1`` would still shrink the bins its labels are counted in."""
    with pytest.raises(ConfigError, match=r"card: .*min_bin_rows = 1, under the default of 5"):
        _run(replace(RULE, min_bin_rows=1))
    _run(replace(RULE, min_bin_rows=5))  # the default itself, or more, is taken


def test_a_feature_partys_job_need_not_repeat_the_label_partys_binning_settings() -> None:
    """``min_bin_rows`` and ``adjustment_factor`` only change the label party's binning: a
    feature party whose job leaves them out (or differs in them) selects the same way."""
    own = replace(RULE, min_bin_rows=None, adjustment_factor=0.25)
    bank = replace(_data()["bank"], selection=JobSelection(own))
    _run(RULE, bank=bank)
    with pytest.raises(ConfigError, match="bank: its job file"):
        _run(RULE, bank=replace(bank, selection=JobSelection(replace(own, max_bin=5))))


def test_a_simulated_fit_takes_its_callers_own_small_bins() -> None:
    """The caller's rule is every party's in one process: ``min_bin_rows = 1`` chosen by the
    caller is not a coordinator imposing it (it was refused as one)."""
    from rengo.vfl import HeteroLogisticRegression

    data = _data()
    model = HeteroLogisticRegression(key_bits=512, epochs=1)
    tables = {name: party.table for name, party in data.items()}
    model.fit(tables, "card", data["card"].labels, selection=replace(RULE, min_bin_rows=1))
    assert model.selection_ is not None and model.selection_["min_bin_rows"] == 1

"""A sweep's ``--set`` options span a grid: every combination once, the last option varying
fastest, each cell a tuple of plain ``rengo run --set`` overrides; malformed options are
refused naming the option."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.jobs.sweep_grid import MAX_CELLS, split_values, sweep_axis, sweep_cells


def test_the_grid_is_every_combination_the_last_option_varying_fastest() -> None:
    cells = sweep_cells(["strategy.name=fedavg,fedprox", "train.lr=0.1", "job.seed=0..2"])
    assert [c.overrides for c in cells] == [
        (f"strategy.name={s}", "train.lr=0.1", f"job.seed={k}")
        for s in ("fedavg", "fedprox")
        for k in range(3)
    ]
    assert cells[4].varied == ("strategy.name=fedprox", "job.seed=1")  # one value: not varied
    assert cells[4].label == "strategy.name=fedprox job.seed=1"
    assert sweep_cells([])[0].overrides == ()
    assert sweep_cells([])[0].label == "the job as set"


def test_a_section_takes_tables_whose_keys_are_set_together() -> None:
    axis = sweep_axis('partition={scheme = "iid"},{scheme = "dirichlet", alpha = 0.1}')
    assert axis.values == (
        ("partition.scheme=iid",),
        ("partition.scheme=dirichlet", "partition.alpha=0.1"),
    )
    quoted = sweep_axis('data={label = "1", test_size = 0.25}')  # "1" stays a string
    assert quoted.values == (('data.label="1"', "data.test_size=0.25"),)


def test_commas_inside_brackets_braces_and_quotes_do_not_split() -> None:
    assert split_values('[64, 64],[128], "a,b" ,{x = [1, 2]}') == [
        "[64, 64]",
        "[128]",
        '"a,b"',
        "{x = [1, 2]}",
    ]
    assert sweep_axis("model.hidden=[64, 64],[128]").values == (
        ("model.hidden=[64, 64]",),
        ("model.hidden=[128]",),
    )
    assert sweep_axis("job.seed=-1..1, 7").values == (
        ("job.seed=-1",),
        ("job.seed=0",),
        ("job.seed=1",),
        ("job.seed=7",),
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["seed=0..4"], "a section takes tables of its keys"),
        (["job.seed"], "expected SECTION.KEY=VALUE"),
        (["job.seed=0,,1"], "an empty value"),
        (["job.seed=3..1"], "the range 3..1 ends below its start"),
        (["job.seed=0..2,1"], "job.seed=1 given twice"),
        (["partition=iid"], "a section takes tables of its keys"),
        (["partition={}"], "a section takes tables of its keys"),
        (["job.seed=0..1", "job.seed=2"], "job.seed is set by both"),
        (['partition={scheme = "iid"}', "partition.scheme=shards"], "partition.scheme is set"),
        ([f"job.seed=0..{MAX_CELLS}"], f"a sweep runs at most {MAX_CELLS}"),
        # a typo's range: refused before its values are spelt out (it hung for minutes)
        (["job.seed=0..99999999999"], "the range 0..99999999999 holds 100000000000 values"),
        (["job.seed=0..2,5..10004"], f"a sweep runs at most {MAX_CELLS}"),
    ],
)
def test_malformed_options_are_refused_naming_them(options: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("{", r"\{")):
        sweep_cells(options)
